"""Synthetic clips with known expression intervals, made by the project.

    clip = make_clip(seconds=6, events=2, amplitude_px=3)     # two micro-expressions
    for frame in clip.frames(): ...                           # RGB uint8, generated lazily
    clip.events, clip.intervals(); clip.write(Path("clip.webm"))

What a clip shows: a face drawn by the project (`core.datasets.generated`, the neutral
expression) on a frame of the asked size, held still except for a slow head motion (a
smooth similarity jitter of about `head_motion_px`), with Gaussian sensor noise
(`noise_sd` grey levels) on every frame. Each event moves the face parts of its FACS
Action Units (brows up for AU1/2, lip corners up and out for AU12, ...): the mesh
landmarks of those parts (measured once with MediaPipe on the still face) carry a smooth
displacement field whose largest vector is `amplitude_px` at the apex, scaled by a raised
cosine that rises from 0 at the onset frame to 1 at the apex and falls back to 0 at the
offset frame. The warp is applied with cv2.remap; outside events the face is exactly the
still face. Real micro-expressions move a few pixels for a third of a second, so the
default amplitude is 3 px.

Events: micro-expressions last 0.1 to 0.5 s, macro-expressions longer (0.6 to 2 s drawn
at random); they never overlap, keep at least 0.5 s apart, and the first starts after a
1 s baseline. Labels are MEGC classes, each drawn by one of these AU sets:
positive (12) or (6, 12); negative (4), (15), (9) or (14); surprise (1, 2) or (1, 2, 5, 26).

Frame indices are 0-based; an event's frames run from onset_frame to offset_frame
inclusive, so it lasts (offset_frame - onset_frame + 1) / fps seconds.
"""

import hashlib
import math
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from statistics import NormalDist

import cv2
import numpy as np

from core.errors import InputError, MediaError
from core.labels.micro import MEGC_CLASSES
from core.progress import Progress, no_progress

MICRO_MAX_S = 0.5  # the longest micro-expression: longer events are macro-expressions
MICRO_RANGE_S = (0.1, 0.5)
MACRO_RANGE_S = (0.6, 2.0)
MIN_GAP_S = 0.5  # between one event's offset and the next one's onset
LEAD_S = 1.0  # still face before the first event: a baseline for spotters
TAIL_S = 0.5
MIN_EVENT_FRAMES = 3  # onset, apex and offset need a frame each
MIN_SIDE, MAX_SIDE = 160, 4096
FACE_FRACTION = 0.8  # the drawn face's square, as a fraction of the frame's shorter side

LABEL_AUS: dict[str, tuple[tuple[int, ...], ...]] = {
    "positive": ((12,), (6, 12)),
    "negative": ((4,), (15,), (9,), (14,)),
    "surprise": ((1, 2), (1, 2, 5, 26)),
}

# ---- how each AU moves the face -------------------------------------------------------
# MediaPipe mesh points of the person's right side, of the left side, and the movement as
# (outward, down) in the face's own axes (outward: away from the midline; down: toward the
# chin), plus the width of the displacement bump as a fraction of the inter-ocular distance.
_RIGHT_INNER_BROW, _LEFT_INNER_BROW = (55, 65, 107, 66), (285, 295, 336, 296)
_RIGHT_OUTER_BROW, _LEFT_OUTER_BROW = (46, 53, 52, 70, 63, 105), (276, 283, 282, 300, 293, 334)
_RIGHT_UPPER_LID, _LEFT_UPPER_LID = (246, 161, 160, 159, 158, 157, 173), (466, 388, 387, 386, 385, 384, 398)
_RIGHT_LOWER_LID, _LEFT_LOWER_LID = (7, 163, 144, 145, 153, 154, 155), (249, 390, 373, 374, 380, 381, 382)
_RIGHT_CHEEK, _LEFT_CHEEK = (
    (117, 118, 119, 100, 101, 36, 205, 187, 123),
    (346, 347, 348, 329, 330, 266, 425, 411, 352),
)
_RIGHT_NOSE_WING, _LEFT_NOSE_WING = (48, 64, 98, 115), (278, 294, 327, 344)
_RIGHT_CORNER, _LEFT_CORNER = (61,), (291,)
_UPPER_LIP = (0, 13, 37, 267, 82, 312)
_LOWER_LIP = (14, 17, 87, 317, 84, 314, 178, 402)
_CHIN = (152, 148, 377, 175, 199, 200, 18)


