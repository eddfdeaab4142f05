"""SAMM (Davison et al. 2016): 159 micro-movement clips of 29 subjects, at 200 fps.

Layout: `SAMM/006/006_1_2/006_05562.jpg` (subject folder, clip folder, frames named
`<subject>_<frame number>`), and the coding sheet `SAMM_Micro_FACS_Codes_v2.xlsx` (its
MICRO_ONLY sheet: 13 rows of notes, then Subject, Filename, Inducement Code, Onset Frame,
Apex Frame, Offset Frame, Duration, Micro, Action Units, Estimated Emotion, Objective
Classes, Notes), or its csv export. AU cells carry SAMM's own marks: sides (L12, R6),
intensities (12A, 4A/B), asymmetry (A12), "or" alternatives ("(R6 or R12)+R15") and
ref(...) for AUs noted but not scored; all are kept in `aus` (core.labels.facs). `root`
may be the SAMM folder or its parent. One Sample per clip, the image its apex frame;
`emotion` is the sheet's (anger, contempt, disgust, fear, happiness, sadness, surprise,
other) and `label` its canonical label (angry, ..., None for other). No official split.
"""

from pathlib import Path

from core.datasets.megc import CodedClip, read_coding_sheet, read_micro_tree
from core.datasets.sample import Sample

EXAMPLE = "SAMM/006/006_1_2/006_05562.jpg with the SAMM_Micro_FACS_Codes sheet beside it"


def read_samm(
    root: str | Path, split: str | None = None, au_labels: str | Path | None = None
) -> list[Sample]:
    """The clips of the coding sheet that have frames under `root`, sorted by source_id ("006/006_1_2")."""
    return read_micro_tree(root, "samm", split, au_labels, EXAMPLE)


def read_samm_sheet(path: str | Path) -> list[CodedClip]:
    """The SAMM coding sheet alone (no frames needed): 159 clips."""
    return read_coding_sheet(path, "samm")
