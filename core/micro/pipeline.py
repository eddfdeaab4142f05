"""A clip's way through the house, top to bottom, once: probe, hash, stream, score, spot, store.

    result = spot_video("clip.mp4", "micro-lstm-synthetic", progress, store)
    result.intervals, result.timeline, result.contract()

The one call of the Micro-expressions page and the `spot` verb. The clip is probed once
(`core.media.probe_video`), hashed once (the results store's key), and streamed once through
the face tracker and the CNN (`core.micro.track`); its motion signals (`core.micro.signals`)
go to the chosen spotter (`core.micro.spotters`). A run is stored in one transaction with its
face track, keyed by the clip's, the spotter's and the CNN's checksums and the parameters.
"""

import contextlib
import io
import threading
from collections.abc import Iterable
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from core.errors import InputError
from core.media import VideoInfo, probe_video, sha256_file
from core.micro.intervals import (
    FALL_FRACTION,
    MAX_DURATION_S,
    MICRO_MAX_S,
    MIN_DURATION_S,
    THRESHOLD,
    Interval,
)
from core.micro.signals import BASELINE_HALF_S, SMOOTH_S, MotionSignals, motion_signals
from core.micro.spotters import Spotter, load_spotter
from core.micro.track import (
    REGIONS,
    FaceVideo,
    TrackedPart,
    extract_features,
    join_parts,
    segment_frames,
)
from core.models.cards import model_card
from core.progress import Progress, no_progress, sub_progress
from core.store import ResultStore, key_hash

_VERSION = 3  # bump when the pipeline changes, so stored runs are recomputed


@dataclass
class SpotResult:
    """A clip's spotting run: intervals, a per-frame timeline, and where the face was (`track`)."""

    video: str  # the clip's file name
    sha256: str  # the clip file's checksum
    fps: float
    frames: int
    size: tuple[int, int]
    model: str  # the spotter's name: TRAINING_FREE or a MicroLSTM's
    feature_model: str
    classes: list[str]  # the classes of `timeline["p_<class>"]` (empty for the training-free spotter)
    intervals: list[Interval]
    timeline: dict[str, np.ndarray]  # time_s, found, score, p_<class>..., region_<name>... per frame
    other_faces: int = 0
    from_store: bool = False
    track: dict[str, np.ndarray] | None = None  # found, eyes, boxes, landmarks (core.micro.track)

    def contract(self) -> dict:
        """What `python -m core spot --out FILE.json` writes (DESIGN.md's CLI contract, plus context)."""
        return {
            "video": self.video, "sha256": self.sha256, "fps": self.fps, "frames": self.frames,
            "model": self.model, "feature_model": self.feature_model, "other_faces": self.other_faces,
            "intervals": [interval.to_json() for interval in self.intervals],
        }  # fmt: skip

    def to_json(self) -> dict:
        """The run without its per-frame arrays (`timeline`, `track`): those are stored packed."""
        return {
            "video": self.video, "sha256": self.sha256, "fps": self.fps, "frames": self.frames,
            "size": list(self.size), "model": self.model, "feature_model": self.feature_model,
            "classes": self.classes, "intervals": [i.to_json() for i in self.intervals],
            "other_faces": self.other_faces,
        }  # fmt: skip

    @classmethod
    def from_json(cls, data: dict, timeline: dict[str, np.ndarray], track: dict | None = None) -> "SpotResult":
        return cls(
            video=data["video"], sha256=data["sha256"], fps=data["fps"], frames=data["frames"],
            size=tuple(data["size"]), model=data["model"], feature_model=data["feature_model"],
            classes=data["classes"], intervals=[Interval.from_json(i) for i in data["intervals"]], timeline=timeline,
            other_faces=data.get("other_faces", 0), from_store=True, track=track,
        )  # fmt: skip


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
    features: "FeatureCache | None" = None,
    sha256: str | None = None,
) -> SpotResult:
    """Spot and classify the brief expressions of a clip: the one call of the page and `spot` verb.

    `model` is TRAINING_FREE or a MicroLSTM's name (default: `default_micro_model()`). Runs are
    kept in the ResultStore (kind "spot") keyed by the clip's sha256, the models' checksums
    and the parameters, so a second call returns at once (`from_store`). `display_name` is the
    name the user knows the clip by (the page keeps uploads under their checksum): messages and
    the result use it. `features` keeps the last clips' features, so switching spotters on a clip
    does not track it again (the page holds one; the CLI none). `sha256`: the clip's checksum when
    the caller knows it already (the page's upload cache), so the clip is hashed once.
    """
    path = Path(path)
    try:
        result = _spot_video(path, model, progress, store or ResultStore(), analyzer, features, sha256)
    except InputError as error:
        if display_name is None:
            raise
        raise type(error)(str(error).replace(path.name, display_name)) from None
    return result if display_name is None else replace(result, video=display_name)


