"""Which feature maps respond differently on two datasets: a two-sample Kolmogorov-Smirnov
statistic per map, between the map's spatial-maximum responses on each dataset's faces.

D is the largest gap between the two empirical distribution functions (0: the same, 1: no
overlap). Its p-value uses the asymptotic Kolmogorov distribution with the number of
independent units (CK+ sequences, not frames) as the sample size.
"""

import numpy as np
from torch import nn

from core.datasets import Sample
from core.datasets.units import unit_ids
from core.progress import Progress, no_progress
from core.transfer.features import layer_maxima


def ks_statistic(a: np.ndarray, b: np.ndarray) -> float:
    """The two-sample Kolmogorov-Smirnov statistic: max |F_a(x) - F_b(x)| over every x."""
    a, b = np.sort(np.asarray(a, np.float64)), np.sort(np.asarray(b, np.float64))
    points = np.concatenate([a, b])
    cdf_a = np.searchsorted(a, points, side="right") / len(a)
    cdf_b = np.searchsorted(b, points, side="right") / len(b)
    gap = cdf_a - cdf_b
    return float(np.max(np.abs(gap)))


def ks_pvalue(d: float, n: int, m: int, terms: int = 100) -> float:
    """P(D >= d) under the null, from the asymptotic Kolmogorov distribution (Stephens' correction)."""
    en = np.sqrt(n * m / (n + m))
    lam = (en + 0.12 + 0.11 / en) * d
    if lam < 1e-3:
        return 1.0
    k = np.arange(1, terms + 1)
    return float(np.clip(2 * np.sum((-1.0) ** (k - 1) * np.exp(-2 * k**2 * lam**2)), 0.0, 1.0))


def activation_shift(
    model: nn.Module,
    crops_a: np.ndarray,
    samples_a: list[Sample],
    crops_b: np.ndarray,
    samples_b: list[Sample],
    layers: list[str] | None = None,
    progress: Progress = no_progress,
) -> dict:
    """One row per feature map, most shifted first: layer, channel, ks, p_value, median_a, median_b."""
    maxima_a = layer_maxima(
        model, crops_a, layers, progress=lambda f, m: progress(0.45 * f, f"dataset A: {m}")
    )
    maxima_b = layer_maxima(
        model, crops_b, layers, progress=lambda f, m: progress(0.45 + 0.45 * f, f"dataset B: {m}")
    )
    units_a, units_b = len(set(unit_ids(samples_a))), len(set(unit_ids(samples_b)))
    rows = []
    for layer, values_a in maxima_a.items():
        values_b = maxima_b[layer]
        for channel in range(values_a.shape[1]):
            d = ks_statistic(values_a[:, channel], values_b[:, channel])
            median_a, median_b = (
                float(np.median(values_a[:, channel])),
                float(np.median(values_b[:, channel])),
            )
            rows.append({
                "layer": layer, "channel": channel, "ks": d, "p_value": ks_pvalue(d, units_a, units_b),
                "median_a": median_a, "median_b": median_b,
                "higher_on": "a" if median_a > median_b else "b",
            })  # fmt: skip
    rows.sort(key=lambda row: -row["ks"])
    progress(1.0, "done")
    return {"rows": rows, "n_a": len(crops_a), "n_b": len(crops_b), "units_a": units_a, "units_b": units_b,
            "statistic": "two-sample Kolmogorov-Smirnov D of each map's spatial maximum (conv output)"}  # fmt: skip
