"""Radiomic phenotypes: subtypes of patients from imaging features through scanpy (PCA,
neighbour graph, Leiden), with their stability over resamples (consensus clustering)."""

from __future__ import annotations

import functools
import importlib
import warnings
from collections.abc import Sequence

import mudata as md
import numpy as np
import pandas as pd
from anndata import AnnData
from sklearn.metrics import adjusted_rand_score

from .._compat import keyword_only
from ..cohort import store_result
from ..errors import CohortError
from ..pp._modality import check_finite, get_modality, select_features, values

__all__ = ["phenotypes", "PHENOTYPE_COLUMNS", "RESOLUTIONS"]

PHENOTYPE_COLUMNS = ["subtype", "n_patients", "fraction", "stability", "resolution"]

#: Name of the subtype column by default.
DEFAULT_KEY = "radiomic_subtype"

#: The default grid of Leiden resolutions searched for the most stable partition.
RESOLUTIONS = (0.2, 0.3, 0.4, 0.5, 0.6, 0.8, 1.0)


def _standardise(x: np.ndarray) -> np.ndarray:
    sd = x.std(axis=0, ddof=1)
    return np.where(sd > 0, (x - x.mean(axis=0)) / np.where(sd > 0, sd, 1.0), 0.0)


#: umap's numba kernels behind scanpy's neighbour graph and UMAP, compiled without numba's
#: disk cache: about 4 s in every new process (a notebook kernel, a command, a worker).
UMAP_KERNELS = {
    "umap.umap_": ("smooth_knn_dist", "compute_membership_strengths"),
    "umap.layouts": (
        "_nb_optimize_layout_euclidean_single_epoch",
        "_nb_optimize_layout_euclidean_single_epoch_parallel",
    ),
}


@functools.cache
def _cache_umap_kernels() -> None:
    """Turn on numba's disk cache for umap's kernels, so that a new process loads them
    compiled. Where umap, or a kernel, or a writable cache folder is missing, they compile
    as before."""
    for module_name, names in UMAP_KERNELS.items():
        try:
            module = importlib.import_module(module_name)
        except ImportError:
            return
        for name in names:
            kernel = getattr(module, name, None)
            try:
                kernel.enable_caching()
            except Exception:  # not a numba dispatcher, or no cache folder: no cache
                continue


def _graph(x: np.ndarray, *, n_pcs: int, n_neighbors: int, seed: int) -> AnnData:
    """Standardise, PCA and the neighbour graph (scanpy)."""
    import scanpy as sc

    _cache_umap_kernels()

    adata = AnnData(_standardise(x))
    n_comps = max(1, min(n_pcs, adata.n_obs - 1, adata.n_vars - 1))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if adata.n_vars > 1:
            sc.pp.pca(adata, n_comps=n_comps, random_state=seed)
        else:
            adata.obsm["X_pca"] = adata.X.copy()
        sc.pp.neighbors(
            adata, n_neighbors=min(n_neighbors, adata.n_obs - 1), use_rep="X_pca", random_state=seed
        )
    return adata


def _leiden(graph: AnnData, resolution: float, seed: int) -> np.ndarray:
    """Leiden partition of the graph (scanpy, igraph flavour) as integer codes."""
    import scanpy as sc

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sc.tl.leiden(
            graph,
            resolution=resolution,
            flavor="igraph",
            n_iterations=-1,
            directed=False,
            random_state=seed,
            key_added="_leiden",
        )
    return graph.obs["_leiden"].astype(int).to_numpy()


def _consensus(
    x: np.ndarray,
    labels: list[np.ndarray],
    resolutions: list[float],
    *,
    n_resamples: int,
    fraction: float,
    seed: int,
    n_pcs: int,
    n_neighbors: int,
):
    """For each resolution: co-clustering frequency over resamples, and the adjusted
    Rand index of each resample's clustering with the full clustering on the patients
    it drew. Each resample's graph is built once and partitioned at every resolution."""
    n = x.shape[0]
    rng = np.random.default_rng(seed)
    together = np.zeros((len(resolutions), n, n))
    drawn = np.zeros((n, n))
    agreement = np.empty((len(resolutions), n_resamples))
    size = max(int(round(fraction * n)), min(n, 4))
    for r in range(n_resamples):
        rows = np.sort(rng.choice(n, size=size, replace=False))
        graph = _graph(x[rows], n_pcs=n_pcs, n_neighbors=n_neighbors, seed=seed + r + 1)
        drawn[np.ix_(rows, rows)] += 1
        for k, resolution in enumerate(resolutions):
            codes = _leiden(graph, resolution, seed + r + 1)
            together[k][np.ix_(rows, rows)] += codes[:, None] == codes[None, :]
            agreement[k, r] = adjusted_rand_score(labels[k][rows], codes)
    with np.errstate(invalid="ignore", divide="ignore"):
        consensus = np.where(drawn[None] > 0, together / drawn[None], np.nan)
    return consensus, agreement


