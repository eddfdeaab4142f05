"""A clip's face track and per-frame CNN features, streamed: memory stays flat whatever its length.
Also the crops of a run, re-read from the clip (`crop_at`).

    features = extract_features("clip.mp4", "fan2019-fer2013", progress)  # or a loaded model
    features.found, features.landmarks, features.pooled, features.regions, features.maxima

The pipeline, one frame at a time (frames are never kept):
1. `core.media.iter_frames` decodes the clip; `probe_video` gives its real frame rate.
2. The face is found with `FaceAnalyzer` (BlazeFace + mesh) on the first frame, and again
   whenever the track is lost; the largest face is followed (`FaceVideo.other_faces` says
   when there were more).
3. MediaPipe's face mesh runs in tracking mode on a window around the face, so from frame
   to frame it only refines the previous landmarks (fast, and it keeps to one face).
4. The eye centres, which fix the alignment, are smoothed over time with a one-euro filter
   (Casiez et al. 2012): head jitter is removed without lagging behind real head motion.
   The landmarks themselves are not smoothed: their motion is the signal.
5. `core.faces.align_face` makes the 48x48 gray crop and the CNN sees crops in batches, both
   in a thread of their own behind the tracker (`_FeatureWorker`): the mesh, the one stage
   that must go frame after frame, keeps a core to itself. This module imports no torch: the
   feature thread loads the network (`core.micro.features`) once the tracker runs, so a clip's
   tracking starts before torch's import ends.

What is kept per frame (about 2 KB, written to disk a block of frames at a time as they are
made, `core.micro.columns`): the mean and the maximum of every post-ReLU feature map (the
maximum is what the deconvolution projects), the first ReLU layer's maps pooled over each AU
region of the canonical face (`core.au.regions`), the landmarks of the AU regions in crop
pixels, the smoothed eye centres and the face box.
"""

import contextlib
import threading
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from queue import Empty, Full, Queue
from typing import TYPE_CHECKING

import numpy as np

from core.au import regions as au_regions
from core.defaults import INPUT_SIZE
from core.errors import FaceError, InputError, MediaError
from core.faces import LEFT_EYE_CONTOUR, RIGHT_EYE_CONTOUR, Face, FaceAnalyzer, align_face, mesh_points
from core.media import VideoInfo, iter_frames, probe_video
from core.micro.columns import FrameColumns
from core.progress import Progress, no_progress

if TYPE_CHECKING:
    from torch import nn

    from core.micro.features import FeatureBatcher

PREFETCH = 8  # decoded frames waiting for the tracker: a few MB, whatever the clip's length
BLOCK = 4096  # frames of features held before they go to disk (8 MB; 2 blocks are held)
# Tracking starts afresh (a detection, a new mesh graph, a new eye filter) at every minute of a clip,
# so that any minute can be tracked on its own with the same result (a study's workers track a long
# clip's minutes in parallel; `SegmentedTracker`). A clip of up to a minute is one segment.
SEGMENT_S = 60.0
SEGMENT_WARM_UP_S = 1.0  # the next segment's tracker starts this long before it (about 1.7% more mesh work)
COLUMNS = ("found", "eyes", "boxes", "landmarks", "pooled", "maxima", "regions")
BATCH_SIZE = 64  # crops per CNN pass: large enough to amortise, small enough to stay flat
FRAME_QUEUE = 16  # tracked frames waiting for alignment (15 MB at 640x480): more than a CNN pass takes
WINDOW_SCALE = 2.0  # the tracking window's side, in face-box sides
WINDOW_DRIFT = 0.15  # re-centre the window when the face moved this share of its side
REDETECT_S = 0.2  # while no face is tracked, look for one this often (seconds)
WARM_UP = 4  # mesh passes on the frame where a face was (re)detected

