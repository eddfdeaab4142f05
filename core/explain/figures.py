"""Pictures of what a network sees, as uint8 RGB arrays, so the page and the CLI show the same thing.

    from core.explain.figures import colorize, enlarge, normalize_deconvolution
    picture = enlarge(normalize_deconvolution(deconvolve(model, x, "features.conv2", 5)), 4)

Every function takes plain arrays (or a tensor where noted) and returns a new uint8
array: (H, W, 3) RGB unless said otherwise. Nothing here draws with a plotting library,
so a figure is the same pixels on the page, in a download and from the CLI.
"""

import math

import cv2
import numpy as np
import torch

Color = tuple[int, int, int]
Box = tuple[int, int, int, int]  # (top, left, bottom, right), bottom and right exclusive

FIELD_COLOR: Color = (40, 220, 60)  # the green that marks the chosen face on the Explore page
# ColorBrewer RdBu ends and middle: blue (negative), near white (zero), red (positive).
DIVERGING_STOPS: tuple[Color, Color, Color] = ((33, 102, 172), (247, 247, 247), (178, 24, 43))
TILE_MIN = 48  # feature-map tiles are enlarged to at least this many pixels a side
GRID_BACKGROUND: Color = (40, 40, 40)

# One line per attribution method, for the caption under its map; keyed like METHODS.
METHOD_NOTES = {
    "grad_cam": (
        "Grad-CAM (Selvaraju et al. 2017, arXiv 1610.02391): the chosen conv layer's feature maps, "
        "weighted by how much each raises the class score, summed and kept where positive; "
        "coarse regions, as fine as that layer's grid."
    ),
    "guided_backprop": (
        "Guided backpropagation (Springenberg et al. 2015, arXiv 1412.6806): how the class score "
        "changes with each pixel, passing back through each ReLU only signals that are positive "
        "both ways; sharp, edge-like detail."
    ),
    "guided_grad_cam": (
        "Guided Grad-CAM (Selvaraju et al. 2017, arXiv 1610.02391): guided backpropagation kept "
        "only inside the regions Grad-CAM picks; fine detail where the evidence is."
    ),
    "integrated_gradients": (
        "Integrated gradients (Sundararajan et al. 2017, arXiv 1703.01365): the pixel gradients "
        "averaged from a black image up to this face, times each pixel's change; the map sums to "
        "the score difference between the two."
    ),
    "occlusion": (
        "Occlusion (Zeiler & Fergus 2014, arXiv 1311.2901): how much the class score drops when an "
        "8x8 gray square hides each part of the face; model-agnostic but coarse."
    ),
}


def _diverging_lut() -> np.ndarray:
    """A 256-entry blue-white-red table in OpenCV's (256, 1, 3) BGR layout.

    Index 1 is the blue end, 128 white (zero), 255 the red end: symmetric around zero.
    """
    positions = [1, 128, 255]
    channels = [np.interp(np.arange(256), positions, [stop[c] for stop in DIVERGING_STOPS]) for c in range(3)]
    rgb = np.stack(channels, axis=1).round().astype(np.uint8)
    return np.ascontiguousarray(rgb[:, None, ::-1])


DIVERGING_LUT = _diverging_lut()


def colorize(
    map2d: np.ndarray, cmap: str = "magma", vmin: float | None = None, vmax: float | None = None
) -> np.ndarray:
    """A float (H, W) map as an RGB picture through an OpenCV colour map.

    cmap: "magma" stretches vmin..vmax (default the map's own range) from black to pale
    yellow; "diverging" is centred on 0: blue for negative, white for 0, red for positive,
    symmetric up to vmax (default the largest |value|); "auto" takes "diverging" for a map
    with negative values, else "magma". A constant map is all black (magma) or all white.
    """
    values = np.nan_to_num(np.asarray(map2d, dtype=np.float64))
    if values.ndim != 2:
        raise ValueError(f"colorize takes one (height, width) map, not shape {values.shape}")
    if cmap == "auto":
        cmap = "diverging" if values.min() < 0 else "magma"
    if cmap == "magma":
        low = values.min() if vmin is None else vmin
        high = values.max() if vmax is None else vmax
        scaled = (values - low) / (high - low) * 255 if high > low else np.zeros_like(values)
        index = np.clip(np.rint(scaled), 0, 255).astype(np.uint8)
        bgr = cv2.applyColorMap(index, cv2.COLORMAP_MAGMA)
    elif cmap == "diverging":
        limit = np.abs(values).max() if vmax is None else vmax
        scaled = 128 + 127 * values / limit if limit > 0 else np.full_like(values, 128)
        index = np.clip(np.rint(scaled), 1, 255).astype(np.uint8)
        bgr = cv2.applyColorMap(index, DIVERGING_LUT)
    else:
        raise ValueError(f"Unknown colour map '{cmap}'; use magma, diverging or auto.")
    return np.ascontiguousarray(bgr[..., ::-1])


