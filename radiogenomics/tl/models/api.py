"""Cohort-level tools: ``fit_model``, ``predict`` and ``run_model`` (and
``compare_models``, from :mod:`.comparison`)."""

from __future__ import annotations

import hashlib
import os
import warnings
from collections.abc import Mapping, Sequence

import mudata as md
import numpy as np
import pandas as pd

from ...cohort import read_cohort, store_result, write_cohort
from ...errors import CohortError, InputError
from .card import now_utc, versions
from .comparison import ModelComparison, _candidate, compare_models  # noqa: F401 (re-exported)
from .design import (
    BATCH_PREFIX,
    ModelInputs,
    Target,
    assemble,
    parse_features,
    parse_target,
)
from .estimators import build_pipeline, learner_name
from .fitted import FittedModel
from .results import (
    MODEL_KINDS,
    _check_sizes,
    _default_key,
    _dropped,
    _importance_table,
    _jsonable,
    _metrics_table,
    _observed_columns,  # noqa: F401 (importable from here as before)
    _prediction_table,
    _split_test,
    _warn_preprocessed,
    metrics_value,
    store_model,
)
from .validation import (
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

__all__ = [
    "fit_model",
    "compare_models",
    "predict",
    "run_model",
    "store_model",
    "ModelComparison",
    "MODEL_KINDS",
    "metrics_value",
]


def _training_and_test(
    mdata: md.MuData, feature_set, target: Target, harmonize: str | None, test, outer_folds: int
) -> tuple[ModelInputs, ModelInputs | None]:
    """The training patients' inputs and, with ``test``, the external test set's."""
    external: ModelInputs | None = None
    if test is None:
        data = assemble(mdata, feature_set, target, batch=harmonize)
    elif isinstance(test, md.MuData):
        data = assemble(mdata, feature_set, target, batch=harmonize)
        external = assemble(test, feature_set, target, batch=harmonize, encoding=data.encoding)
    else:
        train_ids, test_ids = _split_test(mdata, test)
        data = assemble(mdata, feature_set, target, batch=harmonize, patients=train_ids)
        external = assemble(
            mdata, feature_set, target, batch=harmonize, patients=test_ids, encoding=data.encoding
        )
    _check_sizes(data, target, outer_folds, "the training patients")
    if external is not None and len(external.patients) == 0:
        raise CohortError(
            "no test patient can be used",
            expected="test patients with the target and every modality the model reads",
            found=0,
        )
    return data, external


def _validate_external(
    final,
    external: ModelInputs,
    target: Target,
    *,
    n_bootstraps: int,
    random_state,
    confidence: float,
    threshold: float,
    times,
):
    """Metrics, curves and predictions of the final model on the external test set, and
    its summary for the card."""
    task = target.task
    prediction = predict_scores(final, external.X, task)
    indices = bootstrap_replicates(task, external.y, n_bootstraps, random_state)
    table, _ = performance(
        task,
        external.y,
        prediction,
        confidence=confidence,
        threshold=threshold,
        times=times,
        indices=indices,
    )
    metrics = _metrics_table(table, external, target, "external", 1)
    curve = curves(task, external.y, prediction, indices, confidence=confidence).assign(
        set="external"
    )
    predictions = _prediction_table(external, target, prediction, "external", threshold)
    summary = {"n_patients": int(len(external.patients)), "patients_dropped": _dropped(external)}
    return metrics, curve, predictions, summary


def _card_data(mdata: md.MuData, target: Target, feature_set, data: ModelInputs, external):
    """The model card's data section: the patients used and the modalities read."""
    task = target.task
    return {
        "n_patients_cohort": int(mdata.n_obs),
        "n_patients": int(len(data.patients)),
        **({"n_positive": int(np.asarray(data.y).sum())} if task == "classification" else {}),
        **({"n_events": int(data.event.sum())} if task == "survival" else {}),
        "patients_dropped": _dropped(data),
        "patients_sha256": hashlib.sha256("\n".join(map(str, data.patients)).encode()).hexdigest(),
        "modalities": {m: list(map(int, mdata.mod[m].shape)) for m in feature_set.modalities},
        "external": external,
    }


def _card_pipeline(task: str, fit: dict, settings: dict) -> dict:
    """The model card's pipeline section: steps, learner, selection and parameters."""
    model, selection = settings["model"], settings["selection"]
    n_features, harmonize = settings["n_features"], settings["harmonize"]
    pipeline = fit["pipeline"]
    learner = model if isinstance(model, str) else type(model).__name__
    return {
        "steps": [name for name, _ in pipeline.steps],
        "model": learner_name(task, model) if isinstance(model, str) else learner,
        "learner": type(pipeline[-1]).__name__,
        "selection": selection
        if selection is None or isinstance(selection, str)
        else type(selection).__name__,
        "n_features": n_features if np.isscalar(n_features) else list(n_features),
        "harmonize": None
        if harmonize is None
        else {
            "batch": harmonize,
            "method": "ComBat",
            "modalities": list(settings["harmonize_modalities"]),
        },
        "redundancy": settings["redundancy"],
        "max_missing": settings["max_missing"],
        "param_grid": {k: [_jsonable(v) for v in vs] for k, vs in fit["grid"].items()},
        "final_params": {
            k: _jsonable(v) for k, v in getattr(fit["fitted"], "best_params_", {}).items()
        },
        "fold_params": [r["best_params"] for r in fit["cv"].fold_results],
    }


def _card_validation(task: str, fit: dict, settings: dict) -> dict:
    """The model card's validation section: the scheme, its settings and the metrics."""
    times = settings["times"]
    return {
        "scheme": "repeated nested cross-validation"
        + (" and an external test set" if fit["external"] is not None else ""),
        "outer_folds": settings["outer_folds"],
        "n_repeats": settings["n_repeats"],
        "inner_folds": settings["inner_folds"],
        "stratified_on": {"classification": "class", "survival": "event", "regression": "none"}[
            task
        ],
        "random_state": settings["random_state"],
        "n_bootstraps": settings["n_bootstraps"],
        "confidence": settings["confidence"],
        "threshold": settings["threshold"],
        "times": None if times is None else list(times),
        "metrics": fit["metrics"].to_dict(orient="records"),
        "permutation_test": fit["permutation"],
    }


def _model_card(
    key: str,
    mdata: md.MuData,
    target: Target,
    feature_set,
    data: ModelInputs,
    fit: dict,
    settings: dict,
) -> dict:
    """The model card: what the model is for, the data, features, pipeline, validation
    and versions. ``fit`` holds the pipeline, grid, tuned search, cross-validation,
    used features, importance, metrics, permutation test, input count and external
    summary; ``settings`` the options of :func:`fit_model`."""
    task = target.task
    importance = fit["importance"]
    return {
        "name": key,
        "created": now_utc(),
        "task": task,
        "target": target.to_dict(),
        "intended_use": "research: estimating how well imaging and molecular data predict "
        f"{target.column!r} in cohorts like the training one; not "
        "validated for clinical decisions",
        "data": _card_data(mdata, target, feature_set, data, fit["external"]),
        "features": {
            **feature_set.to_dict(),
            "label": feature_set.label,
            "n_input": fit["n_input"],
            "clinical_encoding": data.encoding,
            "used_by_final_model": fit["required"],
        },
        "pipeline": _card_pipeline(task, fit, settings),
        "validation": _card_validation(task, fit, settings),
        "interpretation": {
            "top_features": importance.head(15)[
                [
                    c
                    for c in ("feature", "source", "selection_frequency", "permutation_importance")
                    if c in importance
                ]
            ].to_dict(orient="records"),
        },
        "versions": versions(),
    }


def _parse_design(mdata, target, features, task, event, positive, harmonize, layers):
    """The target and the feature set of a model; the batch may not be a predictor."""
    target_spec = parse_target(mdata, target, task, event, positive)
    outcome = [c for c in (target_spec.column, target_spec.event) if c is not None]
    feature_set = parse_features(mdata, features, outcome, batch=harmonize, layers=layers)
    if harmonize is not None and harmonize in feature_set.clinical:
        raise InputError("the batch column cannot also be a predictor", column=harmonize)
    return target_spec, feature_set


def _cross_validated(
    pipeline, grid, data: ModelInputs, target: Target, settings: dict, *, importance_repeats, n_jobs
):
    """Nested cross-validation of the pipeline, with its metrics, curves and predictions."""
    task, X, y = target.task, data.X, data.y
    cv = nested_cross_validation(
        pipeline,
        grid,
        X,
        y,
        task,
        n_splits=settings["outer_folds"],
        n_repeats=settings["n_repeats"],
        inner_folds=settings["inner_folds"],
        random_state=settings["random_state"],
        importance_repeats=importance_repeats,
        n_jobs=n_jobs,
    )
    indices = bootstrap_replicates(task, y, settings["n_bootstraps"], settings["random_state"])
    confidence, threshold = settings["confidence"], settings["threshold"]
    cv_metrics, _ = performance(
        task,
        y,
        cv.predictions,
        confidence=confidence,
        threshold=threshold,
        times=settings["times"],
        indices=indices,
    )
    metrics = _metrics_table(cv_metrics, data, target, "cross-validation", settings["n_repeats"])
    curve = curves(task, y, cv.predictions, indices, confidence=confidence).assign(
        set="cross-validation"
    )
    predictions = _prediction_table(
        data, target, cv.predictions, "cross-validation", threshold, cv.folds
    )
    return cv, metrics, curve, predictions


def _permutation(
    pipeline, grid, data: ModelInputs, task: str, cv, settings: dict, *, n_permutations, n_jobs
):
    """Permutation test of the whole pipeline against the cross-validated metric."""
    observed = metrics_value(task, data.y, cv.predictions[:, 0])
    return permutation_test(
        pipeline,
        grid,
        data.X,
        data.y,
        task,
        observed=observed,
        n_permutations=n_permutations,
        n_splits=settings["outer_folds"],
        inner_folds=settings["inner_folds"],
        random_state=settings["random_state"],
        n_jobs=n_jobs,
    )


def _final_fit(pipeline, grid, data: ModelInputs, task: str, cv, settings: dict):
    """The pipeline tuned and refitted on every training patient, the features it uses
    and their importance."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        search = tuned(pipeline, grid, task, settings["inner_folds"], settings["random_state"])
        fitted = search.fit(data.X, data.y)
    final = final_estimator(fitted)
    final_used = used_features(final)
    required = [f for f in final_used["feature"] if not f.startswith(BATCH_PREFIX)]
    importance = _importance_table(cv, final_used, required)
    return fitted, final, required, importance


def _validate(
    pipeline,
    grid,
    data: ModelInputs,
    external: ModelInputs | None,
    target: Target,
    settings: dict,
    *,
    n_permutations: int,
    importance_repeats: int,
    n_jobs,
) -> dict:
    """Cross-validate, permutation-test, refit and externally validate the pipeline:
    everything the card and the fitted model report."""
    task = target.task
    cv, cv_metrics, cv_curves, cv_predictions = _cross_validated(
        pipeline, grid, data, target, settings, importance_repeats=importance_repeats, n_jobs=n_jobs
    )
    metrics, curve_tables, prediction_tables = [cv_metrics], [cv_curves], [cv_predictions]
    permutation = None
    if n_permutations:
        permutation = _permutation(
            pipeline, grid, data, task, cv, settings, n_permutations=n_permutations, n_jobs=n_jobs
        )
    fitted, final, required, importance = _final_fit(pipeline, grid, data, task, cv, settings)
    external_summary = None
    if external is not None:
        ext_metrics, ext_curves, ext_predictions, external_summary = _validate_external(
            final,
            external,
            target,
            n_bootstraps=settings["n_bootstraps"],
            random_state=settings["random_state"],
            confidence=settings["confidence"],
            threshold=settings["threshold"],
            times=settings["times"],
        )
        metrics.append(ext_metrics)
        curve_tables.append(ext_curves)
        prediction_tables.append(ext_predictions)
    return dict(
        pipeline=pipeline,
        grid=grid,
        fitted=fitted,
        final=final,
        cv=cv,
        required=required,
        importance=importance,
        metrics=pd.concat(metrics, ignore_index=True),
        predictions=pd.concat(prediction_tables, ignore_index=True),
        curves=pd.concat(curve_tables, ignore_index=True),
        permutation=permutation,
        n_input=int(data.X.shape[1] - (settings["harmonize"] is not None)),
        external=external_summary,
    )


def _fitted_model(key, mdata, target, feature_set, data, fit, settings) -> FittedModel:
    """The refitted model with its validation tables and its card."""
    card = _model_card(key, mdata, target, feature_set, data, fit, settings)
    return FittedModel(
        name=key,
        target=target,
        feature_set=feature_set,
        encoding=data.encoding,
        batch=settings["harmonize"],
        pipeline=fit["final"],
        required=fit["required"],
        metrics=fit["metrics"],
        predictions=fit["predictions"],
        importance=fit["importance"],
        curves=fit["curves"],
        card=card,
    )


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

    Examples
    --------
    >>> import radiogenomics as rg
    >>> mdata = rg.datasets.toy_cohort(n_patients=60)
    >>> model = rg.tl.fit_model(mdata, "egfr_mutant", "radiomics", n_features=5, outer_folds=3,
    ...                         n_repeats=1, n_bootstraps=50, importance_repeats=0)
    >>> model
    FittedModel('egfr_mutant', task='classification', target='egfr_mutant', features='radiomics', learner=LogisticRegression, uses 5 features)
    >>> model.metrics[["validation", "metric"]].head(2).values.tolist()
    [['cross-validation', 'auc'], ['cross-validation', 'balanced_accuracy']]
    >>> "egfr_mutant" in mdata.uns["radiogenomics"]["models"]
    True
    """
    target_spec, feature_set = _parse_design(
        mdata, target, features, task, event, positive, harmonize, layers
    )
    task = target_spec.task
    _warn_preprocessed(mdata, feature_set)
    data, external = _training_and_test(
        mdata, feature_set, target_spec, harmonize, test, outer_folds
    )

    batch_column = None if harmonize is None else f"{BATCH_PREFIX}{harmonize}"
    prefixes = tuple(f"{m}:" for m in harmonize_modalities)
    pipeline, grid = build_pipeline(
        task,
        model,
        selection,
        n_features,
        batch=batch_column,
        harmonize_prefixes=prefixes,
        max_missing=max_missing,
        redundancy=redundancy,
        param_grid=param_grid,
        random_state=random_state,
    )
    if task == "survival" and times is None:
        times = default_times(data.time, data.event)
    settings = dict(
        model=model,
        selection=selection,
        n_features=n_features,
        harmonize=harmonize,
        harmonize_modalities=harmonize_modalities,
        redundancy=redundancy,
        max_missing=max_missing,
        outer_folds=outer_folds,
        n_repeats=n_repeats,
        inner_folds=inner_folds,
        random_state=random_state,
        n_bootstraps=n_bootstraps,
        confidence=confidence,
        threshold=threshold,
        times=times,
    )
    fit = _validate(
        pipeline,
        grid,
        data,
        external,
        target_spec,
        settings,
        n_permutations=n_permutations,
        importance_repeats=importance_repeats,
        n_jobs=n_jobs,
    )
    key = key_added or _default_key(target_spec)
    fitted_model = _fitted_model(key, mdata, target_spec, feature_set, data, fit, settings)
    if store:
        store_model(mdata, fitted_model)
    return fitted_model


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

    Examples
    --------
    >>> import radiogenomics as rg
    >>> mdata = rg.datasets.toy_cohort(n_patients=60)
    >>> model = rg.tl.fit_model(mdata, "egfr_mutant", "radiomics", n_features=5, outer_folds=3,
    ...                         n_repeats=1, n_bootstraps=50, importance_repeats=0)
    >>> table = rg.tl.predict(model, mdata, key_added="rescored")
    >>> table.shape, list(table.columns)
    ((60, 3), ['patient_id', 'prediction', 'predicted_label'])
    """
    table = model.predict(mdata, patients=patients, missing=missing)
    if key_added is not None:
        store_result(
            mdata,
            MODEL_KINDS["predictions"],
            key_added,
            table.assign(set="new", model=model.name),
            params={"model": model.name, "missing": missing},
        )
    return table


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

    Examples
    --------
    >>> import radiogenomics as rg
    >>> rg.tl.models.run_model("cohort.h5mu", "egfr_model", "egfr_mutant",
    ...                        features="radiomics")  # doctest: +SKIP
    FittedModel('egfr_mutant', task='classification', ...)
    """
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
