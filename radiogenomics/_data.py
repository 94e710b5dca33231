"""Getting numbers out of a cohort: modality matrices aligned on patients, clinical
columns, and covariate design matrices with categorical columns expanded."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import mudata as md
import numpy as np
import pandas as pd

from .errors import CohortError

__all__ = ["Block", "modality_block", "obs_block", "variables", "design_matrix", "as_list"]


@dataclass
class Block:
    """Numbers of one side of an analysis, aligned on the cohort's patients.

    Attributes
    ----------
    values
        Patients x variables, float64, NaN where a patient has no value (including
        patients absent from the modality).
    names
        Variable names (features, genes or clinical columns).
    source
        Modality name, or ``"clinical"`` for columns of ``mdata.obs``.
    patients
        The row labels (the cohort's ``obs_names``).
    """

    values: np.ndarray
    names: list[str]
    source: str
    patients: pd.Index


def as_list(value: str | Sequence[str] | None) -> list[str]:
    """``None`` -> ``[]``, a string -> ``[string]``, a sequence -> a list."""
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    return list(value)


def _dense(matrix) -> np.ndarray:
    if hasattr(matrix, "toarray"):
        matrix = matrix.toarray()
    return np.asarray(matrix, dtype=np.float64)


def modality_block(
    mdata: md.MuData,
    mod: str,
    features: Sequence[str] | None = None,
    layer: str | None = None,
) -> Block:
    """A modality's values on the cohort's patients (NaN rows for absent patients)."""
    if mod not in mdata.mod:
        raise CohortError(
            f"the cohort has no modality {mod!r}", expected=f"one of {list(mdata.mod)}", found=mod
        )
    adata = mdata.mod[mod]
    if features is not None:
        features = list(features)
        missing = [f for f in features if f not in adata.var_names]
        if missing:
            raise CohortError(
                f"{len(missing)} feature(s) are not in modality {mod!r}",
                expected="names from var_names",
                found=missing[:5],
            )
        adata = adata[:, features]
    if layer is not None and layer not in adata.layers:
        raise CohortError(
            f"modality {mod!r} has no layer {layer!r}", expected=f"one of {list(adata.layers)}"
        )
    matrix = _dense(adata.layers[layer] if layer else adata.X)
    patients = pd.Index(mdata.obs_names)
    if adata.obs_names.equals(patients):
        values = matrix
    else:
        position = pd.Index(adata.obs_names).get_indexer(patients)
        values = np.full((patients.size, matrix.shape[1]), np.nan)
        present = position >= 0
        values[present] = matrix[position[present]]
    return Block(
        values=values, names=[str(v) for v in adata.var_names], source=mod, patients=patients
    )


def obs_block(mdata: md.MuData, columns: Sequence[str]) -> Block:
    """Numeric clinical columns of ``mdata.obs`` (booleans as 0/1; categories refused)."""
    columns = as_list(columns)
    values = []
    for column in columns:
        series = _obs_column(mdata, column)
        if isinstance(series.dtype, pd.CategoricalDtype) or not (
            pd.api.types.is_numeric_dtype(series.dtype) or pd.api.types.is_bool_dtype(series.dtype)
        ):
            raise CohortError(
                f"clinical column {column!r} is not numeric",
                column=column,
                expected="numbers (or use it as a covariate or a grouping)",
                found=str(series.dtype),
            )
        values.append(pd.to_numeric(series, errors="coerce").to_numpy(dtype=float, na_value=np.nan))
    matrix = np.column_stack(values) if values else np.empty((mdata.n_obs, 0))
    return Block(
        values=matrix, names=columns, source="clinical", patients=pd.Index(mdata.obs_names)
    )


def _obs_column(mdata: md.MuData, column: str) -> pd.Series:
    if column not in mdata.obs.columns:
        raise CohortError(
            f"the cohort has no clinical column {column!r}",
            column=column,
            expected=f"one of {list(map(str, mdata.obs.columns))[:15]}",
            found="no such column",
        )
    return mdata.obs[column]


def variables(mdata: md.MuData, spec: str | Sequence[str]) -> Block:
    """A modality (by name) or clinical columns (a list of ``obs`` column names)."""
    if isinstance(spec, str) and spec in mdata.mod:
        return modality_block(mdata, spec)
    names = as_list(spec)
    if isinstance(spec, str) and spec not in mdata.obs.columns:
        raise CohortError(
            f"{spec!r} is neither a modality nor a clinical column of the cohort",
            expected=f"a modality ({list(mdata.mod)}) or an obs column",
            found=spec,
        )
    return obs_block(mdata, names)


def design_matrix(
    obs: pd.DataFrame, covariates: Sequence[str], *, where: str = "mdata.obs"
) -> tuple[np.ndarray, list[str]]:
    """Covariates as a numeric matrix; categorical columns become indicator columns.

    Numeric and boolean columns are used as they are. Categorical or text columns are
    expanded to one 0/1 column per level except the first (the reference level, as in
    statsmodels formulas: ``stage[T.II]``); the order of a pandas categorical is kept,
    other text is sorted. A missing value gives NaN in every column of that covariate
    (the patient is left out of complete-case fits).

    Returns
    -------
    (values, names)
        ``values`` is patients x columns (float64) in the row order of ``obs``.
    """
    blocks, names = [], []
    for column in as_list(covariates):
        if column not in obs.columns:
            raise CohortError(
                f"unknown covariate {column!r}",
                column=column,
                expected=f"a column of {where}: {list(map(str, obs.columns))[:15]}",
                found="no such column",
            )
        series = obs[column]
        if series.notna().sum() == 0:
            raise CohortError(
                f"covariate {column!r} has no value at all",
                column=column,
                expected="values for at least some patients",
                found="all missing",
            )
        numeric = pd.api.types.is_numeric_dtype(series.dtype) and not isinstance(
            series.dtype, pd.CategoricalDtype
        )
        if numeric or pd.api.types.is_bool_dtype(series.dtype):
            values = pd.to_numeric(series, errors="coerce").to_numpy(dtype=float, na_value=np.nan)
            blocks.append(values[:, None])
            names.append(column)
            continue
        if isinstance(series.dtype, pd.CategoricalDtype):
            levels = [lv for lv in series.cat.categories if (series == lv).any()]
        else:
            levels = sorted(series.dropna().astype(str).unique())
            series = series.astype(object).where(series.isna(), series.astype(str))
        if len(levels) < 2:
            raise CohortError(
                f"covariate {column!r} has a single level",
                column=column,
                expected="at least two levels",
                found=levels,
            )
        missing = series.isna().to_numpy()
        for level in levels[1:]:
            indicator = (series == level).to_numpy(dtype=float)
            indicator[missing] = np.nan
            blocks.append(indicator[:, None])
            names.append(f"{column}[T.{level}]")
    if not blocks:
        return np.empty((len(obs), 0)), []
    return np.hstack(blocks), names
