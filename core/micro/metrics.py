"""Micro-expression metrics: recognition (UF1, UAR, leave-one-subject-out) and MEGC spotting.

Recognition, as in the MEGC 2019 challenge (See et al. 2019): predictions of all
leave-one-subject-out folds (`loso_splits`, `evaluate_loso`) are pooled, then
  UF1 = the mean over classes of F1_c = 2 TP_c / (2 TP_c + FP_c + FN_c)   (unweighted F1)
  UAR = the mean over classes of recall_c = TP_c / (TP_c + FN_c)            (unweighted recall)
A class that neither occurs nor is predicted has no F1 and is left out of UF1; a class that
does not occur has no recall and is left out of UAR (a class predicted but absent has F1 0).

Spotting, as in MEGC 2019-2022: a spotted interval [onset, offset] matches a ground-truth
interval when their intersection over union is at least 0.5. Frames are inclusive, so
[10, 19] holds 10 frames and IoU([10, 19], [15, 24]) = 5 / 15. Matching is one-to-one and
greedy by IoU: the pair with the highest IoU is matched first (ties: the earlier truth,
then the earlier prediction), then the highest among those left, and so on. Matched
predictions are true positives (TP), the other predictions false positives (FP), the
unmatched truths false negatives (FN); over several clips the counts are summed before
precision = TP / (TP + FP), recall = TP / (TP + FN), F1 = 2 TP / (2 TP + FP + FN). Where
a denominator is 0 (no prediction, no truth) the score is 0, as MEGC counts a method that
finds nothing.
"""

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np

from core.errors import InputError
from core.progress import Progress, no_progress

SPOTTING_IOU = 0.5


# ---- recognition -----------------------------------------------------------------------


def _per_class_counts(
    y_true: Sequence[str], y_pred: Sequence[str], classes: Sequence[str] | None
) -> dict[str, tuple[int, int, int]]:
    """{class: (TP, FP, FN)}, for `classes` or, when None, every class seen in either list."""
    if len(y_true) != len(y_pred):
        raise InputError(f"{len(y_true)} true labels but {len(y_pred)} predictions.")
    if classes is None:
        classes = sorted(set(y_true) | set(y_pred))
    truth, predicted = np.asarray(list(y_true), dtype=object), np.asarray(list(y_pred), dtype=object)
    counts = {}
    for name in classes:
        is_true, is_pred = truth == name, predicted == name
        counts[name] = (
            int(np.sum(is_true & is_pred)),
            int(np.sum(~is_true & is_pred)),
            int(np.sum(is_true & ~is_pred)),
        )
    return counts


def uf1(y_true: Sequence[str], y_pred: Sequence[str], classes: Sequence[str] | None = None) -> float:
    """Unweighted F1: the mean of the per-class F1 over the classes that occur or are predicted."""
    scores = [
        2 * tp / (2 * tp + fp + fn)
        for tp, fp, fn in _per_class_counts(y_true, y_pred, classes).values()
        if tp + fp + fn
    ]
    return float(np.mean(scores)) if scores else 0.0


def uar(y_true: Sequence[str], y_pred: Sequence[str], classes: Sequence[str] | None = None) -> float:
    """Unweighted average recall: the mean of the per-class recall over the classes that occur."""
    scores = [tp / (tp + fn) for tp, _, fn in _per_class_counts(y_true, y_pred, classes).values() if tp + fn]
    return float(np.mean(scores)) if scores else 0.0


def recognition_scores(
    y_true: Sequence[str], y_pred: Sequence[str], classes: Sequence[str] | None = None
) -> dict:
    """UF1, UAR, accuracy, n and per-class F1/recall/support, ready for a model card or a table."""
    counts = _per_class_counts(y_true, y_pred, classes)
    per_class = {
        name: {
            "f1": 2 * tp / (2 * tp + fp + fn) if tp + fp + fn else None,
            "recall": tp / (tp + fn) if tp + fn else None,
            "support": tp + fn,
        }
        for name, (tp, fp, fn) in counts.items()
    }
    correct = sum(t == p for t, p in zip(y_true, y_pred, strict=True))
    return {
        "uf1": uf1(y_true, y_pred, classes),
        "uar": uar(y_true, y_pred, classes),
        "accuracy": correct / len(y_true) if len(y_true) else 0.0,
        "n": len(y_true),
        "per_class": per_class,
    }


def loso_splits(subjects: Sequence[str]) -> list[tuple[str, np.ndarray, np.ndarray]]:
    """Leave-one-subject-out folds: (held-out subject, train indices, test indices), by subject name.

    Every sample is tested exactly once, by the one model that never saw its subject.
    """
    subjects = np.asarray([str(s) for s in subjects], dtype=object)
    names = sorted(set(subjects))
    if len(names) < 2:
        raise InputError("Leave-one-subject-out needs samples of at least two subjects.")
    indices = np.arange(len(subjects))
    return [(name, indices[subjects != name], indices[subjects == name]) for name in names]


