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
    from core.datasets.folder import read_folder

    return read_folder(root, split=split)
