"""Cohort-level tools: ``fit_model``, ``compare_models`` and ``predict``."""

from __future__ import annotations

import hashlib
import itertools
import os
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import mudata as md
import numpy as np
import pandas as pd

from ...cohort import store_result
from ...errors import CohortError, InputError
from ...stats.classification import delong_test
from .design import (
    BATCH_PREFIX,
    ModelInputs,
    Target,
    assemble,
    label_text,
    parse_features,
    parse_target,
)
from .estimators import build_pipeline, learner_name
from .fitted import FittedModel, card_json, now_utc, versions
from .validation import (
    PRIMARY_METRIC,
    CVResult,
    bootstrap_replicates,
    curves,
    default_times,
    final_estimator,
    nested_cross_validation,
    performance,
    permutation_test,
    predict_scores,
    tuned,
    used_features,
)

__all__ = ["fit_model", "compare_models", "predict", "run_model", "ModelComparison",
           "MODEL_KINDS"]

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
        raise CohortError(f"too few patients for {n_splits}-fold cross-validation in {where}",
                          expected=f"at least {2 * n_splits}", found=n)
    if target.task == "classification":
        counts = np.bincount(np.asarray(data.y).astype(int), minlength=2)
        if counts.min() < n_splits:
            raise CohortError(
                f"too few patients in a class of {target.column!r} for {n_splits}-fold "
                f"cross-validation in {where}", column=target.column,
                expected=f"at least {n_splits} per class",
                found={label_text(target.negative): int(counts[0]), label_text(target.positive): int(counts[1])})
    if target.task == "survival" and data.event.sum() < n_splits:
        raise CohortError(f"too few events for {n_splits}-fold cross-validation in {where}",
                          column=target.event, expected=f"at least {n_splits}",
                          found=int(data.event.sum()))


def _split_test(mdata: md.MuData, test) -> tuple[list[str], list[str]]:
    """Training and test patients from an ``obs`` split."""
    if isinstance(test, str):
        column, value = test, True
    else:
        column, value = test
    if column not in mdata.obs.columns:
        raise CohortError(f"the cohort has no column {column!r} to split on", column=column,
                          expected="an obs column marking the test patients",
                          found="no such column")
    series = mdata.obs[column]
    mask = (series == value) | (series.astype(str) == str(value))
    mask = mask.fillna(False).to_numpy(dtype=bool)
    if mask.all() or not mask.any():
        raise CohortError("the test split leaves no training or no test patient", column=column,
                          expected=f"some patients with {column} == {value!r} and some without",
                          found=f"{int(mask.sum())} of {mask.size}")
    names = np.asarray(mdata.obs_names, dtype=str)
    return list(names[~mask]), list(names[mask])


def _observed_columns(data: ModelInputs, target: Target) -> dict[str, np.ndarray]:
    if target.task == "survival":
        return {"time": data.time, "event": data.event.astype(int)}
    if target.task == "classification":
        y = np.asarray(data.y).astype(int)
        return {"observed": y, "observed_label": np.where(y == 1, label_text(target.positive),
                                                          label_text(target.negative))}
    return {"observed": np.asarray(data.y, float)}


def _prediction_table(data: ModelInputs, target: Target, prediction: np.ndarray, where: str,
                      threshold: float, folds: np.ndarray | None = None) -> pd.DataFrame:
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
        out["predicted_label"] = np.where(mean >= threshold, label_text(target.positive),
                                          label_text(target.negative))
    out["fold"] = folds[:, 0] if folds is not None else -1
    return out