def normalize_deconvolution(projection: torch.Tensor | np.ndarray) -> np.ndarray:
    """A deconvnet projection (1, C, H, W) or (C, H, W) as the picture Zeiler & Fergus show.

    Per-image contrast stretch around zero: 0 is mid gray (128), the largest |value| of
    this projection reaches black or white, so the sign of the signal is kept and two
    pictures' brightness is not comparable. One channel gives gray, three give colour.
    An all-zero projection (a map that did not fire) is uniform gray.
    """
    values = projection.detach().cpu().numpy() if isinstance(projection, torch.Tensor) else projection
    values = np.asarray(values, dtype=np.float64)
    if values.ndim == 4:
        values = values[0]
    if values.ndim != 3 or values.shape[0] not in (1, 3):
        raise ValueError(
            f"Expected a (1, C, H, W) or (C, H, W) projection with 1 or 3 channels, not {values.shape}"
        )
    limit = np.abs(values).max()
    scaled = 128 + 127 * values / limit if limit > 0 else np.full_like(values, 128)
    picture = np.clip(np.rint(scaled), 0, 255).astype(np.uint8).transpose(1, 2, 0)
    return np.ascontiguousarray(np.repeat(picture, 3, axis=2) if picture.shape[2] == 1 else picture)


def _rgb(image: np.ndarray) -> np.ndarray:
    image = np.asarray(image)
    if image.dtype != np.uint8:
        raise ValueError(f"Expected a uint8 picture, not {image.dtype}")
    return np.repeat(image[..., None], 3, axis=2) if image.ndim == 2 else image.copy()


def overlay(face_gray48: np.ndarray, heat: np.ndarray, alpha: float | np.ndarray = 0.5) -> np.ndarray:
    """The gray face with an RGB heat picture of the same size blended on top.

    alpha: how much of the heat shows, one number or one per pixel (H, W), in [0, 1].
    """
    face, heat = _rgb(face_gray48).astype(np.float64), _rgb(heat).astype(np.float64)
    if face.shape != heat.shape:
        raise ValueError(f"The face {face.shape[:2]} and the heat map {heat.shape[:2]} differ in size")
    weight = np.clip(np.asarray(alpha, dtype=np.float64), 0, 1)
    weight = weight[..., None] if weight.ndim == 2 else weight
    return np.rint((1 - weight) * face + weight * heat).astype(np.uint8)


def upsample(map2d: np.ndarray, size: int = 48, nearest: bool = True) -> np.ndarray:
    """A map (or picture) resized to size x size: nearest keeps each cell a sharp block."""
    values = np.asarray(map2d)
    if values.dtype not in (np.uint8, np.float32):
        values = values.astype(np.float32)
    interpolation = cv2.INTER_NEAREST_EXACT if nearest else cv2.INTER_LINEAR
    return cv2.resize(values, (size, size), interpolation=interpolation)


def enlarge(image: np.ndarray, scale: int) -> np.ndarray:
    """Each pixel as a scale x scale block: sharp pixels on a slide, not a browser's blur."""
    if scale < 1:
        raise ValueError(f"scale must be at least 1, not {scale}")
    return np.repeat(np.repeat(np.asarray(image), scale, axis=0), scale, axis=1)


