"""Where each Action Unit shows on the face: region masks from the 478-point face mesh.

    masks = au_region_masks(result.crop.landmarks, size=48)    # an aligned face with a mesh
    masks = canonical_region_masks(48)                          # FER2013 / CK+48 crops: no mesh
    region_for_au(12) -> "lip_corners";  draw_regions(crop, masks, aus={6, 12})

Each region is the convex hull of a few mesh points (one hull per side where the face
has two), grown by a margin proportional to the inter-ocular distance. The point sets
are MediaPipe's own groups (`mediapipe.solutions.face_mesh_connections`: FACEMESH_*_EYEBROW,
*_EYE, NOSE, LIPS, FACE_OVAL; a test checks they still match) and, for the cheeks, upper
lip and chin, which MediaPipe does not group, mesh points picked by where they fall on
the mean generated face (listed below, mirrored between sides).

Regions and the AUs drawn there (the catalogue's `region` field; see
core.labels.facs for every AU):
  brows        AU1, 2, 4 (both brows and the glabella between them)
  eyelids      AU5, 7, 41-46 and the eye positions 61-64 (AU6's crow's feet show at the
               eye corners too, but AU6 maps to the cheeks it raises)
  cheeks       AU6 and the cheek actions 33-35
  nose         AU9, 38, 39
  upper_lip    AU10, 11 (from the nostrils to the upper lip's edge)
  lip_corners  AU12, 13, 14, 15, 20 (a disc around each mouth corner, points 61 and 291)
  chin         AU17
  lips         AU8, 16, 18, 19, 22-25, 28, 32, 36, 37
  jaw          AU26, 27, 29-31 (the face below the mouth corners)
  none         AU21 (neck) and the head positions 51-58
"""

from functools import lru_cache

import cv2
import numpy as np

from core.faces import LEFT_EYE_CONTOUR, N_LANDMARKS, RIGHT_EYE_CONTOUR
from core.labels.facs import CATALOGUE

# ---- mesh point groups -------------------------------------------------------------
# MediaPipe's FACEMESH_* connection sets, flattened to their points (mediapipe 0.10.21).
RIGHT_EYEBROW = (46, 52, 53, 55, 63, 65, 66, 70, 105, 107)
LEFT_EYEBROW = (276, 282, 283, 285, 293, 295, 296, 300, 334, 336)
RIGHT_EYE = (7, 33, 133, 144, 145, 153, 154, 155, 157, 158, 159, 160, 161, 163, 173, 246)
LEFT_EYE = (249, 263, 362, 373, 374, 380, 381, 382, 384, 385, 386, 387, 388, 390, 398, 466)
NOSE = (1, 2, 4, 5, 6, 19, 45, 48, 64, 94, 97, 98, 115, 168, 195, 197, 220, 275, 278, 294, 326, 327, 344, 440)
LIPS = (
    0, 13, 14, 17, 37, 39, 40, 61, 78, 80, 81, 82, 84, 87, 88, 91, 95, 146, 178, 181, 185, 191, 267, 269,
    270, 291, 308, 310, 311, 312, 314, 317, 318, 321, 324, 375, 402, 405, 409, 415,
)  # fmt: skip
FACE_OVAL = (
    10, 21, 54, 58, 67, 93, 103, 109, 127, 132, 136, 148, 149, 150, 152, 162, 172, 176, 234, 251, 284,
    288, 297, 323, 332, 338, 356, 361, 365, 377, 378, 379, 389, 397, 400, 454,
)  # fmt: skip
# Our own picks (the infraorbital triangle; nostrils to upper lip edge; lower lip edge to chin boss, as AU17 pushes both up).
RIGHT_CHEEK = (117, 118, 119, 100, 101, 36, 205, 187, 123)
LEFT_CHEEK = (346, 347, 348, 329, 330, 266, 425, 411, 352)
UPPER_LIP = (98, 97, 2, 326, 327, 185, 40, 39, 37, 0, 267, 269, 270, 409)
CHIN = (17, 84, 314, 18, 83, 313, 201, 421, 208, 428, 200, 199, 175, 148, 152, 377)
MOUTH_CORNERS = (61, 291)  # the person's right and left mouth corner

