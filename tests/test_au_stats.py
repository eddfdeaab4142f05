"""The statistics of AU tables against textbook formulas and scipy, and AU regions against
deconvolution peaks and attribution maps."""

import numpy as np
import pytest
import scipy.stats

from core.au import stats
from core.au.regions import REGIONS, canonical_landmarks, canonical_region_masks
from core.au.spatial import (
    attribution_by_region,
    au_label,
    au_mask,
    cell_faces,
    cell_sheet,
    crop_landmarks,
    parse_au_label,
    projection_peak,
)
from core.errors import InputError


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(3)
    responses = np.abs(rng.normal(size=(60, 9))) * 2
    presence = rng.random((60, 4)) < 0.35
    responses[:, 2] += 1.5 * presence[:, 1]  # map 2 follows AU 1
    responses[:, 8] = 0.0  # a dead map
    return responses, presence


def test_distance_is_cohens_d_with_the_pooled_sd(data):
    responses, presence = data
    d = stats.scores(responses, presence, "distance")
    for a in range(presence.shape[1]):
        for m in range(8):
            x1, x0 = responses[presence[:, a], m], responses[~presence[:, a], m]
            pooled = ((len(x1) - 1) * x1.var(ddof=1) + (len(x0) - 1) * x0.var(ddof=1)) / (
                len(x1) + len(x0) - 2
            )
            assert d[a, m] == pytest.approx((x1.mean() - x0.mean()) / np.sqrt(pooled), rel=1e-9)
    assert np.all(d[:, 8] == 0), "a dead map scores 0"


def test_correlation_is_scipys_point_biserial_r_and_a_monotone_function_of_d(data):
    responses, presence = data
    r = stats.scores(responses, presence, "correlation")
    for a in range(presence.shape[1]):
        for m in range(8):
            assert r[a, m] == pytest.approx(
                scipy.stats.pointbiserialr(presence[:, a], responses[:, m])[0], rel=1e-9
            )
    d = stats.scores(responses, presence, "distance")
    n1 = presence.sum(axis=0)[:, None]
    assert np.allclose(stats.distance_to_correlation(d, n1, len(presence) - n1), r)


def test_bootstrap_weights_equal_repeating_units(data):
    responses, presence = data
    counts = np.random.default_rng(0).integers(0, 3, (2, len(responses)))
    weighted = stats.scores(responses, presence, "distance", counts)
    for b in range(2):
        rows = np.repeat(np.arange(len(responses)), counts[b])
        assert np.allclose(
            weighted[b], stats.scores(responses[rows], presence[rows], "distance"), equal_nan=True
        )


def test_bootstrap_interval_brackets_the_score_and_is_seeded(data):
    responses, presence = data
    low, high = stats.bootstrap_ci(responses, presence, n_boot=300, seed=1)
    d = stats.scores(responses, presence)
    assert np.all(low[:, :8] < d[:, :8]) and np.all(d[:, :8] < high[:, :8])
    assert low[1, 2] > 0, "the planted dependence is clear of zero"
    again = stats.bootstrap_ci(responses, presence, n_boot=300, seed=1)
    assert np.array_equal(low, again[0]) and np.array_equal(high, again[1])


def test_permutation_p_values(data):
    responses, presence = data
    p = stats.permutation_p(responses, presence, n_permutations=199, seed=0)
    assert p[1, 2] == pytest.approx(1 / 200), "nothing shuffled beats a real effect"
    assert np.all((p >= 1 / 200) & (p <= 1))
    assert np.all(p[:, 8] == 1), "a dead map never counts as evidence"
    # One-sided in the ranking's direction: the reversed effect is far from significant.
    assert stats.permutation_p(-responses, presence, n_permutations=199)[1, 2] == 1
    # Under the null (no planted maps), p-values spread over (0, 1].
    null = stats.permutation_p(responses[:, [0, 1, 3, 4, 5, 6, 7]], presence, n_permutations=99, seed=2)
    assert 0.25 < null.mean() < 0.75


