"""A clip's motion signals: how far each AU region and the whole face depart from their own
sliding baseline, frame by frame, in the clip's own noise units. Both spotters read them
(`core.micro.spotters`); the training-free one turns them into intervals (`core.micro.intervals`).

    signals = motion_signals(video)                  # per-frame deviation from a sliding baseline
    intervals = intervals_from_signals(signals, video.fps)   # core.micro.intervals

The definition (ours; Breuer & Kimmel 2017 train an LSTM instead, see core.micro.lstm):

1. Baseline. For each frame t, the baseline of a feature is its median over the frames
   within BASELINE_HALF_S seconds on both sides of t (a centred, sliding window). A
   median ignores an event that fills less than half the window, so movements up to
   about 2 s leave it at the neutral face.
2. Deviation, per AU region (`core.micro.track.REGIONS`) and per cue:
   - landmark motion: the mean distance of the region's landmarks (in the aligned 48x48
     crop, so head motion is removed) from their baseline positions;
   - CNN activity: the first ReLU layer's maps pooled over the region, each map
     standardised by its own robust spread, root-mean-square over maps;
   and for the whole face, the spatially pooled maps of every ReLU layer, likewise.
3. Noise units. Each deviation series is smoothed over SMOOTH_S seconds (an expression
   lasts longer than one frame; mesh jitter does not) and rescaled to the clip's own
   noise: (value - median) / (1.4826 MAD). A region's activity is the larger of its two
   cues; the spotting score is the largest region activity (or the whole-face CNN's),
   rescaled once more the same way, so its threshold means "this many times the clip's
   typical fluctuation".
4. Intervals. Runs of the score above THRESHOLD are peaks; the apex is the run's maximum;
   onset and offset are where the score falls back below FALL_FRACTION of the apex value
   (at least FALL_FLOOR). Durations use the clip's real fps: shorter than MIN_DURATION_S is
   dropped as noise, longer than MAX_DURATION_S as drift, up to MICRO_MAX_S is a
   micro-expression, longer a macro-expression.
"""

from dataclasses import dataclass

import numpy as np

from core.micro.track import REGION_ROWS, REGIONS, FaceVideo

BASELINE_HALF_S = 2.5
BASELINE_STRIDE_S = 0.1  # baselines are computed this often and interpolated between
BASELINE_SAMPLES = 61  # at most this many frames of a window enter its median
SMOOTH_S = 0.1
_MAD_TO_SD = 1.4826


@dataclass
class MotionSignals:
    """Per-frame signals of a clip, in noise units (see the module's docstring)."""

    score: np.ndarray  # (N,) the spotting score
    regions: np.ndarray  # (R, N) activity per AU region (REGIONS order)
    face: np.ndarray  # (N,) whole-face CNN deviation
    displacement: np.ndarray  # (N, R, 2) mean landmark displacement per region, crop pixels (signed)
    feature_deviation: np.ndarray  # (N, maps) pooled CNN features minus baseline, standardised


def rolling_baseline(values: np.ndarray, found: np.ndarray, half: int, stride: int) -> np.ndarray:
    """The centred sliding median of `values` (N, ...) over frames with a face, at every frame.

    Medians are taken every `stride` frames over at most BASELINE_SAMPLES frames of the
    window and interpolated linearly between, which keeps a 10-minute clip to seconds. At
    the clip's ends the window would be one-sided, and a slow drift (the head turning a
    little) would then look like movement; the series is continued past each end by point
    reflection about its end value, which keeps a linear drift linear.
    """
    n = len(values)
    flat = values.reshape(n, -1).astype(np.float32)
    if not found.any():
        return np.zeros(values.shape, np.float32)
    flat, found_ext, pad = _reflected(flat, found, half)
    rows = np.flatnonzero(found_ext)
    centres = np.unique(np.r_[np.arange(0, n, max(1, stride)), n - 1]) + pad
    medians = np.empty((len(centres), flat.shape[1]), np.float32)
    for i, centre in enumerate(centres):
        window = rows[np.searchsorted(rows, centre - half) : np.searchsorted(rows, centre + half, "right")]
        if len(window) == 0:  # a long gap without a face: the nearest frames with one
            nearest = np.searchsorted(rows, centre)
            window = rows[max(0, nearest - 1) : nearest + 1]
        if len(window) > BASELINE_SAMPLES:
            window = window[np.linspace(0, len(window) - 1, BASELINE_SAMPLES).round().astype(int)]
        medians[i] = np.median(flat[window], axis=0)
    frames = np.arange(n) + pad
    out = np.empty((n, flat.shape[1]), np.float32)
    for column in range(flat.shape[1]):
        out[:, column] = np.interp(frames, centres, medians[:, column])
    return out.reshape(values.shape)