def _importance_table(cv: CVResult, final_used: pd.DataFrame, final_all: list[str]
                      ) -> pd.DataFrame:
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
        drops = np.array([r["importance"].get(feature, 0.0) for r in first]) if first else \
            np.array([])
        measured = any(feature in r["importance"] for r in first)
        source, _, name = feature.partition(":")
        row = {
            "feature": name, "source": source, "column": feature,
            "selection_frequency": counts.get(feature, 0) / n_fits,
            "n_selected": counts.get(feature, 0), "n_fits": n_fits,
            "mean_coefficient": float(np.mean(coefficients[feature]))
            if feature in coefficients else np.nan,
            "permutation_importance": float(drops.mean()) if measured else np.nan,
            "permutation_importance_sd": float(drops.std(ddof=1))
            if measured and drops.size > 1 else np.nan,
            "used_in_final_model": feature in set(final_used["feature"]),
        }
        match = final_used[final_used["feature"] == feature]
        if "coefficient" in final_used:
            row["final_coefficient"] = float(match["coefficient"].iloc[0]) if len(match) else 0.0
        if "impurity_importance" in final_used:
            row["final_impurity_importance"] = float(match["impurity_importance"].iloc[0]) \
                if len(match) else np.nan
        rows.append(row)
    table = pd.DataFrame(rows)
    if table.empty:
        return pd.DataFrame(columns=["feature", "source", "column", "selection_frequency",
                                     "permutation_importance"])
    table["_abs"] = table["permutation_importance"].abs().fillna(0)
    table = table.sort_values(["selection_frequency", "_abs"], ascending=False).drop(
        columns="_abs")
    return table.reset_index(drop=True)


def _metrics_table(table: pd.DataFrame, data: ModelInputs, target: Target, where: str,
                   n_repeats: int) -> pd.DataFrame:
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
            "optimistic; " + (f"read the extracted values with layers={{{mod!r}: 'raw'}} "
                              "and harmonise inside the folds with harmonize=<batch column>"
                              if raw else "fit the model on values not yet preprocessed"),
            UserWarning, stacklevel=3)


def _default_key(target: Target) -> str:
    return target.column


