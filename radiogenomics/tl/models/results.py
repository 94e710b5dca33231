"""The result tables of a validated model (predictions, metrics, feature importance),
the checks before a fit, and storing a fitted model's tables in the cohort."""

from __future__ import annotations

import warnings

import mudata as md
import numpy as np
import pandas as pd

from ...cohort import store_result
from ...errors import CohortError
from .card import card_json
from .design import BATCH_PREFIX, ModelInputs, Target, label_text
from .fitted import FittedModel
from .validation import PRIMARY_METRIC, CVResult, performance

__all__ = ["MODEL_KINDS", "metrics_value", "store_model"]

#: Where the tools store their results in ``mdata.uns["radiogenomics"]``.
MODEL_KINDS = {
    "metrics": "models",
    "predictions": "model_predictions",
    "importance": "model_importance",
    "curves": "model_curves",
    "cards": "model_cards",
    "comparison": "model_comparisons",
    "comparison_tests": "model_comparison_tests",
}


def _check_sizes(data: ModelInputs, target: Target, n_splits: int, where: str) -> None:
    n = len(data.patients)
    if n < 2 * n_splits:
        raise CohortError(
            f"too few patients for {n_splits}-fold cross-validation in {where}",
            expected=f"at least {2 * n_splits}",
            found=n,
        )
    if target.task == "classification":
        counts = np.bincount(np.asarray(data.y).astype(int), minlength=2)
        if counts.min() < n_splits:
            raise CohortError(
                f"too few patients in a class of {target.column!r} for {n_splits}-fold "
                f"cross-validation in {where}",
                column=target.column,
                expected=f"at least {n_splits} per class",
                found={
                    label_text(target.negative): int(counts[0]),
                    label_text(target.positive): int(counts[1]),
                },
            )
    if target.task == "survival" and data.event.sum() < n_splits:
        raise CohortError(
            f"too few events for {n_splits}-fold cross-validation in {where}",
            column=target.event,
            expected=f"at least {n_splits}",
            found=int(data.event.sum()),
        )


def _split_test(mdata: md.MuData, test) -> tuple[list[str], list[str]]:
    """Training and test patients from an ``obs`` split."""
    if isinstance(test, str):
        column, value = test, True
    else:
        column, value = test
    if column not in mdata.obs.columns:
        raise CohortError(
            f"the cohort has no column {column!r} to split on",
            column=column,
            expected="an obs column marking the test patients",
            found="no such column",
        )
    series = mdata.obs[column]
    mask = (series == value) | (series.astype(str) == str(value))
    mask = mask.fillna(False).to_numpy(dtype=bool)
    if mask.all() or not mask.any():
        raise CohortError(
            "the test split leaves no training or no test patient",
            column=column,
            expected=f"some patients with {column} == {value!r} and some without",
            found=f"{int(mask.sum())} of {mask.size}",
        )
    names = np.asarray(mdata.obs_names, dtype=str)
    return list(names[~mask]), list(names[mask])


def _observed_columns(data: ModelInputs, target: Target) -> dict[str, np.ndarray]:
    if target.task == "survival":
        return {"time": data.time, "event": data.event.astype(int)}
    if target.task == "classification":
        y = np.asarray(data.y).astype(int)
        return {
            "observed": y,
            "observed_label": np.where(
                y == 1, label_text(target.positive), label_text(target.negative)
            ),
        }
    return {"observed": np.asarray(data.y, float)}


def _prediction_table(
    data: ModelInputs,
    target: Target,
    prediction: np.ndarray,
    where: str,
    threshold: float,
    folds: np.ndarray | None = None,
) -> pd.DataFrame:
    prediction = np.asarray(prediction, float)
    if prediction.ndim == 1:
        prediction = prediction[:, None]
    out = pd.DataFrame({"patient_id": data.patients.astype(str), "set": where})
    for name, values in _observed_columns(data, target).items():
        out[name] = values
    mean = prediction.mean(axis=1)
    out["prediction"] = mean
    out["prediction_sd"] = prediction.std(axis=1, ddof=1) if prediction.shape[1] > 1 else 0.0
    if target.task == "classification":
        out["predicted_label"] = np.where(
            mean >= threshold, label_text(target.positive), label_text(target.negative)
        )
    out["fold"] = folds[:, 0] if folds is not None else -1
    return out


