"""Kernels for feature ranking and selection inside a training fold: the Cox score test
of every feature at once, and greedy minimum-redundancy maximum-relevance ordering.

numpy/scipy only, vectorised over features and chunked over the wide axis.
"""

from __future__ import annotations

import numpy as np
from scipy import stats

__all__ = ["cox_score_test", "mrmr_order", "relevance_correlation", "standardize_columns"]

_CHUNK = 4096


def cox_score_test(time, event, X) -> dict[str, np.ndarray]:
    """Score (log-rank) test of each column of ``X`` in a univariate Cox model, at
    ``beta = 0``, with Breslow's handling of tied event times.

    For a binary column without tied times this is the log-rank test. It needs no
    iteration, so thousands of features are ranked in one pass.

    Parameters
    ----------
    time, event
        Follow-up time and event indicator (1 = event), shape ``(n,)``.
    X
        Features, shape ``(n, p)``, no missing values.

    Returns
    -------
    dict of arrays of shape ``(p,)``
        ``score`` (U, positive when higher values go with earlier events),
        ``information``, ``statistic`` (U^2 / I, chi-square with 1 df), ``p_value`` and
        ``z`` (U / sqrt(I)).
    """
    time = np.asarray(time, dtype=float)
    event = np.asarray(event).astype(bool)
    X = np.asarray(X, dtype=float)
    if X.ndim != 2 or X.shape[0] != time.size:
        raise ValueError(f"X must be (n, p) with n = {time.size}, found {X.shape}")
    if np.isnan(X).any():
        raise ValueError("X has missing values")
    order = np.argsort(-time, kind="mergesort")  # longest first: cumulative sums = risk sets
    t = time[order]
    e = event[order]
    # last row of each group of equal times (in the descending order) closes its risk set
    closes = np.r_[t[1:] != t[:-1], True]
    group_end = np.flatnonzero(closes)
    group_events = np.add.reduceat(e.astype(float), np.r_[0, group_end[:-1] + 1])
    at_risk = (group_end + 1).astype(float)
    has_event = group_events > 0
    d = group_events[has_event]
    n_risk = at_risk[has_event]
    ends = group_end[has_event]
    p = X.shape[1]
    score = np.empty(p)
    information = np.empty(p)
    for start in range(0, p, _CHUNK):
        block = X[order, start : start + _CHUNK]
        s1 = np.cumsum(block, axis=0)[ends]
        s2 = np.cumsum(block**2, axis=0)[ends]
        mean = s1 / n_risk[:, None]
        variance = s2 / n_risk[:, None] - mean**2
        observed = block[e].sum(axis=0)
        score[start : start + _CHUNK] = observed - (d[:, None] * mean).sum(axis=0)
        information[start : start + _CHUNK] = (d[:, None] * np.maximum(variance, 0)).sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        statistic = np.where(information > 0, score**2 / information, 0.0)
        z = np.where(information > 0, score / np.sqrt(information), 0.0)
    return {
        "score": score,
        "information": information,
        "statistic": statistic,
        "p_value": stats.chi2.sf(statistic, 1),
        "z": z,
    }


def standardize_columns(X) -> np.ndarray:
    """Columns centred and scaled to unit variance (constant columns become 0)."""
    X = np.asarray(X, dtype=float)
    centred = X - X.mean(axis=0)
    sd = centred.std(axis=0)
    return np.divide(centred, sd, out=np.zeros_like(centred), where=sd > 0)


def relevance_correlation(statistic, n: int) -> np.ndarray:
    """An F (or 1-df chi-square) statistic as the absolute correlation it corresponds to,
    ``sqrt(F / (F + n - 2))``, so that relevance and redundancy share a scale."""
    statistic = np.maximum(np.nan_to_num(np.asarray(statistic, dtype=float)), 0.0)
    return np.sqrt(statistic / (statistic + max(n - 2, 1)))


def mrmr_order(X, relevance, k: int, scheme: str = "difference", eps: float = 1e-3) -> np.ndarray:
    """Greedy minimum-redundancy maximum-relevance ordering (Ding and Peng 2005).

    The first feature is the most relevant; each next one maximises relevance minus the
    mean absolute Pearson correlation with the features already chosen (``"difference"``;
    give the relevance on the scale of a correlation, see :func:`relevance_correlation`)
    or relevance over that mean (``"quotient"``, FCQ).

    Parameters
    ----------
    X
        Features, shape ``(n, p)``, no missing values.
    relevance
        Non-negative relevance per feature (for example an F statistic), shape ``(p,)``.
    k
        How many features to order.

    Returns
    -------
    Indices of the ``min(k, p)`` chosen features, in the order chosen.
    """
    Z = standardize_columns(X)
    n, p = Z.shape
    relevance = np.nan_to_num(np.asarray(relevance, dtype=float), nan=0.0)
    if relevance.shape != (p,):
        raise ValueError(f"relevance must have one value per column ({p})")
    if scheme not in ("quotient", "difference"):
        raise ValueError(f"unknown scheme {scheme!r}")
    k = int(min(k, p))
    chosen = [int(np.argmax(relevance))]
    available = np.ones(p, dtype=bool)
    available[chosen[0]] = False
    redundancy_sum = np.zeros(p)
    while len(chosen) < k:
        last = chosen[-1]
        redundancy_sum += np.abs(Z.T @ Z[:, last]) / n
        redundancy = redundancy_sum / len(chosen)
        if scheme == "quotient":
            criterion = relevance / (redundancy + eps)
        else:
            criterion = relevance - redundancy
        criterion = np.where(available, criterion, -np.inf)
        best = int(np.argmax(criterion))
        chosen.append(best)
        available[best] = False
    return np.asarray(chosen, dtype=np.int64)
