"""Micro-expression coding sheets and clip trees (CASME II, SAMM, SMIC), and the MEGC 2019 composite.

The coding sheets are read as their owners ship them (xlsx, or a csv export of it): the
header row is found wherever it is (SAMM's sheet has 13 rows of notes above it), columns
are matched by name ("OnsetFrame" or "Onset Frame"), AU cells are parsed with
core.labels.facs.parse_au_codes ("R12+L14", "4+7(?)", "(R6 or R12)+R15"), and an apex
written "/" (one CASME II clip) is None.

    clips = read_coding_sheet("CASME2-coding-20190701.xlsx", "casme2")   # 255 CodedClip
    composite = read_megc_composite("combined_3class_gt.csv")            # 442 CodedClip

The MEGC 2019 composite (`combined_3class_gt.csv`, no header) has one row per clip:
`dataset,subject,clip,class` with dataset casme2 | samm | smic and class 0 negative,
1 positive, 2 surprise; 145 CASME II + 133 SAMM + 164 SMIC = 442 clips. Subjects are
written as the trees name their folders: "sub01" (CASME II), "6" for SAMM's "006" (made
"006" here), "s01" (SMIC). SMIC's apex sheet writes clips as "s1_ne_01" where the composite
has "s01_ne_01"; clips are keyed by the composite's spelling.

`read_dataset("megc", root)` reads clips whose frames are under `root`: `root` holds
`combined_3class_gt.csv` and the trees `CASME2_RAW_selected/sub01/EP02_01f/img46.jpg`,
`SAMM/006/006_1_2/006_05562.jpg` and, for SMIC, the folders that `smic_apex.xlsx` names
(`smic/HS_long/SMIC_HS_E/s20/s20_ne_01/image17581039.jpg`). Onset, apex, offset and AUs
come from the CASME II, SAMM and SMIC sheets where they are found beside the composite
(or in its `Onset_Apex_Files/` folder). Each sample's `emotion` is its own dataset's word
("repression", "anger", or SMIC's "negative"); core.labels.micro.to_megc gives the class.
"""

import csv
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import partial
from pathlib import Path

from core.datasets.folder import image_files
from core.datasets.sample import Sample
from core.errors import DatasetError
from core.labels import canonical_label
from core.labels.facs import parse_au_codes
from core.labels.micro import MEGC_CLASSES, normalize_emotion, to_megc
from core.media import load_image

COMPOSITE_NAME = "combined_3class_gt.csv"
COMPOSITE_DATASETS = ("casme2", "samm", "smic")
# Where each dataset's frames live under a root, and the file names of its coding sheet
# (newest first: CASME II's 2019 sheet fixes the 2014 one).
TREES = {"casme2": "CASME2_RAW_selected", "samm": "SAMM"}
SHEET_PATTERNS: dict[str, tuple[str, ...]] = {
    "casme2": ("CASME2-coding-*.xlsx", "CASME2-coding-*.csv", "CASME2/CASME2-coding-*.xlsx"),
    "samm": ("SAMM_Micro_FACS_Codes*.xlsx", "SAMM_Micro_FACS_Codes*.csv", "SAMM/SAMM.xlsx"),
    "smic": ("smic_apex.xlsx", "SMIC/smic_apex.xlsx"),
}
# Column names, squeezed (lower case, no spaces or underscores), for each field.
_COLUMNS: dict[str, tuple[str, ...]] = {
    "subject": ("subject",),
    "clip": ("filename", "clip"),
    "onset": ("onsetframe", "onset"),
    "apex": ("apexframe", "apex"),
    "offset": ("offsetframe", "offset"),
    "aus": ("actionunits", "au", "aus"),
    "emotion": ("estimatedemotion", "emotion"),
    "label": ("label",),  # SMIC's apex sheet: 0 negative, 1 positive, 2 surprise
    "objective": ("objectiveclasses", "objectiveclass"),
    "notes": ("notes",),
    "apex_path": ("apexframepath",),
}
_SUBJECT_NUMBER = re.compile(r"(?:sub|s)?(\d+)", re.IGNORECASE)
_SMIC_CLIP = re.compile(r"s(\d+)_(.+)", re.IGNORECASE)
_FRAME_NUMBER = re.compile(r"(\d+)\.[A-Za-z0-9]+$")


