"""Pictures of what a network sees, as uint8 RGB arrays, so the page and the CLI show the same thing.

    from core.explain.figures import colorize, enlarge, normalize_deconvolution
    picture = enlarge(normalize_deconvolution(deconvolve(model, x, "features.conv2", 5)), 4)

Every function takes plain arrays (or a tensor where noted) and returns a new uint8
array: (H, W, 3) RGB unless said otherwise. Nothing here draws with a plotting library,
so a figure is the same pixels on the page, in a download and from the CLI.
"""

import json
import math
from pathlib import Path

import cv2
import numpy as np
import torch
from PIL import Image

from core.errors import InputError
from core.explain.activations import strength_order
from core.explain.atlas import Atlas
from core.paths import atomic_path, write_atomically

Color = tuple[int, int, int]
Box = tuple[int, int, int, int]  # (top, left, bottom, right), bottom and right exclusive

FIELD_COLOR: Color = (40, 220, 60)  # the green that marks the chosen face on the Explore page
# ColorBrewer RdBu ends and middle: blue (negative), near white (zero), red (positive).
DIVERGING_STOPS: tuple[Color, Color, Color] = ((33, 102, 172), (247, 247, 247), (178, 24, 43))
TILE_MIN = 48  # feature-map tiles are enlarged to at least this many pixels a side
GRID_BACKGROUND: Color = (40, 40, 40)

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


# ---- the filter atlas (core.explain.atlas) ---------------------------------------------
# Deconvolutions are shown as `normalize_deconvolution` draws them on the other pages:
# normalised per image, 0 mid-gray, the largest |value| black or white.

GAP = 2  # pixels between tiles


def filter_sheet(atlas: Atlas, layer: str, channel: int, scale: int = 2) -> np.ndarray:
    """One channel as in Zeiler & Fergus's figure 2: RGB uint8, one row per rank (strongest on top).

    Columns: the face with the receptive field outlined, its deconvolution with the same
    outline, then, enlarged to the same size, the deconvolution under the field and the
    face's patch under it (the two halves of the figure in the paper). Each deconvolution is
    normalised on its own (0 is mid-gray, its largest |value| black or white): it shows
    the pattern, not the strength; compare strengths by the values. Pixels are enlarged
    `scale` times without smoothing.
    """
    rows = []
    for row in atlas.filter(layer, channel):
        box = tuple(v * scale for v in row["box"])
        face = draw_box(enlarge(row["face"], scale), box)
        deconvolution = draw_box(enlarge(normalize_deconvolution(row["deconvolution"][None]), scale), box)
        field = _fit(normalize_deconvolution(row["deconvolution_patch"][None]), face.shape[0])
        patch = _fit(row["patch"], face.shape[0])
        rows.append(_grid([face, deconvolution, field, patch], columns=4))
    return _grid(rows, columns=1)


def layer_overview(
    atlas: Atlas, layer: str, ranks: int = 1, crop: bool = True, tile: int = 48, columns: int | None = None
) -> np.ndarray:
    """Every channel of a layer in one RGB uint8 grid, channel 0 top left, in reading order.

    Each channel's tile shows its `ranks` strongest deconvolutions (1: the top one; 9: a
    3x3 mosaic), each normalised on its own (0 mid-gray, its largest |value| black or
    white). `crop`: only the receptive field, enlarged to `tile` pixels, so the small
    fields of early layers are visible.
    """
    maps = atlas.layer(layer)
    ranks = max(1, min(ranks, atlas.top))
    tiles = []
    for channel in range(maps.channels):
        images = []
        for rank in range(ranks):
            deconvolution = maps.deconvolutions[channel, rank].astype(np.float32)  # scale is irrelevant here
            if crop:
                top, left, bottom, right = maps.boxes[channel, rank]
                deconvolution = deconvolution[top:bottom, left:right]
            images.append(_fit(normalize_deconvolution(deconvolution[None]), tile))
        tiles.append(_grid(images, columns=math.ceil(math.sqrt(ranks)), gap=1))
    return _grid(tiles, columns=columns or math.ceil(math.sqrt(maps.channels)))


def write_atlas(atlas: Atlas, out: str | Path) -> list[Path]:
    """atlas.json, `<layer>.png` (the overview) and `<layer>/channel_<c>.png` (the sheets) under out."""
    out = Path(out).expanduser()
    try:
        out.mkdir(parents=True, exist_ok=True)
        written = [out / "atlas.json"]
        write_atomically(written[0], json.dumps(atlas.to_json(), indent=1))
        for layer in atlas.layers:
            written.append(_save_png(layer_overview(atlas, layer), out / f"{layer}.png"))
            (out / layer).mkdir(exist_ok=True)
            for channel in range(atlas.maps[layer].channels):
                sheet = filter_sheet(atlas, layer, channel)
                written.append(_save_png(sheet, out / layer / f"channel_{channel}.png"))
    except OSError as error:
        raise InputError(f"Cannot write the atlas to {out}: {error.strerror or error}.") from None
    return written


def _save_png(image: np.ndarray, path: Path) -> Path:
    with atomic_path(path) as partial:
        Image.fromarray(image).save(partial, format="PNG")
    return path


def _fit(image: np.ndarray, size: int) -> np.ndarray:
    """A gray or RGB image enlarged (no smoothing) to fit a size x size RGB square, centred on gray."""
    rgb = np.repeat(image[..., None], 3, axis=-1) if image.ndim == 2 else image
    canvas = np.full((size, size, 3), 128, np.uint8)
    height, width = rgb.shape[:2]
    if height == 0 or width == 0:
        return canvas
    scale = size / max(height, width)
    new_w, new_h = max(1, round(width * scale)), max(1, round(height * scale))
    resized = np.asarray(Image.fromarray(rgb).resize((new_w, new_h), Image.Resampling.NEAREST))
    top, left = (size - new_h) // 2, (size - new_w) // 2
    canvas[top : top + new_h, left : left + new_w] = resized
    return canvas


def _grid(images: list[np.ndarray], columns: int, gap: int = GAP) -> np.ndarray:
    """Same-size RGB images in rows of `columns`, `gap` pixels apart on the dark grid background."""
    height, width = images[0].shape[:2]
    rows = math.ceil(len(images) / columns)
    grid = np.empty((rows * (height + gap) - gap, columns * (width + gap) - gap, 3), np.uint8)
    grid[:] = GRID_BACKGROUND
    for n, image in enumerate(images):
        top, left = (n // columns) * (height + gap), (n % columns) * (width + gap)
        grid[top : top + height, left : left + width] = image
    return grid
