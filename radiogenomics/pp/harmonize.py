"""Scanner/site harmonisation with ComBat, and scores of how well patients separate by
batch before and after."""

from __future__ import annotations

from collections.abc import Sequence

import mudata as md
import numpy as np
import pandas as pd
from anndata import AnnData
from scipy import stats
from sklearn.metrics import silhouette_score
from sklearn.neighbors import NearestNeighbors

from .._compat import keyword_only
from .._data import as_list, design_matrix
from ..cohort import store_result
from ..errors import CohortError, InputError
from ..stats.combat import CONVENTIONS, CombatModel, combat_apply, combat_fit
from ..stats.multitest import adjust_pvalues
from ._modality import (
    check_finite,
    get_modality,
    keep_raw,
    obs_for,
    record_step,
    values,
)

__all__ = ["harmonize", "batch_separation", "separation_scores", "SCORE_DESCRIPTIONS"]

#: What each batch separation score measures (lower is better mixed for all of them).
SCORE_DESCRIPTIONS = {
    "silhouette": "mean silhouette width of the batch labels on the leading principal "
    "components (about 0 or below: batches mixed; towards 1: separated)",
    "kbet_rejection_rate": "fraction of patients whose nearest neighbours' batch mix differs "
    "from the cohort's (chi-square test at 5%, kBET-like; about 0.05 "
    "when mixed)",
    "pc_regression_r2": "variance of the leading principal components explained by batch, "
    "weighted by their share of variance",
    "batch_r2_mean": "mean over features of the variance explained by batch (one-way ANOVA)",
    "fraction_features_batch_q05": "fraction of features whose batch means differ "
    "(one-way ANOVA, Benjamini-Hochberg q < 0.05)",
}


def _standardise(x: np.ndarray) -> np.ndarray:
    sd = x.std(axis=0, ddof=1)
    return np.where(sd > 0, (x - x.mean(axis=0)) / np.where(sd > 0, sd, 1.0), 0.0)


def _pca(z: np.ndarray, n_pcs: int) -> tuple[np.ndarray, np.ndarray]:
    n_pcs = max(1, min(n_pcs, z.shape[0] - 1, z.shape[1]))
    u, s, _ = np.linalg.svd(z - z.mean(axis=0), full_matrices=False)
    scores = u[:, :n_pcs] * s[:n_pcs]
    variance = s**2 / max(z.shape[0] - 1, 1)
    # a deterministic sign: the largest loading of each component positive
    signs = np.sign(scores[np.abs(scores).argmax(axis=0), np.arange(n_pcs)])
    return scores * np.where(signs == 0, 1.0, signs), variance[:n_pcs] / variance.sum()