# Mesh points of each AU region (core.au.regions' groups); lip corners get their lip neighbours.
REGION_POINTS: dict[str, tuple[int, ...]] = {
    "brows": au_regions.RIGHT_EYEBROW + au_regions.LEFT_EYEBROW,
    "eyelids": au_regions.RIGHT_EYE + au_regions.LEFT_EYE,
    "cheeks": au_regions.RIGHT_CHEEK + au_regions.LEFT_CHEEK,
    "nose": au_regions.NOSE,
    "upper_lip": au_regions.UPPER_LIP,
    "lip_corners": (61, 291, 146, 375, 185, 409, 78, 308),
    "chin": au_regions.CHIN,
    "lips": au_regions.LIPS,
    "jaw": tuple(i for i in au_regions.FACE_OVAL if au_regions.CANONICAL_LANDMARKS[i][1] > 0.85),
}
REGIONS: tuple[str, ...] = tuple(REGION_POINTS)
# The landmarks kept per frame: the regions' points, in this order.
TRACK_POINTS: tuple[int, ...] = tuple(sorted({i for points in REGION_POINTS.values() for i in points}))
_TRACK_INDEX = {point: i for i, point in enumerate(TRACK_POINTS)}
REGION_ROWS: dict[str, np.ndarray] = {
    region: np.array([_TRACK_INDEX[p] for p in points]) for region, points in REGION_POINTS.items()
}


@dataclass
class FaceVideo:
    """A clip's face track and features, one row per frame (frames without a face: found False).

    The narrow columns are held in memory; the wide ones (about 2 KB a frame) stay on disk in
    `columns`: `read` gives a window of frames, and the properties map a whole column, for
    looking at a few frames (scanning a mapping would hold the whole file in memory).
    """

    path: str
    fps: float
    size: tuple[int, int]  # width, height
    columns: FrameColumns  # found, eyes, boxes, landmarks, pooled, maxima, regions
    layers: list[tuple[str, int]]  # (ReLU layer name, maps): how `pooled` and `maxima` are laid out
    other_faces: int = 0  # the most faces besides the tracked one seen at a detection
    model: str = ""  # the feature model's name and checksum
    found: np.ndarray = field(init=False)  # (N,) bool
    eyes: np.ndarray = field(
        init=False
    )  # (N, 2, 2) float32: smoothed right and left eye centres, frame pixels
    boxes: np.ndarray = field(init=False)  # (N, 4) float32: x, y, w, h of the landmarks' bounding box

    def __post_init__(self) -> None:
        self.found, self.eyes, self.boxes = (self.columns.read(name) for name in ("found", "eyes", "boxes"))

    def read(self, name: str, start: int = 0, stop: int | None = None) -> np.ndarray:
        """Frames [start, stop) of a wide column, read into memory."""
        return self.columns.read(name, start, stop)

    @property
    def landmarks(self) -> np.ndarray:
        """(N, len(TRACK_POINTS), 2) float16: the region landmarks in pixels of the 48x48 crop."""
        return self.columns.mapped("landmarks")

    @property
    def pooled(self) -> np.ndarray:
        """(N, maps) float16: the spatial mean of every post-ReLU map, all layers."""
        return self.columns.mapped("pooled")

    @property
    def maxima(self) -> np.ndarray:
        """(N, maps) float16: the spatial maximum of the same maps."""
        return self.columns.mapped("maxima")

    @property
    def regions(self) -> np.ndarray:
        """(N, len(REGIONS), maps of layers[0]) float16: the first layer pooled per AU region."""
        return self.columns.mapped("regions")

    @property
    def frames(self) -> int:
        return len(self.found)

    @property
    def duration_s(self) -> float:
        return self.frames / self.fps


class OneEuroFilter:
    """The one-euro filter (Casiez, Roussel & Vogel, CHI 2012): a low-pass whose cutoff rises
    with speed, so still signals are smoothed hard and moving ones follow without lag."""

    def __init__(self, fps: float, min_cutoff: float = 1.0, beta: float = 0.02, d_cutoff: float = 1.0):
        self.rate, self.min_cutoff, self.beta, self.d_cutoff = fps, min_cutoff, beta, d_cutoff
        self.reset()

    def reset(self) -> None:
        self._x: np.ndarray | None = None
        self._dx: np.ndarray | None = None

    def _alpha(self, cutoff: float | np.ndarray) -> float | np.ndarray:
        tau = 1.0 / (2 * np.pi * cutoff)
        return 1.0 / (1.0 + tau * self.rate)

    def __call__(self, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x, np.float64)
        if self._x is None:
            self._x, self._dx = x, np.zeros_like(x)
            return x
        dx = (x - self._x) * self.rate
        self._dx = self._dx + self._alpha(self.d_cutoff) * (dx - self._dx)
        cutoff = self.min_cutoff + self.beta * np.abs(self._dx)
        self._x = self._x + self._alpha(cutoff) * (x - self._x)
        return self._x


