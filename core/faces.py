"""Faces in a picture: detection, 478 landmarks and alignment to the model's crop.

    analyzer = FaceAnalyzer()                      # once; the app caches it
    result = prepare_face(image_rgb, analyzer)     # detect -> largest face -> 48x48 crop
    result.crop.image, result.crop.landmarks, result.others

Detection uses MediaPipe's BlazeFace (both its short- and full-range models) and the
478-point face mesh (468 points + 10 iris points), all from the legacy
`mp.solutions` API whose models ship inside the wheel, so nothing is downloaded.

Coordinates are pixels in OpenCV's convention: the centre of the top-left pixel is
(0, 0), x to the right, y down. "Right" and "left" eye are the person's own: the right
eye is usually on the image's left.

A face lying sideways or upside down (a photo turned by its camera, without EXIF) is found
by `prepare_face` in the picture turned by 90, 180 or 270 degrees; `FaceResult.rotation`
says by how much. The faces are given in the picture's own pixels all the same, and the
crop, aligned on the eyes, is upright.
"""

import threading
from dataclasses import dataclass, field

import cv2
import numpy as np

from core.errors import FaceError, InputError
from core.media import stretch_to_uint8, turn_clockwise

# ---- landmark indices ------------------------------------------------------------
# The 16 points of each eye's contour in MediaPipe's mesh. An eye centre is their mean:
# unlike the iris points (468-477) it does not move when the person looks sideways.
RIGHT_EYE_CONTOUR: tuple[int, ...] = (
    33, 7, 163, 144, 145, 153, 154, 155, 133, 173, 157, 158, 159, 160, 161, 246,
)  # fmt: skip
LEFT_EYE_CONTOUR: tuple[int, ...] = (
    263, 249, 390, 373, 374, 380, 381, 382, 362, 398, 384, 385, 386, 387, 388, 466,
)  # fmt: skip
N_LANDMARKS = 478
MOUTH = (13, 14)  # the mesh's inner lip midpoints, upper and lower
# BlazeFace's six keypoints: right eye, left eye, nose tip, mouth centre, right ear, left ear.
KEYPOINT_RIGHT_EYE, KEYPOINT_LEFT_EYE, KEYPOINT_MOUTH = 0, 1, 3

# ---- the canonical crop ----------------------------------------------------------
# Where the eye centres land in the model's crop, as fractions of its side. Measured with
# this module's own mesh on 150 CK+48 and 46 FER2013 crops: the median inter-ocular
# distance is 0.37 (CK+48) and 0.40 (FER2013) of the width, the eye line 0.40 and 0.39 of
# the height, centred. An aligned face therefore looks like the crops the models learnt
# from: the face fills the crop, brows to chin, little background.
CANONICAL_EYE_Y = 0.40
CANONICAL_EYE_DISTANCE = 0.39

# ---- what MediaPipe sees ---------------------------------------------------------
MAX_SIDE = 1280  # larger photos are shrunk for detection: a face in a group photo keeps > 40 px
MIN_SIDE = 256  # smaller pictures (48x48 crops) are enlarged: BlazeFace misses faces under ~80 px
PAD_FRACTION = 0.25  # enlarged crops also get a grey margin: a face that fills the frame is missed
TILE_SIDE = 640  # detection squares in the working image; see _tiles
MAX_FACES = 10
MIN_SCORE = 0.5
SURE_SCORE = 0.75  # below this, a detection counts only if the mesh finds a face there too
_MESH_CROP = 256  # side of the square a missed face is re-meshed in
MAX_UPRIGHT_ROLL = 45.0  # degrees: a face whose eye line is tilted more is lying sideways or upside down
TURN_MARGIN = 0.1  # a turned picture replaces an upright-looking face only if it is this much more confident
MIN_CROP_SIZE, MAX_CROP_SIZE = 16, 1024  # sides of the aligned crop, in pixels

