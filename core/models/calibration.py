"""Calibrated probabilities: temperature scaling (Guo et al. 2017) and the expected calibration error.

    temperature = fit_temperature(holdout_logits, holdout_labels)   # never on a test split
    probabilities = (logits / temperature).softmax(1)
    report = calibration_report(test_logits, test_labels, temperature)

One number divides the logits; the ranking of classes, hence accuracy, is unchanged, only
how confident the model says it is. The ECE is the gap between confidence and accuracy,
averaged over equal-width confidence bins weighted by how many faces fall in each.
"""

from dataclasses import asdict, dataclass

import numpy as np
import torch
import torch.nn.functional as F

ECE_BINS = 15


def fit_temperature(logits: torch.Tensor, labels: np.ndarray | torch.Tensor) -> float:
    """The temperature T > 0 that minimises the negative log-likelihood of softmax(logits / T)."""
    logits, labels = torch.as_tensor(logits).float(), torch.as_tensor(labels, dtype=torch.long)
    log_t = torch.zeros(1, requires_grad=True)  # T = exp(log_t) stays positive
    optimizer = torch.optim.LBFGS([log_t], lr=0.1, max_iter=200, line_search_fn="strong_wolfe")

    def closure() -> torch.Tensor:
        optimizer.zero_grad()
        loss = F.cross_entropy(logits / log_t.exp(), labels)
        loss.backward()
        return loss

    optimizer.step(closure)
    return float(log_t.exp().item())


@dataclass(frozen=True)
class ReliabilityBin:
    low: float
    high: float
    n: int
    confidence: float  # mean top-class probability of the faces in the bin
    accuracy: float  # share of them predicted right


def reliability_bins(
    probabilities: np.ndarray, labels: np.ndarray, bins: int = ECE_BINS
) -> list[ReliabilityBin]:
    """Faces binned by their top-class probability; empty bins are left out."""
    probabilities, labels = np.asarray(probabilities), np.asarray(labels)
    confidence, predicted = probabilities.max(1), probabilities.argmax(1)
    edges = np.linspace(0.0, 1.0, bins + 1)
    which = np.clip(np.digitize(confidence, edges[1:-1], right=True), 0, bins - 1)
    out = []
    for b in range(bins):
        members = which == b
        if members.any():
            out.append(ReliabilityBin(float(edges[b]), float(edges[b + 1]), int(members.sum()),
                                      float(confidence[members].mean()),
                                      float((predicted[members] == labels[members]).mean())))  # fmt: skip
    return out


def expected_calibration_error(probabilities: np.ndarray, labels: np.ndarray, bins: int = ECE_BINS) -> float:
    rows = reliability_bins(probabilities, labels, bins)
    total = sum(r.n for r in rows)
    return float(sum(r.n * abs(r.accuracy - r.confidence) for r in rows) / total) if total else float("nan")


def calibration_report(logits: torch.Tensor, labels: np.ndarray, temperature: float, split: str) -> dict:
    """ECE and reliability bins on `split`, before (T = 1) and after temperature scaling."""
    logits = torch.as_tensor(logits).float()
    before, after = logits.softmax(1).numpy(), (logits / temperature).softmax(1).numpy()
    return {
        "temperature": temperature,
        "split": split,
        "n": int(len(labels)),
        "bins": ECE_BINS,
        "ece_before": expected_calibration_error(before, labels),
        "ece_after": expected_calibration_error(after, labels),
        "reliability_before": [asdict(r) for r in reliability_bins(before, labels)],
        "reliability_after": [asdict(r) for r in reliability_bins(after, labels)],
    }
