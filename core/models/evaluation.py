"""Scores with honest uncertainty: accuracy, macro-F1, per-class scores, confusion, bootstrap CIs.

Where test items are not independent (the three frames of a CK+ sequence), pass `groups`:
the bootstrap then resamples whole groups, so the interval is not falsely narrow.
"""

import numpy as np


def confusion_matrix(y_true: np.ndarray, y_pred: np.ndarray, num_classes: int) -> np.ndarray:
    """Rows are true classes, columns predicted ones."""
    matrix = np.zeros((num_classes, num_classes), dtype=np.int64)
    np.add.at(matrix, (y_true, y_pred), 1)
    return matrix


def macro_f1(y_true: np.ndarray, y_pred: np.ndarray, num_classes: int) -> float:
    """Mean F1 over the classes present in y_true (absent classes would be undefined)."""
    matrix = confusion_matrix(y_true, y_pred, num_classes)
    return float(np.mean([_f1(matrix, c) for c in range(num_classes) if matrix[c].sum() > 0]))


def _f1(matrix: np.ndarray, c: int) -> float:
    true_positive = matrix[c, c]
    denominator = matrix[c].sum() + matrix[:, c].sum()
    return float(2 * true_positive / denominator) if denominator else 0.0


def bootstrap_ci(
    y_true: np.ndarray,
    y_pred: np.ndarray,
    score,
    groups: np.ndarray | None = None,
    n_boot: int = 1000,
    seed: int = 0,
) -> tuple[float, float]:
    """Percentile 95% interval of `score(y_true, y_pred)` over resamples (of groups, if given)."""
    rng = np.random.default_rng(seed)
    groups = np.arange(len(y_true)) if groups is None else np.asarray(groups)
    unique, index = np.unique(groups, return_inverse=True)
    members = [np.flatnonzero(index == g) for g in range(len(unique))]
    scores = []
    for _ in range(n_boot):
        chosen = rng.integers(0, len(unique), len(unique))
        rows = np.concatenate([members[g] for g in chosen])
        scores.append(score(y_true[rows], y_pred[rows]))
    low, high = np.percentile(scores, [2.5, 97.5])
    return float(low), float(high)


def evaluate_predictions(
    y_true,
    y_pred,
    classes: list[str],
    groups=None,
    n_boot: int = 1000,
    seed: int = 0,
) -> dict:
    """The contract's evaluation: accuracy, macro_f1, ci_low, ci_high (95%), n, per_class, confusion."""
    y_true, y_pred = np.asarray(y_true, dtype=np.int64), np.asarray(y_pred, dtype=np.int64)
    k = len(classes)
    matrix = confusion_matrix(y_true, y_pred, k)
    accuracy = lambda t, p: float(np.mean(t == p))  # noqa: E731
    ci_low, ci_high = bootstrap_ci(y_true, y_pred, accuracy, groups, n_boot, seed)
    f1_low, f1_high = bootstrap_ci(y_true, y_pred, lambda t, p: macro_f1(t, p, k), groups, n_boot, seed)
    per_class = {}
    for c, name in enumerate(classes):
        predicted, support = int(matrix[:, c].sum()), int(matrix[c].sum())
        per_class[name] = {
            "precision": float(matrix[c, c] / predicted) if predicted else 0.0,
            "recall": float(matrix[c, c] / support) if support else 0.0,
            "f1": _f1(matrix, c),
            "support": support,
        }
    return {
        "accuracy": accuracy(y_true, y_pred),
        "macro_f1": macro_f1(y_true, y_pred, k),
        "ci_low": ci_low,
        "ci_high": ci_high,
        "macro_f1_ci": [f1_low, f1_high],
        "n": int(len(y_true)),
        "n_units": int(len(np.unique(groups))) if groups is not None else int(len(y_true)),
        "classes": list(classes),
        "per_class": per_class,
        "confusion": matrix.tolist(),
    }
