"""Cross-task: does a layer's frozen features say which FACS Action Units a face shows?

Per conv layer, each map's post-ReLU output is max-pooled over space (the whole map, grid 1,
or each cell of a 3 x 3 grid, grid 3, which keeps where on the face a response is) and
averaged over the frames of a CK+ sequence (one unit per sequence). A logistic regression per AU (L2, positive
class weighted by its rarity, features standardised on the training folds) is trained on
subject-independent folds; every sequence is predicted once, by the fold that held it out.
The score is F1 of 'present' per AU and layer, with a 95% interval resampling sequences. AUs
present in fewer than `min_present` sequences are skipped (and listed). `pixels` is the
baseline: the crop averaged to 12 x 12 blocks, probed the same way.
"""

import numpy as np
import torch
from torch import nn

from core.datasets import Sample
from core.datasets.units import unit_ids
from core.errors import InputError
from core.models.training import subject_folds
from core.progress import Progress, no_progress
from core.transfer.features import layer_maxima, per_unit, pooled_pixels

PIXELS = "pixels"


def fit_logistic(
    x: np.ndarray, y: np.ndarray, l2: float = 1e-2, iterations: int = 100
) -> tuple[np.ndarray, np.ndarray]:
    """Weights (features, outputs) and biases of one logistic regression per column of y (0/1).

    The columns are independent (the loss is a sum over them), so they are fitted together.
    """
    torch.manual_seed(0)
    features, targets = torch.as_tensor(x, dtype=torch.float64), torch.as_tensor(y, dtype=torch.float64)
    positives = targets.sum(0)
    pos_weight = (len(targets) - positives) / positives.clamp(min=1)
    weights = torch.zeros(x.shape[1], y.shape[1], dtype=torch.float64, requires_grad=True)
    bias = torch.zeros(y.shape[1], dtype=torch.float64, requires_grad=True)
    optimizer = torch.optim.LBFGS([weights, bias], lr=1, max_iter=iterations, line_search_fn="strong_wolfe")
    loss_fn = nn.BCEWithLogitsLoss(pos_weight=pos_weight, reduction="none")

    def closure() -> torch.Tensor:
        optimizer.zero_grad()
        loss = loss_fn(features @ weights + bias, targets).mean(0).sum() + l2 * (weights**2).sum()
        loss.backward()
        return loss

    optimizer.step(closure)
    return weights.detach().numpy(), bias.detach().numpy()


def f1_scores(truth: np.ndarray, predicted: np.ndarray) -> np.ndarray:
    """F1 of 'present' per column of (units, columns) 0/1 arrays."""
    tp = (truth & predicted).sum(0)
    denominator = truth.sum(0) + predicted.sum(0)
    return np.where(denominator > 0, 2 * tp / np.maximum(denominator, 1), 0.0)


def f1_intervals(truth: np.ndarray, predicted: np.ndarray, n_boot: int = 1000, seed: int = 0) -> np.ndarray:
    """Percentile 95% intervals (columns, 2) of F1 per column, resampling units (rows)."""
    rng = np.random.default_rng(seed)
    scores = np.empty((n_boot, truth.shape[1]))
    for b in range(n_boot):
        rows = rng.integers(0, len(truth), len(truth))
        scores[b] = f1_scores(truth[rows], predicted[rows])
    return np.percentile(scores, [2.5, 97.5], axis=0).T


def out_of_fold(x: np.ndarray, y: np.ndarray, folds: np.ndarray) -> np.ndarray:
    """Each unit's predicted AUs (0/1), from the probe trained on the other folds."""
    predicted = np.zeros_like(y, dtype=bool)
    for fold in np.unique(folds):
        train, test = folds != fold, folds == fold
        mean, sd = x[train].mean(0), x[train].std(0) + 1e-6
        weights, bias = fit_logistic((x[train] - mean) / sd, y[train])
        predicted[test] = ((x[test] - mean) / sd) @ weights + bias > 0
    return predicted