def draw_box(image: np.ndarray, box: Box, color: Color = FIELD_COLOR, thickness: int = 1) -> np.ndarray:
    """An RGB copy of the picture with the outline of box = (top, left, bottom, right) drawn.

    bottom and right are exclusive (as `receptive_field` returns them); the outline lies
    on the box's own border pixels, so it never falls outside the image.
    """
    canvas = _rgb(image)
    height, width = canvas.shape[:2]
    top, left = max(int(box[0]), 0), max(int(box[1]), 0)
    bottom, right = min(int(box[2]), height), min(int(box[3]), width)
    if bottom <= top or right <= left:
        return canvas
    t = max(1, thickness)
    canvas[top : min(top + t, bottom), left:right] = color
    canvas[max(bottom - t, top) : bottom, left:right] = color
    canvas[top:bottom, left : min(left + t, right)] = color
    canvas[top:bottom, max(right - t, left) : right] = color
    return canvas


def field_on_face(
    face_gray48: np.ndarray, box: Box, scale: int = 6, color: Color = FIELD_COLOR
) -> np.ndarray:
    """The face enlarged, with a thin outline of a receptive field (box in the face's pixels)."""
    scaled = tuple(int(v) * scale for v in box)
    return draw_box(enlarge(_rgb(face_gray48), scale), scaled, color, thickness=max(1, scale // 3))


def attribution_on_face(
    face_gray48: np.ndarray, heat_map: np.ndarray, scale: int = 6, alpha: float = 0.7
) -> np.ndarray:
    """An attribution map over the face, enlarged.

    Colour by `colorize(..., "auto")`: a signed map is blue-white-red around 0. The heat
    shows in proportion to sqrt(|value| / largest |value|), so the face stays visible
    where the map is near zero.
    """
    values = np.nan_to_num(np.asarray(heat_map, dtype=np.float64))
    limit = np.abs(values).max()
    weight = alpha * np.sqrt(np.abs(values) / limit) if limit > 0 else np.zeros_like(values)
    return enlarge(overlay(face_gray48, colorize(values, "auto"), weight), scale)


def strength_order(maps: np.ndarray) -> list[int]:
    """Channels of (C, H, W) maps by their maximum, strongest first; ties by channel number.

    The maximum is what the deconvnet projects, so the first channel is the default one.
    """
    peaks = np.asarray(maps, dtype=np.float64).reshape(len(maps), -1).max(axis=1)
    return [int(c) for c in np.argsort(-peaks, kind="stable")]


def _label(tile: np.ndarray, text: str) -> None:
    # White digits with a black outline read on both dark and bright tiles.
    for color, thickness in (((0, 0, 0), 3), ((255, 255, 255), 1)):
        cv2.putText(tile, text, (2, 11), cv2.FONT_HERSHEY_PLAIN, 0.8, color, thickness, cv2.LINE_AA)


def feature_map_grid(
    maps: np.ndarray | torch.Tensor,
    order: list[int] | None = None,
    columns: int = 8,
    labels: bool = True,
    gap: int = 2,
) -> np.ndarray:
    """Feature maps (C, H, W) as tiles in a grid, in `order` (default: strongest first).

    One magma scale for all tiles (the smallest to the largest value shown), so a bright
    tile is a strong map and weak maps look weak. Each tile is enlarged (nearest) to at
    least TILE_MIN pixels; `labels` writes its channel number in the top-left corner.
    """
    values = maps.detach().cpu().numpy() if isinstance(maps, torch.Tensor) else np.asarray(maps)
    if values.ndim != 3:
        raise ValueError(f"feature_map_grid takes (channels, height, width) maps, not {values.shape}")
    order = strength_order(values) if order is None else list(order)
    shown = values[order].astype(np.float64)
    low, high = (shown.min(), shown.max()) if len(order) else (0.0, 0.0)
    scale = max(1, math.ceil(TILE_MIN / max(values.shape[1:])))
    tile_h, tile_w = values.shape[1] * scale, values.shape[2] * scale
    columns = max(1, min(columns, len(order)))
    rows = max(1, math.ceil(len(order) / columns))
    canvas = np.empty((rows * (tile_h + gap) + gap, columns * (tile_w + gap) + gap, 3), np.uint8)
    canvas[:] = GRID_BACKGROUND
    for k, channel in enumerate(order):
        tile = enlarge(colorize(values[channel], "magma", vmin=low, vmax=high), scale)
        if labels:
            _label(tile, str(channel))
        top, left = gap + (k // columns) * (tile_h + gap), gap + (k % columns) * (tile_w + gap)
        canvas[top : top + tile_h, left : left + tile_w] = tile
    return canvas


