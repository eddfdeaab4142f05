"""Micro-expression metrics against answers worked out by hand."""

import pytest

from core.errors import InputError
from core.micro.metrics import (
    evaluate_loso,
    interval_iou,
    loso_splits,
    match_intervals,
    recognition_scores,
    spotting_scores,
    uar,
    uf1,
)
from core.micro.synthetic import ClipEvent


def test_uf1_and_uar_by_hand():
    y_true = ["a", "a", "a", "b", "b", "c"]
    y_pred = ["a", "a", "b", "b", "c", "c"]
    # a: TP 2, FP 0, FN 1 -> F1 4/5, recall 2/3;  b: TP 1, FP 1, FN 1 -> F1 1/2, recall 1/2;
    # c: TP 1, FP 1, FN 0 -> F1 2/3, recall 1.
    assert uf1(y_true, y_pred) == pytest.approx((4 / 5 + 1 / 2 + 2 / 3) / 3)
    assert uar(y_true, y_pred) == pytest.approx((2 / 3 + 1 / 2 + 1) / 3)
    # A class that neither occurs nor is predicted changes nothing.
    assert uf1(y_true, y_pred, ["a", "b", "c", "d"]) == pytest.approx(uf1(y_true, y_pred))
    assert uar(y_true, y_pred, ["a", "b", "c", "d"]) == pytest.approx(uar(y_true, y_pred))


def test_a_class_predicted_but_absent_counts_zero_in_uf1_not_in_uar():
    # a: F1 1; b: missed (F1 0); d: predicted, never true (F1 0, no recall).
    assert uf1(["a", "b"], ["a", "d"]) == pytest.approx(1 / 3)
    assert uar(["a", "b"], ["a", "d"]) == pytest.approx(1 / 2)
    # Unweighted: one rare class missed costs as much as a frequent one.
    y_true = ["a"] * 9 + ["b"]
    y_pred = ["a"] * 10
    assert uar(y_true, y_pred) == pytest.approx(0.5)
    scores = recognition_scores(y_true, y_pred)
    assert scores["accuracy"] == pytest.approx(0.9) and scores["n"] == 10
    assert scores["per_class"]["b"] == {"f1": 0.0, "recall": 0.0, "support": 1}
    assert scores["uf1"] == pytest.approx((18 / 19 + 0) / 2)
    with pytest.raises(InputError):
        uf1(["a"], ["a", "b"])


def test_loso_splits_test_every_sample_once_without_its_subject_in_training():
    subjects = ["s2", "s1", "s2", "s3", "s1"]
    folds = loso_splits(subjects)
    assert [name for name, _, _ in folds] == ["s1", "s2", "s3"]
    tested = sorted(i for _, _, test in folds for i in test)
    assert tested == [0, 1, 2, 3, 4]
    for name, train, test in folds:
        assert {subjects[i] for i in test} == {name}
        assert name not in {subjects[i] for i in train}
        assert len(train) + len(test) == 5
    with pytest.raises(InputError):
        loso_splits(["s1", "s1"])


def test_evaluate_loso_trains_without_the_test_subject_and_pools_predictions():
    # A real if tiny model: 1-nearest-neighbour on a 1-D feature, refitted per fold.
    feature = [1.0, 9.0, 4.0, 9.5]
    labels = ["a", "b", "a", "b"]
    subjects = ["s1", "s1", "s2", "s3"]
    seen = []

    def nearest(train, test):
        seen.append((sorted({subjects[i] for i in train}), sorted({subjects[i] for i in test})))
        return [labels[min(train, key=lambda j, i=i: abs(feature[j] - feature[i]))] for i in test]

    result = evaluate_loso(labels, subjects, nearest)
    assert seen == [(["s2", "s3"], ["s1"]), (["s1", "s3"], ["s2"]), (["s1", "s2"], ["s3"])]
    # s1's clips borrow from s2 (4.0 -> a) and s3 (9.5 -> b); s2's from s1's a; s3's from s1's b.
    assert result["predictions"] == ["a", "b", "a", "b"]
    assert result["uf1"] == 1.0 and result["uar"] == 1.0 and result["n"] == 4
    assert [(f["subject"], f["n"]) for f in result["folds"]] == [("s1", 2), ("s2", 1), ("s3", 1)]
    # Pooled scoring: predictions a, b, a, b against a, b, b, b.
    result = evaluate_loso(
        ["a", "b", "b", "b"], subjects, lambda train, test: [("a", "b", "a", "b")[i] for i in test]
    )
    assert result["uar"] == pytest.approx((1 + 2 / 3) / 2)  # a: 1/1, b: 2/3
    assert result["uf1"] == pytest.approx((2 / 3 + 4 / 5) / 2)  # a: TP 1 FP 1; b: TP 2 FN 1
    assert [f["accuracy"] for f in result["folds"]] == [1.0, 0.0, 1.0]