@dataclass(frozen=True)
class _Movement:
    right: tuple[int, ...]
    left: tuple[int, ...]
    outward: float
    down: float
    width: float = 0.12
    middle: tuple[int, ...] = ()  # points on the midline: they only move down or up


_AU_MOVEMENTS: dict[int, tuple[_Movement, ...]] = {
    1: (_Movement(_RIGHT_INNER_BROW, _LEFT_INNER_BROW, 0.0, -1.0),),
    2: (_Movement(_RIGHT_OUTER_BROW, _LEFT_OUTER_BROW, 0.0, -1.0),),
    4: (_Movement(_RIGHT_INNER_BROW + _RIGHT_OUTER_BROW, _LEFT_INNER_BROW + _LEFT_OUTER_BROW, -0.5, 0.85),),
    5: (_Movement(_RIGHT_UPPER_LID, _LEFT_UPPER_LID, 0.0, -1.0, width=0.08),),
    # AU6 lifts the cheeks and with them the lower lids, where (on smooth skin) it shows.
    6: (
        _Movement(_RIGHT_CHEEK, _LEFT_CHEEK, 0.0, -1.0, width=0.14),
        _Movement(_RIGHT_LOWER_LID, _LEFT_LOWER_LID, 0.0, -0.6, width=0.08),
    ),
    7: (_Movement(_RIGHT_LOWER_LID, _LEFT_LOWER_LID, 0.0, -1.0, width=0.08),),
    9: (_Movement(_RIGHT_NOSE_WING, _LEFT_NOSE_WING, 0.0, -1.0),),
    10: (_Movement((), (), 0.0, -1.0, middle=_UPPER_LIP),),
    12: (_Movement(_RIGHT_CORNER, _LEFT_CORNER, 0.6, -0.8, width=0.16),),
    14: (_Movement(_RIGHT_CORNER, _LEFT_CORNER, -1.0, 0.0, width=0.14),),
    15: (_Movement(_RIGHT_CORNER, _LEFT_CORNER, 0.2, 1.0, width=0.16),),
    17: (_Movement((), (), 0.0, -1.0, width=0.16, middle=_CHIN),),
    20: (_Movement(_RIGHT_CORNER, _LEFT_CORNER, 1.0, 0.2, width=0.16),),
    25: (_Movement((), (), 0.0, 1.0, middle=_LOWER_LIP), _Movement((), (), 0.0, -0.4, middle=_UPPER_LIP)),
    26: (_Movement((), (), 0.0, 1.0, width=0.16, middle=_LOWER_LIP + _CHIN),),
}
SYNTHETIC_AUS: tuple[int, ...] = tuple(_AU_MOVEMENTS)


@dataclass(frozen=True)
class ClipEvent:
    """One expression in a synthetic clip: its frames (0-based, inclusive), kind, class and AUs."""

    onset_frame: int
    apex_frame: int
    offset_frame: int
    kind: str  # "micro" (<= 0.5 s) or "macro"
    label: str  # MEGC class: "negative" | "positive" | "surprise"
    aus: tuple[int, ...]  # the FACS AUs moved, e.g. (12,) or (1, 2) or (4,)

    @property
    def n_frames(self) -> int:
        return self.offset_frame - self.onset_frame + 1

    def level(self, index: int) -> float:
        """How far the movement has gone at frame `index`: 0 at onset and offset, 1 at the apex."""
        if index <= self.onset_frame or index >= self.offset_frame:
            return 0.0
        if index <= self.apex_frame:
            phase = (index - self.onset_frame) / (self.apex_frame - self.onset_frame)
        else:
            phase = (self.offset_frame - index) / (self.offset_frame - self.apex_frame)
        return 0.5 - 0.5 * math.cos(math.pi * phase)