def _choose(candidates: list[dict], n_resamples: int) -> dict:
    """The most stable solution with two or more subtypes, by the one-standard-error
    rule: the fewest subtypes whose mean ARI over resamples is within one standard
    error of the best mean ARI."""
    usable = [c for c in candidates if c["n_subtypes"] >= 2] or candidates
    if len(usable) == 1 or n_resamples <= 0:
        return usable[0]
    top = max(usable, key=lambda c: c["ari"])
    margin = top["ari_sd"] / np.sqrt(n_resamples)
    close = [c for c in usable if c["ari"] >= top["ari"] - margin]
    return min(close, key=lambda c: (c["n_subtypes"], -c["ari"]))


@keyword_only("mod")
def phenotypes(
    mdata: md.MuData | AnnData,
    mod: str = "radiomics",
    *,
    features: str | Sequence[str] | None = None,
    layer: str | None = None,
    n_pcs: int = 10,
    n_neighbors: int = 15,
    resolution: float | Sequence[float] = RESOLUTIONS,
    n_resamples: int = 50,
    fraction: float = 0.8,
    umap: bool = True,
    key_added: str | None = None,
    random_state: int = 0,
) -> pd.DataFrame:
    """Radiomic subtypes of patients, with a stability measure.

    The features are z-scored, reduced by PCA, joined in a k-nearest-neighbour graph and
    partitioned by the Leiden algorithm (all through scanpy). Stability is measured by
    consensus over resamples: the clustering is repeated on ``n_resamples`` random
    subsets of ``fraction`` of the patients; how often two patients fall together
    gives the consensus matrix, and the adjusted Rand index (ARI) of each resample
    with the full clustering gives the overall stability.

    Parameters
    ----------
    mdata
        The cohort (or a modality's AnnData).
    mod
        Modality (curated features: see ``rg.pp``).
    features, layer
        A subset of features (names, or a boolean ``var`` column such as
        ``"redundancy_kept"`` from ``rg.pp.remove_redundant(subset=False)``); a layer
        instead of ``X``.
    n_pcs, n_neighbors
        PCA components and graph neighbours.
    resolution
        Leiden resolution, or a grid of them (default :data:`RESOLUTIONS`). Over a
        grid, each value is clustered and resampled,
        and the most stable solution with at least two subtypes is kept by the
        one-standard-error rule: the fewest subtypes whose mean ARI over resamples is
        within one standard error of the highest.
    n_resamples, fraction
        Resamples for the consensus (0 skips it) and the fraction of patients drawn.
    umap
        Also compute a UMAP embedding.
    key_added
        Name of the categorical column in ``mdata.obs`` (and the modality's ``obs``);
        default ``"radiomic_subtype"``.
    random_state
        Seed of PCA, neighbours, Leiden, UMAP and the resamples.

    Returns
    -------
    pandas.DataFrame
        Per subtype: ``subtype``, ``n_patients``, ``fraction``, ``stability`` (mean
        consensus between patients of the subtype), ``resolution``. Stored as
        ``rg.get_result(mdata, "phenotypes", key_added)`` with the parameters, the
        overall stability and the grid. The modality gets ``obsm["X_pca"]`` (and
        ``obsm["X_umap"]``), the neighbour graph, ``obsp[f"{key_added}_consensus"]`` and
        ``obs[f"{key_added}_stability"]`` (per patient: mean consensus with the others
        of its subtype); ``mdata.obs[key_added]`` holds the subtypes (missing for
        patients without the modality).

    Examples
    --------
    >>> import radiogenomics as rg
    >>> mdata = rg.datasets.toy_cohort(n_patients=40)
    >>> table = rg.tl.phenotypes(mdata, mod="radiomics", resolution=1.0, n_resamples=3,
    ...                         umap=False)
    >>> list(table.columns)
    ['subtype', 'n_patients', 'fraction', 'stability', 'resolution']
    >>> int(table["n_patients"].sum()), bool(mdata.obs["radiomic_subtype"].notna().all())
    (40, True)
    """
    key_added = key_added or DEFAULT_KEY
    adata = get_modality(mdata, mod)
    chosen = select_features(adata, features)
    sub = adata if chosen.all() else adata[:, chosen]
    x = values(sub, layer)
    check_finite(x, sub, "phenotyping")
    if adata.n_obs < 6:
        raise CohortError(
            "too few patients to find subtypes", expected="at least 6", found=adata.n_obs
        )
    if not 0 < fraction <= 1:
        raise CohortError(
            "fraction is the share of patients per resample",
            expected="a number in (0, 1]",
            found=fraction,
        )
    settings = {"n_pcs": n_pcs, "n_neighbors": n_neighbors}
    grid = [float(r) for r in np.atleast_1d(np.asarray(resolution, dtype=float))]
    fitted = _graph(x, seed=random_state, **settings)
    partitions = [_leiden(fitted, value, random_state) for value in grid]
    consensus = agreement = None
    if n_resamples > 0:
        consensus, agreement = _consensus(
            x,
            partitions,
            grid,
            n_resamples=n_resamples,
            fraction=fraction,
            seed=random_state,
            **settings,
        )
    candidates = _candidates(grid, partitions, consensus, agreement)
    best = _choose(candidates, n_resamples)
    codes, consensus = best["codes"], best["consensus"]
    n_sub = best["n_subtypes"]
    names = [str(k + 1) for k in range(n_sub)]
    labels = pd.Categorical([names[c] for c in codes], categories=names)

    per_patient, per_subtype = _stability(codes, consensus, n_sub)
    table = pd.DataFrame(
        {
            "subtype": names,
            "n_patients": np.bincount(codes, minlength=n_sub),
            "fraction": np.bincount(codes, minlength=n_sub) / codes.size,
            "stability": per_subtype,
            "resolution": best["resolution"],
        }
    )[PHENOTYPE_COLUMNS]

    _store_in_modality(adata, fitted, umap=umap, random_state=random_state)
    if consensus is not None:
        adata.obsp[f"{key_added}_consensus"] = np.nan_to_num(consensus, nan=0.0)
    adata.obs[key_added] = labels
    adata.obs[f"{key_added}_stability"] = per_patient
    if isinstance(mdata, md.MuData):
        column = pd.Series(labels, index=adata.obs_names).reindex(mdata.obs_names)
        mdata.obs[key_added] = pd.Categorical(column, categories=names)
        stability = pd.Series(per_patient, index=adata.obs_names).reindex(mdata.obs_names)
        mdata.obs[f"{key_added}_stability"] = stability.to_numpy()
        params = {
            "mod": mod,
            "features": None if chosen.all() else [str(f) for f in sub.var_names],
            "layer": layer,
            "n_pcs": n_pcs,
            "n_neighbors": n_neighbors,
            "resolution": best["resolution"],
            "n_resamples": n_resamples,
            "fraction": fraction,
            "random_state": random_state,
            "n_subtypes": n_sub,
            "stability_ari_mean": best["ari"],
            "stability_ari_sd": best["ari_sd"],
            "grid": {
                "resolution": [c["resolution"] for c in candidates],
                "n_subtypes": [c["n_subtypes"] for c in candidates],
                "stability_ari_mean": [c["ari"] for c in candidates],
            },
        }
        store_result(mdata, "phenotypes", key_added, table, params)
    return table


