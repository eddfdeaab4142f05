"""Dataset readers. Each turns one on-disk layout into a list of `Sample`.

from core.datasets import read_dataset
samples = read_dataset("ckplus", "../shared/data/ckplus48")
"""

from pathlib import Path

from core.datasets.sample import Sample
from core.errors import DatasetError

__all__ = ["FORMATS", "Sample", "fingerprint", "read_dataset"]

FORMATS: dict[str, str] = {
    "fer2013": "FER2013: the Kaggle csv (emotion,pixels,Usage) or train|test/<class>/ folders",
    "ckplus": "CK+: the original cohn-kanade-images/Emotion/FACS tree, or CK+48/<class>/ folders",
    "folder": "Any folder of <class>/<image> files",
    "casme2": "CASME II micro-expression clips: CASME2_RAW_selected/sub01/EP02_01f/img46.jpg + its coding sheet",
    "samm": "SAMM micro-expression clips: SAMM/006/006_1_2/006_05562.jpg + its coding sheet",
    "megc": "MEGC 2019 composite (CASME II + SAMM + SMIC, 3 classes): combined_3class_gt.csv + the clip trees",
    "generated": "Faces drawn by the dashboard itself (the embedded default; no root needed)",
}


def fingerprint(samples: list[Sample]) -> str:
    """A short hash of which faces, with which labels: keys stored results and model cards."""
    import hashlib

    digest = hashlib.sha256()
    for sample in sorted(samples, key=lambda s: s.source_id):
        digest.update(f"{sample.dataset}|{sample.source_id}|{sample.label}|{sorted(sample.aus)}\n".encode())
    return digest.hexdigest()[:16]


def read_dataset(
    fmt: str,
    root: str | Path | None = None,
    *,
    split: str | None = None,
    au_labels: str | Path | None = None,
) -> list[Sample]:
    """Read a dataset of layout `fmt` under `root`; raise DatasetError on a wrong layout."""
    if fmt not in FORMATS:
        raise DatasetError(f"Unknown dataset format '{fmt}'; choose one of: {', '.join(FORMATS)}.")
    if fmt == "generated":
        from core.datasets.generated import read_generated

        return read_generated(split=split)
    if root is None:
        raise DatasetError(f"The {fmt} format needs a folder (root).")
    root = Path(root).expanduser()
    if not root.exists():
        raise DatasetError(f"The folder {root} does not exist.")
    if fmt == "fer2013":
        from core.datasets.fer2013 import read_fer2013

        return read_fer2013(root, split=split)
    if fmt == "ckplus":
        from core.datasets.ckplus import read_ckplus

        return read_ckplus(root, split=split, au_labels=au_labels)
    if fmt in ("casme2", "samm"):
        from core.datasets.casme2 import read_casme2
        from core.datasets.samm import read_samm

        return (read_casme2 if fmt == "casme2" else read_samm)(root, split=split, au_labels=au_labels)
    if fmt == "megc":
        from core.datasets.megc import read_megc

        return read_megc(root, split=split)
    from core.datasets.folder import read_folder

    return read_folder(root, split=split)