NO_FACE_MESSAGE = (
    "No face was found in this picture. Use a frontal, well-lit photo in which the face is "
    "at least about 40 pixels wide and not hidden by hands, hair or a mask."
)


@dataclass(eq=False)
class Face:
    """One detected face, in the picture's pixel coordinates."""

    box: tuple[float, float, float, float]  # x, y, width, height
    score: float  # detector confidence, 0..1
    keypoints: np.ndarray  # 6 x 2 float32: BlazeFace's eyes, nose, mouth, ears
    landmarks: np.ndarray | None = None  # 478 x 2 float32 from the mesh; None when it failed

    @property
    def area(self) -> float:
        return self.box[2] * self.box[3]

    @property
    def center(self) -> tuple[float, float]:
        x, y, w, h = self.box
        return x + w / 2, y + h / 2

    def eye_centers(self) -> tuple[np.ndarray, np.ndarray]:
        """The (right, left) eye centres: from the mesh, else BlazeFace's eye keypoints."""
        if self.landmarks is not None:
            landmarks = self.landmarks
            return landmarks[list(RIGHT_EYE_CONTOUR)].mean(0), landmarks[list(LEFT_EYE_CONTOUR)].mean(0)
        return self.keypoints[KEYPOINT_RIGHT_EYE].copy(), self.keypoints[KEYPOINT_LEFT_EYE].copy()

    def mouth_center(self) -> np.ndarray:
        """The mouth's centre: from the mesh, else BlazeFace's mouth keypoint."""
        if self.landmarks is not None:
            return self.landmarks[list(MOUTH)].mean(0)
        return self.keypoints[KEYPOINT_MOUTH].copy()

    @property
    def roll(self) -> float:
        """The eye line's angle in degrees, -180..180: 0 for an upright face, 90 when the face
        lies with its top to the right of the picture, +-180 upside down (y points down)."""
        right, left = self.eye_centers()
        dx, dy = left - right
        return float(np.degrees(np.arctan2(dy, dx)))

    @property
    def upright(self) -> bool:
        """Whether the face stands upright: the eye line within 45 degrees of level (the
        person's right eye on the image's left) and the mouth below the eyes."""
        if abs(self.roll) > MAX_UPRIGHT_ROLL:
            return False
        right, left = self.eye_centers()
        eye_line = left - right
        down = np.array([-eye_line[1], eye_line[0]])  # the eye line turned 90 degrees clockwise
        return float((self.mouth_center() - (right + left) / 2) @ down) > 0


@dataclass(eq=False)
class AlignedFace:
    """The model's view of a face: a square crop with the eyes on canonical positions."""

    image: np.ndarray  # size x size uint8 (gray), or size x size x 3 (RGB)
    landmarks: np.ndarray | None  # 478 x 2 in crop pixels; None when there was no mesh
    matrix: np.ndarray  # 2 x 3 affine from the picture to the crop


@dataclass(eq=False)
class FaceResult:
    """What a page needs: the crop for the model, and which face of the picture it is."""

    crop: AlignedFace
    face: Face | None  # None for pre-aligned dataset crops, which skip detection
    others: list[Face] = field(default_factory=list)  # the faces not chosen, largest first
    image: np.ndarray | None = None  # the input picture, RGB, as given: the faces are in its pixels
    rotation: int = 0  # degrees clockwise the picture was turned to find the face upright: 0, 90, 180, 270

    @property
    def note(self) -> str | None:
        """One sentence for the user when the picture was turned, else None."""
        if not self.rotation:
            return None
        if self.rotation == 180:
            return "The face was upside down, so the picture was turned 180 degrees to find it."
        return f"The face was lying sideways, so the picture was turned {self.rotation} degrees clockwise to find it."