def fit_model(
    mdata: md.MuData,
    target: str,
    features: str | Sequence[str] | Mapping[str, Sequence[str] | None] = "radiomics",
    *,
    task: str | None = None,
    event: str | None = None,
    positive=None,
    model="penalized",
    selection="univariate",
    n_features: int | Sequence[int] = (5, 10, 20),
    harmonize: str | None = None,
    harmonize_modalities: Sequence[str] = ("radiomics",),
    layers: Mapping[str, str] | None = None,
    redundancy: float | None = None,
    max_missing: float = 0.5,
    param_grid: Mapping[str, Sequence] | None = None,
    outer_folds: int = 5,
    n_repeats: int = 5,
    inner_folds: int = 3,
    test: md.MuData | str | tuple[str, object] | None = None,
    n_bootstraps: int = 1000,
    confidence: float = 0.95,
    n_permutations: int = 0,
    importance_repeats: int = 5,
    threshold: float = 0.5,
    times: Sequence[float] | None = None,
    random_state: int | None = 0,
    n_jobs: int | None = None,
    key_added: str | None = None,
    store: bool = True,
) -> FittedModel:
    """Fit a predictive model of a clinical label, outcome or survival, and validate it
    honestly.

    Every data-driven step (missing-value filtering and imputation, ComBat harmonisation,
    variance filtering, scaling, feature selection and hyper-parameter tuning) is fitted
    inside each training fold of a repeated nested cross-validation, so held-out patients
    never inform the model that predicts them. Performance comes with percentile bootstrap
    confidence intervals; optionally a permutation test of the whole pipeline and an
    external test set. The returned model is refitted (and tuned) on every training
    patient and can score new patients.

    Parameters
    ----------
    mdata
        The cohort.
    target
        ``obs`` column to predict: a two-class label (classification), a number
        (regression), or the follow-up time (survival, with ``event``).
    features
        ``"radiomics"``, ``"radiomics,clinical"``, a list of modalities and ``obs``
        columns, or ``{"radiomics": None, "rna": [genes], "clinical": ["age", "stage"]}``
        (``None``: every feature of the modality; ``"clinical"`` alone: every clinical
        column except the outcome, the batch and columns re-encoding the outcome).
    task
        ``"classification"``, ``"regression"`` or ``"survival"``; inferred by default.
    event
        ``obs`` column of the event indicator (survival).
    positive
        Label of the positive class (classification; default: the second level).
    model
        ``"penalized"`` (ridge logistic / elastic net / elastic-net Cox), ``"logistic"``,
        ``"elastic_net"``, ``"cox"``, ``"random_forest"``, ``"gradient_boosting"``, or a
        scikit-learn / scikit-survival estimator.
    selection
        ``"univariate"``, ``"lasso"``, ``"elastic_net"``, ``"mrmr"``, ``"stability"`` or
        ``None``.
    n_features
        Features kept by the selection; a sequence is tuned by the inner cross-validation.
    harmonize
        ``obs`` column of the batch (scanner, site): ComBat on the ``harmonize_modalities``
        features, fitted on each training fold and applied to its held-out patients.
    layers
        Modality -> layer to read instead of ``X``, e.g. ``{"radiomics": "raw"}`` when
        ``X`` was transformed or harmonised on the whole cohort beforehand (which would let
        held-out patients shape the preprocessing).
    redundancy
        Drop features correlated beyond this absolute Pearson correlation (per fold).
    max_missing
        Largest fraction of missing values a feature may have in a training fold.
    param_grid
        Learner hyper-parameter grid replacing the default (``{}``: no tuning).
    outer_folds, n_repeats, inner_folds
        The nested cross-validation: repeated stratified K-fold outside, K-fold tuning
        inside each outer training fold.
    test
        External validation: a second cohort (MuData), an ``obs`` column marking test
        patients (``True``), or ``(column, value)``. The model is fitted on the others.
    n_bootstraps, confidence
        Percentile bootstrap confidence intervals (resampling patients).
    n_permutations
        Permutations of the target for the permutation test of the whole pipeline
        (0: none).
    importance_repeats
        Shuffles per feature for permutation importance (0: none).
    threshold
        Probability above which a patient is called positive (balanced accuracy, labels).
    times
        Horizons of the time-dependent AUC (survival); default: quartiles of event times.
    random_state
        Seed of every split, bootstrap and permutation.
    n_jobs
        Parallel workers for the cross-validation folds and permutations.
    key_added
        Key of the stored results (default: the target column).
    store
        Store the results in the cohort.

    Returns
    -------
    FittedModel
        ``metrics``, ``predictions``, ``importance``, ``curves`` (tidy tables), ``card``
        (the model card), ``predict()`` and ``save()``. With ``store``, the tables go to
        ``mdata.uns["radiogenomics"]`` under ``models``, ``model_predictions``,
        ``model_importance`` and ``model_curves``, and the card (JSON text) under
        ``model_cards``, all keyed by ``key_added``.
    """
    target_spec = parse_target(mdata, target, task, event, positive)
    task = target_spec.task
    outcome = [c for c in (target_spec.column, target_spec.event) if c is not None]
    feature_set = parse_features(mdata, features, outcome, batch=harmonize, layers=layers)
    if harmonize is not None and harmonize in feature_set.clinical:
        raise InputError("the batch column cannot also be a predictor", column=harmonize)
    _warn_preprocessed(mdata, feature_set)

    external: ModelInputs | None = None
    if test is None:
        data = assemble(mdata, feature_set, target_spec, batch=harmonize)
    elif isinstance(test, md.MuData):
        data = assemble(mdata, feature_set, target_spec, batch=harmonize)
        external = assemble(test, feature_set, target_spec, batch=harmonize,
                            encoding=data.encoding)
    else:
        train_ids, test_ids = _split_test(mdata, test)
        data = assemble(mdata, feature_set, target_spec, batch=harmonize, patients=train_ids)
        external = assemble(mdata, feature_set, target_spec, batch=harmonize,
                            patients=test_ids, encoding=data.encoding)
    _check_sizes(data, target_spec, outer_folds, "the training patients")
    if external is not None and len(external.patients) == 0:
        raise CohortError("no test patient can be used", expected="test patients with the "
                          "target and every modality the model reads", found=0)

    batch_column = None if harmonize is None else f"{BATCH_PREFIX}{harmonize}"
    prefixes = tuple(f"{m}:" for m in harmonize_modalities)
    pipeline, grid = build_pipeline(
        task, model, selection, n_features, batch=batch_column, harmonize_prefixes=prefixes,
        max_missing=max_missing, redundancy=redundancy, param_grid=param_grid,
        random_state=random_state)
    if task == "survival" and times is None:
        times = default_times(data.time, data.event)

    X, y = data.X, data.y
    cv = nested_cross_validation(pipeline, grid, X, y, task, n_splits=outer_folds,
                                 n_repeats=n_repeats, inner_folds=inner_folds,
                                 random_state=random_state,
                                 importance_repeats=importance_repeats, n_jobs=n_jobs)
    indices = bootstrap_replicates(task, y, n_bootstraps, random_state)
    cv_metrics, _ = performance(task, y, cv.predictions, confidence=confidence,
                                threshold=threshold, times=times, indices=indices)
    metrics = [_metrics_table(cv_metrics, data, target_spec, "cross-validation", n_repeats)]
    curve_tables = [curves(task, y, cv.predictions, indices, confidence=confidence
                           ).assign(set="cross-validation")]
    prediction_tables = [_prediction_table(data, target_spec, cv.predictions,
                                           "cross-validation", threshold, cv.folds)]

    permutation = None
    if n_permutations:
        observed = metrics_value(task, y, cv.predictions[:, 0])
        permutation = permutation_test(pipeline, grid, X, y, task, observed=observed,
                                       n_permutations=n_permutations, n_splits=outer_folds,
                                       inner_folds=inner_folds, random_state=random_state,
                                       n_jobs=n_jobs)

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fitted = tuned(pipeline, grid, task, inner_folds, random_state).fit(X, y)
    final = final_estimator(fitted)
    final_used = used_features(final)
    required = [f for f in final_used["feature"] if not f.startswith(BATCH_PREFIX)]
    importance = _importance_table(cv, final_used, required)

    external_summary = None
    if external is not None:
        external_prediction = predict_scores(final, external.X, task)
        ext_indices = bootstrap_replicates(task, external.y, n_bootstraps, random_state)
        ext_metrics, _ = performance(task, external.y, external_prediction,
                                     confidence=confidence, threshold=threshold, times=times,
                                     indices=ext_indices)
        metrics.append(_metrics_table(ext_metrics, external, target_spec, "external", 1))
        curve_tables.append(curves(task, external.y, external_prediction, ext_indices,
                                   confidence=confidence).assign(set="external"))
        prediction_tables.append(_prediction_table(external, target_spec,
                                                   external_prediction, "external", threshold))
        external_summary = {"n_patients": int(len(external.patients)),
                            "patients_dropped": _dropped(external)}

    metrics_table = pd.concat(metrics, ignore_index=True)
    predictions = pd.concat(prediction_tables, ignore_index=True)
    curve_table = pd.concat(curve_tables, ignore_index=True)
    key = key_added or _default_key(target_spec)
    learner = model if isinstance(model, str) else type(model).__name__
    card = {
        "name": key,
        "created": now_utc(),
        "task": task,
        "target": target_spec.to_dict(),
        "intended_use": "research: estimating how well imaging and molecular data predict "
                        f"{target_spec.column!r} in cohorts like the training one; not "
                        "validated for clinical decisions",
        "data": {
            "n_patients_cohort": int(mdata.n_obs),
            "n_patients": int(len(data.patients)),
            **({"n_positive": int(np.asarray(data.y).sum())} if task == "classification"
               else {}),
            **({"n_events": int(data.event.sum())} if task == "survival" else {}),
            "patients_dropped": _dropped(data),
            "patients_sha256": hashlib.sha256(
                "\n".join(map(str, data.patients)).encode()).hexdigest(),
            "modalities": {m: list(map(int, mdata.mod[m].shape))
                           for m in feature_set.modalities},
            "external": external_summary,
        },
        "features": {
            **feature_set.to_dict(),
            "label": feature_set.label,
            "n_input": int(X.shape[1] - (batch_column is not None)),
            "clinical_encoding": data.encoding,
            "used_by_final_model": required,
        },
        "pipeline": {
            "steps": [name for name, _ in pipeline.steps],
            "model": learner_name(task, model) if isinstance(model, str) else learner,
            "learner": type(pipeline[-1]).__name__,
            "selection": selection if selection is None or isinstance(selection, str)
            else type(selection).__name__,
            "n_features": n_features if np.isscalar(n_features) else list(n_features),
            "harmonize": None if harmonize is None else
            {"batch": harmonize, "method": "ComBat", "modalities": list(harmonize_modalities)},
            "redundancy": redundancy,
            "max_missing": max_missing,
            "param_grid": {k: [_jsonable(v) for v in vs] for k, vs in grid.items()},
            "final_params": {k: _jsonable(v) for k, v in
                             getattr(fitted, "best_params_", {}).items()},
            "fold_params": [r["best_params"] for r in cv.fold_results],
        },
        "validation": {
            "scheme": "repeated nested cross-validation" + (" and an external test set"
                                                            if external is not None else ""),
            "outer_folds": outer_folds, "n_repeats": n_repeats, "inner_folds": inner_folds,
            "stratified_on": {"classification": "class", "survival": "event",
                              "regression": "none"}[task],
            "random_state": random_state, "n_bootstraps": n_bootstraps,
            "confidence": confidence, "threshold": threshold,
            "times": None if times is None else list(times),
            "metrics": metrics_table.to_dict(orient="records"),
            "permutation_test": permutation,
        },
        "interpretation": {
            "top_features": importance.head(15)[
                [c for c in ("feature", "source", "selection_frequency",
                             "permutation_importance") if c in importance]
            ].to_dict(orient="records"),
        },
        "versions": versions(),
    }
    fitted_model = FittedModel(
        name=key, target=target_spec, feature_set=feature_set, encoding=data.encoding,
        batch=harmonize, pipeline=final, required=required, metrics=metrics_table,
        predictions=predictions, importance=importance, curves=curve_table, card=card)
    if store:
        store_model(mdata, fitted_model)
    return fitted_model


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
    """The task's primary metric (AUC, C-index, R^2) of one vector of predictions."""
    table, _ = performance(task, y, np.asarray(prediction, float), n_bootstraps=0,
                           indices=np.empty((0, len(y)), dtype=int))
    return float(table.set_index("metric").loc[PRIMARY_METRIC[task], "estimate"])


