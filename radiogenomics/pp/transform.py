"""Per-feature transforms with stored parameters: log, Yeo-Johnson, z-scoring, and the
replay of every fitted step on new patients (:func:`apply_preprocessing`)."""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Literal

import mudata as md
import numpy as np
import pandas as pd
from anndata import AnnData
from scipy import stats

from .._compat import keyword_only
from ..errors import CohortError, InputError
from ._modality import (
    copy_option,
    get_modality,
    keep_raw,
    record_step,
    select_features,
    steps,
    values,
)
from .harmonize import _apply_combat_step

__all__ = ["transform", "scale", "apply_preprocessing"]

TransformMethod = Literal["yeo-johnson", "log"]


def _yeo_johnson_lambda(column: np.ndarray) -> float:
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore", RuntimeWarning)
        return float(stats.yeojohnson_normmax(column))


def _forward(
    x: np.ndarray,
    method: np.ndarray,
    lmbda: np.ndarray,
    shift: np.ndarray,
    names: Sequence[str],
    patients: Sequence[str],
    center: np.ndarray | None = None,
    spread: np.ndarray | None = None,
) -> np.ndarray:
    out = x.copy()
    center = np.zeros(x.shape[1]) if center is None else center
    spread = np.ones(x.shape[1]) if spread is None else spread
    for j in np.flatnonzero(method == "yeo-johnson"):
        column = (x[:, j] - center[j]) / spread[j]
        ok = ~np.isnan(column)
        with np.errstate(all="ignore"):
            out[ok, j] = stats.yeojohnson(column[ok], lmbda=lmbda[j])
    for j in np.flatnonzero(method == "log"):
        shifted = x[:, j] + shift[j]
        bad = shifted <= 0
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise InputError(
                f"feature {names[j]!r} cannot be log-transformed with the fitted shift",
                row=str(patients[i]),
                column=str(names[j]),
                expected=f"values above {-shift[j]:g}",
                found=float(x[i, j]),
                hint="Use method='yeo-johnson', which accepts any real value",
            )
        out[:, j] = np.log(shifted)
    return out


@keyword_only("mod")
@copy_option
def transform(
    mdata: md.MuData | AnnData,
    mod: str = "radiomics",
    method: TransformMethod = "yeo-johnson",
    *,
    features=None,
    min_skewness: float | None = None,
    standardize: bool = True,
) -> pd.DataFrame:
    """Log or Yeo-Johnson transform of features, with the fitted parameters stored.

    Parameters
    ----------
    mdata
        The cohort (or a modality's AnnData); changed in place unless ``copy=True``.
    mod
        Modality.
    copy
        Work on a copy of the cohort and return it, leaving ``mdata`` unchanged.
    method
        ``"yeo-johnson"`` (``lambda`` by maximum likelihood per feature, as
        ``scipy.stats.yeojohnson``; accepts any real value) or ``"log"``
        (``log(x + shift)``; the shift is 0 when every value is positive, otherwise
        ``1 - min(x)``).
    features
        Which features: ``None`` (all), a list of names, a boolean ``var`` column or mask.
    min_skewness
        Only transform the chosen features whose absolute sample skewness exceeds this.
    standardize
        For Yeo-Johnson: z-score each feature before fitting ``lambda`` (default). The
        transform is not scale-invariant, and radiomic features confined to a narrow
        range far from zero (``Idmn`` near 1, ``Coarseness`` near 0) otherwise get
        extreme ``lambda`` values and numerically huge results.

    Returns
    -------
    pandas.DataFrame
        Per feature: ``feature``, ``method`` (``"none"`` when left alone), ``center``
        and ``scale`` (the standardisation before Yeo-Johnson), ``lambda``, ``shift``,
        ``skewness_before``, ``skewness_after``. The parameters are stored in
        the modality (``varm`` and ``uns["radiogenomics"]["preprocessing"]``) so that
        :func:`apply_preprocessing` repeats the transform on new patients; the values
        before the first preprocessing step stay in ``layers["raw"]``.

    See Also
    --------
    scale : z-score the transformed features.
    apply_preprocessing : repeat the fitted steps on new patients.

    Examples
    --------
    >>> import radiogenomics as rg
    >>> mdata = rg.datasets.toy_cohort(n_patients=40)
    >>> table = rg.pp.transform(mdata, mod="radiomics", method="yeo-johnson")
    >>> table["method"].value_counts().to_dict()
    {'yeo-johnson': 12}
    >>> list(table.columns)
    ['feature', 'method', 'center', 'scale', 'lambda', 'shift', 'skewness_before',
     'skewness_after']
    >>> rad = mdata["radiomics"]
    >>> sorted(rad.layers), list(rad.uns["radiogenomics"]["preprocessing"])
    (['raw'], ['01_transform'])
    """
    if method not in ("yeo-johnson", "log"):
        raise CohortError("unknown transform", expected="'yeo-johnson' or 'log'", found=method)
    adata = get_modality(mdata, mod)
    x = values(adata)
    chosen = select_features(adata, features)
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        skew_before = stats.skew(x, axis=0, nan_policy="omit")
    skew_before = np.asarray(skew_before, dtype=float)
    if min_skewness is not None:
        chosen &= np.abs(skew_before) > min_skewness
    finite_values = np.isfinite(x) | np.isnan(x)
    chosen &= finite_values.all(axis=0) & (np.nanstd(x, axis=0) > 0)
    kinds = np.where(chosen, method, "none").astype(object)
    lmbda = np.full(adata.n_vars, np.nan)
    shift = np.zeros(adata.n_vars)
    center = np.zeros(adata.n_vars)
    spread = np.ones(adata.n_vars)
    for j in np.flatnonzero(chosen):
        column = x[~np.isnan(x[:, j]), j]
        if method == "yeo-johnson":
            if standardize:
                center[j], spread[j] = column.mean(), column.std(ddof=1)
            lmbda[j] = _yeo_johnson_lambda((column - center[j]) / spread[j])
        else:
            low = column.min()
            shift[j] = 0.0 if low > 0 else 1.0 - low
    names = [str(v) for v in adata.var_names]
    out = _forward(x, kinds, lmbda, shift, names, list(adata.obs_names), center, spread)
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        skew_after = np.asarray(stats.skew(out, axis=0, nan_policy="omit"), dtype=float)
    table = pd.DataFrame(
        {
            "feature": names,
            "method": kinds.astype(str),
            "center": center,
            "scale": spread,
            "lambda": lmbda,
            "shift": shift,
            "skewness_before": skew_before,
            "skewness_after": skew_after,
        }
    )
    keep_raw(adata)
    adata.X = out
    per_feature = table.set_index("feature")[["method", "center", "scale", "lambda", "shift"]]
    record_step(
        adata,
        "transform",
        {
            "method": method,
            "min_skewness": min_skewness,
            "standardize": bool(standardize),
            "n_transformed": int(chosen.sum()),
        },
        per_feature,
    )
    return table


