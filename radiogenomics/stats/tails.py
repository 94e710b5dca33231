"""Tail probabilities of test statistics, fast and exact to the last digits that matter.

The two-sided p-value of a correlation (or of a regression coefficient, through its
partial correlation) with ``df`` residual degrees of freedom is a function of ``|r|``
alone: ``p = 2 * stdtr(df, -|t|)`` with ``t = r * sqrt(df / (1 - r**2))``. Millions of
p-values with the same ``df`` are read off a table of ``log p`` on a uniform grid of
``|r|`` with cubic Hermite interpolation (exact derivatives), built once per ``df`` from
``scipy.special.stdtr`` and checked against it inside every cell. Values outside the
table (p-values below about 1e-290, or ``|r|`` too close to one) are computed with
``stdtr`` directly. The largest relative error of the table is below 1e-10 (stdtr itself is
exact to about 1e-12 here).

numpy/scipy only.
"""

from __future__ import annotations

import threading
from functools import lru_cache

import numpy as np
from scipy import special

__all__ = ["t_two_sided", "t_two_sided_from_r", "t_quantile", "norm_two_sided", "RTable"]

#: Relative accuracy a table must reach (absolute error of log p) or it is refined.
TABLE_TOLERANCE = 1e-10
#: Largest number of table cells; past this, the table stops earlier and the rest is exact.
MAX_CELLS = 1 << 17
#: The table covers p-values down to about exp(LOG_P_FLOOR).
LOG_P_FLOOR = -665.0
#: The table never goes past this |r| (closer to 1 the p-values are computed exactly).
R_MAX = 0.998


def t_two_sided(t: np.ndarray, df: np.ndarray | float) -> np.ndarray:
    """Two-sided p-value ``2 * P(T_df >= |t|)`` (as ``scipy.stats.t.sf(|t|, df) * 2``)."""
    t = np.asarray(t, dtype=float)
    with np.errstate(invalid="ignore"):
        return np.minimum(2.0 * special.stdtr(df, -np.abs(t)), 1.0)


def norm_two_sided(z: np.ndarray) -> np.ndarray:
    """Two-sided normal p-value ``2 * P(Z >= |z|)``."""
    z = np.asarray(z, dtype=float)
    return np.minimum(2.0 * special.ndtr(-np.abs(z)), 1.0)


def t_quantile(q: float, df: np.ndarray | float) -> np.ndarray:
    """Quantile of Student's t (``scipy.stats.t.ppf``)."""
    return special.stdtrit(df, q)


def _logp_exact(a: np.ndarray, df: float) -> np.ndarray:
    """log of the two-sided p-value for |r| = a (0 <= a < 1)."""
    with np.errstate(divide="ignore"):
        t = a * np.sqrt(df / ((1.0 - a) * (1.0 + a)))
        return np.log(2.0 * special.stdtr(df, -t))


def _dlogp_exact(a: np.ndarray, logp: np.ndarray, df: float) -> np.ndarray:
    """d log p / d|r|: -2 pdf_t(t) dt/da / p, with the pdf written in |r|."""
    const = special.gammaln((df + 1) / 2) - special.gammaln(df / 2) - 0.5 * np.log(df * np.pi)
    one_minus = (1.0 - a) * (1.0 + a)
    return -2.0 * np.sqrt(df) * np.exp(const + (df - 2.0) / 2.0 * np.log(one_minus) - logp)


