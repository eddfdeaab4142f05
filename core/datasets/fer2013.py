"""FER2013 in its two layouts: the Kaggle csv and the `train|test/<class>/*.jpg` folders.

- csv: `fer2013.csv` with header `emotion,pixels,Usage`; `pixels` holds 2,304 (48 x 48)
  space-separated grey values and `Usage` is Training, PublicTest or PrivateTest. `root`
  may be the csv itself or a folder holding `fer2013.csv`; when a folder holds both the
  csv and train/test folders, the csv wins (it has the exact pixels and all three splits).
  The file is about 300 MB, so it is streamed once and only the rows of the requested
  split are kept, as 2,304 bytes each. source_id is `fer2013.csv#<row>`, row counted
  from 0 after the header.
- folders: `root/train/<class>/*.jpg` and/or `root/test/<class>/*.jpg`, class folders
  named as in core.labels.FER2013_FOLDERS. source_id is the path relative to `root`.

Splits are named train (Training), test (PublicTest) and private (PrivateTest); the Usage
strings are accepted too. Every face is a canonical 48 x 48 crop, so aligned=True.
"""

import csv
import warnings
from functools import partial
from pathlib import Path

import numpy as np

from core.datasets.folder import image_files, subfolders
from core.datasets.sample import Sample
from core.errors import DatasetError
from core.labels import FER2013_FOLDERS, FER2013_INDEX
from core.media import load_image

CSV_NAME = "fer2013.csv"
HEADER = ("emotion", "pixels", "Usage")
SIDE = 48
N_PIXELS = SIDE * SIDE
# The csv's Usage values and the split names the project uses for them.
USAGE_SPLITS: dict[str, str] = {"Training": "train", "PublicTest": "test", "PrivateTest": "private"}
FOLDER_SPLITS = ("train", "test")


def read_fer2013(root: str | Path, split: str | None = None) -> list[Sample]:
    """Read FER2013 from the csv or the folder layout; samples sorted by source_id."""
    root = Path(root).expanduser()
    if root.is_file():
        return read_fer2013_csv(root, split)
    if not root.is_dir():
        raise DatasetError(
            f"The fer2013 format expects {CSV_NAME} or a folder holding train/ and/or "
            f"test/, but {root} does not exist."
        )
    if (root / CSV_NAME).is_file():
        return read_fer2013_csv(root / CSV_NAME, split)
    return read_fer2013_folders(root, split)


def split_name(split: str | None) -> str | None:
    """`train`, `test` or `private` for a split or Usage name (any case); None stays None."""
    if split is None:
        return None
    names = {**{usage.lower(): name for usage, name in USAGE_SPLITS.items()}, "training": "train"}
    names.update({name: name for name in USAGE_SPLITS.values()})
    key = split.strip().lower()
    if key not in names:
        raise DatasetError(
            f"FER2013 has no split '{split}'; use train, test or private "
            "(or Training, PublicTest, PrivateTest)."
        )
    return names[key]


# --- the csv -------------------------------------------------------------------------


def read_fer2013_csv(path: str | Path, split: str | None = None) -> list[Sample]:
    """Read the Kaggle `emotion,pixels,Usage` csv, keeping only the rows of `split`."""
    path = Path(path)
    wanted = split_name(split)
    try:
        with open(path, newline="", encoding="utf-8-sig") as handle:
            samples = _read_csv_rows(csv.reader(handle), path, wanted)
    except (UnicodeDecodeError, csv.Error) as error:
        raise DatasetError(
            f"{path} is not a readable text csv ({error}); the fer2013 format expects "
            f"the Kaggle csv with header {','.join(HEADER)}."
        ) from None
    except OSError as error:
        raise DatasetError(f"Cannot read {path}: {error.strerror or error}.") from None
    if not samples:
        which = f"no {wanted} rows" if wanted else "no rows"
        raise DatasetError(f"{path} has the FER2013 header but {which}.")
    return samples  # already in row order, which is source_id order within one file


def _read_csv_rows(reader, path: Path, wanted: str | None) -> list[Sample]:
    columns = _header_columns(next(reader, None), path)
    samples = []
    # numpy's text parser only warns on a bad token today (it will raise later): make it raise now.
    with warnings.catch_warnings():
        warnings.simplefilter("error", DeprecationWarning)
        for row_number, row in enumerate(reader):
            if not row:
                continue  # a blank line, typically the last one
            where = f"{path.name} row {row_number} (line {reader.line_num})"
            sample = _csv_sample(row, columns, wanted, where, f"{path.name}#{row_number}")
            if sample is not None:
                samples.append(sample)
    return samples


def _header_columns(header: list[str] | None, path: Path) -> tuple[int, int, int]:
    """Where emotion, pixels and Usage are in a row; the order of columns may vary."""
    if header is None:
        raise DatasetError(f"{path} is empty; the fer2013 format expects the header {','.join(HEADER)}.")
    names = [name.strip() for name in header]
    if not set(HEADER) <= set(names):
        # Never echo a file's contents: the folder may be any file the server can read.
        raise DatasetError(f"{path} does not start with the header the fer2013 format expects ({','.join(HEADER)}).")
    return tuple(names.index(name) for name in HEADER)