REGIONS: tuple[str, ...] = (
    "brows", "eyelids", "cheeks", "nose", "upper_lip", "lip_corners", "chin", "lips", "jaw",
)  # fmt: skip
# Margins, as fractions of the inter-ocular distance, that each hull is grown by.
_MARGIN = {"brows": 0.04, "eyelids": 0.08, "cheeks": 0.03, "nose": 0.03, "upper_lip": 0.03,
           "lip_corners": 0.0, "chin": 0.03, "lips": 0.04, "jaw": 0.0}  # fmt: skip
_CORNER_RADIUS = 0.2  # of the mouth width
_SHIFT = 4  # cv2 fixed-point bits: hull corners are placed to 1/16 pixel

COLORS: dict[str, tuple[int, int, int]] = {
    "brows": (230, 25, 75), "eyelids": (60, 180, 75), "cheeks": (255, 225, 25),
    "nose": (0, 130, 200), "upper_lip": (245, 130, 48), "lip_corners": (145, 30, 180),
    "chin": (70, 240, 240), "lips": (240, 50, 230), "jaw": (128, 128, 0),
}  # fmt: skip


def region_for_au(au: int) -> str | None:
    """The region where an AU shows ("lip_corners" for AU12), None for head/neck or unknown AUs."""
    unit = CATALOGUE.get(au)
    return None if unit is None else unit.region


def aus_for_region(region: str) -> tuple[int, ...]:
    """The catalogue's AUs drawn in a region, in FACS order."""
    return tuple(n for n, unit in CATALOGUE.items() if unit.region == region)


def au_region_masks(landmarks: np.ndarray, size: int) -> dict[str, np.ndarray]:
    """One bool mask (size x size) per region in REGIONS, from a crop's 478 x 2 landmarks.

    Landmarks are crop pixels (OpenCV convention, as `AlignedFace.landmarks`). Only the
    points in the groups above are read; the others may be NaN. Parts of a region outside
    the crop are clipped, so a mask can be empty where the crop cuts the face off.
    """
    points = np.asarray(landmarks, dtype=np.float64)
    if points.ndim != 2 or points.shape[1] != 2 or points.shape[0] < N_LANDMARKS - 10:
        raise ValueError(f"landmarks must be 468 or 478 x 2 points, not {points.shape}")
    right_eye = points[list(RIGHT_EYE_CONTOUR)].mean(axis=0)
    left_eye = points[list(LEFT_EYE_CONTOUR)].mean(axis=0)
    ocular = float(np.linalg.norm(left_eye - right_eye))
    corners = points[list(MOUTH_CORNERS)]
    mouth_y = corners[:, 1].mean()
    oval = points[list(FACE_OVAL)]
    jaw = np.vstack([oval[oval[:, 1] >= mouth_y], corners])
    hulls = {
        "brows": [points[list(RIGHT_EYEBROW + LEFT_EYEBROW)]],
        "eyelids": [points[list(RIGHT_EYE)], points[list(LEFT_EYE)]],
        "cheeks": [points[list(RIGHT_CHEEK)], points[list(LEFT_CHEEK)]],
        "nose": [points[list(NOSE)]],
        "upper_lip": [points[list(UPPER_LIP)]],
        "chin": [points[list(CHIN)]],
        "lips": [points[list(LIPS)]],
        "jaw": [jaw],
    }
    masks = {}
    for region in REGIONS:
        canvas = np.zeros((size, size), np.uint8)
        if region == "lip_corners":
            radius = _CORNER_RADIUS * float(np.linalg.norm(corners[1] - corners[0]))
            for corner in corners:
                center = tuple(int(v) for v in np.round(corner * (1 << _SHIFT)))
                cv2.circle(canvas, center, max(1, round(radius * (1 << _SHIFT))), 1, -1, cv2.LINE_8, _SHIFT)
        else:
            for part in hulls[region]:
                hull = cv2.convexHull(np.round(part * (1 << _SHIFT)).astype(np.int32))
                cv2.fillConvexPoly(canvas, hull, 1, cv2.LINE_8, _SHIFT)
        margin = round(_MARGIN[region] * ocular)
        if margin >= 1:
            kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * margin + 1, 2 * margin + 1))
            canvas = cv2.dilate(canvas, kernel)
        masks[region] = canvas.astype(bool)
    return masks


