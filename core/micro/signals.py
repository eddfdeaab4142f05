"""A clip's motion signals: how far each AU region and the whole face depart from their own
sliding baseline, frame by frame, in the clip's own noise units. Both spotters read them
(`core.micro.spotters`); the training-free one turns them into intervals (`core.micro.intervals`).

    signals = motion_signals(video)                  # per-frame deviation from a sliding baseline
    intervals = intervals_from_signals(signals, video.fps)   # core.micro.intervals

A clip is read a CHUNK of frames at a time from its columns on disk (`core.micro.track`),
with the frames around it that its windows need; what grows with the clip's length is a few
narrow per-frame series (about 100 bytes a frame); the wide deviations go to disk.

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
   typical fluctuation". The median and the MAD, like the maps' spreads in step 2, are
   those of the NOISE_HALF_S seconds on either side of a frame: the whole clip for clips of
   up to a minute, and for a long recording the noise of its own stretch (lighting and
   posture change over an hour), which is also what keeps an hour's memory flat.
4. Intervals. Runs of the score above THRESHOLD are peaks; the apex is the run's maximum;
   onset and offset are where the score falls back below FALL_FRACTION of the apex value
   (at least FALL_FLOOR). Durations use the clip's real fps: shorter than MIN_DURATION_S is
   dropped as noise, longer than MAX_DURATION_S as drift, up to MICRO_MAX_S is a
   micro-expression, longer a macro-expression.
"""

from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np

from core.micro.columns import FrameColumns
from core.micro.track import REGION_ROWS, REGIONS, FaceVideo

BASELINE_HALF_S = 2.5
BASELINE_STRIDE_S = 0.1  # baselines are computed this often and interpolated between
BASELINE_SAMPLES = 61  # at most this many frames of a window enter its median
SMOOTH_S = 0.1
NOISE_HALF_S = 60.0  # the noise statistics' window on either side of a frame
NOISE_STRIDE_S = 5.0  # noise statistics are computed this often and interpolated between
CHUNK = 4096  # frames read from disk at a time (with the frames around them that windows need)
_MAD_TO_SD = 1.4826

Reader = Callable[[int, int], np.ndarray]  # frames [start, stop) of a per-frame series, float32 (k, D)


@dataclass
class MotionSignals:
    """Per-frame signals of a clip, in noise units (see the module's docstring)."""

    score: np.ndarray  # (N,) the spotting score
    regions: np.ndarray  # (R, N) activity per AU region (REGIONS order)
    face: np.ndarray  # (N,) whole-face CNN deviation
    columns: FrameColumns  # on disk: "displacement" (N, R, 2) and "feature_deviation" (N, maps)

    @property
    def displacement(self) -> np.ndarray:
        """(N, R, 2) mean landmark displacement per region, crop pixels (signed), mapped from disk."""
        return self.columns.mapped("displacement")

    @property
    def feature_deviation(self) -> np.ndarray:
        """(N, maps) pooled CNN features minus their baseline, standardised, mapped from disk."""
        return self.columns.mapped("feature_deviation")


# ---- windows over a clip's frames ------------------------------------------------------------


def chunks(n: int, size: int | None = None) -> Iterator[tuple[int, int]]:
    """[start, stop) of consecutive chunks of `n` frames (CHUNK frames unless `size` says)."""
    size = size or CHUNK
    for start in range(0, n, size):
        yield start, min(n, start + size)


def _centres(n: int, stride: int) -> np.ndarray:
    """Every `stride`-th frame and the last: where windowed statistics are taken."""
    return np.unique(np.r_[np.arange(0, n, max(1, stride)), n - 1])


def _bracket(centres: np.ndarray, start: int, stop: int) -> slice:
    """The centres that interpolating frames [start, stop) needs."""
    low = max(0, int(np.searchsorted(centres, start, "right")) - 1)
    return slice(low, int(np.searchsorted(centres, stop - 1, "left")) + 1)