def store_model(mdata: md.MuData, model: FittedModel, key: str | None = None) -> None:
    """Store a fitted model's tables and card in the cohort (see :func:`fit_model`)."""
    key = key or model.name
    summary = {"task": model.task, "target": model.target.column,
               "event": model.target.event, "features": model.feature_set.label,
               "model": model.card.get("pipeline", {}).get("model"),
               "selection": model.card.get("pipeline", {}).get("selection"),
               "n_patients": model.card.get("data", {}).get("n_patients")}
    store_result(mdata, MODEL_KINDS["metrics"], key, model.metrics, params=summary)
    store_result(mdata, MODEL_KINDS["predictions"], key, model.predictions)
    store_result(mdata, MODEL_KINDS["importance"], key, model.importance)
    store_result(mdata, MODEL_KINDS["curves"], key, model.curves)
    root = mdata.uns.setdefault("radiogenomics", {})
    root.setdefault(MODEL_KINDS["cards"], {})[key] = card_json(model.card)


def predict(
    model: FittedModel,
    mdata: md.MuData,
    *,
    patients: Sequence[str] | None = None,
    missing: str = "error",
    key_added: str | None = None,
) -> pd.DataFrame:
    """Score the patients of a cohort with a fitted model and its stored preprocessing.

    Parameters
    ----------
    model
        A :class:`FittedModel` (from :func:`fit_model` or :func:`load_model`).
    mdata
        The cohort holding the new patients.
    patients
        Restrict to these patients.
    missing
        ``"error"`` (default): a patient lacking a modality or a feature the model uses is
        an error naming the patient and the features; ``"impute"``: fill missing feature
        values with the training medians; ``"skip"``: leave such patients out.
    key_added
        Store the predictions under ``mdata.uns["radiogenomics"]["model_predictions"]``.

    Returns
    -------
    DataFrame
        ``patient_id``, ``prediction`` and (classification) ``predicted_label``.
    """
    table = model.predict(mdata, patients=patients, missing=missing)
    if key_added is not None:
        store_result(mdata, MODEL_KINDS["predictions"], key_added,
                     table.assign(set="new", model=model.name),
                     params={"model": model.name, "missing": missing})
    return table


