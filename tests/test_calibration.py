"""Temperature scaling finds a known temperature, lowers the ECE, and leaves the ranking of classes alone."""

import numpy as np
import pytest
import torch

from core.models.calibration import (
    calibration_report,
    expected_calibration_error,
    fit_temperature,
    reliability_bins,
)


def _overconfident(n: int = 4000, temperature: float = 2.5, seed: int = 0):
    """Labels drawn from softmax(z), and the logits z * temperature: calibrated exactly at T = temperature."""
    rng = np.random.default_rng(seed)
    z = rng.normal(size=(n, 5)) * 1.5
    p = np.exp(z) / np.exp(z).sum(1, keepdims=True)
    labels = np.array([rng.choice(5, p=row) for row in p])
    return torch.tensor(z * temperature, dtype=torch.float32), labels


def test_the_fitted_temperature_is_the_true_one():
    logits, labels = _overconfident(temperature=2.5)
    assert fit_temperature(logits, labels) == pytest.approx(2.5, rel=0.1)


def test_scaling_lowers_the_ece_and_keeps_accuracy():
    logits, labels = _overconfident(seed=1)
    t = fit_temperature(*_overconfident(seed=2))  # fitted on other faces than those scored
    report = calibration_report(logits, labels, t, "test")
    assert report["ece_after"] < report["ece_before"] / 2
    assert torch.equal(logits.argmax(1), (logits / t).argmax(1))


def test_reliability_bins_count_every_face_once():
    probabilities = np.array([[0.95, 0.05], [0.55, 0.45], [0.2, 0.8], [0.5, 0.5]])
    labels = np.array([0, 1, 1, 0])
    bins = reliability_bins(probabilities, labels, bins=10)
    assert sum(b.n for b in bins) == 4
    assert expected_calibration_error(np.array([[1.0, 0.0]] * 4), np.array([0, 0, 0, 0])) == 0.0
    assert expected_calibration_error(np.array([[1.0, 0.0]] * 4), np.array([1, 1, 1, 1])) == 1.0
