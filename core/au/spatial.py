"""Where on the face: AU regions against deconvolutions and attribution maps.

- The spatial check of an AU table: a feature map's strongest response on a face is
  projected back to pixels (Zeiler & Fergus deconvnet, `core.explain.deconvolve`); the
  pixel where |projection| is largest is the point the map "looks at". It counts as inside
  when it falls in the AU's region (`core.au.regions`). The peak, not the centroid: the
  lip-corner region is two discs, and the centroid of a projection covering both corners
  lies on the lips between them, outside both.
- Attribution by region: of a face's positive attribution (what raised the class score),
  the share inside each AU region: which parts of the face the prediction used.

Regions come from the face's own landmarks where it has them (`au_region_masks`): those of
the alignment, or for a pre-aligned crop (CK+48) a mesh of the crop itself, enlarged
(`crop_landmarks`). Without a mesh, the canonical template stands in
(`canonical_region_masks`); it fits CK+48 loosely (their faces are shorter: the mouth sits
about 2 px higher, the chin 6 px), so tables measure landmarks by default.
AU combinations are written "AU1+2"; their region is the union of their AUs' regions.
"""

import re

import cv2
import numpy as np
import torch
from torch import nn

from core.au.regions import (
    REGIONS,
    au_region_masks,
    aus_for_region,
    canonical_region_masks,
    draw_regions,
    region_for_au,
)
from core.errors import InputError
from core.explain.deconv import deconvolve_top_k
from core.explain.figures import enlarge, normalize_deconvolution
from core.faces import FaceAnalyzer
from core.models.inputs import to_tensor

PEAK_COLOR = (255, 255, 0)  # the deconvolution's peak, drawn as a small cross
LANDMARK_SCALE = 4  # small crops are meshed enlarged this many times


# ---- AU labels ---------------------------------------------------------------------------


def au_label(aus: tuple[int, ...] | int) -> str:
    """(1, 2) -> "AU1+2"; 12 -> "AU12"."""
    numbers = (aus,) if isinstance(aus, int) else tuple(aus)
    return "AU" + "+".join(str(n) for n in numbers)


def parse_au_label(text: str | int) -> tuple[int, ...]:
    """ "AU1+2", "1+2" or 12 -> the AU numbers; InputError on anything else."""
    cleaned = str(text).strip().upper().removeprefix("AU")
    if not re.fullmatch(r"\d{1,2}(\+\d{1,2})*", cleaned):
        raise InputError(f"'{text}' is not an AU or an AU combination like AU12 or AU1+2.")
    return tuple(int(n) for n in cleaned.split("+"))


# ---- regions -------------------------------------------------------------------------------


def face_region_masks(landmarks: np.ndarray | None, size: int = 48) -> dict[str, np.ndarray]:
    """The AU region masks of one crop: from its landmarks, else the canonical template."""
    if landmarks is None or np.isnan(np.asarray(landmarks, dtype=np.float64)).all():
        return canonical_region_masks(size)
    return au_region_masks(landmarks, size)


def crop_landmarks(crop: np.ndarray, analyzer: FaceAnalyzer) -> np.ndarray | None:
    """The 478 landmarks (crop pixels) of a small pre-aligned crop such as CK+48's, or None.

    MediaPipe does not mesh a 48 px face, so the crop is enlarged LANDMARK_SCALE times first;
    nothing is moved or re-aligned: the points describe the crop the model sees.
    """
    gray = np.asarray(crop, np.uint8)
    enlarged = cv2.resize(gray, None, fx=LANDMARK_SCALE, fy=LANDMARK_SCALE, interpolation=cv2.INTER_CUBIC)
    rgb = cv2.cvtColor(enlarged, cv2.COLOR_GRAY2RGB) if enlarged.ndim == 2 else enlarged
    faces = analyzer.detect(rgb)
    if not faces or faces[0].landmarks is None:
        return None
    return (faces[0].landmarks + 0.5) / LANDMARK_SCALE - 0.5


def au_mask(aus: tuple[int, ...], masks: dict[str, np.ndarray]) -> np.ndarray | None:
    """The union of the regions of these AUs; None when none of them shows in a face crop."""
    regions = {region_for_au(au) for au in aus} - {None}
    if not regions:
        return None
    return np.logical_or.reduce([masks[region] for region in sorted(regions)])


def au_regions(aus: tuple[int, ...]) -> str:
    """The region names of these AUs, e.g. "lip_corners" ("" when none)."""
    return "+".join(sorted({region_for_au(au) for au in aus} - {None}))


def projection_peak(projection: np.ndarray) -> tuple[int, int] | None:
    """(row, column) of the largest |value| of a 2-D projection (first in row-major order on ties);
    None when it is all zeros (the map did not fire)."""
    values = np.abs(np.asarray(projection, dtype=np.float64))
    if not values.any():
        return None
    row, column = np.unravel_index(int(values.argmax()), values.shape)
    return int(row), int(column)


