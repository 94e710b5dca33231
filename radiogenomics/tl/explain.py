"""Model explanations: SHAP values of a fitted model's final pipeline for given patients.

The explained function is the learner's output (log-odds of the positive class for a
logistic model or gradient boosting, probability for a random forest, the risk score of a
survival model, the prediction of a regression) as a function of the features the learner
receives; every feature is reported under its input name with the patient's value in the
input's own unit (``Explanation.data``), so a clinician reads "tumour volume 42 cm3 raised
the log-odds by 0.8".

Method by learner:

- linear learners (``coef_``): exact interventional SHAP values ``coef * (z - E[z])``
  with the training mean as reference (the scaling step of the pipeline is fitted on the
  training patients, so ``E[z] = 0`` there); no extra dependency;
- tree ensembles of scikit-learn: ``shap.TreeExplainer`` (path-dependent, using the
  training cover stored in the trees);
- anything else (random survival forests, ...): ``shap``'s permutation explainer with
  (up to 50 of) the explained patients as background -- slow: a few seconds per patient
  for a survival forest.

``shap`` is an optional dependency (``pip install radiogenomics[explain]``).
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field

import mudata as md
import numpy as np
import pandas as pd
from sklearn.preprocessing import StandardScaler

from ..cohort import store_result
from ..errors import InputError, RadiogenomicsError
from .external import _harmonised_pipeline

__all__ = ["Explanation", "explain", "EXPLANATION_KIND"]

#: Where :func:`explain` stores its tidy table in ``mdata.uns["radiogenomics"]``.
EXPLANATION_KIND = "model_explanations"


def _shap():
    try:
        import shap
    except ImportError:
        raise RadiogenomicsError(
            "model explanations of this learner need the 'shap' package",
            expected="shap installed",
            found="not installed",
            hint="pip install 'radiogenomics[explain]' (or pip install shap)",
        ) from None
    return shap


@dataclass
class Explanation:
    """SHAP values of a model for some patients (``values.sum(axis=1) + base_value ==
    output``).

    Attributes
    ----------
    values
        Patients x features: each feature's contribution to the output.
    base_value
        The expected output over the reference (training) patients.
    output
        The model output explained, one per patient.
    feature_names
        Input names of the features (``radiomics:original_shape_VoxelVolume``, ...).
    data
        Patients x features: the patients' values of those features in their input units
        (before imputation, harmonisation and scaling).
    patients
        Patient IDs (rows).
    output_name
        What ``output`` is (``"log-odds of egfr_mutant = 1"``, ``"risk score"``, ...).
    method
        ``"linear"``, ``"tree"`` or ``"permutation"``.
    model
        Name of the model.

    See Also
    --------
    explain : makes an explanation.
    radiogenomics.pl.shap_summary : draws one.

    Examples
    --------
    >>> import numpy as np
    >>> import radiogenomics as rg
    >>> mdata = rg.datasets.toy_cohort(n_patients=60)
    >>> model = rg.tl.fit_model(mdata, "egfr_mutant", "radiomics", n_features=5, outer_folds=3,
    ...                         n_repeats=1, n_bootstraps=50, importance_repeats=0)
    >>> explanation = rg.tl.explain(model, mdata)
    >>> type(explanation).__name__, explanation.method, explanation.values.shape
    ('Explanation', 'linear', (60, 5))
    >>> total = explanation.values.sum(axis=1) + explanation.base_value
    >>> bool(np.allclose(total, explanation.output))
    True
    >>> explanation.to_frame().shape  # one row per patient and feature
    (300, 8)
    """

    values: np.ndarray
    base_value: float
    output: np.ndarray
    feature_names: list[str]
    data: pd.DataFrame
    patients: list[str]
    output_name: str
    method: str
    model: str
    info: dict = field(default_factory=dict)

    def to_frame(self) -> pd.DataFrame:
        """The tidy table: ``patient_id, feature, source, column, value, shap_value,
        base_value, output`` (one row per patient and feature)."""
        n, p = self.values.shape
        columns = np.tile(np.asarray(self.feature_names, dtype=object), n)
        source = [c.partition(":")[0] for c in columns]
        name = [c.partition(":")[2] or c for c in columns]
        return pd.DataFrame(
            {
                "patient_id": np.repeat(np.asarray(self.patients, dtype=object), p),
                "feature": name,
                "source": source,
                "column": columns,
                "value": self.data.to_numpy(dtype=float).ravel(),
                "shap_value": self.values.ravel(),
                "base_value": float(self.base_value),
                "output": np.repeat(self.output, p),
            }
        )

    @classmethod
    def from_frame(cls, table: pd.DataFrame, **info) -> Explanation:
        """Rebuild an explanation from its tidy table (as stored in the cohort)."""
        patients = list(dict.fromkeys(table["patient_id"].astype(str)))
        columns = list(dict.fromkeys(table["column"].astype(str)))
        wide = table.pivot(index="patient_id", columns="column", values="shap_value")
        wide.index = wide.index.astype(str)
        values = wide.loc[patients, columns].to_numpy(dtype=float)
        data = table.pivot(index="patient_id", columns="column", values="value")
        data.index = data.index.astype(str)
        output = table.drop_duplicates("patient_id").set_index("patient_id")["output"]
        output.index = output.index.astype(str)
        return cls(
            values=values,
            base_value=float(table["base_value"].iloc[0]),
            output=output.loc[patients].to_numpy(dtype=float),
            feature_names=columns,
            data=data.loc[patients, columns],
            patients=patients,
            output_name=str(info.get("output_name", "model output")),
            method=str(info.get("method", "")),
            model=str(info.get("model", "")),
            info=dict(info),
        )


def _learner_inputs(pipeline, X: pd.DataFrame) -> tuple[np.ndarray, list[str]]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        Z = np.asarray(pipeline[:-1].transform(X), dtype=float)
    names = [str(n) for n in pipeline[:-1].get_feature_names_out()]
    return Z, names


def _reference_mean(pipeline, n_features: int) -> np.ndarray:
    """Mean of the learner's inputs over the training patients, known when the pipeline
    standardises them (the scaling step was fitted on the training patients)."""
    names = [name for name, _ in pipeline.steps[:-1]]
    if "scale" in names:
        scaler = pipeline.named_steps["scale"]
        after = names[names.index("scale") + 1 :]
        if isinstance(scaler, StandardScaler) and scaler.with_mean:
            # the steps after scaling only select columns
            if all(hasattr(pipeline.named_steps[s], "get_support") for s in after):
                return np.zeros(n_features)
    raise InputError(
        "the training mean of the learner's inputs is unknown for this pipeline",
        expected="a pipeline ending in scale (StandardScaler) and selection steps",
        found=names,
    )


def _output_name(model) -> str:
    target = model.target
    if model.task == "classification":
        return f"log-odds of {target.column} = {target.positive}"
    if model.task == "survival":
        return "risk score (linear predictor)"
    return f"predicted {target.column}"


def _linear(learner, Z: np.ndarray, reference: np.ndarray, task: str):
    coef = np.asarray(learner.coef_, dtype=float)
    coef = coef[:, -1] if coef.ndim == 2 and coef.shape[0] == Z.shape[1] else coef.ravel()
    values = coef[None, :] * (Z - reference[None, :])
    intercept = (
        float(np.ravel(getattr(learner, "intercept_", 0.0))[-1])
        if np.size(getattr(learner, "intercept_", 0.0))
        else 0.0
    )
    if task == "survival":
        # scikit-survival's linear risk score: coefficients times the inputs, no intercept
        # (offsets, if any, are in the learner's predict)
        output = np.asarray(learner.predict(Z), dtype=float)
        base = float(np.asarray(learner.predict(reference[None, :]), dtype=float)[0])
    elif task == "classification":
        output = np.asarray(learner.decision_function(Z), dtype=float)
        base = intercept + float(coef @ reference)
    else:
        output = np.asarray(learner.predict(Z), dtype=float)
        base = intercept + float(coef @ reference)
    return values, base, output


def _is_tree_ensemble(learner) -> bool:
    module = type(learner).__module__
    return module.startswith("sklearn.ensemble") and hasattr(learner, "estimators_")


def _tree(learner, Z: np.ndarray, task: str, model):
    shap = _shap()
    explainer = shap.TreeExplainer(learner)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        values = np.asarray(explainer.shap_values(Z, check_additivity=True), dtype=float)
    expected = np.ravel(np.asarray(explainer.expected_value, dtype=float))
    probability = task == "classification" and not hasattr(learner, "decision_function")
    if values.ndim == 3:  # (n, p, classes): the positive class
        classes = list(getattr(learner, "classes_", [0, 1]))
        column = classes.index(1) if 1 in classes else -1
        values = values[:, :, column]
        base = float(expected[column])
    else:
        base = float(expected[-1])
    if task == "classification":
        output = np.asarray(
            learner.predict_proba(Z)[:, list(learner.classes_).index(1)]
            if probability
            else learner.decision_function(Z),
            dtype=float,
        )
        name = (
            f"probability of {model.target.column} = {model.target.positive}"
            if probability
            else _output_name(model)
        )
    else:
        output = np.asarray(learner.predict(Z), dtype=float)
        name = _output_name(model)
    return values, base, output.ravel(), name


def _permutation(learner, Z: np.ndarray, task: str, random_state: int | None):
    shap = _shap()
    if task == "classification":

        def function(rows):
            return np.asarray(learner.predict_proba(rows)[:, 1], dtype=float)
    else:

        def function(rows):
            return np.asarray(learner.predict(rows), dtype=float)

    masker = shap.maskers.Independent(Z, max_samples=50)
    explainer = shap.explainers.Permutation(function, masker, seed=random_state)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = explainer(Z, max_evals=2 * Z.shape[1] + 1, silent=True)
    values = np.asarray(result.values, dtype=float)
    base = float(np.ravel(result.base_values)[0])
    return values, base, function(Z)


def explain(
    model,
    mdata: md.MuData,
    patients: Sequence[str] | None = None,
    *,
    missing: str = "error",
    random_state: int | None = 0,
    key_added: str | None = None,
) -> Explanation:
    """SHAP values of a fitted model's final pipeline for the cohort's patients.

    Parameters
    ----------
    model
        A fitted model (:func:`radiogenomics.tl.fit_model`, :func:`~radiogenomics.tl.load_model`).
    mdata
        A cohort with the modalities and clinical columns the model reads (the training
        cohort or a new one; patients of a new site are harmonised to the training
        reference, as by :func:`radiogenomics.tl.validate_model`).
    patients
        Patients to explain (default: every patient the model can score).
    missing
        As :func:`radiogenomics.tl.predict`: ``"error"``, ``"impute"`` or ``"skip"``.
    random_state
        Seed of the permutation explainer (learners neither linear nor tree ensembles).
    key_added
        Store the tidy table (:meth:`Explanation.to_frame`) under
        ``mdata.uns["radiogenomics"]["model_explanations"][key]`` (default: the model's
        name); ``None`` stores it under the model's name, ``False`` does not store.

    Returns
    -------
    Explanation
        ``values`` (patients x features), ``base_value``, ``output`` and
        ``feature_names``, with ``values.sum(axis=1) + base_value == output``; ``data``
        holds the patients' feature values in their input units.

    Examples
    --------
    >>> import radiogenomics as rg
    >>> mdata = rg.datasets.toy_cohort(n_patients=60)
    >>> model = rg.tl.fit_model(mdata, "egfr_mutant", "radiomics", n_features=5, outer_folds=3,
    ...                         n_repeats=1, n_bootstraps=50, importance_repeats=0)
    >>> explanation = rg.tl.explain(model, mdata)
    >>> explanation.values.shape
    (60, 5)
    """
    X, _ = model.inputs(mdata, patients=patients, missing=missing)
    if X.empty:
        raise InputError(
            "no patient can be explained",
            expected="patients with the modalities and features the model reads",
            found="none",
        )
    # patients of a site the training harmonisation did not see are harmonised to the
    # training reference, as by validate_model (the model itself is not changed)
    pipeline, _ = _harmonised_pipeline(model.pipeline, X, "reference")
    Z, names = _learner_inputs(pipeline, X)
    learner = pipeline[-1]
    task = model.task
    if hasattr(learner, "coef_"):
        reference = _reference_mean(pipeline, Z.shape[1])
        values, base, output = _linear(learner, Z, reference, task)
        method, output_name = "linear", _output_name(model)
    elif _is_tree_ensemble(learner):
        values, base, output, output_name = _tree(learner, Z, task, model)
        method = "tree"
    else:
        values, base, output = _permutation(learner, Z, task, random_state)
        method = "permutation"
        output_name = (
            f"probability of {model.target.column} = {model.target.positive}"
            if task == "classification"
            else _output_name(model)
        )
    data = pd.DataFrame(index=X.index.astype(str))
    for name in names:
        data[name] = (
            pd.to_numeric(X[name], errors="coerce").to_numpy(dtype=float)
            if name in X.columns
            else np.nan
        )
    explanation = Explanation(
        values=values,
        base_value=float(base),
        output=np.asarray(output, dtype=float),
        feature_names=names,
        data=data,
        patients=[str(p) for p in X.index],
        output_name=output_name,
        method=method,
        model=str(model.name),
        info={
            "learner": type(learner).__name__,
            "task": task,
            "additivity_error": float(np.max(np.abs(values.sum(axis=1) + base - output)))
            if len(output)
            else 0.0,
        },
    )
    if key_added is not False:
        store_result(
            mdata,
            EXPLANATION_KIND,
            key_added or str(model.name),
            explanation.to_frame(),
            params={
                "model": str(model.name),
                "method": method,
                "output_name": output_name,
                "base_value": float(base),
                "learner": type(learner).__name__,
            },
        )
    return explanation
