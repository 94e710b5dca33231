"""Multiple-testing corrections: Benjamini-Hochberg, Benjamini-Yekutieli, Bonferroni, Holm
and Storey q-values, over all tests or within families (for example per x feature).

numpy only. Missing p-values (NaN) are not tests: they are left out of the family and get
a NaN adjusted value. The results equal ``statsmodels.stats.multitest.multipletests``.

Speed: for one family of all tests, the step-up q-value is a non-decreasing step function
of the p-value, q = Q(p), whose few distinct levels are read off the sorted p-values
(``np.sort``, no argsort); every p-value then finds its level through a table indexed by
``floor(p * B)``, and only the p-values that fall in a table cell holding a change of level
are located by binary search. Families per row of a matrix (per x feature) sort each row
with the column index packed into the low bits of the p-value's bit pattern.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from functools import lru_cache

import numpy as np
from scipy.interpolate import make_smoothing_spline

__all__ = [
    "METHODS",
    "FAMILIES",
    "adjust_pvalues",
    "adjust_smallest",
    "empirical_fdr",
    "storey_pi0",
]

#: Accepted method names and their canonical form.
METHODS = {
    "bh": "bh",
    "fdr_bh": "bh",
    "benjamini-hochberg": "bh",
    "by": "by",
    "fdr_by": "by",
    "benjamini-yekutieli": "by",
    "bonferroni": "bonferroni",
    "holm": "holm",
    "storey": "storey",
    "qvalue": "storey",
}

#: Named families accepted by :func:`adjust_pvalues` besides integer codes.
FAMILIES = ("all", "rows")


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
    return _smoother_matrix(tuple(np.asarray(x, dtype=float)), float(df)) @ np.asarray(y, float)


@lru_cache(maxsize=16)
def _smoother_matrix(x: tuple, df: float) -> np.ndarray:
    """The linear smoother (hat matrix) of the smoothing spline with ``df`` degrees of
    freedom on the points ``x``; it depends on ``x`` only, so it is computed once."""

    x = np.asarray(x)
    eye = np.eye(x.size)

    def hat(lam: float) -> np.ndarray:
        return np.column_stack(
            [make_smoothing_spline(x, eye[i], lam=lam)(x) for i in range(x.size)]
        )

    lo, hi = -12.0, 6.0  # search log10(lam) so that the smoother's trace equals df
    for _ in range(60):
        mid = 0.5 * (lo + hi)
        if np.trace(hat(10.0**mid)) > df:
            lo = mid
        else:
            hi = mid
    return hat(10.0 ** (0.5 * (lo + hi)))


def _canonical(method: str) -> str:
    try:
        return METHODS[method.lower()]
    except (KeyError, AttributeError):
        raise ValueError(
            f"unknown multiple-testing method {method!r}; expected one of {sorted(set(METHODS))}"
        ) from None


def _check_range(p: np.ndarray) -> bool:
    """Raise unless the p-values lie in [0, 1]; return whether any is missing."""
    if p.size == 0:
        return False
    low, high = p.min(), p.max()  # NaN when any value is NaN
    missing = bool(np.isnan(low) or np.isnan(high))
    if missing:
        with np.errstate(invalid="ignore"):
            if np.isnan(p).all():
                return True
            low, high = np.nanmin(p), np.nanmax(p)
    if low < 0.0 or high > 1.0:
        raise ValueError(f"p-values must lie in [0, 1], found values from {low} to {high}")
    return missing


def _harmonic(m: int) -> float:
    return float(np.sum(1.0 / np.arange(1, m + 1)))


def adjust_pvalues(
    p: np.ndarray,
    method: str = "bh",
    families: np.ndarray | str | None = None,
    *,
    pi0: float | None = None,
    out: np.ndarray | None = None,
) -> np.ndarray:
    """Adjusted p-values (q-values for FDR methods), vectorised over families.

    Parameters
    ----------
    p
        p-values in [0, 1], any shape; NaN entries are not tests.
    method
        ``"bh"`` (Benjamini-Hochberg), ``"by"`` (Benjamini-Yekutieli), ``"bonferroni"``,
        ``"holm"`` or ``"storey"`` (q-values with Storey's pi0; see :func:`storey_pi0`).
    families
        ``None`` or ``"all"``: one family of all tests. ``"rows"``: each row of a 2-D ``p``
        is a family (for example one x feature against every gene). Or an integer family
        code per p-value (same shape as ``p``): each family is adjusted on its own.
    pi0
        For ``"storey"``: a given proportion of true nulls instead of the estimate.
    out
        Optional array of the shape of ``p`` to write the result into.

    Returns
    -------
    numpy.ndarray of the shape of ``p``.
    """
    kind = _canonical(method)
    p = np.asarray(p, dtype=float)
    any_missing = _check_range(p)
    if pi0 is not None and not 0 < pi0 <= 1:
        raise ValueError(f"pi0 must be in (0, 1], found {pi0}")
    if out is None:
        out = np.empty(p.shape)
    elif out.shape != p.shape:
        raise ValueError("out must have the shape of p")
    if isinstance(families, str):
        if families not in FAMILIES:
            raise ValueError(f"unknown family {families!r}; expected {FAMILIES} or codes")
        if families == "rows":
            if p.ndim != 2:
                raise ValueError("families='rows' needs a 2-D array of p-values")
            _adjust_rows(p, kind, pi0, out)
            return out
        families = None
    if families is None and kind != "holm":
        flat_out = out.reshape(-1)
        _adjust_all(p.reshape(-1), kind, pi0, flat_out, any_missing)
        if not np.shares_memory(flat_out, out):  # out was not contiguous
            out[...] = flat_out.reshape(p.shape)
        return out
    out[...] = _adjust_codes(p, kind, families, pi0)
    return out


# --- one family of all tests ----------------------------------------------------------

#: With more than one level of q-values per this many p-values, every p-value is placed
#: through the sorting permutation instead of the lookup table.
DENSE_LEVELS = 16
#: Cells of the lookup table from p to the q-value level (a power of two).
LOOKUP_CELLS = 1 << 18
_MAGIC = 1.5 * 2.0**52
_MAGIC_BITS = np.float64(_MAGIC).view(np.int64)


def _adjust_all(
    p: np.ndarray, kind: str, pi0: float | None, out: np.ndarray, any_missing: bool = True
) -> None:
    """One family; ``p`` and ``out`` are 1-D."""
    if any_missing:
        missing = np.isnan(p)
        pv = p[~missing]
        result = np.empty(pv.size)
    else:
        pv, result = p, out
    m = pv.size
    if m == 0:
        out[...] = np.nan
        return
    if kind == "bonferroni":
        np.multiply(pv, float(m), out=result)
        np.minimum(result, 1.0, out=result)
    else:
        _stepup_all(pv, kind, result)
        if kind == "storey":
            result *= storey_pi0(pv) if pi0 is None else float(pi0)
    if any_missing:
        out[...] = np.nan
        out[~missing] = result


def _stepup_levels(sorted_p: np.ndarray, kind: str) -> tuple[np.ndarray, np.ndarray]:
    """The distinct q-value levels of sorted p-values: (first p of each level, its q).

    The running minimum from the top is taken chunk by chunk, from the last chunk back,
    so that no temporary is as large as the input.
    """
    m = sorted_p.size
    by_factor = _harmonic(m) if kind == "by" else 1.0
    chunk = 1 << 20
    starts, levels_at = [], []
    carry = np.inf
    following = None  # level of the first p-value after the current chunk
    for end in range(m, 0, -chunk):
        begin = max(0, end - chunk)
        ecdf = np.arange(begin + 1, end + 1, dtype=float)
        ecdf /= m  # as statsmodels: p / (rank / m)
        if kind == "by":
            ecdf /= by_factor
        np.divide(sorted_p[begin:end], ecdf, out=ecdf)
        levels = ecdf[::-1]
        np.minimum.accumulate(levels, out=levels)
        np.minimum(ecdf, min(carry, 1.0), out=ecdf)
        carry = ecdf[0]
        change = np.flatnonzero(ecdf[1:] != ecdf[:-1]) + 1
        if following is not None and following != ecdf[-1]:
            change = np.append(change, end - begin)
            # the level that starts at `end` is the following chunk's first level
            values = np.append(ecdf[change[:-1]], following)
        else:
            values = ecdf[change]
        starts.append(change + begin)
        levels_at.append(values)
        following = ecdf[0]
    starts.append(np.array([0]))
    levels_at.append(np.array([following]))
    starts = np.concatenate(starts[::-1])
    levels_at = np.concatenate(levels_at[::-1])
    order = np.argsort(starts, kind="stable")
    starts, levels_at = starts[order], levels_at[order]
    keep = np.concatenate(([True], starts[1:] != starts[:-1]))
    return sorted_p[starts[keep]], levels_at[keep]


def _stepup_all(pv: np.ndarray, kind: str, result: np.ndarray) -> np.ndarray:
    """Step-up (BH/BY) adjusted p-values of one family without missing values."""
    m = pv.size
    if m >= 4 * LOOKUP_CELLS:
        # many levels of q-values (strong, widespread signal) make the lookup table pay
        # off badly: judged on an evenly spaced sample of about a million p-values
        sample = np.sort(pv[:: max(1, m // (1 << 20))])
        if _stepup_levels(sample, kind)[0].size > sample.size // DENSE_LEVELS:
            return _stepup_by_order(pv, kind, result)
    run_p, run_q = _stepup_levels(np.sort(pv), kind)
    if run_p.size == 1:
        result[...] = run_q[0]
        return result
    if m < 4 * LOOKUP_CELLS:
        result[...] = run_q[np.searchsorted(run_p, pv, side="right") - 1]
        return result
    if run_p.size > m // DENSE_LEVELS:  # the sample misjudged
        return _stepup_by_order(pv, kind, result)
    # table over cells [k/B, (k+1)/B]: the level when the cell holds no change of level
    cells = LOOKUP_CELLS
    edges = np.arange(cells + 2, dtype=float) / cells
    first = np.maximum(np.searchsorted(run_p, edges[:-1], side="right") - 1, 0)
    last = np.maximum(np.searchsorted(run_p, edges[1:], side="right") - 1, 0)
    table = np.where(first == last, run_q[first], np.nan)
    chunk = 1 << 20

    def lookup(start: int) -> np.ndarray:
        piece = pv[start : start + chunk]
        y = np.multiply(piece, float(cells))
        np.subtract(y, 0.5, out=y)
        np.add(y, _MAGIC, out=y)  # round(p * B - 1/2): the cell (or its left neighbour)
        index = y.view(np.int64)
        np.subtract(index, _MAGIC_BITS, out=index)
        target = result[start : start + piece.size]
        np.take(table, index, out=target, mode="clip")
        return np.flatnonzero(np.isnan(target)) + start

    starts = range(0, m, chunk)
    threads = min(os.cpu_count() or 1, 4, len(starts))
    if threads > 1:
        with ThreadPoolExecutor(threads) as pool:
            unknown = list(pool.map(lookup, starts))
    else:
        unknown = [lookup(start) for start in starts]
    unknown = np.concatenate(unknown)
    if unknown.size > m // 3:  # levels everywhere: sort everything instead
        return _stepup_by_order(pv, kind, result)
    if unknown.size:
        # the p-values in cells where the level changes: sorted, they find their level by
        # a merge-like pass (searchsorted of sorted values)
        values = pv[unknown]
        order = np.argsort(values, kind="stable")
        found = np.searchsorted(run_p, values[order], side="right") - 1
        result[unknown[order]] = run_q[found]
    return result


def _chunked(function, size: int, chunk: int = 1 << 22) -> None:
    """``function(begin, end)`` over chunks of ``range(size)``, in threads (numpy releases
    the interpreter lock in these loops, and random memory accesses overlap well)."""
    bounds = [(b, min(size, b + chunk)) for b in range(0, size, chunk)]
    threads = min(os.cpu_count() or 1, 4, len(bounds))
    if threads > 1:
        with ThreadPoolExecutor(threads) as pool:
            list(pool.map(lambda bound: function(*bound), bounds))
    else:
        for begin, end in bounds:
            function(begin, end)


def _stepup_by_order(pv: np.ndarray, kind: str, result: np.ndarray) -> np.ndarray:
    """Step-up adjusted p-values through the sorting permutation.

    The permutation comes from sorting 64-bit keys (the p-value's bits with the index in
    the low bits, which ``np.sort`` does far faster than ``np.argsort``); p-values whose
    kept bits tie are then put in exact order.
    """
    m = pv.size
    bits = max(1, (m - 1).bit_length())
    if bits > 40:  # pragma: no cover - more than a trillion tests
        order = np.argsort(pv, kind="stable")
        sorted_p = pv[order]
    else:
        pv = np.ascontiguousarray(pv)
        high = np.uint64(((1 << 64) - 1) ^ ((1 << bits) - 1))  # the kept bits of p
        shift = np.uint64(bits)
        keys = np.empty(m, dtype=np.uint64)

        def make_keys(begin: int, end: int) -> None:
            np.bitwise_and(pv[begin:end].view(np.uint64), high, out=keys[begin:end])
            keys[begin:end] |= np.arange(begin, end, dtype=np.uint64)

        _chunked(make_keys, m)
        keys.sort()
        tied = np.empty(max(m - 1, 0), dtype=bool)  # neighbours whose kept bits tie

        def find_ties(begin: int, end: int) -> None:
            np.equal(
                keys[begin:end] >> shift, keys[begin + 1 : end + 1] >> shift, out=tied[begin:end]
            )

        _chunked(find_ties, m - 1)
        keys &= np.uint64((1 << bits) - 1)
        order = keys.view(np.int64)
        sorted_p = np.empty(m)

        def gather(begin: int, end: int) -> None:
            np.take(pv, order[begin:end], out=sorted_p[begin:end])

        _chunked(gather, m)
        first = np.flatnonzero(tied)  # k: elements k and k + 1 tie
        del tied
        if first.size:  # order each run of tied kept bits by the whole p-value
            positions = np.concatenate((first, first + 1))
            positions.sort()
            positions = positions[np.concatenate(([True], positions[1:] != positions[:-1]))]
            # a run starts where the element is not tied to the one before it
            before = np.searchsorted(first, positions - 1)
            tied_before = (before < first.size) & (
                first[np.minimum(before, first.size - 1)] == positions - 1
            )
            run = np.cumsum(~tied_before)
            exact = np.lexsort((order[positions], sorted_p[positions], run))
            order[positions] = order[positions][exact]
            sorted_p[positions] = sorted_p[positions][exact]
    _stepup_sorted(sorted_p, kind)

    def scatter(begin: int, end: int) -> None:
        result[order[begin:end]] = sorted_p[begin:end]

    _chunked(scatter, m)
    return result


def _stepup_sorted(sorted_p: np.ndarray, kind: str) -> None:
    """Turn sorted p-values into their step-up adjusted values, in place (by chunks, from
    the last back, carrying the running minimum)."""
    m = sorted_p.size
    by_factor = _harmonic(m) if kind == "by" else 1.0
    chunk = 1 << 20
    carry = np.inf
    for end in range(m, 0, -chunk):
        begin = max(0, end - chunk)
        ecdf = np.arange(begin + 1, end + 1, dtype=float)
        ecdf /= m
        if kind == "by":
            ecdf /= by_factor
        piece = sorted_p[begin:end]
        np.divide(piece, ecdf, out=piece)
        backwards = piece[::-1]
        np.minimum.accumulate(backwards, out=backwards)
        np.minimum(piece, min(carry, 1.0), out=piece)
        carry = piece[0]


# --- one family per row ---------------------------------------------------------------


def _adjust_rows(p: np.ndarray, kind: str, pi0: float | None, out: np.ndarray) -> None:
    n_rows, n_cols = p.shape
    if n_cols == 0:
        return
    if kind == "holm":
        codes = np.broadcast_to(np.arange(n_rows)[:, None], p.shape)
        out[...] = _adjust_codes(p, kind, codes, pi0)
        return
    bits = max(1, (n_cols - 1).bit_length())
    block = max(1, (1 << 21) // n_cols)
    columns = np.arange(n_cols, dtype=np.uint64)
    rank = np.arange(1, n_cols + 1, dtype=float)
    for r0 in range(0, n_rows, block):
        rows = p[r0 : r0 + block]
        missing = np.isnan(rows)
        m = n_cols - missing.sum(axis=1)
        if kind == "bonferroni":
            out[r0 : r0 + block] = np.minimum(rows * m[:, None], 1.0)
            continue
        if bits <= 20:
            # sort (p bits with the column in the low bits); fix rows where the dropped
            # low bits of p broke the order
            keys = np.ascontiguousarray(rows).view(np.uint64) >> np.uint64(bits)
            keys <<= np.uint64(bits)
            keys |= columns
            keys.sort(axis=1)
            keys &= np.uint64((1 << bits) - 1)
            order = keys.view(np.int64)
            sorted_p = np.take_along_axis(rows, order, axis=1)
            with np.errstate(invalid="ignore"):
                broken = np.flatnonzero((sorted_p[:, 1:] < sorted_p[:, :-1]).any(axis=1))
            for i in broken:
                order[i] = np.argsort(rows[i], kind="stable")
                sorted_p[i] = rows[i][order[i]]
        else:
            order = np.argsort(rows, axis=1, kind="stable")
            sorted_p = np.take_along_axis(rows, order, axis=1)
        with np.errstate(divide="ignore", invalid="ignore"):
            ecdf = rank[None, :] / m[:, None]
            if kind == "by":
                harmonic = np.cumsum(1.0 / rank)  # harmonic[k - 1] = 1 + 1/2 + ... + 1/k
                ecdf /= harmonic[np.maximum(m, 1) - 1][:, None]
            ratio = np.divide(sorted_p, ecdf, out=ecdf)
        ratio[np.isnan(ratio)] = np.inf  # missing values sort last and are not tests
        levels = ratio[:, ::-1]
        np.minimum.accumulate(levels, axis=1, out=levels)
        np.minimum(ratio, 1.0, out=ratio)
        if kind == "storey":
            factors = (
                np.array([storey_pi0(sorted_p[i, : m[i]]) for i in range(rows.shape[0])])
                if pi0 is None
                else np.full(rows.shape[0], float(pi0))
            )
            ratio *= factors[:, None]
        target = np.empty(rows.shape)
        np.put_along_axis(target, order, ratio, axis=1)
        target[missing] = np.nan
        out[r0 : r0 + block] = target


# --- any families -----------------------------------------------------------------------


def _adjust_codes(p: np.ndarray, kind: str, families, pi0: float | None) -> np.ndarray:
    """Families given by codes (and Holm): each family adjusted on its own slice."""
    shape = p.shape
    flat = p.ravel()
    out = np.full(flat.shape, np.nan)
    valid = np.flatnonzero(~np.isnan(flat))
    if valid.size == 0:
        return out.reshape(shape)
    if families is None:
        codes = np.zeros(valid.size, dtype=np.int64)
    else:
        fam = np.asarray(families).ravel()
        if fam.shape != flat.shape:
            raise ValueError("families must have the shape of p")
        _, codes = np.unique(fam[valid], return_inverse=True)
    order = np.argsort(codes, kind="stable")
    bounds = np.flatnonzero(np.diff(codes[order])) + 1
    for segment in np.split(order, bounds):
        pv = flat[valid[segment]]
        out[valid[segment]] = _adjust_one(pv, kind, pi0)
    return out.reshape(shape)


def _adjust_one(pv: np.ndarray, kind: str, pi0: float | None) -> np.ndarray:
    """Adjusted p-values of one family (no missing values), as statsmodels computes them."""
    m = pv.size
    if kind == "bonferroni":
        return np.minimum(pv * float(m), 1.0)
    order = np.argsort(pv, kind="mergesort")
    sorted_p = pv[order]
    if kind == "holm":
        adjusted = np.maximum.accumulate((m - np.arange(m)) * sorted_p)
        adjusted = np.minimum(adjusted, 1.0)
    else:
        ecdf = np.arange(1, m + 1, dtype=float) / m
        if kind == "by":
            ecdf /= _harmonic(m)
        adjusted = np.minimum.accumulate((sorted_p / ecdf)[::-1])[::-1]
        adjusted = np.minimum(adjusted, 1.0)
        if kind == "storey":
            adjusted *= storey_pi0(pv) if pi0 is None else float(pi0)
    result = np.empty(m)
    result[order] = adjusted
    return result


# --- the smallest p-values of a family ---------------------------------------------------


def adjust_smallest(
    p: np.ndarray,
    n_tests: int,
    method: str = "bh",
    *,
    others: np.ndarray | None = None,
    bound: float | None = None,
) -> tuple[np.ndarray, float]:
    """Adjusted p-values of the smallest p-values of a family of ``n_tests`` tests, equal
    to :func:`adjust_pvalues` over the whole family, knowing only these p-values.

    Parameters
    ----------
    p
        The p-values to adjust (1-D, no NaN), in the order of the family (ties are ranked
        in that order, as the whole-family correction ranks them).
    n_tests
        Size of the family (every test, whether its p-value is given or not).
    method
        ``"bh"``, ``"by"``, ``"bonferroni"`` or ``"holm"``. Storey's q-values depend on
        the whole distribution of p-values (pi0) and are refused.
    others
        Further p-values of the family (values only, any order), all larger than every
        p-value of ``p``.
    bound
        Every p-value of the family ``<= bound`` is in ``p`` or ``others`` (default: the
        largest of them).

    Returns
    -------
    (adjusted, needed)
        ``adjusted``: the adjusted p-values of ``p``, in its order. ``needed``: the bound
        that would have made every value exact (``<= bound`` when they are; otherwise
        call again with every p-value up to ``needed`` and the values are exact then).

    Notes
    -----
    Let ``p_(1) <= ... <= p_(N)`` be the family's sorted p-values and ``M`` the number
    that are ``<= bound``. Every p-value ``<= bound`` is known, so the known values are
    exactly ``p_(1), ..., p_(M)`` and their ranks among the known values are their ranks
    in the family (tied values are all known, or all unknown).

    - Holm: ``q_(i) = min(1, max_{j <= i} (N - j + 1) p_(j))`` uses ``p_(1..i)`` only:
      exact from the known values.
    - Bonferroni: ``min(1, N p)``: exact.
    - BH (BY with the factor ``c(N) = 1 + 1/2 + ... + 1/N``):
      ``q_(i) = min(1, min_{j >= i} c p_(j) N / j)``. Split the minimum into the known
      part ``m_i = min_{i <= j <= M} c p_(j) N / j`` and the unknown part over ``j > M``,
      where ``p_(j) > bound`` and ``N / j >= 1``, so every unknown term exceeds
      ``c bound >= bound``. Hence when ``m_i <= bound`` (or ``bound >= 1``, where the cap
      at 1 decides), ``q_(i) = min(1, m_i)`` exactly. It is NOT enough to know only the
      p-values that are kept: with ``N = 100``, ``p_(1) = 0.01`` kept and
      ``p_(2) = 0.0100001`` not, ``q_(1) = min(1, 0.01 * 100, 0.0100001 * 50) = 0.5``,
      where the kept value alone would give 1. When some ``m_i > bound`` the unknown part
      may be smaller; ``needed = max_i m_i`` then bounds every exact ``q_(i)`` from
      above, so a second call with every p-value up to ``needed`` is exact.

    The arithmetic (``p / (rank / N)``, running minimum, cap at 1) is that of
    :func:`adjust_pvalues`, so the values agree to the last bit.
    """
    kind = _canonical(method)
    if kind == "storey":
        raise ValueError(
            "Storey's q-values need every p-value (pi0); they cannot be "
            "computed from the smallest p-values alone"
        )
    p = np.asarray(p, dtype=float).reshape(-1)
    others = np.empty(0) if others is None else np.asarray(others, dtype=float).reshape(-1)
    if np.isnan(p).any() or np.isnan(others).any():
        raise ValueError("p-values must not be NaN")
    n_tests = int(n_tests)
    if p.size + others.size > n_tests:
        raise ValueError(f"{p.size + others.size} p-values for a family of {n_tests} tests")
    top = max(float(p.max()) if p.size else 0.0, float(others.max()) if others.size else 0.0)
    if p.size and others.size and others.min() < p.max():
        raise ValueError("every p-value of others must be larger than those of p")
    bound = top if bound is None else float(bound)
    _check_range(np.concatenate((p[:1], others[:1])))
    if p.size == 0:
        return np.empty(0), bound
    if kind == "bonferroni":
        return np.minimum(p * float(n_tests), 1.0), bound
    order = np.argsort(p, kind="mergesort")
    sorted_p = p[order]
    if kind == "holm":
        adjusted = np.maximum.accumulate((n_tests - np.arange(p.size)) * sorted_p)
        adjusted = np.minimum(adjusted, 1.0)
        needed = bound
    else:
        known = np.concatenate((sorted_p, np.sort(others)))
        ecdf = np.arange(1, known.size + 1, dtype=float)
        ecdf /= n_tests
        if kind == "by":
            ecdf /= _harmonic(n_tests)
        np.divide(known, ecdf, out=ecdf)
        running = np.minimum.accumulate(ecdf[::-1])[::-1][: p.size]
        largest = float(running.max())
        needed = bound if (largest <= bound or bound >= 1.0) else min(largest, 1.0)
        adjusted = np.minimum(running, 1.0)
    result = np.empty(p.size)
    result[order] = adjusted
    return result, needed


# --- empirical FDR from permutations ----------------------------------------------------


def empirical_fdr(p: np.ndarray, null_pvalues) -> tuple[np.ndarray, int]:
    """Permutation (empirical) FDR of every p-value: at threshold ``t = p_i``, the mean
    number of null p-values ``<= t`` over the permutations divided by the number of
    observed p-values ``<= t``, capped at 1 and made monotone in ``p`` (the running
    minimum from the largest p-value down, as q-values are).

    Parameters
    ----------
    p
        Observed p-values, any shape; NaN are not tests.
    null_pvalues
        An iterable of arrays of p-values of the same tests on permuted data (one array a
        permutation, any shape, NaN ignored), consumed one at a time so that only one is
        held in memory.

    Returns
    -------
    (q, n_permutations)
        The empirical FDR in the shape of ``p`` and the number of permutations used.
    """
    p = np.asarray(p, dtype=float)
    flat = p.reshape(-1)
    valid = np.flatnonzero(~np.isnan(flat))
    out = np.full(flat.shape, np.nan)
    order = valid[np.argsort(flat[valid], kind="stable")]
    sorted_p = flat[order]
    # rank_i = number of observed p-values <= p_i (ties count together)
    rank = np.searchsorted(sorted_p, sorted_p, side="right").astype(float)
    null_count = np.zeros(sorted_p.size)
    n_permutations = 0
    for null in null_pvalues:
        null = np.asarray(null, dtype=float).reshape(-1)
        null = np.sort(null[~np.isnan(null)])
        null_count += np.searchsorted(null, sorted_p, side="right")
        n_permutations += 1
    if n_permutations == 0:
        raise ValueError("empirical FDR needs at least one permutation")
    if sorted_p.size:
        ratio = null_count / n_permutations / rank
        ratio = np.minimum.accumulate(ratio[::-1])[::-1]
        out[order] = np.minimum(ratio, 1.0)
    return out.reshape(p.shape), n_permutations
