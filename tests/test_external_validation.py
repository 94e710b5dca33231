"""External validation: a fitted model applied with its stored preprocessing to a new
cohort; new sites harmonised to the training reference; calibration against statsmodels."""

from __future__ import annotations

import warnings

import anndata as ad
import mudata as md
import numpy as np
import pandas as pd
import pytest
from synthetic_models import QUICK, cohort

import radiogenomics as rg
from radiogenomics.stats.combat import combat_apply, combat_fit
from radiogenomics.stats.combat_reference import combat_add_batch


@pytest.mark.parametrize(
    "convention, parametric", [("sva", True), ("scanpy", True), ("sva", False)]
)
def test_new_batch_of_known_patients_gives_the_fitted_parameters(convention, parametric):
    """Each batch's effects are estimated from its own samples on the reference scale, so
    re-estimating a fitted batch as a new one gives back its fitted parameters."""
    rng = np.random.default_rng(4)
    values = rng.normal(size=(60, 15)) * rng.uniform(1, 3, 15) + rng.normal(0, 5, 15)
    batch = np.repeat([0, 1, 2], 20)
    values[batch == 1] = values[batch == 1] * 1.5 + 2.0
    model = combat_fit(values, batch, convention=convention, parametric=parametric)
    for b in range(3):
        extended = combat_add_batch(values[batch == b], model)
        assert extended.n_batches == 4
        np.testing.assert_allclose(extended.gamma_star[3], model.gamma_star[b], rtol=1e-10)
        np.testing.assert_allclose(extended.delta_star[3], model.delta_star[b], rtol=1e-10)
        np.testing.assert_array_equal(extended.gamma_star[:3], model.gamma_star)
        np.testing.assert_array_equal(extended.grand_mean, model.grand_mean)
        corrected = combat_apply(values[batch == b], np.full(20, 3), extended)
        np.testing.assert_allclose(
            corrected, combat_apply(values[batch == b], np.full(20, b), model), atol=1e-10
        )
    with pytest.raises(ValueError, match="at least two samples"):
        combat_add_batch(values[:1], model)


def _demo_noise_cohort(seed=3):
    """The demo clinical table (three sites) with a modality of pure noise shifted and
    scaled by site, as a scanner would."""
    from radiogenomics.datasets.simulate import simulate

    demo = simulate(180, random_state=seed, n_genes=20, n_proteins=5, with_images=False)
    clinical = demo.clinical.set_index("patient_id")
    rng = np.random.default_rng(seed)
    effect = {"site_A": (1.0, 0.0), "site_B": (1.3, 4.0), "site_C": (0.8, -3.0)}
    scale = clinical["site"].map(lambda s: effect[s][0]).to_numpy()[:, None]
    offset = clinical["site"].map(lambda s: effect[s][1]).to_numpy()[:, None]
    X = rng.normal(size=(len(clinical), 30)) * scale + offset
    noise = ad.AnnData(
        X,
        obs=pd.DataFrame(index=clinical.index.astype(str)),
        var=pd.DataFrame(index=[f"noise{j}" for j in range(30)]),
    )
    mdata = md.MuData({"noise": noise})
    for column in ("site", "egfr_mutant", "age"):
        mdata.obs[column] = clinical.loc[mdata.obs_names, column].to_numpy()
    return mdata


def test_noise_model_on_a_held_out_demo_site_is_at_chance():
    mdata = _demo_noise_cohort()
    train = mdata[mdata.obs["site"] != "site_C"].copy()
    external = mdata[mdata.obs["site"] == "site_C"].copy()
    model = rg.tl.fit_model(
        train, "egfr_mutant", "noise", harmonize="site", harmonize_modalities=("noise",), **QUICK
    )
    before = model.pipeline.named_steps["harmonize"].params_.gamma_star.copy()
    result = rg.tl.validate_model(model, external, n_bootstraps=500)
    auc = result.metrics.set_index("metric").loc["auc"]
    print(
        f"noise model, held-out site_C ({len(external.obs_names)} patients): AUC "
        f"{auc['estimate']:.3f} ({auc['ci_lower']:.3f}-{auc['ci_upper']:.3f})"
    )
    assert auc["ci_lower"] < 0.5 < auc["ci_upper"]
    # the site's effect is estimated on all its patients, scored or not (outcome missing)
    assert result.harmonisation["new_sites"] == {"site_C": external.n_obs}
    lacking = external.obs["egfr_mutant"].isna()
    assert sorted(result.dropped.index) == sorted(external.obs_names[lacking.to_numpy()])
    assert len(result.predictions) == external.n_obs - int(lacking.sum())
    # the model itself is unchanged: nothing refitted
    np.testing.assert_array_equal(
        model.pipeline.named_steps["harmonize"].params_.gamma_star, before
    )
    assert model.pipeline.named_steps["harmonize"].batches_ == ["site_A", "site_B"]
    comparison = result.comparison.set_index("metric")
    internal = model.metrics.set_index("metric").loc["auc", "estimate"]
    assert comparison.loc["auc", "internal"] == pytest.approx(internal)
    assert comparison.loc["auc", "external"] == pytest.approx(auc["estimate"])
    assert set(result.curves["curve"]) >= {"roc", "calibration", "decision", "treat_all"}
    roc = rg.pl.roc(result)
    assert [trace.name.split(":")[0] for trace in roc.data if trace.name] == [
        "chance",
        "cross-validation",
        "external",
    ]
    calibration = rg.pl.calibration(result)
    assert any("external: slope" in (trace.name or "") for trace in calibration.data)
    decision = rg.pl.decision_curve(result, where="external")
    assert len(decision.data) >= 3
    stored = external.uns["radiogenomics"]["external_validation"][model.name]
    assert len(stored) == len(result.metrics)
    with pytest.raises(rg.errors.InputError, match="not among the training sites"):
        rg.tl.validate_model(model, external, new_sites="error", n_bootstraps=10)


