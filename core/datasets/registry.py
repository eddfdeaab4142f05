"""Which datasets the dashboard knows: the embedded faces, the environment, what a user added.

A user adds a dataset on the Datasets page (saved in the results store, so it is there
next time) or with the environment variable FER_DATASETS, for example

    FER_DATASETS="FER2013=fer2013:/data/fer2013;CK+=ckplus:/data/ckplus48"

(`name=format:folder`, separated by `;`). The embedded generated faces are always there.

What a browser user adds is read only under the roots the operator allows (`core.paths`);
the environment's datasets are the operator's own and are not confined.
"""

import os
from dataclasses import asdict, dataclass

from core.datasets import FORMATS, Sample, read_dataset
from core.errors import DatasetError
from core.paths import confine
from core.store import ResultStore

EMBEDDED_NAME = "Generated faces (embedded)"
STATE_KEY = "datasets"


@dataclass(frozen=True)
class DatasetEntry:
    """A dataset the user can browse: a display name, a layout and where it lives."""

    name: str
    fmt: str
    root: str | None = None
    au_labels: str | None = None
    origin: str = "saved"  # embedded, environment or saved: only saved ones can be removed

    def read(self) -> list[Sample]:
        if self.origin == "saved":  # added from a browser: confined, even if saved before the rule
            confine(self.root, "dataset folder", DatasetError)
            if self.au_labels:
                confine(self.au_labels, "AU labels file", DatasetError)
        return read_dataset(self.fmt, self.root, au_labels=self.au_labels)


EMBEDDED = DatasetEntry(EMBEDDED_NAME, "generated", origin="embedded")


def parse_env(value: str) -> list[DatasetEntry]:
    """Entries from a FER_DATASETS string; a malformed part raises DatasetError."""
    entries = []
    for part in filter(None, (p.strip() for p in value.split(";"))):
        name, sep, spec = part.partition("=")
        fmt, sep2, root = spec.partition(":")
        if not (sep and sep2 and name.strip() and root.strip()):
            raise DatasetError(f"FER_DATASETS part '{part}' should look like name=format:folder.")
        if fmt.strip() not in FORMATS:
            raise DatasetError(
                f"FER_DATASETS names an unknown format '{fmt}'; use one of {', '.join(FORMATS)}."
            )
        entries.append(DatasetEntry(name.strip(), fmt.strip(), root.strip(), origin="environment"))
    return entries


def list_datasets(store: ResultStore) -> list[DatasetEntry]:
    """Every dataset to offer, the embedded one first."""
    entries = [EMBEDDED]
    entries += parse_env(os.environ.get("FER_DATASETS", ""))
    entries += [DatasetEntry(**saved) for saved in store.load_state(STATE_KEY, [])]
    return entries


def add_dataset(store: ResultStore, entry: DatasetEntry) -> int:
    """Check that the folder reads as the format given, then save it; returns its size.

    Raises DatasetError (and saves nothing) when the folder is wrong or the name taken.
    """
    name = entry.name.strip()
    if not name:
        raise DatasetError("Give the dataset a name.")
    if any(existing.name == name for existing in list_datasets(store)):
        raise DatasetError(f"A dataset called '{name}' already exists; choose another name.")
    confine(entry.root, "dataset folder", DatasetError)
    if entry.au_labels and not confine(entry.au_labels, "AU labels file", DatasetError).is_file():
        raise DatasetError(f"The AU labels file {entry.au_labels} does not exist.")
    entry = DatasetEntry(name, entry.fmt, entry.root, entry.au_labels or None, origin="saved")
    samples = entry.read()
    if not samples:
        raise DatasetError(f"The folder {entry.root} holds no faces in the {entry.fmt} layout.")
    saved = store.load_state(STATE_KEY, [])
    store.save_state(STATE_KEY, saved + [asdict(entry)])
    return len(samples)


def remove_dataset(store: ResultStore, name: str) -> None:
    """Forget a saved dataset (its files are not touched)."""
    saved = store.load_state(STATE_KEY, [])
    store.save_state(STATE_KEY, [entry for entry in saved if entry["name"] != name])


def filter_samples(
    samples: list[Sample],
    labels: list[str] | None = None,
    subjects: list[str] | None = None,
    aus: list[int] | None = None,
) -> list[Sample]:
    """The samples with any of the labels, any of the subjects, and all of the AUs given."""
    return [
        s
        for s in samples
        if (not labels or s.label in labels)
        and (not subjects or s.subject in subjects)
        and (not aus or set(aus) <= s.aus)
    ]


def samples_table(samples: list[Sample]) -> list[dict[str, object]]:
    """One row per sample, for tables, counts and CSV exports."""
    return [
        {
            "source_id": s.source_id,
            "label": s.label,
            "subject": s.subject,
            "sequence": s.sequence,
            "aus": " ".join(f"AU{au}" for au in sorted(s.aus)),
            "split": s.split,
        }
        for s in samples
    ]
