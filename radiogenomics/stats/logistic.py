"""Logistic regression of a binary outcome on each of many predictors with covariates,
``y ~ x + covariates``, fitted by Newton-Raphson for all predictors at once (the same
maximum-likelihood fit and Wald statistics as ``statsmodels`` ``Logit``). numpy/scipy only.
"""

from __future__ import annotations

import numpy as np
from scipy import special

__all__ = ["logistic_many"]

Z_975 = float(special.ndtri(0.975))


def _information(design_z: np.ndarray, xa: np.ndarray, var: np.ndarray) -> np.ndarray:
    """Fisher information of each fit (features, k, k): the covariates ``design_z``
    (n, kz) shared by every fit, then the fit's own column of ``xa`` (n, features), with
    the IRLS weights ``var`` (n, features)."""
    kz = design_z.shape[1]
    h = np.empty((xa.shape[1], kz + 1, kz + 1))
    h[:, :kz, :kz] = np.einsum("ra,rb,rp->pab", design_z, design_z, var)
    cross = (var * xa).T @ design_z
    h[:, :kz, kz] = cross
    h[:, kz, :kz] = cross
    h[:, kz, kz] = np.sum(var * xa * xa, axis=0)
    return h


def logistic_many(
    x: np.ndarray,
    y: np.ndarray,
    covariates: np.ndarray,
    *,
    tol: float = 1e-10,
    max_iter: int = 100,
    alpha: float = 0.05,
) -> dict[str, np.ndarray]:
    """Fit ``logit P(y = 1) = b0 + covariates' g + beta x`` for every column of ``x``.

    Parameters
    ----------
    x
        Rows x p predictors; NaN where missing (each fit uses its complete cases).
    y
        Rows, 0/1 (NaN where missing).
    covariates
        Rows x k, complete (rows with a missing covariate must be removed before).
    tol
        Convergence: largest Newton step below ``tol`` (relative to 1 + |beta|).
    alpha
        For the Wald confidence interval of ``beta``.

    Returns
    -------
    dict of arrays (p,)
        ``estimate`` (beta, log odds ratio per unit of x), ``std_error``, ``statistic``
        (Wald z), ``p_value``, ``ci_lower``, ``ci_upper``, ``n`` and ``converged``.
        Fits that do not converge (separation) have NaN statistics.
    """
    x = np.asarray(x, dtype=float)
    y = np.asarray(y, dtype=float)
    rows, p = x.shape
    z = np.asarray(covariates, dtype=float).reshape(rows, -1)
    weights = (~np.isnan(x) & ~np.isnan(y)[:, None]).astype(float)  # rows x p
    n = weights.sum(axis=0)
    xv = np.where(weights > 0, x, 0.0)
    yv = np.where(np.isnan(y), 0.0, y)
    # scale for conditioning (the fit is equivariant; results are scaled back)
    with np.errstate(invalid="ignore", divide="ignore"):
        x_centre = np.where(n > 0, xv.sum(axis=0) / n, 0.0)
        xc = np.where(weights > 0, xv - x_centre, 0.0)
        x_scale = np.sqrt((xc * xc).sum(axis=0) / np.maximum(n, 1))
    x_scale = np.where(x_scale > 0, x_scale, 1.0)
    xs = xc / x_scale
    if z.shape[1]:
        z = (z - z.mean(axis=0)) / np.where(z.std(axis=0) > 0, z.std(axis=0), 1.0)
    design_z = np.column_stack([np.ones(rows), z])  # rows x kz
    kz = design_z.shape[1]
    k = kz + 1
    beta = np.zeros((p, k))  # [intercept, covariates..., x]
    converged = np.zeros(p, dtype=bool)
    active = np.flatnonzero(n > k)

    def linear_predictor(b, cols):
        return design_z @ b[:, :kz].T + xs[:, cols] * b[:, kz]

    def loglik(eta, cols):
        w = weights[:, cols]
        return np.sum(w * (yv[:, None] * eta - np.logaddexp(0.0, eta)), axis=0)

    for _ in range(max_iter):
        if active.size == 0:
            break
        cols = active
        b = beta[cols]
        eta = linear_predictor(b, cols)
        mu = special.expit(eta)
        w = weights[:, cols]
        resid = w * (yv[:, None] - mu)
        var = w * mu * (1.0 - mu)
        xa = xs[:, cols]
        grad = np.empty((cols.size, k))
        grad[:, :kz] = resid.T @ design_z
        grad[:, kz] = np.sum(resid * xa, axis=0)
        h = _information(design_z, xa, var)
        try:
            step = np.linalg.solve(h, grad[:, :, None])[:, :, 0]
        except np.linalg.LinAlgError:
            step = np.stack([np.linalg.lstsq(hi, gi, rcond=None)[0] for hi, gi in zip(h, grad)])
        current = loglik(eta, cols)
        # step halving keeps the likelihood from decreasing
        scale = np.ones(cols.size)
        for _ in range(30):
            trial = b + scale[:, None] * step
            new = loglik(linear_predictor(trial, cols), cols)
            worse = ~(new >= current - 1e-12 * np.abs(current))
            if not worse.any():
                break
            scale[worse] *= 0.5
        beta[cols] = b + scale[:, None] * step
        size = np.max(np.abs(scale[:, None] * step) / (1.0 + np.abs(b)), axis=1)
        done = size < tol
        # separation: the coefficient of x runs away while the fit becomes perfect
        runaway = (np.abs(beta[cols, kz]) > 50) | ~np.isfinite(beta[cols]).all(axis=1)
        converged[cols[done & ~runaway]] = True
        active = cols[~done & ~runaway]
    result = _wald(beta, converged, design_z, xs, weights, x_scale, alpha)
    result["n"] = n
    result["converged"] = converged
    return result


def _wald(beta, converged, design_z, xs, weights, x_scale, alpha) -> dict[str, np.ndarray]:
    """Wald statistics of the coefficient of x (last column of ``beta``) of the converged
    fits, from the information at the estimate, scaled back to the units of x."""
    p = beta.shape[0]
    kz = design_z.shape[1]
    # covariance at the estimate
    cols = np.flatnonzero(converged)
    result = {
        name: np.full(p, np.nan)
        for name in ("estimate", "std_error", "statistic", "p_value", "ci_lower", "ci_upper")
    }
    if cols.size:
        b = beta[cols]
        eta = design_z @ b[:, :kz].T + xs[:, cols] * b[:, kz]
        mu = special.expit(eta)
        var = weights[:, cols] * mu * (1.0 - mu)
        xa = xs[:, cols]
        h = _information(design_z, xa, var)
        try:
            cov = np.linalg.inv(h)
        except np.linalg.LinAlgError:
            cov = np.linalg.pinv(h)
        variance = cov[:, kz, kz]
        with np.errstate(invalid="ignore", divide="ignore"):
            estimate = b[:, kz] / x_scale[cols]
            se = np.sqrt(variance) / x_scale[cols]
            stat = estimate / se
        zq = float(special.ndtri(1 - alpha / 2))
        result["estimate"][cols] = estimate
        result["std_error"][cols] = se
        result["statistic"][cols] = stat
        result["p_value"][cols] = 2.0 * special.ndtr(-np.abs(stat))
        result["ci_lower"][cols] = estimate - zq * se
        result["ci_upper"][cols] = estimate + zq * se
    return result
