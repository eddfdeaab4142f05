"""Faces drawn by the project itself: the embedded default dataset.

A fresh machine with no data configured still has faces to show. Every face here is
drawn from scratch with OpenCV primitives (never copied or traced from a dataset): four
made-up identities, each showing the seven FER2013 expressions. Each expression is drawn
by moving the face parts that its FACS Action Units move (Ekman & Friesen's prototypes),
so the AUs stored with a sample are the ground truth of the face we drew.

The faces are not photographs, but MediaPipe detects and meshes every one of them, so
they go through the same detection -> alignment -> model path as a user's photo.
"""

from dataclasses import dataclass
from functools import lru_cache, partial

import cv2
import numpy as np

from core.datasets.sample import Sample
from core.errors import DatasetError
from core.labels import FER2013_INDEX

GENERATED_LABELS: tuple[str, ...] = tuple(FER2013_INDEX.values())

# The Action Units that define each prototypical expression (EMFACS prototypes, as in
# the CK+ paper, Lucey et al. 2010, table 2). These are what the drawing moves:
#   1 inner brow raiser, 2 outer brow raiser, 4 brow lowerer, 5 upper lid raiser,
#   6 cheek raiser, 7 lid tightener, 9 nose wrinkler, 12 lip corner puller,
#   15 lip corner depressor, 16 lower lip depressor, 20 lip stretcher, 23 lip tightener,
#   26 jaw drop.
EXPRESSION_AUS: dict[str, frozenset[int]] = {
    "angry": frozenset({4, 5, 7, 23}),
    "disgust": frozenset({9, 15, 16}),
    "fear": frozenset({1, 2, 4, 5, 20, 26}),
    "happy": frozenset({6, 12}),
    "sad": frozenset({1, 4, 15}),
    "surprise": frozenset({1, 2, 5, 26}),
    "neutral": frozenset(),
}

DEFAULT_SIZE = 256
_DRAW_SIZE = 256  # faces are drawn at this size, then resized to the size asked for
_SHIFT = 4  # cv2 fixed-point bits: points are placed to 1/16 pixel, so small moves show
_TRAIN_SUBJECTS = ("G01", "G02", "G03")  # G04 is the test split: subject-independent


@dataclass(frozen=True)
class _Identity:
    """What stays the same across one person's expressions."""

    subject: str
    skin: tuple[int, int, int]  # RGB
    hair: tuple[int, int, int]
    iris: tuple[int, int, int]
    background: tuple[int, int, int]
    face_width: float  # horizontal semi-axis of the head, as a fraction of the picture
    eye_scale: float
    tilt_deg: float  # a small head roll, so alignment has something to undo
    shift: tuple[float, float]  # where the head sits, as a fraction of the picture
    long_hair: bool


IDENTITIES: tuple[_Identity, ...] = (
    _Identity(
        "G01", skin=(224, 180, 148), hair=(72, 48, 32), iris=(92, 64, 40), background=(74, 92, 122),
        face_width=0.29, eye_scale=1.00, tilt_deg=4.0, shift=(0.01, 0.0), long_hair=False,
    ),
    _Identity(
        "G02", skin=(196, 140, 102), hair=(28, 24, 24), iris=(60, 40, 28), background=(86, 110, 92),
        face_width=0.31, eye_scale=0.92, tilt_deg=-5.0, shift=(-0.02, 0.01), long_hair=True,
    ),
    _Identity(
        "G03", skin=(128, 86, 62), hair=(22, 20, 20), iris=(40, 28, 22), background=(176, 176, 182),
        face_width=0.30, eye_scale=1.06, tilt_deg=2.0, shift=(0.0, -0.01), long_hair=False,
    ),
    _Identity(
        "G04", skin=(238, 204, 180), hair=(168, 108, 58), iris=(70, 110, 140), background=(52, 72, 84),
        face_width=0.27, eye_scale=1.10, tilt_deg=-3.0, shift=(0.02, 0.0), long_hair=True,
    ),
)  # fmt: skip


