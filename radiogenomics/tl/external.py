"""External validation of a fitted model on an independent cohort.

The model is applied as fitted: its imputation medians, variance filter, scaling,
selection and learner are those of the training cohort. A site the training
harmonisation knew is corrected with its stored ComBat parameters; a new site is
harmonised *to the training reference* -- the reference (grand mean, pooled variance) and
the other sites' effects stay fixed, and only the new site's own location and scale are
estimated, from its patients' feature values, never from their outcomes
(:func:`radiogenomics.stats.combat_reference.combat_add_batch`). Nothing is refitted on the
external patients.
"""

from __future__ import annotations

import warnings
from copy import deepcopy
from dataclasses import dataclass, field, fields, replace

import mudata as md
import numpy as np
import pandas as pd

from ..cohort import store_result
from ..errors import CohortError, InputError
from ..stats.combat_reference import combat_add_batch
from .models.design import BATCH_PREFIX, _target_values
from .models.validation import bootstrap_replicates, curves, performance, predict_scores

__all__ = ["ExternalValidation", "validate_model", "VALIDATION_KINDS"]

#: Where :func:`validate_model` stores its tables in ``mdata.uns["radiogenomics"]``.
VALIDATION_KINDS = {
    "metrics": "external_validation",
    "curves": "external_validation_curves",
    "comparison": "external_validation_comparison",
    "predictions": "external_validation_predictions",
}


@dataclass
class ExternalValidation:
    """A fitted model's performance on an external cohort.

    Attributes
    ----------
    metrics
        ``metric, estimate, ci_lower, ci_upper, n_bootstraps`` on the external patients
        (classification: AUC, balanced accuracy, Brier score, calibration intercept and
        slope; survival: concordance and time-dependent AUC; regression: R^2, RMSE, MAE).
    calibration
        ``{"intercept", "slope"}`` (classification): logistic recalibration,
        ``logit P(y) = a + logit(p)`` (intercept, the linear predictor as offset) and
        ``logit P(y) = a + b logit(p)`` (slope).
    curves
        ``curve, x, y, lower, upper, n``: ``roc``, ``calibration`` (observed against
        predicted in quantile bins), ``decision`` (net benefit) with ``treat_all`` and
        ``treat_none`` (classification); ``time_dependent_auc`` (survival).
    comparison
        Per metric, the internal (cross-validated) estimate and interval beside the
        external one, and their difference.
    predictions
        ``patient_id, observed, prediction`` of the external patients.
    harmonisation
        Sites corrected with stored parameters, and new sites harmonised to the training
        reference (with their number of patients).
    dropped
        Patients not scored, with the reason.

    See Also
    --------
    validate_model : makes one.

    Examples
    --------
    >>> import radiogenomics as rg
    >>> mdata = rg.datasets.toy_cohort(n_patients=60)
    >>> model = rg.tl.fit_model(mdata, "egfr_mutant", "radiomics", n_features=5, outer_folds=3,
    ...                         n_repeats=1, n_bootstraps=50, importance_repeats=0)
    >>> validation = rg.tl.validate_model(model, mdata, n_bootstraps=50)
    >>> type(validation).__name__, validation.metrics["metric"].tolist()[:2]
    ('ExternalValidation', ['auc', 'balanced_accuracy'])
    >>> sorted(validation.calibration), validation.predictions.columns.tolist()
    (['intercept', 'slope'], ['patient_id', 'prediction', 'observed'])
    """

    metrics: pd.DataFrame
    calibration: dict
    curves: pd.DataFrame
    comparison: pd.DataFrame
    predictions: pd.DataFrame
    harmonisation: dict = field(default_factory=dict)
    dropped: pd.Series = field(default_factory=lambda: pd.Series(dtype=object))
    model: object = None

    def figure_tables(self) -> dict:
        """The tables ``rg.pl.roc``, ``rg.pl.calibration`` and ``rg.pl.decision_curve``
        draw: the model's cross-validated curves and metrics beside the external ones
        (``rg.pl.decision_curve(result, where="external")``)."""
        internal_metrics = self.model.metrics if self.model is not None else None
        internal_curves = self.model.curves if self.model is not None else None
        metrics = pd.concat(
            [m for m in (internal_metrics, self.metrics) if m is not None and len(m)],
            ignore_index=True,
        )
        curve_tables = [c for c in (internal_curves, self.curves) if c is not None and len(c)]
        if internal_curves is not None and "set" in internal_curves:
            curve_tables[0] = internal_curves[internal_curves["set"] == "cross-validation"]
        card = getattr(self.model, "card", {}) or {}
        return {
            "metrics": metrics,
            "curves": pd.concat(curve_tables, ignore_index=True),
            "importance": getattr(self.model, "importance", pd.DataFrame()),
            "predictions": self.predictions,
            "card": card,
            "name": str(getattr(self.model, "name", "model")),
        }

    def summary(self) -> str:
        """The external metrics beside the internal ones, one line each."""
        lines = []
        for _, r in self.comparison.iterrows():
            lines.append(
                f"{r['metric']}: external {r['external']:.3f} ({r['external_ci_lower']:.3f}"
                f" to {r['external_ci_upper']:.3f}); internal {r['internal']:.3f} "
                f"({r['internal_ci_lower']:.3f} to {r['internal_ci_upper']:.3f})"
            )
        return "\n".join(lines)