@dataclass(frozen=True)
class CodedClip:
    """One row of a coding sheet: a clip, its frames of onset, apex and offset, its AUs and emotion."""

    dataset: str  # casme2 | samm | smic
    subject: str  # as the tree names the subject's folder: "sub01", "006", "s20"
    clip: str  # as the tree names the clip's folder: "EP02_01f", "006_1_2"
    onset_frame: int | None = None
    apex_frame: int | None = None
    offset_frame: int | None = None
    aus: frozenset[int] = frozenset()
    au_text: str = ""  # the AU cell as written
    emotion: str | None = None  # lower case: "happiness", "repression", SMIC's "negative"
    objective_class: int | None = None
    notes: str | None = None
    apex_path: str | None = None  # SMIC: the apex frame's path relative to the data root

    @property
    def megc_class(self) -> str | None:
        """negative | positive | surprise, None where MEGC 2019 did not take the emotion from this dataset."""
        return to_megc(self.emotion, self.dataset if self.dataset in COMPOSITE_DATASETS else None)

    @property
    def key(self) -> tuple[str, str, str]:
        return self.dataset, self.subject, self.clip


# ---- sheets ----------------------------------------------------------------------------


def read_coding_sheet(path: str | Path, dataset: str) -> list[CodedClip]:
    """Every clip of a CASME II, SAMM or SMIC coding sheet (xlsx or csv), in the sheet's order."""
    path = Path(path).expanduser()
    rows = _sheet_rows(path)
    header_at = next((i for i, row in enumerate(rows) if _is_header(row)), None)
    if header_at is None:
        raise DatasetError(f"{path.name} has no header row with Subject and Filename columns.")
    columns = _column_positions(rows[header_at])
    missing = [name for name in ("onset", "offset") if name not in columns]
    if missing:
        raise DatasetError(f"{path.name} has no {' or '.join(missing)} frame column.")
    clips = []
    for number, row in enumerate(rows[header_at + 1 :], start=header_at + 2):
        if not any(_text(cell) for cell in row):
            continue  # blank lines at the end of a sheet
        clips.append(_coded_clip(row, columns, dataset, f"{path.name} row {number}"))
    if not clips:
        raise DatasetError(f"{path.name} lists no clips.")
    return clips


def read_megc_composite(path: str | Path) -> list[CodedClip]:
    """The MEGC 2019 composite list: one clip per row, emotion = its MEGC class."""
    path = Path(path).expanduser()
    clips = []
    for number, row in enumerate(_csv_rows(path), start=1):
        if not any(cell.strip() for cell in row):
            continue
        if len(row) != 4:
            raise DatasetError(
                f"{path.name} row {number} has {len(row)} cells; expected dataset,subject,clip,class."
            )
        dataset, subject, clip, label = (cell.strip() for cell in row)
        dataset = dataset.lower()
        if dataset not in COMPOSITE_DATASETS or label not in ("0", "1", "2"):
            raise DatasetError(
                f"{path.name} row {number} reads '{','.join(row)}'; the dataset must be one of "
                f"{', '.join(COMPOSITE_DATASETS)} and the class 0, 1 or 2."
            )
        clips.append(
            CodedClip(dataset, subject_folder(dataset, subject), clip, emotion=MEGC_CLASSES[int(label)])
        )
    if not clips:
        raise DatasetError(f"{path.name} lists no clips.")
    return clips


def join_sheets(composite: list[CodedClip], sheets: Iterable[CodedClip]) -> list[CodedClip]:
    """The composite's clips with frames, AUs and the source emotion from the datasets' own sheets.

    A clip that no sheet lists keeps its MEGC class as its emotion.
    """
    by_key = {clip.key: clip for clip in sheets}
    return [by_key.get(clip.key, clip) for clip in composite]


def find_sheet(folder: Path, dataset: str) -> Path | None:
    """The coding sheet of `dataset` in `folder`, its parent, or their Onset_Apex_Files/ folders."""
    for base in (folder, folder.parent):
        for where in (base, base / "Onset_Apex_Files"):
            for pattern in SHEET_PATTERNS[dataset]:
                found = sorted(where.glob(pattern), reverse=True)  # the newest dated sheet first
                if found:
                    return found[0]
    return None


def subject_folder(dataset: str, subject: object) -> str:
    """A sheet's subject as the tree names its folder: CASME II 1 -> "sub01", SAMM 6 -> "006", SMIC 20 -> "s20"."""
    text = _text(subject)
    match = _SUBJECT_NUMBER.fullmatch(text)
    if match is None:
        return text
    number = int(match[1])
    return {"casme2": f"sub{number:02d}", "samm": f"{number:03d}", "smic": f"s{number:02d}"}.get(
        dataset, text
    )


