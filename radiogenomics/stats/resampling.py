"""Resampling helpers: (stratified) bootstrap indices, percentile intervals and
permutation p-values. numpy only."""

from __future__ import annotations

import warnings

import numpy as np

__all__ = ["bootstrap_indices", "percentile_interval", "permutation_p_value"]


def bootstrap_indices(
    n: int,
    n_bootstraps: int,
    random_state: int | np.random.Generator | None = None,
    strata=None,
) -> np.ndarray:
    """Indices of bootstrap samples, shape ``(n_bootstraps, n)``.

    With ``strata`` (a label per patient), each stratum is resampled within itself so that
    every replicate keeps the stratum sizes (for example both classes of a binary outcome).
    """
    rng = np.random.default_rng(random_state)
    if strata is None:
        return rng.integers(0, n, size=(n_bootstraps, n))
    strata = np.asarray(strata)
    if strata.shape[0] != n:
        raise ValueError(f"strata has {strata.shape[0]} labels for {n} patients")
    out = np.empty((n_bootstraps, n), dtype=np.int64)
    start = 0
    for label in np.unique(strata):
        members = np.flatnonzero(strata == label)
        out[:, start : start + members.size] = members[
            rng.integers(0, members.size, size=(n_bootstraps, members.size))
        ]
        start += members.size
    return out


def percentile_interval(values, confidence: float = 0.95, axis: int = 0):
    """Percentile interval of bootstrap replicates (NaN replicates are ignored).

    Returns ``(lower, upper)``; infinite replicates are kept, so an interval may be
    infinite on one side.
    """
    values = np.asarray(values, dtype=float)
    alpha = (1 - confidence) / 2
    with np.errstate(invalid="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        lower = np.nanquantile(values, alpha, axis=axis, method="linear")
        upper = np.nanquantile(values, 1 - alpha, axis=axis, method="linear")
        if np.isinf(values).any():  # interpolating next to an infinity gives NaN
            lower = np.where(
                np.isnan(lower),
                np.nanquantile(values, alpha, axis=axis, method="inverted_cdf"),
                lower,
            )
            upper = np.where(
                np.isnan(upper),
                np.nanquantile(values, 1 - alpha, axis=axis, method="inverted_cdf"),
                upper,
            )
    return lower, upper


def permutation_p_value(observed: float, null, alternative: str = "greater") -> float:
    """Permutation p-value ``(1 + #{null at least as extreme}) / (1 + n_permutations)``
    (Phipson and Smyth 2010), never zero."""
    null = np.asarray(null, dtype=float)
    null = null[~np.isnan(null)]
    if alternative == "greater":
        extreme = (null >= observed).sum()
    elif alternative == "less":
        extreme = (null <= observed).sum()
    elif alternative == "two-sided":
        centre = np.mean(null) if null.size else 0.0
        extreme = (np.abs(null - centre) >= abs(observed - centre)).sum()
    else:
        raise ValueError(f"unknown alternative {alternative!r}")
    return float((1 + extreme) / (1 + null.size))