class FaceAnalyzer:
    """MediaPipe's face detectors and mesh, built once and shared.

    MediaPipe graphs are not thread-safe and Streamlit serves each session from its own
    thread, so every call runs under one lock.
    """

    def __init__(self, min_score: float = MIN_SCORE, max_faces: int = MAX_FACES) -> None:
        import mediapipe as mp  # slow to import; only code that detects faces pays for it

        detection, mesh = mp.solutions.face_detection, mp.solutions.face_mesh
        # Short range (model 0) is best on close-ups; full range (model 1) finds the small
        # faces of group photos. Both run; the full-range model only adds faces.
        self._detectors = (
            detection.FaceDetection(model_selection=0, min_detection_confidence=min_score),
            detection.FaceDetection(model_selection=1, min_detection_confidence=min_score),
        )
        self._mesh = mesh.FaceMesh(
            static_image_mode=True,
            max_num_faces=max_faces,
            refine_landmarks=True,
            min_detection_confidence=min_score,
        )
        self._lock = threading.Lock()
        self._closed = False

    def detect(self, image_rgb: np.ndarray) -> list[Face]:
        """Every face in the picture, largest first, with its 478 landmarks where the mesh found it."""
        image = _as_rgb(image_rgb)
        work, to_work = _working_image(image)
        with self._lock:
            if self._closed:
                raise RuntimeError("This FaceAnalyzer is closed.")
            found = self._detect(work)
            meshes = self._meshes(work) if found else []
            matched = _match_meshes([box for box, _, _ in found], meshes)
            for i, (box, _, _) in enumerate(found):
                if matched[i] is None:  # the mesh's own detector missed it: mesh a crop around it
                    matched[i] = self._mesh_around(work, box)
        back = cv2.invertAffineTransform(to_work)
        height, width = image.shape[:2]
        faces = []
        for (box, score, keypoints), mesh in zip(found, matched, strict=True):
            if mesh is None and score < SURE_SCORE:
                continue  # a weak detection that no mesh confirms: on noise, these are all false
            faces.append(
                Face(
                    box=_box_back(box, back, width, height),
                    score=score,
                    keypoints=_points_back(keypoints, back),
                    landmarks=None if mesh is None else _points_back(mesh, back),
                )
            )
        return sorted(faces, key=lambda face: face.area, reverse=True)

    def close(self) -> None:
        """Free MediaPipe's graphs. Safe to call twice."""
        with self._lock:
            if not self._closed:
                for graph in (*self._detectors, self._mesh):
                    graph.close()
                self._closed = True

    def __enter__(self) -> "FaceAnalyzer":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # The helpers below run under the lock, on the working image; their points are
    # "continuous" pixels (normalised coordinate x size), mapped back by `detect`.

    def _detect(self, work: np.ndarray) -> list[tuple[np.ndarray, float, np.ndarray]]:
        """Boxes, scores and keypoints of every face, once each."""
        short_range, full_range = self._detectors
        found: list[tuple[np.ndarray, float, np.ndarray]] = []
        passes = [(short_range, (0, 0, work.shape[1], work.shape[0]))]
        passes += [(full_range, tile) for tile in _tiles(work.shape[1], work.shape[0])]
        for detector, tile in passes:
            for box, score, keypoints in _run_detector(detector, work, tile):
                same = [i for i, (other, _, _) in enumerate(found) if _same_face(box, other)]
                if not same:
                    found.append((box, score, keypoints))
                elif score > found[same[0]][1]:  # seen before: keep the most confident view of it
                    found[same[0]] = (box, score, keypoints)
        return found

    def _meshes(self, work: np.ndarray) -> list[np.ndarray]:
        height, width = work.shape[:2]
        result = self._mesh.process(work)
        size = np.array([width, height], np.float32)
        return [mesh_points(face) * size for face in result.multi_face_landmarks or []]

    def _mesh_around(self, work: np.ndarray, box: np.ndarray) -> np.ndarray | None:
        """Mesh one face in a square crop around its box (small faces, crowded pictures)."""
        x, y, w, h = box
        side = 2.0 * max(w, h)
        scale = _MESH_CROP / side
        to_crop = np.array(
            [
                [scale, 0, _MESH_CROP / 2 - scale * (x + w / 2)],
                [0, scale, _MESH_CROP / 2 - scale * (y + h / 2)],
            ]
        )
        crop = cv2.warpAffine(work, _continuous(to_crop), (_MESH_CROP, _MESH_CROP), flags=cv2.INTER_LINEAR)
        crop_box = np.array(
            [_MESH_CROP / 2 - scale * w / 2, _MESH_CROP / 2 - scale * h / 2, scale * w, scale * h]
        )
        meshes = self._meshes(crop)
        mesh = _match_meshes([crop_box], meshes)[0]
        return None if mesh is None else _transform(mesh, cv2.invertAffineTransform(to_crop))