@dataclass(frozen=True)
class _Pose:
    """How far each face part moves, in units the drawing turns into distances."""

    brow_inner_up: float = 0.0  # AU1
    brow_outer_up: float = 0.0  # AU2
    brow_down: float = 0.0  # AU4 (and a little from AU9)
    brows_together: float = 0.0  # AU4
    upper_lid: float = 1.0  # eye opening above the centre: AU5 widens
    lower_lid_up: float = 0.0  # AU6, AU7 push the lower lid up
    corner_up: float = 0.0  # AU12 up, AU15 down
    mouth_width: float = 1.0  # AU12, AU20 widen; AU23, AU26 narrow
    jaw_drop: float = 0.0  # AU26 parts the lips wide
    smile_open: float = 0.0  # AU12 parts them a little, showing the upper teeth
    lower_lip_down: float = 0.0  # AU16
    lip_thickness: float = 1.0  # AU23 presses the lips thin
    nose_wrinkle: bool = False  # AU9
    glabella_lines: bool = False  # AU4
    crow_feet: bool = False  # AU6
    nasolabial: bool = False  # AU12, AU9 deepen the folds from nose to mouth
    upper_teeth: bool = False
    mouth_stretched: bool = False  # AU20


def _pose(aus: frozenset[int]) -> _Pose:
    """Turn a set of AUs into the movements that draw them."""

    def has(au: int) -> float:
        return 1.0 if au in aus else 0.0

    return _Pose(
        brow_inner_up=has(1),
        brow_outer_up=has(2),
        brow_down=has(4) + 0.5 * has(9),
        brows_together=has(4),
        upper_lid=1.0 + 0.85 * has(5),
        lower_lid_up=0.6 * has(6) + 0.4 * has(7),
        corner_up=has(12) - 0.9 * has(15) - 0.2 * has(20),
        mouth_width=1.0 + 0.2 * has(12) + 0.3 * has(20) - 0.2 * has(23) - 0.12 * has(26) * (1 - has(20)),
        jaw_drop=has(26),
        smile_open=has(12),
        lower_lip_down=has(16),
        lip_thickness=1.0 - 0.6 * has(23),
        nose_wrinkle=9 in aus,
        glabella_lines=4 in aus,
        crow_feet=6 in aus,
        nasolabial=12 in aus or 9 in aus,
        upper_teeth=12 in aus or 26 in aus,
        mouth_stretched=20 in aus,
    )


def generate_face(label: str, size: int = DEFAULT_SIZE, seed: int = 0) -> np.ndarray:
    """Draw one face showing `label` as RGB uint8 (size x size x 3).

    `seed` picks the identity (seed % 4) and the pixel noise; the same arguments always
    give the same picture.
    """
    if label not in EXPRESSION_AUS:
        raise DatasetError(f"No generated face for '{label}'; choose one of: {', '.join(EXPRESSION_AUS)}.")
    if size < 16:
        raise DatasetError(f"A generated face needs at least 16 pixels; {size} was asked for.")
    return _draw_cached(label, int(size), int(seed)).copy()


def read_generated(split: str | None = None) -> list[Sample]:
    """The embedded dataset: 4 identities x 7 expressions = 28 samples, in a fixed order.

    Identities G01-G03 form the `train` split and G04 the `test` split, so a split never
    shares a person with the other.
    """
    if split not in (None, "train", "test"):
        raise DatasetError(f"The generated dataset has the splits train and test, not '{split}'.")
    samples = []
    for label in GENERATED_LABELS:
        for seed, identity in enumerate(IDENTITIES):
            subject_split = "train" if identity.subject in _TRAIN_SUBJECTS else "test"
            if split is not None and split != subject_split:
                continue
            samples.append(
                Sample(
                    source_id=f"generated/{label}_{seed + 1:02d}",
                    dataset="generated",
                    label=label,
                    subject=identity.subject,
                    aus=EXPRESSION_AUS[label],
                    split=subject_split,
                    aligned=False,
                    load=partial(generate_face, label, DEFAULT_SIZE, seed),
                )
            )
    return samples


