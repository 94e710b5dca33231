"""Maximally selected log-rank statistics: the optimal cut-point of a continuous marker and
its p-value corrected for the search over cut-points.

Follows R's ``maxstat`` (Hothorn & Lausen): log-rank scores as
``exactRankTests::cscores.Surv``, standardised two-sample linear rank statistics at every
cut-point between the ``minprop`` and ``maxprop`` quantiles, and the p-value of the maximum
by

- ``"exactGauss"``: the asymptotic Gaussian law of the whole vector of standardised
  statistics (Hothorn & Lausen 2003). Their correlation has the product form
  ``sqrt(m_i (n - m_j) / (m_j (n - m_i)))``, so the statistics are a Gauss-Markov chain and
  ``P(max |T| < b)`` is computed by numerical integration along the chain (Gauss-Legendre
  nodes), deterministic and accurate to about 1e-8, where R calls ``mvtnorm::pmvnorm``
  (randomised, absolute error 1e-3 by default);
- ``"Lau94"``: the improved Bonferroni bound of Lausen, Sauerbrei & Schumacher (1994);
- ``"Lau92"``: the Brownian-bridge approximation of Lausen & Schumacher (1992);
- ``"condMC"``: the permutation (conditional Monte Carlo) distribution.

numpy/scipy only.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import stats

from .._compat import renamed

__all__ = [
    "PMETHODS",
    "MaxstatResult",
    "logrank_scores",
    "maxstat",
    "p_lausen92",
    "p_lausen94",
    "p_exact_gauss",
    "p_permutation",
]

PMETHODS = ("exactGauss", "Lau94", "Lau92", "condMC")


def logrank_scores(time: np.ndarray, event: np.ndarray) -> np.ndarray:
    """Log-rank scores of R ``exactRankTests::cscores.Surv`` (used by ``maxstat``).

    ``a_i = d_i - sum_{t_j <= t_i} d_j / (n - r_j + 1)`` with ``r_j`` the number of
    observations with time at most ``t_j``. Without ties in time this is the event minus
    the Nelson-Aalen cumulative hazard; with ties it is the definition of exactRankTests.
    """
    time = np.asarray(time, dtype=float)
    event = np.asarray(event, dtype=float)
    n = time.size
    order = np.argsort(time, kind="stable")
    max_rank = np.searchsorted(np.sort(time), time, side="right")  # obs with time <= t_i
    fact = event / (n - max_rank + 1)
    cum = np.cumsum(fact[order])
    return event - cum[max_rank - 1]


@dataclass
class MaxstatResult:
    """Maximally selected statistic of one marker."""

    statistic: float  # max |T|
    cutpoint: float  # largest marker value of the "low" group
    p_value: float
    pmethod: str
    cutpoints: np.ndarray  # candidate cut-points (x <= cut is "low")
    statistics: np.ndarray  # |T| at each cut-point
    group_sizes: np.ndarray  # patients with x <= cut
    n: int
    minprop: float
    maxprop: float


def _cuts(x_sorted: np.ndarray, minprop: float, maxprop: float) -> np.ndarray:
    """Sizes m of the low group at each admissible cut (as ``maxstat:::cmaxstat``)."""
    n = x_sorted.size
    first = np.ones(n, dtype=bool)
    first[1:] = x_sorted[1:] != x_sorted[:-1]
    m = np.flatnonzero(first)  # observations before each distinct value
    if minprop == 0 and maxprop == 1:
        return m[1:-1] if m.size > 2 else m[1:]
    lower = math.floor(n * minprop)
    upper = math.floor(n * maxprop)
    if np.all(m < lower):
        raise ValueError("minprop too large: no cut-point leaves that many patients below it")
    if np.all(m > upper):
        raise ValueError("maxprop too small: no cut-point leaves that few patients below it")
    m = m[(m >= max(1, lower)) & (m <= upper)]
    if m.size < 1:
        raise ValueError("no cut-point between minprop and maxprop")
    return m


def _standardised(scores_sorted: np.ndarray, m: np.ndarray) -> np.ndarray:
    """|T| for group sizes ``m``; ``scores_sorted`` may be (n,) or (B, n)."""
    n = scores_sorted.shape[-1]
    ss = scores_sorted.sum(-1, keepdims=True)
    ss2 = (scores_sorted**2).sum(-1, keepdims=True)
    expectation = m / n * ss
    variance = m * (n - m) / (n**2 * (n - 1)) * (n * ss2 - ss**2)
    partial = np.cumsum(scores_sorted, axis=-1)[..., m - 1]
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.abs((partial - expectation) / np.sqrt(variance))


def p_lausen92(b: float, minprop: float = 0.1, maxprop: float = 0.9) -> float:
    """Lausen & Schumacher (1992) approximation (R ``maxstat::pLausen92``), clipped to [0, 1]."""
    if b < 1:
        return 1.0
    db = stats.norm.pdf(b)
    p = 4 * db / b + db * (b - 1 / b) * math.log(
        maxprop * (1 - minprop) / ((1 - maxprop) * minprop)
    )
    return float(min(max(p, 0.0), 1.0))


def p_lausen94(b: float, n: int, m: np.ndarray) -> float:
    """Improved Bonferroni bound of Lausen, Sauerbrei & Schumacher (1994), R ``pLausen94``.

    ``m`` are the low-group sizes of the cut-points. Clipped to [0, 1].
    """
    m = np.asarray(m, dtype=float)
    if m.size <= 1:
        d = 0.0
    else:
        m1, m2 = m[:-1], m[1:]
        t = np.sqrt(1 - m1 * (n - m2) / ((n - m1) * m2))
        d = float(np.sum(1 / np.pi * np.exp(-(b**2) / 2) * (t - (b**2 / 4 - 1) * t**3 / 6)))
    p = 1 - (stats.norm.cdf(b) - stats.norm.cdf(-b)) + d
    return float(min(max(p, 0.0), 1.0))


def p_exact_gauss(b: float, n: int, m: np.ndarray, nodes: int | None = None) -> float:
    """``P(max_k |T_k| >= b)`` for the Gaussian limit of the standardised statistics.

    ``corr(T_i, T_j) = sqrt(m_i (n - m_j) / (m_j (n - m_i)))`` for ``m_i <= m_j``: with
    ``s = m / (n - m)``, ``T_k = W(s_k) / sqrt(s_k)`` for a Brownian motion ``W``, a Markov
    chain. The probability of staying inside ``(-b, b)`` is integrated step by step with
    Gauss-Legendre quadrature on ``[-b, b]``.

    Parameters
    ----------
    b
        Observed maximum.
    n
        Patients.
    m
        Low-group sizes of the cut-points (increasing).
    nodes
        Quadrature nodes (default: enough to resolve the narrowest transition).
    """
    m = np.asarray(m, dtype=float)
    if b <= 0:
        return 1.0
    if m.size == 1:
        return float(2 * stats.norm.sf(b))
    s = m / (n - m)
    rho = np.sqrt(s[:-1] / s[1:])
    sigma = np.sqrt(1 - rho**2)
    if nodes is None:
        nodes = int(np.clip(np.ceil(6 * b / max(sigma.min(), 1e-6)), 48, 2000))
    t, w = np.polynomial.legendre.leggauss(nodes)
    t, w = t * b, w * b
    f = stats.norm.pdf(t)
    for r, sd in zip(rho, sigma):
        # f_k(t_i) = sum_j w_j f_{k-1}(t_j) phi((t_i - r t_j) / sd) / sd
        z = (t[:, None] - r * t[None, :]) / sd
        kernel = np.exp(-0.5 * z * z) / (sd * math.sqrt(2 * math.pi))
        f = kernel @ (w * f)
    inside = float(w @ f)
    return float(min(max(1.0 - inside, 0.0), 1.0))


@renamed(seed="random_state")
def p_permutation(
    scores_sorted: np.ndarray,
    m: np.ndarray,
    statistic: float,
    n_permutations: int = 10000,
    random_state: int | np.random.Generator | None = 0,
) -> float:
    """Conditional Monte Carlo p-value: the share of permutations of the scores whose maximum
    standardised statistic reaches ``statistic`` (R ``pmethod="condMC"``)."""
    rng = np.random.default_rng(random_state)
    n = scores_sorted.size
    hits = 0
    done = 0
    batch = max(1, min(n_permutations, 2_000_000 // max(n, 1)))
    while done < n_permutations:
        size = min(batch, n_permutations - done)
        perm = rng.permuted(np.broadcast_to(scores_sorted, (size, n)), axis=1)
        top = _standardised(perm, m).max(1)
        hits += int((top >= statistic - 1e-12 * max(1.0, statistic)).sum())
        done += size
    return hits / n_permutations


@renamed(seed="random_state")
def maxstat(
    x: np.ndarray,
    time: np.ndarray,
    event: np.ndarray,
    minprop: float = 0.1,
    maxprop: float = 0.9,
    pmethod: str = "exactGauss",
    n_permutations: int = 10000,
    random_state: int | np.random.Generator | None = 0,
) -> MaxstatResult:
    """Maximally selected log-rank statistic of marker ``x`` (R ``maxstat.test(...,
    smethod="LogRank")``).

    Parameters
    ----------
    x, time, event
        Marker values, times and 0/1 events (no missing values).
    minprop, maxprop
        Cut-points leave at least ``floor(n * minprop)`` and at most ``floor(n * maxprop)``
        patients in the low group.
    pmethod
        One of :data:`PMETHODS`.
    n_permutations, random_state
        For ``"condMC"``.

    Returns
    -------
    MaxstatResult
    """
    if pmethod not in PMETHODS:
        raise ValueError(f"unknown pmethod {pmethod!r}; expected one of {PMETHODS}")
    x = np.asarray(x, dtype=float)
    scores = logrank_scores(time, event)
    order = np.argsort(x, kind="stable")
    xs, ys = x[order], scores[order]
    n = x.size
    m = _cuts(xs, minprop, maxprop)
    test = _standardised(ys, m)
    if not np.isfinite(test).any():
        raise ValueError(
            "the log-rank scores are constant (no events, or every patient an event at one time)"
        )
    best = int(np.nanargmax(test))
    statistic = float(test[best])
    if pmethod == "exactGauss":
        p = p_exact_gauss(statistic, n, m)
    elif pmethod == "Lau94":
        p = p_lausen94(statistic, n, m)
    elif pmethod == "Lau92":
        p = p_lausen92(statistic, minprop, maxprop)
    else:
        p = p_permutation(ys, m, statistic, n_permutations, random_state)
    return MaxstatResult(
        statistic=statistic,
        cutpoint=float(xs[m[best] - 1]),
        p_value=float(p),
        pmethod=pmethod,
        cutpoints=xs[m - 1],
        statistics=test,
        group_sizes=m,
        n=n,
        minprop=minprop,
        maxprop=maxprop,
    )