def _reflected(flat: np.ndarray, found: np.ndarray, half: int) -> tuple[np.ndarray, np.ndarray, int]:
    """The series continued `pad` frames past both ends by point reflection about its end values."""
    n = len(flat)
    pad = min(half, n - 1)
    if pad < 1:
        return flat, found, 0
    rows = np.flatnonzero(found)
    ends = max(1, min(len(rows), 3))
    first, last = np.median(flat[rows[:ends]], axis=0), np.median(flat[rows[-ends:]], axis=0)
    before = 2 * first - flat[pad:0:-1]
    after = 2 * last - flat[-2 : -pad - 2 : -1]
    extended = np.concatenate([before, flat, after])
    found_ext = np.concatenate([found[pad:0:-1], found, found[-2 : -pad - 2 : -1]])
    return extended, found_ext, pad


def noise_units(series: np.ndarray, found: np.ndarray) -> np.ndarray:
    """(series - median) / (1.4826 MAD), both over frames with a face; 0 where there is none."""
    kept = series[found]
    if len(kept) == 0:
        return np.zeros_like(series)
    centre = np.median(kept)
    spread = _MAD_TO_SD * np.median(np.abs(kept - centre))
    spread = max(spread, 1e-6 + 1e-3 * abs(centre))
    return np.where(found, (series - centre) / spread, 0.0)


def smooth(series: np.ndarray, frames: int) -> np.ndarray:
    """A centred moving average over `frames` frames (odd; 1 leaves the series as it is)."""
    if frames <= 1:
        return series
    kernel = np.ones(frames) / frames
    padded = np.pad(series, (frames // 2, frames // 2), mode="edge")
    return np.convolve(padded, kernel, mode="valid")


def deviation(values: np.ndarray, found: np.ndarray, half: int, stride: int, block: int = 64) -> np.ndarray:
    """`values` (N, D) minus their rolling baseline, as float32, computed a block of columns at a time
    so that only one float32 copy of the series is ever held (a 10-minute clip stays small)."""
    out = np.empty(values.shape, np.float32)
    for start in range(0, values.shape[1], block):
        chunk = values[:, start : start + block].astype(np.float32)
        out[:, start : start + block] = chunk - rolling_baseline(chunk, found, half, stride)
    return out


def _spread(deviations: np.ndarray, found: np.ndarray, block: int = 64) -> np.ndarray:
    """Each column's robust spread over frames with a face (1.4826 MAD), a block of columns at a
    time: the whole series is never copied."""
    columns = range(0, deviations.shape[1], block)
    return _MAD_TO_SD * np.concatenate(
        [np.median(np.abs(deviations[found, start : start + block]), axis=0) for start in columns]
    )


def _floor(spread: np.ndarray) -> float:
    """The least spread a column is divided by: flat columns must not blow up."""
    return float(1e-3 + 0.05 * np.median(spread))


def motion_signals(video: FaceVideo) -> MotionSignals:
    """The spotting score and per-region activity of a clip (module docstring, steps 1 to 3)."""
    fps, found, n = video.fps, video.found, video.frames
    half = max(1, round(BASELINE_HALF_S * fps))
    stride = max(1, round(BASELINE_STRIDE_S * fps))
    width = max(1, round(SMOOTH_S * fps)) | 1  # odd: centred

    moved = deviation(video.landmarks.reshape(n, -1), found, half, stride).reshape(video.landmarks.shape)
    # Mesh jitter shifts all the points together; an expression moves some of them: the median
    # shift of all points is removed, frame by frame (in blocks of frames: no copy of the whole).
    for start in range(0, n, 4096):
        rows = moved[start : start + 4096]
        rows -= np.median(rows, axis=1, keepdims=True)
    moved[~found] = 0.0
    displacement = np.stack([moved[:, REGION_ROWS[r]].mean(1) for r in REGIONS], 1)
    motion = np.stack([np.linalg.norm(moved[:, REGION_ROWS[r]], axis=2).mean(1) for r in REGIONS])
    del moved

    # CNN activity per region: deviations kept as float16 until every column's spread is known.
    region_dev = np.empty(video.regions.shape, np.float16)
    spreads = []
    for r in range(len(REGIONS)):
        region = deviation(video.regions[:, r], found, half, stride)
        spreads.append(_spread(region, found))
        region_dev[:, r] = region
    floor = _floor(np.concatenate(spreads))
    appearance = np.stack(
        [
            np.sqrt(((region_dev[:, r].astype(np.float32) / np.maximum(spreads[r], floor)) ** 2).mean(1))
            for r in range(len(REGIONS))
        ]
    )  # (R, N)
    del region_dev

    feature_deviation = deviation(video.pooled, found, half, stride)
    spread = _spread(feature_deviation, found)
    feature_deviation /= np.maximum(spread, _floor(spread))
    feature_deviation[~found] = 0.0
    face = noise_units(smooth(np.sqrt((feature_deviation**2).mean(1)), width), found)

    regions = np.stack(
        [
            np.maximum(
                noise_units(smooth(motion[r], width), found), noise_units(smooth(appearance[r], width), found)
            )
            for r in range(len(REGIONS))
        ]
    )
    score = noise_units(np.maximum(regions.max(0), face), found)
    return MotionSignals(score, regions, face, displacement.astype(np.float32), feature_deviation)
