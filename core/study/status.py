"""Where each clip of a study run stands, kept in the results store's SQLite file.

    board = StudyStatus(ResultStore(path))
    board.start(study_id, source, model, clips)        # every clip queued (or done, when stored)
    board.attempt(study_id, clip)                       # a worker begins: running, attempts + 1
    board.finish(study_id, clip, "done", "")
    board.clips(study_id)

A page reloading during a run reads this to show progress; the workers write it too (each
attempt counts itself when it begins, so a worker that dies and is retried leaves attempts = 2).
One row per (study, clip), changed by single statements: the driver and the workers never
rewrite each other's fields. The store's file is in WAL mode with a 10 s busy timeout, which
many workers writing one short row at a time stay far below.
"""

import time
from dataclasses import dataclass

from core.store import ResultStore

SCHEMA = """
CREATE TABLE IF NOT EXISTS studies (
    id TEXT PRIMARY KEY,
    source TEXT NOT NULL,
    model TEXT NOT NULL,
    clips INTEGER NOT NULL,
    started REAL NOT NULL,
    finished REAL
);
CREATE TABLE IF NOT EXISTS study_clips (
    study_id TEXT NOT NULL,
    position INTEGER NOT NULL,
    clip TEXT NOT NULL,
    participant TEXT NOT NULL,
    condition TEXT NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('queued', 'running', 'done', 'failed')),
    message TEXT NOT NULL,
    attempts INTEGER NOT NULL,
    updated REAL NOT NULL,
    PRIMARY KEY (study_id, clip)
);
"""
STATES = ("queued", "running", "done", "failed")


@dataclass(frozen=True)
class ClipState:
    """One clip's place in a study run, as a page shows it."""

    clip: str  # the clip's resolved path
    participant: str
    condition: str
    state: str  # queued, running, done or failed
    message: str  # why it failed, or "already in the results store"
    attempts: int  # times a worker began it; above 1: retried after a worker died
    updated: float


@dataclass(frozen=True)
class StudyRun:
    id: str
    source: str
    model: str
    clips: int
    started: float
    finished: float | None


class StudyStatus:
    """The per-clip status of study runs, in the tables above (created on first use)."""

    def __init__(self, store: ResultStore) -> None:
        self.store = store
        with store.connect() as db:
            db.executescript(SCHEMA)

    def start(
        self, study_id: str, source: str, model: str, clips: list[tuple[str, str, str, str, str]]
    ) -> None:
        """A run begins: (clip, participant, condition, state, message) for each clip; attempts start at 0."""
        now = time.time()
        rows = [(study_id, i, *clip, 0, now) for i, clip in enumerate(clips)]
        with self.store.connect() as db:
            db.execute("INSERT OR REPLACE INTO studies VALUES (?, ?, ?, ?, ?, NULL)", (study_id, source, model,
                                                                                    len(clips), now))  # fmt: skip
            db.execute("DELETE FROM study_clips WHERE study_id = ?", (study_id,))
            db.executemany("INSERT INTO study_clips VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)

    def attempt(self, study_id: str, clip: str) -> None:
        """A worker begins the clip (each try counts: a retry after a dead worker makes it 2)."""
        with self.store.connect() as db:
            db.execute(
                "UPDATE study_clips SET state = 'running', attempts = attempts + 1, updated = ? "
                "WHERE study_id = ? AND clip = ?",
                (time.time(), study_id, clip),
            )

    def finish(self, study_id: str, clip: str, state: str, message: str) -> None:
        with self.store.connect() as db:
            db.execute(
                "UPDATE study_clips SET state = ?, message = ?, updated = ? WHERE study_id = ? AND clip = ?",
                (state, message, time.time(), study_id, clip),
            )

    def finished(self, study_id: str) -> None:
        with self.store.connect() as db:
            db.execute("UPDATE studies SET finished = ? WHERE id = ?", (time.time(), study_id))

    def clips(self, study_id: str) -> list[ClipState]:
        """The clips of a run in the manifest's order (empty for a study never run)."""
        with self.store.connect() as db:
            rows = db.execute(
                "SELECT clip, participant, condition, state, message, attempts, updated FROM study_clips "
                "WHERE study_id = ? ORDER BY position",
                (study_id,),
            ).fetchall()
        return [ClipState(*row) for row in rows]

    def attempts(self, study_id: str, clip: str) -> int:
        """The times workers began the clip in this run (0 when none did)."""
        with self.store.connect() as db:
            row = db.execute(
                "SELECT attempts FROM study_clips WHERE study_id = ? AND clip = ?", (study_id, clip)
            ).fetchone()
        return 0 if row is None else row[0]

    def runs(self) -> list[StudyRun]:
        """Every study run kept, newest first."""
        with self.store.connect() as db:
            rows = db.execute("SELECT * FROM studies ORDER BY started DESC").fetchall()
        return [StudyRun(*row) for row in rows]
