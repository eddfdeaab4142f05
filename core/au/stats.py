"""Statistics of AU-to-feature-map tables, vectorised over every map and every AU at once.

Inputs: `responses` R, float (units x maps), one response per independent unit (a CK+
sequence, not its frames), and `presence` P, bool (units x AUs). For AU a and map m, with
n1 units where a is present (mean m1, sample variance s1^2) and n0 where it is absent
(m0, s0^2), n = n1 + n0:

- distance (after Fan, Yuan & Zhu 2019, arXiv 1904.09737; their exact formula is not at
  hand, so this is the project's own definition): Cohen's d with the pooled sd,
      d = (m1 - m0) / s_p,   s_p^2 = ((n1 - 1) s1^2 + (n0 - 1) s0^2) / (n - 2);
  signed, so bigger means the map responds more strongly when the AU is present.
- correlation (after Breuer & Kimmel 2017, arXiv 1705.01842; again our own definition):
  the point-biserial correlation, Pearson's r between the response and the 0/1 presence,
      r = (m1 - m0) / s_n * sqrt(n1 n0 / n^2),   s_n^2 = sum (x - mean)^2 / n.
  For fixed n1 and n0, r = d / sqrt(d^2 + n (n - 2) / (n1 n0)): a monotone function of d,
  so within one AU both rank the maps alike. They differ across AUs (r shrinks for rare
  AUs, d does not), hence in which AU a map is assigned.

Uncertainty, all seeded:
- `bootstrap_ci`: percentile 95% interval over resamples of units with replacement;
  resamples where a group has fewer than 2 units give no score and are left out.
- `permutation_p`: presence permuted across units (the same permutation for every AU and
  map, keeping their dependence); one-sided in the ranking's direction,
      p = (1 + #{permuted score >= observed}) / (1 + n_permutations).
- `benjamini_hochberg`: q-values over the whole table (every map x AU tested).

A map whose response does not vary (it never fires) has no defined d or r: it scores 0
and its p-value is 1.
"""

import numpy as np

METHODS = ("distance", "correlation")
CHUNK = 64  # resamples or permutations scored per matrix product: bounded memory