def _harmonised_pipeline(pipeline, X: pd.DataFrame, new_sites: str):
    """The pipeline, with its harmonisation step extended to the external cohort's new
    sites (a copy: the model is not changed), and what was done."""
    names = [name for name, _ in pipeline.steps]
    info = {"known_sites": [], "new_sites": {}}
    if "harmonize" not in names:
        return pipeline, info
    step = pipeline.named_steps["harmonize"]
    if getattr(step, "batch", None) is None or not getattr(step, "harmonised_", []):
        return pipeline, info
    labels = X[step.batch].astype(str).to_numpy()
    known = [b for b in dict.fromkeys(labels) if b in step.batches_]
    unseen = [b for b in dict.fromkeys(labels) if b not in step.batches_]
    info["known_sites"] = known
    if not unseen:
        return pipeline, info
    column = step.batch.removeprefix(BATCH_PREFIX)
    if new_sites == "error":
        raise InputError(
            f"site {unseen[0]!r} was not among the training sites",
            column=column,
            expected=f"one of {step.batches_}",
            found=unseen,
            hint="Pass new_sites='reference' to harmonise new sites to the training reference",
        )
    position = names.index("harmonize")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        before = pipeline[:position].transform(X) if position else X
    extended = deepcopy(step)
    params = extended.params_
    batches = list(extended.batches_)
    for site in unseen:
        rows = labels == site
        if rows.sum() < 2:
            raise InputError(
                f"new site {site!r} has a single patient: its scanner effect cannot be estimated",
                column=column,
                expected="at least two patients of each new site",
                found=int(rows.sum()),
            )
        values = before.loc[rows, extended.harmonised_].to_numpy(dtype=float)
        params = combat_add_batch(values, params)
        batches.append(site)
        info["new_sites"][site] = int(rows.sum())
    # the transformer looks codes up in its sorted batch list: keep the codes in order
    order = np.argsort(batches, kind="stable")
    params = _reorder(params, order)
    extended.params_ = params
    extended.batches_ = [batches[i] for i in order]
    steps = list(pipeline.steps)
    steps[position] = ("harmonize", extended)
    out = deepcopy(pipeline)
    out.steps = steps
    return out, info


def _reorder(params, order):
    changes = {}
    n = params.gamma_star.shape[0]
    for f in fields(params):
        value = getattr(params, f.name)
        if (
            isinstance(value, np.ndarray)
            and value.shape[:1] == (n,)
            and f.name not in ("grand_mean", "var_pooled", "adjusted")
        ):
            changes[f.name] = value[order]
    return replace(params, **changes)


def _observed(model, mdata: md.MuData, patients: pd.Index):
    target = model.target
    needed = [c for c in (target.column, target.event) if c is not None]
    absent = [c for c in needed if c not in mdata.obs.columns]
    if absent:
        raise CohortError(
            f"the external cohort has no outcome column {absent[0]!r}",
            column=absent[0],
            expected=f"the columns the model predicts: {needed}",
            found="no such column",
        )
    y, missing = _target_values(mdata, target)
    position = pd.Index(mdata.obs_names).get_indexer(patients)
    return y[position], missing[position]


