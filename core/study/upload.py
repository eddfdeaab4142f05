"""A manifest uploaded in a browser, placed beside the clips it names.

    manifest = place_manifest(upload_bytes, "study.csv", clips_folder)
    study = read_study(manifest)

A manifest's relative paths resolve against its own folder (`core.study.manifest`), so an uploaded
one is written into the folder its clips are in, and is from then on an ordinary manifest there: a
link, a reload or the `study run` verb names it by its path. It keeps its own name where that name is
free; where another file has it, it becomes `<name>-<first 8 hex digits of its sha256>.csv`. The same
bytes uploaded again find their file. A file already there is never overwritten, and a manifest that
`read_study` refuses (a missing clip, a path named twice, no `path` column) is not left there.
"""

import hashlib
import re
from pathlib import Path

from core.errors import InputError
from core.paths import write_atomically
from core.study.manifest import read_study

MAX_MANIFEST_BYTES = 5_000_000  # a manifest of 50,000 clips is about 3 MB


def place_manifest(data: bytes, name: str, folder: str | Path) -> Path:
    """The uploaded manifest's file in `folder` (written there, or found there already), or InputError."""
    folder = Path(folder)
    if len(data) > MAX_MANIFEST_BYTES:
        raise InputError(f"The manifest {name} is larger than {MAX_MANIFEST_BYTES // 1_000_000} MB.")
    if not data.strip():
        raise InputError(f"The manifest {name} is empty.")
    if not folder.is_dir():
        raise InputError(f"The clips folder {folder} was not found.")
    stem = re.sub(r"[^A-Za-z0-9_.-]+", "_", Path(name).stem).strip("._") or "study"
    digest = hashlib.sha256(data).hexdigest()[:8]
    for candidate in (folder / f"{stem}.csv", folder / f"{stem}-{digest}.csv"):
        if candidate.is_file() and candidate.read_bytes() == data:
            return candidate
        if not candidate.exists():
            try:
                write_atomically(candidate, data)
            except OSError as error:
                raise InputError(
                    f"The manifest cannot be written into {folder} ({(error.strerror or str(error)).lower()}); "
                    "put it beside the clips yourself and name it."
                ) from None
            try:
                read_study(candidate)
            except InputError as error:  # said in the upload's name, and nothing is left behind
                candidate.unlink(missing_ok=True)
                raise InputError(str(error).replace(candidate.name, name)) from None
            return candidate
    raise InputError(
        f"{folder} already holds other files called {stem}.csv and {stem}-{digest}.csv; rename the manifest."
    )
