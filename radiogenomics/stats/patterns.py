"""Missing-value patterns: columns grouped by which rows they observe.

Complete-case statistics of many pairs are matrix algebra over a block of columns that
observe the same rows; grouping columns by their missingness pattern turns per-pair
complete-case fits into a few such blocks. numpy only.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["Pattern", "missing_patterns"]


@dataclass
class Pattern:
    """Columns that observe exactly the same rows.

    Attributes
    ----------
    rows
        Boolean mask of the observed rows.
    columns
        Indices of the columns sharing it (ascending).
    """

    rows: np.ndarray
    columns: np.ndarray

    @property
    def n_rows(self) -> int:
        return int(self.rows.sum())


def missing_patterns(observed: np.ndarray) -> list[Pattern]:
    """Group the columns of a boolean ``observed`` matrix (rows x columns) by pattern.

    Returns the patterns, the most shared first (ties: by first column).
    """
    observed = np.asarray(observed, dtype=bool)
    n_rows, n_cols = observed.shape
    if n_cols == 0:
        return []
    if observed.all():
        return [Pattern(np.ones(n_rows, dtype=bool), np.arange(n_cols))]
    packed = np.ascontiguousarray(np.packbits(observed, axis=0).T)  # one byte string per column
    keys = packed.view(np.dtype((np.void, packed.shape[1]))).ravel()
    _, first, inverse, counts = np.unique(
        keys, return_index=True, return_inverse=True, return_counts=True
    )
    order = np.lexsort((first, -counts))
    by_pattern = np.argsort(inverse, kind="stable")
    bounds = np.concatenate(([0], np.cumsum(np.bincount(inverse))))
    patterns = []
    for k in order:
        columns = by_pattern[bounds[k] : bounds[k + 1]]
        patterns.append(Pattern(observed[:, columns[0]].copy(), columns))
    return patterns
