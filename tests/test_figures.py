"""core.explain.figures: the pictures the Explore page and `python -m core deconv` share."""

import cv2
import numpy as np
import pytest
import torch

from core.explain import METHODS
from core.explain.activations import strength_order
from core.explain.figures import (
    DIVERGING_STOPS,
    FIELD_COLOR,
    attribution_on_face,
    colorize,
    draw_box,
    enlarge,
    feature_map_grid,
    field_on_face,
    normalize_deconvolution,
    overlay,
    upsample,
)
from core.models.architectures import BreuerNet, FanNet
from core.models.layers import layer_labels


def magma(index: int) -> tuple[int, int, int]:
    """OpenCV's magma colour at one index, as RGB."""
    bgr = cv2.applyColorMap(np.array([[index]], np.uint8), cv2.COLORMAP_MAGMA)[0, 0]
    return tuple(int(v) for v in bgr[::-1])


def test_colorize_magma_runs_from_the_minimum_to_the_maximum():
    heat = np.array([[0.0, 1.0], [2.0, 4.0]])
    picture = colorize(heat)
    assert picture.shape == (2, 2, 3) and picture.dtype == np.uint8
    assert tuple(picture[0, 0]) == magma(0)
    assert tuple(picture[1, 1]) == magma(255)
    assert tuple(picture[1, 0]) == magma(128)  # 2 of 0..4: the middle of the map
    assert magma(255) == (252, 253, 191), "pale yellow: the bright end a reader expects"


def test_colorize_diverging_is_centred_on_zero():
    heat = np.array([[-2.0, 0.0, 1.0, 2.0]])
    picture = colorize(heat, "diverging")
    blue, white, red = DIVERGING_STOPS
    assert tuple(picture[0, 0]) == blue
    assert tuple(picture[0, 1]) == white
    assert tuple(picture[0, 3]) == red
    # Half way to the largest |value| is half way from white to red.
    assert all(min(w, r) <= v <= max(w, r) for v, w, r in zip(picture[0, 2], white, red, strict=True))
    assert (colorize(heat, "auto") == picture).all(), "a signed map gets the diverging map"
    assert (colorize(np.abs(heat), "auto") == colorize(np.abs(heat), "magma")).all()


def test_colorize_edge_cases():
    assert (colorize(np.zeros((3, 3)), "diverging") == DIVERGING_STOPS[1]).all()
    assert (colorize(np.full((3, 3), 5.0)) == magma(0)).all(), "a constant map is black, not NaN"
    with pytest.raises(ValueError, match="Unknown colour map"):
        colorize(np.zeros((2, 2)), "rainbow")
    with pytest.raises(ValueError, match="one"):
        colorize(np.zeros((2, 2, 2)))


def test_normalize_deconvolution_stretches_around_zero():
    projection = torch.zeros(1, 1, 48, 48)
    projection[0, 0, 10, 10], projection[0, 0, 20, 20] = 3.0, -1.5
    picture = normalize_deconvolution(projection)
    assert picture.shape == (48, 48, 3) and picture.dtype == np.uint8
    assert tuple(picture[0, 0]) == (128, 128, 128), "zero is mid gray"
    assert tuple(picture[10, 10]) == (255, 255, 255), "the largest |value| is white"
    assert picture[20, 20, 0] == 128 - 64, "half the largest, negative: half way to black"
    assert (normalize_deconvolution(torch.zeros(1, 1, 48, 48)) == 128).all(), "a silent map is gray"
    assert normalize_deconvolution(np.ones((3, 8, 8))).shape == (8, 8, 3)


def test_overlay_blends_by_alpha():
    face = np.full((4, 4), 100, np.uint8)
    heat = np.zeros((4, 4, 3), np.uint8)
    heat[..., 0] = 200
    assert tuple(overlay(face, heat, 0.0)[0, 0]) == (100, 100, 100)
    assert tuple(overlay(face, heat, 1.0)[0, 0]) == (200, 0, 0)
    assert tuple(overlay(face, heat, 0.5)[0, 0]) == (150, 50, 50)
    weights = np.zeros((4, 4))
    weights[1, 1] = 1.0
    blended = overlay(face, heat, weights)
    assert tuple(blended[0, 0]) == (100, 100, 100) and tuple(blended[1, 1]) == (200, 0, 0)
    with pytest.raises(ValueError, match="differ in size"):
        overlay(face, np.zeros((5, 5, 3), np.uint8))


def test_attribution_on_face_keeps_the_face_where_the_map_is_zero():
    face = np.full((48, 48), 90, np.uint8)
    heat = np.zeros((48, 48))
    heat[5, 5] = 1.0
    picture = attribution_on_face(face, heat, scale=2)
    assert picture.shape == (96, 96, 3)
    assert tuple(picture[0, 0]) == (90, 90, 90)
    assert tuple(picture[10, 10]) != (90, 90, 90)


