"""Ranks and rank tests: average ranks of columns, tie terms, and the Mann-Whitney U test
vectorised over pairs (as ``scipy.stats.mannwhitneyu`` computes it). numpy/scipy only."""

from __future__ import annotations

import threading

import numpy as np
from scipy import special
from scipy.stats import rankdata

__all__ = [
    "column_ranks",
    "tie_terms",
    "mannwhitney_from_ranks",
    "mannwhitney_statistics",
    "mannwhitney_exact_sf",
    "exact_applies",
    "EXACT_RULE",
    "EXACT_BELOW",
]

#: ``method="auto"`` uses the exact null distribution of U when both groups have fewer
#: values than this and there are no ties: the rule of R's ``wilcox.test`` (scipy's
#: ``mannwhitneyu`` instead switches at 8).
EXACT_BELOW = 50
#: The rule of ``method="auto"``, in words (recorded in the provenance of the results).
EXACT_RULE = (
    f"exact when both groups have fewer than {EXACT_BELOW} values and there are "
    "no ties (as R wilcox.test), otherwise the normal approximation with tie and "
    "continuity corrections"
)


def exact_applies(n1, n0, ties, method: str = "auto") -> np.ndarray:
    """Where the exact Mann-Whitney p-value is used (broadcast over the arguments).

    ``method``: ``"auto"`` (:data:`EXACT_RULE`), ``"exact"`` (wherever both groups have
    members; with ties the exact distribution is that of untied data, as scipy) or
    ``"asymptotic"``.

    Examples
    --------
    >>> exact_applies([10, 60], [10, 10], [0, 0]).tolist()
    [True, False]
    """
    n1, n0, ties = np.broadcast_arrays(
        np.asarray(n1, float), np.asarray(n0, float), np.asarray(ties, float)
    )
    if method == "asymptotic":
        exact = np.zeros(n1.shape, dtype=bool)
    elif method == "exact":
        exact = np.ones(n1.shape, dtype=bool)
    elif method == "auto":
        exact = (n1 < EXACT_BELOW) & (n0 < EXACT_BELOW) & (ties == 0)
    else:
        raise ValueError(f"unknown method {method!r}; expected auto, exact or asymptotic")
    return exact & (n1 > 0) & (n0 > 0)


def exact_two_sided(u_large: np.ndarray, n1: np.ndarray, n0: np.ndarray) -> np.ndarray:
    """Two-sided exact p-values, ``2 P(U >= max(U1, U2))``, for arrays of U and sizes."""
    u_large = np.asarray(u_large, float)
    sizes = np.stack([np.asarray(n1).ravel(), np.asarray(n0).ravel()], axis=1).astype(np.int64)
    values = u_large.ravel()
    result = np.empty(values.size)
    keys, inverse = np.unique(sizes, axis=0, return_inverse=True)
    inverse = inverse.ravel()
    _u_pmfs([(int(a), int(b)) for a, b in keys])  # every size in one sweep
    for k, (a, b) in enumerate(keys):
        members = inverse == k
        result[members] = 2.0 * mannwhitney_exact_sf(values[members], a, b)
    return np.clip(result, 0.0, 1.0).reshape(u_large.shape)


def column_ranks(values: np.ndarray) -> np.ndarray:
    """Average ranks (1-based) of each column of a complete matrix (rows x columns)."""
    values = np.asarray(values, dtype=float)
    if values.shape[0] == 0 or values.shape[1] == 0:
        return np.empty(values.shape)
    return rankdata(values, axis=0, method="average").astype(float)


def tie_terms(values: np.ndarray) -> np.ndarray:
    """Per column of a complete matrix: the sum over groups of tied values of t**3 - t."""
    values = np.asarray(values, dtype=float)
    out = np.zeros(values.shape[1])
    if values.shape[0] < 2:
        return out
    ordered = np.sort(values, axis=0)
    equal = ordered[1:] == ordered[:-1]
    for j in np.flatnonzero(equal.any(axis=0)):
        _, counts = np.unique(ordered[:, j], return_counts=True)
        counts = counts.astype(float)
        out[j] = float(np.sum(counts**3 - counts))
    return out


#: Null distributions of U already computed, by (smaller, larger) group size.
_PMF_CACHE: dict[tuple[int, int], np.ndarray] = {}
_PMF_CACHE_SIZE = 512
_PMF_LOCK = threading.Lock()


def _u_pmfs(pairs) -> None:
    """Compute the null distributions of U (no ties) of several group sizes in one pass.

    ``P_{m,j}(u) = m/(m+j) P_{m-1,j}(u-j) + j/(m+j) P_{m,j-1}(u)``, swept over ``j`` for
    every ``m`` up to the largest smaller size: the distributions of all requested sizes
    are read off the same sweep.
    """
    with _PMF_LOCK:
        _sweep_pmfs({(min(a, b), max(a, b)) for a, b in pairs} - set(_PMF_CACHE))


def _sweep_pmfs(wanted: set[tuple[int, int]]) -> None:
    if not wanted:
        return
    if len(_PMF_CACHE) + len(wanted) > _PMF_CACHE_SIZE:
        _PMF_CACHE.clear()
    top_small = max(m for m, _ in wanted)
    top_large = max(j for _, j in wanted)
    size = top_small * top_large + 1
    previous = np.zeros((top_small + 1, size))
    previous[:, 0] = 1.0  # j = 0: U = 0 surely
    for m, j in wanted:
        if j == 0:
            _PMF_CACHE[(m, j)] = previous[m, :1].copy()
    current = np.empty_like(previous)
    for j in range(1, top_large + 1):
        current[0] = 0.0
        current[0, 0] = 1.0
        for m in range(1, top_small + 1):
            row = current[m]
            row[:j] = 0.0
            row[j:] = current[m - 1, : size - j]
            row *= m
            row += j * previous[m]
            row /= m + j
        previous, current = current, previous
        for m, jj in wanted:
            if jj == j:
                _PMF_CACHE[(m, j)] = previous[m, : m * j + 1].copy()


