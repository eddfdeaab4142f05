"""Files: which ones of the server a browser user may name (only under the roots the operator
allows), and writing results so that a kill never leaves half a file (`atomic_path`).

FER_DATA_ROOTS lists them (folders separated by `:`); by default it is the home folder of
the user running the server. Paths are resolved (symlinks and `..` followed) before the
check, and no message ever echoes a file's contents, only its name and what was wrong.
"""

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from core.errors import InputError

ROOTS_VARIABLE = "FER_DATA_ROOTS"


def allowed_roots() -> list[Path]:
    """The folders under which browser users may name files (FER_DATA_ROOTS, else home)."""
    value = os.environ.get(ROOTS_VARIABLE, "")
    roots = [Path(part).expanduser() for part in value.split(os.pathsep) if part.strip()]
    return [root.resolve() for root in roots or [Path.home()]]


def confine(path: str | Path | None, what: str, error: type[InputError] = InputError) -> Path:
    """`path` resolved, or `error` when it is empty or lies outside the allowed roots."""
    if path is None or not str(path).strip():
        raise error(f"Give the {what}.")
    resolved = Path(str(path).strip()).expanduser().resolve()
    roots = allowed_roots()
    if not any(resolved.is_relative_to(root) for root in roots):
        shown = ", ".join(str(root) for root in roots)
        raise error(
            f"The {what} {path} is outside the folders this server may read ({shown}); "
            f"the operator can allow more with {ROOTS_VARIABLE}."
        )
    return resolved


@contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """A temporary path beside `path` to write to; renamed onto `path` only when the block completes,
    so a crash or a kill never leaves half a file under the real name (a rerun simply writes it again)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    # A name of its own per writer (two sessions may write the same file), grouped with the file by its
    # stem, so the clip cache prunes a leftover with its clip.
    partial = path.with_name(f"{path.stem}.{uuid.uuid4().hex[:8]}.partial{path.suffix}")
    try:
        yield partial
        os.replace(partial, path)
    finally:
        partial.unlink(missing_ok=True)


def write_atomically(path: str | Path, data: str | bytes) -> Path:
    """Write text or bytes to `path` through `atomic_path`."""
    with atomic_path(path) as partial:
        partial.write_bytes(data.encode() if isinstance(data, str) else data)
    return Path(path)
