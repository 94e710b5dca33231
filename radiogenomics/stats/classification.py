"""Performance of binary predictions: AUC and the DeLong test, ROC points, balanced
accuracy, Brier score, logistic calibration (intercept and slope), binned calibration
and net benefit (decision curves).

numpy/scipy only. ``y`` is a 0/1 vector; scores are higher for the positive class.
Functions that take several scores accept an ``(n_samples, n_models)`` matrix and work
on all columns at once.
"""

from __future__ import annotations

import numpy as np
from scipy import special, stats

__all__ = [
    "roc_auc",
    "delong",
    "delong_test",
    "roc_points",
    "roc_on_grid",
    "balanced_accuracy",
    "brier_score",
    "calibration_intercept_slope",
    "calibration_bins",
    "wilson_interval",
    "net_benefit",
]


def _binary(y) -> np.ndarray:
    y = np.asarray(y)
    if y.ndim != 1:
        raise ValueError(f"y must be one-dimensional, found shape {y.shape}")
    if y.dtype.kind == "f" and np.isnan(y).any():
        raise ValueError("y has missing values")
    values = np.unique(y)
    if not np.isin(values, [0, 1]).all():
        raise ValueError(f"y must hold 0 and 1 only, found {values[:5]}")
    return y.astype(bool)


def _scores(score, n: int) -> tuple[np.ndarray, bool]:
    score = np.asarray(score, dtype=float)
    single = score.ndim == 1
    if single:
        score = score[:, None]
    if score.shape[0] != n:
        raise ValueError(f"scores have {score.shape[0]} rows, y has {n}")
    return score, single


def roc_auc(y, score) -> float | np.ndarray:
    """Area under the ROC curve, as the Mann-Whitney statistic with mid-ranks for ties.

    Parameters
    ----------
    y
        0/1 outcomes, shape ``(n,)``.
    score
        Scores, shape ``(n,)`` or ``(n, m)`` for ``m`` models.

    Returns
    -------
    float, or an array of ``m`` values. NaN when ``y`` has a single class.
    """
    positive = _binary(y)
    score, single = _scores(score, positive.size)
    n1 = int(positive.sum())
    n0 = positive.size - n1
    if n1 == 0 or n0 == 0:
        auc = np.full(score.shape[1], np.nan)
    else:
        ranks = stats.rankdata(score, axis=0)
        auc = (ranks[positive].sum(axis=0) - n1 * (n1 + 1) / 2) / (n1 * n0)
    return float(auc[0]) if single else auc


def delong(y, score) -> tuple[np.ndarray, np.ndarray]:
    """AUCs of one or several models on the same patients and their DeLong covariance.

    The fast algorithm of Sun and Xu (2014, IEEE Signal Processing Letters 21:1389):
    the structural components of DeLong, DeLong and Clarke-Pearson (1988, Biometrics
    44:837) from mid-ranks, in ``O(n log n)`` per model.

    Parameters
    ----------
    y
        0/1 outcomes, shape ``(n,)``.
    score
        Scores, shape ``(n,)`` or ``(n, m)``.

    Returns
    -------
    (auc, covariance)
        ``auc`` has shape ``(m,)``, ``covariance`` ``(m, m)``.
    """
    positive = _binary(y)
    score, _ = _scores(score, positive.size)
    n1 = int(positive.sum())
    n0 = positive.size - n1
    if n1 < 2 or n0 < 2:
        raise ValueError(f"DeLong needs at least two patients of each class, found {n1} and {n0}")
    pos, neg = score[positive], score[~positive]
    rank_all = stats.rankdata(score, axis=0)
    rank_pos = stats.rankdata(pos, axis=0)
    rank_neg = stats.rankdata(neg, axis=0)
    # V10: for each positive, the fraction of negatives it outranks (ties count half)
    v10 = (rank_all[positive] - rank_pos) / n0
    # V01: for each negative, the fraction of positives that outrank it
    v01 = 1.0 - (rank_all[~positive] - rank_neg) / n1
    auc = v10.mean(axis=0)
    s10 = np.atleast_2d(np.cov(v10, rowvar=False))
    s01 = np.atleast_2d(np.cov(v01, rowvar=False))
    return auc, s10 / n1 + s01 / n0