@keyword_only("mod")
@copy_option
def scale(
    mdata: md.MuData | AnnData,
    mod: str = "radiomics",
    method: Literal["zscore", "robust"] = "zscore",
    *,
    max_value: float | None = None,
) -> pd.DataFrame:
    """Centre and scale every feature, with the parameters stored for new patients.

    Parameters
    ----------
    method
        ``"zscore"``: subtract the mean, divide by the standard deviation (``ddof=1``);
        ``"robust"``: subtract the median, divide by the interquartile range / 1.349
        (a standard deviation for normal data). A feature without spread is only centred.
    max_value
        Clip scaled values to ``[-max_value, max_value]``.
    copy
        Work on a copy of the cohort and return it, leaving ``mdata`` unchanged.

    Returns
    -------
    pandas.DataFrame
        Per feature: ``feature``, ``center``, ``scale``.

    See Also
    --------
    transform : log or Yeo-Johnson transform before scaling.
    apply_preprocessing : repeat the fitted steps on new patients.

    Examples
    --------
    >>> import numpy as np
    >>> import radiogenomics as rg
    >>> mdata = rg.datasets.toy_cohort(n_patients=40)
    >>> table = rg.pp.scale(mdata, mod="radiomics", method="zscore")
    >>> list(table.columns), len(table)
    (['feature', 'center', 'scale'], 12)
    >>> x = mdata["radiomics"].X
    >>> bool(np.allclose(x.mean(axis=0), 0)), bool(np.allclose(x.std(axis=0, ddof=1), 1))
    (True, True)
    >>> "raw" in mdata["radiomics"].layers  # the values before scaling
    True
    """
    if method not in ("zscore", "robust"):
        raise CohortError("unknown scaling", expected="'zscore' or 'robust'", found=method)
    adata = get_modality(mdata, mod)
    x = values(adata)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        if method == "zscore":
            center = np.nanmean(x, axis=0)
            spread = np.nanstd(x, axis=0, ddof=1)
        else:
            center = np.nanmedian(x, axis=0)
            q75, q25 = np.nanpercentile(x, [75, 25], axis=0)
            spread = (q75 - q25) / (stats.norm.ppf(0.75) - stats.norm.ppf(0.25))
    spread = np.where(np.isfinite(spread) & (spread > 0), spread, 1.0)
    center = np.where(np.isfinite(center), center, 0.0)
    table = pd.DataFrame(
        {"feature": [str(v) for v in adata.var_names], "center": center, "scale": spread}
    )
    keep_raw(adata)
    adata.X = _scale_forward(x, center, spread, max_value)
    record_step(
        adata, "scale", {"method": method, "max_value": max_value}, table.set_index("feature")
    )
    return table