def _spot_video(
    path: Path, name: str | None, progress: Progress, store: ResultStore, analyzer, features: "FeatureCache | None",
    sha256: str | None,
) -> SpotResult:
    info = probe_video(path)  # once: refuses a bad clip before anything is loaded
    spotter = load_spotter(name)
    cnn_card = model_card(spotter.feature_model)
    sha = sha256 or sha256_file(path)  # once: the store's key and the cache's
    key = spot_key(sha, spotter.name, spotter.checksum, cnn_card["sha256"])
    # One analysis of a clip at a time: a second session asking for the same run waits, then reads it.
    with features.running(key_hash(key)) if features else contextlib.nullcontext():
        stored = stored_run(store, key)
        if stored is not None:
            progress(1.0, "found in the results store")
            return stored
        return _analyse(path, info, sha, key, spotter, cnn_card, progress, store, analyzer, features)


def stored_run(store: ResultStore, key: dict) -> SpotResult | None:
    """The run stored under `key` (`spot_key`), or None. Its landmarks are mapped from their file, and
    left out when the file is gone (the annotated video then draws the face box alone)."""
    stored = store.get_results([("spot", key), ("spot-track", key)])  # None unless both parts are there
    if stored is None:
        return None
    arrays = _unpack(stored[1])
    timeline = {name.removeprefix("timeline_"): a for name, a in arrays.items() if name.startswith("timeline_")}
    track = {name: arrays[name] for name in ("found", "eyes", "boxes")}
    landmarks = _landmarks_path(store, key)
    if landmarks.exists():
        track["landmarks"] = np.memmap(landmarks, np.float16, mode="r").reshape(len(track["found"]), -1, 2)
    return SpotResult.from_json(stored[0], timeline, track)


def _analyse(
    path: Path, info: VideoInfo, sha: str, key: dict, spotter: Spotter, cnn_card: dict, progress: Progress,
    store: ResultStore, analyzer, features: "FeatureCache | None",
) -> SpotResult:
    video = features.get(sha, cnn_card["sha256"]) if features else None
    if video is None:
        # The CNN by name: it loads beside the first frames' tracking.
        video = extract_features(path, spotter.feature_model, sub_progress(progress, 0.0, 0.95), analyzer, info=info)
        if features is not None:
            features.put(sha, cnn_card["sha256"], video)
    progress(0.96, "scoring")
    result = keep_run(store, key, score_video(video, spotter, sha), video)
    progress(1.0, f"{len(result.intervals)} {'interval' if len(result.intervals) == 1 else 'intervals'}")
    return result


def part_ranges(info: VideoInfo, part_s: float) -> list[tuple[int, int | None]]:
    """A clip's frames in ranges of about `part_s` seconds, each a whole number of tracking segments
    (`core.micro.track.SEGMENT_S`), for `track_part`; the last runs to the clip's end (None)."""
    segment = segment_frames(info.fps)
    step = segment * max(1, round(part_s * info.fps / segment))
    starts = list(range(0, max(info.frame_count, 1), step))
    return [(start, stop) for start, stop in zip(starts, [*starts[1:], None], strict=True)]


def spot_parts(path: str | Path, parts: Iterable[TrackedPart], model: str | None, store: ResultStore,
               sha256: str) -> SpotResult:  # fmt: skip
    """A clip tracked in parts (`track_part` over `part_ranges`, on a cluster's workers), joined,
    spotted and stored as `spot_video` does it: the same key, the same result."""
    spotter = load_spotter(model)
    key = spot_key(sha256, spotter.name, spotter.checksum, model_card(spotter.feature_model)["sha256"])
    video = join_parts(parts, str(path))
    return keep_run(store, key, score_video(video, spotter, sha256), video)