# ---- the canonical face ------------------------------------------------------------
# Mean positions of the mesh points used above, as fractions of the crop's side (x, y;
# (0, 0) is the top-left corner of the top-left pixel), for a face aligned by
# core.faces (eyes at CANONICAL_EYE_Y, CANONICAL_EYE_DISTANCE). Made once with
# `measure_canonical_landmarks()`: the 28 generated faces (read_generated()), each
# through prepare_face(size=256), landmarks (+0.5) / 256, averaged; 3 decimals. A test
# re-measures them. The generated faces are long: their chin (y 1.16) lies below the
# crop, so the chin and jaw regions are cut off at the bottom of the crop.
CANONICAL_LANDMARKS: dict[int, tuple[float, float]] = {
    0: (0.498, 0.760),
    1: (0.502, 0.600),
    2: (0.502, 0.651),
    4: (0.502, 0.560),
    5: (0.501, 0.513),
    6: (0.499, 0.400),
    7: (0.234, 0.411),
    10: (0.499, 0.096),
    13: (0.498, 0.796),
    14: (0.501, 0.870),
    17: (0.500, 0.912),
    18: (0.507, 0.955),
    19: (0.502, 0.625),
    21: (0.042, 0.281),
    33: (0.217, 0.401),
    36: (0.304, 0.594),
    37: (0.454, 0.756),
    39: (0.411, 0.776),
    40: (0.384, 0.797),
    45: (0.465, 0.562),
    46: (0.157, 0.324),
    48: (0.382, 0.604),
    52: (0.264, 0.280),
    53: (0.204, 0.295),
    54: (0.095, 0.206),
    55: (0.430, 0.315),
    58: (0.045, 0.864),
    61: (0.358, 0.838),
    63: (0.177, 0.270),
    64: (0.380, 0.625),
    65: (0.339, 0.284),
    66: (0.331, 0.253),
    67: (0.273, 0.111),
    70: (0.122, 0.308),
    78: (0.373, 0.836),
    80: (0.409, 0.811),
    81: (0.432, 0.802),
    82: (0.462, 0.796),
    83: (0.450, 0.951),
    84: (0.453, 0.907),
    87: (0.463, 0.867),
    88: (0.408, 0.854),
    91: (0.386, 0.874),
    93: (-0.001, 0.650),
    94: (0.502, 0.638),
    95: (0.391, 0.848),
    97: (0.453, 0.653),
    98: (0.393, 0.651),
    100: (0.343, 0.518),
    101: (0.277, 0.545),
    103: (0.169, 0.147),
    105: (0.247, 0.250),
    107: (0.419, 0.265),
    109: (0.379, 0.097),
    115: (0.406, 0.584),
    117: (0.164, 0.499),
    118: (0.224, 0.511),
    119: (0.302, 0.504),
    123: (0.068, 0.597),
    127: (-0.008, 0.461),
    132: (0.013, 0.754),
    133: (0.394, 0.413),
    136: (0.142, 1.006),
    144: (0.277, 0.422),
    145: (0.310, 0.423),
    146: (0.369, 0.857),
    148: (0.410, 1.153),
    149: (0.269, 1.094),
    150: (0.208, 1.058),
    152: (0.509, 1.163),
    153: (0.340, 0.421),
    154: (0.368, 0.417),
    155: (0.385, 0.415),
    157: (0.360, 0.380),
    158: (0.328, 0.367),
    159: (0.296, 0.365),
    160: (0.264, 0.372),
    161: (0.242, 0.383),
    162: (0.008, 0.361),
    163: (0.253, 0.417),
    168: (0.498, 0.361),
    172: (0.091, 0.949),
    173: (0.383, 0.400),
    175: (0.508, 1.117),
    176: (0.333, 1.127),
    178: (0.432, 0.861),
    181: (0.414, 0.893),
    185: (0.366, 0.817),
    187: (0.140, 0.695),
    191: (0.390, 0.823),
    195: (0.500, 0.474),
    197: (0.500, 0.437),
    199: (0.508, 1.062),
    200: (0.507, 1.003),
    201: (0.437, 0.998),
    205: (0.239, 0.646),
    208: (0.421, 1.053),
    220: (0.433, 0.571),
    234: (-0.006, 0.555),
    246: (0.228, 0.392),
    249: (0.767, 0.412),
    251: (0.945, 0.293),
    263: (0.783, 0.401),
    266: (0.698, 0.598),
    267: (0.543, 0.756),
    269: (0.587, 0.775),
    270: (0.615, 0.796),
    275: (0.538, 0.563),
    276: (0.845, 0.328),
    278: (0.620, 0.605),
    282: (0.744, 0.283),
    283: (0.802, 0.298),
    284: (0.894, 0.218),
    285: (0.570, 0.311),
    288: (0.946, 0.872),
    291: (0.644, 0.839),
    293: (0.829, 0.275),
    294: (0.622, 0.626),
    295: (0.669, 0.284),
    296: (0.676, 0.254),
    297: (0.721, 0.119),
    300: (0.877, 0.313),
    308: (0.630, 0.837),
    310: (0.592, 0.812),
    311: (0.566, 0.802),
    312: (0.535, 0.796),
    313: (0.563, 0.951),
    314: (0.548, 0.907),
    317: (0.540, 0.868),
    318: (0.595, 0.856),
    321: (0.616, 0.874),
    323: (0.984, 0.661),
    324: (0.613, 0.849),
    326: (0.551, 0.654),
    327: (0.609, 0.652),
    329: (0.657, 0.521),
    330: (0.725, 0.550),
    332: (0.822, 0.158),
    334: (0.761, 0.254),
    336: (0.583, 0.263),
    338: (0.619, 0.101),
    344: (0.596, 0.586),
    346: (0.835, 0.506),
    347: (0.778, 0.517),
    348: (0.700, 0.507),
    352: (0.929, 0.607),
    356: (0.989, 0.472),
    361: (0.973, 0.764),
    362: (0.601, 0.409),
    365: (0.858, 1.010),
    373: (0.726, 0.424),
    374: (0.692, 0.426),
    375: (0.633, 0.857),
    377: (0.605, 1.153),
    378: (0.740, 1.095),
    379: (0.797, 1.060),
    380: (0.660, 0.423),
    381: (0.630, 0.416),
    382: (0.611, 0.412),
    384: (0.637, 0.378),
    385: (0.672, 0.366),
    386: (0.706, 0.366),
    387: (0.740, 0.374),
    388: (0.760, 0.385),
    389: (0.975, 0.373),
    390: (0.750, 0.419),
    397: (0.905, 0.954),
    398: (0.612, 0.397),
    400: (0.678, 1.127),
    402: (0.572, 0.862),
    405: (0.587, 0.893),
    409: (0.635, 0.817),
    411: (0.863, 0.703),
    415: (0.613, 0.824),
    421: (0.576, 0.999),
    425: (0.765, 0.651),
    428: (0.592, 1.054),
    440: (0.569, 0.572),
    454: (0.987, 0.566),
    466: (0.773, 0.393),
}


