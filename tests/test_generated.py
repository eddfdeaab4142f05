"""The embedded dataset of drawn faces: its records, its drawing, and that MediaPipe sees every face."""

import time

import numpy as np
import pytest

from core.datasets import read_dataset
from core.datasets.generated import (
    _DRAW_SIZE,
    EXPRESSION_AUS,
    GENERATED_LABELS,
    _draw_cached,
    generate_face,
    read_generated,
)
from core.errors import DatasetError

SAMPLES = read_generated()


def test_records_cover_every_expression_and_identity():
    assert len(SAMPLES) == 28
    assert {s.label for s in SAMPLES} == set(GENERATED_LABELS) == set(EXPRESSION_AUS)
    assert len({s.source_id for s in SAMPLES}) == 28
    assert {s.subject for s in SAMPLES} == {"G01", "G02", "G03", "G04"}
    for sample in SAMPLES:
        assert sample.dataset == "generated"
        assert sample.aligned is False
        assert sample.aus == EXPRESSION_AUS[sample.label]
        assert sample.source_id.startswith(f"generated/{sample.label}_0")
    happy_02 = next(s for s in SAMPLES if s.source_id == "generated/happy_02")
    assert happy_02.subject == "G02" and happy_02.aus == {6, 12}


def test_read_dataset_and_splits():
    assert [s.source_id for s in read_dataset("generated")] == [s.source_id for s in SAMPLES]
    train, test = read_generated("train"), read_generated("test")
    assert (len(train), len(test)) == (21, 7)
    assert {s.subject for s in test} == {"G04"} and "G04" not in {s.subject for s in train}
    with pytest.raises(DatasetError, match="splits"):
        read_generated("validation")


def test_images_are_rgb_and_deterministic():
    image = SAMPLES[0].image
    assert image.shape == (256, 256, 3) and image.dtype == np.uint8
    assert np.array_equal(image, SAMPLES[0].image)
    assert not np.array_equal(generate_face("happy", seed=0), generate_face("happy", seed=1))
    assert generate_face("sad", 48, 2).shape == (48, 48, 3)


def test_callers_get_a_copy_of_the_cached_drawing():
    image = generate_face("fear", seed=3)
    image[:] = 0
    assert generate_face("fear", seed=3).any()


def test_unknown_label_or_size_is_refused():
    with pytest.raises(DatasetError, match="contempt"):
        generate_face("contempt")
    with pytest.raises(DatasetError, match="16 pixels"):
        generate_face("happy", size=8)


def test_generation_is_fast():
    _draw_cached.cache_clear()
    start = time.perf_counter()
    for sample in SAMPLES:
        sample.image  # noqa: B018
    assert time.perf_counter() - start < 1.5  # about 0.3 s on 2 cores; generous for busy CI


# Which rows of the picture each AU moves: brows and upper face, or the mouth.
BROW_ROWS = slice(int(0.30 * _DRAW_SIZE), int(0.50 * _DRAW_SIZE))
NOSE_ROWS = slice(int(0.48 * _DRAW_SIZE), int(0.62 * _DRAW_SIZE))
MOUTH_ROWS = slice(int(0.62 * _DRAW_SIZE), int(0.80 * _DRAW_SIZE))
UPPER_AUS, MOUTH_AUS = {1, 2, 4, 5, 6, 7}, {12, 15, 16, 20, 23, 26}


@pytest.mark.parametrize("label", [label for label in GENERATED_LABELS if label != "neutral"])
@pytest.mark.parametrize("seed", range(4))
def test_expressions_move_the_parts_their_aus_name(label, seed):
    face = generate_face(label, seed=seed).astype(np.int16)
    neutral = generate_face("neutral", seed=seed).astype(np.int16)
    changed = np.abs(face - neutral).max(axis=2) > 25  # pixels that clearly changed
    aus = EXPRESSION_AUS[label]
    if aus & UPPER_AUS:
        assert changed[BROW_ROWS].sum() > 150, f"{label}: brows and eyes look neutral"
    if 9 in aus:
        assert changed[NOSE_ROWS].sum() > 100, f"{label}: the nose is not wrinkled"
    if aus & MOUTH_AUS:
        assert changed[MOUTH_ROWS].sum() > 100, f"{label}: the mouth looks neutral"


@pytest.mark.parametrize("sample", SAMPLES, ids=lambda s: s.source_id)
def test_mediapipe_finds_and_meshes_every_generated_face(analyzer, sample):
    faces = analyzer.detect(sample.image)
    assert len(faces) == 1
    assert faces[0].landmarks is not None and faces[0].landmarks.shape == (478, 2)
    assert faces[0].score > 0.6