def test_upsample_and_enlarge_keep_sharp_blocks():
    small = np.arange(36, dtype=np.float32).reshape(6, 6)
    big = upsample(small)
    assert big.shape == (48, 48)
    assert big[0, 0] == 0 and big[7, 7] == 0 and big[8, 8] == 7 and big[47, 47] == 35
    smooth = upsample(small, nearest=False)
    assert smooth.shape == (48, 48) and smooth.min() >= 0 and smooth.max() <= 35
    image = np.arange(4, dtype=np.uint8).reshape(2, 2)
    assert enlarge(image, 3).shape == (6, 6) and enlarge(image, 3)[5, 5] == 3
    assert enlarge(np.zeros((2, 2, 3), np.uint8), 4).shape == (8, 8, 3)


def test_draw_box_colours_the_border_pixels_only():
    image = np.zeros((10, 10), np.uint8)
    boxed = draw_box(image, (2, 3, 7, 9), color=(255, 0, 0))
    assert boxed.shape == (10, 10, 3)
    red = (boxed == (255, 0, 0)).all(axis=2)
    assert red[2, 3:9].all() and red[6, 3:9].all(), "top and bottom rows (bottom exclusive)"
    assert red[2:7, 3].all() and red[2:7, 8].all(), "left and right columns (right exclusive)"
    assert not red[3:6, 4:8].any(), "the inside is untouched"
    assert not red[7:].any() and not red[:, 9].any()
    assert (image == 0).all(), "the input is not changed"
    clipped = draw_box(image, (-5, -5, 50, 50))
    assert (clipped[0, :] == FIELD_COLOR).all(), "a box larger than the image is clipped to it"


def test_field_on_face_draws_the_box_at_display_scale():
    picture = field_on_face(np.zeros((48, 48), np.uint8), (10, 20, 15, 30), scale=6)
    assert picture.shape == (288, 288, 3)
    assert tuple(picture[60, 150]) == FIELD_COLOR
    assert tuple(picture[72, 150]) == (0, 0, 0)


def test_strength_order_is_strongest_first_with_stable_ties():
    maps = np.zeros((4, 3, 3))
    maps[0, 0, 0], maps[1, 1, 1], maps[2, 2, 2], maps[3, 0, 1] = 1.0, 5.0, 1.0, -1.0
    assert strength_order(maps) == [1, 0, 2, 3]


def test_feature_map_grid_follows_the_order():
    maps = np.stack([np.full((6, 6), float(c)) for c in range(5)])
    order = [3, 0, 4, 1, 2]
    grid = feature_map_grid(maps, order, columns=2, labels=False, gap=2)
    tile = 48  # 6x6 maps are enlarged to 48 px
    assert grid.shape == (3 * (tile + 2) + 2, 2 * (tile + 2) + 2, 3)
    for k, channel in enumerate(order):
        top, left = 2 + (k // 2) * (tile + 2), 2 + (k % 2) * (tile + 2)
        assert tuple(grid[top + 20, left + 20]) == magma(round(255 * channel / 4)), (k, channel)
    assert tuple(grid[0, 0]) == (40, 40, 40), "the gap between tiles"
    empty_cell = grid[2 * (tile + 2) + 2 :, tile + 4 :]
    assert (empty_cell == 40).all(), "the last row's unused cell stays background"


def test_feature_map_grid_default_order_and_labels():
    maps = torch.zeros(3, 48, 48)
    maps[2] += 1.0
    grid = feature_map_grid(maps, columns=3)
    assert grid.shape == (52, 152, 3), "48 px maps are not enlarged"
    assert tuple(grid[40, 40]) == magma(255), "channel 2, the strongest, comes first"
    unlabelled = feature_map_grid(maps, columns=3, labels=False)
    corner = (slice(2, 14), slice(2, 20))
    assert (grid[corner] != unlabelled[corner]).any(), "the channel number is written in the corner"


def test_conv_layer_labels_name_the_maps():
    labels = layer_labels(FanNet().eval())
    assert labels == {
        "features.conv1": "conv1 (1st conv, 32 maps of 48x48)",
        "features.conv2": "conv2 (2nd conv, 64 maps of 24x24)",
        "features.conv3": "conv3 (3rd conv, 128 maps of 12x12)",
    }
    breuer = layer_labels(BreuerNet(width=0.125).eval())
    assert breuer["features.conv4a"] == "conv4a (7th conv, 64 maps of 6x6)"


def test_every_attribution_method_has_a_note_with_its_paper():
    notes = {name: method.note for name, method in METHODS.items()}
    assert all("20" in note and METHODS[name].label.split()[0] in note for name, note in notes.items())


def test_timeline_colours_come_from_the_models_classes():
    from dashboard.charts import class_colors

    casme2 = class_colors(["none", "happiness", "disgust", "repression", "surprise", "others"])
    assert list(casme2) == ["happiness", "disgust", "repression", "surprise", "others"]
    assert len(set(casme2.values())) == 5, "five classes, five colours"
    assert class_colors(["negative", "positive"])["negative"] == casme2["happiness"], "by position in the card"