def measure_canonical_landmarks(analyzer, size: int = 256) -> np.ndarray:
    """The mean aligned landmarks (478 x 2, fractions of the side) of the generated faces."""
    from core.datasets.generated import read_generated
    from core.faces import prepare_face

    meshes = []
    for sample in read_generated():
        landmarks = prepare_face(sample.load(), analyzer, size=size).crop.landmarks
        if landmarks is not None:
            meshes.append((landmarks + 0.5) / size)
    return np.mean(meshes, axis=0)


def canonical_landmarks(size: int = 48) -> np.ndarray:
    """CANONICAL_LANDMARKS as a 478 x 2 array in crop pixels (NaN for points not stored)."""
    points = np.full((N_LANDMARKS, 2), np.nan)
    for index, xy in CANONICAL_LANDMARKS.items():
        points[index] = xy
    return points * size - 0.5


@lru_cache(maxsize=16)
def _canonical_masks(size: int) -> tuple[tuple[str, np.ndarray], ...]:
    masks = au_region_masks(canonical_landmarks(size), size)
    for mask in masks.values():
        mask.setflags(write=False)
    return tuple(masks.items())


def canonical_region_masks(size: int = 48) -> dict[str, np.ndarray]:
    """Region masks for pre-aligned crops that have no mesh (FER2013, CK+48): the canonical face's.

    Cached; the masks are read-only (copy one to change it).
    """
    return dict(_canonical_masks(size))