def evaluate_loso(
    labels: Sequence[str],
    subjects: Sequence[str],
    train_and_predict: Callable[[np.ndarray, np.ndarray], Sequence[str]],
    classes: Sequence[str] | None = None,
    progress: Progress = no_progress,
) -> dict:
    """Leave-one-subject-out evaluation: `train_and_predict(train_indices, test_indices)` fits a
    fresh model on the training indices and returns its labels for the test indices.

    The predictions of all folds are pooled before scoring (MEGC's protocol), so a subject with
    two clips weighs as its two clips. Returns `recognition_scores` plus `folds` (per subject:
    n and accuracy) and `predictions` (one per sample, in input order).
    """
    if len(labels) != len(subjects):
        raise InputError(f"{len(labels)} labels but {len(subjects)} subjects.")
    predictions: list[str | None] = [None] * len(labels)
    folds = []
    splits = loso_splits(subjects)
    for done, (subject, train, test) in enumerate(splits):
        progress(done / len(splits), f"subject {subject} ({done + 1} of {len(splits)})")
        predicted = list(train_and_predict(train, test))
        if len(predicted) != len(test):
            raise ValueError(
                f"train_and_predict returned {len(predicted)} labels for {len(test)} test samples"
            )
        for index, label in zip(test, predicted, strict=True):
            predictions[index] = label
        correct = sum(labels[i] == p for i, p in zip(test, predicted, strict=True))
        folds.append({"subject": subject, "n": len(test), "accuracy": correct / len(test)})
    progress(1.0, f"{len(splits)} subjects done")
    return recognition_scores(labels, predictions, classes) | {"folds": folds, "predictions": predictions}


# ---- spotting --------------------------------------------------------------------------


@dataclass
class SpottingMatch:
    """The outcome of matching one clip's spotted intervals to its truth (or several clips', summed)."""

    tp: int = 0
    fp: int = 0
    fn: int = 0
    pairs: list[tuple[int, int, float]] = field(default_factory=list)  # (prediction, truth, IoU)

    def __add__(self, other: "SpottingMatch") -> "SpottingMatch":
        return SpottingMatch(self.tp + other.tp, self.fp + other.fp, self.fn + other.fn, [])

    def scores(self) -> dict[str, float | int]:
        precision = self.tp / (self.tp + self.fp) if self.tp + self.fp else 0.0
        recall = self.tp / (self.tp + self.fn) if self.tp + self.fn else 0.0
        f1 = 2 * self.tp / (2 * self.tp + self.fp + self.fn) if self.tp else 0.0
        return {
            "precision": precision,
            "recall": recall,
            "f1": f1,
            "tp": self.tp,
            "fp": self.fp,
            "fn": self.fn,
        }


def interval_iou(a: tuple[int, int], b: tuple[int, int]) -> float:
    """IoU of two inclusive frame intervals (onset, offset)."""
    intersection = max(0, min(a[1], b[1]) - max(a[0], b[0]) + 1)
    union = (a[1] - a[0] + 1) + (b[1] - b[0] + 1) - intersection
    return intersection / union


def match_intervals(predicted: Iterable, truth: Iterable, iou: float = SPOTTING_IOU) -> SpottingMatch:
    """Match spotted to true intervals one-to-one, greedily by IoU; pairs need IoU >= `iou`.

    Intervals are (onset, offset) pairs, dicts with onset_frame and offset_frame (the `spot`
    JSON), or objects with those attributes (ClipEvent).
    """
    spans_p, spans_t = [_span(x) for x in predicted], [_span(x) for x in truth]
    candidates = [
        (overlap, t, p)
        for p, span_p in enumerate(spans_p)
        for t, span_t in enumerate(spans_t)
        if (overlap := interval_iou(span_p, span_t)) >= iou
    ]
    candidates.sort(key=lambda c: (-c[0], c[1], c[2]))
    used_p, used_t, pairs = set(), set(), []
    for overlap, t, p in candidates:
        if p not in used_p and t not in used_t:
            used_p.add(p)
            used_t.add(t)
            pairs.append((p, t, overlap))
    return SpottingMatch(len(pairs), len(spans_p) - len(pairs), len(spans_t) - len(pairs), sorted(pairs))


def spotting_scores(
    predicted: Iterable, truth: Iterable, iou: float = SPOTTING_IOU, kind: str | None = None
) -> dict[str, float | int]:
    """Precision, recall, F1 (and TP, FP, FN) of one clip's spotted intervals.

    With `kind` ("micro" or "macro"), only intervals of that kind count on both sides, as
    MEGC scores micro- and macro-expressions apart. For several clips, add their
    `match_intervals` results and call `.scores()`.
    """
    predicted, truth = list(predicted), list(truth)
    if kind is not None:
        predicted = [x for x in predicted if _kind(x) == kind]
        truth = [x for x in truth if _kind(x) == kind]
    return match_intervals(predicted, truth, iou).scores()


def _span(interval) -> tuple[int, int]:
    if isinstance(interval, dict):
        onset, offset = interval["onset_frame"], interval["offset_frame"]
    elif hasattr(interval, "onset_frame"):
        onset, offset = interval.onset_frame, interval.offset_frame
    else:
        onset, offset = interval
    onset, offset = int(onset), int(offset)
    if offset < onset:
        raise InputError(f"An interval's offset ({offset}) comes before its onset ({onset}).")
    return onset, offset


def _kind(interval) -> str | None:
    return interval.get("kind") if isinstance(interval, dict) else getattr(interval, "kind", None)
