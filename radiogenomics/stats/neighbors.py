"""Where one patient sits in a cohort: percentiles and standardised distances.

numpy only; vectorised over features. Missing values (NaN) are left out per feature.
"""

from __future__ import annotations

import numpy as np

__all__ = ["percentile_of", "standardized_distances"]


def percentile_of(values: np.ndarray, point: np.ndarray) -> np.ndarray:
    """Percentile of ``point`` within each column of ``values``.

    The percentage of the non-missing values of a column that are less than or equal to the
    point, with ties counted half ("mean" kind of ``scipy.stats.percentileofscore``:
    the average of the strict and the weak percentages).

    Parameters
    ----------
    values
        Patients x features.
    point
        One value per feature.

    Returns
    -------
    numpy.ndarray
        Percentiles in [0, 100], NaN where the point or the whole column is missing.
    """
    values = np.asarray(values, dtype=float)
    point = np.asarray(point, dtype=float).reshape(1, -1)
    if values.ndim != 2 or values.shape[1] != point.shape[1]:
        raise ValueError("values must be patients x features and point one value per feature")
    valid = ~np.isnan(values)
    n = valid.sum(axis=0)
    below = np.where(valid, values < point, False).sum(axis=0)
    equal = np.where(valid, values == point, False).sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        out = 100.0 * (below + 0.5 * equal) / n
    out[(n == 0) | np.isnan(point[0])] = np.nan
    return out


def standardized_distances(values: np.ndarray, index: int) -> np.ndarray:
    """Euclidean distance from row ``index`` to every row after z-scoring each column.

    Columns are centred and scaled by their mean and (population) standard deviation over
    the non-missing values; constant columns are dropped. A pair of patients is compared
    over the features both have, and the sum of squares is rescaled to all features
    (``sqrt(sum * p / p_shared)``), so that missing values do not make patients look
    closer.

    Returns
    -------
    numpy.ndarray
        One distance per row (0 for ``index`` itself, NaN when nothing is shared).
    """
    values = np.asarray(values, dtype=float)
    mean = np.nanmean(values, axis=0)
    sd = np.nanstd(values, axis=0)
    keep = np.isfinite(sd) & (sd > 0)
    z = (values[:, keep] - mean[keep]) / sd[keep]
    diff = z - z[index]
    shared = ~np.isnan(diff)
    p_shared = shared.sum(axis=1)
    total = np.where(shared, diff * diff, 0.0).sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        distance = np.sqrt(total * keep.sum() / p_shared)
    distance[p_shared == 0] = np.nan
    return distance
