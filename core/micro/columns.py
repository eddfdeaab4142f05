"""Per-frame columns of one clip in raw files on disk, so a clip's length never shows in memory.

    columns = FrameColumns()                          # a scratch folder, removed with the object
    columns.append("pooled", rows)                    # (k, maps) rows as they are made
    columns.read("pooled", 4096, 8192)                # a window, read into memory (a copy)
    columns.mapped("pooled")[123]                     # random access to a few frames

An hour at 30 fps is 108,000 frames; the wide per-frame features (a few KB a frame) would be
hundreds of MB in memory. Rows go to the file as they are made; the spotting passes read them
back a window at a time with plain file reads. Reads do not map the file: pages of a mapped
file count in the process's resident memory for as long as they stay mapped, so a scan through
a mapping would grow it by the file's size. `mapped` is for the few frames a page looks at.
"""

import contextlib
import shutil
import tempfile
import time
import weakref
from pathlib import Path

import numpy as np

from core.store import home_dir

_STALE_S = 24 * 3600  # scratch folders left by a killed process are removed after a day


def scratch_dir() -> Path:
    """Where the columns of clips being analysed are written: on disk under the dashboard's home."""
    return home_dir() / "scratch"


class FrameColumns:
    """Named per-frame columns, each a raw file of fixed-shape rows, in one folder."""

    def __init__(self, folder: Path | None = None) -> None:
        if folder is None:
            _remove_stale(scratch_dir())
            scratch_dir().mkdir(parents=True, exist_ok=True)
            folder = Path(tempfile.mkdtemp(prefix="frames-", dir=scratch_dir()))
            self._cleanup = weakref.finalize(self, shutil.rmtree, str(folder), True)
        self.folder = Path(folder)
        self._layout: dict[str, tuple[tuple[int, ...], np.dtype]] = {}
        self._rows: dict[str, int] = {}

    @classmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray]) -> "FrameColumns":
        """Columns holding these arrays (clips whose features were saved some other way)."""
        columns = cls()
        for name, values in arrays.items():
            columns.append(name, values)
        return columns

    def declare(self, name: str, shape: tuple[int, ...], dtype) -> None:
        """A column of rows of `shape` and `dtype`, empty for now."""
        self._layout[name] = (tuple(shape), np.dtype(dtype))
        self._rows[name] = 0
        self._path(name).write_bytes(b"")

    def append(self, name: str, rows: np.ndarray) -> None:
        """Rows added at the end of a column (declared on first use from the rows' shape and dtype)."""
        if name not in self._layout:
            self.declare(name, rows.shape[1:], rows.dtype)
        shape, dtype = self._layout[name]
        rows = np.ascontiguousarray(rows, dtype).reshape(-1, *shape)
        with open(self._path(name), "ab") as file:
            file.write(rows.data)
        self._rows[name] += len(rows)

    def write(self, name: str, start: int, rows: np.ndarray) -> None:
        """Rows written over a column's rows from `start` on (a later pass refining them in place)."""
        shape, dtype = self._layout[name]
        rows = np.ascontiguousarray(rows, dtype).reshape(-1, *shape)
        if start + len(rows) > self._rows[name]:
            raise IndexError(f"rows {start}..{start + len(rows)} are past the end of column {name}")
        with open(self._path(name), "r+b") as file:
            file.seek(start * self._row_bytes(name))
            file.write(rows.data)

    def read(self, name: str, start: int = 0, stop: int | None = None) -> np.ndarray:
        """Rows [start, stop) of a column, read into memory."""
        shape, dtype = self._layout[name]
        start, stop, _ = slice(start, stop).indices(self._rows[name])
        count = max(0, stop - start) * int(np.prod(shape, dtype=np.int64))
        values = np.fromfile(self._path(name), dtype, count=count, offset=start * self._row_bytes(name))
        return values.reshape(-1, *shape)

    def mapped(self, name: str) -> np.ndarray:
        """The whole column, mapped read-only: for looking at a few frames, not for scanning."""
        shape, dtype = self._layout[name]
        if self._rows[name] == 0:
            return np.empty((0, *shape), dtype)
        return np.memmap(self._path(name), dtype, mode="r", shape=(self._rows[name], *shape))

    def copy(self, name: str, target: Path) -> None:
        """A column's file copied to `target`, whole or not at all (disk to disk: nothing held in memory)."""
        partial = target.with_name(target.name + ".partial")
        shutil.copyfile(self._path(name), partial)
        partial.replace(target)

    def rows(self, name: str) -> int:
        return self._rows[name]

    def shape(self, name: str) -> tuple[int, ...]:
        """The shape of one row of a column."""
        return self._layout[name][0]

    def __contains__(self, name: str) -> bool:
        return name in self._layout

    def _path(self, name: str) -> Path:
        return self.folder / f"{name}.bin"

    def _row_bytes(self, name: str) -> int:
        shape, dtype = self._layout[name]
        return int(np.prod(shape, dtype=np.int64)) * dtype.itemsize


def _remove_stale(folder: Path) -> None:
    if not folder.is_dir():
        return
    now = time.time()
    for child in folder.iterdir():
        with contextlib.suppress(OSError):  # another process may be removing the same folder
            if now - child.stat().st_mtime > _STALE_S:
                shutil.rmtree(child, ignore_errors=True)
