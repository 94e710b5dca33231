"""Feature quality control: missing values, (near) zero variance, too few distinct values."""

from __future__ import annotations

import mudata as md
import numpy as np
import pandas as pd
from anndata import AnnData

from .._compat import keyword_only
from ..cohort import store_result
from ..errors import CohortError
from ._modality import copy_option, get_modality, subset_features, values

__all__ = ["filter_features"]

QC_COLUMNS = [
    "feature",
    "fraction_missing",
    "n_distinct",
    "variance",
    "frequency_ratio",
    "percent_distinct",
    "dropped",
    "reason",
]


def _feature_summary(x: np.ndarray) -> dict[str, np.ndarray]:
    n, p = x.shape
    missing = np.isnan(x)
    fraction_missing = missing.mean(axis=0) if n else np.ones(p)
    filled = np.where(missing, np.inf, x)
    ordered = np.sort(filled, axis=0)
    n_valid = (~missing).sum(axis=0)
    change = np.ones((n, p), dtype=bool)
    change[1:] = ordered[1:] != ordered[:-1]
    in_range = np.arange(n)[:, None] < n_valid[None, :]
    n_distinct = (change & in_range).sum(axis=0)
    # run lengths of equal values: the most and second most common value
    frequency_ratio = np.full(p, np.inf)
    for j in range(p):
        column = ordered[: n_valid[j], j]
        if column.size == 0:
            continue
        starts = np.flatnonzero(np.r_[True, column[1:] != column[:-1]])
        counts = np.sort(np.diff(np.r_[starts, column.size]))[::-1]
        frequency_ratio[j] = counts[0] / counts[1] if counts.size > 1 else np.inf
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.nanmean(np.where(missing, np.nan, x), axis=0) if n else np.full(p, np.nan)
        variance = np.nansum((np.where(missing, mean, x) - mean) ** 2, axis=0) / (n_valid - 1)
        percent_distinct = 100.0 * n_distinct / n_valid
    return {
        "fraction_missing": fraction_missing,
        "n_distinct": n_distinct,
        "variance": variance,
        "frequency_ratio": frequency_ratio,
        "percent_distinct": percent_distinct,
    }


@keyword_only("mod")
@copy_option
def filter_features(
    mdata: md.MuData | AnnData,
    mod: str = "radiomics",
    *,
    max_missing: float = 0.1,
    min_distinct: int = 5,
    frequency_ratio: float | None = 19.0,
    percent_distinct: float = 10.0,
    min_variance: float = 0.0,
    subset: bool = True,
    layer: str | None = None,
    key_added: str | None = None,
) -> pd.DataFrame:
    """Drop features with too many missing values, (near) zero variance or too few
    distinct values, keeping a record of each decision.

    A feature is dropped for the first of these reasons that applies:

    - ``missing``: more than ``max_missing`` of the patients lack a value;
    - ``constant``: variance at most ``min_variance`` (zero by default);
    - ``few_distinct``: fewer than ``min_distinct`` distinct values;
    - ``near_zero_variance``: the most common value is more than ``frequency_ratio``
      times as frequent as the second most common, and distinct values are fewer than
      ``percent_distinct`` percent of the patients (the rule of caret's
      ``nearZeroVar``); ``frequency_ratio=None`` turns this rule off.

    Parameters
    ----------
    mdata
        The cohort (or a modality's AnnData).
    mod
        Modality to filter.
    subset
        Remove the dropped features from the modality (default). Otherwise only flag them.
    layer
        Judge the values of this layer instead of ``X``.
    key_added
        Key of the stored table (default: the modality's name).
    copy
        Work on a copy of the cohort and return it, leaving ``mdata`` unchanged.

    Returns
    -------
    pandas.DataFrame
        One row per feature (columns :data:`QC_COLUMNS`); the filtered copy of the cohort
        with ``copy=True``. The table is stored in the
        cohort (``rg.get_result(mdata, "feature_qc", mod)``) and, for the dropped features,
        in the modality's ``uns["radiogenomics"]["dropped_features"]``; the flags
        ``qc_dropped`` and ``qc_reason`` are written to ``var`` (of the kept features, when
        subsetting).

    See Also
    --------
    remove_redundant : drop features highly correlated with another.
    robust_features : flag features that do not repeat between extractions.

    Examples
    --------
    >>> import radiogenomics as rg
    >>> mdata = rg.datasets.toy_cohort(n_patients=40)
    >>> mdata["radiomics"].X[:, 1] = 0.5  # a feature without variance
    >>> table = rg.pp.filter_features(mdata, mod="radiomics")
    >>> table.loc[table["dropped"], ["feature", "reason"]].values.tolist()
    [['original_shape_Sphericity', 'constant']]
    >>> mdata["radiomics"].n_vars
    11
    >>> rg.get_result(mdata, "feature_qc", "radiomics").shape
    (12, 8)
    """
    if not 0 <= max_missing <= 1:
        raise CohortError(
            "max_missing is a fraction", expected="a number in [0, 1]", found=max_missing
        )
    adata = get_modality(mdata, mod)
    x = values(adata, layer)
    summary = _feature_summary(x)
    reason = np.full(adata.n_vars, "", dtype=object)
    rules = [
        ("missing", summary["fraction_missing"] > max_missing),
        ("constant", ~(summary["variance"] > min_variance)),
        ("few_distinct", summary["n_distinct"] < min_distinct),
    ]
    if frequency_ratio is not None:
        rules.append(
            (
                "near_zero_variance",
                (summary["frequency_ratio"] > frequency_ratio)
                & (summary["percent_distinct"] < percent_distinct),
            )
        )
    for name, flagged in rules:
        reason[(reason == "") & flagged] = name
    dropped = reason != ""
    table = pd.DataFrame(
        {
            "feature": adata.var_names.astype(str),
            **summary,
            "dropped": dropped,
            "reason": reason.astype(str),
        }
    )[QC_COLUMNS]
    table = table.reset_index(drop=True)
    if dropped.all():
        raise CohortError(
            f"every feature of {mod!r} fails quality control",
            expected="some features with enough values and variance",
            found=table["reason"].value_counts().to_dict(),
        )
    adata.var["qc_dropped"] = dropped
    adata.var["qc_reason"] = reason.astype(str)
    params = {
        "mod": mod,
        "max_missing": max_missing,
        "min_distinct": min_distinct,
        "frequency_ratio": frequency_ratio,
        "percent_distinct": percent_distinct,
        "min_variance": min_variance,
        "subset": subset,
        "layer": layer,
        "n_features": int(adata.n_vars),
        "n_dropped": int(dropped.sum()),
    }
    info = adata.uns.setdefault("radiogenomics", {})
    info["dropped_features"] = table.loc[dropped].reset_index(drop=True)
    info["feature_qc"] = params
    if subset:
        adata = subset_features(mdata, mod, ~dropped)
    if isinstance(mdata, md.MuData):
        store_result(mdata, "feature_qc", key_added or mod, table, params)
    return table