class FaceTracker:
    """Follows the largest face of a clip: detection when needed, the mesh in tracking mode between."""

    def __init__(self, fps: float, analyzer: FaceAnalyzer | None = None) -> None:
        self._own_analyzer = analyzer is None
        self._analyzer = analyzer or FaceAnalyzer()
        self._mesh = _tracking_mesh()
        self._window: tuple[int, int, int, int] | None = None
        self._redetect_every = max(1, round(REDETECT_S * fps))
        self._since_lost = 0
        self._fresh = False
        self.other_faces = 0

    def close(self) -> None:
        self._mesh.close()
        if self._own_analyzer:
            self._analyzer.close()

    def __enter__(self) -> "FaceTracker":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def update(self, frame: np.ndarray) -> np.ndarray | None:
        """The tracked face's 478 landmarks in frame pixels, or None when there is no face."""
        if self._window is None and not self._detect(frame):
            return None
        x0, y0, x1, y1 = self._window
        crop = np.ascontiguousarray(frame[y0:y1, x0:x1])
        # Right after a detection the mesh finds the face itself, then narrows its region of
        # interest over a few frames, and its landmarks shift meanwhile: it settles on this frame.
        for _ in range(WARM_UP if self._fresh else 1):
            result = self._mesh.process(crop)
        self._fresh = False
        if not result.multi_face_landmarks:
            self._window, self._since_lost = None, 0
            return None
        scale = np.array([x1 - x0, y1 - y0], np.float32)
        # MediaPipe's coordinates are continuous; OpenCV's pixel centres sit at integers.
        points = mesh_points(result.multi_face_landmarks[0]) * scale + np.array([x0, y0], np.float32) - 0.5
        self._follow(points, frame.shape)
        return points

    def _detect(self, frame: np.ndarray) -> bool:
        self._since_lost += 1
        if (self._since_lost - 1) % self._redetect_every:
            return False
        faces = self._analyzer.detect(frame)
        if not faces:
            return False
        self.other_faces = max(self.other_faces, len(faces) - 1)
        self._window = _window(faces[0].box, frame.shape)
        self._fresh = True
        return True

    def _follow(self, points: np.ndarray, shape: tuple[int, ...]) -> None:
        """Re-centre the window when the face drifted or changed size (the mesh tracks in its frame)."""
        low, high = points.min(0), points.max(0)
        box = (float(low[0]), float(low[1]), float(high[0] - low[0]), float(high[1] - low[1]))
        x0, y0, x1, y1 = self._window
        side = max(x1 - x0, y1 - y0)
        centre = np.array([box[0] + box[2] / 2, box[1] + box[3] / 2])
        drift = np.abs(centre - np.array([(x0 + x1) / 2, (y0 + y1) / 2])).max() / side
        wanted = WINDOW_SCALE * max(box[2], box[3])
        if drift > WINDOW_DRIFT or abs(wanted / side - 1) > 0.3:
            self._window = _window(box, shape)


def _tracking_mesh():
    import mediapipe as mp

    return mp.solutions.face_mesh.FaceMesh(
        static_image_mode=False, max_num_faces=1, refine_landmarks=True,
        min_detection_confidence=0.5, min_tracking_confidence=0.5,
    )  # fmt: skip


def segment_frames(fps: float) -> int:
    """The frames of a segment: tracking starts afresh at every multiple of this (SEGMENT_S)."""
    return max(1, round(SEGMENT_S * fps))


def warm_up_frames(fps: float) -> int:
    """The frames a segment's tracker runs before its segment (SEGMENT_WARM_UP_S)."""
    return min(segment_frames(fps) - 1, round(SEGMENT_WARM_UP_S * fps))