def check_inputs(responses: np.ndarray, presence: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    responses = np.asarray(responses, dtype=np.float64)
    presence = np.asarray(presence, dtype=bool)
    if responses.ndim != 2 or presence.ndim != 2 or len(responses) != len(presence):
        raise ValueError(
            f"Expected (units, maps) and (units, AUs), got {responses.shape} and {presence.shape}."
        )
    return responses, presence


def scores(
    responses: np.ndarray, presence: np.ndarray, method: str = "distance", weights: np.ndarray | None = None
) -> np.ndarray:
    """The score of every (AU, map): (AUs, maps); with `weights` (B, units) of unit counts, (B, AUs, maps).

    Weights are how often each unit is drawn (a bootstrap resample); None counts each once.
    NaN where a group has fewer than 2 units.
    """
    if method not in METHODS:
        raise ValueError(f"Unknown method '{method}'; use one of {', '.join(METHODS)}.")
    responses, presence = check_inputs(responses, presence)
    single = weights is None
    w = np.ones((1, len(responses))) if single else np.asarray(weights, dtype=np.float64)
    result = _batch_scores(_centred(responses), w, w[:, :, None] * presence[None], method)
    return result[0] if single else result


def _centred(responses: np.ndarray) -> np.ndarray:
    # Sums of squares of raw activations would lose digits to cancellation.
    return responses - responses.mean(axis=0)


def _batch_scores(x: np.ndarray, w: np.ndarray, present: np.ndarray, method: str) -> np.ndarray:
    """Scores (B, AUs, maps) from centred responses x (units, maps), unit weights w (B, units) and
    weighted presence (B, units, AUs)."""
    n = w.sum(axis=1)[:, None, None]  # (B, 1, 1)
    n1 = present.sum(axis=1)[:, :, None]  # (B, AUs, 1)
    n0 = n - n1
    by_au = present.transpose(0, 2, 1)
    sum1, sq1 = by_au @ x, by_au @ (x * x)  # (B, AUs, maps)
    total, total_sq = (w @ x)[:, None, :], (w @ (x * x))[:, None, :]  # (B, 1, maps)
    total_ss = np.maximum(total_sq - total**2 / n, 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        mean1, mean0 = sum1 / n1, (total - sum1) / n0
        difference = mean1 - mean0
        if method == "distance":
            within = np.maximum((sq1 - n1 * mean1**2) + (total_sq - sq1 - n0 * mean0**2), 0)
            result = difference / np.sqrt(within / (n - 2))
        else:
            result = difference * np.sqrt(n1 * n0 / n) / np.sqrt(total_ss)
        result = np.where((n1 < 2) | (n0 < 2), np.nan, result)
    # A response that does not vary (a dead map) carries no evidence either way.
    return np.where(total_ss <= 1e-20 * n, 0.0, result)


def bootstrap_ci(
    responses: np.ndarray,
    presence: np.ndarray,
    method: str = "distance",
    n_boot: int = 1000,
    seed: int = 0,
    level: float = 0.95,
) -> tuple[np.ndarray, np.ndarray]:
    """Percentile interval (low, high), each (AUs, maps), over `n_boot` resamples of units."""
    responses, presence = check_inputs(responses, presence)
    rng = np.random.default_rng(seed)
    units = len(responses)
    replicates = []
    for start in range(0, n_boot, CHUNK):
        draws = rng.integers(0, units, (min(CHUNK, n_boot - start), units))
        counts = np.stack([np.bincount(row, minlength=units) for row in draws])
        replicates.append(scores(responses, presence, method, counts))
    stacked = np.concatenate(replicates)
    tail = 100 * (1 - level) / 2
    with np.errstate(all="ignore"):
        low, high = np.nanpercentile(stacked, [tail, 100 - tail], axis=0)
    return low, high


def permutation_p(
    responses: np.ndarray,
    presence: np.ndarray,
    method: str = "distance",
    n_permutations: int = 999,
    seed: int = 0,
    observed: np.ndarray | None = None,
) -> np.ndarray:
    """One-sided permutation p-values (AUs, maps): how often shuffled presence scores as high."""
    responses, presence = check_inputs(responses, presence)
    if observed is None:
        observed = scores(responses, presence, method)
    rng = np.random.default_rng(seed)
    # A tolerance, so that a permuted score equal to the observed one up to rounding counts.
    threshold = observed - 1e-9 * (1 + np.abs(observed))
    at_least = np.zeros(observed.shape, np.int64)
    x, units = _centred(responses), len(responses)
    for start in range(0, n_permutations, CHUNK):
        size = min(CHUNK, n_permutations - start)
        shuffled = np.stack([presence[rng.permutation(units)] for _ in range(size)]).astype(np.float64)
        at_least += (_batch_scores(x, np.ones((size, units)), shuffled, method) >= threshold).sum(axis=0)
    p = (1 + at_least) / (1 + n_permutations)
    return np.where(np.isnan(observed), np.nan, p)


def benjamini_hochberg(p_values: np.ndarray) -> np.ndarray:
    """Benjamini-Hochberg q-values over every finite p-value of the array (NaN stays NaN)."""
    p = np.asarray(p_values, dtype=np.float64)
    q = np.full(p.shape, np.nan)
    finite = np.isfinite(p)
    values = p[finite]
    m = len(values)
    if m == 0:
        return q
    order = np.argsort(values, kind="stable")
    ranked = values[order] * m / np.arange(1, m + 1)
    # q_(i) = min over j >= i of p_(j) m / j: a running minimum from the largest p down.
    monotone = np.minimum.accumulate(ranked[::-1])[::-1]
    out = np.empty(m)
    out[order] = np.minimum(monotone, 1.0)
    q[finite] = out
    return q


def distance_to_correlation(d: np.ndarray, n_present: np.ndarray, n_absent: np.ndarray) -> np.ndarray:
    """r from d for groups of n1 and n0 units: r = d / sqrt(d^2 + n (n - 2) / (n1 n0))."""
    n1, n0 = np.asarray(n_present, np.float64), np.asarray(n_absent, np.float64)
    n = n1 + n0
    return d / np.sqrt(d**2 + n * (n - 2) / (n1 * n0))
