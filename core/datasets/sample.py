"""The one record every dataset reader yields."""

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True)
class Sample:
    """One face of a dataset. Pixels load on demand, so listing 28,709 faces is cheap.

    `aligned` is True for crops that are already the model's canonical view (FER2013,
    CK+48): they skip face detection and alignment.

    Micro-expression clips (CASME II, SAMM, MEGC) are one Sample each: the image is the
    apex frame; `frame_paths` lists the clip's frames in order and `onset_frame`,
    `apex_frame`, `offset_frame` are frame numbers as the coding sheet writes them (the
    numbers in the frame file names, not positions in `frame_paths`).
    """

    source_id: str  # stable id within its dataset: a relative path, or "file.csv#row"
    dataset: str  # the format name: fer2013, ckplus, folder, generated
    label: str | None  # a canonical label (core.labels), None when unlabelled
    subject: str | None = None
    sequence: str | None = None  # CK+: "S005_001"; faces of one sequence are near-duplicates
    aus: frozenset[int] = frozenset()  # FACS Action Units present
    split: str | None = None  # train / test, where the dataset says
    aligned: bool = False
    load: Callable[[], np.ndarray] = field(default=None, repr=False, compare=False)
    emotion: str | None = None  # the dataset's own emotion word, e.g. CASME II "repression"
    onset_frame: int | None = None
    apex_frame: int | None = None  # None where the sheet gives none (CASME II writes "/")
    offset_frame: int | None = None
    frame_paths: tuple[str, ...] = field(default=(), repr=False)

    @property
    def image(self) -> np.ndarray:
        """The face as RGB uint8, height x width x 3."""
        return self.load()
