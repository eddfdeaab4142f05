"""Which files of the server a browser user may name: only under the roots the operator allows.

FER_DATA_ROOTS lists them (folders separated by `:`); by default it is the home folder of
the user running the server. Paths are resolved (symlinks and `..` followed) before the
check, and no message ever echoes a file's contents, only its name and what was wrong.
"""

import os
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