def validate_model(
    model,
    external_mdata: md.MuData,
    *,
    patients=None,
    missing: str = "error",
    new_sites: str = "reference",
    n_bootstraps: int = 1000,
    confidence: float = 0.95,
    random_state: int | None = 0,
    times=None,
    key_added: str | None = None,
) -> ExternalValidation:
    """Validate a fitted model on an external cohort (another hospital, a held-out site).

    Parameters
    ----------
    model
        A fitted model (:func:`radiogenomics.tl.fit_model` or
        :func:`~radiogenomics.tl.load_model`).
    external_mdata
        The external cohort: the modalities and clinical columns the model reads, the
        outcome column(s), and the batch column when the model harmonises.
    patients
        Restrict to these patients.
    missing
        A patient lacking a value the model needs: ``"error"``, ``"impute"`` (training
        medians) or ``"skip"``.
    new_sites
        ``"reference"`` (default): a site the training harmonisation did not see is
        harmonised to the training reference (its own location and scale estimated on its
        patients' features; nothing else refitted); ``"error"``: refuse it.
    n_bootstraps, confidence, random_state
        Percentile bootstrap intervals over the external patients (stratified on the class
        or the event).
    times
        Survival: horizons of the time-dependent AUC (default: those of the model's card).
    key_added
        Store the tables in the external cohort under this key (default: the model's
        name).

    Returns
    -------
    ExternalValidation

    Examples
    --------
    >>> import radiogenomics as rg
    >>> mdata = rg.datasets.toy_cohort(n_patients=60)
    >>> model = rg.tl.fit_model(mdata, "egfr_mutant", "radiomics", n_features=5, outer_folds=3,
    ...                         n_repeats=1, n_bootstraps=50, importance_repeats=0)
    >>> validation = rg.tl.validate_model(model, mdata, n_bootstraps=50)
    >>> list(validation.metrics.columns[:3])
    ['validation', 'metric', 'estimate']
    """
    if new_sites not in ("reference", "error"):
        raise InputError(
            f"unknown new_sites={new_sites!r}", expected="'reference' or 'error'", found=new_sites
        )
    X, dropped = model.inputs(external_mdata, patients=patients, missing=missing)
    # new sites are harmonised on every patient with the features (outcomes play no part)
    pipeline, harmonisation = _harmonised_pipeline(model.pipeline, X, new_sites)
    y, lacking = _observed(model, external_mdata, X.index)
    if lacking.any():
        dropped = pd.concat(
            [dropped, pd.Series("outcome missing", index=X.index[lacking], dtype=object)]
        )
        X, y = X.loc[~lacking], y[~lacking]
    task = model.task
    _check_external_patients(X, y, task, model.target.column)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        prediction = predict_scores(pipeline, X, task)
    card = model.card.get("validation", {})
    threshold = card.get("threshold", 0.5)
    if task == "survival" and times is None:
        times = card.get("times")
    indices = bootstrap_replicates(task, y, n_bootstraps, random_state)
    metrics, _ = performance(
        task,
        y,
        prediction,
        confidence=confidence,
        threshold=threshold,
        times=times,
        indices=indices,
    )
    metrics.insert(0, "validation", "external")
    metrics["n"] = len(X)
    curve_table = curves(task, y, prediction, indices, confidence=confidence, times=times).assign(
        set="external"
    )
    calibration = _calibration(metrics, task)
    comparison = _comparison(metrics, model.metrics)
    predictions = _predictions(X, y, prediction, task)
    result = ExternalValidation(
        metrics=metrics,
        calibration=calibration,
        curves=curve_table,
        comparison=comparison,
        predictions=predictions,
        harmonisation=harmonisation,
        dropped=dropped,
        model=model,
    )
    key = key_added or str(model.name)
    params = {
        "model": str(model.name),
        "n_patients": int(len(X)),
        "n_bootstraps": int(n_bootstraps),
        "confidence": confidence,
        "known_sites": harmonisation.get("known_sites", []),
        "new_sites": harmonisation.get("new_sites", {}),
        "dropped": [str(p) for p in dropped.index],
    }
    store_result(external_mdata, VALIDATION_KINDS["metrics"], key, metrics, params=params)
    store_result(external_mdata, VALIDATION_KINDS["curves"], key, curve_table)
    store_result(external_mdata, VALIDATION_KINDS["comparison"], key, comparison)
    store_result(external_mdata, VALIDATION_KINDS["predictions"], key, predictions)
    return result


def _check_external_patients(X, y, task, column):
    """Refuse fewer than two external patients, or a single class to classify."""
    if len(X) < 2:
        raise CohortError(
            "too few external patients to validate on",
            expected="at least two with the model's features and the outcome",
            found=len(X),
        )
    if task == "classification":
        counts = np.bincount(np.asarray(y).astype(int), minlength=2)
        if counts.min() == 0:
            raise CohortError(
                "the external patients hold a single class",
                column=column,
                expected="both classes",
                found={"negative": int(counts[0]), "positive": int(counts[1])},
            )


def _calibration(metrics, task):
    """Calibration intercept and slope of a classifier's external metrics (else empty)."""
    if task != "classification":
        return {}
    estimates = metrics.set_index("metric")["estimate"]
    return {
        "intercept": float(estimates["calibration_intercept"]),
        "slope": float(estimates["calibration_slope"]),
    }


def _comparison(metrics, model_metrics):
    """Per metric, the cross-validated estimate beside the external one, and their difference."""
    internal = model_metrics[model_metrics["validation"] == "cross-validation"]
    merged = metrics[["metric", "estimate", "ci_lower", "ci_upper"]].merge(
        internal[["metric", "estimate", "ci_lower", "ci_upper"]],
        on="metric",
        how="left",
        suffixes=("_external", "_internal"),
    )
    return pd.DataFrame(
        {
            "metric": merged["metric"],
            "internal": merged["estimate_internal"],
            "internal_ci_lower": merged["ci_lower_internal"],
            "internal_ci_upper": merged["ci_upper_internal"],
            "external": merged["estimate_external"],
            "external_ci_lower": merged["ci_lower_external"],
            "external_ci_upper": merged["ci_upper_external"],
            "difference": merged["estimate_external"] - merged["estimate_internal"],
        }
    )


def _predictions(X, y, prediction, task):
    """The external patients' predictions beside what was observed."""
    predictions = pd.DataFrame({"patient_id": X.index.astype(str), "prediction": prediction})
    if task == "survival":
        predictions["time"] = y["time"]
        predictions["event"] = y["event"].astype(int)
    else:
        predictions["observed"] = np.asarray(y, dtype=float)
    return predictions