def score_video(video: FaceVideo, spotter: Spotter, sha256: str = "") -> SpotResult:
    """A tracked clip's run, after tracking: its motion signals, the spotter's intervals and the
    per-frame timeline (`sha256`: the clip's, for the result)."""
    signals = motion_signals(video)
    spotting = spotter.spot(video, signals)
    return SpotResult(
        video=Path(video.path).name, sha256=sha256, fps=video.fps, frames=video.frames, size=video.size,
        model=spotter.name, feature_model=spotter.feature_model, classes=list(spotter.classes),
        intervals=spotting.intervals, timeline=_timeline(video, signals, spotter.classes, spotting.probabilities),
        other_faces=video.other_faces,
    )  # fmt: skip


def keep_run(store: ResultStore, key: dict, result: SpotResult, video: FaceVideo) -> SpotResult:
    """Store a run under `key`; the result with its track. The landmarks (the widest part of the track)
    go to a file of their own, copied disk to disk; the narrow arrays go into the store with the run,
    in one transaction, written last, so a run is either all there or absent."""
    landmarks = _landmarks_path(store, key)
    landmarks.parent.mkdir(parents=True, exist_ok=True)
    video.columns.copy("landmarks", landmarks)
    narrow = {"found": video.found, "eyes": video.eyes, "boxes": video.boxes}
    packed = _pack({**narrow, **{f"timeline_{name}": values for name, values in result.timeline.items()}})
    store.put_results([("spot", key, result.to_json()), ("spot-track", key, packed)])
    return replace(result, track={**narrow, "landmarks": video.landmarks})


def _timeline(
    video: FaceVideo, signals: MotionSignals, classes: tuple[str, ...], probabilities
) -> dict[str, np.ndarray]:
    """Per frame: time, face found, spotting score, each region's activity and each class's probability."""
    timeline = {
        "time_s": np.arange(video.frames) / video.fps,
        "found": video.found.astype(np.int8),
        "score": signals.score.astype(np.float32),
    }
    for name, series in zip(REGIONS, signals.regions, strict=True):
        timeline[f"region_{name}"] = series.astype(np.float32)
    for i, name in enumerate(classes if probabilities is not None else ()):
        timeline[f"p_{name}"] = probabilities[:, i].astype(np.float32)
    return timeline


def _landmarks_path(store: ResultStore, key: dict) -> Path:
    """Where a stored run's landmark track is kept: a file beside the store's, named by the run's key."""
    return store.path.parent / "tracks" / f"{key_hash(key)}.landmarks.f16"


class FeatureCache:
    """Work on clips shared by a server's sessions: the tracked features of the last few clips, by clip
    and CNN checksum (a clip's features are a few MB; tracking it is the slow part), and one lock per
    run in progress, so the same clip uploaded by several sessions at once is analysed once."""

    def __init__(self, size: int = 1):
        self.size, self._videos = size, {}
        self._lock = threading.Lock()
        self._runs: dict[str, threading.Lock] = {}

    @contextlib.contextmanager
    def running(self, run: str):
        with self._lock:
            lock = self._runs.setdefault(run, threading.Lock())
        with lock:
            yield

    def get(self, clip_sha: str, cnn_sha: str) -> FaceVideo | None:
        with self._lock:
            return self._videos.get((clip_sha, cnn_sha))

    def put(self, clip_sha: str, cnn_sha: str, video: FaceVideo) -> None:
        with self._lock:
            self._videos.pop((clip_sha, cnn_sha), None)
            self._videos[(clip_sha, cnn_sha)] = video
            while len(self._videos) > self.size:
                self._videos.pop(next(iter(self._videos)))


def _pack(arrays: dict[str, np.ndarray]) -> bytes:
    buffer = io.BytesIO()
    np.savez_compressed(buffer, **arrays)
    return buffer.getvalue()


def _unpack(blob: bytes) -> dict[str, np.ndarray]:
    with np.load(io.BytesIO(blob), allow_pickle=False) as saved:
        return {name: saved[name] for name in saved.files}
