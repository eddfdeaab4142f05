"""CK+ (Lucey et al. 2010) in its two layouts: CK+48 crops and the original tree.

CK+48: `CK+48/<emotion>/S###_###_########.png`, 48 x 48 crops of the last 3 frames of
each of the 327 emotion-labelled sequences (emotion folder names in
core.labels.CKPLUS48_FOLDERS). `root` may name the CK+48 folder or its parent. source_id
is `CK+48/<emotion>/<file>`. aligned=True. The AUs of a sequence come from, in order:
  1. the `au_labels` csv when given (columns subject, video = sequence id, AU1..AU27 as 0/1,
     like ckplus_netfacs_au_emotion.csv);
  2. else a `manifest.csv` beside the CK+48 folder with `path` and AU columns;
  3. else none.

Original: `cohn-kanade-images/S###/###/*.png` (640 x 490 full frames), `Emotion/S###/###/
*_emotion.txt` (one code, core.labels.CKPLUS_CODES), `FACS/S###/###/*_facs.txt` (rows of
`AU intensity`). `Landmarks/` is not read. Only the sequences with an Emotion file are
labelled; each yields two samples:
  - its peak frame (the one the Emotion file names, else the last) with the emotion and
    the AUs of its FACS file, or of the `au_labels` csv where that file is absent;
  - its first frame as `neutral` with no AUs (the CK+ convention: sequences start neutral).
Both share the sequence id, so evaluation that splits by subject or counts sequences sees
them as one unit. Full frames need face detection: aligned=False. source_id is the path
relative to `root`, e.g. `cohn-kanade-images/S005/001/S005_001_00000011.png`.

CK+ has no official split (papers split by subject), so `split` must be None.
"""

import csv
import io
import re
from collections.abc import Iterable
from functools import partial
from pathlib import Path

from core.datasets.folder import image_files, subfolders
from core.datasets.sample import Sample
from core.errors import DatasetError
from core.labels import CKPLUS48_FOLDERS, CKPLUS_CODES
from core.media import load_image

CK48_NAME = "CK+48"
IMAGES_NAME = "cohn-kanade-images"
# S005_001_00000011: subject, sequence number, frame number.
FRAME_NAME = re.compile(r"^(S\d+)_(\d+)_(\d+)$")
LAYOUTS = (
    "the ckplus format expects CK+48/<emotion>/S###_###_########.png folders "
    f"(emotions: {', '.join(CKPLUS48_FOLDERS)}) or the original cohn-kanade-images/, Emotion/ and FACS/ tree"
)


def read_ckplus(
    root: str | Path, split: str | None = None, au_labels: str | Path | None = None
) -> list[Sample]:
    """Read CK+48 or the original CK+ tree under `root`; samples sorted by source_id."""
    if split is not None:
        raise DatasetError(
            f"CK+ has no official split (asked for '{split}'); it is split by subject in "
            "evaluation, so read it with no split."
        )
    root = Path(root).expanduser()
    if not root.is_dir():
        what = "a file" if root.exists() else "missing"
        raise DatasetError(f"{root} is {what}; {LAYOUTS}.")
    labels = read_au_labels(au_labels) if au_labels is not None else None
    if root.name == IMAGES_NAME:
        root = root.parent
    if (root / IMAGES_NAME).is_dir():
        samples = read_original(root, labels)
    else:
        ck48 = _find_ck48(root)
        if ck48 is None:
            raise DatasetError(
                f"No {CK48_NAME}/<emotion>/ folders or {IMAGES_NAME}/ tree under {root}; {LAYOUTS}."
            )
        samples = read_ck48(ck48, labels)
    if labels is not None:
        _check_labels_match(samples, labels, au_labels)
    return sorted(samples, key=lambda sample: sample.source_id)


# --- the AU files ------------------------------------------------------------------------


def read_facs_file(path: str | Path) -> dict[int, float]:
    """A CK+ `*_facs.txt` as {AU: intensity}; intensity 0 means present, intensity not coded.

    Each row is two floats, `AU intensity`, e.g. `   9.0000000e+00   4.0000000e+00`. A code
    that is not a whole number is skipped: CK+ has one such typo (S128_004 codes AU 1.7,
    which is neither AU1 nor, for sure, AU17).
    """
    path = Path(path)
    aus: dict[int, float] = {}
    for line_number, line in enumerate(_read_text(path).splitlines(), start=1):
        if not line.strip():
            continue
        try:
            code, intensity = (float(value) for value in line.split())
        except ValueError:
            raise DatasetError(
                f"{path.name} line {line_number} is not two numbers; a CK+ FACS file "
                "has two numbers per line, AU and intensity."
            ) from None
        if code.is_integer() and code > 0:
            aus[int(code)] = intensity
    return aus


