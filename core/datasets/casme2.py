"""CASME II (Yan et al. 2014): 255 spontaneous micro-expression clips of 26 subjects, at 200 fps.

Layout: `CASME2_RAW_selected/sub01/EP02_01f/img46.jpg` (one folder per clip; frames named
by their number in the original recording, from the onset to the offset), and the coding
sheet `CASME2-coding-20190701.xlsx` (or its csv export, or the 2014 sheet) with columns
Subject, Filename, OnsetFrame, ApexFrame, OffsetFrame, Action Units, Estimated Emotion
(and, in 2019, Objective Classes). `root` may be CASME2_RAW_selected or its parent; the
sheet is found beside it (or given as `au_labels`). One Sample per clip: the image is the
apex frame, `emotion` the sheet's (happiness, disgust, repression, surprise, others, fear,
sadness), `label` its canonical label where one exists (happy, disgust, surprise, fear,
sad; None for repression and others). One clip (sub04/EP12_01f) has apex "/": None, and
its image is the frame midway between onset and offset. No official split: evaluate
leave-one-subject-out (core.micro.metrics.loso_splits).
"""

from pathlib import Path

from core.datasets.megc import CodedClip, read_coding_sheet, read_micro_tree
from core.datasets.sample import Sample

EXAMPLE = "CASME2_RAW_selected/sub01/EP02_01f/img46.jpg with the CASME2-coding sheet beside it"


def read_casme2(
    root: str | Path, split: str | None = None, au_labels: str | Path | None = None
) -> list[Sample]:
    """The clips of the coding sheet that have frames under `root`, sorted by source_id ("sub01/EP02_01f")."""
    return read_micro_tree(root, "casme2", split, au_labels, EXAMPLE)


def read_casme2_sheet(path: str | Path) -> list[CodedClip]:
    """The CASME II coding sheet alone (no frames needed): 255 clips in the 2019 sheet."""
    return read_coding_sheet(path, "casme2")