def test_iou_counts_frames_inclusively():
    assert interval_iou((10, 19), (15, 24)) == pytest.approx(5 / 15)
    assert interval_iou((10, 19), (20, 29)) == 0  # touching, not overlapping
    assert interval_iou((0, 9), (0, 4)) == pytest.approx(0.5)
    assert interval_iou((3, 3), (3, 3)) == 1


def test_spotting_scores_by_hand():
    truth = [(10, 19), (40, 49)]
    predicted = [(12, 21), (15, 24), (42, 47), (80, 90)]
    # IoU 8/12 with the first truth (match), 5/15 (no), 6/10 with the second (match), nothing.
    scores = spotting_scores(predicted, truth)
    assert (scores["tp"], scores["fp"], scores["fn"]) == (2, 2, 0)
    assert scores["precision"] == pytest.approx(0.5)
    assert scores["recall"] == pytest.approx(1.0)
    assert scores["f1"] == pytest.approx(2 * 2 / (2 * 2 + 2 + 0))


def test_matching_is_one_to_one_greedy_by_iou_with_the_threshold_inclusive():
    # P1 fits T0 perfectly; P0 overlaps T0 (8/12) more than T1 (7/13). Greedy by IoU pairs
    # P1-T0 first, then P0-T1 (7/13 >= 0.5): two matches. Matching in prediction order
    # would give P0-T0 and leave P1 with T1 at 5/15: one match.
    match = match_intervals([(2, 11), (0, 9)], [(0, 9), (5, 14)])
    assert (match.tp, match.fp, match.fn) == (2, 0, 0)
    assert match.pairs == [(0, 1, pytest.approx(7 / 13)), (1, 0, 1.0)]
    # Two predictions on one truth: one is a false positive.
    assert (
        match_intervals([(10, 19), (11, 19)], [(10, 19)]).tp,
        match_intervals([(10, 19), (11, 19)], [(10, 19)]).fp,
    ) == (1, 1)
    assert match_intervals([(0, 4)], [(0, 9)]).tp == 1  # IoU exactly 0.5 matches
    assert match_intervals([(0, 3)], [(0, 9)]).tp == 0  # 0.4 does not
    assert match_intervals([(0, 3)], [(0, 9)], iou=0.4).tp == 1


def test_spotting_accepts_spot_json_and_clip_events_and_scores_kinds_apart():
    truth = [
        ClipEvent(30, 34, 38, "micro", "positive", (12,)),
        ClipEvent(90, 100, 125, "macro", "surprise", (1, 2)),
    ]
    predicted = [
        {"onset_frame": 31, "apex_frame": 34, "offset_frame": 38, "kind": "micro"},
        {"onset_frame": 92, "apex_frame": 100, "offset_frame": 120, "kind": "micro"},  # wrong kind
    ]
    assert spotting_scores(predicted, truth)["tp"] == 2
    micro = spotting_scores(predicted, truth, kind="micro")
    assert (micro["tp"], micro["fp"], micro["fn"]) == (1, 1, 0)
    macro = spotting_scores(predicted, truth, kind="macro")
    assert (macro["tp"], macro["fp"], macro["fn"]) == (0, 0, 1)
    assert macro["precision"] == 0 and macro["f1"] == 0


def test_clips_are_pooled_by_summing_counts():
    first = match_intervals([(0, 9)], [(0, 9)])  # TP
    second = match_intervals([(50, 59), (70, 79)], [(100, 109)])  # 2 FP, 1 FN
    pooled = (first + second).scores()
    assert (pooled["tp"], pooled["fp"], pooled["fn"]) == (1, 2, 1)
    assert pooled["precision"] == pytest.approx(1 / 3)
    assert pooled["recall"] == pytest.approx(1 / 2)
    assert pooled["f1"] == pytest.approx(2 / (2 + 2 + 1))
    with pytest.raises(InputError):
        match_intervals([(9, 0)], [(0, 9)])
