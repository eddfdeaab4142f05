"""A study's tables: every interval, every clip, and summaries per participant and per condition.

    tables = study_tables(study, outcomes)
    tables.intervals, tables.clips, tables.participants, tables.conditions     # pandas DataFrames

Rates are per minute of recording, a clip lasting frames / fps seconds; the share of frames with a
face is frames where the tracker found one over all frames. Failed clips are listed in `clips`
and left out of every summary.

The participant is the unit of a study, not the interval or the clip: a lively participant with
many clips must not decide a condition's rate alone. So a condition's value is the mean over its
participants of each one's rate in that condition (their clips in it pooled: events over minutes),
and its 95% CI is a percentile bootstrap that resamples participants with replacement (N_BOOT
resamples, seeded). A participant's own row pools all their clips; its CI resamples their clips
(the only units there are within one person) and is empty with a single clip. With fewer than two
units there is no spread to resample, and the CI is left empty rather than shown as zero width.
"""

from dataclasses import dataclass

import numpy as np
import pandas as pd

from core.micro.intervals import CONTRACT_COLUMNS, Interval
from core.study.manifest import Clip, Study

N_BOOT = 2000
SEED = 0
LEVEL = 0.95
# (column, numerator, denominator) of each summarised rate; the sums are over a unit's clips.
METRICS = (
    ("micro_per_min", "micro", "minutes"),
    ("macro_per_min", "macro", "minutes"),
    ("intervals_per_min", "intervals", "minutes"),
    ("face_share", "face_frames", "frames"),
)


@dataclass(frozen=True)
class ClipOutcome:
    """What became of one clip of a study: spotted (now or before) or failed, and how often it was tried."""

    clip: Clip
    status: str  # done or failed
    message: str  # the one-line reason of a failure ("" when done)
    attempts: int  # workers that began it (0: found in the results store, no task)
    reused: bool  # found in the results store before the run: no task was submitted
    sha256: str = ""
    fps: float | None = None
    frames: int | None = None
    face_frames: int | None = None
    intervals: tuple[Interval, ...] = ()

    @property
    def duration_s(self) -> float | None:
        return self.frames / self.fps if self.frames is not None and self.fps else None


@dataclass(frozen=True)
class StudyTables:
    intervals: pd.DataFrame
    clips: pd.DataFrame
    participants: pd.DataFrame
    conditions: pd.DataFrame


def study_tables(
    study: Study, outcomes: list[ClipOutcome], n_boot: int = N_BOOT, seed: int = SEED
) -> StudyTables:
    """The four tables of a study run (see the module docstring for what the summaries mean)."""
    labels = sorted({i.label for o in outcomes for i in o.intervals})
    clips = clip_table(study, outcomes, labels)
    return StudyTables(
        intervals=interval_table(study, outcomes),
        clips=clips,
        participants=_participants(clips, n_boot, seed),
        conditions=_conditions(clips, n_boot, seed),
    )


def _manifest_cells(study: Study, clip: Clip) -> dict:
    return {"path": clip.shown, "participant": clip.participant, "condition": clip.condition,
            **dict(zip(study.columns, clip.extra, strict=True))}  # fmt: skip


def interval_table(study: Study, outcomes: list[ClipOutcome]) -> pd.DataFrame:
    """One row per spotted interval of every clip, after the clip's manifest cells."""
    rows = [
        _manifest_cells(study, o.clip) | {name: getattr(i, name) for name in CONTRACT_COLUMNS}
        for o in outcomes
        for i in o.intervals
    ]
    columns = ["path", "participant", "condition", *study.columns, *CONTRACT_COLUMNS]
    table = pd.DataFrame(rows, columns=columns)
    # Typed even when empty, so the Parquet file of a quiet study has the same schema as any other.
    types = {"onset_frame": "int64", "apex_frame": "int64", "offset_frame": "int64", "onset_s": "float64",
             "offset_s": "float64", "score": "float64"}  # fmt: skip
    return table.astype(types | {name: "string" for name in columns if name not in types})


def clip_table(study: Study, outcomes: list[ClipOutcome], labels: list[str]) -> pd.DataFrame:
    """One row per clip: its length, face share, counts and rates, and how its run went."""
    rows = [_manifest_cells(study, o.clip) | _clip_numbers(o, labels) for o in outcomes]
    columns = ["path", "participant", "condition", *study.columns, "duration_s", "frames", "fps", "face_frames",
               "face_share", "intervals", "micro", "macro", "micro_per_min", "macro_per_min", "intervals_per_min",
               *(f"n_{label}" for label in labels), "status", "message", "attempts", "reused", "sha256"]  # fmt: skip
    counts = ["frames", "face_frames", "intervals", "micro", "macro", *(f"n_{label}" for label in labels)]
    # Whole numbers stay whole where a failed clip leaves them empty (plain pandas would make them 90.0).
    return pd.DataFrame(rows, columns=columns).astype({name: "Int64" for name in counts})