@lru_cache(maxsize=256)
def _draw_cached(label: str, size: int, seed: int) -> np.ndarray:
    identity = IDENTITIES[seed % len(IDENTITIES)]
    rng = np.random.default_rng([seed, GENERATED_LABELS.index(label)])
    image = _draw(identity, _pose(EXPRESSION_AUS[label]), rng)
    if size != _DRAW_SIZE:
        interpolation = cv2.INTER_AREA if size < _DRAW_SIZE else cv2.INTER_CUBIC
        image = cv2.resize(image, (size, size), interpolation=interpolation)
    image.flags.writeable = False  # cached: callers get a copy
    return image


# ---- drawing -----------------------------------------------------------------------
# All positions are fractions of the picture (0..1), x to the right, y down, for an
# upright head centred at (0.5, 0.53); the tilt and shift are applied at the end.

_CX, _CY = 0.5, 0.53
_EYE_Y = 0.47
_BROW_Y = 0.405
_NOSE_Y = 0.605
_MOUTH_Y = 0.705
_GRID = np.mgrid[0:_DRAW_SIZE, 0:_DRAW_SIZE].astype(np.float32) / _DRAW_SIZE  # (y, x) of each pixel


def _pts(xy: np.ndarray) -> np.ndarray:
    """Fractions -> cv2 fixed-point pixel coordinates."""
    return np.round(np.asarray(xy, dtype=np.float64) * _DRAW_SIZE * (1 << _SHIFT)).astype(np.int32)


def _poly(image: np.ndarray, xy: np.ndarray, color, thickness: int = 0, closed: bool = False) -> None:
    """Fill a polygon (thickness 0) or draw a polyline, anti-aliased."""
    points = [_pts(xy).reshape(-1, 1, 2)]
    if thickness == 0:
        cv2.fillPoly(image, points, color, cv2.LINE_AA, _SHIFT)
    else:
        cv2.polylines(image, points, closed, color, thickness, cv2.LINE_AA, _SHIFT)


def _ellipse(image: np.ndarray, center, axes, color, thickness: int = -1, start=0, end=360) -> None:
    c = tuple(int(v) for v in _pts(center))
    a = tuple(int(v) for v in _pts(axes))
    cv2.ellipse(image, c, a, 0, start, end, color, thickness, cv2.LINE_AA, _SHIFT)


def _shade(color, factor: float) -> tuple[int, int, int]:
    return tuple(int(np.clip(c * factor, 0, 255)) for c in color)


def _mix(a, b, t: float) -> tuple[int, int, int]:
    return tuple(int(round((1 - t) * x + t * y)) for x, y in zip(a, b, strict=True))


def _draw(identity: _Identity, pose: _Pose, rng: np.random.Generator) -> np.ndarray:
    image = _background_and_head(identity, pose)
    for side in (-1, 1):  # -1: the eye on the image's left (the person's right)
        _eye(image, identity, pose, side)
        _brow(image, identity, pose, side)
    _nose(image, identity, pose)
    _mouth(image, identity, pose)
    return _finish(image, identity, rng)


