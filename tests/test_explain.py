"""Model explanations: SHAP additivity, agreement with shap's own explainers, figures."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from synthetic_models import QUICK, cohort

import radiogenomics as rg

shap = pytest.importorskip("shap", reason="shap is not installed (the 'explain' extra)")


@pytest.fixture(scope="module")
def data():
    return cohort(seed=1)


def _learner_inputs(model, mdata):
    X, _ = model.inputs(mdata)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return np.asarray(model.pipeline[:-1].transform(X), dtype=float), X


def test_linear_explanation_matches_shap_exact_explainer(data):
    mdata = data.copy()
    model = rg.tl.fit_model(mdata, "label", "radiomics", model="logistic", **QUICK)
    e = rg.tl.explain(model, mdata)
    assert e.method == "linear"
    assert e.values.shape == (mdata.n_obs, 4)
    # additivity, against the learner's own decision function
    Z, X = _learner_inputs(model, mdata)
    learner = model.pipeline[-1]
    np.testing.assert_allclose(e.output, learner.decision_function(Z), atol=1e-12)
    np.testing.assert_allclose(e.values.sum(axis=1) + e.base_value, e.output, atol=1e-10)
    # the log-odds are those of the model's predicted probabilities
    probability = model.predict(mdata)["prediction"].to_numpy()
    np.testing.assert_allclose(1 / (1 + np.exp(-e.output)), probability, atol=1e-12)
    # shap's exact explainer on the learner, with the training patients' transformed
    # values as background (the reference the linear formula uses is their mean)
    background = Z  # the training cohort is the one explained here
    exact = shap.explainers.Exact(
        learner.decision_function, shap.maskers.Independent(background, max_samples=len(Z))
    )
    reference = exact(Z[:10])
    np.testing.assert_allclose(e.values[:10], reference.values, atol=1e-8)
    np.testing.assert_allclose(e.base_value, np.ravel(reference.base_values)[0], atol=1e-8)
    linear = shap.LinearExplainer(learner, shap.maskers.Independent(background, max_samples=len(Z)))
    np.testing.assert_allclose(e.values, linear.shap_values(Z), atol=1e-8)
    # names and values in the input units: the raw f0/f1 of the cohort
    assert {"radiomics:f0", "radiomics:f1"} <= set(e.feature_names)
    j = e.feature_names.index("radiomics:f0")
    np.testing.assert_array_equal(
        e.data["radiomics:f0"].to_numpy(), mdata.mod["radiomics"][e.patients, "f0"].X.ravel()
    )
    # f0 raises the log-odds: its SHAP value grows with its value
    assert np.corrcoef(e.data.iloc[:, j], e.values[:, j])[0, 1] > 0.99


@pytest.mark.parametrize("learner", ["random_forest", "gradient_boosting"])
def test_tree_explanation_matches_shap_tree_explainer(data, learner):
    mdata = data.copy()
    model = rg.tl.fit_model(mdata, "label", "radiomics", model=learner, **QUICK)
    e = rg.tl.explain(model, mdata)
    assert e.method == "tree"
    Z, _ = _learner_inputs(model, mdata)
    estimator = model.pipeline[-1]
    reference = shap.TreeExplainer(estimator)(Z)
    values = reference.values[..., 1] if reference.values.ndim == 3 else reference.values
    base = np.ravel(reference.base_values[0])[-1]
    np.testing.assert_allclose(e.values, values, atol=1e-10)
    np.testing.assert_allclose(e.base_value, base, atol=1e-10)
    if learner == "random_forest":  # probability of the positive class
        expected = model.predict(mdata)["prediction"].to_numpy()
    else:  # log-odds
        expected = estimator.decision_function(Z)
    np.testing.assert_allclose(e.output, expected, atol=1e-10)
    np.testing.assert_allclose(e.values.sum(axis=1) + e.base_value, e.output, atol=1e-8)


def test_survival_linear_explanation_is_additive(data):
    mdata = data.copy()
    model = rg.tl.fit_model(mdata, "time", "radiomics", event="event", **QUICK)
    e = rg.tl.explain(model, mdata, patients=list(mdata.obs_names[:20]))
    Z, _ = _learner_inputs(model, mdata[list(mdata.obs_names[:20])])
    np.testing.assert_allclose(e.output, model.pipeline[-1].predict(Z), atol=1e-12)
    np.testing.assert_allclose(e.values.sum(axis=1) + e.base_value, e.output, atol=1e-10)
    assert e.patients == [str(p) for p in mdata.obs_names[:20]]


def test_stored_explanation_and_figures(data):
    mdata = data.copy()
    model = rg.tl.fit_model(mdata, "label", "radiomics", model="logistic", **QUICK)
    e = rg.tl.explain(model, mdata, key_added="label_shap")
    table = mdata.uns["radiogenomics"]["model_explanations"]["label_shap"]
    assert len(table) == mdata.n_obs * len(e.feature_names)
    rebuilt = rg.tl.Explanation.from_frame(table)
    np.testing.assert_allclose(rebuilt.values, e.values)
    np.testing.assert_allclose(rebuilt.output, e.output)
    summary = rg.pl.shap_summary(mdata, key="label_shap")
    assert len(summary.data) == len(e.feature_names)
    top = int(np.argmax(np.abs(e.values).mean(axis=0)))
    assert summary.layout.yaxis.ticktext[-1] == e.feature_names[top].split(":")[1]
    patient = e.patients[3]
    waterfall = rg.pl.shap_waterfall(e, patient, top=2)
    bars = waterfall.data[0]
    assert list(bars.measure) == ["absolute", "relative", "relative", "relative", "total"]
    assert bars.x[0] == pytest.approx(e.base_value)
    assert sum(bars.x[:-1]) == pytest.approx(e.output[3])
    with pytest.raises(rg.errors.InputError, match="not in the explanation"):
        rg.pl.shap_waterfall(e, "nobody")


def test_clear_error_without_shap(data, monkeypatch):
    import sys

    mdata = data.copy()
    model = rg.tl.fit_model(mdata, "label", "radiomics", model="random_forest", **QUICK)
    monkeypatch.setitem(sys.modules, "shap", None)
    with pytest.raises(rg.errors.RadiogenomicsError, match=r"radiogenomics\[explain\]"):
        rg.tl.explain(model, mdata)
    # linear learners need no shap
    linear = rg.tl.fit_model(mdata, "label", "radiomics", model="logistic", **QUICK)
    assert rg.tl.explain(linear, mdata).method == "linear"