def _clip_numbers(outcome: ClipOutcome, labels: list[str]) -> dict:
    run = {"status": outcome.status, "message": outcome.message, "attempts": outcome.attempts,
           "reused": outcome.reused, "sha256": outcome.sha256}  # fmt: skip
    if outcome.status != "done":
        return run
    minutes = outcome.duration_s / 60
    micro = sum(i.kind == "micro" for i in outcome.intervals)
    n = len(outcome.intervals)
    return run | {
        "duration_s": round(outcome.duration_s, 4), "frames": outcome.frames, "fps": outcome.fps,
        "face_frames": outcome.face_frames, "face_share": outcome.face_frames / outcome.frames,
        "intervals": n, "micro": micro, "macro": n - micro, "micro_per_min": micro / minutes,
        "macro_per_min": (n - micro) / minutes, "intervals_per_min": n / minutes,
        **{f"n_{label}": sum(i.label == label for i in outcome.intervals) for label in labels},
    }  # fmt: skip


def _participants(clips: pd.DataFrame, n_boot: int, seed: int) -> pd.DataFrame:
    """Per participant: the rates of their clips pooled, CIs resampling their clips."""
    done = clips[clips["status"] == "done"].assign(minutes=lambda t: t["duration_s"] / 60)
    rows = []
    for participant in sorted(set(clips["participant"])):
        theirs = done[done["participant"] == participant]
        row = {"participant": participant, "clips": len(theirs),
               "clips_failed": int(((clips["participant"] == participant) & (clips["status"] != "done")).sum()),
               **_totals(theirs)}  # fmt: skip
        for name, numerator, denominator in METRICS:
            top, bottom = theirs[numerator].to_numpy(float), theirs[denominator].to_numpy(float)
            row[name] = top.sum() / bottom.sum() if bottom.sum() > 0 else np.nan
            row[f"{name}_low"], row[f"{name}_high"] = ratio_ci(top, bottom, n_boot, seed)
        rows.append(row)
    columns = [
        "participant",
        "clips",
        "clips_failed",
        "duration_s",
        "intervals",
        "micro",
        "macro",
        *_metric_columns(),
    ]
    return pd.DataFrame(rows, columns=columns).assign(ci_unit="clip")


def _conditions(clips: pd.DataFrame, n_boot: int, seed: int) -> pd.DataFrame:
    """Per condition: the mean over participants of each one's rate in it, CIs resampling participants."""
    done = clips[clips["status"] == "done"].assign(minutes=lambda t: t["duration_s"] / 60)
    rows = []
    for condition in sorted(set(clips["condition"])):
        here = done[done["condition"] == condition]
        people = here.groupby("participant")[
            ["minutes", "frames", "face_frames", "intervals", "micro", "macro"]
        ].sum()
        row = {"condition": condition, "participants": len(people), "clips": len(here),
               "clips_failed": int(((clips["condition"] == condition) & (clips["status"] != "done")).sum()),
               **_totals(here)}  # fmt: skip
        for name, numerator, denominator in METRICS:
            rates = (people[numerator] / people[denominator]).to_numpy(float)
            rates = rates[np.isfinite(rates)]
            row[name] = float(rates.mean()) if len(rates) else np.nan
            row[f"{name}_low"], row[f"{name}_high"] = ratio_ci(rates, np.ones_like(rates), n_boot, seed)
        rows.append(row)
    columns = ["condition", "participants", "clips", "clips_failed", "duration_s", "intervals", "micro", "macro",
               *_metric_columns()]  # fmt: skip
    return pd.DataFrame(rows, columns=columns).assign(ci_unit="participant")


def _totals(done: pd.DataFrame) -> dict:
    return {"duration_s": round(float(done["duration_s"].sum()), 4),
            **{name: int(done[name].sum()) for name in ("intervals", "micro", "macro")}}  # fmt: skip


def _metric_columns() -> list[str]:
    return [column for name, *_ in METRICS for column in (name, f"{name}_low", f"{name}_high")]


def ratio_ci(
    numerators: np.ndarray,
    denominators: np.ndarray,
    n_boot: int = N_BOOT,
    seed: int = SEED,
    level: float = LEVEL,
) -> tuple[float, float]:
    """Percentile CI of sum(numerators) / sum(denominators) over resamples of the units (rows) with
    replacement; with all denominators 1 it is the CI of the mean. NaN with fewer than two units."""
    numerators, denominators = np.asarray(numerators, float), np.asarray(denominators, float)
    n = len(numerators)
    if n < 2:
        return np.nan, np.nan
    draws = np.random.default_rng(seed).integers(0, n, (n_boot, n))
    with np.errstate(all="ignore"):
        ratios = numerators[draws].sum(1) / denominators[draws].sum(1)
    tail = 100 * (1 - level) / 2
    low, high = np.nanpercentile(ratios, [tail, 100 - tail])
    return float(low), float(high)