def _scale_forward(x, center, spread, max_value):
    out = (x - center) / spread
    if max_value is not None:
        out = np.clip(out, -max_value, max_value)
    return out


@keyword_only("mod")
def apply_preprocessing(
    reference: md.MuData | AnnData,
    new: AnnData | pd.DataFrame,
    mod: str = "radiomics",
    *,
    obs: pd.DataFrame | None = None,
) -> AnnData:
    """Apply a modality's fitted preprocessing to new patients.

    Every step fitted on the cohort (transform, harmonisation, scaling, in their order)
    is repeated with the stored parameters, and the features are those the cohort kept
    (after quality control, robustness and redundancy filtering), so that a new patient
    is placed in the same space as the cohort (for a tumor board).

    Parameters
    ----------
    reference
        The curated cohort (or its modality).
    new
        The new patients' raw features (as extracted): an AnnData (patients x features)
        or a DataFrame indexed by patient.
    mod
        Modality of ``reference``.
    obs
        Batch and covariate columns of the new patients, when the cohort was harmonised
        (default: ``new.obs``).

    Returns
    -------
    AnnData
        The new patients x the cohort's features, ``X`` processed, ``layers["raw"]`` the
        values given.

    Raises
    ------
    InputError
        When a new patient lacks a feature the cohort kept, or belongs to a batch the
        harmonisation did not see.

    See Also
    --------
    transform, scale, harmonize : the steps that are repeated.

    Examples
    --------
    >>> import numpy as np
    >>> import pandas as pd
    >>> import radiogenomics as rg
    >>> mdata = rg.datasets.toy_cohort(n_patients=40)
    >>> _ = rg.pp.transform(mdata, mod="radiomics")
    >>> _ = rg.pp.scale(mdata, mod="radiomics")
    >>> rad = mdata["radiomics"]
    >>> new = pd.DataFrame(rad.layers["raw"][:2], index=["NEW1", "NEW2"], columns=rad.var_names)
    >>> out = rg.pp.apply_preprocessing(mdata, new, mod="radiomics")
    >>> out.shape, out.uns["radiogenomics"]["preprocessing_applied"]
    ((2, 12), ['01_transform', '02_scale'])
    >>> bool(np.allclose(out.X, rad.X[:2]))  # placed as the cohort's first two patients
    True
    """

    ref = get_modality(reference, mod)
    if isinstance(new, pd.DataFrame):
        frame = new
        new_obs = pd.DataFrame(index=frame.index.astype(str))
    elif isinstance(new, AnnData):
        frame = pd.DataFrame(values(new), index=new.obs_names, columns=new.var_names)
        new_obs = new.obs.copy()
    else:
        raise InputError("new patients must be an AnnData or a DataFrame", found=type(new).__name__)
    if obs is not None:
        new_obs = obs.reindex(frame.index.astype(str))
    missing = [f for f in ref.var_names if f not in frame.columns]
    if missing:
        raise InputError(
            f"the new patients lack {len(missing)} feature(s) the cohort uses",
            expected="every feature of the curated modality",
            found=missing[:5],
            hint="Extract them with the same settings as the cohort",
        )
    x = frame.loc[:, list(ref.var_names)].to_numpy(dtype=np.float64)
    raw = x.copy()
    names = [str(v) for v in ref.var_names]
    patients = [str(i) for i in frame.index]
    for name, entry in steps(ref).items():
        params = ref.varm[entry["varm"]] if "varm" in entry else None
        kind = entry["step"]
        if kind == "transform":
            x = _forward(
                x,
                params["method"].to_numpy(dtype=object),
                params["lambda"].to_numpy(dtype=float),
                params["shift"].to_numpy(dtype=float),
                names,
                patients,
                params["center"].to_numpy(dtype=float),
                params["scale"].to_numpy(dtype=float),
            )
        elif kind == "scale":
            x = _scale_forward(
                x,
                params["center"].to_numpy(float),
                params["scale"].to_numpy(float),
                entry.get("max_value"),
            )
        elif kind == "harmonize":
            bad = ~np.isfinite(x)
            if bad.any():
                i, j = map(int, np.argwhere(bad)[0])
                raise InputError(
                    "harmonisation needs complete values",
                    row=patients[i],
                    column=names[j],
                    expected="a number",
                    found="missing",
                )
            x = _apply_combat_step(x, entry, params, new_obs, patients)
        else:
            raise CohortError(f"unknown preprocessing step {name!r}", found=kind)
    out = AnnData(X=x, obs=new_obs.set_axis(pd.Index(patients)), var=ref.var.copy())
    out.layers["raw"] = raw
    out.uns["radiogenomics"] = {"preprocessing_applied": list(steps(ref))}
    return out