def test_benjamini_hochberg_against_a_hand_computed_example():
    q = stats.benjamini_hochberg(np.array([[0.01, 0.04], [0.03, 0.5]]))
    # sorted p 0.01 0.03 0.04 0.5 -> p m / rank 0.04 0.06 0.0533 0.5 -> running minimum from the top
    assert np.allclose(q, [[0.04, 0.16 / 3], [0.16 / 3, 0.5]])
    assert np.isnan(stats.benjamini_hochberg(np.array([np.nan, 0.2])))[0]
    assert stats.benjamini_hochberg(np.array([0.9, 0.95])).max() == 0.95


def test_au_labels_round_trip_and_bad_ones_are_refused():
    assert au_label((1, 2)) == "AU1+2" and au_label(12) == "AU12"
    assert (
        parse_au_label("AU1+2") == (1, 2) and parse_au_label(" 12 ") == (12,) and parse_au_label(25) == (25,)
    )
    with pytest.raises(InputError, match="not an AU"):
        parse_au_label("smile")


def test_attribution_inside_one_region_is_all_there():
    masks = canonical_region_masks(48)
    heat = np.where(masks["brows"], 2.0, 0.0) - 5.0 * masks["chin"]  # negative evidence is not counted
    shares = {row["region"]: row["share"] for row in attribution_by_region(heat)}
    assert shares["brows"] == pytest.approx(1.0) and shares["chin"] == 0 and shares["elsewhere"] == 0
    assert list(shares) == [*REGIONS, "elsewhere"]
    # Landmarks of the canonical face give the same answer as no landmarks (the template).
    with_points = {
        row["region"]: row["share"] for row in attribution_by_region(heat, canonical_landmarks(48))
    }
    assert with_points == pytest.approx(shares)
    corner = np.zeros((48, 48))
    corner[0, 0] = 1.0  # the image corner is no face region
    assert {r["region"]: r["share"] for r in attribution_by_region(corner)}["elsewhere"] == 1.0
    assert all(r["share"] == 0 for r in attribution_by_region(-np.ones((48, 48))))
    with pytest.raises(InputError, match="square"):
        attribution_by_region(np.ones((48, 40)))


def test_peaks_and_masks():
    projection = np.zeros((48, 48))
    assert projection_peak(projection) is None
    projection[10, 20], projection[30, 5] = 0.5, -0.9
    assert projection_peak(projection) == (30, 5), "the largest |value|, whatever its sign"
    masks = canonical_region_masks(48)
    assert np.array_equal(au_mask((1, 2), masks), masks["brows"])
    assert np.array_equal(au_mask((6, 12), masks), masks["cheeks"] | masks["lip_corners"])
    assert au_mask((21,), masks) is None, "the neck shows in no crop"


def test_cell_faces_and_their_sheet(one_torch_thread):
    import torch

    from core.models.architectures import FanNet

    torch.manual_seed(0)
    model = FanNet(width=0.25).eval()
    crops = np.random.default_rng(0).integers(0, 255, (2, 48, 48), dtype=np.uint8)
    faces = cell_faces(model, crops, [None, canonical_landmarks(48)], ["a", "b"], "features.conv2", 3, (12,))
    assert [f["source_id"] for f in faces] == ["a", "b"]
    for face in faces:
        assert face["deconvolution"].shape == (48, 48)
        if face["value"] > 0:
            assert face["inside"] == bool(face["mask"][face["peak"]])
    sheet = cell_sheet(faces, (12,), scale=2, columns=2)
    assert sheet.dtype == np.uint8 and sheet.shape == (96, 2 * (96 + 2 + 96) + 6, 3)


def test_a_small_aligned_crop_is_meshed_where_its_alignment_put_the_points(analyzer):
    from core.datasets.generated import read_generated
    from core.faces import prepare_face

    aligned = prepare_face(read_generated()[3].image, analyzer, size=48).crop
    measured = crop_landmarks(aligned.image, analyzer)
    assert measured is not None and measured.shape == aligned.landmarks.shape
    # Within about a pixel of the points the alignment carried over from the full picture.
    assert np.median(np.linalg.norm(measured - aligned.landmarks, axis=1)) < 1.5
    assert crop_landmarks(np.full((48, 48), 128, np.uint8), analyzer) is None, "no face, no mesh"