def test_calibration_equals_statsmodels_logistic_recalibration():
    import statsmodels.api as sm
    from scipy.special import logit

    mdata = cohort(seed=5, n=200, sites=("site_A", "site_B", "site_C"), signal=1.0)
    train = mdata[mdata.obs["site"] != "site_C"].copy()
    external = mdata[mdata.obs["site"] == "site_C"].copy()
    model = rg.tl.fit_model(train, "label", "radiomics", harmonize="site", **QUICK)
    result = rg.tl.validate_model(model, external, n_bootstraps=50)
    y = result.predictions["observed"].to_numpy()
    lp = logit(result.predictions["prediction"].to_numpy())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        slope = sm.Logit(y, sm.add_constant(lp)).fit(disp=0).params[1]
        intercept = (
            sm.GLM(y, np.ones((len(y), 1)), family=sm.families.Binomial(), offset=lp)
            .fit()
            .params[0]
        )
    print(
        f"calibration intercept {result.calibration['intercept']:.6f} (statsmodels "
        f"{intercept:.6f}), slope {result.calibration['slope']:.6f} ({slope:.6f})"
    )
    assert result.calibration["slope"] == pytest.approx(slope, abs=1e-8)
    assert result.calibration["intercept"] == pytest.approx(intercept, abs=1e-8)
    from sklearn.metrics import roc_auc_score

    auc = result.metrics.set_index("metric").loc["auc", "estimate"]
    assert auc == pytest.approx(roc_auc_score(y, lp))
    # the explanation of the external patients (linear: no shap needed) explains the
    # validated predictions
    explanation = rg.tl.explain(model, external)
    predicted = result.predictions.set_index("patient_id")["prediction"]
    np.testing.assert_allclose(
        1 / (1 + np.exp(-explanation.output)),
        predicted.loc[explanation.patients].to_numpy(),
        atol=1e-12,
    )


def test_known_sites_use_the_stored_parameters():
    mdata = cohort(seed=6, n=120)
    model = rg.tl.fit_model(mdata, "label", "radiomics", harmonize="site", **QUICK)
    result = rg.tl.validate_model(model, mdata, n_bootstraps=20)
    assert result.harmonisation == {
        "known_sites": list(dict.fromkeys(mdata.obs["site"])),
        "new_sites": {},
    }
    expected = model.predict(mdata).set_index("patient_id")["prediction"]
    got = result.predictions.set_index("patient_id")["prediction"]
    np.testing.assert_allclose(got.loc[expected.index], expected, atol=1e-12)


def test_refused_external_cohorts():
    mdata = cohort(seed=7, n=90)
    model = rg.tl.fit_model(mdata, "label", "radiomics", **QUICK)
    one_class = mdata[mdata.obs["label"] == 1].copy()
    with pytest.raises(rg.errors.CohortError, match="single class"):
        rg.tl.validate_model(model, one_class, n_bootstraps=10)
    no_outcome = mdata.copy()
    del no_outcome.obs["label"]
    with pytest.raises(rg.errors.CohortError, match="no outcome column 'label'"):
        rg.tl.validate_model(model, no_outcome, n_bootstraps=10)


def test_survival_and_regression_models_validate():
    from lifelines.utils import concordance_index
    from sklearn.metrics import r2_score

    mdata = cohort(seed=0, n=150, sites=("site_A", "site_B", "site_C"))
    train = mdata[mdata.obs["site"] != "site_C"].copy()
    external = mdata[mdata.obs["site"] == "site_C"].copy()
    survival = rg.tl.fit_model(train, "time", "radiomics", event="event", harmonize="site", **QUICK)
    result = rg.tl.validate_model(survival, external, n_bootstraps=50)
    p = result.predictions
    reference = concordance_index(p["time"], -p["prediction"], p["event"])
    metrics = result.metrics.set_index("metric")
    assert metrics.loc["concordance", "estimate"] == pytest.approx(reference, abs=1e-10)
    assert "time_dependent_auc" in set(result.curves["curve"])
    assert result.harmonisation["new_sites"] == {"site_C": external.n_obs}
    regression = rg.tl.fit_model(train, "time", "radiomics", task="regression", **QUICK)
    result = rg.tl.validate_model(regression, external, n_bootstraps=50)
    r2 = r2_score(result.predictions["observed"], result.predictions["prediction"])
    assert result.metrics.set_index("metric").loc["r2", "estimate"] == pytest.approx(r2)