def read_emotion_file(path: str | Path) -> str:
    """The canonical label of a CK+ `*_emotion.txt` (one float code, e.g. `   3.0000000e+00`)."""
    path = Path(path)
    text = _read_text(path).strip()
    try:
        code = float(text)
    except ValueError:
        code = None
    if code is None or not code.is_integer() or int(code) not in CKPLUS_CODES:
        raise DatasetError(f"{path.name} does not hold an emotion code; a CK+ Emotion file holds one code from 0 to 7.")
    return CKPLUS_CODES[int(code)]


def read_au_labels(path: str | Path) -> dict[str, frozenset[int]]:
    """An AU csv keyed by sequence (columns `video` or `sequence`, and AU<n> as 0/1)."""
    path = Path(path).expanduser()
    columns, rows = _read_csv(path)
    key = next((name for name in ("video", "sequence") if name in columns), None)
    if key is None or not _au_columns(columns) or not rows:
        raise DatasetError(
            f"{path} has columns {', '.join(columns) or 'none'}; an AU labels csv needs a "
            "'video' (sequence id, e.g. S005_001) column, AU<n> columns of 0/1 and rows."
        )
    return {row[key].strip(): _aus_of_row(row, path) for row in rows}


def _au_columns(columns: Iterable[str]) -> dict[str, int]:
    """{column: AU number} for the columns named AU<n> (AU1, AU01, ...)."""
    return {name: int(name[2:]) for name in columns if re.fullmatch(r"AU\d+", name)}


def _aus_of_row(row: dict[str, str], path: Path) -> frozenset[int]:
    aus = set()
    for column, au in _au_columns(row).items():
        value = (row[column] or "").strip()
        try:
            present = float(value) > 0
        except ValueError:
            message = f"{path.name} has '{value[:20]}' in column {column}; expected 0 or 1."
            raise DatasetError(message) from None
        if present:
            aus.add(au)
    return frozenset(aus)


def _check_labels_match(samples: list[Sample], labels: dict[str, frozenset[int]], path: str | Path) -> None:
    # A csv from another dataset would silently give every face no AUs: refuse it instead.
    if not {sample.sequence for sample in samples} & labels.keys():
        raise DatasetError(
            f"The AU labels {path} name none of the sequences found (such as "
            f"{samples[0].sequence}); its 'video' column should hold ids like S005_001."
        )


# --- CK+48 ----------------------------------------------------------------------------------


def _find_ck48(root: Path) -> Path | None:
    """The CK+48 folder: `root` itself when its subfolders are CK+48 emotions, or `root/CK+48`."""
    if (root / CK48_NAME).is_dir():
        return root / CK48_NAME
    names = {folder.name for folder in subfolders(root)}
    return root if names & CKPLUS48_FOLDERS.keys() else None


def read_ck48(folder: Path, au_labels: dict[str, frozenset[int]] | None = None) -> list[Sample]:
    """Read `CK+48/<emotion>/S###_###_########.png` (AUs: au_labels, else manifest.csv beside it)."""
    manifest = _manifest_aus(folder.parent / "manifest.csv") if au_labels is None else {}
    samples = []
    for emotion in subfolders(folder):
        if emotion.name not in CKPLUS48_FOLDERS:
            raise DatasetError(
                f"{emotion} is not a CK+48 emotion folder; expected {', '.join(CKPLUS48_FOLDERS)}."
            )
        for path in image_files(emotion):
            subject, sequence = _frame_ids(path)
            source_id = f"{CK48_NAME}/{emotion.name}/{path.name}"
            aus = au_labels.get(sequence, frozenset()) if au_labels is not None else manifest.get(source_id)
            samples.append(
                Sample(
                    source_id=source_id,
                    dataset="ckplus",
                    label=CKPLUS48_FOLDERS[emotion.name],
                    subject=subject,
                    sequence=sequence,
                    aus=aus or frozenset(),
                    aligned=True,
                    load=partial(load_image, path),
                )
            )
    if not samples:
        raise DatasetError(f"{folder} holds no images; {LAYOUTS}.")
    return samples


