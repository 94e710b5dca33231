"""Intraclass correlation coefficients (Shrout and Fleiss 1979; McGraw and Wong 1996),
vectorised over features.

numpy/scipy only. The input is a complete, balanced array of ratings: targets (patients
or lesions) x raters (repeated scans, segmentations or perturbations) x features. The
two-way ANOVA mean squares give all six coefficients with their F tests and 95%
confidence intervals, as ``pingouin.intraclass_corr`` reports them:

- ``icc1`` ICC(1,1): one-way random effects, absolute agreement, single rating;
- ``icc2`` ICC(2,1) = ICC(A,1): two-way random effects, absolute agreement, single rating;
- ``icc3`` ICC(3,1) = ICC(C,1): two-way mixed effects, consistency, single rating;
- ``icc1k``, ``icc2k``, ``icc3k``: the same for the mean of the ``k`` ratings.
"""

from __future__ import annotations

import numpy as np
from scipy import stats

__all__ = ["ICC_TYPES", "intraclass_correlation"]

#: The coefficients returned, with the names used by pingouin.
ICC_TYPES = {
    "icc1": "ICC(1,1)",
    "icc2": "ICC(A,1)",
    "icc3": "ICC(C,1)",
    "icc1k": "ICC(1,k)",
    "icc2k": "ICC(A,k)",
    "icc3k": "ICC(C,k)",
}


def intraclass_correlation(
    ratings: np.ndarray, *, confidence: float = 0.95, chunk_size: int = 4096
) -> dict[str, np.ndarray]:
    """All six ICCs with F statistics, p-values and confidence intervals, per feature.

    Parameters
    ----------
    ratings
        Array ``(n_targets, k_raters)`` or ``(n_targets, k_raters, n_features)``, finite.
    confidence
        Level of the confidence intervals.
    chunk_size
        Features per chunk (memory stays bounded for wide inputs).

    Returns
    -------
    dict
        Arrays of shape ``(n_features,)``: ``icc1 .. icc3k``; ``f1`` (one-way F, used by
        ICC(1,*)) and ``f2`` (two-way F, used by ICC(2,*) and ICC(3,*)) with their
        p-values ``p1``, ``p2``; mean squares ``ms_targets``, ``ms_raters``,
        ``ms_error``, ``ms_within``; ``<icc>_ci_lower`` and ``<icc>_ci_upper``; scalars
        ``n_targets``, ``k_raters``, ``df_targets``, ``df_within``, ``df_error``.
        A feature that is constant gives NaN.
    """
    x = np.asarray(ratings, dtype=np.float64)
    if x.ndim == 2:
        x = x[:, :, None]
    if x.ndim != 3:
        raise ValueError(f"ratings must be 2-D or 3-D, found {x.ndim}-D")
    n, k, p = x.shape
    if n < 2 or k < 2:
        raise ValueError(f"ICC needs at least 2 targets and 2 raters, found {n} and {k}")
    if not np.isfinite(x).all():
        raise ValueError("ratings must be complete and finite (balanced design)")

    ms = {name: np.empty(p) for name in ("ms_targets", "ms_raters", "ms_error", "ms_within")}
    for start in range(0, p, chunk_size):
        block = x[:, :, start : start + chunk_size]
        grand = block.mean(axis=(0, 1))
        target_means = block.mean(axis=1)  # n x p
        rater_means = block.mean(axis=0)  # k x p
        ss_targets = k * ((target_means - grand) ** 2).sum(axis=0)
        ss_raters = n * ((rater_means - grand) ** 2).sum(axis=0)
        residual = block - target_means[:, None, :] - rater_means[None, :, :] + grand
        ss_error = (residual**2).sum(axis=0).sum(axis=0)
        sl = slice(start, start + block.shape[2])
        ms["ms_targets"][sl] = ss_targets / (n - 1)
        ms["ms_raters"][sl] = ss_raters / (k - 1)
        ms["ms_error"][sl] = ss_error / ((n - 1) * (k - 1))
        ms["ms_within"][sl] = (ss_raters + ss_error) / (n * (k - 1))
    return _coefficients(ms, n, k, confidence)


def _coefficients(ms: dict[str, np.ndarray], n: int, k: int, confidence: float) -> dict:
    msb, msj, mse, msw = ms["ms_targets"], ms["ms_raters"], ms["ms_error"], ms["ms_within"]
    df1, df_within, df_error = n - 1, n * (k - 1), (n - 1) * (k - 1)
    out: dict = dict(ms)
    with np.errstate(divide="ignore", invalid="ignore"):
        icc1 = (msb - msw) / (msb + (k - 1) * msw)
        icc2 = (msb - mse) / (msb + (k - 1) * mse + k * (msj - mse) / n)
        icc3 = (msb - mse) / (msb + (k - 1) * mse)
        out.update(
            icc1=icc1,
            icc2=icc2,
            icc3=icc3,
            icc1k=(msb - msw) / msb,
            icc2k=(msb - mse) / (msb + (msj - mse) / n),
            icc3k=(msb - mse) / msb,
        )
        f1 = msb / msw
        f2 = msb / mse
        out.update(
            f1=f1, f2=f2, p1=stats.f.sf(f1, df1, df_within), p2=stats.f.sf(f2, df1, df_error)
        )

        alpha = 1.0 - confidence
        q = 1 - alpha / 2
        # one-way and consistency intervals (McGraw and Wong 1996, cases 1 and 3)
        f1l = f1 / stats.f.ppf(q, df1, df_within)
        f1u = f1 * stats.f.ppf(q, df_within, df1)
        f3l = f2 / stats.f.ppf(q, df1, df_error)
        f3u = f2 * stats.f.ppf(q, df_error, df1)
        out["icc1_ci_lower"] = (f1l - 1) / (f1l + (k - 1))
        out["icc1_ci_upper"] = (f1u - 1) / (f1u + (k - 1))
        out["icc3_ci_lower"] = (f3l - 1) / (f3l + (k - 1))
        out["icc3_ci_upper"] = (f3u - 1) / (f3u + (k - 1))
        out["icc1k_ci_lower"], out["icc1k_ci_upper"] = 1 - 1 / f1l, 1 - 1 / f1u
        out["icc3k_ci_lower"], out["icc3k_ci_upper"] = 1 - 1 / f3l, 1 - 1 / f3u
        # absolute agreement (case 2A): Satterthwaite degrees of freedom
        fj = msj / mse
        vn = df_error * (k * icc2 * fj + n * (1 + (k - 1) * icc2) - k * icc2) ** 2
        vd = df1 * k**2 * icc2**2 * fj**2 + (n * (1 + (k - 1) * icc2) - k * icc2) ** 2
        v = vn / vd
        f2u = stats.f.ppf(q, n - 1, v)
        f2l = stats.f.ppf(q, v, n - 1)
        l2 = n * (msb - f2u * mse) / (f2u * (k * msj + (k * n - k - n) * mse) + n * msb)
        u2 = n * (f2l * msb - mse) / (k * msj + (k * n - k - n) * mse + n * f2l * msb)
        out["icc2_ci_lower"], out["icc2_ci_upper"] = l2, u2
        out["icc2k_ci_lower"] = l2 * k / (1 + l2 * (k - 1))
        out["icc2k_ci_upper"] = u2 * k / (1 + u2 * (k - 1))
    constant = msb + msj + mse == 0
    if constant.any():
        for key, value in out.items():
            if key.startswith(("icc", "f", "p")):
                value[constant] = np.nan
    out.update(n_targets=n, k_raters=k, df_targets=df1, df_within=df_within, df_error=df_error)
    return out