def _tiles(width: int, height: int) -> list[tuple[int, int, int, int]]:
    """The whole picture, then overlapping squares of it (x, y, w, h).

    BlazeFace sees its input at 128 or 192 px, so a 60-px face in a 1280-px group photo
    shrinks to 9 px and is lost. Squares half-overlapping each other show every face up
    to half a square wide in full in at least one of them, at a size the detector finds.
    """
    tiles = [(0, 0, width, height)]
    side = min(width, height, TILE_SIDE)
    if max(width, height) <= side * 1.25:
        return tiles  # the squares would be about the whole picture again
    step = side // 2
    xs = list(range(0, max(width - side, 0) + 1, step))
    ys = list(range(0, max(height - side, 0) + 1, step))
    xs += [width - side] if xs[-1] != width - side else []
    ys += [height - side] if ys[-1] != height - side else []
    return tiles + [(x, y, side, side) for y in ys for x in xs]


def _run_detector(detector, work: np.ndarray, tile: tuple[int, int, int, int]):
    """Detections in one tile, in working-image coordinates; faces cut by an inner tile edge are dropped."""
    x0, y0, w, h = tile
    height, width = work.shape[:2]
    region = np.ascontiguousarray(work[y0 : y0 + h, x0 : x0 + w])
    margin = 0.01 * w
    for detection in detector.process(region).detections or []:
        data = detection.location_data
        rel = data.relative_bounding_box
        box = np.array([x0 + rel.xmin * w, y0 + rel.ymin * h, rel.width * w, rel.height * h])
        cut = (
            (x0 > 0 and box[0] < x0 + margin)
            or (y0 > 0 and box[1] < y0 + margin)
            or (x0 + w < width and box[0] + box[2] > x0 + w - margin)
            or (y0 + h < height and box[1] + box[3] > y0 + h - margin)
        )
        if cut:
            continue  # another tile holds this face whole
        keypoints = np.array([[x0 + k.x * w, y0 + k.y * h] for k in data.relative_keypoints], np.float32)
        yield box, float(detection.score[0]), keypoints


def choose_face(faces: list[Face], how: str = "largest") -> tuple[Face, list[Face]]:
    """Pick the face to analyse: `largest` or most confident (`score`). Returns (chosen, others).

    Raises FaceError when there is none.
    """
    if not faces:
        raise FaceError(NO_FACE_MESSAGE)
    keys = {"largest": lambda face: face.area, "score": lambda face: face.score}
    if how not in keys:
        raise ValueError(f"how must be one of {', '.join(keys)}, not {how!r}")
    ranked = sorted(faces, key=keys[how], reverse=True)
    return ranked[0], ranked[1:]


def canonical_eye_positions(
    size: int = 48, eye_y: float = CANONICAL_EYE_Y, eye_distance: float = CANONICAL_EYE_DISTANCE
) -> np.ndarray:
    """The (right, left) eye centres of an aligned crop, in crop pixels (2 x 2)."""
    fractions = np.array([[0.5 - eye_distance / 2, eye_y], [0.5 + eye_distance / 2, eye_y]])
    return fractions * size - 0.5  # fractions of the side are continuous; pixels are centred


