"""Association statistics for every pair of a column of ``x`` and a column of ``y``.

Methods (the estimate, its standard error, the test statistic, the two-sided p-value and
the confidence interval of each pair, as the reference implementation gives them):

- ``linear``: ``y ~ x + covariates`` by least squares; the coefficient of ``x``
  (statsmodels ``OLS``);
- ``pearson``: correlation (``scipy.stats.pearsonr``), partial correlation given the
  covariates when there are any (``pingouin.partial_corr``);
- ``spearman``: the same on ranks (``scipy.stats.spearmanr``; with covariates, ranks of
  every variable as ``pingouin.partial_corr(method="spearman")``);
- ``mannwhitney``: ``x`` between the groups ``y = 1`` and ``y = 0`` (``scipy.stats.
  mannwhitneyu``; the estimate is the rank-biserial correlation ``2 U1 / (n1 n0) - 1``);
- ``welch``: difference of means of ``x`` between ``y = 1`` and ``y = 0`` with Welch's
  t-test (``scipy.stats.ttest_ind(equal_var=False)``);
- ``logistic``: ``logit P(y = 1) ~ x + covariates`` (statsmodels ``Logit``).

Every pair uses its complete cases: the rows where ``x``, ``y`` and all covariates are
present; ``n`` says how many. Columns are grouped by missingness pattern so that the work
stays matrix algebra over blocks; pairs that share no pattern use per-pair sufficient
statistics. The wide axis is processed in chunks (bounded memory), in threads, or as Dask
tasks when a ``client`` is given. numpy/scipy only (threadpoolctl, when installed, keeps
the BLAS to one thread per worker thread).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
from scipy import special

from .._compat import renamed
from ._parallel import run as _run
from .linear import DEGENERATE, MomentFit, orthonormal_basis, unit_residuals
from .logistic import logistic_many
from .patterns import missing_patterns
from .ranks import column_ranks, mannwhitney_from_ranks, tie_terms
from .tails import r_table, t_quantile, t_two_sided, t_two_sided_from_r

__all__ = ["METHODS", "BINARY_METHODS", "FIELDS", "AssociationArrays", "KeptPairs",
           "associate_arrays"]

METHODS = ("linear", "pearson", "spearman", "mannwhitney", "welch", "logistic")
#: Methods that compare the groups of a binary y (0/1).
BINARY_METHODS = ("mannwhitney", "welch", "logistic")
#: Methods that cannot adjust for covariates.
UNADJUSTED_METHODS = ("mannwhitney", "welch")
#: Float fields of the result, in the order of the association table.
FIELDS = ("estimate", "std_error", "statistic", "p_value", "q_value", "ci_lower", "ci_upper")
_F = {name: i for i, name in enumerate(FIELDS)}

#: A missingness pattern shared by at least this many columns is its own block.
MIN_BLOCK = 16
#: Pairs per task (elements of the working arrays).
TASK_PAIRS = 1 << 18
#: Pairs finished at a time (the working arrays stay in the processor's cache).
FINISH_PAIRS = 1 << 15
#: Pairs sharing a df from which p-values come from an interpolation table.
TABLE_PAIRS = 1_000_000


@dataclass
class AssociationArrays:
    """Statistics of all pairs, as arrays (x columns by y columns).

    Attributes
    ----------
    values
        ``(7, n_x, n_y)`` float64, the fields of :data:`FIELDS` in order; ``q_value`` is
        NaN here (filled by the caller's multiple-testing correction).
    n
        ``(n_x, n_y)`` int32: patients used by each pair.
    method
        The method.
    info
        What else the fit reports (degrees of freedom when shared, failed fits).
    """

    values: np.ndarray
    n: np.ndarray
    method: str
    info: dict = field(default_factory=dict)

    def __getitem__(self, name: str) -> np.ndarray:
        return self.values[_F[name]]

    @property
    def shape(self) -> tuple[int, int]:
        return self.n.shape


@dataclass
class KeptPairs:
    """Threshold mode: the pairs with ``p <= threshold`` (x-major, as rows of the full
    table) and what exact multiple-testing corrections over all tests need.

    Attributes
    ----------
    x_index, y_index
        ``(k,)`` int64: the column of ``x`` and of ``y`` of each kept pair.
    values
        ``(7, k)`` float64, the fields of :data:`FIELDS` (``q_value`` NaN here).
    n
        ``(k,)`` int32: patients used by each kept pair.
    tail
        The p-values in ``(threshold, bound]`` (unordered, without their pairs).
    n_tests
        Pairs with a p-value, kept or not (the size of the multiple-testing family).
    threshold, bound
        Every pair with ``p <= threshold`` is kept; together with ``tail`` every p-value
        ``<= bound`` is known.
    shape
        ``(n_x, n_y)``: the pairs examined.
    method, info
        As :class:`AssociationArrays`.
    """

    x_index: np.ndarray
    y_index: np.ndarray
    values: np.ndarray
    n: np.ndarray
    tail: np.ndarray
    n_tests: int
    threshold: float
    bound: float
    shape: tuple[int, int]
    method: str
    info: dict = field(default_factory=dict)

    def __getitem__(self, name: str) -> np.ndarray:
        return self.values[_F[name]]


_local = threading.local()


def _work() -> dict:
    """Scratch buffers of the calling thread (reused across chunks)."""
    work = getattr(_local, "work", None)
    if work is None:
        work = _local.work = {}
    return work


def _scratch(name: str, shape: tuple[int, ...]) -> np.ndarray:
    work = _work()
    size = int(np.prod(shape))
    buffer = work.get(name)
    if buffer is None or buffer.size < size:
        buffer = work[name] = np.empty(max(size, 1))
    return buffer[:size].reshape(shape)


class _Target:
    """Where the statistics of blocks of pairs go (x-major output arrays)."""

    def __init__(self, values: np.ndarray, n: np.ndarray) -> None:
        self.values = values
        self.n = n
        self.n_x, self.n_y = n.shape

    def views(self, xs, ys) -> tuple[list[np.ndarray], Callable[[], None]]:
        """Writable (len(xs), len(ys)) arrays for the six fields (all but q_value) and a
        function to call once they are filled. ``xs``/``ys``: slices or index arrays."""
        fields = [_F[f] for f in FIELDS if f != "q_value"]
        if isinstance(xs, slice) and isinstance(ys, slice):
            return [self.values[f, xs, ys] for f in fields], lambda: None
        nx = _length(xs, self.n_x)
        ny = _length(ys, self.n_y)
        arrays = [np.empty((nx, ny)) for _ in fields]

        def commit():
            index = np.ix_(_indices(xs, self.n_x), _indices(ys, self.n_y))
            for f, array in zip(fields, arrays):
                self.values[f][index] = array

        return arrays, commit

    def set_n(self, xs, ys, n) -> None:
        if isinstance(xs, slice) and isinstance(ys, slice):
            self.n[xs, ys] = n
        else:
            self.n[np.ix_(_indices(xs, self.n_x), _indices(ys, self.n_y))] = n

    def finish(self, r, xs, ys, x_size, y_size, df, n, kind, n_cov, alpha,
               table=None) -> None:
        """The fields of the pairs (``xs`` x ``ys``) from their partial correlations ``r``
        (x-major, overwritten); see :func:`_finish_t`."""
        outs, commit = self.views(xs, ys)
        if np.ndim(df) == 0 and np.ndim(n) == 0:
            # by blocks of rows small enough to stay in the processor's cache
            step_rows = max(1, FINISH_PAIRS // max(r.shape[1], 1))
            for i in range(0, r.shape[0], step_rows):
                part = slice(i, i + step_rows)
                x_part = x_size[part] if np.ndim(x_size) else x_size
                _finish_t(r[part], x_part, y_size, df, n, kind, n_cov,
                          [out[part] for out in outs], alpha, table)
        else:
            _finish_t(r, x_size, y_size, df, n, kind, n_cov, outs, alpha, table)
        commit()


class _Kept:
    """Where threshold mode puts its pairs: only those with ``p <= threshold`` (all their
    fields), the p-values in ``(threshold, bound]`` (values only, for exact step-up
    q-values) and the count of tests (pairs with a p-value).

    A pair's p-value is a decreasing function of ``|r|`` for its degrees of freedom, so a
    pair can reach ``p <= bound`` only if ``|r|`` reaches the critical value of ``bound``
    at its df; the fields are computed, in the same arithmetic as the full table, only for
    those candidates (with a small margin so that no pair at the edge is missed), and the
    candidates are then filtered on their p-values.
    """

    #: Relative margin below the critical |r| (far above the p-values' rounding).
    MARGIN = 1e-7

    def __init__(self, n_x: int, n_y: int, threshold: float, bound: float) -> None:
        self.n_x, self.n_y = n_x, n_y
        self.threshold = float(threshold)
        self.bound = max(float(bound), self.threshold)
        self.parts: list[tuple] = []
        self.tail: list[np.ndarray] = []
        self.n_tests = 0
        self._lock = threading.Lock()
        self._critical: dict[float, float] = {}

    def set_n(self, xs, ys, n) -> None:  # n is recorded by finish
        return None

    def critical(self, df):
        """The |r| at which the two-sided p-value reaches ``bound`` (less the margin)."""
        if np.ndim(df) == 0:
            value = self._critical.get(float(df))
            if value is None:
                value = float(_r_critical(self.bound, np.asarray(float(df))))
                self._critical[float(df)] = value
            return value
        values, inverse = np.unique(np.asarray(df, dtype=float), return_inverse=True)
        return _r_critical(self.bound, values)[inverse].reshape(np.shape(df))

    def finish(self, r, xs, ys, x_size, y_size, df, n, kind, n_cov, alpha,
               table=None) -> None:
        shape = r.shape
        a = _scratch("abs", shape)
        np.abs(r, out=a)
        with np.errstate(invalid="ignore"):
            if np.ndim(df) == 0:
                valid = r.size - int(np.count_nonzero(np.isnan(a))) if df > 0 else 0
                hit = a >= self.critical(df) if df > 0 else np.zeros(shape, bool)
            else:
                df_full = np.broadcast_to(df, shape)
                good = df_full > 0
                valid = int(np.count_nonzero(good & ~np.isnan(a)))
                hit = (a >= self.critical(np.where(good, df_full, 1.0))) & good
        flat = np.flatnonzero(hit)
        if flat.size:
            ii, jj = np.unravel_index(flat, shape)

            def pick(value):
                return value if np.ndim(value) == 0 else np.broadcast_to(value, shape)[ii, jj]

            rr = r.reshape(-1)[flat] if r.flags.c_contiguous else r[ii, jj]
            outs = [np.empty(flat.size) for _ in range(6)]
            _finish_t(rr, pick(x_size), pick(y_size), pick(df), pick(n), kind, pick(n_cov),
                      outs, alpha, table)
            p = outs[3]
            with np.errstate(invalid="ignore"):
                kept = p <= self.threshold
                tail = p[(p > self.threshold) & (p <= self.bound)]
            if kept.any():
                x_index = _indices(xs, self.n_x)[ii[kept]]
                y_index = _indices(ys, self.n_y)[jj[kept]]
                n_kept = np.broadcast_to(pick(n), flat.shape)[kept].astype(np.int32)
                fields = np.stack([out[kept] for out in outs])
                part = (x_index, y_index, n_kept, fields)
            else:
                part = None
        else:
            part, tail = None, None
        with self._lock:
            self.n_tests += valid
            if part is not None:
                self.parts.append(part)
            if tail is not None and tail.size:
                self.tail.append(tail)

    def add_dense(self, values: np.ndarray, n: np.ndarray, xs=slice(None),
                  ys=slice(None)) -> None:
        """Pairs computed in full (methods without a threshold shortcut)."""
        p = values[_F["p_value"]]
        with np.errstate(invalid="ignore"):
            kept = p <= self.threshold
            tail = p[(p > self.threshold) & (p <= self.bound)]
        ii, jj = np.nonzero(kept)
        fields = values[[_F[f] for f in FIELDS if f != "q_value"]][:, ii, jj]
        part = (_indices(xs, self.n_x)[ii], _indices(ys, self.n_y)[jj],
                n[ii, jj].astype(np.int32), fields)
        with self._lock:
            self.n_tests += int(np.count_nonzero(~np.isnan(p)))
            self.parts.append(part)
            if tail.size:
                self.tail.append(tail)

    def result(self, method: str, info: dict) -> KeptPairs:
        """The kept pairs in x-major order (the order of the full table)."""
        if self.parts:
            x_index = np.concatenate([part[0] for part in self.parts])
            y_index = np.concatenate([part[1] for part in self.parts])
            n = np.concatenate([part[2] for part in self.parts])
            fields = np.concatenate([part[3] for part in self.parts], axis=1)
        else:
            x_index = y_index = np.empty(0, dtype=np.int64)
            n = np.empty(0, dtype=np.int32)
            fields = np.empty((6, 0))
        # x-major order: one sort of int64 keys (faster than a lexsort of two columns)
        order = np.argsort(x_index.astype(np.int64) * self.n_y + y_index, kind="stable")
        values = np.empty((len(FIELDS), order.size))
        values[_F["q_value"]] = np.nan
        values[[_F[f] for f in FIELDS if f != "q_value"]] = fields[:, order]
        tail = np.concatenate(self.tail) if self.tail else np.empty(0)
        return KeptPairs(x_index=x_index[order].astype(np.int64),
                         y_index=y_index[order].astype(np.int64), values=values,
                         n=n[order], tail=tail, n_tests=self.n_tests,
                         threshold=self.threshold, bound=self.bound, shape=(self.n_x, self.n_y),
                         method=method, info=info)


def _r_critical(p: float, df: np.ndarray) -> np.ndarray:
    """|r| where the two-sided p-value with ``df`` equals ``p``, less :attr:`_Kept.MARGIN`
    (0 when ``p >= 1``)."""
    df = np.asarray(df, dtype=float)
    if p >= 1.0:
        return np.zeros(df.shape)
    # p = 0 only where |r| reaches 1 or p underflows: below the smallest positive p
    p = max(p, np.finfo(float).tiny)
    t = -special.stdtrit(df, p / 2.0)  # accurate for the smallest p as well
    return t / np.sqrt(df + t * t) * (1.0 - _Kept.MARGIN)


def _length(index, size: int) -> int:
    return len(range(*index.indices(size))) if isinstance(index, slice) else len(index)


def _indices(index, size: int) -> np.ndarray:
    return np.arange(size)[index] if isinstance(index, slice) else np.asarray(index)


def _as_slice(columns: np.ndarray):
    """A slice when the indices are consecutive (so that outputs are views)."""
    columns = np.asarray(columns)
    if columns.size and np.array_equal(columns, np.arange(columns[0], columns[0] + columns.size)):
        return slice(int(columns[0]), int(columns[0] + columns.size))
    return columns


# --- finishing: from partial correlations to the table's fields ------------------------

def _finish_t(
    r: np.ndarray,
    x_size: np.ndarray,
    y_size: np.ndarray,
    df,
    n,
    kind: str,
    n_covariates,
    outs: list[np.ndarray],
    alpha: float,
    table=None,
) -> None:
    """Fill estimate, std_error, statistic, p_value, ci_lower, ci_upper from partial
    correlations ``r`` (overwritten) of pairs with residual lengths ``x_size``/``y_size``
    (broadcastable), ``df`` residual degrees of freedom and ``n`` rows. ``table``: the
    p-value table of a scalar ``df`` (else p-values are computed exactly)."""
    est, se, stat, p, lo, hi = outs
    shape = r.shape
    w = _scratch("w", shape)
    scalar_df = np.ndim(df) == 0
    if not scalar_df:
        bad = ~(np.asarray(df) > 0)
        if bad.any():
            r[np.broadcast_to(bad, shape)] = np.nan
        df = np.where(bad, np.nan, df)
    elif not df > 0:
        r[...] = np.nan
    np.multiply(r, r, out=w)
    if scalar_df:
        if df > 0:
            np.multiply(w, -1.0 / df, out=w)
            np.add(w, 1.0 / df, out=w)  # (1 - r^2) / df
    else:
        np.subtract(1.0, w, out=w)
        np.divide(w, df, out=w)
    if w.size and not w.min() >= 0.0:  # |r| a rounding error above 1, or NaN
        np.maximum(w, 0.0, out=w)
    np.sqrt(w, out=w)  # sqrt((1 - r^2) / df): the standard error of r
    with np.errstate(divide="ignore", invalid="ignore"):
        np.divide(r, w, out=stat)
    quantile = _t_quantiles(1 - alpha / 2, df)
    if kind == "linear":
        ratio = _scratch("ratio", shape)
        with np.errstate(divide="ignore", invalid="ignore"):
            np.divide(y_size, x_size, out=ratio)  # |y~| / |x~|
        np.multiply(r, ratio, out=est)
        np.multiply(w, ratio, out=se)
        np.multiply(se, quantile, out=lo)
        np.add(est, lo, out=hi)
        np.subtract(est, lo, out=lo)
    else:
        np.copyto(est, r)
        np.copyto(se, w)
        # Fisher's z interval (scipy.stats.pearsonr, pingouin.partial_corr)
        zq = float(special.ndtri(1 - alpha / 2))
        with np.errstate(divide="ignore", invalid="ignore"):
            half = zq / np.sqrt(np.asarray(n, dtype=float) - 3.0 - n_covariates)
            np.arctanh(np.clip(r, -1.0, 1.0), out=w)
            np.add(w, half, out=hi)
            np.subtract(w, half, out=lo)
        np.tanh(hi, out=hi)
        np.tanh(lo, out=lo)
    np.abs(r, out=w)
    if scalar_df:
        if table is not None:
            table(w, out=p, work=_work())
        elif df > 0:
            p[...] = t_two_sided_from_r(w, df, exact=True)
        else:
            p[...] = np.nan
    else:
        p[...] = t_two_sided_from_r(w, np.broadcast_to(df, shape))


def _t_quantiles(q: float, df):
    if np.ndim(df) == 0:
        return float(t_quantile(q, df)) if df > 0 else np.nan
    df = np.asarray(df, dtype=float)
    values, inverse = np.unique(df, return_inverse=True)
    with np.errstate(invalid="ignore"):
        quantiles = np.where(values > 0, t_quantile(q, np.where(values > 0, values, 1.0)),
                             np.nan)
    return quantiles[inverse].reshape(df.shape)


# --- linear, pearson, spearman ----------------------------------------------------------

def _dense_block(x, y, z, kind, target: _Target, xs, ys, alpha, tasks) -> None:
    """Pairs of complete blocks ``x`` (rows x a) and ``y`` (rows x b) on the same rows.

    The narrower block is residualised on the covariates and scaled to unit length once;
    the wider one is only centred, chunk by chunk (the residual of the narrow side is
    orthogonal to the covariates, so x~'y = x~'y~), and its residual lengths come from
    the centred sums of squares less their part along the covariates.
    """
    rows = x.shape[0]
    if kind == "spearman":
        x = column_ranks(x)
        y = column_ranks(y)
        z = column_ranks(z) if z.shape[1] else z
    basis, rank = orthonormal_basis(np.column_stack([np.ones(rows), z]))
    centred_basis, _ = orthonormal_basis(z - z.mean(axis=0)) if z.shape[1] else \
        (np.empty((rows, 0)), 0)
    df = rows - rank - 1
    n_cov = rank - 1
    target.set_n(xs, ys, rows)
    x_narrow = x.shape[1] <= y.shape[1]
    narrow, wide = (x, y) if x_narrow else (y, x)
    narrow_r, narrow_size = unit_residuals(narrow, basis)
    n_narrow, n_wide = narrow.shape[1], wide.shape[1]
    # a table of p-values pays off from about a million pairs sharing the df
    table = r_table(df) if df > 0 and n_narrow * n_wide >= TABLE_PAIRS else None
    narrow_t = np.ascontiguousarray(narrow_r.T)
    wide_index = _indices(ys if x_narrow else xs, target.n_y if x_narrow else target.n_x)
    wide_is_slice = isinstance(ys if x_narrow else xs, slice)
    step = max(1, TASK_PAIRS // max(n_narrow, 1))
    for start in range(0, n_wide, step):
        stop = min(n_wide, start + step)

        def task(start=start, stop=stop):
            width = stop - start
            block = wide[:, start:stop]
            centred = _scratch("centred", (rows, width))
            np.subtract(block, block.mean(axis=0), out=centred)
            squares = np.einsum("ij,ij->j", centred, centred)
            if centred_basis.shape[1]:
                along = centred_basis.T @ centred
                squares -= np.einsum("ij,ij->j", along, along)
            raw = np.sqrt(np.einsum("ij,ij->j", block, block))
            size = np.sqrt(np.maximum(squares, 0.0))
            degenerate = ~(size > DEGENERATE * raw)
            with np.errstate(divide="ignore"):
                inverse = 1.0 / size
            inverse[degenerate] = np.nan
            size[degenerate] = 0.0
            sub = _as_slice(wide_index[start:stop]) if wide_is_slice else wide_index[start:stop]
            if x_narrow:
                r = _scratch("r", (n_narrow, width))
                np.matmul(narrow_t, centred, out=r)
                r *= inverse[None, :]
                target.finish(r, xs, sub, narrow_size[:, None], size[None, :], df, rows,
                              kind, n_cov, alpha, table)
            else:
                r = _scratch("r", (width, n_narrow))
                np.matmul(centred.T, narrow_r, out=r)
                r *= inverse[:, None]
                target.finish(r, sub, ys, size[:, None], narrow_size[None, :], df, rows,
                              kind, n_cov, alpha, table)

        tasks.append(task)


def _moment_block(complete, partial, z, kind, target: _Target, cols_complete, cols_partial,
                  complete_is_x: bool, alpha, tasks) -> None:
    """Pairs of a complete block and a block whose columns have scattered missing values,
    by per-pair sufficient statistics (linear and pearson only); appends the chunks to
    ``tasks``."""
    a = complete.shape[1]
    fit = MomentFit(complete, z)
    step = max(32, (1 << 21) // max(a * (fit.k + 6), 1))
    for start in range(0, partial.shape[1], step):
        stop = min(partial.shape[1], start + step)

        def task(start=start, stop=stop):
            m = fit.pairs(partial[:, start:stop])
            with np.errstate(invalid="ignore", divide="ignore"):
                s_aa = np.where(m["s_aa"] > DEGENERATE * m["size_a"], m["s_aa"], np.nan)
                s_bb = np.where(m["s_bb"] > DEGENERATE * m["size_b"], m["s_bb"],
                                np.nan)[None, :]
                r = m["s_ab"] / np.sqrt(s_aa * s_bb)
            df = (m["n"] - m["rank"] - 1)[None, :] + np.zeros((a, 1))
            n = m["n"][None, :] + np.zeros((a, 1))
            n_cov = (m["rank"] - 1)[None, :]
            a_size, b_size = np.sqrt(s_aa), np.sqrt(s_bb)
            cols = cols_partial[start:stop]
            if complete_is_x:
                xs, ys, x_size, y_size = cols_complete, cols, a_size, b_size
            else:
                r, df, n, n_cov = r.T, df.T, n.T, n_cov.T
                xs, ys, x_size, y_size = cols, cols_complete, b_size.T, a_size.T
            r = np.ascontiguousarray(r)
            target.finish(r, xs, ys, x_size, y_size, df, n, kind, n_cov, alpha)
            target.set_n(xs, ys, np.ascontiguousarray(n).astype(np.int32))

        tasks.append(task)


def _t_family(x, y, z, kind, target, alpha, n_jobs) -> None:
    """linear / pearson / spearman over all missingness patterns."""
    observed_x, observed_y = ~np.isnan(x), ~np.isnan(y)
    px, py = missing_patterns(observed_x), missing_patterns(observed_y)
    x_outer = len(px) <= len(py)
    outer_values, inner_values = (x, y) if x_outer else (y, x)
    outer_patterns = px if x_outer else py
    observed_inner = observed_y if x_outer else observed_x
    tasks: list = []
    for group in outer_patterns:
        rows0 = group.rows
        if group.n_rows == 0:
            continue
        everything = rows0.all()
        outer = outer_values[:, group.columns] if everything else \
            outer_values[np.ix_(rows0, group.columns)]
        inner = inner_values if everything else inner_values[rows0]
        inner_obs = observed_inner if everything else observed_inner[rows0]
        z0 = z if everything else z[rows0]
        scattered = []
        for pattern in missing_patterns(inner_obs):
            if pattern.n_rows == 0:
                continue
            if (pattern.rows.all() or pattern.columns.size >= MIN_BLOCK or kind == "spearman"):
                rows = pattern.rows
                whole = rows.all()
                inner_block = inner[:, pattern.columns] if whole else \
                    inner[np.ix_(rows, pattern.columns)]
                outer_block = outer if whole else outer[rows]
                z_block = z0 if whole else z0[rows]
                outer_cols = _as_slice(group.columns)
                inner_cols = _as_slice(pattern.columns)
                if x_outer:
                    _dense_block(outer_block, inner_block, z_block, kind, target, outer_cols,
                                 inner_cols, alpha, tasks)
                else:
                    _dense_block(inner_block, outer_block, z_block, kind, target, inner_cols,
                                 outer_cols, alpha, tasks)
            else:
                scattered.append(pattern.columns)
        if scattered:
            columns = np.sort(np.concatenate(scattered))
            _moment_block(outer, inner[:, columns], z0, kind, target, group.columns, columns,
                          x_outer, alpha, tasks)
        _run(tasks, n_jobs)
        tasks = []


# --- binary y: Mann-Whitney, Welch, logistic --------------------------------------------

def _mannwhitney(x, y, target: _Target, exact: str) -> None:
    observed_x, observed_y = ~np.isnan(x), ~np.isnan(y)
    for gy in missing_patterns(observed_y):
        for gx in missing_patterns(observed_x[gy.rows] if not gy.rows.all() else observed_x):
            rows = np.flatnonzero(gy.rows)[gx.rows] if not gy.rows.all() else \
                np.flatnonzero(gx.rows)
            if rows.size == 0:
                continue
            xb = x[np.ix_(rows, gx.columns)]
            yb = y[np.ix_(rows, gy.columns)]
            ranks = column_ranks(xb)
            ties = tie_terms(xb)
            n1 = yb.sum(axis=0)
            n0 = rows.size - n1
            rank_sum = ranks.T @ yb
            u1, p = mannwhitney_from_ranks(rank_sum, n1[None, :], n0[None, :], ties[:, None],
                                           method=exact)
            outs, commit = target.views(_as_slice(gx.columns), _as_slice(gy.columns))
            est, se, stat, pv, lo, hi = outs
            with np.errstate(invalid="ignore", divide="ignore"):
                est[...] = 2.0 * u1 / (n1 * n0)[None, :] - 1.0
            se[...] = np.nan
            stat[...] = u1
            pv[...] = p
            lo[...] = np.nan
            hi[...] = np.nan
            commit()
            target.set_n(_as_slice(gx.columns), _as_slice(gy.columns), rows.size)


def _welch(x, y, target: _Target, alpha: float) -> None:
    observed_x = ~np.isnan(x)
    mx = observed_x.astype(float)
    count = mx.sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        centre = np.where(count > 0, np.nansum(x, axis=0) / count, 0.0)
    x0 = np.where(observed_x, x - centre, 0.0)
    g1 = np.where(np.isnan(y), 0.0, y)
    g0 = np.where(np.isnan(y), 0.0, 1.0 - y)
    n1, n0 = mx.T @ g1, mx.T @ g0
    s1, s0 = x0.T @ g1, x0.T @ g0
    q1, q0 = (x0 * x0).T @ g1, (x0 * x0).T @ g0
    with np.errstate(invalid="ignore", divide="ignore"):
        m1, m0 = s1 / n1, s0 / n0
        v1 = np.maximum(q1 - s1 * m1, 0.0) / (n1 - 1)
        v0 = np.maximum(q0 - s0 * m0, 0.0) / (n0 - 1)
        vn1, vn0 = v1 / n1, v0 / n0
        se = np.sqrt(vn1 + vn0)
        diff = m1 - m0
        t = diff / se
        df = (vn1 + vn0) ** 2 / (vn1**2 / (n1 - 1) + vn0**2 / (n0 - 1))
    bad = (n1 < 2) | (n0 < 2) | ~(se > 0)
    for array in (diff, se, t, df):
        array[bad] = np.nan
    p = t_two_sided(t, df)
    q = np.full(df.shape, np.nan)
    ok = ~np.isnan(df)
    q[ok] = t_quantile(1 - alpha / 2, df[ok])
    outs, commit = target.views(slice(None), slice(None))
    est, se_out, stat, pv, lo, hi = outs
    est[...] = diff
    se_out[...] = se
    stat[...] = t
    pv[...] = p
    lo[...] = diff - q * se
    hi[...] = diff + q * se
    commit()
    target.set_n(slice(None), slice(None), (n1 + n0).astype(np.int32))


def _logistic(x, y, z, target: _Target, alpha: float, info: dict) -> None:
    failed = 0
    for j in range(y.shape[1]):
        fit = logistic_many(x, y[:, j], z, alpha=alpha)
        outs, commit = target.views(slice(None), slice(j, j + 1))
        for out, name in zip(outs, ("estimate", "std_error", "statistic", "p_value",
                                    "ci_lower", "ci_upper")):
            out[:, 0] = fit[name]
        commit()
        target.set_n(slice(None), slice(j, j + 1), fit["n"].astype(np.int32)[:, None])
        failed += int(np.sum(~fit["converged"] & (fit["n"] > z.shape[1] + 2)))
    info["n_not_converged"] = failed


# --- entry point -----------------------------------------------------------------------

def _binary_check(y: np.ndarray) -> None:
    values = y[~np.isnan(y)]
    if values.size and not np.isin(values, (0.0, 1.0)).all():
        bad = values[~np.isin(values, (0.0, 1.0))][0]
        raise ValueError(f"y must be binary (0/1) for this method, found the value {bad}")


@renamed(n_threads="n_jobs")
def associate_arrays(
    x: np.ndarray,
    y: np.ndarray,
    covariates: np.ndarray | None = None,
    method: str = "linear",
    *,
    alpha: float = 0.05,
    n_jobs: int | None = None,
    client=None,
    chunk_columns: int | None = None,
    mannwhitney_method: str = "auto",
    p_threshold: float | None = None,
    p_bound: float | None = None,
) -> AssociationArrays | KeptPairs:
    """Statistics of every pair (column of ``x``, column of ``y``).

    Parameters
    ----------
    x, y
        Rows (patients) x columns, float, NaN where missing; the same rows in the same order.
    covariates
        Rows x k, numeric (categorical covariates already expanded to indicators); a row
        with any missing covariate is left out of every pair. An intercept is always added.
    method
        One of :data:`METHODS`.
    alpha
        Confidence intervals are ``1 - alpha``.
    n_jobs
        Worker threads (default ``None``: the machine's cores; ``1``: none). The old name
        ``n_threads`` still works, with a ``FutureWarning``.
    client
        A ``dask.distributed.Client``: the columns of ``y`` are sent as chunks to its
        workers; the result is the same.
    chunk_columns
        Columns of ``y`` per Dask task (default: about 2 million pairs per task).
    mannwhitney_method
        ``"auto"`` (exact when both groups have fewer than 50 patients and there are no
        ties, as R's ``wilcox.test``: :data:`radiogenomics.stats.ranks.EXACT_RULE`),
        ``"asymptotic"`` or ``"exact"``.
    p_threshold
        Threshold mode: return only the pairs with ``p <= p_threshold`` (a
        :class:`KeptPairs`). For linear, pearson and spearman, ``|r|`` is compared with
        the threshold's critical value first and the fields are computed for the pairs
        that reach it only; the other methods compute every pair and filter.
    p_bound
        Threshold mode: also collect the p-values in ``(p_threshold, p_bound]`` (default:
        none), which exact step-up q-values may need.

    Returns
    -------
    AssociationArrays, or KeptPairs in threshold mode (the same fields, same numbers).
    """
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; expected one of {METHODS}")
    x = np.asarray(x, dtype=float)
    y = np.asarray(y, dtype=float)
    if x.ndim != 2 or y.ndim != 2 or x.shape[0] != y.shape[0]:
        raise ValueError(f"x and y must be 2-D with the same rows, found {x.shape} and {y.shape}")
    rows = x.shape[0]
    z = np.empty((rows, 0)) if covariates is None else \
        np.asarray(covariates, dtype=float).reshape(rows, -1)
    if z.shape[0] != rows:
        raise ValueError("covariates must have the rows of x")
    if method in UNADJUSTED_METHODS and z.shape[1]:
        raise ValueError(f"method {method!r} does not adjust for covariates")
    if method in BINARY_METHODS:
        _binary_check(y)
    n_jobs = int(n_jobs or os.cpu_count() or 1)
    if p_threshold is not None:
        p_threshold = float(p_threshold)
        if not 0.0 <= p_threshold <= 1.0:
            raise ValueError(f"p_threshold must lie in [0, 1], found {p_threshold}")
        p_bound = p_threshold if p_bound is None else max(float(p_bound), p_threshold)
    if client is not None:
        return _associate_dask(x, y, z, method, alpha, client, chunk_columns, mannwhitney_method,
                               p_threshold, p_bound)
    info: dict = {}
    n_x, n_y = x.shape[1], y.shape[1]
    if p_threshold is not None:
        kept = _Kept(n_x, n_y, p_threshold, p_bound)
        if n_x and n_y:
            keep = ~np.isnan(z).any(axis=1)
            if not keep.all():
                x, y, z = x[keep], y[keep], z[keep]
            if method in ("linear", "pearson", "spearman"):
                _t_family(x, y, z, method, kept, alpha, n_jobs)
            else:  # no shortcut: every pair, filtered by columns of y
                step = max(1, (1 << 22) // max(n_x, 1))
                for start in range(0, n_y, step):
                    ys = slice(start, min(n_y, start + step))
                    part = associate_arrays(x, y[:, ys], z, method, alpha=alpha,
                                            n_jobs=n_jobs,
                                            mannwhitney_method=mannwhitney_method)
                    kept.add_dense(part.values, part.n, slice(None), ys)
                    for key, value in part.info.items():
                        if key.startswith("n_not"):
                            info[key] = info.get(key, 0) + value
        return kept.result(method, info)
    values = np.empty((len(FIELDS), n_x, n_y))
    values[_F["q_value"]] = np.nan
    n = np.zeros((n_x, n_y), dtype=np.int32)
    if n_x and n_y:
        keep = ~np.isnan(z).any(axis=1)
        if not keep.all():
            x, y, z = x[keep], y[keep], z[keep]
        target = _Target(values, n)
        if method in ("linear", "pearson", "spearman"):
            _t_family(x, y, z, method, target, alpha, n_jobs)
        elif method == "mannwhitney":
            _mannwhitney(x, y, target, mannwhitney_method)
        elif method == "welch":
            _welch(x, y, target, alpha)
        else:
            _logistic(x, y, z, target, alpha, info)
    if n.size and np.all(n == n.flat[0]):
        info["n"] = int(n.flat[0])
    return AssociationArrays(values=values, n=n, method=method, info=info)


def _associate_dask(x, y, z, method, alpha, client, chunk_columns, mannwhitney_method,
                    p_threshold=None, p_bound=None):
    """The columns of ``y`` in chunks, one Dask task each."""
    n_x, n_y = x.shape[1], y.shape[1]
    if chunk_columns is None:
        chunk_columns = max(1, (2 << 20) // max(n_x, 1))
    # hash=False: keys of their own, so that an earlier call's release of the same data
    # (same content, same hashed key) cannot remove it under this call's tasks
    x_future = client.scatter(x, broadcast=True, hash=False)
    z_future = client.scatter(z, broadcast=True, hash=False)
    futures = []
    starts = list(range(0, n_y, chunk_columns))
    for start in starts:
        stop = min(n_y, start + chunk_columns)
        futures.append(client.submit(
            associate_arrays, x_future, y[:, start:stop], z_future, method, alpha=alpha,
            n_jobs=1, mannwhitney_method=mannwhitney_method, p_threshold=p_threshold,
            p_bound=p_bound, pure=False))
    if p_threshold is not None:
        return _gather_kept(futures, starts, n_x, n_y, method, p_threshold, p_bound)
    values = np.empty((len(FIELDS), n_x, n_y))
    n = np.zeros((n_x, n_y), dtype=np.int32)
    info: dict = {"n_tasks": len(futures)}
    start = 0
    for future in futures:
        part = future.result()
        stop = start + part.n.shape[1]
        values[:, :, start:stop] = part.values
        n[:, start:stop] = part.n
        for key, value in part.info.items():
            if key.startswith("n_not"):
                info[key] = info.get(key, 0) + value
        start = stop
        del part
    if n.size and np.all(n == n.flat[0]):
        info["n"] = int(n.flat[0])
    return AssociationArrays(values=values, n=n, method=method, info=info)


def _gather_kept(futures, starts, n_x, n_y, method, threshold, bound) -> KeptPairs:
    """The kept pairs of the chunks of y (threshold mode on Dask), in x-major order."""
    kept = _Kept(n_x, n_y, threshold, bound)
    info: dict = {"n_tasks": len(futures)}
    for start, future in zip(starts, futures):
        part = future.result()
        fields = part.values[[_F[f] for f in FIELDS if f != "q_value"]]
        kept.parts.append((part.x_index, part.y_index + start, part.n, fields))
        if part.tail.size:
            kept.tail.append(part.tail)
        kept.n_tests += part.n_tests
        for key, value in part.info.items():
            if key.startswith("n_not"):
                info[key] = info.get(key, 0) + value
        del part
    return kept.result(method, info)