def _manifest_aus(path: Path) -> dict[str, frozenset[int]]:
    """{path: AUs} from a CK+48 manifest.csv with `path` and AU columns; {} when it has none."""
    if not path.is_file():
        return {}
    columns, rows = _read_csv(path)
    if "path" not in columns or not _au_columns(columns):
        return {}
    return {row["path"].strip(): _aus_of_row(row, path) for row in rows}


def _frame_ids(path: Path) -> tuple[str, str]:
    """(subject, sequence) from a file named S005_001_00000011.png."""
    match = FRAME_NAME.match(path.stem)
    if match is None:
        raise DatasetError(
            f"{path.name} in {path.parent} is not named like a CK+ frame, "
            "S###_###_########.png (subject, sequence, frame)."
        )
    return match[1], f"{match[1]}_{match[2]}"


# --- the original tree ----------------------------------------------------------------------


def read_original(root: Path, au_labels: dict[str, frozenset[int]] | None = None) -> list[Sample]:
    """Read the labelled sequences of the original tree: peak frame + first frame as neutral."""
    emotion_dir = root / "Emotion"
    if not emotion_dir.is_dir():
        raise DatasetError(
            f"{root} has {IMAGES_NAME}/ but no Emotion/ folder beside it; the original CK+ "
            "tree needs Emotion/S###/###/*_emotion.txt for its labels."
        )
    emotion_files = sorted(emotion_dir.glob("S*/*/*_emotion.txt"))
    if not emotion_files:
        raise DatasetError(
            f"{emotion_dir} holds no S###/###/*_emotion.txt files; the original CK+ tree "
            "labels each sequence with one such file."
        )
    samples = []
    for emotion_file in emotion_files:
        samples += _sequence_samples(root, emotion_file, au_labels or {})
    return samples


def _sequence_samples(root: Path, emotion_file: Path, au_labels: dict[str, frozenset[int]]) -> list[Sample]:
    peak_stem = emotion_file.name.removesuffix("_emotion.txt")
    relative = emotion_file.parent.relative_to(root / "Emotion")  # S005/001
    frames = image_files(root / IMAGES_NAME / relative) if (root / IMAGES_NAME / relative).is_dir() else []
    if not frames:
        raise DatasetError(
            f"{emotion_file.name} labels a sequence with no frames in {IMAGES_NAME}/{relative.as_posix()}/."
        )
    peak = next((path for path in frames if path.stem == peak_stem), frames[-1])
    subject, sequence = _frame_ids(peak)
    facs_file = _facs_file(root / "FACS" / relative, peak_stem)
    aus = frozenset(read_facs_file(facs_file)) if facs_file else au_labels.get(sequence, frozenset())

    def sample(path: Path, label: str, aus: frozenset[int]) -> Sample:
        return Sample(
            source_id=path.relative_to(root).as_posix(),
            dataset="ckplus",
            label=label,
            subject=subject,
            sequence=sequence,
            aus=aus,
            aligned=False,
            load=partial(load_image, path),
        )

    samples = [sample(peak, read_emotion_file(emotion_file), aus)]
    if frames[0] != peak:
        samples.append(sample(frames[0], "neutral", frozenset()))
    return samples


def _facs_file(folder: Path, peak_stem: str) -> Path | None:
    """The sequence's FACS file: the peak frame's, else the last one there, else None."""
    exact = folder / f"{peak_stem}_facs.txt"
    if exact.is_file():
        return exact
    others = sorted(folder.glob("*_facs.txt")) if folder.is_dir() else []
    return others[-1] if others else None


# --- text files -----------------------------------------------------------------------------


def _read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise DatasetError(f"{path} is not a text file.") from None
    except OSError as error:
        raise DatasetError(f"Cannot read {path}: {error.strerror or error}.") from None


def _read_csv(path: Path) -> tuple[list[str], list[dict[str, str]]]:
    """(column names, rows) of a small csv."""
    reader = csv.DictReader(io.StringIO(_read_text(path).lstrip("\ufeff")))
    try:
        return list(reader.fieldnames or []), list(reader)
    except csv.Error as error:
        raise DatasetError(f"{path} is not a readable csv ({error}).") from None
