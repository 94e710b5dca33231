"""Log-rank tests: k samples, stratified, weighted (the lifelines family) and for trend.
numpy/scipy only; lifelines and R ``survdiff`` are the references."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import stats

__all__ = ["LogrankResult", "logrank_test", "WEIGHTINGS"]


#: Weightings of the log-rank family (as lifelines' ``multivariate_logrank_test``).
WEIGHTINGS = ("logrank", "wilcoxon", "tarone-ware", "peto", "fleming-harrington")


@dataclass
class LogrankResult:
    """A (possibly stratified, weighted or trend) log-rank test."""

    groups: np.ndarray
    n: np.ndarray
    observed: np.ndarray
    expected: np.ndarray
    variance: np.ndarray  # k x k covariance of observed - expected (weighted)
    statistic: float
    df: int
    p_value: float
    test: str
    scores: np.ndarray | None = None


def _table(time, event, codes, k):
    """Per distinct time: deaths and at-risk counts per group (time ascending)."""
    unique, inverse = np.unique(time, return_inverse=True)
    m = unique.size
    flat = inverse * k + codes
    deaths = np.bincount(flat, weights=event, minlength=m * k).reshape(m, k)
    exits = np.bincount(flat, minlength=m * k).reshape(m, k).astype(float)
    at_risk = exits.sum(0) - np.vstack([np.zeros((1, k)), np.cumsum(exits, 0)[:-1]])
    return unique, deaths, at_risk


def _weights(kind, deaths_total, at_risk_total, p, q):
    if kind == "logrank":
        return np.ones_like(at_risk_total)
    if kind == "wilcoxon":
        return at_risk_total
    if kind == "tarone-ware":
        return np.sqrt(at_risk_total)
    if kind == "peto":
        return np.cumprod(1.0 - deaths_total / (at_risk_total + 1.0))
    if kind == "fleming-harrington":
        with np.errstate(divide="ignore", invalid="ignore"):
            km = np.cumprod(1.0 - deaths_total / at_risk_total)
        left = np.concatenate(([1.0], km[:-1]))  # left-continuous Kaplan-Meier
        return left**p * (1.0 - left) ** q
    raise ValueError(f"unknown weighting {kind!r}; expected one of {WEIGHTINGS}")


def _observed_expected(time, event, codes, k, weighting, p, q):
    _, deaths, at_risk = _table(time, event, codes, k)
    d = deaths.sum(1)
    n = at_risk.sum(1)
    keep = d > 0
    w_all = _weights(weighting, d, n, p, q)
    deaths, at_risk, d, n, w = deaths[keep], at_risk[keep], d[keep], n[keep], w_all[keep]
    share = at_risk / n[:, None]
    observed = (w[:, None] * deaths).sum(0)
    expected = (w[:, None] * d[:, None] * share).sum(0)
    with np.errstate(divide="ignore", invalid="ignore"):
        factor = np.where(n > 1, (n - d) / (n - 1), 1.0) * d
    a = (w**2 * factor)[:, None] * share
    variance = np.diag(a.sum(0)) - (a.T @ share)
    return observed, expected, variance


def logrank_test(
    time: np.ndarray,
    event: np.ndarray,
    groups: np.ndarray,
    strata: np.ndarray | None = None,
    weighting: str = "logrank",
    trend_scores: np.ndarray | None = None,
    p: float = 1.0,
    q: float = 0.0,
) -> LogrankResult:
    """k-sample log-rank test, optionally stratified, weighted, or for trend.

    Parameters
    ----------
    time, event
        Follow-up times and 0/1 events.
    groups
        Integer group codes ``0..k-1`` per patient.
    strata
        Optional integer stratum codes: observed, expected and variance are summed over
        strata (R ``survdiff(... + strata(s))``).
    weighting
        One of :data:`WEIGHTINGS`; ``"fleming-harrington"`` uses ``p`` and ``q``.
    trend_scores
        One score per group (``k`` values, for example 1..k for ordered groups): the
        1-degree-of-freedom test for trend ``(s'(O-E))^2 / s'Vs``.

    Returns
    -------
    LogrankResult

    Examples
    --------
    >>> import numpy as np
    >>> time = np.array([1.0, 2, 3, 4, 5, 6, 7, 8])
    >>> event = np.array([1, 1, 1, 0, 1, 1, 0, 1])
    >>> result = logrank_test(time, event, np.array([0, 0, 0, 0, 1, 1, 1, 1]))
    >>> result.df, result.test, round(result.statistic, 3)   # lifelines: 4.213
    (1, 'k-sample', 4.213)
    """
    time = np.asarray(time, dtype=float)
    event = np.asarray(event, dtype=float)
    codes = np.asarray(groups, dtype=np.int64)
    k = int(codes.max()) + 1 if codes.size else 0
    if k < 2:
        raise ValueError("the log-rank test needs at least two groups")
    observed = np.zeros(k)
    expected = np.zeros(k)
    variance = np.zeros((k, k))
    if strata is None:
        observed, expected, variance = _observed_expected(time, event, codes, k, weighting, p, q)
    else:
        strata = np.asarray(strata)
        for s in np.unique(strata):
            inside = strata == s
            o, e, v = _observed_expected(
                time[inside], event[inside], codes[inside], k, weighting, p, q
            )
            observed += o
            expected += e
            variance += v
    diff = observed - expected
    if trend_scores is not None:
        scores = np.asarray(trend_scores, dtype=float)
        num = float(scores @ diff)
        den = float(scores @ variance @ scores)
        statistic = num**2 / den if den > 0 else float("nan")
        df = 1
        test = "trend"
    else:
        scores = None
        sub = np.arange(k - 1)  # the last group is implied (O - E sums to zero)
        statistic = float(diff[sub] @ np.linalg.pinv(variance[np.ix_(sub, sub)]) @ diff[sub])
        df = k - 1
        test = "k-sample"
    p_value = (
        float(stats.chi2.sf(statistic, df)) if df > 0 and np.isfinite(statistic) else float("nan")
    )
    n = np.bincount(codes, minlength=k)
    return LogrankResult(
        groups=np.arange(k),
        n=n,
        observed=observed,
        expected=expected,
        variance=variance,
        statistic=float(statistic),
        df=df,
        p_value=p_value,
        test=test,
        scores=scores,
    )