def _background_and_head(identity: _Identity, pose: _Pose) -> np.ndarray:
    s = _DRAW_SIZE
    yy, xx = _GRID
    gradient = (0.8 + 0.35 * yy[:, :1])[..., None]  # darker at the top, like a lit backdrop
    image = (np.asarray(identity.background, np.float32) * gradient).clip(0, 255).astype(np.uint8)
    image = np.ascontiguousarray(np.broadcast_to(image, (s, s, 3)))
    skin, width = identity.skin, identity.face_width
    head_h = 0.40 + 0.02 * pose.jaw_drop  # the jaw drop lengthens the face
    if identity.long_hair:  # hair that falls behind the head to the shoulders
        _ellipse(image, (_CX, _CY + 0.05), (width + 0.06, 0.47), identity.hair)
    _poly(
        image,
        np.array([[_CX - 0.13, 0.8], [_CX + 0.13, 0.8], [_CX + 0.16, 1.0], [_CX - 0.16, 1.0]]),
        _shade(skin, 0.78),
    )
    for side in (-1, 1):  # ears
        _ellipse(image, (_CX + side * width * 0.98, _EYE_Y + 0.04), (0.035, 0.065), _shade(skin, 0.85))
    # The head: an ellipse lit from the upper left, so it reads as a rounded surface.
    cy = _CY + 0.01 * pose.jaw_drop
    d = ((xx - _CX) / width) ** 2 + ((yy - cy) / head_h) ** 2
    light = np.clip(1.08 - 0.3 * d - 0.25 * (xx - _CX + 0.05) ** 2 / width**2 * 0.5, 0.55, 1.1)
    inside = (d < 1)[..., None]
    head = np.asarray(skin, np.float32) * light[..., None]
    image = np.where(inside, head.clip(0, 255), image).astype(np.uint8)
    # Hair: a cap over the top of the head with a hairline above the brows.
    _ellipse(image, (_CX, _CY - 0.22), (width + 0.015, 0.215), identity.hair, start=180, end=360)
    _ellipse(image, (_CX, _CY - 0.22), (width + 0.015, 0.03), identity.hair, start=0, end=180)
    return image


def _eye(image: np.ndarray, identity: _Identity, pose: _Pose, side: int) -> None:
    k = identity.eye_scale
    ex, ey = _CX + side * 0.37 * identity.face_width, _EYE_Y
    half_w = 0.055 * k
    up = 0.021 * k * pose.upper_lid
    down = 0.017 * k * (1.0 - pose.lower_lid_up)
    t = np.linspace(-1, 1, 25)
    bulge = (1 - t**2) ** 0.8
    upper = np.stack([ex + half_w * t, ey - up * bulge - 0.002 * t * side], axis=1)
    lower = np.stack([ex + half_w * t[::-1], ey + down * bulge[::-1] + 0.002], axis=1)
    almond = np.concatenate([upper, lower])
    # Sclera, iris and pupil are drawn on a copy and kept inside the almond only.
    eye = image.copy()
    _poly(eye, almond, (236, 232, 226))
    _ellipse(eye, (ex, ey), (0.02 * k, 0.02 * k), identity.iris)
    _ellipse(eye, (ex, ey), (0.009 * k, 0.009 * k), (12, 10, 10))
    _ellipse(eye, (ex - 0.005, ey - 0.006), (0.003, 0.003), (250, 250, 250))
    mask = np.zeros(image.shape[:2], np.uint8)
    _poly(mask, almond, 255)
    x0, y0, w, h = cv2.boundingRect(mask)  # blend only around the eye: it is most of the drawing time
    box = np.s_[y0 : y0 + h, x0 : x0 + w]
    alpha = (mask[box].astype(np.float32) / 255)[..., None]
    image[box] = (eye[box] * alpha + image[box] * (1 - alpha)).astype(np.uint8)
    _poly(image, upper, (30, 22, 20), thickness=3)  # upper lid and lashes
    _poly(image, lower, _shade(identity.skin, 0.6), thickness=1)
    crease = upper.copy()
    crease[:, 1] -= 0.012 * k
    _poly(image, crease[3:-3], _shade(identity.skin, 0.75), thickness=1)
    wrinkle = _shade(identity.skin, 0.55)
    if pose.crow_feet:  # AU6: wrinkles fan out from the outer corner; the cheek bulges up
        corner = np.array([ex + side * (half_w + 0.006), ey])
        for angle in (-0.4, 0.0, 0.4):
            direction = np.array([side * np.cos(angle), np.sin(angle)])
            _poly(image, np.array([corner, corner + 0.035 * direction]), wrinkle, thickness=2)
        cheek = np.array([[ex - 0.045, ey + 0.075], [ex, ey + 0.055], [ex + 0.045, ey + 0.075]])
        _poly(image, cheek, _shade(identity.skin, 0.7), thickness=2)
    if pose.lower_lid_up > 0:  # the raised lower lid bulges below the eye
        bag = lower.copy()
        bag[:, 1] += 0.013
        _poly(image, bag[4:-4], wrinkle, thickness=2)


