"""Comparing feature sets (or learners) side by side on the same patients, folds and
bootstrap replicates: ``compare_models``."""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import mudata as md
import numpy as np
import pandas as pd

from ...cohort import store_result
from ...errors import InputError
from ...stats.classification import delong_test
from .design import BATCH_PREFIX, assemble, parse_features, parse_target
from .estimators import build_pipeline
from .results import (
    MODEL_KINDS,
    _check_sizes,
    _default_key,
    _observed_columns,
    _warn_preprocessed,
)
from .validation import (
    PRIMARY_METRIC,
    bootstrap_replicates,
    default_times,
    nested_cross_validation,
    performance,
)

__all__ = ["compare_models", "ModelComparison"]


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


def _common_inputs(mdata: md.MuData, sets: dict, target, harmonize):
    """Every candidate's inputs on the patients all candidates can use."""
    inputs = {name: assemble(mdata, fs, target, batch=harmonize) for name, fs in sets.items()}
    common = [p for p in mdata.obs_names if all(p in set(d.patients) for d in inputs.values())]
    inputs = {
        name: assemble(mdata, fs, target, batch=harmonize, patients=common)
        for name, fs in sets.items()
    }
    return inputs, common


def _candidate_performance(task: str, spec: dict, X, y, indices, defaults: dict, options: dict):
    """One candidate's out-of-fold predictions and their metrics on the shared replicates."""
    pipeline, grid = build_pipeline(
        task,
        spec.get("model", defaults["model"]),
        spec.get("selection", defaults["selection"]),
        spec.get("n_features", defaults["n_features"]),
        batch=options["batch"],
        random_state=options["random_state"],
    )
    cv = nested_cross_validation(
        pipeline,
        grid,
        X,
        y,
        task,
        n_splits=options["outer_folds"],
        n_repeats=options["n_repeats"],
        inner_folds=options["inner_folds"],
        random_state=options["random_state"],
        importance_repeats=0,
        n_jobs=options["n_jobs"],
    )
    table, reps = performance(
        task,
        y,
        cv.predictions,
        confidence=options["confidence"],
        threshold=options["threshold"],
        times=options["times"],
        indices=indices,
    )
    return cv.predictions, table, reps


def _pair_test(a: str, b: str, primary: str, estimates, replicates: dict, confidence) -> dict:
    """The difference in the primary metric of two candidates, with its paired bootstrap
    interval and p-value."""
    difference = replicates[a][primary] - replicates[b][primary]
    finite = difference[np.isfinite(difference)]
    lower, upper = (
        np.quantile(finite, [(1 - confidence) / 2, (1 + confidence) / 2])
        if finite.size
        else (np.nan, np.nan)
    )
    tail = min((finite <= 0).sum(), (finite >= 0).sum())
    return {
        "candidate_a": a,
        "candidate_b": b,
        "metric": primary,
        "estimate_a": float(estimates[a]),
        "estimate_b": float(estimates[b]),
        "difference": float(estimates[a] - estimates[b]),
        "ci_lower": float(lower),
        "ci_upper": float(upper),
        "p_value_bootstrap": float(min(1.0, 2 * (tail + 1) / (finite.size + 1)))
        if finite.size
        else np.nan,
    }


def _pairwise_tests(task: str, y, metrics, replicates: dict, oof: dict, confidence):
    """One row per pair of candidates: the bootstrap test and (classification) DeLong's."""
    primary = PRIMARY_METRIC[task]
    estimates = metrics[metrics["metric"] == primary].set_index("candidate")["estimate"]
    rows = []
    for a, b in itertools.combinations(replicates, 2):
        row = _pair_test(a, b, primary, estimates, replicates, confidence)
        if task == "classification":
            test = delong_test(
                np.asarray(y).astype(int), oof[a].mean(axis=1), oof[b].mean(axis=1), confidence
            )
            row.update(
                {
                    "delong_auc_a": test["auc_a"],
                    "delong_auc_b": test["auc_b"],
                    "delong_z": test["z"],
                    "p_value_delong": test["p_value"],
                }
            )
        rows.append(row)
    return pd.DataFrame(rows)


def _comparison_predictions(common, reference, target, oof: dict) -> pd.DataFrame:
    """The observed target and each candidate's repeat-averaged out-of-fold prediction."""
    predictions = pd.DataFrame({"patient_id": [str(p) for p in common]})
    for name, values in _observed_columns(reference, target).items():
        predictions[name] = values
    for name, values in oof.items():
        predictions[name] = values.mean(axis=1)
    return predictions


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

    Examples
    --------
    >>> import radiogenomics as rg
    >>> mdata = rg.datasets.toy_cohort(n_patients=60)
    >>> comparison = rg.tl.compare_models(
    ...     mdata, "egfr_mutant", {"imaging": "radiomics", "clinical": {"clinical": ["age"]}},
    ...     n_features=5, outer_folds=3, n_repeats=1, n_bootstraps=50)
    >>> comparison.tests[["candidate_a", "candidate_b", "metric"]].values.tolist()
    [['imaging', 'clinical', 'auc']]
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
        sets[name] = parse_features(
            mdata, spec["features"], outcome, batch=harmonize, layers=wanted
        )
        _warn_preprocessed(mdata, sets[name])
    inputs, common = _common_inputs(mdata, sets, target_spec, harmonize)
    reference = next(iter(inputs.values()))
    _check_sizes(reference, target_spec, outer_folds, "the patients common to all candidates")
    y = reference.y
    if task == "survival" and times is None:
        times = default_times(reference.time, reference.event)
    indices = bootstrap_replicates(task, y, n_bootstraps, random_state)
    defaults = {"model": model, "selection": selection, "n_features": n_features}
    options = dict(
        batch=None if harmonize is None else f"{BATCH_PREFIX}{harmonize}",
        outer_folds=outer_folds,
        n_repeats=n_repeats,
        inner_folds=inner_folds,
        confidence=confidence,
        threshold=threshold,
        times=times,
        random_state=random_state,
        n_jobs=n_jobs,
    )
    tables, replicates, oof = [], {}, {}
    for name, spec in specs.items():
        oof[name], table, replicates[name] = _candidate_performance(
            task, spec, inputs[name].X, y, indices, defaults, options
        )
        table.insert(0, "candidate", name)
        table.insert(1, "features", sets[name].label)
        table["n"] = len(common)
        tables.append(table)
    metrics = pd.concat(tables, ignore_index=True)
    tests = _pairwise_tests(task, y, metrics, replicates, oof, confidence)
    predictions = _comparison_predictions(common, reference, target_spec, oof)
    key = key_added or _default_key(target_spec)
    store_result(
        mdata,
        MODEL_KINDS["comparison"],
        key,
        metrics,
        params={
            "task": task,
            "target": target_spec.column,
            "candidates": {n: sets[n].label for n in sets},
            "outer_folds": outer_folds,
            "n_repeats": n_repeats,
            "n_bootstraps": n_bootstraps,
        },
    )
    store_result(mdata, MODEL_KINDS["comparison_tests"], key, tests)
    return ModelComparison(metrics=metrics, tests=tests, predictions=predictions)