def _candidates(grid, partitions, consensus, agreement) -> list[dict]:
    """One candidate solution per resolution: its partition, consensus and stability."""
    candidates = []
    for k, value in enumerate(grid):
        scores = agreement[k] if agreement is not None else np.array([np.nan])
        candidates.append(
            {
                "resolution": value,
                "codes": partitions[k],
                "consensus": None if consensus is None else consensus[k],
                "ari": float(np.nanmean(scores)) if agreement is not None else np.nan,
                "ari_sd": float(np.nanstd(scores)) if agreement is not None else np.nan,
                "n_subtypes": int(partitions[k].max()) + 1,
            }
        )
    return candidates


def _stability(codes: np.ndarray, consensus, n_sub: int) -> tuple[np.ndarray, np.ndarray]:
    """Mean consensus of each patient with the others of its subtype, and within each
    subtype (NaN without resamples)."""
    n = codes.size
    per_patient = np.full(n, np.nan)
    per_subtype = np.full(n_sub, np.nan)
    if consensus is not None:
        for k in range(n_sub):
            members = np.flatnonzero(codes == k)
            block = consensus[np.ix_(members, members)].copy()
            np.fill_diagonal(block, np.nan)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)
                per_patient[members] = np.nanmean(block, axis=1) if members.size > 1 else 1.0
                per_subtype[k] = np.nanmean(block) if members.size > 1 else 1.0
    return per_patient, per_subtype


def _store_in_modality(adata: AnnData, fitted: AnnData, *, umap: bool, random_state) -> None:
    """The PCA, the neighbour graph and (with ``umap``) the UMAP embedding."""
    adata.obsm["X_pca"] = fitted.obsm["X_pca"]
    adata.obsp["distances"] = fitted.obsp["distances"]
    adata.obsp["connectivities"] = fitted.obsp["connectivities"]
    adata.uns["neighbors"] = {
        "connectivities_key": "connectivities",
        "distances_key": "distances",
        "params": dict(fitted.uns["neighbors"]["params"]),
    }
    if umap:
        import scanpy as sc

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            sc.tl.umap(fitted, random_state=random_state)
        adata.obsm["X_umap"] = fitted.obsm["X_umap"]