def _brow(image: np.ndarray, identity: _Identity, pose: _Pose, side: int) -> None:
    ex = _CX + side * 0.37 * identity.face_width
    inner_x = ex - side * (0.045 + 0.012 * pose.brows_together)
    outer_x = ex + side * 0.062
    down = 0.022 * pose.brow_down
    inner_y = _BROW_Y + 0.012 - 0.05 * pose.brow_inner_up + down + 0.008 * pose.brows_together
    outer_y = _BROW_Y + 0.01 - 0.04 * pose.brow_outer_up + 0.6 * down
    # AU1 alone lifts the inner end (the oblique "sad" brow); AU2 lifts the arch with it.
    peak_y = _BROW_Y - 0.008 - 0.012 * pose.brow_inner_up - 0.03 * pose.brow_outer_up + 0.8 * down
    t = np.linspace(0, 1, 15)[:, None]
    start, peak, end = (
        np.array([inner_x, inner_y]),
        np.array([0.45 * inner_x + 0.55 * outer_x, peak_y]),
        np.array([outer_x, outer_y]),
    )
    curve = (1 - t) ** 2 * start + 2 * (1 - t) * t * peak + t**2 * end  # a quadratic Bezier arch
    color = _mix(identity.hair, (20, 16, 14), 0.5)
    _poly(image, curve[:9], color, thickness=7)
    _poly(image, curve[8:], color, thickness=5)
    if pose.glabella_lines:  # AU4: vertical furrows between the lowered brows
        x = _CX + side * 0.012
        _poly(
            image,
            np.array([[x, _BROW_Y + 0.0], [x - side * 0.003, _BROW_Y + 0.035]]),
            _shade(identity.skin, 0.65),
            2,
        )


def _nose(image: np.ndarray, identity: _Identity, pose: _Pose) -> None:
    line = _shade(identity.skin, 0.72)
    lift = 0.01 if pose.nose_wrinkle else 0.0  # AU9 pulls the nose wings up
    wing = 0.03 + (0.006 if pose.nose_wrinkle else 0.0)
    _poly(
        image,
        np.array([[_CX - 0.018, _EYE_Y + 0.02], [_CX - 0.022, _NOSE_Y - 0.03]]),
        _shade(identity.skin, 0.85),
        2,
    )
    _ellipse(image, (_CX, _NOSE_Y - lift), (wing, 0.016), line, thickness=2, start=10, end=170)
    for side in (-1, 1):
        _ellipse(
            image, (_CX + side * 0.016, _NOSE_Y + 0.004 - lift), (0.009, 0.005), _shade(identity.skin, 0.45)
        )
        _ellipse(
            image,
            (_CX + side * wing, _NOSE_Y - 0.008 - lift),
            (0.012, 0.016),
            line,
            2,
            90 - side * 90,
            270 - side * 90,
        )
    if pose.nose_wrinkle:  # AU9: horizontal wrinkles across the bridge of the nose
        for i, y in enumerate((_EYE_Y + 0.02, _EYE_Y + 0.035, _EYE_Y + 0.05)):
            w = 0.022 - 0.003 * i
            arc = np.array([[_CX - w, y + 0.004], [_CX, y], [_CX + w, y + 0.004]])
            _poly(image, arc, _shade(identity.skin, 0.5), thickness=2)


