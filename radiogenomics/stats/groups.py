"""Two-group tests of every feature, one group against the rest, vectorised over features.

numpy/scipy only. Missing values (NaN) are left out feature by feature.

- :func:`welch_one_vs_rest`: Welch's unequal-variance t test (as
  ``scipy.stats.ttest_ind(equal_var=False)``).
- :func:`mann_whitney_one_vs_rest`: the Wilcoxon rank-sum / Mann-Whitney U test, exact
  for small groups without ties and otherwise with the normal approximation, tie and
  continuity corrections (R's ``wilcox.test`` rule, see
  :data:`radiogenomics.stats.ranks.EXACT_RULE`; the same p-values as
  :func:`radiogenomics.stats.ranks.mannwhitney_from_ranks`).
- :func:`hypergeometric_overrepresentation`: one-sided over-representation of sets among
  hits (as ``scipy.stats.fisher_exact(alternative="greater")``).
"""

from __future__ import annotations

import numpy as np
from scipy import stats

from .ranks import exact_applies, mannwhitney_statistics

__all__ = ["welch_one_vs_rest", "mann_whitney_one_vs_rest", "hypergeometric_overrepresentation"]


def _codes(codes: np.ndarray, n: int) -> tuple[np.ndarray, int]:
    codes = np.asarray(codes)
    if codes.shape != (n,):
        raise ValueError(f"codes must hold one group code per row ({n}), found {codes.shape}")
    if not np.issubdtype(codes.dtype, np.integer):
        raise ValueError("codes must be integers (negative: not in any group)")
    return codes, int(codes.max()) + 1 if (codes >= 0).any() else 0