def delong_test(y, score_a, score_b, confidence: float = 0.95) -> dict[str, float]:
    """DeLong's test of equal AUC for two models scored on the same patients.

    Returns
    -------
    dict
        ``auc_a``, ``auc_b``, ``difference`` (a - b), ``std_error``, ``z``,
        ``p_value`` (two-sided) and the ``ci_lower``/``ci_upper`` of the difference.
    """
    auc, cov = delong(y, np.column_stack([np.asarray(score_a, float), np.asarray(score_b, float)]))
    difference = auc[0] - auc[1]
    variance = cov[0, 0] + cov[1, 1] - 2 * cov[0, 1]
    se = float(np.sqrt(max(variance, 0.0)))
    quantile = stats.norm.ppf(0.5 + confidence / 2)
    if se > 0:
        z = difference / se
        p = 2 * stats.norm.sf(abs(z))
    else:
        z = 0.0 if difference == 0 else np.sign(difference) * np.inf
        p = 1.0 if difference == 0 else 0.0
    return {
        "auc_a": float(auc[0]),
        "auc_b": float(auc[1]),
        "difference": float(difference),
        "std_error": se,
        "z": float(z),
        "p_value": float(p),
        "ci_lower": float(difference - quantile * se),
        "ci_upper": float(difference + quantile * se),
    }


