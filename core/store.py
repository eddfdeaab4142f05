"""The SQLite results store: computed results worth keeping, and what a user saved.

One file, created on first use, in WAL mode so the app's threads and a CLI run can read
while another writes. Results are keyed by what produced them (model checksum, data
fingerprint, parameters), so a second visit finds them instead of recomputing.

    store = ResultStore()
    store.put_result("atlas", {"model": sha, "data": fp, "top": 9}, {"rows": [...]})
    store.get_result("atlas", {"model": sha, "data": fp, "top": 9})
"""

import hashlib
import json
import os
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

SCHEMA = """
CREATE TABLE IF NOT EXISTS results (
    kind TEXT NOT NULL,
    key_hash TEXT NOT NULL,
    key_json TEXT NOT NULL,
    value BLOB NOT NULL,
    encoding TEXT NOT NULL CHECK (encoding IN ('json', 'bytes')),
    created REAL NOT NULL,
    PRIMARY KEY (kind, key_hash)
);
CREATE TABLE IF NOT EXISTS user_state (
    name TEXT PRIMARY KEY,
    value_json TEXT NOT NULL,
    updated REAL NOT NULL
);
"""


def home_dir() -> Path:
    """Where the dashboard keeps its files: $FER_DASHBOARD_HOME, else ~/.fer-dashboard."""
    return Path(os.environ.get("FER_DASHBOARD_HOME", Path.home() / ".fer-dashboard")).expanduser()


def key_hash(key: dict[str, Any]) -> str:
    """A stable hash of a result's key: the same parameters in any order give the same hash."""
    canonical = json.dumps(key, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


class ResultStore:
    """Results and saved user state in one SQLite file."""

    def __init__(self, path: str | Path | None = None) -> None:
        self.path = Path(path) if path is not None else home_dir() / "results.sqlite"
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.connect() as db:
            db.execute("PRAGMA journal_mode=WAL")
            db.executescript(SCHEMA)

    @contextmanager
    def connect(self) -> Iterator[sqlite3.Connection]:
        """A connection for one operation (cheap, and safe across Streamlit's threads), committed
        when the block ends and rolled back when it raises. Other tables of the same file (the
        findings boards) use it too."""
        db = sqlite3.connect(self.path, timeout=10)
        try:
            with db:
                yield db
        finally:
            db.close()

    def put_result(self, kind: str, key: dict[str, Any], value: Any) -> None:
        """Store a result (JSON-serialisable, or raw bytes), replacing one with the same key."""
        self.put_results([(kind, key, value)])

    def put_results(self, parts: list[tuple[str, dict[str, Any], Any]]) -> None:
        """Store the parts of one result (kind, key, value each) in one transaction: all or none."""
        rows = []
        for kind, key, value in parts:
            if isinstance(value, bytes | bytearray):
                payload, encoding = bytes(value), "bytes"
            else:
                payload, encoding = json.dumps(value, default=str), "json"
            rows.append((kind, key_hash(key), json.dumps(key, sort_keys=True, default=str), payload, encoding,
                         time.time()))  # fmt: skip
        with self.connect() as db:
            db.executemany("INSERT OR REPLACE INTO results VALUES (?, ?, ?, ?, ?, ?)", rows)

    def get_results(self, parts: list[tuple[str, dict[str, Any]]]) -> list[Any] | None:
        """The parts of one result, read together, or None when any part is missing (a partial result
        left by an older version or a crash is treated as absent)."""
        with self.connect() as db:
            values = [self._read(db, kind, key) for kind, key in parts]
        return None if any(v is None for v in values) else values

    def get_result(self, kind: str, key: dict[str, Any]) -> Any | None:
        """The stored result for this kind and key, or None."""
        with self.connect() as db:
            return self._read(db, kind, key)

    @staticmethod
    def _read(db: sqlite3.Connection, kind: str, key: dict[str, Any]) -> Any | None:
        row = db.execute(
            "SELECT value, encoding FROM results WHERE kind = ? AND key_hash = ?", (kind, key_hash(key))
        ).fetchone()
        if row is None:
            return None
        value, encoding = row
        return bytes(value) if encoding == "bytes" else json.loads(value)

    def list_results(self, kind: str) -> list[dict[str, Any]]:
        """The keys (with their creation time) of every stored result of a kind, newest first."""
        with self.connect() as db:
            rows = db.execute(
                "SELECT key_json, created FROM results WHERE kind = ? ORDER BY created DESC", (kind,)
            ).fetchall()
        return [{"key": json.loads(key), "created": created} for key, created in rows]

    def save_state(self, name: str, value: Any) -> None:
        """Save something a user chose (settings, configured datasets) under a name."""
        with self.connect() as db:
            db.execute(
                "INSERT OR REPLACE INTO user_state VALUES (?, ?, ?)", (name, json.dumps(value), time.time())
            )

    def load_state(self, name: str, default: Any = None) -> Any:
        """What was saved under a name, or `default`."""
        with self.connect() as db:
            row = db.execute("SELECT value_json FROM user_state WHERE name = ?", (name,)).fetchone()
        return default if row is None else json.loads(row[0])
