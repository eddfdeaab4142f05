"""Spotted intervals: where the training-free spotter's score stands out, and the type every
spotter returns (step 4 of `core.micro.signals`' definition).

Runs of the score above THRESHOLD are peaks; the apex is the run's maximum; onset and offset
are where the score falls back below FALL_FRACTION of the apex value (at least FALL_FLOOR).
Durations use the clip's real fps: shorter than MIN_DURATION_S is dropped as noise, longer than
MAX_DURATION_S as drift, up to MICRO_MAX_S is a micro-expression, longer a macro-expression.
"""

from dataclasses import asdict, dataclass, fields, replace

import numpy as np

from core.micro.signals import MotionSignals

THRESHOLD = 5.0
FALL_FRACTION = 0.15
FALL_FLOOR = 1.0
MIN_DURATION_S = 0.06
MICRO_MAX_S = 0.5
MAX_DURATION_S = 4.0
UNCLASSIFIED = "unclassified"  # the training-free spotter says where, not what


@dataclass(frozen=True)
class Interval:
    """One spotted expression, as the `spot` verb writes it: 0-based frames (offset inclusive) and
    seconds from the clip's fps."""

    onset_frame: int
    apex_frame: int
    offset_frame: int
    onset_s: float
    apex_s: float
    offset_s: float
    duration_s: float
    kind: str  # micro or macro
    label: str  # the class, or UNCLASSIFIED
    score: float  # confidence, 0 to 1

    @classmethod
    def at(cls, onset: int, apex: int, offset: int, fps: float, label: str, score: float) -> "Interval":
        duration = (offset - onset + 1) / fps
        return cls(int(onset), int(apex), int(offset), round(onset / fps, 4), round(apex / fps, 4),
                   round(offset / fps, 4), round(duration, 4), kind_of(duration), label, round(score, 4))  # fmt: skip

    def labelled(self, label: str, score: float) -> "Interval":
        return replace(self, label=label, score=round(score, 4))

    def to_json(self) -> dict:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict) -> "Interval":
        return cls(**{name: data[name] for name in cls.__dataclass_fields__})


# An interval's fields in the order of every table of intervals (the `spot` CSV, the page's table),
# and those of DESIGN.md's `spot` contract (a study's interval tables).
INTERVAL_COLUMNS: tuple[str, ...] = tuple(f.name for f in fields(Interval))
CONTRACT_COLUMNS = ("onset_frame", "apex_frame", "offset_frame", "onset_s", "offset_s", "kind", "label", "score")


@dataclass(frozen=True)
class Peak:
    onset: int
    apex: int
    offset: int  # inclusive
    value: float  # the score at the apex


def find_peaks(
    score: np.ndarray,
    threshold: float = THRESHOLD,
    fall_fraction: float = FALL_FRACTION,
    fall_floor: float = FALL_FLOOR,
) -> list[Peak]:
    """Runs of `score` above `threshold`, widened to where the score falls back; touching ones merged."""
    above = np.r_[False, score > threshold, False]
    starts = np.flatnonzero(~above[:-1] & above[1:])
    ends = np.flatnonzero(above[:-1] & ~above[1:])  # exclusive
    peaks: list[Peak] = []
    for start, end in zip(starts, ends, strict=True):
        apex = int(start + np.argmax(score[start:end]))
        value = float(score[apex])
        low = max(fall_floor, fall_fraction * value)
        onset, offset = apex, apex
        while onset > 0 and score[onset - 1] > low:
            onset -= 1
        while offset < len(score) - 1 and score[offset + 1] > low:
            offset += 1
        if peaks and onset <= peaks[-1].offset + 1:  # the same movement, seen as two runs
            last = peaks.pop()
            best = last if last.value >= value else Peak(onset, apex, offset, value)
            peaks.append(Peak(last.onset, best.apex, max(offset, last.offset), best.value))
        else:
            peaks.append(Peak(onset, apex, offset, value))
    return peaks


def kind_of(duration_s: float) -> str:
    """'micro' up to MICRO_MAX_S seconds, 'macro' above."""
    return "micro" if duration_s <= MICRO_MAX_S + 1e-9 else "macro"


def keep_by_duration(peaks: list[Peak], fps: float) -> list[Peak]:
    """Peaks whose duration (frames / fps, in seconds) lies within MIN_DURATION_S and MAX_DURATION_S."""
    return [p for p in peaks if MIN_DURATION_S <= (p.offset - p.onset + 1) / fps <= MAX_DURATION_S]


def confidence(value: float, threshold: float = THRESHOLD) -> float:
    """A 0-1 confidence from the apex score: 0.5 at the threshold, approaching 1 far above it."""
    return float(1.0 - 0.5 * np.exp(-max(value - threshold, 0.0) / threshold))


def intervals_from_signals(signals: MotionSignals, fps: float, threshold: float = THRESHOLD) -> list[Interval]:
    """The training-free spotter's intervals (module docstring, step 4), unclassified."""
    peaks = keep_by_duration(find_peaks(signals.score, threshold), fps)
    return [Interval.at(p.onset, p.apex, p.offset, fps, UNCLASSIFIED, confidence(p.value, threshold)) for p in peaks]