class _Track:
    """One tracker and its eye filter: the landmarks and the smoothed eye centres of each frame."""

    def __init__(self, fps: float, analyzer: FaceAnalyzer | None) -> None:
        self.tracker, self.eye_filter = FaceTracker(fps, analyzer), OneEuroFilter(fps)

    def update(self, frame: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
        points = self.tracker.update(frame)
        if points is None:
            self.eye_filter.reset()  # after a gap the face may be elsewhere: start afresh
            return None
        right, left = points[list(RIGHT_EYE_CONTOUR)].mean(0), points[list(LEFT_EYE_CONTOUR)].mean(0)
        return points, self.eye_filter(np.stack([right, left])).astype(np.float32)


class SegmentedTracker:
    """Tracking that starts afresh at every segment of a clip (SEGMENT_S), so that any segment can be
    tracked on its own with the same result. The next segment's tracker starts SEGMENT_WARM_UP_S
    before it, beside the current one, and has settled on the face when it takes over: the landmarks
    do not jump at a segment's start. A part of a clip tracked apart starts its first tracker at the
    same frame (`track_part`), so its rows are the whole run's."""

    def __init__(self, fps: float, analyzer: FaceAnalyzer | None = None) -> None:
        self.fps, self.analyzer = fps, analyzer
        self.segment, self.warm = segment_frames(fps), warm_up_frames(fps)
        self._current: _Track | None = None
        self._next: _Track | None = None
        self.other_faces = 0

    def update(self, at: int, frame: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
        """Frame `at` of the clip: its landmarks and smoothed eye centres, or None (no face, or a
        warm-up frame before a part's first segment)."""
        if (at + self.warm) % self.segment == 0 or (at == 0 and self._next is None):
            self._next = _Track(self.fps, self.analyzer)
        if at % self.segment == 0 and self._next is not None:
            self._close(self._current)
            self._current, self._next = self._next, None
        if self._next is not None:
            self._next.update(frame)  # settling only
        return None if self._current is None else self._current.update(frame)

    def close(self) -> None:
        for track in (self._current, self._next):
            self._close(track)
        self._current = self._next = None

    def _close(self, track: _Track | None) -> None:
        if track is not None:
            self.other_faces = max(self.other_faces, track.tracker.other_faces)
            track.tracker.close()

    def __enter__(self) -> "SegmentedTracker":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _window(box: tuple[float, float, float, float], shape: tuple[int, ...]) -> tuple[int, int, int, int]:
    """A square WINDOW_SCALE times the box's larger side around its centre, clipped to the frame."""
    x, y, w, h = box
    half = WINDOW_SCALE * max(w, h) / 2
    cx, cy = x + w / 2, y + h / 2
    height, width = shape[:2]
    x0, y0 = max(0, int(cx - half)), max(0, int(cy - half))
    x1, y1 = min(width, int(np.ceil(cx + half))), min(height, int(np.ceil(cy + half)))
    return x0, y0, max(x1, x0 + 1), max(y1, y0 + 1)


class _Table:
    """Per-frame rows of the last two blocks of frames, in memory; older blocks are written to the
    clip's FrameColumns in order, so memory stays flat however long the clip is. Two blocks, so that
    the feature worker, a few frames behind the tracker, never writes into a block being written out.
    The CNN's columns are added once its worker has loaded the network (`add`)."""

    def __init__(self, columns: FrameColumns, spec: dict[str, tuple[tuple[int, ...], type, float]]) -> None:
        self.columns, self.spec, self.arrays, self.flushed = columns, {}, {}, 0
        self.add(spec)

    def add(self, spec: dict[str, tuple[tuple[int, ...], type, float]]) -> None:
        for name, (shape, dtype, fill) in spec.items():
            self.arrays[name] = np.full((2 * BLOCK, *shape), fill, dtype)
            self.columns.declare(name, shape, dtype)
        self.spec = {**self.spec, **spec}

    @staticmethod
    def slot(index: int | np.ndarray) -> int | np.ndarray:
        return index % (2 * BLOCK)

    def make_room(self, index: int, worker: "_FeatureWorker") -> None:
        """Before row `index` is written: the oldest block goes to disk when its slot is needed."""
        if index >= self.flushed + 2 * BLOCK:
            self._flush(self.flushed + BLOCK, worker)

    def finish(self, frames: int, worker: "_FeatureWorker") -> None:
        """Every row up to `frames` written to disk."""
        worker.wait_written(frames)
        while self.flushed < frames:
            self._flush(min(self.flushed + BLOCK, frames), worker)

    def _flush(self, stop: int, worker: "_FeatureWorker") -> None:
        worker.wait_written(stop)  # and so the CNN's columns are there
        rows = self.slot(np.arange(self.flushed, stop))
        for name, (_, _, fill) in self.spec.items():
            self.columns.append(name, self.arrays[name][rows])
            self.arrays[name][rows] = fill
        self.flushed = stop


class _FeatureWorker:
    """Alignment and the CNN, in a thread of their own, behind the tracker.

    The tracker hands over each tracked frame (the decoded frame itself, not a copy) with its
    landmarks and eye centres, and goes on to the next frame while this thread aligns the crop,
    writes its landmarks and runs the CNN a batch at a time: the face mesh, the one stage that
    must run frame after frame, has a core to itself. A network given by name is loaded here, so
    its load overlaps the first frames' tracking. At most FRAME_QUEUE frames wait: memory stays flat.
    """

    def __init__(self, model: "nn.Module | str", table: _Table) -> None:
        self.table, self.layout, self.model_id = table, None, ""
        self._queue: Queue = Queue(maxsize=FRAME_QUEUE)
        self._written = 0  # every row before this one has all its columns
        self._changed = threading.Condition()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, args=(model,), name="cnn-features", daemon=True)
        self._thread.start()

    def add(self, index: int, frame: np.ndarray, points: np.ndarray, eyes: np.ndarray) -> None:
        self._put((index, frame, points, eyes))

    def wait_written(self, stop: int) -> None:
        """Wait until every row before `stop` is written; an error of the worker is raised here."""
        self._put(stop)  # the batch in progress is run now, however small
        with self._changed:
            self._changed.wait_for(lambda: self._written >= stop or self._error is not None)
        self._raise()

    def close(self) -> None:
        while self._thread.is_alive():
            try:
                self._queue.put(None, timeout=0.1)
                break
            except Full:
                continue
        self._thread.join()

    def _put(self, item: object) -> None:
        while True:
            self._raise()
            try:
                self._queue.put(item, timeout=0.1)
                return
            except Full:
                continue

    def _raise(self) -> None:
        if self._error is not None:
            raise self._error

    def _run(self, model: "nn.Module | str") -> None:
        loader = ThreadPoolExecutor(1, thread_name_prefix="cnn-load")
        batcher: Future | None = None
        crops, rows = [], []
        try:
            while (item := self._queue.get()) is not None:
                # The network loads once the tracker runs (torch's import would slow MediaPipe's, both
                # holding the GIL much of the time); the crops made meanwhile wait for it.
                batcher = batcher or loader.submit(_feature_batcher, model)
                if isinstance(item, int):  # wait_written
                    self._write(batcher.result(), crops, rows, item)
                    crops, rows = [], []
                    continue
                index, frame, points, eyes = item
                crop, kept = _align(frame, points, eyes)
                self.table.arrays["landmarks"][self.table.slot(index)] = kept
                crops.append(crop)
                rows.append(index)
                if len(crops) >= BATCH_SIZE and batcher.done():
                    self._write(batcher.result(), crops, rows, index + 1)
                    crops, rows = [], []
        except BaseException as error:  # noqa: BLE001 - raised in the tracker's thread
            with self._changed:
                self._error = error
                self._changed.notify_all()
        finally:
            loader.shutdown(wait=False)

    def _write(self, batcher: "FeatureBatcher", crops: list[np.ndarray], rows: list[int], stop: int) -> None:
        if self.layout is None:
            self.layout, self.model_id = batcher.layout, batcher.model_id
            self.table.add(batcher.columns())
        for start in range(0, len(crops), BATCH_SIZE):
            slots = self.table.slot(np.array(rows[start : start + BATCH_SIZE]))
            features = batcher.features(np.stack(crops[start : start + BATCH_SIZE]))
            for name, values in zip(("pooled", "maxima", "regions"), features, strict=True):
                self.table.arrays[name][slots] = values
        with self._changed:
            self._written = max(self._written, stop)
            self._changed.notify_all()


def _feature_batcher(model: "nn.Module | str") -> "FeatureBatcher":
    from core.micro.features import FeatureBatcher  # torch, imported only here
    from core.models.zoo import load_model

    return FeatureBatcher(load_model(model) if isinstance(model, str) else model)


def extract_features(
    path: str | Path,
    model: "nn.Module | str",
    progress: Progress = no_progress,
    analyzer: FaceAnalyzer | None = None,
    info: VideoInfo | None = None,
) -> FaceVideo:
    """Track the face of a clip and read the CNN's features on every frame, streamed.

    Raises MediaError for a clip that cannot be used (no frames, damaged, too large) and
    FaceError when no frame shows a face. Frames without a face are marked (`found` False).
    `info`: the clip's `probe_video`, when the caller has it already.
    """
    info = info or probe_video(path)
    with prefetched(iter_frames(path)) as frames:
        return features_from_frames(frames, info, model, progress, analyzer, name=str(path))


@contextlib.contextmanager
def prefetched(items: Iterator, depth: int = PREFETCH) -> Iterator[Iterator]:
    """`items` produced ahead in a thread, at most `depth` waiting: frames decode while the mesh runs.

    OpenCV's decoder releases the GIL, so decoding overlaps the face mesh and the CNN. An error
    in the producer is raised in the consumer; leaving the block early stops the producer.
    """
    queue: Queue = Queue(maxsize=depth)
    stop = threading.Event()
    end = object()

    def produce() -> None:
        try:
            for item in items:
                while not stop.is_set():
                    try:
                        queue.put(item, timeout=0.1)
                        break
                    except Full:
                        continue
                if stop.is_set():
                    return
            queue.put(end)
        except BaseException as error:  # noqa: BLE001 - handed to the consumer as it is
            queue.put(_Failed(error))
        finally:
            close = getattr(items, "close", None)
            if close is not None:
                close()  # releases the video capture

    def consume() -> Iterator:
        while (item := queue.get()) is not end:
            if isinstance(item, _Failed):
                raise item.error
            yield item

    worker = threading.Thread(target=produce, name="frame-prefetch", daemon=True)
    worker.start()
    try:
        yield consume()
    finally:
        stop.set()
        while worker.is_alive():  # unblock a producer waiting on a full queue
            try:
                queue.get_nowait()
            except Empty:
                worker.join(timeout=0.1)


@dataclass
class _Failed:
    error: BaseException


def features_from_frames(
    frames: Iterable[tuple[int, np.ndarray]],
    info: VideoInfo,
    model: "nn.Module | str",
    progress: Progress = no_progress,
    analyzer: FaceAnalyzer | None = None,
    name: str = "the clip",
    first: int = 0,
    require_face: bool = True,
) -> FaceVideo:
    """`extract_features` on (index, RGB frame) pairs already decoded (synthetic clips, benchmarks).

    `model`: the feature CNN, or a shipped model's name (loaded beside the first frames' tracking);
    `first`: the clip's frame index of the first pair (a part of a clip, `track_part`);
    `require_face`: raise FaceError when no frame has a face (a part may have none).
    """
    columns = FrameColumns()
    table = _Table(columns, {
        "found": ((), bool, False), "eyes": ((2, 2), np.float32, np.nan), "boxes": ((4,), np.float32, np.nan),
        "landmarks": ((len(TRACK_POINTS), 2), np.float16, np.nan),
    })  # fmt: skip
    rows = table.arrays
    worker = _FeatureWorker(model, table)
    n_frames, n_found = 0, 0
    with SegmentedTracker(info.fps, analyzer) as tracker, contextlib.closing(worker):
        for at, frame in frames:
            tracked = tracker.update(at, frame)
            index = at - first  # the row of this part; before its first frame, a warm-up frame
            if index < 0:
                continue
            n_frames = index + 1
            table.make_room(index, worker)
            if tracked is not None:
                n_found += 1
                points, eyes = tracked
                low, high = points.min(0), points.max(0)
                slot = table.slot(index)
                rows["found"][slot], rows["eyes"][slot], rows["boxes"][slot] = True, eyes, (*low, *(high - low))
                worker.add(index, frame, points, eyes)
            if at % 30 == 0:
                progress(min(at / max(info.frame_count, 1), 0.99), f"frame {at:,} of {info.frame_count:,}")
        table.finish(n_frames, worker)
    other_faces = tracker.other_faces
    if n_frames == 0:
        raise MediaError(f"No frame of {Path(name).name} could be read.")
    if require_face:
        _check_faces(n_frames, n_found, name)
    progress(1.0, f"{n_frames:,} frames, a face in {n_found:,}")
    return FaceVideo(
        path=name, fps=info.fps, size=(info.width, info.height), columns=columns, layers=worker.layout,
        other_faces=other_faces, model=worker.model_id,
    )  # fmt: skip


def _check_faces(frames: int, found: int, name: str) -> None:
    if found == 0:
        raise FaceError(
            f"No face was found in any of the {frames:,} frames of {Path(name).name}. Use a clip in which "
            "one face is seen from the front, well lit and at least about 40 pixels wide."
        )


# ---- parts of a clip, tracked apart ------------------------------------------------------


@dataclass(frozen=True)
class TrackedPart:
    """A range of a clip's frames, tracked on its own (a cluster's worker sends it back whole)."""

    first: int  # the clip's frame index of the part's first row
    arrays: dict[str, np.ndarray]  # every column of FaceVideo, the part's rows
    fps: float
    size: tuple[int, int]
    layers: list[tuple[str, int]]
    other_faces: int
    model: str


def track_part(path: str | Path, model: "nn.Module", start: int, stop: int, info: VideoInfo) -> TrackedPart:
    """Frames [start, stop) of a clip tracked apart. With `start` at a segment's first frame
    (`segment_frames`), the rows are the same as in a run over the whole clip, which starts the
    tracker afresh there too: a long clip's segments can be tracked in parallel."""
    if start % segment_frames(info.fps):
        raise InputError(f"A part of a clip starts at a segment's first frame, not at frame {start}.")
    warm_up = max(0, start - warm_up_frames(info.fps))  # the frames the whole run's tracker settles on
    with prefetched(iter_frames(path, start=warm_up, stop=stop)) as frames:
        video = features_from_frames(frames, info, model, name=str(path), first=start, require_face=False)
    arrays = {name: video.read(name) for name in COLUMNS}
    return TrackedPart(start, arrays, video.fps, video.size, video.layers, video.other_faces, video.model)


def join_parts(parts: Iterable[TrackedPart], name: str) -> FaceVideo:
    """Consecutive parts of one clip (in order, from frame 0) as one FaceVideo, written to disk part
    by part; FaceError when no part has a face."""
    columns, at, last, other_faces = FrameColumns(), 0, None, 0
    for part in parts:
        if part.first != at:
            raise InputError(f"The parts of {Path(name).name} leave a gap at frame {at}.")
        for column in COLUMNS:
            columns.append(column, part.arrays[column])
        at, last, other_faces = at + len(part.arrays["found"]), part, max(other_faces, part.other_faces)
    if last is None:
        raise MediaError(f"No frame of {Path(name).name} could be read.")
    video = FaceVideo(path=name, fps=last.fps, size=last.size, columns=columns, layers=last.layers,
                      other_faces=other_faces, model=last.model)  # fmt: skip
    _check_faces(video.frames, int(video.found.sum()), name)
    return video


def _align(frame: np.ndarray, points: np.ndarray, eyes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The 48x48 crop from the smoothed eye centres, and the region landmarks in the crop."""
    aligned = align_face(frame, eyes_face(eyes), INPUT_SIZE)
    kept = points[list(TRACK_POINTS)] @ aligned.matrix[:, :2].T + aligned.matrix[:, 2]
    return aligned.image, kept


def eyes_face(eyes: np.ndarray) -> Face:
    """A Face that only knows its eyes, so align_face uses exactly these (smoothed) centres."""
    keypoints = np.zeros((6, 2), np.float32)
    keypoints[:2] = eyes
    return Face(box=(0.0, 0.0, 1.0, 1.0), score=1.0, keypoints=keypoints)


# ---- the crops of a run ----------------------------------------------------------------


def crop_at(path: str | Path, eyes: np.ndarray, frames: list[int]) -> dict[int, np.ndarray]:
    """The 48x48 crops the CNN saw at some frames: re-read from the clip, aligned on the run's eyes."""
    wanted = sorted({f for f in frames if 0 <= f < len(eyes) and np.isfinite(eyes[f]).all()})
    crops: dict[int, np.ndarray] = {}
    if not wanted:
        return crops
    for index, frame in iter_frames(path, start=wanted[0], stop=wanted[-1] + 1):
        if index in wanted:
            crops[index] = align_face(frame, eyes_face(eyes[index]), INPUT_SIZE).image
    return crops