def clip_name(dataset: str, clip: object) -> str:
    """A clip's name as the composite writes it: SMIC's apex sheet has "s1_ne_01" for "s01_ne_01"."""
    text = _text(clip)
    if dataset == "smic":
        match = _SMIC_CLIP.fullmatch(text)
        if match:
            return f"s{int(match[1]):02d}_{match[2]}"
    return text


# ---- samples ---------------------------------------------------------------------------


def frame_number(path: str | Path) -> int | None:
    """The frame number in a frame's file name: img46.jpg -> 46, 006_05562.jpg -> 5562."""
    match = _FRAME_NUMBER.search(Path(path).name)
    return int(match[1]) if match else None


def clips_to_samples(
    clips: Iterable[CodedClip], folder_of: Callable[[CodedClip], Path | None], fmt: str, root: Path
) -> list[Sample]:
    """One Sample per clip whose frame folder exists and holds frames; sorted by source_id."""
    samples = []
    for clip in clips:
        folder = folder_of(clip)
        if folder is None or not folder.is_dir():
            continue
        frames = sorted(
            image_files(folder), key=lambda p: (frame_number(p) is None, frame_number(p) or 0, p.name)
        )
        if not frames:
            continue
        samples.append(
            Sample(
                source_id=folder.relative_to(root).as_posix(),
                dataset=fmt,
                label=canonical_label(clip.emotion) if clip.emotion else None,
                subject=clip.subject if clip.dataset == fmt else f"{clip.dataset}/{clip.subject}",
                sequence=clip.clip,
                aus=clip.aus,
                aligned=False,
                load=partial(load_image, _apex_path(frames, clip)),
                emotion=clip.emotion,
                onset_frame=clip.onset_frame,
                apex_frame=clip.apex_frame,
                offset_frame=clip.offset_frame,
                frame_paths=tuple(str(p) for p in frames),
            )
        )
    return sorted(samples, key=lambda s: s.source_id)


def read_megc(root: str | Path, split: str | None = None) -> list[Sample]:
    """The composite's clips found under `root` (see the module docstring for the layout)."""
    if split is not None:
        raise DatasetError(
            f"MEGC 2019 has no train/test split (asked for '{split}'); it is evaluated leave-one-subject-out."
        )
    root = Path(root).expanduser()
    composite_path = root / COMPOSITE_NAME if root.is_dir() else root
    if not composite_path.is_file():
        raise DatasetError(
            f"No {COMPOSITE_NAME} in {root}; the megc format needs the MEGC 2019 composite list."
        )
    root = composite_path.parent
    sheets = []
    for dataset in COMPOSITE_DATASETS:
        sheet = find_sheet(root, dataset)
        if sheet is not None:
            sheets += read_coding_sheet(sheet, dataset)
    clips = join_sheets(read_megc_composite(composite_path), sheets)

    def folder_of(clip: CodedClip) -> Path | None:
        if clip.dataset in TREES:
            return root / TREES[clip.dataset] / clip.subject / clip.clip
        return root / Path(clip.apex_path).parent if clip.apex_path else None

    samples = clips_to_samples(clips, folder_of, "megc", root)
    if not samples:
        raise DatasetError(
            f"None of the {len(clips)} clips of {COMPOSITE_NAME} has frames under {root}; expected "
            "CASME2_RAW_selected/sub01/EP02_01f/img46.jpg, SAMM/006/006_1_2/006_05562.jpg or SMIC folders."
        )
    return samples


def read_micro_tree(
    root: str | Path, fmt: str, split: str | None, au_labels: str | Path | None, example: str
) -> list[Sample]:
    """CASME II or SAMM: the coding sheet's clips found in the frame tree under `root`.

    `root` may be the tree's folder (CASME2_RAW_selected, SAMM) or its parent. The sheet is
    `au_labels` when given, else found beside the tree (see `find_sheet`).
    """
    name = {"casme2": "CASME II", "samm": "SAMM"}[fmt]
    if split is not None:
        raise DatasetError(
            f"{name} has no train/test split (asked for '{split}'); it is evaluated leave-one-subject-out."
        )
    root = Path(root).expanduser()
    tree = root / TREES[fmt] if (root / TREES[fmt]).is_dir() else root
    sheet = Path(au_labels).expanduser() if au_labels else find_sheet(tree, fmt)
    if sheet is None or not sheet.is_file():
        raise DatasetError(
            f"No {name} coding sheet found beside {tree}; put it there or name it (au_labels / --au-labels)."
        )
    clips = read_coding_sheet(sheet, fmt)
    samples = clips_to_samples(clips, lambda clip: tree / clip.subject / clip.clip, fmt, tree)
    if not samples:
        raise DatasetError(
            f"None of the {len(clips)} clips of {sheet.name} has frames under {tree}; the {fmt} format expects "
            f"{example}."
        )
    return samples