def _window(rows: np.ndarray, centre: int, half: int) -> np.ndarray:
    """The frames with a face within `half` of `centre`; across a longer gap, the nearest ones."""
    window = rows[np.searchsorted(rows, centre - half) : np.searchsorted(rows, centre + half, "right")]
    if len(window) == 0:
        nearest = np.searchsorted(rows, centre)
        window = rows[max(0, nearest - 1) : nearest + 1]
    return window


def _interpolated(frames: np.ndarray, centres: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Each column of `values` (centres, D) interpolated linearly at `frames`: float64 (k, D)."""
    return np.stack([np.interp(frames, centres, values[:, column]) for column in range(values.shape[1])], 1)


def _reflected_found(found: np.ndarray, pad: int) -> np.ndarray:
    if pad < 1:
        return found
    return np.concatenate([found[pad:0:-1], found, found[-2 : -pad - 2 : -1]])


class _Reflected:
    """A series continued `pad` frames past both ends by point reflection about its end values (the
    median of its first and last three frames with a face): a centred window stays centred at the
    clip's ends, and a slow drift (the head turning a little) stays linear instead of looking like
    movement. Frame t of the clip is frame t + pad of the continued series."""

    def __init__(self, read: Reader, found: np.ndarray, pad: int) -> None:
        self.read, self.n, self.pad = read, len(found), pad
        if pad:
            rows = np.flatnonzero(found)
            ends = max(1, min(len(rows), 3))
            self.first = np.median(np.concatenate([read(r, r + 1) for r in rows[:ends]]), axis=0)
            self.last = np.median(np.concatenate([read(r, r + 1) for r in rows[-ends:]]), axis=0)

    def rows(self, extended: np.ndarray) -> np.ndarray:
        """The continued series at `extended` frames (sorted), float32 (k, D)."""
        t = extended - self.pad
        source = np.where(t < 0, -t, np.where(t > self.n - 1, 2 * (self.n - 1) - t, t))
        low = int(source.min())
        values = self.read(low, int(source.max()) + 1)[source - low]
        before, after = t < 0, t > self.n - 1
        values[before] = 2 * self.first - values[before]
        values[after] = 2 * self.last - values[after]
        return values


class _Baselines:
    """Centred sliding medians (module docstring, step 1) of series over one clip's frames with a
    face, a chunk of frames at a time. Medians are taken every `stride` frames over at most
    BASELINE_SAMPLES frames of the window and interpolated linearly between, which keeps a long
    clip to seconds."""

    def __init__(self, found: np.ndarray, half: int, stride: int) -> None:
        self.found, self.half = found, half
        self.pad = max(0, min(half, len(found) - 1))
        self.rows = np.flatnonzero(_reflected_found(found, self.pad))
        self.centres = _centres(len(found), stride) + self.pad

    def of(self, read: Reader, start: int, stop: int) -> np.ndarray:
        """The baseline of a series at frames [start, stop): float32 (k, D)."""
        series = _Reflected(read, self.found, self.pad)
        centres = self.centres[_bracket(self.centres, start + self.pad, stop + self.pad)]
        windows = []
        for centre in centres:
            window = _window(self.rows, centre, self.half)
            if len(window) > BASELINE_SAMPLES:
                window = window[np.linspace(0, len(window) - 1, BASELINE_SAMPLES).round().astype(int)]
            windows.append(window)
        needed = np.unique(np.concatenate(windows))
        block = series.rows(needed)
        medians = np.stack([np.median(block[np.searchsorted(needed, w)], axis=0) for w in windows])
        return _interpolated(np.arange(start, stop) + self.pad, centres, medians).astype(np.float32)

    def deviation(self, read: Reader, start: int, stop: int) -> np.ndarray:
        """Frames [start, stop) of a series minus its baseline: float32 (k, D)."""
        return read(start, stop) - self.of(read, start, stop)


class _NoiseWindows:
    """The frames with a face within NOISE_HALF_S of every NOISE_STRIDE_S-th frame: where a clip's
    noise statistics (medians, MADs, spreads) are taken, then interpolated between. Neighbouring
    windows with the same frames (all of them, in a clip of up to a minute) are computed once."""

    def __init__(self, found: np.ndarray, half: int, stride: int) -> None:
        rows = np.flatnonzero(found)
        self.centres = _centres(len(found), stride)
        self.windows = [_window(rows, centre, half) for centre in self.centres]

    @classmethod
    def whole(cls, found: np.ndarray) -> "_NoiseWindows":
        """One window, the whole series."""
        return cls(found, len(found), len(found))

    def statistic(self, read: Reader, of: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
        """`of` (a window's rows (k, D) -> (D,)) at every centre: (centres, D)."""
        values, last, value = [], None, None
        for window in self.windows:
            key = (int(window[0]), int(window[-1]), len(window))
            if key != last:
                low = key[0]
                value, last = of(read(low, key[1] + 1)[window - low]), key
            values.append(value)
        return np.stack(values)

    def at(self, values: np.ndarray, start: int, stop: int) -> np.ndarray:
        """Statistics (centres, D) interpolated at frames [start, stop): float64 (k, D)."""
        chosen = _bracket(self.centres, start, stop)
        return _interpolated(np.arange(start, stop), self.centres[chosen], values[chosen])


# ---- the signals ------------------------------------------------------------------------------


def rolling_baseline(values: np.ndarray, found: np.ndarray, half: int, stride: int) -> np.ndarray:
    """The centred sliding median of `values` (N, ...) over frames with a face, at every frame
    (`_Baselines` on a series held in memory)."""
    n = len(values)
    flat = values.reshape(n, -1).astype(np.float32)
    if not found.any():
        return np.zeros(values.shape, np.float32)
    baselines = _Baselines(found, half, stride)
    parts = [baselines.of(lambda a, b: flat[a:b], start, stop) for start, stop in chunks(n)]
    return np.concatenate(parts).reshape(values.shape)


def _median_and_mad(kept: np.ndarray) -> np.ndarray:
    centre = np.median(kept)
    spread = _MAD_TO_SD * np.median(np.abs(kept - centre))
    return np.array([centre, max(spread, 1e-6 + 1e-3 * abs(centre))])


def noise_units(series: np.ndarray, found: np.ndarray, windows: _NoiseWindows | None = None) -> np.ndarray:
    """(series - median) / (1.4826 MAD), both over frames with a face: within each frame's noise
    window (`windows`), or over the whole series; 0 where there is no face."""
    if not found.any():
        return np.zeros_like(series)
    windows = windows or _NoiseWindows.whole(found)
    stats = windows.statistic(lambda a, b: series[a:b], _median_and_mad)
    centre_spread = windows.at(stats, 0, len(series))
    return np.where(found, (series - centre_spread[:, 0]) / centre_spread[:, 1], 0.0)


def smooth(series: np.ndarray, frames: int) -> np.ndarray:
    """A centred moving average over `frames` frames (odd; 1 leaves the series as it is)."""
    if frames <= 1:
        return series
    kernel = np.ones(frames) / frames
    padded = np.pad(series, (frames // 2, frames // 2), mode="edge")
    return np.convolve(padded, kernel, mode="valid")


def robust_spread(values: np.ndarray) -> np.ndarray:
    """Each column's robust spread around 0 (1.4826 times the median absolute value)."""
    return _MAD_TO_SD * np.median(np.abs(values), axis=0)


def _floor(spread: np.ndarray) -> float:
    """The least spread a column is divided by: flat columns must not blow up."""
    return float(1e-3 + 0.05 * np.median(spread))


def noise_windows(found: np.ndarray, fps: float) -> _NoiseWindows:
    """The windows of a clip's noise statistics (module docstring, step 3)."""
    return _NoiseWindows(found, max(1, round(NOISE_HALF_S * fps)), max(1, round(NOISE_STRIDE_S * fps)))


class ColumnSpreads:
    """Each column's robust spread within the noise windows, and the least one a column is divided by
    (`floor`, or by default a share of the columns' typical spread), at any frames."""

    def __init__(self, windows: _NoiseWindows, read: Reader, floor: float | None = None) -> None:
        self.windows = windows
        self.spreads = windows.statistic(read, robust_spread)
        self.floors = np.array([[_floor(spread) if floor is None else floor] for spread in self.spreads])

    def divisor(self, start: int, stop: int) -> np.ndarray:
        """What frames [start, stop) of each column are divided by: float32 (k, D)."""
        spread = self.windows.at(self.spreads, start, stop).astype(np.float32)
        return np.maximum(spread, self.windows.at(self.floors, start, stop).astype(np.float32))


def _reader(video: FaceVideo, name: str) -> Reader:
    return lambda start, stop: video.read(name, start, stop).reshape(stop - start, -1).astype(np.float32)


def motion_signals(video: FaceVideo) -> MotionSignals:
    """The spotting score and per-region activity of a clip (module docstring, steps 1 to 3)."""
    fps, found, n = video.fps, video.found, video.frames
    baselines = _Baselines(
        found, max(1, round(BASELINE_HALF_S * fps)), max(1, round(BASELINE_STRIDE_S * fps))
    )
    noise = noise_windows(found, fps)
    width = max(1, round(SMOOTH_S * fps)) | 1  # odd: centred
    out = FrameColumns()  # the wide deviations, on disk
    motion = np.empty((len(REGIONS), n), np.float32)
    for start, stop in chunks(n):
        motion[:, start:stop] = _landmark_motion(video, baselines, found, start, stop, out)
        for name, deviation in (("regions", "region_deviation"), ("pooled", "feature_deviation")):
            out.append(deviation, baselines.deviation(_reader(video, name), start, stop))

    # CNN activity per region: each of the first layer's maps divided by its own spread, RMS over maps.
    maps = video.columns.shape("regions")[1]
    spreads = ColumnSpreads(noise, lambda a, b: out.read("region_deviation", a, b))  # (k, R * maps)
    features = ColumnSpreads(noise, lambda a, b: out.read("feature_deviation", a, b))
    appearance = np.empty((len(REGIONS), n), np.float32)
    face_rms = np.empty(n, np.float32)
    for start, stop in chunks(n):
        # The spreads are those of the float32 deviations; the deviations themselves are rounded
        # to float16, as the features they come from are.
        scaled = out.read("region_deviation", start, stop).astype(np.float16).astype(np.float32)
        scaled /= spreads.divisor(start, stop)
        appearance[:, start:stop] = np.sqrt((scaled.reshape(-1, len(REGIONS), maps) ** 2).mean(2)).T
        deviation = out.read("feature_deviation", start, stop) / features.divisor(start, stop)
        deviation[~found[start:stop]] = 0.0
        out.write("feature_deviation", start, deviation)
        face_rms[start:stop] = np.sqrt((deviation**2).mean(1))

    face = noise_units(smooth(face_rms, width), found, noise)
    regions = np.stack(
        [
            np.maximum(
                noise_units(smooth(motion[r], width), found, noise),
                noise_units(smooth(appearance[r], width), found, noise),
            )
            for r in range(len(REGIONS))
        ]
    )
    score = noise_units(np.maximum(regions.max(0), face), found, noise)
    return MotionSignals(score, regions, face, out)


def _landmark_motion(
    video: FaceVideo, baselines: _Baselines, found: np.ndarray, start: int, stop: int, out: FrameColumns
) -> np.ndarray:
    """Frames [start, stop): each region's landmark motion (R, k); its mean displacement goes to `out`."""
    moved = baselines.deviation(_reader(video, "landmarks"), start, stop).reshape(
        -1, *video.columns.shape("landmarks")
    )
    # Mesh jitter shifts all the points together; an expression moves some of them: the median
    # shift of all points is removed, frame by frame.
    moved -= np.median(moved, axis=1, keepdims=True)
    moved[~found[start:stop]] = 0.0
    out.append("displacement", np.stack([moved[:, REGION_ROWS[r]].mean(1) for r in REGIONS], 1))
    return np.stack([np.linalg.norm(moved[:, REGION_ROWS[r]], axis=2).mean(1) for r in REGIONS])
