"""A study run kept in the results store: its counts and tables, read back without running anything.

    kept = stored_study(study_id)          # None when that study was never run to the end
    kept.summary["done"], kept.clips, kept.participants, kept.conditions

`run_study` puts each finished run into the store (kind "study", keyed by the manifest's fingerprint
and the models' checksums; the key's hash is the study id). A page reopening a study reads it here,
at once, instead of hashing every clip again. The intervals table is not kept in the store (it can
be large): it is in the run's output folder.
"""

from dataclasses import dataclass

import pandas as pd

from core.store import ResultStore, key_hash

KIND = "study"


@dataclass(frozen=True)
class StoredStudy:
    study_id: str
    summary: dict  # summary.json's counts
    clips: pd.DataFrame
    participants: pd.DataFrame
    conditions: pd.DataFrame


def stored_study(study_id: str, store: ResultStore | None = None) -> StoredStudy | None:
    """The newest stored run of the study with this id, or None."""
    store = store or ResultStore()
    for entry in store.list_results(KIND):  # newest first; a handful per study at most
        if key_hash(entry["key"]) != study_id:
            continue
        value = store.get_result(KIND, entry["key"])
        if value is None:
            return None
        tables = {
            name: pd.DataFrame.from_records(value.get(name) or [])
            for name in ("clips", "participants", "conditions")
        }
        return StoredStudy(study_id, value.get("summary", {}), **tables)
    return None
