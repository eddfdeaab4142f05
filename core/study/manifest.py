"""A study: the recordings to spot, each with its participant and condition.

    study = read_study("study.csv")        # or a folder of clips
    study.clips[0].path, study.clips[0].participant, study.columns

Two ways to name one:
- A CSV manifest with a `path` column and, optionally, `participant` and `condition` columns
  (names matched without regard to case or surrounding spaces); every other column is kept,
  in its order, through to the outputs. Relative paths resolve against the manifest's folder.
  A missing participant is the clip's file stem; a missing condition is "".
- A folder: every video file directly in it (MP4, AVI, MOV, WebM, MKV), in name order; the
  participant is the file stem and the condition is "". Anything richer (several clips per
  participant, conditions) needs a manifest: a file name is no safe place to guess them from.

A manifest that names a missing file, names one file twice, or has no `path` column is refused
with one line naming the first problem, before any work: a study with a hole in it would give
summaries that look whole. A clip that exists but cannot be decoded is not refused here: it is
reported in the study's per-clip summary, and the other clips are spotted.
"""

import csv
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

from core.errors import InputError
from core.media import VIDEO_SUFFIXES
from core.micro.intervals import INTERVAL_COLUMNS

KNOWN = ("path", "participant", "condition")
# Columns the study's outputs write themselves: a manifest column of the same name would be lost.
RESERVED = (
    *INTERVAL_COLUMNS, "frames", "fps", "face_frames", "face_share", "intervals", "micro", "macro", "micro_per_min", "macro_per_min",
    "intervals_per_min", "status", "message", "attempts", "reused", "sha256",
)  # fmt: skip


@dataclass(frozen=True)
class Clip:
    """One recording of a study: its file, who and in which condition, and the manifest's other cells."""

    path: Path  # resolved
    participant: str
    condition: str
    extra: tuple[str, ...] = ()  # the values of `Study.columns`, in order
    shown: str = ""  # the path as the manifest wrote it (outputs show it so)


@dataclass(frozen=True)
class Study:
    """The clips of a study, in the manifest's order, and the fingerprint of what it says."""

    source: Path  # the manifest file or the folder
    clips: tuple[Clip, ...]
    columns: tuple[str, ...] = ()  # the manifest's other columns, in order
    fingerprint: str = ""  # sha256 of the clips' rows: the same study read again has the same one

    @property
    def name(self) -> str:
        return self.source.stem if self.source.is_file() else self.source.name


def read_study(path: str | Path) -> Study:
    """The study in a CSV manifest or a folder of clips, or InputError with one line saying what is wrong."""
    path = Path(path).expanduser()
    if path.is_dir():
        return _from_folder(path.resolve())
    if not path.is_file():
        raise InputError(f"The study {path} was not found: name a CSV manifest or a folder of clips.")
    return _from_manifest(path.resolve())


def _from_folder(folder: Path) -> Study:
    files = sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in VIDEO_SUFFIXES)
    if not files:
        raise InputError(f"The folder {folder} holds no clips (MP4, AVI, MOV, WebM or MKV files).")
    clips = tuple(Clip(p, p.stem, "", (), p.name) for p in files)
    return Study(folder, clips, (), _fingerprint(clips, ()))


def _from_manifest(manifest: Path) -> Study:
    header, rows = _read_csv(manifest)
    names = [name.strip() for name in header]
    where = {name.lower(): i for i, name in enumerate(names) if name.lower() in KNOWN}
    if "path" not in where:
        shown = ", ".join(name for name in names if name) or "none"
        raise InputError(f"The manifest {manifest.name} has no 'path' column (its columns: {shown}).")
    others = [i for i, name in enumerate(names) if name.lower() not in KNOWN]
    clashing = [names[i] for i in others if names[i].lower() in RESERVED]
    if clashing:
        raise InputError(
            f"The manifest {manifest.name}'s column '{clashing[0]}' has the name of a column the study writes; rename it."
        )
    clips = tuple(_clip(manifest, row, where, others) for row in rows)
    if not clips:
        raise InputError(f"The manifest {manifest.name} names no clips.")
    _check_files(manifest, clips)
    columns = tuple(names[i] for i in others)
    return Study(manifest, clips, columns, _fingerprint(clips, columns))


def _read_csv(manifest: Path) -> tuple[list[str], list[list[str]]]:
    try:
        with open(manifest, newline="", encoding="utf-8-sig") as f:  # -sig: a spreadsheet's byte-order mark
            table = [row for row in csv.reader(f) if any(cell.strip() for cell in row)]
    except (UnicodeDecodeError, csv.Error):
        raise InputError(f"The manifest {manifest.name} is not a readable CSV file (UTF-8 text).") from None
    if not table:
        raise InputError(f"The manifest {manifest.name} is empty.")
    width = len(table[0])
    return table[0], [(row + [""] * width)[:width] for row in table[1:]]


def _clip(manifest: Path, row: list[str], where: dict[str, int], others: list[int]) -> Clip:
    shown = row[where["path"]].strip()
    path = (manifest.parent / Path(shown).expanduser()).resolve() if shown else manifest.parent
    participant = row[where["participant"]].strip() if "participant" in where else ""
    condition = row[where["condition"]].strip() if "condition" in where else ""
    return Clip(path, participant or path.stem, condition, tuple(row[i].strip() for i in others), shown)


def _check_files(manifest: Path, clips: tuple[Clip, ...]) -> None:
    """One line for the first problem: an empty path, a missing file, a file named twice (lines count the header)."""
    seen: dict[Path, int] = {}
    for line, clip in enumerate(clips, start=2):
        if not clip.shown:
            raise InputError(f"The manifest {manifest.name} has an empty path on line {line}.")
        if not clip.path.is_file():
            missing = sum(not c.path.is_file() for c in clips)
            more = f" ({missing} clips are missing)" if missing > 1 else ""
            raise InputError(
                f"The manifest {manifest.name} names {clip.shown} on line {line}, which was not found{more}."
            )
        if clip.path in seen:
            raise InputError(
                f"The manifest {manifest.name} names {clip.shown} twice, on lines {seen[clip.path]} and {line}."
            )
        seen[clip.path] = line


def _fingerprint(clips: tuple[Clip, ...], columns: tuple[str, ...]) -> str:
    """sha256 of what the study says (resolved paths, participants, conditions, other cells): the same
    manifest read again, or saved with other quoting, is the same study."""
    rows = [[str(c.path), c.participant, c.condition, *c.extra] for c in clips]
    canonical = json.dumps({"columns": list(columns), "rows": rows}, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()