@dataclass(frozen=True)
class SyntheticClip:
    """A clip that is drawn frame by frame on demand; nothing but its description is stored."""

    fps: float
    n_frames: int
    size: tuple[int, int]  # (width, height)
    events: tuple[ClipEvent, ...]
    seed: int
    identity: int = 0
    amplitude_px: float = 3.0
    head_motion_px: float = 1.0
    noise_sd: float = 2.0

    @property
    def duration_s(self) -> float:
        return self.n_frames / self.fps

    def frames(self) -> Iterator[np.ndarray]:
        """Every frame in order, RGB uint8 (height, width, 3); one frame in memory at a time."""
        for index in range(self.n_frames):
            yield self.frame(index)

    def frame(self, index: int) -> np.ndarray:
        """Frame `index` (0-based), the same for the same clip whenever it is asked for."""
        if not 0 <= index < self.n_frames:
            raise IndexError(f"frame {index} is outside this clip's {self.n_frames} frames")
        still, _ = _still_face(self.identity, self.size)
        image = still
        event = self.event_at(index)
        level = 0.0 if event is None else event.level(index)
        if level > 0:
            image = _warp_aus(still, self.identity, self.size, event.aus, level * self.amplitude_px)
        if self.head_motion_px > 0:
            image = _move_head(image, self._head_matrix(index))
        if self.noise_sd > 0:
            image = _add_noise(image, self.noise_sd, np.random.default_rng((self.seed, index)))
        return image.copy() if image is still else image

    def event_at(self, index: int) -> ClipEvent | None:
        """The event whose frames include `index`, None between events."""
        for event in self.events:
            if event.onset_frame <= index <= event.offset_frame:
                return event
        return None

    def levels(self) -> np.ndarray:
        """The movement's level (0..1) on every frame: a per-frame ground truth for spotters."""
        levels = np.zeros(self.n_frames, np.float32)
        for event in self.events:
            for index in range(event.onset_frame, event.offset_frame + 1):
                levels[index] = event.level(index)
        return levels

    def intervals(self) -> list[dict]:
        """The events in the `spot` verb's JSON form (score 1.0: they are the truth)."""
        return [
            {
                "onset_frame": e.onset_frame,
                "apex_frame": e.apex_frame,
                "offset_frame": e.offset_frame,
                "onset_s": round(e.onset_frame / self.fps, 4),
                "offset_s": round(e.offset_frame / self.fps, 4),
                "kind": e.kind,
                "label": e.label,
                "score": 1.0,
                "aus": list(e.aus),
            }
            for e in self.events
        ]

    def write(self, path: Path, progress: Progress = no_progress) -> Path:
        """Encode the clip: .webm (VP8, plays in browsers), .mp4 (mp4v) or .avi (MJPG)."""
        path = Path(path)
        codecs = {".webm": "VP80", ".mp4": "mp4v", ".avi": "MJPG"}
        codec = codecs.get(path.suffix.lower())
        if codec is None:
            raise InputError(f"A synthetic clip is written as {', '.join(codecs)}, not '{path.suffix}'.")
        path.parent.mkdir(parents=True, exist_ok=True)
        writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*codec), self.fps, self.size)
        if not writer.isOpened():
            raise MediaError(f"OpenCV cannot write {path.suffix} video on this machine.")
        try:
            for index, frame in enumerate(self.frames()):
                writer.write(cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
                if index % 30 == 0:
                    progress(index / self.n_frames, f"frame {index + 1} of {self.n_frames}")
        finally:
            writer.release()
        progress(1.0, f"{self.n_frames} frames written")
        return path

    def _head_matrix(self, index: int) -> np.ndarray:
        """The head's pose at a frame: a 2x3 similarity about the face centre."""
        waves = _head_waves(self.seed)
        t = index / self.fps
        # Each of x, y and roll is a sum of two slow sinusoids whose weights add to 1, so it
        # never exceeds its amplitude.
        shift = [
            self.head_motion_px * sum(w * math.sin(2 * math.pi * f * t + p) for w, f, p in waves[axis])
            for axis in range(3)
        ]
        _, geometry = _still_face(self.identity, self.size)
        center, eye_distance = geometry
        angle = math.degrees(0.5 * shift[2] / eye_distance)  # the eyes move ~half a shift when the head rolls
        matrix = cv2.getRotationMatrix2D(center, angle, 1.0)
        matrix[:, 2] += shift[:2]
        return matrix


def make_clip(
    seconds: float = 6.0,
    fps: float = 30.0,
    size: tuple[int, int] = (640, 480),
    events: int | Sequence[tuple] = 2,
    amplitude_px: float = 3.0,
    head_motion_px: float = 1.0,
    noise_sd: float = 2.0,
    identity: int = 0,
    seed: int = 0,
    macro_share: float = 0.0,
) -> SyntheticClip:
    """Describe a clip; its frames are drawn when asked for.

    `events` is a count (placed at random by `seed`; a share `macro_share` of them are
    macro-expressions, the rest micro) or a list of (onset_s, duration_s, label) with an
    optional fourth item, the AUs to move (default: drawn from the label's AU sets).
    `identity` picks the drawn face (0-3 are different people).
    """
    if not 0 < fps <= 1000:
        raise InputError(f"Frames per second must be between 0 and 1000, not {fps}.")
    width, height = (int(v) for v in size)
    if min(width, height) < MIN_SIDE or max(width, height) > MAX_SIDE:
        raise InputError(
            f"A synthetic clip's sides must be {MIN_SIDE} to {MAX_SIDE} pixels, not {width}x{height}."
        )
    if amplitude_px < 0 or head_motion_px < 0 or noise_sd < 0:
        raise InputError("Amplitude, head motion and noise cannot be negative.")
    n_frames = round(seconds * fps)
    if n_frames < 1:
        raise InputError(f"A clip of {seconds} s at {fps} fps has no frames.")
    rng = np.random.default_rng(seed)
    if isinstance(events, int):
        placed = _random_events(events, n_frames, fps, macro_share, rng)
    else:
        placed = _given_events(events, n_frames, fps, rng)
    return SyntheticClip(
        fps=float(fps),
        n_frames=n_frames,
        size=(width, height),
        events=tuple(placed),
        seed=int(seed),
        identity=int(identity),
        amplitude_px=float(amplitude_px),
        head_motion_px=float(head_motion_px),
        noise_sd=float(noise_sd),
    )


# ---- the demo clip ---------------------------------------------------------------------

_DEMO_VERSION = 1  # bump when the drawing changes, so a cached demo clip is redrawn


def demo_clip() -> SyntheticClip:
    """The embedded demo: 7 s at 30 fps, 640x480, three subtle (3 px) micro-expressions and one macro."""
    return make_clip(
        seconds=7.0,
        fps=30.0,
        size=(640, 480),
        events=[
            (1.2, 0.3, "positive", (12,)),
            (2.3, 0.4, "negative", (4,)),
            (3.4, 1.2, "surprise", (1, 2, 5, 26)),
            (5.6, 0.27, "negative", (15,)),
        ],
        amplitude_px=3.0,
        head_motion_px=1.0,
        noise_sd=1.0,  # light noise: VP8 spends most of its time encoding noise
        identity=1,
        seed=7,
    )


def demo_clip_path(progress: Progress = no_progress) -> Path:
    """The demo clip as a WebM file, written once into the dashboard's cache folder and reused.

    The first call encodes it (about 5 to 15 s on a laptop CPU; `progress` reports it).
    """
    from core.store import home_dir

    clip = demo_clip()
    digest = hashlib.sha256(f"{_DEMO_VERSION}|{clip!r}".encode()).hexdigest()[:12]
    path = home_dir() / "cache" / f"demo_clip_{digest}.webm"
    if path.is_file() and path.stat().st_size > 0:
        return path
    # Written beside its final name, then renamed: a reader never sees half a file.
    partial = path.with_name(f"{path.stem}.{os.getpid()}.partial.webm")
    clip.write(partial, progress)
    os.replace(partial, path)
    return path


# ---- placing events ------------------------------------------------------------------


def _event(onset: int, n: int, fps: float, label: str, aus: Sequence[int] | None, rng) -> ClipEvent:
    if label not in LABEL_AUS:
        raise InputError(f"Synthetic events are labelled {', '.join(MEGC_CLASSES)}, not '{label}'.")
    if aus is None:
        options = LABEL_AUS[label]
        aus = options[int(rng.integers(len(options)))]
    unknown = sorted(set(aus) - set(_AU_MOVEMENTS))
    if unknown or not aus:
        raise InputError(
            f"Synthetic clips can move AUs {', '.join(map(str, SYNTHETIC_AUS))}; not {unknown or aus}."
        )
    offset = onset + n - 1
    apex = onset + round((n - 1) * rng.uniform(0.3, 0.6))
    apex = min(max(apex, onset + 1), offset - 1)
    kind = "micro" if n / fps <= MICRO_MAX_S + 1e-9 else "macro"
    return ClipEvent(onset, apex, offset, kind, label, tuple(sorted(set(int(a) for a in aus))))


def _random_events(count: int, n_frames: int, fps: float, macro_share: float, rng) -> list[ClipEvent]:
    if count < 0:
        raise InputError("The number of events cannot be negative.")
    if count == 0:
        return []
    micro_frames = (max(MIN_EVENT_FRAMES, math.ceil(MICRO_RANGE_S[0] * fps)), math.floor(MICRO_MAX_S * fps))
    if micro_frames[1] < MIN_EVENT_FRAMES:
        raise InputError(f"At {fps} fps a micro-expression has fewer than {MIN_EVENT_FRAMES} frames.")
    lengths, labels = [], []
    for _ in range(count):
        if rng.uniform() < macro_share:
            n = round(rng.uniform(*MACRO_RANGE_S) * fps)
        else:
            n = round(rng.uniform(*MICRO_RANGE_S) * fps)
            n = min(max(n, micro_frames[0]), micro_frames[1])
        lengths.append(max(n, MIN_EVENT_FRAMES))
        labels.append(MEGC_CLASSES[int(rng.integers(len(MEGC_CLASSES)))])
    lead, gap, tail = (math.ceil(s * fps) for s in (LEAD_S, MIN_GAP_S, TAIL_S))
    slack = n_frames - lead - tail - sum(lengths) - gap * (count - 1)
    if slack < 0:
        raise InputError(
            f"{count} events do not fit in {n_frames / fps:.1f} s with {MIN_GAP_S} s between them; "
            "use a longer clip or fewer events."
        )
    extra = np.floor(rng.dirichlet(np.ones(count + 1)) * slack).astype(int)
    placed, onset = [], lead + int(extra[0])
    for i, (n, label) in enumerate(zip(lengths, labels, strict=True)):
        placed.append(_event(onset, n, fps, label, None, rng))
        onset += n + gap + (int(extra[i + 1]) if i + 1 < count else 0)
    return placed


def _given_events(events: Sequence[tuple], n_frames: int, fps: float, rng) -> list[ClipEvent]:
    placed = []
    for spec in sorted(events, key=lambda e: e[0]):
        if len(spec) not in (3, 4):
            raise InputError(
                "Each event is (onset_s, duration_s, label) or (onset_s, duration_s, label, aus)."
            )
        onset_s, duration_s, label = spec[:3]
        onset, n = round(onset_s * fps), round(duration_s * fps)
        if n < MIN_EVENT_FRAMES:
            raise InputError(
                f"An event of {duration_s} s at {fps} fps has fewer than {MIN_EVENT_FRAMES} frames."
            )
        if onset < 0 or onset + n > n_frames:
            raise InputError(f"The event at {onset_s} s lasting {duration_s} s is outside the clip.")
        if placed and onset - placed[-1].offset_frame < MIN_GAP_S * fps:
            raise InputError(
                f"The event at {onset_s} s starts less than {MIN_GAP_S} s after the one before it."
            )
        placed.append(_event(onset, n, fps, label, spec[3] if len(spec) == 4 else None, rng))
    return placed


# ---- drawing -------------------------------------------------------------------------


@lru_cache(maxsize=8)
def _still_face(identity: int, size: tuple[int, int]) -> tuple[np.ndarray, tuple]:
    """The still frame and (face centre, inter-ocular distance) of one identity at one size."""
    frame = _draw_still(identity, size)
    frame.setflags(write=False)
    landmarks = _still_landmarks(identity, size)
    right_eye, left_eye = _eye_centers(landmarks)
    eye_distance = float(np.linalg.norm(left_eye - right_eye))
    center = tuple(float(v) for v in landmarks.mean(0))
    return frame, (center, eye_distance)


@lru_cache(maxsize=8)
def _still_landmarks(identity: int, size: tuple[int, int]) -> np.ndarray:
    """The still face's 478 mesh landmarks (pixels), measured once with MediaPipe."""
    from core.faces import FaceAnalyzer, choose_face

    frame = _draw_still(identity, size)
    with FaceAnalyzer() as analyzer:
        face, _ = choose_face(analyzer.detect(frame))
    if face.landmarks is None:
        raise MediaError("MediaPipe found the synthetic face but not its landmarks.")
    landmarks = face.landmarks.astype(np.float64)
    landmarks.setflags(write=False)
    return landmarks


def _eye_centers(landmarks: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    from core.faces import LEFT_EYE_CONTOUR, RIGHT_EYE_CONTOUR

    return landmarks[list(RIGHT_EYE_CONTOUR)].mean(0), landmarks[list(LEFT_EYE_CONTOUR)].mean(0)


def _draw_still(identity: int, size: tuple[int, int]) -> np.ndarray:
    """The neutral face, centred on a frame of `size`."""
    from core.datasets.generated import generate_face

    width, height = size
    side = round(FACE_FRACTION * min(width, height))
    face = generate_face("neutral", size=side, seed=identity)
    left, top = (width - side) // 2, (height - side) // 2
    # The drawing's own border (backdrop at the sides, neck at the bottom) is carried to the frame's edges.
    return cv2.copyMakeBorder(face, top, height - side - top, left, width - side - left, cv2.BORDER_REPLICATE)


@lru_cache(maxsize=32)
def _au_field(
    identity: int, size: tuple[int, int], aus: tuple[int, ...]
) -> tuple[np.ndarray, np.ndarray, tuple]:
    """The displacement of a set of AUs at full strength: peak 1 px, on a box around the moved parts.

    Returns (pixel grid of the box as float32 x and y maps, field (h, w, 2), box (x0, y0, x1, y1)).
    """
    landmarks = _still_landmarks(identity, size)
    _, (_, eye_distance) = _still_face(identity, size)
    right_eye, left_eye = _eye_centers(landmarks)
    across = (left_eye - right_eye) / np.linalg.norm(left_eye - right_eye)  # toward the person's left
    down = np.array([-across[1], across[0]])  # toward the chin
    bumps = []  # (point, vector, sigma)
    for au in aus:
        for move in _AU_MOVEMENTS[au]:
            sigma = move.width * eye_distance
            for indices, side in ((move.right, -1.0), (move.left, 1.0), (move.middle, 0.0)):
                vector = side * move.outward * across + move.down * down
                bumps += [(landmarks[i], vector, sigma, au) for i in indices]
    points = np.array([b[0] for b in bumps])
    reach = 3.5 * max(b[2] for b in bumps)
    width, height = size
    x0, y0 = (max(0, int(v - reach)) for v in points.min(0))
    x1, y1 = int(min(width, points[:, 0].max() + reach + 1)), int(min(height, points[:, 1].max() + reach + 1))
    ys, xs = np.mgrid[y0:y1, x0:x1].astype(np.float64)
    field = np.zeros((y1 - y0, x1 - x0, 2))
    for au in aus:  # each AU's own field peaks at 1, so a combination moves every part visibly
        own = np.zeros_like(field)
        for point, vector, sigma, which in bumps:
            if which == au:
                weight = np.exp(-((xs - point[0]) ** 2 + (ys - point[1]) ** 2) / (2 * sigma**2))
                own += weight[..., None] * vector
        field += own / max(np.linalg.norm(own, axis=2).max(), 1e-9)
    field /= max(np.linalg.norm(field, axis=2).max(), 1.0)  # overlapping AUs still peak at 1
    grid = (xs.astype(np.float32), ys.astype(np.float32))
    for array in (*grid, field):
        array.setflags(write=False)
    return grid, field.astype(np.float32), (x0, y0, x1, y1)


def _warp_aus(
    still: np.ndarray, identity: int, size: tuple[int, int], aus: tuple[int, ...], pixels: float
) -> np.ndarray:
    """The still face with the AUs' parts moved by up to `pixels` (backward mapping with cv2.remap)."""
    (xs, ys), field, (x0, y0, x1, y1) = _au_field(identity, size, aus)
    # The pixel that lands at x came from x - d(x): exact enough for fields this smooth and small.
    map_x = xs - pixels * field[..., 0]
    map_y = ys - pixels * field[..., 1]
    image = still.copy()
    image[y0:y1, x0:x1] = cv2.remap(still, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    return image


@lru_cache(maxsize=1)
def _gaussian_table() -> np.ndarray:
    """256 quantiles of the standard normal, scaled to variance 1: uniform bytes through this table
    are Gaussian noise (cut off at 2.9 sd) at a quarter of the cost of drawing normals."""
    quantiles = np.array([NormalDist().inv_cdf((k + 0.5) / 256) for k in range(256)], np.float32)
    return quantiles / quantiles.std()


def _add_noise(image: np.ndarray, sd: float, rng: np.random.Generator) -> np.ndarray:
    levels = rng.integers(0, 256, image.shape, dtype=np.uint8)
    noisy = cv2.add(image.astype(np.float32), cv2.LUT(levels, _gaussian_table() * np.float32(sd)))
    np.clip(noisy, 0, 255, out=noisy)
    noisy += 0.5  # round, not truncate
    return noisy.astype(np.uint8)


def _move_head(image: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    height, width = image.shape[:2]
    return cv2.warpAffine(
        image, matrix, (width, height), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE
    )


@lru_cache(maxsize=64)
def _head_waves(seed: int) -> tuple[tuple[tuple[float, float, float], ...], ...]:
    """For x, y and roll: two (weight, frequency Hz, phase) sinusoids, slow like a seated person's sway."""
    rng = np.random.default_rng((seed, 1))
    waves = []
    for _ in range(3):
        weight = rng.uniform(0.4, 0.7)
        waves.append(
            (
                (weight, rng.uniform(0.05, 0.25), rng.uniform(0, 2 * math.pi)),
                (1 - weight, rng.uniform(0.15, 0.4), rng.uniform(0, 2 * math.pi)),
            )
        )
    return tuple(waves)