def _probe_rows(
    layer: str, grid: int, x: np.ndarray, truth: np.ndarray, fold_of: np.ndarray, aus: list[int], n_boot: int
) -> list[dict]:
    """One row per AU: the out-of-fold probe's F1 (with its CI), precision and recall on one feature set."""
    predicted = out_of_fold(x, truth, fold_of)
    f1 = f1_scores(truth, predicted)
    intervals = f1_intervals(truth, predicted, n_boot)
    hits = (truth & predicted).sum(0)
    return [
        {
            "layer": layer, "grid": grid, "au": f"AU{au}", "f1": float(f1[j]), "ci_low": float(intervals[j, 0]),
            "ci_high": float(intervals[j, 1]), "precision": float(hits[j] / max(predicted[:, j].sum(), 1)),
            "recall": float(hits[j] / truth[:, j].sum()), "n_present": int(truth[:, j].sum()),
            "n_absent": int((~truth[:, j]).sum()), "dimensions": int(x.shape[1]),
        }
        for j, au in enumerate(aus)
    ]  # fmt: skip


def au_probes(
    model: nn.Module,
    crops: np.ndarray,
    samples: list[Sample],
    layers: list[str] | None = None,
    min_present: int = 10,
    folds: int = 5,
    grids: tuple[int, ...] = (1, 3),
    n_boot: int = 1000,
    progress: Progress = no_progress,
) -> dict:
    """F1 per (layer, AU) of linear probes on frozen features, by subject-independent folds.

    Returns {"rows": [{layer, grid, au, f1, ci_low, ci_high, precision, recall, n_present, n_absent}],
    "aus", "skipped" ({AU: present sequences} below min_present), "layers", "n_units", "folds"}.
    """
    units = unit_ids(samples)
    unit_names, first = np.unique(np.asarray(units), return_index=True)
    unit_aus = [samples[i].aus for i in first]
    counts = {au: sum(au in aus for aus in unit_aus) for au in sorted(set().union(*unit_aus))}
    aus = [au for au, n in counts.items() if n >= min_present and len(unit_names) - n >= min_present]
    if not aus:
        raise InputError(
            f"No Action Unit is present in at least {min_present} sequences (and absent in as many): "
            "the dataset needs AU labels (CK+ with its FACS files or an --au-labels csv)."
        )
    truth = np.array([[au in aus_ for au in aus] for aus_ in unit_aus])
    subjects = [samples[i].subject or units[i] for i in first]
    fold_of = subject_folds(subjects, folds)
    features = {}
    for g, grid in enumerate(grids):
        report = lambda f, m, g=g: progress(0.5 * (g + f) / len(grids), m)  # noqa: E731
        maxima = layer_maxima(model, crops, layers, after_relu=True, grid=grid, progress=report)
        features.update({(layer, grid): values for layer, values in maxima.items()})
    features[(PIXELS, 0)] = pooled_pixels(crops)
    rows = []
    for step, ((layer, grid), values) in enumerate(features.items()):
        progress(0.5 + 0.5 * step / len(features), f"probing {layer}, grid {grid}")
        x, _ = per_unit(values, units)  # rows in unit_names order (both sorted)
        rows += _probe_rows(layer, grid, x.astype(np.float64), truth, fold_of, aus, n_boot)
    progress(1.0, "done")
    return {
        "rows": rows, "aus": [f"AU{au}" for au in aus], "layers": list(dict.fromkeys(k[0] for k in features)),
        "grids": list(grids), "n_units": len(unit_names),
        "folds": folds, "min_present": min_present,
        "skipped": {f"AU{au}": n for au, n in counts.items() if au not in aus},
        "features": "spatial max of each map's ReLU output (whole map or per grid cell), averaged over a "
        "sequence's frames; pixels: the crop averaged to 12 x 12 blocks (grid 0)",
    }  # fmt: skip
