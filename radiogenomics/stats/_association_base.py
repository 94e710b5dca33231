"""The association kernel's methods, result fields and block sizes, its result containers,
and the per-thread scratch and targets the kernels write into."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
from scipy import special

from .tails import t_quantile, t_two_sided_from_r

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

    def finish(self, r, xs, ys, x_size, y_size, df, n, kind, n_cov, alpha, table=None) -> None:
        """The fields of the pairs (``xs`` x ``ys``) from their partial correlations ``r``
        (x-major, overwritten); see :func:`_finish_t`."""
        outs, commit = self.views(xs, ys)
        if np.ndim(df) == 0 and np.ndim(n) == 0:
            # by blocks of rows small enough to stay in the processor's cache
            step_rows = max(1, FINISH_PAIRS // max(r.shape[1], 1))
            for i in range(0, r.shape[0], step_rows):
                part = slice(i, i + step_rows)
                x_part = x_size[part] if np.ndim(x_size) else x_size
                _finish_t(
                    r[part],
                    x_part,
                    y_size,
                    df,
                    n,
                    kind,
                    n_cov,
                    [out[part] for out in outs],
                    alpha,
                    table,
                )
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

    def finish(self, r, xs, ys, x_size, y_size, df, n, kind, n_cov, alpha, table=None) -> None:
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
            _finish_t(
                rr,
                pick(x_size),
                pick(y_size),
                pick(df),
                pick(n),
                kind,
                pick(n_cov),
                outs,
                alpha,
                table,
            )
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

    def add_dense(self, values: np.ndarray, n: np.ndarray, xs=slice(None), ys=slice(None)) -> None:
        """Pairs computed in full (methods without a threshold shortcut)."""
        p = values[_F["p_value"]]
        with np.errstate(invalid="ignore"):
            kept = p <= self.threshold
            tail = p[(p > self.threshold) & (p <= self.bound)]
        ii, jj = np.nonzero(kept)
        fields = values[[_F[f] for f in FIELDS if f != "q_value"]][:, ii, jj]
        part = (
            _indices(xs, self.n_x)[ii],
            _indices(ys, self.n_y)[jj],
            n[ii, jj].astype(np.int32),
            fields,
        )
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
        return KeptPairs(
            x_index=x_index[order].astype(np.int64),
            y_index=y_index[order].astype(np.int64),
            values=values,
            n=n[order],
            tail=tail,
            n_tests=self.n_tests,
            threshold=self.threshold,
            bound=self.bound,
            shape=(self.n_x, self.n_y),
            method=method,
            info=info,
        )


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
        quantiles = np.where(values > 0, t_quantile(q, np.where(values > 0, values, 1.0)), np.nan)
    return quantiles[inverse].reshape(df.shape)