def align_face(
    image_rgb: np.ndarray,
    face: Face,
    size: int = 48,
    gray: bool = True,
    *,
    eye_y: float = CANONICAL_EYE_Y,
    eye_distance: float = CANONICAL_EYE_DISTANCE,
) -> AlignedFace:
    """Rotate, scale and shift the picture so the eyes land on the canonical positions.

    A similarity transform (no shear, no stretch): the face keeps its proportions, which
    is what expression features depend on.
    """
    image = _as_rgb(image_rgb)
    source = np.stack(face.eye_centers()).astype(np.float64)
    matrix = _similarity(source, canonical_eye_positions(size, eye_y, eye_distance))
    crop = _warp(image, matrix, size)
    if gray:
        crop = cv2.cvtColor(crop, cv2.COLOR_RGB2GRAY)
    landmarks = None if face.landmarks is None else _transform(face.landmarks, matrix)
    return AlignedFace(image=crop, landmarks=landmarks, matrix=matrix)


def prepare_face(
    image_rgb: np.ndarray,
    analyzer: FaceAnalyzer | None,
    size: int = 48,
    gray: bool = True,
    aligned: bool = False,
) -> FaceResult:
    """The one call pages make: a picture in, the model's crop out.

    `aligned=True` is for dataset crops that already are the model's view (FER2013,
    CK+48): they are only resized and made gray, with no detection. Otherwise the
    largest face is found and aligned; FaceError says so when there is none. A face
    lying sideways or upside down is found in the picture turned upright (see
    `detect_upright`); the result's `rotation` and `note` say so.
    """
    check_crop_size(size)
    image = _as_rgb(image_rgb)
    if aligned:
        return FaceResult(crop=_resize_aligned(image, size, gray), face=None, others=[], image=image)
    if analyzer is None:
        raise ValueError("prepare_face needs a FaceAnalyzer unless the picture is already aligned")
    faces, rotation = detect_upright(image, analyzer)
    face, others = choose_face(faces)
    return FaceResult(
        crop=align_face(image, face, size, gray), face=face, others=others, image=image, rotation=rotation
    )


def check_crop_size(size: int) -> None:
    """Refuse a crop side outside MIN_CROP_SIZE..MAX_CROP_SIZE with one sentence."""
    if not isinstance(size, int | np.integer) or not MIN_CROP_SIZE <= size <= MAX_CROP_SIZE:
        raise InputError(
            f"The crop size must be a whole number of pixels from {MIN_CROP_SIZE} to {MAX_CROP_SIZE}, not {size}."
        )


def detect_upright(image_rgb: np.ndarray, analyzer: FaceAnalyzer) -> tuple[list[Face], int]:
    """The faces of a picture, found where they stand upright: (faces, rotation).

    BlazeFace and the mesh are made for upright faces: a face lying sideways is often found
    with a tilted eye line, an upside-down one is often fitted as if it were upright, with a
    low score, or not at all. So when the largest face is not upright (`Face.upright`) or
    not sure (score under SURE_SCORE), or there is none, the picture is also searched
    turned by 90, 180 and 270 degrees clockwise (the turn its eye line suggests first).
    The turn whose largest face is upright and most confident wins; the unturned picture
    keeps it unless a turn is TURN_MARGIN more confident. `rotation` is that clockwise turn
    in degrees (0 when none). The faces are always in the given picture's own pixels (found
    in the turned picture, their points are turned back), so `align_face` on the picture
    gives the upright crop, and the face can be used on other frames of the same clip.
    """
    image = _as_rgb(image_rgb)
    faces = analyzer.detect(image)
    if faces and faces[0].upright and faces[0].score >= SURE_SCORE:
        return faces, 0  # the usual case: one detection
    best = (faces[0].score + TURN_MARGIN, 0, faces) if faces and faces[0].upright else None
    order = [90, 270, 180]
    if faces:  # the turn that levels the eye line first: a roll of -90 needs 90 clockwise
        hint = _right_angle_of(-faces[0].roll)
        order = [hint, *(turn for turn in order if turn != hint)] if hint else order
    for turn in order:
        turned = np.ascontiguousarray(turn_clockwise(image, turn))
        found = analyzer.detect(turned)
        if not found or not found[0].upright:
            continue
        if best is None or found[0].score > best[0]:
            best = (found[0].score, turn, found)
        if found[0].score >= SURE_SCORE and best[1] == turn:
            break  # sure and upright: no other turn can be better by enough to matter
    if best is None:
        return faces, 0  # nothing upright anywhere: the faces as found (alignment levels the eyes)
    _, rotation, found = best
    height, width = image.shape[:2]
    return [_turned_back(face, rotation, width, height) for face in found], rotation


