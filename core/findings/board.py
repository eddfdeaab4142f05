"""Boards of findings: figures and tables pinned from any page, captioned and ordered for a talk.

    boards = FindingBoards(ResultStore())
    board = boards.create("Lab meeting")
    boards.pin(board.id, Pinned("figure", "Deconvolution conv3/7", png=..., svg=..., view=..., provenance=...))
    boards.findings(board.id)

Boards live in the results store's SQLite file. Each finding is its own row, changed by its
own statements: editing, moving or deleting one never rewrites another, so two windows that
edit the same board keep each other's work. An edit carries the revision it was made on; one
made on a revision another window has since changed is refused (`StaleEdit`), not applied
over the newer text.
"""

import functools
import json
import sqlite3
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from core.errors import InputError
from core.store import ResultStore

SCHEMA = """
CREATE TABLE IF NOT EXISTS boards (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    created REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS findings (
    id INTEGER PRIMARY KEY,
    board_id INTEGER NOT NULL,
    position INTEGER NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('figure', 'table')),
    title TEXT NOT NULL,
    caption TEXT NOT NULL,
    png BLOB,
    svg TEXT,
    csv BLOB,
    view TEXT NOT NULL,
    provenance_json TEXT NOT NULL,
    created REAL NOT NULL,
    revision INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS findings_by_board ON findings (board_id, position);
"""
MAX_NAME = 120
MAX_TITLE = 300
MAX_CAPTION = 20_000
REPOSITORY = Path(__file__).resolve().parents[2]


class StaleEdit(InputError):
    """An edit made on a finding that another window has changed since it was read."""


@dataclass(frozen=True)
class Provenance:
    """Where a finding came from: enough to trace it and to reopen its view."""

    model: str | None = None
    model_sha256: str | None = None
    dataset: str | None = None
    dataset_fingerprint: str | None = None
    params: dict[str, Any] = field(default_factory=dict)  # the view's state (its query parameters)
    time: str = ""  # UTC, ISO 8601
    app_version: str = ""


@dataclass(frozen=True)
class Pinned:
    """What a page hands over to pin: a figure (PNG, and SVG where there is one) or a table (CSV)."""

    kind: str  # "figure" or "table"
    title: str
    view: str  # the URL path and query that restore the view
    provenance: Provenance
    png: bytes | None = None
    svg: str | None = None
    csv: bytes | None = None
    caption: str = ""


@dataclass(frozen=True)
class Finding:
    id: int
    board_id: int
    position: int
    kind: str
    title: str
    caption: str
    png: bytes | None
    svg: str | None
    csv: bytes | None
    view: str
    provenance: Provenance
    created: float
    revision: int


@dataclass(frozen=True)
class Board:
    id: int
    name: str
    created: float
    n_findings: int


@functools.cache
def app_version() -> str:
    """`git describe` of the checkout the app runs from, else "unknown"."""
    try:
        done = subprocess.run(
            ["git", "describe", "--always", "--dirty", "--tags"], cwd=REPOSITORY, capture_output=True,
            text=True, timeout=5, check=True,
        )  # fmt: skip
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return done.stdout.strip() or "unknown"


def now_utc() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