# ---- helpers ---------------------------------------------------------------------------


def _sheet_rows(path: Path) -> list[list[object]]:
    if not path.is_file():
        raise DatasetError(f"The coding sheet {path} does not exist.")
    if path.suffix.lower() in (".xlsx", ".xlsm"):
        import openpyxl

        try:
            book = openpyxl.load_workbook(path, read_only=True, data_only=True)
        except Exception as error:  # openpyxl raises many types for a damaged file
            raise DatasetError(f"{path.name} is not a readable xlsx file ({error}).") from None
        try:
            return [list(row) for row in book.worksheets[0].iter_rows(values_only=True)]
        finally:
            book.close()
    if path.suffix.lower() == ".csv":
        return [list(row) for row in _csv_rows(path)]
    raise DatasetError(f"{path.name}: a coding sheet is an .xlsx or .csv file.")


def _csv_rows(path: Path) -> list[list[str]]:
    if not path.is_file():
        raise DatasetError(f"The file {path} does not exist.")
    try:
        with path.open(newline="", encoding="utf-8-sig") as handle:
            return list(csv.reader(handle))
    except (UnicodeDecodeError, csv.Error) as error:
        raise DatasetError(f"{path.name} is not a readable csv ({error}).") from None


def _squeeze(cell: object) -> str:
    return re.sub(r"[\s_]+", "", _text(cell).lower())


def _is_header(row: list[object]) -> bool:
    names = {_squeeze(cell) for cell in row}
    return "subject" in names and bool(names & {"filename", "clip"})


def _column_positions(header: list[object]) -> dict[str, int]:
    names = [_squeeze(cell) for cell in header]
    positions = {}
    for field, aliases in _COLUMNS.items():
        for alias in aliases:
            if alias in names:
                positions[field] = names.index(alias)
                break
    return positions


def _text(cell: object) -> str:
    if cell is None:
        return ""
    if isinstance(cell, float) and cell.is_integer():
        return str(int(cell))
    return str(cell).strip()


def _frame(cell: object, where: str) -> int | None:
    """A frame number; None for an empty cell or CASME II's "/" (no apex coded)."""
    text = _text(cell)
    if text in ("", "/", "-"):
        return None
    try:
        return int(float(text))
    except ValueError:
        raise DatasetError(f"{where} is not a frame number.") from None


def _coded_clip(row: list[object], columns: dict[str, int], dataset: str, where: str) -> CodedClip:
    def cell(field: str) -> object:
        position = columns.get(field)
        return row[position] if position is not None and position < len(row) else None

    emotion = normalize_emotion(cell("emotion"))
    if emotion is None and _text(cell("label")) in ("0", "1", "2"):
        emotion = MEGC_CLASSES[int(_text(cell("label")))]
    objective = _text(cell("objective"))
    return CodedClip(
        dataset=dataset,
        subject=subject_folder(dataset, cell("subject")),
        clip=clip_name(dataset, cell("clip")),
        onset_frame=_frame(cell("onset"), where),
        apex_frame=_frame(cell("apex"), where),
        offset_frame=_frame(cell("offset"), where),
        aus=parse_au_codes(cell("aus")),
        au_text=_text(cell("aus")),
        emotion=emotion,
        objective_class=int(objective) if objective.isdigit() else None,
        notes=_text(cell("notes")) or None,
        apex_path=_text(cell("apex_path")) or None,
    )


def _apex_path(frames: list[Path], clip: CodedClip) -> Path:
    """The apex frame; where the sheet has none, the frame midway between onset and offset."""
    numbers = [frame_number(p) for p in frames]
    target = clip.apex_frame
    if target is None and clip.onset_frame is not None and clip.offset_frame is not None:
        target = (clip.onset_frame + clip.offset_frame) // 2
    if target is None or all(n is None for n in numbers):
        return frames[len(frames) // 2]
    return min(zip(numbers, frames, strict=True), key=lambda item: abs((item[0] or 0) - target))[1]