def _importance_table(cv: CVResult, final_used: pd.DataFrame, final_all: list[str]) -> pd.DataFrame:
    n_fits = len(cv.fold_results)
    first = [r for r in cv.fold_results if r["repeat"] == 0]
    counts: dict[str, int] = {}
    coefficients: dict[str, list[float]] = {}
    for result in cv.fold_results:
        used = result["used"]
        for i, feature in enumerate(used["feature"]):
            counts[feature] = counts.get(feature, 0) + 1
            if "coefficient" in used:
                coefficients.setdefault(feature, []).append(float(used["coefficient"].iloc[i]))
    features = list(dict.fromkeys([*counts, *final_used["feature"]]))
    features = [f for f in features if not f.startswith(BATCH_PREFIX)]
    rows = []
    for feature in features:
        drops = (
            np.array([r["importance"].get(feature, 0.0) for r in first]) if first else np.array([])
        )
        measured = any(feature in r["importance"] for r in first)
        source, _, name = feature.partition(":")
        row = {
            "feature": name,
            "source": source,
            "column": feature,
            "selection_frequency": counts.get(feature, 0) / n_fits,
            "n_selected": counts.get(feature, 0),
            "n_fits": n_fits,
            "mean_coefficient": float(np.mean(coefficients[feature]))
            if feature in coefficients
            else np.nan,
            "permutation_importance": float(drops.mean()) if measured else np.nan,
            "permutation_importance_sd": float(drops.std(ddof=1))
            if measured and drops.size > 1
            else np.nan,
            "used_in_final_model": feature in set(final_used["feature"]),
        }
        match = final_used[final_used["feature"] == feature]
        if "coefficient" in final_used:
            row["final_coefficient"] = float(match["coefficient"].iloc[0]) if len(match) else 0.0
        if "impurity_importance" in final_used:
            row["final_impurity_importance"] = (
                float(match["impurity_importance"].iloc[0]) if len(match) else np.nan
            )
        rows.append(row)
    table = pd.DataFrame(rows)
    if table.empty:
        return pd.DataFrame(
            columns=["feature", "source", "column", "selection_frequency", "permutation_importance"]
        )
    table["_abs"] = table["permutation_importance"].abs().fillna(0)
    table = table.sort_values(["selection_frequency", "_abs"], ascending=False).drop(columns="_abs")
    return table.reset_index(drop=True)


def _metrics_table(
    table: pd.DataFrame, data: ModelInputs, target: Target, where: str, n_repeats: int
) -> pd.DataFrame:
    table = table.copy()
    table.insert(0, "validation", where)
    table["n"] = len(data.patients)
    if target.task == "classification":
        table["n_positive"] = int(np.asarray(data.y).sum())
    elif target.task == "survival":
        table["n_events"] = int(data.event.sum())
    table["n_repeats"] = n_repeats
    return table


def _warn_preprocessed(mdata: md.MuData, feature_set) -> None:
    """Warn when a modality's ``X`` carries preprocessing fitted on every patient."""
    for mod in feature_set.modalities:
        if mod in feature_set.layers:
            continue
        steps = mdata.mod[mod].uns.get("radiogenomics", {}).get("preprocessing") or {}
        if not steps:
            continue
        names = ", ".join(str(k).split("_", 1)[-1] for k in steps)
        raw = "raw" in mdata.mod[mod].layers
        warnings.warn(
            f"X of modality {mod!r} was preprocessed on every patient of the cohort ({names}), "
            "so held-out patients shaped it and cross-validated performance may be "
            "optimistic; "
            + (
                f"read the extracted values with layers={{{mod!r}: 'raw'}} "
                "and harmonise inside the folds with harmonize=<batch column>"
                if raw
                else "fit the model on values not yet preprocessed"
            ),
            UserWarning,
            stacklevel=3,
        )


def _default_key(target: Target) -> str:
    return target.column


def _jsonable(value):
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    return value


def _dropped(data: ModelInputs) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for patient, reason in data.dropped.items():
        out.setdefault(str(reason), []).append(str(patient))
    return out


def metrics_value(task: str, y, prediction) -> float:
    """The task's primary metric (AUC, C-index, R^2) of one vector of predictions.

    Examples
    --------
    >>> import numpy as np
    >>> from radiogenomics.tl.models.results import metrics_value
    >>> metrics_value("classification", np.array([0, 0, 1, 1]), [0.1, 0.4, 0.35, 0.8])
    0.75
    """
    table, _ = performance(
        task,
        y,
        np.asarray(prediction, float),
        n_bootstraps=0,
        indices=np.empty((0, len(y)), dtype=int),
    )
    return float(table.set_index("metric").loc[PRIMARY_METRIC[task], "estimate"])


def store_model(mdata: md.MuData, model: FittedModel, key: str | None = None) -> None:
    """Store a fitted model's tables and card in the cohort (see :func:`fit_model`).

    Examples
    --------
    >>> import radiogenomics as rg
    >>> mdata = rg.datasets.toy_cohort(n_patients=60)
    >>> model = rg.tl.fit_model(mdata, "egfr_mutant", "radiomics", n_features=5, outer_folds=3,
    ...                         n_repeats=1, n_bootstraps=50, importance_repeats=0)
    >>> from radiogenomics.tl.models import store_model
    >>> store_model(mdata, model, key="egfr_copy")
    >>> "egfr_copy" in mdata.uns["radiogenomics"]["model_cards"]
    True
    """
    key = key or model.name
    summary = {
        "task": model.task,
        "target": model.target.column,
        "event": model.target.event,
        "features": model.feature_set.label,
        "model": model.card.get("pipeline", {}).get("model"),
        "selection": model.card.get("pipeline", {}).get("selection"),
        "n_patients": model.card.get("data", {}).get("n_patients"),
    }
    store_result(mdata, MODEL_KINDS["metrics"], key, model.metrics, params=summary)
    store_result(mdata, MODEL_KINDS["predictions"], key, model.predictions)
    store_result(mdata, MODEL_KINDS["importance"], key, model.importance)
    store_result(mdata, MODEL_KINDS["curves"], key, model.curves)
    root = mdata.uns.setdefault("radiogenomics", {})
    root.setdefault(MODEL_KINDS["cards"], {})[key] = card_json(model.card)