@dataclass
class ModelComparison:
    """Feature sets (or learners) compared on the same patients and folds.

    Attributes
    ----------
    metrics
        ``candidate, validation, metric, estimate, ci_lower, ci_upper, ...``.
    tests
        One row per pair of candidates: the difference in the primary metric with its
        paired bootstrap interval and p-value, and (classification) DeLong's test on the
        repeat-averaged out-of-fold probabilities.
    predictions
        Out-of-fold predictions (repeat-averaged), one column per candidate.
    """

    metrics: pd.DataFrame
    tests: pd.DataFrame
    predictions: pd.DataFrame


def _candidate(spec) -> dict:
    if isinstance(spec, Mapping) and "features" in spec:
        return dict(spec)
    return {"features": spec}


def compare_models(
    mdata: md.MuData,
    target: str,
    candidates: Mapping[str, object],
    *,
    task: str | None = None,
    event: str | None = None,
    positive=None,
    model="penalized",
    selection="univariate",
    n_features: int | Sequence[int] = (5, 10, 20),
    harmonize: str | None = None,
    layers: Mapping[str, str] | None = None,
    outer_folds: int = 5,
    n_repeats: int = 5,
    inner_folds: int = 3,
    n_bootstraps: int = 1000,
    confidence: float = 0.95,
    threshold: float = 0.5,
    times: Sequence[float] | None = None,
    random_state: int | None = 0,
    n_jobs: int | None = None,
    key_added: str | None = None,
) -> ModelComparison:
    """Compare feature sets (imaging-only, molecular-only, clinical, combined) or learners
    side by side, on the same patients, the same cross-validation folds and the same
    bootstrap replicates.

    Parameters
    ----------
    candidates
        Name -> feature specification (as ``features`` of :func:`fit_model`), or name ->
        ``{"features": ..., "model": ..., "selection": ..., "n_features": ...}`` to vary
        the learner too. Example: ``{"imaging": "radiomics", "molecular": "rna",
        "clinical": {"clinical": ["age", "stage"]}, "combined": {"radiomics": None,
        "rna": None, "clinical": ["age", "stage"]}}``.

    layers
        Modality -> layer to read instead of ``X`` (for the candidates using it).

    Other parameters are those of :func:`fit_model` (defaults for every candidate).

    Returns
    -------
    ModelComparison
        Also stored under ``model_comparisons`` (metrics) and ``model_comparison_tests``
        (pairwise tests), keyed by ``key_added`` (default: the target column).
    """
    if len(candidates) < 2:
        raise InputError("a comparison needs at least two candidates", found=list(candidates))
    target_spec = parse_target(mdata, target, task, event, positive)
    task = target_spec.task
    outcome = [c for c in (target_spec.column, target_spec.event) if c is not None]
    specs = {name: _candidate(spec) for name, spec in candidates.items()}
    sets = {}
    for name, spec in specs.items():
        features = parse_features(mdata, spec["features"], outcome, batch=harmonize)
        wanted = {m: layer for m, layer in (layers or {}).items() if m in features.modalities}
        sets[name] = parse_features(mdata, spec["features"], outcome, batch=harmonize,
                                    layers=wanted)
        _warn_preprocessed(mdata, sets[name])
    inputs = {name: assemble(mdata, fs, target_spec, batch=harmonize)
              for name, fs in sets.items()}
    common = [p for p in mdata.obs_names if all(p in set(d.patients) for d in inputs.values())]
    inputs = {name: assemble(mdata, fs, target_spec, batch=harmonize, patients=common)
              for name, fs in sets.items()}
    reference = next(iter(inputs.values()))
    _check_sizes(reference, target_spec, outer_folds, "the patients common to all candidates")
    y = reference.y
    if task == "survival" and times is None:
        times = default_times(reference.time, reference.event)
    indices = bootstrap_replicates(task, y, n_bootstraps, random_state)
    batch_column = None if harmonize is None else f"{BATCH_PREFIX}{harmonize}"
    tables, replicates, oof = [], {}, {}
    for name, spec in specs.items():
        pipeline, grid = build_pipeline(
            task, spec.get("model", model), spec.get("selection", selection),
            spec.get("n_features", n_features), batch=batch_column, random_state=random_state)
        cv = nested_cross_validation(pipeline, grid, inputs[name].X, y, task,
                                     n_splits=outer_folds, n_repeats=n_repeats,
                                     inner_folds=inner_folds, random_state=random_state,
                                     importance_repeats=0, n_jobs=n_jobs)
        table, reps = performance(task, y, cv.predictions, confidence=confidence,
                                  threshold=threshold, times=times, indices=indices)
        table.insert(0, "candidate", name)
        table.insert(1, "features", sets[name].label)
        table["n"] = len(common)
        tables.append(table)
        replicates[name] = reps
        oof[name] = cv.predictions
    metrics = pd.concat(tables, ignore_index=True)
    primary = PRIMARY_METRIC[task]
    estimates = metrics[metrics["metric"] == primary].set_index("candidate")["estimate"]
    rows = []
    for a, b in itertools.combinations(specs, 2):
        difference = replicates[a][primary] - replicates[b][primary]
        finite = difference[np.isfinite(difference)]
        lower, upper = (np.quantile(finite, [(1 - confidence) / 2, (1 + confidence) / 2])
                        if finite.size else (np.nan, np.nan))
        tail = min((finite <= 0).sum(), (finite >= 0).sum())
        row = {"candidate_a": a, "candidate_b": b, "metric": primary,
               "estimate_a": float(estimates[a]), "estimate_b": float(estimates[b]),
               "difference": float(estimates[a] - estimates[b]),
               "ci_lower": float(lower), "ci_upper": float(upper),
               "p_value_bootstrap": float(min(1.0, 2 * (tail + 1) / (finite.size + 1)))
               if finite.size else np.nan}
        if task == "classification":
            test = delong_test(np.asarray(y).astype(int), oof[a].mean(axis=1),
                               oof[b].mean(axis=1), confidence)
            row.update({"delong_auc_a": test["auc_a"], "delong_auc_b": test["auc_b"],
                        "delong_z": test["z"], "p_value_delong": test["p_value"]})
        rows.append(row)
    tests = pd.DataFrame(rows)
    predictions = pd.DataFrame({"patient_id": [str(p) for p in common]})
    for name, values in _observed_columns(reference, target_spec).items():
        predictions[name] = values
    for name, values in oof.items():
        predictions[name] = values.mean(axis=1)
    key = key_added or _default_key(target_spec)
    store_result(mdata, MODEL_KINDS["comparison"], key, metrics,
                 params={"task": task, "target": target_spec.column,
                         "candidates": {n: sets[n].label for n in sets},
                         "outer_folds": outer_folds, "n_repeats": n_repeats,
                         "n_bootstraps": n_bootstraps})
    store_result(mdata, MODEL_KINDS["comparison_tests"], key, tests)
    return ModelComparison(metrics=metrics, tests=tests, predictions=predictions)



def run_model(
    cohort: str | os.PathLike,
    out: str | os.PathLike,
    target: str,
    features="radiomics",
    *,
    test_cohort: str | os.PathLike | None = None,
    update_cohort: bool = False,
    **options,
) -> FittedModel:
    """Fit and validate a model on a cohort file and save it to a folder (the
    ``radiogenomics model`` command).

    Parameters
    ----------
    cohort
        The cohort (``.h5mu``).
    out
        Folder for the model: ``model.skops``, ``model_card.json``, the validation tables
        (CSV) and figures (Plotly JSON); see :meth:`FittedModel.save`.
    target, features
        As :func:`fit_model`.
    test_cohort
        A second cohort file for external validation.
    update_cohort
        Also store the results in the cohort file (rewritten atomically).
    **options
        Passed to :func:`fit_model`.
    """
    from ...cohort import read_cohort, write_cohort

    mdata = read_cohort(cohort)
    if test_cohort is not None:
        options["test"] = read_cohort(test_cohort)
    model = fit_model(mdata, target, features, store=False, **options)
    model.card.setdefault("data", {})["source"] = str(cohort)
    model.save(out)
    if update_cohort:
        store_model(mdata, model)
        write_cohort(mdata, cohort)
    return model