def _u_pmf(n1: int, n2: int) -> np.ndarray:
    """Null distribution of U for samples of sizes n1 and n2 (no ties): P(U = u)."""
    key = (min(n1, n2), max(n1, n2))
    with _PMF_LOCK:
        if key not in _PMF_CACHE:
            _sweep_pmfs({key})
        return _PMF_CACHE[key]


def mannwhitney_exact_sf(u: np.ndarray, n1: int, n2: int) -> np.ndarray:
    """P(U >= u) under the null, exact (the distribution of untied data).

    A half-integer ``u`` (ties) is truncated first, ``P(U >= floor(u))``, as
    ``scipy.stats.mannwhitneyu(method="exact")`` does.

    Examples
    --------
    >>> float(mannwhitney_exact_sf(6, 3, 2))  # U = 6 is the largest value: 1 / C(5, 2)
    0.1
    """
    pmf = _u_pmf(int(n1), int(n2))
    sf = np.cumsum(pmf[::-1])[::-1]
    u = np.asarray(u)
    index = np.clip(np.floor(u + 1e-9).astype(np.int64), 0, pmf.size)
    padded = np.concatenate((sf, [0.0]))
    return padded[index]


def mannwhitney_statistics(
    rank_sum_1: np.ndarray,
    n1: np.ndarray,
    n0: np.ndarray,
    ties: np.ndarray,
    method: str = "auto",
    continuity: bool = True,
) -> dict[str, np.ndarray]:
    """The Mann-Whitney U test from rank sums: the one kernel behind every U test here.

    Parameters are those of :func:`mannwhitney_from_ranks`; ``continuity`` applies the
    continuity correction to the normal approximation (``use_continuity`` of scipy).

    Returns
    -------
    dict
        ``u1`` (U of group 1), ``z`` (of the normal approximation, for the larger U, so
        >= 0), ``p_value`` (two-sided; NaN where a group is empty) and ``exact`` (bool:
        where the p-value comes from the exact null distribution).

    Examples
    --------
    >>> import numpy as np
    >>> out = mannwhitney_statistics(np.array([15.0]), 5, 5, 0)  # ranks 1-5 vs 6-10
    >>> float(out["u1"][0]), round(float(out["p_value"][0]), 5), bool(out["exact"][0])
    (0.0, 0.00794, True)
    """
    rank_sum_1, n1, n0, ties = np.broadcast_arrays(
        np.asarray(rank_sum_1, float),
        np.asarray(n1, float),
        np.asarray(n0, float),
        np.asarray(ties, float),
    )
    u1 = rank_sum_1 - n1 * (n1 + 1) / 2
    u = np.maximum(u1, n1 * n0 - u1)  # two-sided: the larger of U1 and U2, as scipy
    n = n1 + n0
    with np.errstate(divide="ignore", invalid="ignore"):
        s = np.sqrt(n1 * n0 / 12 * ((n + 1) - ties / (n * (n - 1))))
        z = (u - n1 * n0 / 2 - (0.5 if continuity else 0.0)) / s
    p = np.array(2.0 * special.ndtr(-z), dtype=float)
    exact = exact_applies(n1, n0, ties, method)
    if exact.any():
        p[exact] = exact_two_sided(u[exact], n1[exact], n0[exact])
    p = np.where((n1 < 1) | (n0 < 1), np.nan, np.clip(p, 0.0, 1.0))
    return {"u1": u1, "z": z, "p_value": p, "exact": exact}


def mannwhitney_from_ranks(
    rank_sum_1: np.ndarray,
    n1: np.ndarray,
    n0: np.ndarray,
    ties: np.ndarray,
    method: str = "auto",
) -> tuple[np.ndarray, np.ndarray]:
    """Two-sided Mann-Whitney U test from the rank sum of group 1 (with continuity
    correction and tie correction, as ``scipy.stats.mannwhitneyu``).

    Parameters
    ----------
    rank_sum_1
        Sum of the (average) ranks of group 1 over the pooled sample, any shape.
    n1, n0
        Group sizes (broadcast against ``rank_sum_1``).
    ties
        Sum over tie groups of t**3 - t in the pooled sample (broadcast).
    method
        ``"auto"`` (:data:`EXACT_RULE`: exact when both groups have fewer than 50 members
        and there are no ties, as R's ``wilcox.test``), ``"asymptotic"`` or ``"exact"``.

    Returns
    -------
    (U1, p_value)
        NaN where a group is empty.

    See Also
    --------
    mannwhitney_statistics : the same test, with z and where the p-value is exact.

    Examples
    --------
    >>> import numpy as np
    >>> x = np.array([[1.0], [2.0], [2.0], [5.0], [7.0], [8.0]])
    >>> group = np.array([1, 1, 1, 0, 0, 0])
    >>> u1, p = mannwhitney_from_ranks(column_ranks(x)[:, 0] @ group, 3, 3, tie_terms(x))
    >>> float(u1[0]), round(float(p[0]), 4)   # ties: the normal approximation, as scipy
    (0.0, 0.0765)
    """
    out = mannwhitney_statistics(rank_sum_1, n1, n0, ties, method)
    u1 = np.where(np.isnan(out["p_value"]), np.nan, out["u1"])
    return u1, out["p_value"]