# ---- the faces of one cell of the table --------------------------------------------------


def cell_faces(
    model: nn.Module,
    crops: np.ndarray,
    landmarks: list[np.ndarray | None],
    source_ids: list[str],
    layer: str,
    channel: int,
    aus: tuple[int, ...],
) -> list[dict]:
    """For each crop: the map's strongest response, its deconvolution, the AU region and whether the
    projection's peak lies inside it. Items: source_id, value, crop, deconvolution (H, W float32),
    mask (bool, or None), peak ((row, column) or None), inside (bool or None)."""
    device = next(model.parameters()).device
    faces = []
    for crop, points, source_id in zip(crops, landmarks, source_ids, strict=True):
        value, _, projection = deconvolve_top_k(model, to_tensor(crop[None]).to(device), layer, channel, 1)[0]
        projection = projection[0, 0].cpu().numpy()
        mask = au_mask(aus, face_region_masks(points, crop.shape[0]))
        peak = projection_peak(projection)
        inside = None if mask is None or peak is None else bool(mask[peak])
        faces.append({"source_id": source_id, "value": value, "crop": crop, "deconvolution": projection,
                      "mask": mask, "peak": peak, "inside": inside, "landmarks": points})  # fmt: skip
    return faces


def cell_sheet(faces: list[dict], aus: tuple[int, ...], scale: int = 3, columns: int = 4) -> np.ndarray:
    """The faces of a cell as one RGB picture: per face, the crop with the AU region tinted beside
    the deconvolution with the same region and its peak marked (a cross)."""
    if not faces:
        raise InputError("There are no faces to draw for this cell.")
    tiles = []
    for face in faces:
        masks = face_region_masks(face["landmarks"], face["crop"].shape[0])
        left = draw_regions(face["crop"], masks, aus=aus, scale=scale)
        right = draw_regions(normalize_deconvolution(face["deconvolution"][None]), masks, aus=aus, alpha=0.3)
        right = enlarge(right, scale)
        if face["peak"] is not None:
            _cross(right, face["peak"], scale)
        tiles.append(np.hstack([left, np.full((left.shape[0], 2, 3), 255, np.uint8), right]))
    height, width = tiles[0].shape[:2]
    rows = -(-len(tiles) // columns)
    gap = 6
    sheet = np.full(
        (rows * (height + gap) - gap, min(columns, len(tiles)) * (width + gap) - gap, 3), 40, np.uint8
    )
    for n, tile in enumerate(tiles):
        top, left = (n // columns) * (height + gap), (n % columns) * (width + gap)
        sheet[top : top + height, left : left + width] = tile
    return sheet


def _cross(picture: np.ndarray, peak: tuple[int, int], scale: int) -> None:
    row, column = (v * scale + scale // 2 for v in peak)
    reach = max(2, scale)
    height, width = picture.shape[:2]
    picture[row, max(column - reach, 0) : min(column + reach + 1, width)] = PEAK_COLOR
    picture[max(row - reach, 0) : min(row + reach + 1, height), column] = PEAK_COLOR


# ---- attribution by region ----------------------------------------------------------------


def attribution_by_region(attribution: np.ndarray, landmarks: np.ndarray | None = None) -> list[dict]:
    """Of the positive attribution of one face (a map of the crop's size), the share in each AU region.

    `landmarks`: the crop's 478 points, or None for a pre-aligned crop (the canonical
    template). One row per region (region, aus, share, pixels) and a last row "elsewhere"
    (the share outside every region). Regions overlap (the lip corners lie on the lips), so
    the shares of the regions can add up to more than 1. All shares are 0 when nothing is positive.
    """
    values = np.asarray(
        attribution.detach().cpu().numpy() if isinstance(attribution, torch.Tensor) else attribution
    )
    values = np.squeeze(values).astype(np.float64)
    if values.ndim != 2 or values.shape[0] != values.shape[1]:
        raise InputError(f"Expected a square attribution map (H, W), got shape {values.shape}.")
    positive = np.clip(np.nan_to_num(values), 0, None)
    total = positive.sum()
    masks = face_region_masks(landmarks, values.shape[0])
    rows = []
    for region in REGIONS:
        inside = positive[masks[region]].sum()
        aus = ", ".join(f"AU{au}" for au in aus_for_region(region) if au < 50)
        rows.append({"region": region, "aus": aus, "share": float(inside / total) if total > 0 else 0.0,
                     "pixels": int(masks[region].sum())})  # fmt: skip
    anywhere = np.logical_or.reduce([masks[region] for region in REGIONS])
    outside = positive[~anywhere].sum()
    rows.append({"region": "elsewhere", "aus": "", "share": float(outside / total) if total > 0 else 0.0,
                 "pixels": int((~anywhere).sum())})  # fmt: skip
    return rows
