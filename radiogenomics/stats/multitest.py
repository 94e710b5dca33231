"""Multiple-testing corrections: Benjamini-Hochberg, Benjamini-Yekutieli, Bonferroni, Holm
and Storey q-values, over all tests or within families (for example per x feature).

numpy only. Missing p-values (NaN) are not tests: they are left out of the family and get
a NaN adjusted value.
"""

from __future__ import annotations

import numpy as np

__all__ = ["METHODS", "adjust_pvalues", "storey_pi0"]

#: Accepted method names and their canonical form.
METHODS = {
    "bh": "bh", "fdr_bh": "bh", "benjamini-hochberg": "bh",
    "by": "by", "fdr_by": "by", "benjamini-yekutieli": "by",
    "bonferroni": "bonferroni",
    "holm": "holm",
    "storey": "storey", "qvalue": "storey",
}


def storey_pi0(
    p: np.ndarray,
    lambdas: np.ndarray | None = None,
    method: str = "smoother",
) -> float:
    """Storey's estimate of the proportion of true null hypotheses.

    Parameters
    ----------
    p
        p-values (NaN ignored).
    lambdas
        Grid of tuning values (default 0.05, 0.10, ..., 0.95, as R's ``qvalue``).
    method
        ``"smoother"``: a cubic smoothing spline with 3 degrees of freedom through
        pi0(lambda), read at the largest lambda (R ``qvalue``'s default);
        ``"fixed"``: pi0(lambda) at the single value ``lambdas[0]`` (Storey 2002 used 0.5).

    Returns
    -------
    float in (0, 1].
    """
    p = np.asarray(p, dtype=float)
    p = p[~np.isnan(p)]
    if p.size == 0:
        return 1.0
    if lambdas is None:
        lambdas = np.arange(0.05, 0.951, 0.05) if method == "smoother" else np.array([0.5])
    lambdas = np.asarray(lambdas, dtype=float)
    sorted_p = np.sort(p)
    above = p.size - np.searchsorted(sorted_p, lambdas, side="left")
    pi0 = above / (p.size * (1.0 - lambdas))
    if method == "fixed" or lambdas.size < 4:
        value = float(pi0[0] if method == "fixed" else pi0[-1])
    elif method == "smoother":
        value = float(_smooth_df3(lambdas, pi0)[-1])
    else:
        raise ValueError(f"unknown pi0 method {method!r}; expected 'smoother' or 'fixed'")
    return float(min(max(value, 1.0 / p.size), 1.0))


def _smooth_df3(x: np.ndarray, y: np.ndarray, df: float = 3.0) -> np.ndarray:
    """Cubic smoothing spline with ``df`` effective degrees of freedom (as R smooth.spline)."""
    from scipy.interpolate import make_smoothing_spline

    def trace(lam: float) -> float:
        eye = np.eye(x.size)
        return float(sum(make_smoothing_spline(x, eye[i], lam=lam)(x[i]) for i in range(x.size)))

    lo, hi = -12.0, 6.0  # search log10(lam) so that the smoother's trace equals df
    for _ in range(60):
        mid = 0.5 * (lo + hi)
        if trace(10.0**mid) > df:
            lo = mid
        else:
            hi = mid
    return make_smoothing_spline(x, y, lam=10.0 ** (0.5 * (lo + hi)))(x)


def _segment_cummin(values: np.ndarray, codes: np.ndarray) -> np.ndarray:
    """Running minimum restarted at every change of ``codes`` (codes non-decreasing, values in [0, 1])."""
    shifted = values - 2.0 * codes
    return np.minimum.accumulate(shifted) + 2.0 * codes


def _segment_cummax(values: np.ndarray, codes: np.ndarray) -> np.ndarray:
    shifted = values + 2.0 * codes
    return np.maximum.accumulate(shifted) - 2.0 * codes


def adjust_pvalues(
    p: np.ndarray,
    method: str = "bh",
    families: np.ndarray | None = None,
    *,
    pi0: float | None = None,
) -> np.ndarray:
    """Adjusted p-values (q-values for FDR methods), vectorised over families.

    Parameters
    ----------
    p
        p-values, any shape; NaN entries are not tests.
    method
        ``"bh"`` (Benjamini-Hochberg), ``"by"`` (Benjamini-Yekutieli), ``"bonferroni"``,
        ``"holm"`` or ``"storey"`` (q-values with Storey's pi0; see :func:`storey_pi0`).
    families
        Integer family code per p-value (same shape): each family is adjusted on its own
        (for example one family per x feature). ``None``: one family of all tests.
    pi0
        For ``"storey"``: a given proportion of true nulls instead of the estimate.

    Returns
    -------
    numpy.ndarray of the shape of ``p``.
    """
    try:
        kind = METHODS[method.lower()]
    except KeyError:
        raise ValueError(
            f"unknown multiple-testing method {method!r}; expected one of {sorted(set(METHODS))}"
        ) from None
    p = np.asarray(p, dtype=float)
    shape = p.shape
    flat = p.ravel()
    out = np.full(flat.shape, np.nan)
    valid = np.flatnonzero(~np.isnan(flat))
    if valid.size == 0:
        return out.reshape(shape)
    pv = flat[valid]
    if families is None:
        codes = np.zeros(pv.size, dtype=np.int64)
    else:
        fam = np.asarray(families).ravel()
        if fam.shape != flat.shape:
            raise ValueError("families must have the shape of p")
        _, codes = np.unique(fam[valid], return_inverse=True)
        codes = codes.astype(np.int64)
    sizes = np.bincount(codes).astype(float)
    m = sizes[codes]

    if kind == "bonferroni":
        out[valid] = np.minimum(pv * m, 1.0)
        return out.reshape(shape)

    if kind == "holm":
        order = np.lexsort((pv, codes))  # by family, p ascending
        c = codes[order]
        starts = np.concatenate(([0], np.cumsum(np.bincount(codes))[:-1]))
        rank = np.arange(pv.size) - starts[c]  # 0-based within family
        adj = np.minimum((m[order] - rank) * pv[order], 1.0)
        res = np.empty_like(pv)
        res[order] = np.minimum(_segment_cummax(adj, c), 1.0)
        out[valid] = res
        return out.reshape(shape)

    # step-up FDR: BH, BY, Storey
    if sizes.size == 1:
        order = np.argsort(pv)[::-1]  # p descending (one family)
    else:
        order = np.lexsort((-pv, codes))  # by family, p descending
    c = codes[order]
    ends = np.cumsum(np.bincount(codes))
    rank = ends[c] - np.arange(pv.size)  # 1-based ascending rank within the family
    scale = m[order] / rank
    if kind == "by":
        harmonic = np.cumsum(1.0 / np.arange(1, int(sizes.max()) + 1))
        scale = scale * harmonic[m[order].astype(np.int64) - 1]
    adj = np.minimum(pv[order] * scale, 1.0)
    res = np.empty_like(pv)
    res[order] = _segment_cummin(adj, c)
    if kind == "storey":
        if pi0 is None:
            pis = np.array([storey_pi0(pv[codes == k]) for k in range(sizes.size)])
        else:
            if not 0 < pi0 <= 1:
                raise ValueError(f"pi0 must be in (0, 1], found {pi0}")
            pis = np.full(sizes.size, float(pi0))
        res = res * pis[codes]
    out[valid] = res
    return out.reshape(shape)