def _mouth(image: np.ndarray, identity: _Identity, pose: _Pose) -> None:
    half_w = 0.07 * pose.mouth_width
    corner_dy = -0.04 * pose.corner_up  # up is negative y
    gap = 0.07 * pose.jaw_drop + 0.022 * pose.smile_open + 0.02 * pose.lower_lip_down  # lips parted
    t = np.linspace(-1, 1, 31)
    mid = 1 - t**2
    slit = _MOUTH_Y + corner_dy * t**2
    opening = mid**0.5 if pose.mouth_stretched else mid  # AU20 pulls the opening into a wide slot
    upper_inner = slit - 0.25 * gap * opening
    lower_inner = slit + 0.75 * gap * opening
    upper_outer = upper_inner - 0.016 * pose.lip_thickness * mid**0.6 - 0.004 * mid
    lower_outer = lower_inner + 0.02 * pose.lip_thickness * mid**0.6
    x = _CX + half_w * t
    lip = _mix(_shade(identity.skin, 0.75), (150, 50, 60), 0.45)
    if gap > 0:
        _poly(image, _band(x, upper_inner, lower_inner), (58, 22, 28))
        if pose.upper_teeth:
            teeth = _band(x[2:-2], upper_inner[2:-2], (upper_inner + min(0.02, 0.5 * gap) * mid)[2:-2])
            _poly(image, teeth, (238, 234, 222))
        if pose.lower_lip_down:  # AU16 shows the lower teeth
            _poly(image, _band(x, lower_inner - 0.012 * mid, lower_inner), (228, 224, 212))
    _poly(image, _band(x, upper_outer, upper_inner), lip)
    _poly(image, _band(x, lower_inner, lower_outer), _shade(lip, 1.08))
    # The line between the lips is dark on every skin tone, so the mouth's shape always shows.
    pressed = 3 if pose.lip_thickness < 1 else 2  # AU23: the tightened lips make a hard line
    _poly(image, np.stack([x, slit if gap == 0 else upper_inner], 1), _shade(identity.skin, 0.35), pressed)
    if pose.lip_thickness < 1:  # and bulge the skin just beyond the corners
        for side in (-1, 1):
            corner = np.array([_CX + side * half_w, slit[0]])
            _poly(
                image,
                corner + np.array([[side * 0.008, -0.012], [side * 0.012, 0.0], [side * 0.008, 0.012]]),
                _shade(identity.skin, 0.55),
                thickness=2,
            )
    if pose.nasolabial:  # folds from the nose wings down past the mouth corners
        for side in (-1, 1):
            fold = np.array(
                [
                    [_CX + side * 0.045, _NOSE_Y - 0.005],
                    [_CX + side * (half_w + 0.01), _MOUTH_Y - 0.03 + 0.5 * corner_dy],
                    [_CX + side * (half_w + 0.022), _MOUTH_Y + 0.02 + corner_dy],
                ]
            )
            _poly(image, fold, _shade(identity.skin, 0.8), thickness=2)


def _band(x: np.ndarray, top: np.ndarray, bottom: np.ndarray) -> np.ndarray:
    """The polygon between two curves y = top(x) and y = bottom(x)."""
    return np.concatenate([np.stack([x, top], 1), np.stack([x, bottom], 1)[::-1]])


def _finish(image: np.ndarray, identity: _Identity, rng: np.random.Generator) -> np.ndarray:
    """Tilt and shift the head, soften the edges and add sensor-like noise."""
    s = _DRAW_SIZE
    matrix = cv2.getRotationMatrix2D((s * _CX, s * _CY), identity.tilt_deg, 1.0)
    matrix[:, 2] += np.asarray(identity.shift) * s
    image = cv2.warpAffine(image, matrix, (s, s), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    image = cv2.GaussianBlur(image, (3, 3), 0)
    noisy = image.astype(np.float32) + 3.0 * rng.standard_normal(image.shape, dtype=np.float32)
    return noisy.clip(0, 255).astype(np.uint8)