def draw_regions(
    image: np.ndarray, masks: dict[str, np.ndarray], aus=None, alpha: float = 0.45, scale: int = 1
) -> np.ndarray:
    """The image (gray or RGB) as RGB uint8 with each region tinted in its colour and labelled.

    `aus` (AU numbers) limits the drawing to the regions of those AUs and labels each with
    its AUs ("AU6"); otherwise every mask is drawn, labelled by region name. `scale` enlarges
    the picture first (nearest neighbour) so labels are readable on 48 px crops; labels are
    left out where the picture is under 96 px.
    """
    picture = np.asarray(image)
    if picture.ndim == 2:
        picture = cv2.cvtColor(picture.astype(np.uint8), cv2.COLOR_GRAY2RGB)
    elif picture.ndim == 3 and picture.shape[2] == 4:
        picture = cv2.cvtColor(picture.astype(np.uint8), cv2.COLOR_RGBA2RGB)
    picture = picture.astype(np.uint8)
    if scale > 1:
        picture = cv2.resize(picture, None, fx=scale, fy=scale, interpolation=cv2.INTER_NEAREST)
    height, width = picture.shape[:2]
    labels: dict[str, str] = {}
    if aus is None:
        labels = {region: region.replace("_", " ") for region in masks}
    else:
        for au in sorted(set(aus)):
            region = region_for_au(au)
            if region in masks:
                labels[region] = f"{labels[region]}+{au}" if region in labels else f"AU{au}"
    canvas = picture.astype(np.float32)
    for region in labels:
        mask = np.asarray(masks[region], dtype=np.uint8)
        if mask.shape != (height, width):
            mask = cv2.resize(mask, (width, height), interpolation=cv2.INTER_NEAREST)
        mask = mask.astype(bool)
        color = np.array(COLORS.get(region, (255, 255, 255)), np.float32)
        canvas[mask] = (1 - alpha) * canvas[mask] + alpha * color
    out = np.clip(np.round(canvas), 0, 255).astype(np.uint8)
    if min(height, width) >= 96:
        font_scale = max(0.3, min(height, width) / 800)
        for region, text in labels.items():
            ys, xs = np.nonzero(cv2.resize(np.asarray(masks[region], np.uint8), (width, height),
                                           interpolation=cv2.INTER_NEAREST))  # fmt: skip
            if len(xs) == 0:
                continue
            (tw, th), _ = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, font_scale, 1)
            x = int(np.clip(xs.mean() - tw / 2, 0, max(0, width - tw)))
            y = int(np.clip(ys.mean() + th / 2, th, height - 1))
            cv2.putText(out, text, (x, y), cv2.FONT_HERSHEY_SIMPLEX, font_scale, (0, 0, 0), 2, cv2.LINE_AA)
            cv2.putText(out, text, (x, y), cv2.FONT_HERSHEY_SIMPLEX, font_scale, COLORS.get(region, (255, 255, 255)),
                        1, cv2.LINE_AA)  # fmt: skip
    return out
