"""Shared plumbing of the preprocessing functions: the modality of a cohort, its clinical
columns aligned on its patients, the record of fitted steps, and the ``raw`` layer."""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import mudata as md
import numpy as np
import pandas as pd
from anndata import AnnData

from ..cohort import _clean_uns
from ..errors import CohortError

#: Where the fitted preprocessing steps are recorded in a modality's ``uns``.
STEPS_KEY = "preprocessing"


def get_modality(data: md.MuData | AnnData, mod: str) -> AnnData:
    """The AnnData of modality ``mod`` (or ``data`` itself when it is an AnnData)."""
    if isinstance(data, AnnData):
        return data
    if not isinstance(data, md.MuData):
        raise CohortError(
            "expected a cohort (MuData) or a modality (AnnData)", found=type(data).__name__
        )
    if mod not in data.mod:
        raise CohortError(
            f"the cohort has no modality {mod!r}", expected=f"one of {list(data.mod)}", found=mod
        )
    return data.mod[mod]


def subset_features(data: md.MuData | AnnData, mod: str, keep: np.ndarray) -> AnnData:
    """Keep the features in the boolean mask ``keep`` (in place) and return the modality."""
    adata = get_modality(data, mod)
    keep = np.asarray(keep, dtype=bool)
    if keep.all():
        return adata
    if isinstance(data, AnnData):
        adata._inplace_subset_var(keep)  # noqa: SLF001  (as scanpy's filter_genes)
        return adata
    data.mod[mod] = adata[:, keep].copy()
    data.update()
    return data.mod[mod]


def dense(matrix) -> np.ndarray:
    if hasattr(matrix, "toarray"):
        matrix = matrix.toarray()
    return np.array(matrix, dtype=np.float64)


def values(adata: AnnData, layer: str | None = None) -> np.ndarray:
    if layer is None:
        return dense(adata.X)
    if layer not in adata.layers:
        raise CohortError(
            f"the modality has no layer {layer!r}",
            expected=f"one of {list(adata.layers)}",
            found=layer,
        )
    return dense(adata.layers[layer])


def obs_for(data: md.MuData | AnnData, adata: AnnData, columns: Sequence[str]) -> pd.DataFrame:
    """Columns for the modality's patients: the cohort's clinical columns (aligned by
    patient ID) or, failing that, the modality's own ``obs``."""
    frame = pd.DataFrame(index=adata.obs_names)
    for column in columns:
        if isinstance(data, md.MuData) and column in data.obs.columns:
            series = data.obs[column]
            frame[column] = series.reindex(adata.obs_names).values
        elif column in adata.obs.columns:
            frame[column] = adata.obs[column].values
        else:
            known = list(map(str, data.obs.columns)) if isinstance(data, md.MuData) else []
            known += [c for c in map(str, adata.obs.columns) if c not in known]
            raise CohortError(
                f"no column {column!r} in the cohort's clinical data or the modality's obs",
                column=column,
                expected=f"one of {known[:15]}",
                found="no such column",
            )
    return frame


def check_finite(x: np.ndarray, adata: AnnData, what: str) -> None:
    """Refuse missing or infinite values, naming the features that hold them."""
    bad = ~np.isfinite(x)
    if bad.any():
        columns = np.flatnonzero(bad.any(axis=0))
        names = [str(adata.var_names[j]) for j in columns[:5]]
        raise CohortError(
            f"{what} needs complete values; {columns.size} feature(s) have missing or "
            f"infinite values, e.g. {names}",
            expected="finite values for every patient",
            found=f"{int(bad.sum())} missing",
            hint="Drop them with rg.pp.filter_features(max_missing=0) or impute them first",
        )


def keep_raw(adata: AnnData) -> None:
    """Keep the values as first seen in ``layers["raw"]`` before a step changes ``X``."""
    if "raw" not in adata.layers:
        adata.layers["raw"] = dense(adata.X)


def steps(adata: AnnData) -> dict[str, dict]:
    """The fitted preprocessing steps of a modality, in order (``"01_transform"``, ...)."""
    info = adata.uns.get("radiogenomics", {})
    recorded = info.get(STEPS_KEY, {}) if isinstance(info, Mapping) else {}
    return {k: dict(recorded[k]) for k in sorted(recorded)}


def record_step(
    adata: AnnData, step: str, params: Mapping[str, Any], per_feature: pd.DataFrame | None = None
) -> str:
    """Append a fitted step to the modality's record; per-feature parameters go to
    ``varm["pp_<NN>_<step>"]`` so that they follow any later subset of features."""
    info = adata.uns.setdefault("radiogenomics", {})
    recorded = info.setdefault(STEPS_KEY, {})
    name = f"{len(recorded) + 1:02d}_{step}"
    entry = {"step": step, **_clean_uns(dict(params))}
    if per_feature is not None:
        entry["varm"] = f"pp_{name}"
        frame = per_feature.reindex(adata.var_names)
        frame.index = adata.var_names.copy()
        adata.varm[f"pp_{name}"] = frame
    recorded[name] = entry
    return name


def has_step(adata: AnnData, step: str) -> bool:
    return any(entry.get("step") == step for entry in steps(adata).values())


def select_features(adata: AnnData, features) -> np.ndarray:
    """A boolean mask over ``var`` from ``None`` (all), a ``var`` boolean column name,
    a list of names or a boolean array."""
    if features is None:
        return np.ones(adata.n_vars, dtype=bool)
    if isinstance(features, str):
        if features in adata.var.columns:
            column = adata.var[features]
            if not pd.api.types.is_bool_dtype(column.dtype):
                raise CohortError(
                    f"var column {features!r} is not boolean",
                    column=features,
                    expected="True/False per feature",
                    found=str(column.dtype),
                )
            return column.to_numpy(dtype=bool)
        features = [features]
    array = np.asarray(features)
    if array.dtype == bool:
        if array.shape != (adata.n_vars,):
            raise CohortError(
                "a boolean feature mask must have one value per feature",
                expected=str(adata.n_vars),
                found=str(array.shape),
            )
        return array
    names = [str(f) for f in features]
    missing = [f for f in names if f not in adata.var_names]
    if missing:
        raise CohortError(
            f"{len(missing)} feature(s) are not in the modality",
            expected="names from var_names",
            found=missing[:5],
        )
    return adata.var_names.isin(names)


def copy_option(tool: Callable) -> Callable:
    """Give a tool that modifies a modality the ``copy=False`` argument: with ``copy=True``
    it works on a copy of the cohort, which it returns (its tables stored in the copy),
    and the cohort passed in stays as it was."""

    @functools.wraps(tool)
    def wrapper(data, *args, copy: bool = False, **kwargs):
        if not copy:
            return tool(data, *args, **kwargs)
        data = data.copy()
        tool(data, *args, **kwargs)
        return data

    signature = inspect.signature(tool)
    parameters = list(signature.parameters.values())
    copy_parameter = inspect.Parameter(
        "copy", inspect.Parameter.KEYWORD_ONLY, default=False, annotation="bool"
    )
    wrapper.__signature__ = signature.replace(parameters=[*parameters, copy_parameter])
    return wrapper