def _right_angle_of(degrees: float) -> int:
    return int(round(degrees / 90.0)) % 4 * 90


def _turned_back(face: Face, turn: int, width: int, height: int) -> Face:
    """A face found in the picture turned `turn` degrees clockwise, in the unturned picture's
    pixels (`width` x `height`). Points are pixel centres; the box's corners are continuous."""
    if turn == 0:
        return face

    def back(points: np.ndarray, centres: bool) -> np.ndarray:
        u, v = points[:, 0], points[:, 1]
        w, h = (width - 1, height - 1) if centres else (width, height)
        x, y = {90: (v, h - u), 180: (w - u, h - v), 270: (w - v, u)}[turn]
        return np.stack([x, y], axis=1).astype(np.float32)

    bx, by, bw, bh = face.box
    corners = back(np.array([[bx, by], [bx + bw, by + bh]], np.float64), centres=False)
    (x0, y0), (x1, y1) = corners.min(0), corners.max(0)
    return Face(
        box=(float(x0), float(y0), float(x1 - x0), float(y1 - y0)),
        score=face.score,
        keypoints=back(face.keypoints, centres=True),
        landmarks=None if face.landmarks is None else back(face.landmarks, centres=True),
    )


def draw_faces(image_rgb: np.ndarray, faces: list[Face], chosen: int | None = 0) -> np.ndarray:
    """A copy of the picture with each face's box and landmarks drawn; `faces[chosen]` in green."""
    canvas = _as_rgb(image_rgb).copy()
    thickness = max(1, round(max(canvas.shape[:2]) / 400))
    for i, face in enumerate(faces):
        color = (40, 220, 60) if i == chosen else (255, 160, 0)
        x, y, w, h = face.box
        cv2.rectangle(
            canvas, (round(x), round(y)), (round(x + w), round(y + h)), color, thickness, cv2.LINE_AA
        )
        if face.landmarks is not None:
            radius = max(1, round(w / 200))
            dot = (0, 230, 255) if i == chosen else color
            for px, py in np.round(face.landmarks).astype(int):
                cv2.circle(canvas, (int(px), int(py)), radius, dot, -1, cv2.LINE_AA)
    return canvas


