"""A study run's files, written once at the end, each whole or not at all.

    files = write_outputs(Path("out"), tables, summary)

intervals.parquet and intervals.csv (every interval, after its clip's manifest cells), clips.csv,
participants.csv, conditions.csv and summary.json. Each goes through `core.paths.atomic_path`: a
temporary name beside it, renamed when complete, so a run killed while writing leaves the last
complete file (or none), never half of one.
"""

import json
from pathlib import Path

from core.paths import atomic_path, write_atomically
from core.study.summary import StudyTables

FILES = (
    "intervals.parquet",
    "intervals.csv",
    "clips.csv",
    "participants.csv",
    "conditions.csv",
    "summary.json",
)


def write_outputs(out: Path, tables: StudyTables, summary: dict) -> dict[str, Path]:
    """Write the study's tables and summary.json into `out`; the paths written, by file name."""
    out.mkdir(parents=True, exist_ok=True)
    with atomic_path(out / "intervals.parquet") as partial:
        tables.intervals.to_parquet(partial, index=False, engine="pyarrow")
    for name, table in (("intervals", tables.intervals), ("clips", tables.clips),
                        ("participants", tables.participants), ("conditions", tables.conditions)):  # fmt: skip
        with atomic_path(out / f"{name}.csv") as partial:
            table.to_csv(partial, index=False)
    write_atomically(out / "summary.json", json.dumps(summary, indent=2) + "\n")
    return {name: out / name for name in FILES}