class RTable:
    """Interpolation table of the two-sided p-value as a function of ``|r|`` for one df.

    Parameters
    ----------
    df
        Residual degrees of freedom (> 0).
    """

    def __init__(self, df: float) -> None:
        if not df > 0:
            raise ValueError(f"degrees of freedom must be positive, found {df}")
        self.df = float(df)
        # the table ends where p reaches exp(LOG_P_FLOOR), or at |r| = R_MAX
        lo, hi = 0.0, R_MAX
        if _logp_exact(np.array([hi]), self.df)[0] > LOG_P_FLOOR:
            end = hi
        else:
            for _ in range(60):
                mid = 0.5 * (lo + hi)
                if _logp_exact(np.array([mid]), self.df)[0] > LOG_P_FLOOR:
                    lo = mid
                else:
                    hi = mid
            end = lo
        cells = 1024
        while True:
            worst, coefficients = self._build(end, cells)
            if worst <= TABLE_TOLERANCE:
                break
            if cells < MAX_CELLS:
                # the error of cubic Hermite interpolation falls as h**4
                wanted = cells * (worst / TABLE_TOLERANCE) ** 0.25 * 1.25
                cells = int(min(MAX_CELLS, 2 ** np.ceil(np.log2(max(wanted, 2 * cells)))))
            else:  # too steep for the largest table: shorten the range
                end = 1.0 - 2.0 * (1.0 - end)
                if end < 0.5:
                    raise RuntimeError(f"cannot build a p-value table for df={df}")
        self.end = end
        self.cells = cells
        self.inv_h = cells / end
        self.c0, self.c1, self.c2, self.c3 = coefficients

    def _build(self, end: float, cells: int):
        grid = np.linspace(0.0, end, cells + 1)
        logp = _logp_exact(grid, self.df)
        deriv = _dlogp_exact(grid, logp, self.df) * (end / cells)
        f0, f1, d0, d1 = logp[:-1], logp[1:], deriv[:-1], deriv[1:]
        c0 = f0
        c1 = d0
        c2 = 3.0 * (f1 - f0) - 2.0 * d0 - d1
        c3 = 2.0 * (f0 - f1) + d0 + d1
        # check inside every cell against the exact function
        worst = 0.0
        for s in (0.21, 0.5, 0.79):
            points = grid[:-1] + s * (end / cells)
            approx = c0 + s * (c1 + s * (c2 + s * c3))
            worst = max(worst, float(np.max(np.abs(approx - _logp_exact(points, self.df)))))
        return worst, (c0, c1, c2, c3)

    def __call__(
        self, a: np.ndarray, out: np.ndarray | None = None, work: dict | None = None
    ) -> np.ndarray:
        """Two-sided p-values for ``a = |r|`` (any shape; NaN stays NaN)."""
        a = np.asarray(a, dtype=float)
        if out is None:
            out = np.empty_like(a)
        g = _scratch(work, "g", a.shape, float)
        y = _scratch(work, "y", a.shape, float)
        tmp = _scratch(work, "tmp", a.shape, float)
        np.multiply(a, self.inv_h, out=g)
        top = np.max(g) if g.size else 0.0
        outside = None
        if not top < self.cells:  # beyond the table, or NaN
            outside = ~(g < self.cells)
            g[outside] = 0.0
        # cell index by rounding g - 1/2 with the 1.5 * 2**52 trick (much faster than floor and
        # a cast); g - index is then in [0, 1]
        np.subtract(g, 0.5, out=y)
        np.add(y, _MAGIC, out=y)  # round(g - 1/2) + _MAGIC, exactly
        np.subtract(y, _MAGIC, out=tmp)
        np.subtract(g, tmp, out=g)  # position in the cell, in [0, 1]
        idx = y.view(np.int64)
        np.subtract(idx, _MAGIC_BITS, out=idx)  # the cell
        np.take(self.c3, idx, out=out, mode="clip")
        np.multiply(out, g, out=out)
        np.take(self.c2, idx, out=tmp, mode="clip")
        np.add(out, tmp, out=out)
        np.multiply(out, g, out=out)
        np.take(self.c1, idx, out=tmp, mode="clip")
        np.add(out, tmp, out=out)
        np.multiply(out, g, out=out)
        np.take(self.c0, idx, out=tmp, mode="clip")
        np.add(out, tmp, out=out)
        np.exp(out, out=out)
        if outside is not None:
            out[outside] = _p_from_r_exact(a[outside], self.df)
        return out


_MAGIC = 1.5 * 2.0**52  # integers k + _MAGIC, |k| < 2**51, are exact and their bits linear in k
_MAGIC_BITS = np.float64(_MAGIC).view(np.int64)


def _scratch(work: dict | None, key: str, shape, dtype) -> np.ndarray:
    if work is None:
        return np.empty(shape, dtype=dtype)
    buffer = work.get(key)
    size = int(np.prod(shape))
    if buffer is None or buffer.size < size or buffer.dtype != np.dtype(dtype):
        buffer = np.empty(size, dtype=dtype)
        work[key] = buffer
    return buffer[:size].reshape(shape)


def _p_from_r_exact(a: np.ndarray, df) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        a = np.minimum(np.abs(a), 1.0)
        t = a * np.sqrt(df / ((1.0 - a) * (1.0 + a)))
        return np.minimum(2.0 * special.stdtr(df, -t), 1.0)


_lock = threading.Lock()


@lru_cache(maxsize=64)
def _table(df: float) -> RTable:
    return RTable(df)


def r_table(df: float) -> RTable:
    """The (cached) p-value table for ``df``."""
    with _lock:
        return _table(float(df))


#: Use a table for a df only when at least this many p-values share it.
TABLE_MIN_COUNT = 1_000_000


def t_two_sided_from_r(
    a: np.ndarray,
    df: np.ndarray | float,
    out: np.ndarray | None = None,
    work: dict | None = None,
    exact: bool = False,
) -> np.ndarray:
    """Two-sided p-values of correlations (or partial correlations) ``a`` with ``df``.

    Equal to ``2 * stdtr(df, -|t|)`` with ``t = r sqrt(df / (1 - r^2))``. A df shared by
    a million values or more uses an interpolation table (unless ``exact``); the rest is
    computed directly.
    """
    a = np.abs(np.asarray(a, dtype=float))
    if out is None:
        out = np.empty_like(a)
    if np.ndim(df) == 0:
        df = float(df)
        if not df > 0:
            out[...] = np.nan
            return out
        if a.size >= TABLE_MIN_COUNT and not exact:
            return r_table(df)(a, out=out, work=work)
        out[...] = _p_from_r_exact(a, df)
        return out
    df = np.broadcast_to(np.asarray(df, dtype=float), a.shape)
    flat_a, flat_df = a.ravel(), df.ravel()
    result = np.full(flat_a.shape, np.nan)
    values, inverse, counts = np.unique(flat_df, return_inverse=True, return_counts=True)
    inverse = inverse.ravel()
    direct = np.zeros(flat_a.shape, dtype=bool)
    for k, (value, count) in enumerate(zip(values, counts)):
        if not value > 0:
            continue
        if count >= TABLE_MIN_COUNT and not exact:
            members = np.flatnonzero(inverse == k)
            result[members] = r_table(value)(flat_a[members])
        else:
            direct |= inverse == k
    if direct.any():
        result[direct] = _p_from_r_exact(flat_a[direct], flat_df[direct])
    out[...] = result.reshape(a.shape)
    return out