def _group_moments(values: np.ndarray, member: np.ndarray, valid: np.ndarray):
    """Count, mean and unbiased variance of the rows in ``member`` (1-D bool), NaN-aware."""
    mask = valid & member[:, None]
    count = mask.sum(axis=0).astype(float)
    total = np.where(mask, values, 0.0).sum(axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        mean = total / count
        centred = np.where(mask, values - mean, 0.0)
        var = (centred**2).sum(axis=0) / (count - 1)
    return count, mean, var


def _chunked(block_function, values, codes, reference, chunk_size, **options):
    x = np.asarray(values, dtype=np.float64)
    if x.ndim != 2:
        raise ValueError(f"values must be 2-D (samples x features), found {x.ndim}-D")
    codes, n_groups = _codes(codes, x.shape[0])
    if reference is not None and not 0 <= reference < n_groups:
        raise ValueError(f"reference {reference} is not a group code")
    out: dict[str, np.ndarray] = {}
    for start in range(0, x.shape[1], max(int(chunk_size), 1)):
        part = block_function(
            x[:, start : start + chunk_size], codes, n_groups, reference, **options
        )
        for key, value in part.items():
            if key not in out:
                out[key] = np.full((n_groups, x.shape[1]), np.nan)
            out[key][:, start : start + value.shape[1]] = value
    return out


def welch_one_vs_rest(
    values: np.ndarray,
    codes: np.ndarray,
    *,
    reference: int | None = None,
    chunk_size: int = 1024,
) -> dict[str, np.ndarray]:
    """Welch's t test of each group against the rest (or against one reference group).

    Parameters
    ----------
    values
        Samples x features (NaN = missing).
    codes
        Group code per sample (0 .. G-1; negative codes belong to no group and are left
        out).
    reference
        Compare with this group instead of all other groups.
    chunk_size
        Features per block (memory stays bounded for wide inputs).

    Returns
    -------
    dict
        Arrays (G x features): ``n_group``, ``n_reference``, ``mean_group``,
        ``mean_reference``, ``difference`` (group - reference), ``effect_size``
        (Cohen's d with the pooled SD), ``statistic`` (t), ``df``, ``p_value``
        (two-sided).
    """
    return _chunked(_welch_block, values, codes, reference, chunk_size)


def _welch_block(x, codes, n_groups, reference):
    valid = ~np.isnan(x)
    keys = (
        "n_group",
        "n_reference",
        "mean_group",
        "mean_reference",
        "difference",
        "effect_size",
        "statistic",
        "df",
        "p_value",
    )
    out = {key: np.full((n_groups, x.shape[1]), np.nan) for key in keys}
    for g in range(n_groups):
        if g == reference:
            continue  # the reference group is not compared with itself (NaN row)
        member = codes == g
        rest = (codes == reference) if reference is not None else (codes >= 0) & ~member
        n1, m1, v1 = _group_moments(x, member, valid)
        n2, m2, v2 = _group_moments(x, rest, valid)
        with np.errstate(divide="ignore", invalid="ignore"):
            se2 = v1 / n1 + v2 / n2
            t = (m1 - m2) / np.sqrt(se2)
            df = se2**2 / ((v1 / n1) ** 2 / (n1 - 1) + (v2 / n2) ** 2 / (n2 - 1))
            pooled = np.sqrt(((n1 - 1) * v1 + (n2 - 1) * v2) / (n1 + n2 - 2))
            d = (m1 - m2) / pooled
        p = 2 * stats.t.sf(np.abs(t), df)
        for key, value in zip(keys, (n1, n2, m1, m2, m1 - m2, d, t, df, p)):
            out[key][g] = value
    return out


def _ranks_and_ties(x: np.ndarray, valid: np.ndarray):
    """Mid-ranks per column among non-missing rows, and sum(t^3 - t) over tie groups."""
    n, p = x.shape
    filled = np.where(valid, x, np.inf)
    order = np.argsort(filled, axis=0, kind="stable")
    sorted_values = np.take_along_axis(filled, order, axis=0)
    n_valid = valid.sum(axis=0)
    position = np.broadcast_to(np.arange(1, n + 1, dtype=float)[:, None], (n, p))
    start = np.ones((n, p), dtype=bool)
    start[1:] = sorted_values[1:] != sorted_values[:-1]
    end = np.ones((n, p), dtype=bool)
    end[:-1] = start[1:]
    first = np.maximum.accumulate(np.where(start, position, 0.0), axis=0)
    last = np.minimum.accumulate(np.where(end, position, n + 1.0)[::-1], axis=0)[::-1]
    in_range = position <= n_valid[None, :]
    ranks_sorted = np.where(in_range, (first + last) / 2.0, np.nan)
    size = last - first + 1.0
    tie_term = np.where(in_range, size**2 - 1.0, 0.0).sum(axis=0)
    ranks = np.empty((n, p))
    np.put_along_axis(ranks, order, ranks_sorted, axis=0)
    return ranks, tie_term


def mann_whitney_one_vs_rest(
    values: np.ndarray,
    codes: np.ndarray,
    *,
    reference: int | None = None,
    continuity: bool = True,
    chunk_size: int = 1024,
    method: str = "auto",
) -> dict[str, np.ndarray]:
    """Mann-Whitney U test of each group against the rest (or one reference group).

    Parameters
    ----------
    method
        ``"auto"`` (default; :data:`radiogenomics.stats.ranks.EXACT_RULE`: the exact
        distribution of U when both groups have fewer than 50 values and there are no
        ties, as R's ``wilcox.test``), ``"exact"`` or ``"asymptotic"`` (normal
        approximation with tie and, if ``continuity``, continuity corrections).

    Returns
    -------
    dict
        Arrays (G x features): ``n_group``, ``n_reference``, ``statistic`` (U of the
        group), ``auc`` (U / (n1 n2): the probability that a group value exceeds a
        reference value, ties counted half), ``z`` (of the normal approximation),
        ``p_value`` (two-sided) and ``exact`` (1 where the p-value is exact, else 0).
    """
    exact_applies(0, 0, 0, method)  # an unknown method fails before any work
    return _chunked(
        _mann_whitney_block,
        values,
        codes,
        reference,
        chunk_size,
        continuity=continuity,
        method=method,
    )


def _mann_whitney_block(x, codes, n_groups, reference, continuity, method):
    keys = ("n_group", "n_reference", "statistic", "auc", "z", "p_value", "exact")
    out = {key: np.full((n_groups, x.shape[1]), np.nan) for key in keys}
    shared = None
    if reference is None:  # every comparison ranks the same rows: rank once
        rows = codes >= 0
        valid = ~np.isnan(x[rows])
        shared = (rows, valid, *_ranks_and_ties(x[rows], valid))
    for g in range(n_groups):
        if g == reference:
            continue  # the reference group is not compared with itself (NaN row)
        member = codes == g
        if shared is not None:
            rows, valid, ranks, tie_term = shared
        else:
            rows = member | (codes == reference)
            valid = ~np.isnan(x[rows])
            ranks, tie_term = _ranks_and_ties(x[rows], valid)
        in_group = member[rows][:, None] & valid
        n1 = in_group.sum(axis=0).astype(float)
        n2 = (valid & ~member[rows][:, None]).sum(axis=0).astype(float)
        r1 = np.where(in_group, ranks, 0.0).sum(axis=0)
        test = mannwhitney_statistics(r1, n1, n2, tie_term, method, continuity)
        u1, p, exact = test["u1"], test["p_value"], test["exact"]
        with np.errstate(divide="ignore", invalid="ignore"):
            signed = np.sign(u1 - n1 * n2 / 2.0) * test["z"]
        for key, value in zip(keys, (n1, n2, u1, u1 / (n1 * n2), signed, p, exact.astype(float))):
            out[key][g] = value
    return out


def hypergeometric_overrepresentation(
    overlap: np.ndarray, set_size: np.ndarray, n_hits: np.ndarray | int, universe: int
) -> np.ndarray:
    """P(X >= overlap) for X hypergeometric: ``n_hits`` draws from ``universe`` items of
    which ``set_size`` are in the set (the one-sided Fisher exact test).

    All arguments broadcast; returns p-values.
    """
    overlap = np.asarray(overlap)
    return stats.hypergeom.sf(overlap - 1, universe, set_size, n_hits)