class FindingBoards:
    """The boards and their findings, in the results store's SQLite file."""

    def __init__(self, store: ResultStore) -> None:
        self.store = store
        with store.connect() as db:
            db.executescript(SCHEMA)

    # ---- boards ----

    def boards(self) -> list[Board]:
        with self.store.connect() as db:
            rows = db.execute(
                "SELECT b.id, b.name, b.created, COUNT(f.id) FROM boards b "
                "LEFT JOIN findings f ON f.board_id = b.id GROUP BY b.id ORDER BY b.created, b.id"
            ).fetchall()
        return [Board(*row) for row in rows]

    def board(self, board_id: int) -> Board:
        with self.store.connect() as db:
            row = db.execute(
                "SELECT b.id, b.name, b.created, COUNT(f.id) FROM boards b "
                "LEFT JOIN findings f ON f.board_id = b.id WHERE b.id = ? GROUP BY b.id", (board_id,)
            ).fetchone()
        if row is None:
            raise InputError("That board was deleted (perhaps in another window).")
        return Board(*row)

    def board_named(self, name: str) -> Board:
        boards = self.boards()
        for board in boards:
            if board.name == name:
                return board
        known = ", ".join(f"'{b.name}'" for b in boards) or "none yet"
        raise InputError(f"No findings board is named '{name}'; the boards are: {known}.")

    def create(self, name: str) -> Board:
        name = _checked_name(name)
        try:
            with self.store.connect() as db:
                cursor = db.execute("INSERT INTO boards (name, created) VALUES (?, ?)", (name, time.time()))
        except sqlite3.IntegrityError:
            raise InputError(f"A board named '{name}' exists already; choose another name.") from None
        return self.board(cursor.lastrowid)

    def board_or_create(self, name: str) -> Board:
        """The board of that name, made when there is none (two windows making it at once get one)."""
        name = _checked_name(name)
        with self.store.connect() as db:
            db.execute("INSERT OR IGNORE INTO boards (name, created) VALUES (?, ?)", (name, time.time()))
        return self.board_named(name)

    def rename(self, board_id: int, name: str) -> Board:
        name = _checked_name(name)
        try:
            with self.store.connect() as db:
                db.execute("UPDATE boards SET name = ? WHERE id = ?", (name, board_id))
        except sqlite3.IntegrityError:
            raise InputError(f"A board named '{name}' exists already; choose another name.") from None
        return self.board(board_id)

    def delete_board(self, board_id: int) -> None:
        with self.store.connect() as db:
            db.execute("DELETE FROM findings WHERE board_id = ?", (board_id,))
            db.execute("DELETE FROM boards WHERE id = ?", (board_id,))

    # ---- findings ----

    def pin(self, board_id: int, pinned: Pinned) -> Finding:
        """Add a finding at the end of the board."""
        if pinned.kind not in ("figure", "table"):
            raise InputError(f"A finding is a figure or a table, not '{pinned.kind}'.")
        if (pinned.kind == "figure" and not pinned.png) or (pinned.kind == "table" and pinned.csv is None):
            raise InputError("Nothing to pin: the figure or table is empty.")
        with self.store.connect() as db:
            db.execute("BEGIN IMMEDIATE")  # the next position is read and taken in one step
            if db.execute("SELECT 1 FROM boards WHERE id = ?", (board_id,)).fetchone() is None:
                raise InputError("That board was deleted (perhaps in another window); choose another.")
            (last,) = db.execute(
                "SELECT COALESCE(MAX(position), 0) FROM findings WHERE board_id = ?", (board_id,)
            ).fetchone()
            cursor = db.execute(
                "INSERT INTO findings (board_id, position, kind, title, caption, png, svg, csv, view, "
                "provenance_json, created, revision) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 1)",
                (board_id, last + 1, pinned.kind, _clip(pinned.title, MAX_TITLE) or "Untitled",
                 _clip(pinned.caption, MAX_CAPTION), pinned.png, pinned.svg, pinned.csv, pinned.view,
                 json.dumps(pinned.provenance.__dict__, default=str), time.time()),
            )  # fmt: skip
        return self.finding(cursor.lastrowid)

    def findings(self, board_id: int) -> list[Finding]:
        """The board's findings in their order."""
        with self.store.connect() as db:
            rows = db.execute(f"{_SELECT} WHERE board_id = ? ORDER BY position, id", (board_id,)).fetchall()
        return [_finding(row, position=i + 1) for i, row in enumerate(rows)]

    def finding(self, finding_id: int) -> Finding:
        with self.store.connect() as db:
            row = db.execute(f"{_SELECT} WHERE id = ?", (finding_id,)).fetchone()
        if row is None:
            raise InputError("That finding was deleted (perhaps in another window).")
        return _finding(row)

    def edit(self, finding_id: int, revision: int, *, title: str | None = None, caption: str | None = None) -> Finding:
        """Change a finding's title or caption, if nobody changed it since `revision`."""
        changes = {}
        if title is not None:
            changes["title"] = _clip(title, MAX_TITLE).strip() or "Untitled"
        if caption is not None:
            changes["caption"] = _clip(caption, MAX_CAPTION)
        if not changes:
            return self.finding(finding_id)
        assignments = ", ".join(f"{column} = ?" for column in changes)
        with self.store.connect() as db:
            cursor = db.execute(
                f"UPDATE findings SET {assignments}, revision = revision + 1 WHERE id = ? AND revision = ?",
                (*changes.values(), finding_id, revision),
            )
        if cursor.rowcount == 0:
            current = self.finding(finding_id)  # says so when it was deleted
            raise StaleEdit(
                f"'{current.title}' was changed in another window; its newest text is shown, edit it again."
            )
        return self.finding(finding_id)

    def move(self, finding_id: int, offset: int) -> None:
        """Move a finding `offset` places up (negative) or down its board, swapping with its neighbours."""
        with self.store.connect() as db:
            db.execute("BEGIN IMMEDIATE")
            row = db.execute("SELECT board_id FROM findings WHERE id = ?", (finding_id,)).fetchone()
            if row is None:
                raise InputError("That finding was deleted (perhaps in another window).")
            ids = [i for (i,) in db.execute(
                "SELECT id FROM findings WHERE board_id = ? ORDER BY position, id", (row[0],))]  # fmt: skip
            at = ids.index(finding_id)
            ids.insert(max(0, min(len(ids) - 1, at + offset)), ids.pop(at))
            db.executemany("UPDATE findings SET position = ? WHERE id = ?", [(p + 1, i) for p, i in enumerate(ids)])

    def delete(self, finding_id: int) -> None:
        with self.store.connect() as db:
            db.execute("DELETE FROM findings WHERE id = ?", (finding_id,))


_SELECT = (
    "SELECT id, board_id, position, kind, title, caption, png, svg, csv, view, provenance_json, created, "
    "revision FROM findings"
)


def _finding(row: tuple, position: int | None = None) -> Finding:
    values = list(row)
    provenance = json.loads(values[10])
    values[10] = Provenance(**{k: v for k, v in provenance.items() if k in Provenance.__dataclass_fields__})
    if position is not None:
        values[2] = position  # 1, 2, 3... in board order, whatever gaps deletions left
    return Finding(*values)


def _checked_name(name: str) -> str:
    name = " ".join(str(name).split())
    if not name:
        raise InputError("A board needs a name.")
    if len(name) > MAX_NAME:
        raise InputError(f"A board name is at most {MAX_NAME} characters.")
    return name


def _clip(text: str, limit: int) -> str:
    text = str(text or "")
    return text if len(text) <= limit else text[: limit - 1] + "…"