def _r2_of_design(y: np.ndarray, design: np.ndarray) -> np.ndarray:
    """R^2 of each column of ``y`` on ``design`` (with an intercept)."""
    full = np.column_stack([np.ones(y.shape[0]), design])
    coef, *_ = np.linalg.lstsq(full, y, rcond=None)
    residual = y - full @ coef
    total = ((y - y.mean(axis=0)) ** 2).sum(axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(total > 0, 1 - (residual**2).sum(axis=0) / total, np.nan)


def separation_scores(
    x: np.ndarray,
    labels: np.ndarray,
    *,
    n_pcs: int = 10,
    n_neighbors: int | None = None,
    covariates: dict[str, np.ndarray] | None = None,
    pcs: np.ndarray | None = None,
) -> dict[str, float]:
    """Batch separation scores of samples ``x`` (samples x features, finite) with batch
    ``labels``; see :data:`SCORE_DESCRIPTIONS`. ``covariates`` (name -> design columns)
    add ``covariate_r2_mean[name]``: the mean variance of the features explained by
    each biological covariate, which harmonisation should keep."""
    labels = np.asarray(labels).astype(str)
    levels, codes = np.unique(labels, return_inverse=True)
    z = _standardise(x)
    if pcs is None:
        pcs, share = _pca(z, n_pcs)
    else:
        share = pcs.var(axis=0, ddof=1) / max(pcs.var(axis=0, ddof=1).sum(), 1e-300)
    out: dict[str, float] = {}
    out["silhouette"] = float(silhouette_score(pcs, codes)) if levels.size > 1 else np.nan

    # kBET-like: neighbourhood batch composition against the cohort's
    sizes = np.bincount(codes)
    k = n_neighbors or max(5, int(round(0.25 * sizes.mean())))
    k = min(k, x.shape[0] - 1)
    neighbours = NearestNeighbors(n_neighbors=k + 1).fit(pcs).kneighbors(pcs)[1][:, 1:]
    observed = np.stack([(codes[neighbours] == b).sum(axis=1) for b in range(levels.size)], 1)
    expected = k * sizes / sizes.sum()
    chi2 = ((observed - expected) ** 2 / expected).sum(axis=1)
    out["kbet_rejection_rate"] = float((stats.chi2.sf(chi2, levels.size - 1) < 0.05).mean())

    onehot = (codes[:, None] == np.arange(1, levels.size)[None, :]).astype(float)
    pc_r2 = _r2_of_design(pcs, onehot)
    out["pc_regression_r2"] = float(np.nansum(pc_r2 * share) / share.sum())
    r2 = _r2_of_design(x, onehot)
    out["batch_r2_mean"] = float(np.nanmean(r2))
    n, g = x.shape[0], levels.size
    with np.errstate(divide="ignore", invalid="ignore"):
        f = (r2 / (g - 1)) / ((1 - r2) / (n - g))
    p = stats.f.sf(f, g - 1, n - g)
    q = adjust_pvalues(np.where(np.isfinite(p), p, np.nan), "bh")
    out["fraction_features_batch_q05"] = float(np.nanmean(q < 0.05))
    for name, design in (covariates or {}).items():
        out[f"covariate_r2_mean[{name}]"] = float(np.nanmean(_r2_of_design(x, design)))
    return out


def _labels(mdata, adata, batch_key: str) -> np.ndarray:
    batch = obs_for(mdata, adata, [batch_key])[batch_key]
    if batch.isna().any():
        who = list(batch.index[batch.isna()][:5])
        raise CohortError(
            f"{int(batch.isna().sum())} patient(s) have no {batch_key!r}",
            column=batch_key,
            expected="a batch for every patient of the modality",
            found=who,
        )
    return batch.astype(str).to_numpy()


def _covariate_blocks(frame: pd.DataFrame, covariates: Sequence[str]):
    """The covariate design matrix, its column names, and the columns per covariate."""
    if not covariates:
        return np.empty((len(frame), 0)), [], {}
    design, names = design_matrix(frame, covariates, where="the cohort's clinical columns")
    if np.isnan(design).any():
        row, column = map(int, np.argwhere(np.isnan(design))[0])
        raise CohortError(
            "a covariate of the harmonisation is missing for a patient",
            row=str(frame.index[row]),
            column=names[column],
            expected="a value for every patient",
            found="missing",
            hint="Fill it in or leave the covariate out",
        )
    blocks = {}
    for covariate in covariates:
        blocks[covariate] = design[
            :, [i for i, n in enumerate(names) if n == covariate or n.startswith(f"{covariate}[T.")]
        ]
    return design, names, blocks


@keyword_only("mod")
def batch_separation(
    mdata: md.MuData | AnnData,
    mod: str = "radiomics",
    batch_key: str = "site",
    *,
    covariates: str | Sequence[str] = (),
    layer: str | None = None,
    n_pcs: int = 10,
    n_neighbors: int | None = None,
) -> pd.DataFrame:
    """How strongly the patients of a modality separate by batch (see
    :data:`SCORE_DESCRIPTIONS`).

    Returns
    -------
    pandas.DataFrame
        Columns ``metric``, ``value``, ``description``.

    See Also
    --------
    harmonize : ComBat correction, with these scores before and after.

    Examples
    --------
    >>> import radiogenomics as rg
    >>> mdata = rg.datasets.toy_cohort(n_patients=40)
    >>> rad = mdata["radiomics"]
    >>> site_b = (mdata.obs["site"] == "site_B").to_numpy()
    >>> rad.X[site_b] += 2 * rad.X.std(axis=0)  # a scanner shift at site B
    >>> scores = rg.pp.batch_separation(mdata, mod="radiomics", batch_key="site")
    >>> scores["metric"].tolist()
    ['silhouette', 'kbet_rejection_rate', 'pc_regression_r2', 'batch_r2_mean',
     'fraction_features_batch_q05']
    >>> scores.set_index("metric")["value"].round(2)[["silhouette", "batch_r2_mean"]].tolist()
    [0.46, 0.53]
    """
    adata = get_modality(mdata, mod)
    x = values(adata, layer)
    check_finite(x, adata, "the batch separation score")
    covariates = as_list(covariates)
    frame = obs_for(mdata, adata, covariates)
    _, _, blocks = _covariate_blocks(frame, covariates)
    scores = separation_scores(
        x, _labels(mdata, adata, batch_key), n_pcs=n_pcs, n_neighbors=n_neighbors, covariates=blocks
    )
    return pd.DataFrame(
        {
            "metric": list(scores),
            "value": list(scores.values()),
            "description": [
                SCORE_DESCRIPTIONS.get(
                    m.split("[")[0], "mean variance of the features explained by the covariate"
                )
                for m in scores
            ],
        }
    )


def _batch_codes(labels: np.ndarray, batch_key: str):
    """The batch levels, each patient's code and the batch sizes; two batches of two
    patients at least."""
    levels, codes = np.unique(labels, return_inverse=True)
    if levels.size < 2:
        raise CohortError(
            f"harmonisation needs at least two batches in {batch_key!r}",
            column=batch_key,
            expected="two or more batches",
            found=list(levels),
        )
    sizes = np.bincount(codes)
    if (sizes < 2).any():
        raise CohortError(
            "every batch needs at least two patients",
            column=batch_key,
            expected="two or more patients per batch",
            found=dict(zip(levels.tolist(), sizes.tolist())),
        )
    return levels, codes, sizes


def _fit_combat(
    x, codes, design, batch_key: str, *, mean_only, parametric, convention
) -> CombatModel:
    """The ComBat model, a fitting failure reported as a cohort error on the batch."""
    try:
        return combat_fit(
            x, codes, design, mean_only=mean_only, parametric=parametric, convention=convention
        )
    except ValueError as exc:
        raise CohortError(
            f"ComBat cannot be fitted: {exc}",
            column=batch_key,
            hint="Check that no covariate is confounded with the batch",
        ) from None


def _before_after(x, corrected, labels, blocks, n_pcs: int, n_neighbors):
    """Batch separation scores before and after correction, and the principal components
    they were computed on."""
    pcs_before, _ = _pca(_standardise(x), n_pcs)
    pcs_after, _ = _pca(_standardise(corrected), n_pcs)
    before = separation_scores(
        x, labels, pcs=pcs_before, n_neighbors=n_neighbors, covariates=blocks
    )
    after = separation_scores(
        corrected, labels, pcs=pcs_after, n_neighbors=n_neighbors, covariates=blocks
    )
    table = pd.DataFrame(
        {
            "metric": list(before),
            "before": list(before.values()),
            "after": [after[m] for m in before],
            "description": [
                SCORE_DESCRIPTIONS.get(
                    m.split("[")[0],
                    "mean variance of the features explained by the covariate (kept)",
                )
                for m in before
            ],
        }
    )
    return table, pcs_before, pcs_after


def _combat_parameters(model: CombatModel, var_names, names, levels) -> pd.DataFrame:
    """The fitted ComBat parameters per feature, as stored for new patients."""
    per_feature = pd.DataFrame(
        {
            "grand_mean": model.grand_mean,
            "var_pooled": model.var_pooled,
            "adjusted": model.adjusted,
        },
        index=var_names,
    )
    for i, name in enumerate(names):
        per_feature[f"coef[{name}]"] = model.covariate_coef[i]
    for b, level in enumerate(levels):
        per_feature[f"gamma[{level}]"] = model.gamma_star[b]
        per_feature[f"delta[{level}]"] = model.delta_star[b]
    return per_feature


@keyword_only("mod")
def harmonize(
    mdata: md.MuData | AnnData,
    mod: str = "radiomics",
    batch_key: str = "site",
    covariates: str | Sequence[str] = (),
    *,
    mean_only: bool = False,
    parametric: bool = True,
    convention: str = "sva",
    n_pcs: int = 10,
    n_neighbors: int | None = None,
    key_added: str | None = None,
) -> pd.DataFrame:
    """ComBat correction of scanner or site effects, keeping biological covariates.

    The location/scale batch model of ComBat (Johnson et al. 2007) is fitted with
    empirical Bayes shrinkage across features, as R's ``sva::ComBat`` (or, with
    ``convention="scanpy"``, as ``scanpy.pp.combat``); the covariates' effects are kept in
    the corrected values. The fitted parameters are stored, so
    :func:`rg.pp.apply_preprocessing` corrects new patients of the same batches.

    Parameters
    ----------
    mdata
        The cohort (or a modality's AnnData); ``X`` is replaced by the corrected values.
    mod
        Modality.
    batch_key
        Clinical column (of ``mdata.obs``, or the modality's ``obs``) naming the batch:
        scanner, site or protocol.
    covariates
        Biological covariates whose signal must be kept (numeric, or categorical
        expanded to indicators). Leaving out a covariate that is unbalanced across
        batches removes part of its signal with the batch.
    mean_only
        Correct only the batch means (for small batches or when the spread is biological).
    parametric
        Parametric priors (default; ``sva::ComBat(par.prior=TRUE)``) or, with ``False``,
        sva's non-parametric prior (``par.prior=FALSE``) for effects far from normal.
    convention
        ``"sva"`` (default): the prior variance of the additive batch effects as R's
        ``sva::ComBat`` (denominator ``p - 1``). ``"scanpy"``: as ``scanpy.pp.combat``
        (denominator ``p``; analyses made before this option reproduce with it). Both
        are recorded in the stored parameters.
    n_pcs, n_neighbors
        Settings of the separation scores (principal components, neighbours).
    key_added
        Name of the stored score table (default: the modality).

    Returns
    -------
    pandas.DataFrame
        Batch separation before and after: ``metric``, ``before``, ``after``,
        ``description`` (see :data:`SCORE_DESCRIPTIONS`; ``covariate_r2_mean[...]`` rows
        show that the covariates' signal is kept). Stored in the cohort as
        ``rg.get_result(mdata, "harmonization", key_added)``. The principal components
        before and after are in the modality's ``obsm["X_pca_unharmonized"]`` and
        ``obsm["X_pca_harmonized"]`` (for ``rg.pl.batch_before_after``).

    See Also
    --------
    batch_separation : the scores alone, without correcting.
    radiogenomics.pl.batch_before_after : the patients before and after, by batch.

    Examples
    --------
    >>> import radiogenomics as rg
    >>> mdata = rg.datasets.toy_cohort(n_patients=40)
    >>> rad = mdata["radiomics"]
    >>> site_b = (mdata.obs["site"] == "site_B").to_numpy()
    >>> rad.X[site_b] += 2 * rad.X.std(axis=0)  # a scanner shift at site B
    >>> table = rg.pp.harmonize(mdata, mod="radiomics", batch_key="site", covariates=["age"])
    >>> r2 = table.set_index("metric").loc["batch_r2_mean"]  # variance explained by site
    >>> round(float(r2["before"]), 2), round(float(r2["after"]), 2)
    (0.53, 0.01)
    >>> table["metric"].iloc[-1]
    'covariate_r2_mean[age]'
    >>> sorted(rad.obsm)
    ['X_pca_harmonized', 'X_pca_unharmonized']
    """
    if convention not in CONVENTIONS:
        raise InputError(
            "unknown ComBat convention",
            column="convention",
            expected=f"one of {list(CONVENTIONS)}",
            found=convention,
        )
    adata = get_modality(mdata, mod)
    x = values(adata)
    check_finite(x, adata, "ComBat harmonisation")
    covariates = as_list(covariates)
    if batch_key in covariates:
        raise CohortError("the batch cannot also be a covariate", column=batch_key)
    labels = _labels(mdata, adata, batch_key)
    levels, codes, sizes = _batch_codes(labels, batch_key)
    frame = obs_for(mdata, adata, covariates)
    design, names, blocks = _covariate_blocks(frame, covariates)
    model = _fit_combat(
        x,
        codes,
        design,
        batch_key,
        mean_only=mean_only,
        parametric=parametric,
        convention=convention,
    )
    corrected = combat_apply(x, codes, model, design)
    table, pcs_before, pcs_after = _before_after(x, corrected, labels, blocks, n_pcs, n_neighbors)
    per_feature = _combat_parameters(model, adata.var_names, names, levels)
    keep_raw(adata)
    adata.X = corrected
    adata.obsm["X_pca_unharmonized"] = pcs_before
    adata.obsm["X_pca_harmonized"] = pcs_after
    adata.obs[f"harmonize_{batch_key}"] = pd.Categorical(labels, categories=list(levels))
    adata.var["combat_adjusted"] = model.adjusted
    params = {
        "mod": mod,
        "batch_key": batch_key,
        "batch_levels": [str(v) for v in levels],
        "batch_sizes": [int(v) for v in sizes],
        "covariates": covariates,
        "covariate_columns": names,
        "mean_only": bool(mean_only),
        "parametric": bool(parametric),
        "convention": convention,
        "n_pcs": n_pcs,
        "n_features_adjusted": int(model.adjusted.sum()),
    }
    record_step(adata, "harmonize", params, per_feature)
    if isinstance(mdata, md.MuData):
        store_result(mdata, "harmonization", key_added or mod, table, params)
    return table


def _apply_combat_step(
    x: np.ndarray, entry: dict, params: pd.DataFrame, obs: pd.DataFrame, patients: list[str]
) -> np.ndarray:
    """Repeat a stored ComBat step on new patients (see ``apply_preprocessing``)."""
    batch_key = entry["batch_key"]
    levels = [str(v) for v in entry["batch_levels"]]
    if batch_key not in obs.columns:
        raise InputError(
            f"the new patients have no {batch_key!r} column",
            column=batch_key,
            expected=f"their batch, one of {levels}",
            hint="Pass obs= with the batch of each new patient",
        )
    batch = obs[batch_key].astype(object).where(obs[batch_key].notna(), None)
    codes = np.empty(len(patients), dtype=np.int64)
    for i, value in enumerate(batch):
        if value is None or str(value) not in levels:
            raise InputError(
                "a new patient's batch was not part of the harmonisation",
                row=patients[i],
                column=batch_key,
                expected=f"one of {levels}",
                found=value,
            )
        codes[i] = levels.index(str(value))
    columns = [str(c) for c in entry.get("covariate_columns", [])]
    design = np.empty((len(patients), len(columns)))
    for j, name in enumerate(columns):
        covariate, _, level = name.partition("[T.")
        if covariate not in obs.columns:
            raise InputError(
                f"the new patients have no covariate {covariate!r}",
                column=covariate,
                expected="the covariates of the harmonisation",
            )
        column = obs[covariate]
        if level:
            level = level[:-1]
            design[:, j] = (column.astype(str) == level).to_numpy(dtype=float)
            design[column.isna().to_numpy(), j] = np.nan
        else:
            design[:, j] = pd.to_numeric(column, errors="coerce").to_numpy(dtype=float)
    if np.isnan(design).any():
        i, j = map(int, np.argwhere(np.isnan(design))[0])
        raise InputError(
            "a new patient lacks a covariate of the harmonisation",
            row=patients[i],
            column=columns[j],
            expected="a value",
            found="missing",
        )
    p = x.shape[1]
    model = CombatModel(
        grand_mean=params["grand_mean"].to_numpy(float),
        var_pooled=params["var_pooled"].to_numpy(float),
        covariate_coef=np.vstack([params[f"coef[{c}]"].to_numpy(float) for c in columns])
        if columns
        else np.empty((0, p)),
        gamma_star=np.vstack([params[f"gamma[{lv}]"].to_numpy(float) for lv in levels]),
        delta_star=np.vstack([params[f"delta[{lv}]"].to_numpy(float) for lv in levels]),
        gamma_hat=np.empty((0, p)),
        delta_hat=np.empty((0, p)),
        gamma_bar=np.empty(0),
        tau2=np.empty(0),
        a_prior=np.empty(0),
        b_prior=np.empty(0),
        adjusted=params["adjusted"].to_numpy(bool),
        n_per_batch=np.empty(0),
    )
    return combat_apply(x, codes, model, design)
