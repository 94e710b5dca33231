"""Redundant features: clusters of highly correlated features, one representative each."""

from __future__ import annotations

from typing import Literal

import mudata as md
import numpy as np
import pandas as pd
from anndata import AnnData
from scipy.cluster import hierarchy
from scipy.spatial.distance import squareform
from scipy.stats import rankdata

from .._compat import keyword_only
from ..cohort import store_result
from ..errors import CohortError
from ._modality import get_modality, subset_features, values

__all__ = ["feature_correlation", "remove_redundant", "REDUNDANCY_COLUMNS"]

REDUNDANCY_COLUMNS = [
    "feature",
    "cluster",
    "cluster_size",
    "representative",
    "kept",
    "mean_abs_correlation",
    "max_abs_correlation_to_kept",
    "score",
]


def _correlation(x: np.ndarray, method: str) -> np.ndarray:
    if method not in ("spearman", "pearson"):
        raise CohortError("unknown correlation", expected="'spearman' or 'pearson'", found=method)
    if np.isnan(x).any():
        frame = pd.DataFrame(x)
        return frame.corr(method=method, min_periods=3).to_numpy()
    if method == "spearman":
        x = rankdata(x, axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.corrcoef(x, rowvar=False)


@keyword_only("mod")
def feature_correlation(
    mdata: md.MuData | AnnData,
    mod: str = "radiomics",
    *,
    method: Literal["spearman", "pearson"] = "spearman",
    features=None,
    layer: str | None = None,
) -> pd.DataFrame:
    """Feature-by-feature correlation matrix of a modality (pairwise complete values).

    Returns
    -------
    pandas.DataFrame
        Square, indexed and labelled by feature.

    See Also
    --------
    remove_redundant : keep one feature per cluster of correlated features.
    radiogenomics.pl.correlation_clustermap : the matrix as a clustered heatmap.

    Examples
    --------
    >>> import radiogenomics as rg
    >>> mdata = rg.datasets.toy_cohort(n_patients=40)
    >>> corr = rg.pp.feature_correlation(mdata, mod="radiomics", method="spearman")
    >>> corr.shape
    (12, 12)
    >>> mean = corr["original_firstorder_Mean"]
    >>> float(mean["original_firstorder_Mean"]), round(float(mean["original_glcm_Imc2"]), 2)
    (1.0, 0.65)
    """
    adata = get_modality(mdata, mod)
    if features is not None:
        adata = adata[:, list(features)]
    matrix = _correlation(values(adata, layer), method)
    names = [str(v) for v in adata.var_names]
    return pd.DataFrame(matrix, index=names, columns=names)


def _abs_correlation(x: np.ndarray, method: str) -> np.ndarray:
    """Absolute correlation between features, undefined values as 0 and 1 on the diagonal."""
    r = np.abs(_correlation(x, method))
    r = np.where(np.isfinite(r), r, 0.0)
    np.fill_diagonal(r, 1.0)
    return r


def _clusters(r: np.ndarray, p: int, linkage: str, threshold: float) -> np.ndarray:
    """Hierarchical clusters on ``1 - |r|`` cut at ``1 - threshold``, numbered by their
    first feature in feature order."""
    if p == 1:
        labels = np.array([1])
    else:
        distance = np.clip(1.0 - r, 0.0, None)
        distance = (distance + distance.T) / 2
        np.fill_diagonal(distance, 0.0)
        tree = hierarchy.linkage(squareform(distance, checks=False), method=linkage)
        labels = hierarchy.fcluster(tree, t=1.0 - threshold, criterion="distance")
    _, first = np.unique(labels, return_index=True)
    order = {label: k + 1 for k, label in enumerate(labels[np.sort(first)])}
    return np.array([order[label] for label in labels])


def _representative_score(adata: AnnData, x, keep: str, icc_column: str, mean_abs):
    """The score by which each cluster's representative is chosen (highest wins)."""
    if keep == "medoid":
        return np.nan_to_num(mean_abs, nan=1.0)
    if keep == "robust":
        if icc_column not in adata.var.columns:
            raise CohortError(
                f"keep='robust' needs the column {icc_column!r} in var",
                column=icc_column,
                hint="Run rg.pp.robust_features first",
            )
        score = adata.var[icc_column].to_numpy(dtype=float)
        return np.nan_to_num(score, nan=-np.inf) + 1e-9 * np.nan_to_num(mean_abs, nan=1.0)
    raw = values(adata, "raw") if "raw" in adata.layers else x
    with np.errstate(invalid="ignore", divide="ignore"):
        cv = np.nanstd(raw, axis=0, ddof=1) / np.abs(np.nanmean(raw, axis=0))
    return np.nan_to_num(cv, nan=-np.inf, posinf=np.finfo(float).max)


def _representatives(clusters: np.ndarray, score: np.ndarray) -> np.ndarray:
    """Index of each feature's cluster representative (ties: the first feature)."""
    representative_index = np.empty(clusters.size, dtype=np.int64)
    for c in np.unique(clusters):
        members = np.flatnonzero(clusters == c)
        best = members[np.argmax(score[members])]  # ties: the first feature
        representative_index[members] = best
    return representative_index


def _max_to_kept(r: np.ndarray, kept: np.ndarray) -> np.ndarray:
    """Each feature's highest absolute correlation to a kept feature other than itself."""
    p = kept.size
    kept_index = np.flatnonzero(kept)
    to_kept = r[:, kept_index].copy()
    to_kept[kept_index, np.arange(kept_index.size)] = np.nan
    with np.errstate(all="ignore"):
        return np.nanmax(to_kept, axis=1) if kept_index.size > 1 else np.full(p, np.nan)


@keyword_only("mod")
def remove_redundant(
    mdata: md.MuData | AnnData,
    mod: str = "radiomics",
    threshold: float = 0.9,
    *,
    method: Literal["spearman", "pearson"] = "spearman",
    linkage: Literal["complete", "average", "single"] = "complete",
    keep: Literal["medoid", "robust", "variance"] = "medoid",
    icc_column: str = "icc_3_1",
    subset: bool = True,
    layer: str | None = None,
    key_added: str | None = None,
) -> pd.DataFrame:
    """Cluster features by absolute correlation and keep one representative per cluster.

    Features are clustered hierarchically on the distance ``1 - |r|`` and the tree is
    cut at ``1 - threshold``: with ``complete`` linkage (the default) every pair of
    features in a cluster has ``|r| >= threshold``.

    Parameters
    ----------
    threshold
        Absolute correlation above which features count as redundant.
    method
        ``"spearman"`` (default, robust to the skewed distributions of radiomic
        features) or ``"pearson"``.
    keep
        The representative of each cluster: ``"medoid"`` (highest mean absolute
        correlation with the others of its cluster), ``"robust"`` (highest ICC in
        ``var[icc_column]``, from ``rg.pp.robust_features``; ties by medoid) or
        ``"variance"`` (largest coefficient of variation of the values before
        preprocessing, ``layers["raw"]`` when present).
    subset
        Keep only the representatives in the modality (default); otherwise flag them.

    Returns
    -------
    pandas.DataFrame
        One row per feature (columns :data:`REDUNDANCY_COLUMNS`). Stored as
        ``rg.get_result(mdata, "redundancy", mod)``; ``var`` gets
        ``redundancy_cluster``, ``redundancy_representative`` and ``redundancy_kept``.

    See Also
    --------
    feature_correlation : the correlation matrix the clusters are cut from.
    filter_features : drop features with missing values or no variance first.

    Examples
    --------
    >>> import radiogenomics as rg
    >>> mdata = rg.datasets.toy_cohort(n_patients=40)
    >>> table = rg.pp.remove_redundant(mdata, mod="radiomics", threshold=0.7)
    >>> int(table["kept"].sum()), mdata["radiomics"].n_vars
    (9, 9)
    >>> table.loc[~table["kept"], "feature"].tolist()
    ['original_firstorder_Mean', 'original_glcm_Contrast', 'original_glcm_SumEntropy']
    >>> table.set_index("feature").loc["original_glcm_Contrast", "representative"]
    'original_gldm_DependenceEntropy'
    """
    if not 0 < threshold <= 1:
        raise CohortError(
            "the redundancy threshold is an absolute correlation",
            expected="a number in (0, 1]",
            found=threshold,
        )
    if keep not in ("medoid", "robust", "variance"):
        raise CohortError(
            "unknown representative rule", expected="'medoid', 'robust' or 'variance'", found=keep
        )
    adata = get_modality(mdata, mod)
    names = [str(v) for v in adata.var_names]
    x = values(adata, layer)
    r = _abs_correlation(x, method)
    p = len(names)
    clusters = _clusters(r, p, linkage, threshold)
    sizes = np.bincount(clusters)[clusters]
    mean_abs = np.array(
        [(r[j, clusters == clusters[j]].sum() - 1.0) / max(sizes[j] - 1, 1) for j in range(p)]
    )
    mean_abs[sizes == 1] = np.nan
    score = _representative_score(adata, x, keep, icc_column, mean_abs)
    representative_index = _representatives(clusters, score)
    kept = representative_index == np.arange(p)
    max_to_kept = _max_to_kept(r, kept)
    table = pd.DataFrame(
        {
            "feature": names,
            "cluster": clusters,
            "cluster_size": sizes,
            "representative": [names[i] for i in representative_index],
            "kept": kept,
            "mean_abs_correlation": mean_abs,
            "max_abs_correlation_to_kept": max_to_kept,
            "score": score,
        }
    )[REDUNDANCY_COLUMNS]
    adata.var["redundancy_cluster"] = clusters
    adata.var["redundancy_representative"] = table["representative"].to_numpy()
    adata.var["redundancy_kept"] = kept
    params = {
        "mod": mod,
        "threshold": threshold,
        "method": method,
        "linkage": linkage,
        "keep": keep,
        "n_features": p,
        "n_clusters": int(kept.sum()),
        "subset": subset,
    }
    adata.uns.setdefault("radiogenomics", {})["redundancy"] = params
    if subset:
        subset_features(mdata, mod, kept)
    if isinstance(mdata, md.MuData):
        store_result(mdata, "redundancy", key_added or mod, table, params)
    return table