def roc_points(y, score) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The empirical ROC curve: false and true positive rates at every distinct threshold.

    Returns
    -------
    (fpr, tpr, thresholds)
        Starting at (0, 0) (threshold +inf) and ending at (1, 1). Tied scores give one
        point, so the trapezoidal area equals :func:`roc_auc`.
    """
    positive = _binary(y)
    score = np.asarray(score, dtype=float)
    order = np.argsort(-score, kind="mergesort")
    s = score[order]
    hit = positive[order]
    tp = np.cumsum(hit)
    fp = np.cumsum(~hit)
    last = np.r_[np.flatnonzero(np.diff(s) != 0), s.size - 1]
    n1, n0 = tp[-1], fp[-1]
    fpr = np.r_[0.0, fp[last] / max(n0, 1)]
    tpr = np.r_[0.0, tp[last] / max(n1, 1)]
    return fpr, tpr, np.r_[np.inf, s[last]]


def roc_on_grid(y, score, grid) -> np.ndarray:
    """True positive rate of the ROC polyline at the false positive rates ``grid``
    (vertical averaging of ROC curves uses this)."""
    fpr, tpr, _ = roc_points(y, score)
    grid = np.clip(np.asarray(grid, dtype=float), 0.0, 1.0)
    # the polyline may be vertical at some fpr: at such an fpr take the highest tpr, and
    # between two fprs run from the highest tpr of the first to the lowest of the next
    k = np.searchsorted(fpr, grid, side="right") - 1
    nxt = np.minimum(k + 1, fpr.size - 1)
    span = fpr[nxt] - fpr[k]
    with np.errstate(invalid="ignore", divide="ignore"):
        fraction = np.where(span > 0, (grid - fpr[k]) / span, 0.0)
    return tpr[k] + fraction * (tpr[nxt] - tpr[k])


def balanced_accuracy(y, predicted) -> float:
    """Mean of sensitivity and specificity of 0/1 predictions."""
    positive = _binary(y)
    predicted = _binary(np.asarray(predicted))
    n1, n0 = positive.sum(), (~positive).sum()
    if n1 == 0 or n0 == 0:
        return np.nan
    sensitivity = (predicted & positive).sum() / n1
    specificity = (~predicted & ~positive).sum() / n0
    return float((sensitivity + specificity) / 2)


def brier_score(y, probability) -> float:
    """Mean squared difference between the predicted probability and the 0/1 outcome."""
    positive = _binary(y).astype(float)
    probability = np.asarray(probability, dtype=float)
    return float(np.mean((probability - positive) ** 2))


def _logit(probability: np.ndarray, eps: float = 1e-12) -> np.ndarray:
    return special.logit(np.clip(probability, eps, 1 - eps))


def calibration_intercept_slope(
    y, probability, max_iter: int = 100, tol: float = 1e-10
) -> tuple[float, float]:
    """Logistic recalibration of predicted probabilities (Cox 1958; Steyerberg 2019).

    The slope is ``b`` of ``logit P(y=1) = a + b * logit(p)``; the intercept
    (calibration-in-the-large) is ``a`` of ``logit P(y=1) = a + logit(p)`` (the linear
    predictor as an offset). A well-calibrated model has intercept 0 and slope 1; a slope
    below 1 says the predictions are too extreme (overfitting).

    Returns
    -------
    (intercept, slope)
        The slope is ``+inf`` (or ``-inf``) when ``logit(p)`` separates the classes
        perfectly, where no finite maximum-likelihood estimate exists; NaN when ``y``
        has a single class.
    """
    positive = _binary(y).astype(float)
    lp = _logit(np.asarray(probability, dtype=float))
    n1 = positive.sum()
    if n1 == 0 or n1 == positive.size:
        return np.nan, np.nan
    # intercept with offset: one-dimensional Newton
    a = 0.0
    for _ in range(max_iter):
        p = special.expit(a + lp)
        step = (positive - p).sum() / max((p * (1 - p)).sum(), 1e-300)
        a += step
        if abs(step) < tol:
            break
    intercept = a
    # complete separation by the linear predictor: no finite slope
    if lp[positive == 1].min() > lp[positive == 0].max():
        return float(intercept), np.inf
    if lp[positive == 1].max() < lp[positive == 0].min():
        return float(intercept), -np.inf
    # slope: two-parameter logistic regression by Newton-Raphson
    design = np.column_stack([np.ones_like(lp), lp])
    beta = np.zeros(2)
    converged = False
    for _ in range(max_iter):
        eta = design @ beta
        p = special.expit(eta)
        w = p * (1 - p)
        gradient = design.T @ (positive - p)
        hessian = (design * w[:, None]).T @ design
        try:
            step = np.linalg.solve(hessian, gradient)
        except np.linalg.LinAlgError:
            break
        beta += step
        if np.abs(step).max() < tol:
            converged = True
            break
        if np.abs(beta).max() > 1e6:
            break
    if not converged or np.abs(beta[1]) > 1e4:
        # separation: check whether the linear predictor orders the classes perfectly
        lo_pos, hi_neg = lp[positive == 1].min(), lp[positive == 0].max()
        hi_pos, lo_neg = lp[positive == 1].max(), lp[positive == 0].min()
        if lo_pos >= hi_neg:
            return float(intercept), np.inf
        if hi_pos <= lo_neg:
            return float(intercept), -np.inf
    return float(intercept), float(beta[1])


def wilson_interval(successes, trials, confidence: float = 0.95) -> tuple[np.ndarray, np.ndarray]:
    """Wilson score interval of binomial proportions (vectorised)."""
    k = np.asarray(successes, dtype=float)
    n = np.asarray(trials, dtype=float)
    z = stats.norm.ppf(0.5 + confidence / 2)
    with np.errstate(invalid="ignore", divide="ignore"):
        p = k / n
        centre = (p + z**2 / (2 * n)) / (1 + z**2 / n)
        half = z * np.sqrt(p * (1 - p) / n + z**2 / (4 * n**2)) / (1 + z**2 / n)
    return centre - half, centre + half


def calibration_bins(
    y, probability, n_bins: int = 10, confidence: float = 0.95
) -> dict[str, np.ndarray]:
    """Observed event rate against mean predicted probability in quantile bins.

    Returns
    -------
    dict of arrays
        ``predicted`` (mean probability per bin), ``observed`` (fraction of positives),
        ``n`` (patients per bin), ``lower``/``upper`` (Wilson interval of the observed
        fraction).
    """
    positive = _binary(y).astype(float)
    probability = np.asarray(probability, dtype=float)
    n_bins = int(max(1, min(n_bins, probability.size)))
    order = np.argsort(probability, kind="mergesort")
    groups = np.array_split(order, n_bins)
    groups = [g for g in groups if g.size]
    predicted = np.array([probability[g].mean() for g in groups])
    counts = np.array([g.size for g in groups])
    events = np.array([positive[g].sum() for g in groups])
    lower, upper = wilson_interval(events, counts, confidence)
    return {
        "predicted": predicted,
        "observed": events / counts,
        "n": counts,
        "lower": lower,
        "upper": upper,
    }


def net_benefit(y, probability, thresholds) -> np.ndarray:
    """Net benefit of treating patients whose predicted probability is at least each
    threshold (Vickers and Elkin 2006): ``TP/n - FP/n * t / (1 - t)``.

    ``probability`` may be ``(n,)`` or ``(n, m)``; the result has shape
    ``(len(thresholds),)`` or ``(len(thresholds), m)``.
    """
    positive = _binary(y)
    probability, single = _scores(probability, positive.size)
    t = np.asarray(thresholds, dtype=float)
    if ((t <= 0) | (t >= 1)).any():
        raise ValueError("thresholds must lie strictly between 0 and 1")
    n = positive.size
    treated = probability[None, :, :] >= t[:, None, None]  # thresholds x n x m
    tp = (treated & positive[None, :, None]).sum(axis=1) / n
    fp = (treated & ~positive[None, :, None]).sum(axis=1) / n
    out = tp - fp * (t / (1 - t))[:, None]
    return out[:, 0] if single else out