def draw_landmarks(image: np.ndarray, landmarks: np.ndarray | None, scale: int = 6) -> np.ndarray:
    """A small crop enlarged `scale` times (sharp pixels) with its landmarks as dots."""
    canvas = cv2.resize(_as_rgb(image), None, fx=scale, fy=scale, interpolation=cv2.INTER_NEAREST)
    if landmarks is not None:
        # Pixel centres sit at integer coordinates, so a point maps to (p + 0.5) * scale - 0.5.
        for px, py in np.round((landmarks + 0.5) * scale - 0.5).astype(int):
            cv2.circle(canvas, (int(px), int(py)), max(1, scale // 4), (0, 230, 255), -1, cv2.LINE_AA)
    return canvas


# ---- geometry ----------------------------------------------------------------------


def _as_rgb(image: np.ndarray) -> np.ndarray:
    """Accept RGB, RGBA or gray uint8, and 16-bit gray (stretched to 8 bits by the range it
    uses, like core.media); refuse anything else with a clear message."""
    image = np.asarray(image)
    if image.ndim == 3 and image.shape[2] == 1:
        image = image[..., 0]  # gray with a channel axis
    if image.dtype == np.uint16 and image.ndim == 2 and image.size:
        image = stretch_to_uint8(image)
    if image.dtype != np.uint8:
        raise InputError(f"Expected an 8-bit image (or 16-bit gray), got {image.dtype}.")
    if image.size == 0:
        raise InputError("The image is empty.")
    if image.ndim == 2:
        return np.ascontiguousarray(np.repeat(image[..., None], 3, axis=2))
    if image.ndim == 3 and image.shape[2] in (3, 4):
        return np.ascontiguousarray(image[..., :3])
    raise InputError(f"Expected an RGB or gray image, got an array of shape {image.shape}.")


def _working_image(image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The picture MediaPipe sees, and the 2x3 affine (continuous pixels) from the original to it."""
    height, width = image.shape[:2]
    scale = min(1.0, MAX_SIDE / max(height, width))
    if min(height, width) * scale < MIN_SIDE:
        scale = min(MIN_SIDE / min(height, width), MAX_SIDE / max(height, width))
    new_w, new_h = max(1, round(width * scale)), max(1, round(height * scale))
    work = image
    if (new_w, new_h) != (width, height):
        interpolation = cv2.INTER_AREA if scale < 1 else cv2.INTER_CUBIC
        work = cv2.resize(image, (new_w, new_h), interpolation=interpolation)
    pad = round(PAD_FRACTION * MIN_SIDE) if scale > 1 else 0
    if pad:
        work = cv2.copyMakeBorder(work, pad, pad, pad, pad, cv2.BORDER_CONSTANT, value=(128, 128, 128))
    to_work = np.array([[new_w / width, 0, pad], [0, new_h / height, pad]])
    return np.ascontiguousarray(work), to_work


def _continuous(matrix: np.ndarray) -> np.ndarray:
    """An affine between continuous coordinates, rewritten for OpenCV's centred pixels."""
    out = matrix.astype(np.float64).copy()
    out[:, 2] += out[:, :2].sum(1) * 0.5 - 0.5  # x_c = A (x + 0.5) + t - 0.5
    return out


def _transform(points: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    return (points @ matrix[:, :2].T + matrix[:, 2]).astype(np.float32)


def _points_back(points: np.ndarray, back: np.ndarray) -> np.ndarray:
    """Working-image continuous coordinates -> the picture's OpenCV pixels."""
    return _transform(points, back) - np.float32(0.5)


def _box_back(
    box: np.ndarray, back: np.ndarray, width: int, height: int
) -> tuple[float, float, float, float]:
    x, y, w, h = box
    corners = _transform(np.array([[x, y], [x + w, y + h]]), back)
    (x0, y0), (x1, y1) = np.clip(corners, 0, [width, height])  # the box stays inside the picture
    return float(x0), float(y0), float(x1 - x0), float(y1 - y0)


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    ix = max(0.0, min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = a[2] * a[3] + b[2] * b[3] - inter
    return inter / union if union > 0 else 0.0


def _contains(box: np.ndarray, point: np.ndarray) -> bool:
    return box[0] <= point[0] <= box[0] + box[2] and box[1] <= point[1] <= box[1] + box[3]


def _same_face(a: np.ndarray, b: np.ndarray) -> bool:
    """Two detections of one face: they overlap, or one's centre lies in the other."""
    centre = lambda box: box[:2] + box[2:] / 2  # noqa: E731
    return _iou(a, b) > 0.3 or _contains(a, centre(b)) or _contains(b, centre(a))


def mesh_points(landmarks) -> np.ndarray:
    """The (x, y) of each point of a MediaPipe NormalizedLandmarkList, (478, 2) float32, normalised.

    Read from the list's serialised bytes, where each point of x, y and z alone is 17 bytes (a tag
    and a length, then three tagged float32): seven times faster than a Python loop over the
    points, which was a tenth of a clip's tracking. A list laid out otherwise takes the loop.
    """
    rows = np.frombuffer(landmarks.SerializeToString(), np.uint8)
    if len(rows) == 17 * len(landmarks.landmark):
        rows = rows.reshape(-1, 17)
        if (rows[:, [0, 1, 2, 7, 12]] == [0x0A, 15, 0x0D, 0x15, 0x1D]).all():
            return rows[:, [3, 4, 5, 6, 8, 9, 10, 11]].copy().view("<f4")
    return np.array([[p.x, p.y] for p in landmarks.landmark], np.float32)


def _match_meshes(boxes: list[np.ndarray], meshes: list[np.ndarray]) -> list:
    """For each box, its mesh (or None): greedy by overlap, the mesh's centre inside the box."""
    pairs = []
    for i, box in enumerate(boxes):
        for j, mesh in enumerate(meshes):
            if _contains(box, mesh.mean(0)):
                low, high = mesh.min(0), mesh.max(0)
                pairs.append((_iou(box, np.concatenate([low, high - low])), i, j))
    matched: list = [None] * len(boxes)
    used: set[int] = set()
    for _, i, j in sorted(pairs, reverse=True):
        if matched[i] is None and j not in used:
            matched[i] = meshes[j]
            used.add(j)
    return matched


def _similarity(source: np.ndarray, target: np.ndarray) -> np.ndarray:
    """The rotation + uniform scale + translation taking two source points onto two targets."""
    src, dst = source[1] - source[0], target[1] - target[0]
    norm = float(src @ src)
    if norm < 1e-6:
        raise FaceError("The eyes of this face could not be told apart; try a larger, frontal face.")
    # As complex numbers: dst = z * src, with z = a + ib = scale * e^(i angle).
    a = (src[0] * dst[0] + src[1] * dst[1]) / norm
    b = (src[0] * dst[1] - src[1] * dst[0]) / norm
    linear = np.array([[a, -b], [b, a]])
    return np.hstack([linear, (target[0] - linear @ source[0])[:, None]])


def _warp(image: np.ndarray, matrix: np.ndarray, size: int) -> np.ndarray:
    """Warp into a size x size crop without aliasing when the face is shrunk a lot.

    warpAffine samples one source pixel per output pixel, so a 600-px face shrunk to 48 px
    would alias; it is warped at k times the size and then area-averaged down.
    """
    scale = float(np.sqrt(abs(np.linalg.det(matrix[:, :2]))))
    k = int(np.clip(round(1.0 / max(scale, 1e-6)), 1, 8))
    big = matrix * k
    big[:, 2] += (k - 1) / 2  # keeps each block of k x k pixels centred on its crop pixel
    # Replicated edges rather than black: a face near the border keeps a plausible background.
    crop = cv2.warpAffine(
        image, big, (size * k, size * k), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE
    )
    if k > 1:
        crop = cv2.resize(crop, (size, size), interpolation=cv2.INTER_AREA)
    return crop


def _resize_aligned(image: np.ndarray, size: int, gray: bool) -> AlignedFace:
    height, width = image.shape[:2]
    crop = image
    if (height, width) != (size, size):
        interpolation = cv2.INTER_AREA if size < min(height, width) else cv2.INTER_CUBIC
        crop = cv2.resize(image, (size, size), interpolation=interpolation)
    if gray:
        crop = cv2.cvtColor(crop, cv2.COLOR_RGB2GRAY)
    matrix = _continuous(np.array([[size / width, 0, 0], [0, size / height, 0]]))
    return AlignedFace(image=crop, landmarks=None, matrix=matrix)