def _csv_sample(
    row: list[str], columns: tuple[int, int, int], wanted: str | None, where: str, source_id: str
) -> Sample | None:
    emotion_at, pixels_at, usage_at = columns
    if len(row) <= max(columns):
        raise DatasetError(f"{where} has {len(row)} field(s); expected {','.join(HEADER)}.")
    usage = row[usage_at].strip()
    if usage not in USAGE_SPLITS:
        raise DatasetError(f"{where} has an unknown Usage; expected one of {', '.join(USAGE_SPLITS)}.")
    label = _emotion_label(row[emotion_at], where)
    split = USAGE_SPLITS[usage]
    if wanted is not None and split != wanted:
        return None  # not parsed: the other splits' pixels are never held in memory
    pixels = _parse_pixels(row[pixels_at], where)
    return Sample(
        source_id=source_id,
        dataset="fer2013",
        label=label,
        split=split,
        aligned=True,
        load=partial(pixels_to_rgb, pixels),
    )


def _emotion_label(text: str, where: str) -> str:
    try:
        return FER2013_INDEX[int(text)]
    except (ValueError, KeyError):
        raise DatasetError(
            f"{where} has an emotion that is not a code; expected an integer from 0 to 6 "
            "(0 angry, 1 disgust, 2 fear, 3 happy, 4 sad, 5 surprise, 6 neutral)."
        ) from None


def _parse_pixels(text: str, where: str) -> bytes:
    """2,304 space-separated integers 0..255 as 2,304 bytes, or DatasetError."""
    try:
        values = np.fromstring(text, dtype=np.int64, sep=" ")
    except (ValueError, DeprecationWarning):
        values = None  # a token that is not an integer
    if values is None or values.size != N_PIXELS or values.min() < 0 or values.max() > 255:
        count = len(text.split())
        raise DatasetError(
            f"{where} has {count} pixel value(s) that are not all integers 0..255; "
            f"expected {N_PIXELS} (48 x 48)."
        )
    return values.astype(np.uint8).tobytes()


def pixels_to_rgb(pixels: bytes) -> np.ndarray:
    """A csv row's 2,304 grey bytes as a 48 x 48 x 3 RGB uint8 image."""
    grey = np.frombuffer(pixels, dtype=np.uint8).reshape(SIDE, SIDE)
    return np.repeat(grey[:, :, None], 3, axis=2)


# --- the folders -----------------------------------------------------------------------


def read_fer2013_folders(root: str | Path, split: str | None = None) -> list[Sample]:
    """Read `root/train|test/<class>/*.jpg`; split None reads every split folder present."""
    root = Path(root)
    wanted = split_name(split)
    present = [name for name in FOLDER_SPLITS if (root / name).is_dir()]
    if not present:
        raise DatasetError(_not_a_root_message(root))
    if wanted is not None and wanted not in present:
        raise DatasetError(
            f"No {wanted}/ folder under {root} (found {', '.join(p + '/' for p in present)}); "
            "the FER2013 folder layout holds train/ and test/ only"
            + (", the PrivateTest split is in the csv." if wanted == "private" else ".")
        )
    samples = []
    for name in [wanted] if wanted else present:
        samples += _read_split_folder(root, name)
    return sorted(samples, key=lambda sample: sample.source_id)


def _read_split_folder(root: Path, split: str) -> list[Sample]:
    samples = []
    for folder in subfolders(root / split):
        if folder.name not in FER2013_FOLDERS:
            raise DatasetError(
                f"{split}/{folder.name}/ under {root} is not a FER2013 class; expected "
                f"{', '.join(FER2013_FOLDERS)}."
            )
        label = FER2013_FOLDERS[folder.name]
        samples += [
            Sample(
                source_id=f"{split}/{folder.name}/{path.name}",
                dataset="fer2013",
                label=label,
                split=split,
                aligned=True,
                load=partial(load_image, path),
            )
            for path in image_files(folder)
        ]
    if not samples:
        raise DatasetError(
            f"{root}/{split}/ holds no images; the FER2013 folder layout expects "
            f"{split}/<class>/*.jpg with classes {', '.join(FER2013_FOLDERS)}."
        )
    return samples


def _not_a_root_message(root: Path) -> str:
    expected = (
        f"the fer2013 format expects {CSV_NAME} or a folder holding train/<class>/ and/or "
        "test/<class>/ folders"
    )
    names = [folder.name for folder in subfolders(root)]
    if root.name in FOLDER_SPLITS or (names and set(names) <= set(FER2013_FOLDERS)):
        return f"{root} looks like a train/ or test/ folder itself; {expected}: pass its parent folder."
    found = ", ".join(name + "/" for name in names[:5]) or "no subfolders"
    return f"No {CSV_NAME}, train/ or test/ under {root} (found {found}); {expected}."
