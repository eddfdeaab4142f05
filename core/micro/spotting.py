"""Spotting brief facial movements in a clip's features, without training.

    signals = motion_signals(video)                  # per-frame deviation from a sliding baseline
    intervals = find_intervals(signals.score, video.fps)

The definition (ours; Breuer & Kimmel 2017 train an LSTM instead, see core.micro.lstm):

1. Baseline. For each frame t, the baseline of a feature is its median over the frames
   within BASELINE_HALF_S seconds on both sides of t (a centred, sliding window). A
   median ignores an event that fills less than half the window, so movements up to
   about 2 s leave it at the neutral face.
2. Deviation, per AU region (`core.micro.video.REGIONS`) and per cue:
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

import io
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from core.errors import InputError
from core.media import probe_video
from core.micro.video import REGION_ROWS, REGIONS, FaceVideo
from core.progress import Progress, no_progress, sub_progress
from core.store import ResultStore

BASELINE_HALF_S = 2.5
BASELINE_STRIDE_S = 0.1  # baselines are computed this often and interpolated between
BASELINE_SAMPLES = 61  # at most this many frames of a window enter its median
SMOOTH_S = 0.1
THRESHOLD = 5.0
FALL_FRACTION = 0.15
FALL_FLOOR = 1.0
MIN_DURATION_S = 0.06
MICRO_MAX_S = 0.5
MAX_DURATION_S = 4.0
_MAD_TO_SD = 1.4826


@dataclass
class MotionSignals:
    """Per-frame signals of a clip, in noise units (see the module's docstring)."""

    score: np.ndarray  # (N,) the spotting score
    regions: np.ndarray  # (R, N) activity per AU region (REGIONS order)
    face: np.ndarray  # (N,) whole-face CNN deviation
    displacement: np.ndarray  # (N, R, 2) mean landmark displacement per region, crop pixels (signed)
    feature_deviation: np.ndarray  # (N, maps) pooled CNN features minus baseline, standardised


@dataclass(frozen=True)
class Peak:
    onset: int
    apex: int
    offset: int  # inclusive
    value: float  # the score at the apex


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


UNCLASSIFIED = "unclassified"  # the training-free spotter says where, not what


def interval_record(onset: int, apex: int, offset: int, fps: float, label: str, score: float) -> dict:
    """One interval in the `spot` verb's JSON form (0-based frames, offset inclusive; seconds from fps)."""
    duration = (offset - onset + 1) / fps
    return {
        "onset_frame": int(onset), "apex_frame": int(apex), "offset_frame": int(offset),
        "onset_s": round(onset / fps, 4), "apex_s": round(apex / fps, 4), "offset_s": round(offset / fps, 4),
        "duration_s": round(duration, 4), "kind": kind_of(duration), "label": label, "score": round(score, 4),
    }  # fmt: skip


def intervals_from_signals(signals: MotionSignals, fps: float, threshold: float = THRESHOLD) -> list[dict]:
    """The training-free spotter's intervals (module docstring, step 4), unclassified."""
    peaks = keep_by_duration(find_peaks(signals.score, threshold), fps)
    return [
        interval_record(p.onset, p.apex, p.offset, fps, UNCLASSIFIED, confidence(p.value, threshold))
        for p in peaks
    ]


# ---- the one call for the page and the CLI -------------------------------------------------

TRAINING_FREE = "training-free"
_VERSION = 2  # bump when the pipeline changes, so stored runs are recomputed
_TIMELINE_DECIMALS = 3
_last_video: dict[tuple[str, str], FaceVideo] = {}


@dataclass
class SpotResult:
    """A clip's spotting run: intervals, a per-frame timeline, and where the face was (`track`)."""

    video: str  # the clip's file name
    sha256: str  # the clip file's checksum
    fps: float
    frames: int
    size: tuple[int, int]
    model: str  # TRAINING_FREE or the MicroLSTM's name
    feature_model: str
    classes: list[str]  # the classes of `timeline["p_<class>"]` (empty for the training-free spotter)
    intervals: list[dict]
    timeline: dict[str, list]  # time_s, found, score, p_<class>..., region_<name>... per frame
    other_faces: int = 0
    from_store: bool = False
    track: dict[str, np.ndarray] | None = None  # found, eyes, boxes, landmarks (core.micro.video)

    def contract(self) -> dict:
        """What `python -m core spot --out FILE.json` writes (DESIGN.md's CLI contract, plus context)."""
        return {
            "video": self.video, "sha256": self.sha256, "fps": self.fps, "frames": self.frames,
            "model": self.model, "feature_model": self.feature_model, "other_faces": self.other_faces,
            "intervals": self.intervals,
        }  # fmt: skip

    def to_json(self) -> dict:
        return {
            "video": self.video, "sha256": self.sha256, "fps": self.fps, "frames": self.frames,
            "size": list(self.size), "model": self.model, "feature_model": self.feature_model,
            "classes": self.classes, "intervals": self.intervals, "timeline": self.timeline,
            "other_faces": self.other_faces,
        }  # fmt: skip

    @classmethod
    def from_json(cls, data: dict, track: dict | None = None) -> "SpotResult":
        return cls(
            video=data["video"], sha256=data["sha256"], fps=data["fps"], frames=data["frames"],
            size=tuple(data["size"]), model=data["model"], feature_model=data["feature_model"],
            classes=data["classes"], intervals=data["intervals"], timeline=data["timeline"],
            other_faces=data.get("other_faces", 0), from_store=True, track=track,
        )  # fmt: skip


def micro_models() -> list[str]:
    """The spotters one can choose: the training-free one, then every shipped MicroLSTM."""
    from core.models.zoo import is_micro_card, read_manifest

    return [TRAINING_FREE] + [name for name, card in read_manifest().items() if is_micro_card(card)]


def default_micro_model() -> str:
    """The shipped MicroLSTM when there is one, else the training-free spotter."""
    from core.micro.lstm import DEFAULT_NAME

    models = micro_models()
    return DEFAULT_NAME if DEFAULT_NAME in models else TRAINING_FREE


def resolve_spotter(model: str | None) -> str:
    """The spotter's name (None: the default), or InputError naming the ones there are."""
    model = model or default_micro_model()
    if model not in micro_models():
        raise InputError(f"There is no spotter called '{model}'; choose one of: {', '.join(micro_models())}.")
    return model


def feature_model_name(model: str) -> str:
    """The FER CNN whose features a spotter reads: the LSTM's own, else fan2019-fer2013 (or the
    first image model installed)."""
    from core.micro.lstm import FEATURE_MODEL
    from core.models.zoo import model_card, read_manifest

    if model != TRAINING_FREE:
        return model_card(model)["input"]["feature_model"]
    cards = read_manifest()
    images = [name for name, card in cards.items() if card.get("task", "expression") != "micro-expression"]
    if FEATURE_MODEL in images or not images:
        return FEATURE_MODEL
    return images[0]


def spot_key(sha256: str, model: str, model_sha: str, feature_sha: str) -> dict:
    """The ResultStore key of a run: the clip's, the spotter's and the CNN's checksums, and parameters."""
    return {
        "video": sha256, "model": model, "model_sha256": model_sha, "features_sha256": feature_sha,
        "version": _VERSION,
        "params": {"baseline_half_s": BASELINE_HALF_S, "smooth_s": SMOOTH_S, "threshold": THRESHOLD,
                   "fall_fraction": FALL_FRACTION, "min_s": MIN_DURATION_S, "micro_max_s": MICRO_MAX_S,
                   "max_s": MAX_DURATION_S},
    }  # fmt: skip


def spot_video(
    path: str | Path,
    model: str | None = None,
    progress: Progress = no_progress,
    store: ResultStore | None = None,
    analyzer=None,
    display_name: str | None = None,
) -> SpotResult:
    """Spot and classify the brief expressions of a clip: the one call of the page and `spot` verb.

    `model` is TRAINING_FREE or a MicroLSTM's name (default: `default_micro_model()`). Runs are
    kept in the ResultStore (kind "spot") keyed by the clip's sha256, the models' checksums
    and the parameters, so a second call returns at once (`from_store`). `display_name` is the
    name the user knows the clip by (the page keeps uploads under their checksum): messages and
    the result use it.
    """
    path = Path(path)
    try:
        result = _spot_video(path, model, progress, store, analyzer)
    except InputError as error:
        if display_name is None:
            raise
        raise type(error)(str(error).replace(path.name, display_name)) from None
    return result if display_name is None else replace(result, video=display_name)


def _spot_video(
    path: Path, model: str | None, progress: Progress, store: ResultStore | None, analyzer
) -> SpotResult:
    from core.media import sha256_file
    from core.micro.video import extract_features
    from core.models.zoo import load_model, model_card

    info = probe_video(path)  # refuses a bad clip before anything is loaded
    model = resolve_spotter(model)
    feature_name = feature_model_name(model)
    lstm_card = model_card(model) if model != TRAINING_FREE else None
    feature_card = model_card(feature_name)
    if lstm_card and lstm_card["input"].get("feature_model_sha256") not in (None, feature_card["sha256"]):
        raise InputError(
            f"{model} was trained on the features of another version of {feature_name}; retrain it "
            f"with `{lstm_card.get('command', 'python -m core.micro.lstm')}`."
        )
    sha = sha256_file(path)
    store = store or ResultStore()
    key = spot_key(sha, model, lstm_card["sha256"] if lstm_card else "", feature_card["sha256"])
    stored = store.get_results([("spot", key), ("spot-track", key)])  # None unless both parts are there
    if stored is not None:
        progress(1.0, "found in the results store")
        return SpotResult.from_json(stored[0], _unpack(stored[1]))

    video = _last_video.get((sha, feature_card["sha256"]))
    if video is None:
        cnn = load_model(feature_name)
        video = extract_features(path, cnn, sub_progress(progress, 0.0, 0.95), analyzer)
        # Only the last clip's features are kept: switching spotters on it does not track it again.
        _last_video.clear()
        _last_video[(sha, feature_card["sha256"])] = video
    progress(0.96, "scoring")
    signals = motion_signals(video)
    timeline = {
        "time_s": _rounded(np.arange(video.frames) / video.fps),
        "found": video.found.astype(int).tolist(),
        "score": _rounded(signals.score),
    }
    for name, series in zip(REGIONS, signals.regions, strict=True):
        timeline[f"region_{name}"] = _rounded(series)
    classes: list[str] = []
    if lstm_card is None:
        intervals = intervals_from_signals(signals, video.fps)
    else:
        from core.micro.lstm import frame_probabilities, label_intervals, model_classes, sequence_inputs

        lstm = load_model(model)
        probabilities = frame_probabilities(lstm, sequence_inputs(video, signals))
        classes = list(model_classes(lstm))  # each MicroLSTM's own, from its card
        for i, name in enumerate(classes):
            timeline[f"p_{name}"] = _rounded(probabilities[:, i])
        # The training-free spotter finds intervals better than the LSTM on held-out clips (see the
        # model card); the LSTM classifies them and draws its own P(expression) on the timeline.
        intervals = label_intervals(intervals_from_signals(signals, video.fps), probabilities, tuple(classes))
    result = SpotResult(
        video=path.name, sha256=sha, fps=video.fps, frames=video.frames, size=(info.width, info.height),
        model=model, feature_model=feature_name, classes=classes, intervals=intervals, timeline=timeline,
        other_faces=video.other_faces,
        track={"found": video.found, "eyes": video.eyes, "boxes": video.boxes, "landmarks": video.landmarks},
    )  # fmt: skip
    store.put_results([("spot", key, result.to_json()), ("spot-track", key, _pack(result.track))])
    progress(1.0, f"{len(intervals)} intervals")
    return result


def _rounded(values: np.ndarray) -> list[float]:
    return np.round(np.asarray(values, np.float64), _TIMELINE_DECIMALS).tolist()


def _pack(arrays: dict[str, np.ndarray]) -> bytes:
    buffer = io.BytesIO()
    np.savez_compressed(buffer, **arrays)
    return buffer.getvalue()


def _unpack(blob: bytes) -> dict[str, np.ndarray]:
    with np.load(io.BytesIO(blob), allow_pickle=False) as saved:
        return {name: saved[name] for name in saved.files}
