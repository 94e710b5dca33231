"""Predictive models: metric kernels against scikit-learn, scikit-survival, statsmodels and
lifelines; the leakage test; the planted mutation on the demo; prediction on new patients;
saving, loading and storing; figures; the command line."""

from __future__ import annotations

import json
import warnings

import anndata as ad
import mudata as md
import numpy as np
import pandas as pd
import pytest
from helpers import run_cli

import radiogenomics as rg
from radiogenomics.errors import CohortError, InputError
from radiogenomics.stats import classification as cls
from radiogenomics.stats import concordance as conc
from radiogenomics.stats.resampling import (
    bootstrap_indices,
    percentile_interval,
    permutation_p_value,
)
from radiogenomics.stats.selection import cox_score_test, mrmr_order
from radiogenomics.tl.models import transformers
from radiogenomics.tl.models.design import survival_array

# few folds, repeats, bootstraps and permutations: the tests check behaviour, not precision
QUICK = {"n_repeats": 1, "n_bootstraps": 200, "importance_repeats": 2}


def _binary_data(seed=0, n=160, ties=True):
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < 0.4).astype(int)
    a = y * 0.9 + rng.normal(size=n)
    b = 0.5 * a + rng.normal(size=n)
    if ties:
        a = np.round(a, 1)
    return y, a, b


def _survival_data(seed=0, n=150):
    rng = np.random.default_rng(seed)
    risk = rng.normal(size=n)
    time = np.round(rng.exponential(10 * np.exp(-0.7 * risk)), 0) + 1  # tied times
    event = rng.random(n) < 0.7
    return time, event, np.round(risk + rng.normal(0, 0.8, n), 1)  # tied risks


# --------------------------------------------------------------------------- kernels


def test_auc_and_roc_match_scikit_learn():
    from sklearn.metrics import roc_auc_score, roc_curve

    y, a, b = _binary_data()
    assert cls.roc_auc(y, a) == pytest.approx(roc_auc_score(y, a), abs=1e-12)
    np.testing.assert_allclose(
        cls.roc_auc(y, np.column_stack([a, b])),
        [roc_auc_score(y, a), roc_auc_score(y, b)],
        atol=1e-12,
    )
    fpr, tpr, _ = roc_curve(y, a, drop_intermediate=False)
    ours_fpr, ours_tpr, _ = cls.roc_points(y, a)
    np.testing.assert_allclose(ours_fpr, fpr, atol=1e-12)
    np.testing.assert_allclose(ours_tpr, tpr, atol=1e-12)
    assert np.trapezoid(ours_tpr, ours_fpr) == pytest.approx(roc_auc_score(y, a))
    grid = np.linspace(0, 1, 37)
    np.testing.assert_allclose(
        cls.roc_on_grid(y, b, grid), np.interp(grid, *roc_curve(y, b)[:2]), atol=1e-12
    )


def test_delong_equals_structural_components_computed_pairwise():
    """DeLong's covariance from mid-ranks equals the definition: the covariance of the
    placement values psi(X_i, Y_j) averaged over the other class, computed pair by pair."""
    y, a, b = _binary_data(seed=3)
    scores = np.column_stack([a, b])
    auc, covariance = cls.delong(y, scores)
    pos, neg = scores[y == 1], scores[y == 0]
    psi = (pos[:, None, :] > neg[None, :, :]) + 0.5 * (pos[:, None, :] == neg[None, :, :])
    v10, v01 = psi.mean(axis=1), psi.mean(axis=0)
    expected = np.cov(v10, rowvar=False) / len(pos) + np.cov(v01, rowvar=False) / len(neg)
    np.testing.assert_allclose(auc, psi.mean(axis=(0, 1)), atol=1e-12)
    np.testing.assert_allclose(covariance, expected, atol=1e-12)


def _delong_pairwise(y, a, b):
    """DeLong, DeLong & Clarke-Pearson (1988) written out pair by pair (O(n_pos n_neg)),
    independent of the mid-rank algorithm: the AUC difference, its standard error, z and
    the two-sided p-value, as pROC's roc.test(method="delong", paired=TRUE)."""
    from scipy import stats

    components = []
    for s in (a, b):
        pos, neg = s[y == 1], s[y == 0]
        psi = (pos[:, None] > neg[None, :]) + 0.5 * (pos[:, None] == neg[None, :])
        components.append((psi.mean(), psi.mean(axis=1), psi.mean(axis=0)))
    (auc_a, v10_a, v01_a), (auc_b, v10_b, v01_b) = components
    s10 = np.cov(np.vstack([v10_a, v10_b]))
    s01 = np.cov(np.vstack([v01_a, v01_b]))
    var = (s10[0, 0] + s10[1, 1] - 2 * s10[0, 1]) / len(v10_a) + (
        s01[0, 0] + s01[1, 1] - 2 * s01[0, 1]
    ) / len(v01_a)
    z = (auc_a - auc_b) / np.sqrt(var)
    return auc_a - auc_b, np.sqrt(var), z, 2 * stats.norm.sf(abs(z))


@pytest.mark.parametrize("ties", [False, True])
def test_delong_test_equals_the_pairwise_definition(ties):
    y, a, b = _binary_data(seed=5, n=150, ties=ties)
    test = cls.delong_test(y, a, b)
    difference, std_error, z, p = _delong_pairwise(y, a, b)
    assert test["difference"] == pytest.approx(difference, abs=1e-12)
    assert test["std_error"] == pytest.approx(std_error, rel=1e-10)
    assert test["z"] == pytest.approx(z, rel=1e-10)
    assert test["p_value"] == pytest.approx(p, rel=1e-9)
    reverse = cls.delong_test(y, b, a)  # as pROC: swapping the curves flips z, keeps p
    assert reverse["z"] == pytest.approx(-test["z"]) and reverse["p_value"] == pytest.approx(
        test["p_value"]
    )


def test_delong_test_agrees_with_the_bootstrap():
    y, a, b = _binary_data(seed=4, n=200, ties=False)
    test = cls.delong_test(y, a, b)
    idx = bootstrap_indices(len(y), 3000, 0)
    differences = np.array([cls.roc_auc(y[i], a[i]) - cls.roc_auc(y[i], b[i]) for i in idx])
    assert test["difference"] == pytest.approx(cls.roc_auc(y, a) - cls.roc_auc(y, b))
    assert test["std_error"] == pytest.approx(differences.std(ddof=1), rel=0.15)
    # and the p-value follows from z
    from scipy import stats

    assert test["p_value"] == pytest.approx(2 * stats.norm.sf(abs(test["z"])))
    same = cls.delong_test(y, a, a)
    assert same["p_value"] == 1.0 and same["difference"] == 0


def test_brier_and_balanced_accuracy_match_scikit_learn():
    from sklearn.metrics import balanced_accuracy_score, brier_score_loss

    y, a, _ = _binary_data(seed=5)
    p = 1 / (1 + np.exp(-a))
    assert cls.brier_score(y, p) == pytest.approx(brier_score_loss(y, p), abs=1e-12)
    assert cls.balanced_accuracy(y, p >= 0.5) == pytest.approx(
        balanced_accuracy_score(y, p >= 0.5), abs=1e-12
    )


def test_calibration_intercept_and_slope_match_statsmodels():
    import statsmodels.api as sm

    y, a, _ = _binary_data(seed=6, ties=False)
    p = 1 / (1 + np.exp(-(0.3 + 1.7 * a)))  # overconfident predictions
    lp = np.log(p / (1 - p))
    slope_fit = sm.GLM(y, sm.add_constant(lp), family=sm.families.Binomial()).fit()
    offset_fit = sm.GLM(y, np.ones((len(y), 1)), family=sm.families.Binomial(), offset=lp).fit()
    intercept, slope = cls.calibration_intercept_slope(y, p)
    assert slope == pytest.approx(slope_fit.params[1], rel=1e-7)
    assert intercept == pytest.approx(offset_fit.params[0], rel=1e-7)
    assert slope < 1  # overconfident
    # perfectly separated: no finite slope
    assert cls.calibration_intercept_slope([0, 0, 1, 1], [0.1, 0.2, 0.8, 0.9])[1] == np.inf


def test_net_benefit_and_calibration_bins_follow_their_definitions():
    y, a, _ = _binary_data(seed=7)
    p = 1 / (1 + np.exp(-a))
    thresholds = [0.1, 0.3, 0.5]
    expected = []
    for t in thresholds:
        treated = [i for i in range(len(y)) if p[i] >= t]
        tp = sum(1 for i in treated if y[i] == 1)
        fp = len(treated) - tp
        expected.append(tp / len(y) - fp / len(y) * t / (1 - t))
    np.testing.assert_allclose(cls.net_benefit(y, p, thresholds), expected, atol=1e-12)
    bins = cls.calibration_bins(y, p, n_bins=4)
    assert bins["n"].sum() == len(y)
    assert ((bins["lower"] <= bins["observed"]) & (bins["observed"] <= bins["upper"])).all()
    from statsmodels.stats.proportion import proportion_confint

    lo, hi = proportion_confint(7, 20, method="wilson")
    np.testing.assert_allclose(cls.wilson_interval(7, 20), (lo, hi), atol=1e-12)


def test_concordance_and_time_dependent_auc_match_scikit_survival():
    from sksurv.metrics import concordance_index_censored, cumulative_dynamic_auc

    time, event, risk = _survival_data()
    ours = conc.concordance_counts(time, event, risk)
    theirs = concordance_index_censored(event, time, risk)
    assert ours["concordance"] == pytest.approx(theirs[0], abs=1e-12)
    assert (ours["concordant"], ours["discordant"], ours["tied_risk"]) == tuple(theirs[1:4])
    y = survival_array(event, time)
    times = np.percentile(time[event], [20, 40, 60, 80])
    auc, mean = conc.cumulative_dynamic_auc(time, event, time, event, risk, times)
    auc_ref, mean_ref = cumulative_dynamic_auc(y, y, risk, times)
    np.testing.assert_allclose(auc, auc_ref, atol=1e-12)
    assert mean == pytest.approx(mean_ref, abs=1e-12)
    # held-out patients weighted by the training censoring distribution
    train, test = np.arange(0, 100), np.arange(100, 150)
    horizon = [np.median(time[test][event[test]])]
    ours_split = conc.cumulative_dynamic_auc(
        time[train], event[train], time[test], event[test], risk[test], horizon
    )[0]
    theirs_split = cumulative_dynamic_auc(y[train], y[test], risk[test], horizon)[0]
    np.testing.assert_allclose(ours_split, theirs_split, atol=1e-12)


def test_cox_score_test_matches_statsmodels_and_the_logrank_test():
    from lifelines.statistics import logrank_test
    from statsmodels.duration.hazard_regression import PHReg

    time, event, _ = _survival_data(seed=2)
    rng = np.random.default_rng(2)
    X = np.column_stack([rng.normal(size=len(time)), rng.random(len(time)) < 0.5])
    result = cox_score_test(time, event, X)
    for j in range(X.shape[1]):
        model = PHReg(time, X[:, [j]], status=event.astype(int), ties="breslow")
        assert result["score"][j] == pytest.approx(model.score(np.zeros(1))[0], rel=1e-9)
        assert result["information"][j] == pytest.approx(
            -model.hessian(np.zeros(1))[0, 0], rel=1e-9
        )
    # without tied times, the score test of a binary covariate is the log-rank test
    continuous = rng.exponential(10, len(time))
    group = X[:, 1].astype(bool)
    chi2 = cox_score_test(continuous, event, X[:, [1]])["statistic"][0]
    reference = logrank_test(continuous[group], continuous[~group], event[group], event[~group])
    assert chi2 == pytest.approx(reference.test_statistic, rel=1e-9)


def test_resampling_helpers():
    strata = np.r_[np.zeros(30), np.ones(10)]
    idx = bootstrap_indices(40, 50, 0, strata=strata)
    assert idx.shape == (50, 40)
    assert (strata[idx].sum(axis=1) == 10).all()  # both classes keep their size
    lower, upper = percentile_interval(np.r_[np.arange(90.0), np.full(10, np.inf)], 0.9)
    assert np.isfinite(lower) and upper == np.inf
    assert permutation_p_value(0.9, [0.5, 0.6, 0.95]) == pytest.approx(2 / 4)
    assert permutation_p_value(0.9, np.zeros(99)) == pytest.approx(0.01)


# --------------------------------------------------------------------------- selection


def _planted(n=120, p=200, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, p))
    linear = 1.2 * X[:, 0] - 1.0 * X[:, 1] + 0.8 * X[:, 2]
    y = (linear + rng.normal(0, 0.8, n) > 0).astype(int)
    frame = pd.DataFrame(X, columns=[f"f{j}" for j in range(p)])
    return frame, y, linear


@pytest.mark.parametrize(
    "selector",
    [
        transformers.UnivariateSelector(k=5),
        transformers.LassoPathSelector(k=5),
        transformers.MRMRSelector(k=5),
        transformers.StabilitySelector(k=5, n_subsamples=15, base="univariate"),
        transformers.StabilitySelector(k=5, n_subsamples=10, base="lasso"),
    ],
    ids=["univariate", "lasso", "mrmr", "stability-univariate", "stability-lasso"],
)
def test_selectors_find_the_planted_features(selector):
    X, y, _ = _planted()
    selector.fit(X, y)
    chosen = set(selector.get_feature_names_out())
    assert {"f0", "f1", "f2"} <= chosen
    assert len(chosen) == 5


def test_selectors_for_survival_and_regression():
    X, _, linear = _planted(seed=1)
    rng = np.random.default_rng(1)
    time = rng.exponential(10 * np.exp(-linear))
    y = survival_array(rng.random(len(time)) < 0.8, time)
    for selector in (
        transformers.UnivariateSelector(k=4),
        transformers.LassoPathSelector(k=4),
        transformers.MRMRSelector(k=4),
    ):
        assert {"f0", "f1", "f2"} <= set(selector.fit(X, y).get_feature_names_out())
    target = linear + rng.normal(0, 0.5, len(linear))
    assert {"f0", "f1", "f2"} <= set(
        transformers.LassoPathSelector(k=4).fit(X, target).get_feature_names_out()
    )


@pytest.mark.parametrize("scheme", ["difference", "quotient"])
def test_mrmr_order_follows_the_worked_example(scheme):
    """Worked by hand, with features built from orthogonal zero-mean columns h1, h2, h3 so
    that every |correlation| is exact: x0 = h1, x1 = h1 (a copy), x2 = h1 + h2
    (|r| = 1/sqrt 2 with x0 and x1, 0 with x3), x3 = h3; relevance 0.90, 0.88, 0.60, 0.40.

    difference (FCD): x0 first; then x1: 0.88 - 1 = -0.12, x2: 0.60 - 0.707 = -0.107,
    x3: 0.40 - 0 = 0.40 -> x3; then x1: 0.88 - (1 + 0) / 2 = 0.38, x2: 0.60 - 0.354 = 0.246
    -> x1; then x2.  quotient (FCQ, eps 1e-3): x3 (0.40 / 0.001); then x1: 0.88 / 0.501 =
    1.756, x2: 0.60 / 0.355 = 1.692 -> x1; then x2.
    """
    h1 = np.array([1.0, -1, 1, -1])
    h2 = np.array([1.0, 1, -1, -1])
    h3 = np.array([1.0, -1, -1, 1])
    X = np.tile(np.column_stack([h1, h1, h1 + h2, h3]), (25, 1))
    relevance = np.array([0.90, 0.88, 0.60, 0.40])
    assert list(mrmr_order(X, relevance, 4, scheme=scheme)) == [0, 3, 1, 2]
    assert list(mrmr_order(X, relevance, 2, scheme=scheme)) == [0, 3]
    # without x3: FCD takes x2 (-0.107 > -0.12), FCQ the copy (0.88 / 1.001 = 0.879 >
    # 0.60 / 0.708 = 0.847): the quotient penalises redundancy less
    expected = [0, 2, 1] if scheme == "difference" else [0, 1, 2]
    assert list(mrmr_order(X[:, :3], relevance[:3], 3, scheme=scheme)) == expected


def test_mrmr_skips_a_redundant_copy_that_univariate_ranking_keeps():
    rng = np.random.default_rng(0)
    n = 200
    strong = rng.normal(size=n)
    second = rng.normal(size=n)
    y = (strong + 0.6 * second + rng.normal(0, 0.5, n) > 0).astype(int)
    X = np.column_stack([strong, strong + rng.normal(0, 0.05, n), second, rng.normal(size=n)])
    from radiogenomics.stats.selection import relevance_correlation

    relevance = relevance_correlation(transformers.relevance_scores(X, y), n)
    univariate = list(np.argsort(-relevance)[:2])
    assert set(univariate) == {0, 1}
    assert set(mrmr_order(X, relevance, 2)) == {univariate[0], 2}


# --------------------------------------------------------------------------- leakage


def _noise_cohort(seed=0, n=60, p=2000):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, p))
    y = np.repeat([0.0, 1.0], n // 2)
    rng.shuffle(y)
    ids = [f"P{i:03d}" for i in range(n)]
    noise = ad.AnnData(
        X, obs=pd.DataFrame(index=ids), var=pd.DataFrame(index=[f"f{j}" for j in range(p)])
    )
    mdata = md.MuData({"noise": noise})
    mdata.obs["label"] = y
    return mdata, X, y


def test_leakage_nested_pipeline_stays_at_chance_where_select_then_validate_does_not():
    """Pure noise, 60 patients x 2,000 features: selection inside the folds gives an AUC
    near 0.5; selecting on all patients first and cross-validating afterwards (the common
    mistake, built here only) looks excellent."""
    from sklearn.feature_selection import SelectKBest, f_classif
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import roc_auc_score
    from sklearn.model_selection import StratifiedKFold, cross_val_predict

    mdata, X, y = _noise_cohort()
    model = rg.tl.fit_model(
        mdata, "label", "noise", n_features=10, n_repeats=2, n_bootstraps=300, importance_repeats=0
    )
    auc = model.metrics.set_index("metric").loc["auc"]
    naive_X = SelectKBest(f_classif, k=10).fit_transform(X, y)
    naive = roc_auc_score(
        y,
        cross_val_predict(
            LogisticRegression(),
            naive_X,
            y,
            method="predict_proba",
            cv=StratifiedKFold(5, shuffle=True, random_state=0),
        )[:, 1],
    )
    print(
        f"noise: nested AUC {auc['estimate']:.3f} ({auc['ci_lower']:.3f}-"
        f"{auc['ci_upper']:.3f}); select-then-validate AUC {naive:.3f}"
    )
    assert abs(auc["estimate"] - 0.5) < 0.12
    assert auc["ci_lower"] < 0.5 < auc["ci_upper"]
    assert naive > 0.8
    assert naive - auc["estimate"] > 0.25


def test_harmonisation_is_fitted_on_training_patients_only(monkeypatch):
    """The harmonisation step learns its batch parameters from the rows it is fitted on
    and applies them, unchanged, to held-out rows (checked with a stand-in location/scale
    harmoniser)."""
    calls = []

    def fit(values, batch):
        calls.append(values.shape[0])
        assert batch.dtype.kind == "i"  # integer codes, as radiogenomics.stats.combat takes
        return {b: (values[batch == b].mean(0), values[batch == b].std(0)) for b in set(batch)}

    def apply(values, batch, params):
        out = values.copy()
        for b, (mean, sd) in params.items():
            out[batch == b] = (values[batch == b] - mean) / sd
        return out

    monkeypatch.setattr(transformers, "_combat_backend", lambda: (fit, apply))
    rng = np.random.default_rng(0)
    X = pd.DataFrame(
        {
            "radiomics:a": rng.normal(size=40),
            "clinical:age": rng.normal(size=40),
            "batch:site": np.repeat(["A", "B"], 20),
        }
    )
    X.loc[X["batch:site"] == "B", "radiomics:a"] += 5
    step = transformers.Harmonizer(batch="batch:site").fit(X.iloc[:30])
    assert calls == [30]
    out = step.transform(X)
    assert list(out.columns) == ["radiomics:a", "clinical:age"]  # batch dropped
    np.testing.assert_allclose(out["clinical:age"], X["clinical:age"])  # not harmonised
    training_b = X.iloc[20:30]["radiomics:a"]
    expected = (X.iloc[30:]["radiomics:a"] - training_b.mean()) / training_b.std(ddof=0)
    np.testing.assert_allclose(out.iloc[30:]["radiomics:a"], expected)
    unseen = X.iloc[:3].assign(**{"batch:site": "C"})
    with pytest.raises(InputError, match="'C' was not among the training batches"):
        step.transform(unseen)
    with pytest.raises(InputError, match="single patient"):
        transformers.Harmonizer(batch="batch:site").fit(X.iloc[:21])


# --------------------------------------------------------------------------- demo cohort


def test_planted_mutation_is_predicted_from_imaging(demo_cohort):
    """EGFR-mutant tumours are lobulated in the demo: EGFR status is predicted from the
    radiomic features above chance, with an interval, and the permutation test agrees."""
    model = rg.tl.fit_model(
        demo_cohort,
        "egfr_mutant",
        "radiomics",
        n_features=5,
        param_grid={},
        n_permutations=39,
        **QUICK,
    )
    auc = model.metrics.set_index("metric").loc["auc"]
    permutation = model.card["validation"]["permutation_test"]
    print(
        f"EGFR from radiomics: AUC {auc['estimate']:.3f} ({auc['ci_lower']:.3f}-"
        f"{auc['ci_upper']:.3f}), permutation p {permutation['p_value']:.3f} "
        f"(null mean {permutation['null_mean']:.3f})"
    )
    assert auc["ci_lower"] > 0.75
    assert permutation["p_value"] < 0.05
    assert abs(permutation["null_mean"] - 0.5) < 0.1
    truth = demo_cohort.uns["radiogenomics"]["truth"]["mutation_markers"]
    markers = set(truth.loc[truth["gene"] == "EGFR", "feature"])
    top = model.importance.iloc[0]
    assert top["feature"] in markers and top["selection_frequency"] == 1.0


def test_metrics_equal_scikit_learn_on_the_stored_predictions(demo_cohort):
    from sklearn.metrics import balanced_accuracy_score, brier_score_loss, roc_auc_score

    model = rg.tl.fit_model(
        demo_cohort, "response", {"rna": None}, n_features=10, param_grid={"C": [0.5]}, **QUICK
    )
    cv = model.predictions
    metrics = model.metrics.set_index("metric")["estimate"]
    assert metrics["auc"] == pytest.approx(roc_auc_score(cv["observed"], cv["prediction"]))
    assert metrics["brier"] == pytest.approx(brier_score_loss(cv["observed"], cv["prediction"]))
    assert metrics["balanced_accuracy"] == pytest.approx(
        balanced_accuracy_score(cv["observed"], cv["prediction"] >= 0.5)
    )
    assert metrics["auc"] > 0.65  # response follows the immune factor, seen in the RNA
    assert set(cv["observed_label"]) == {"responder", "non-responder"}
    assert model.target.positive == "responder"


def test_survival_model_with_scikit_survival_metrics(demo_cohort):
    from sksurv.metrics import concordance_index_censored, cumulative_dynamic_auc

    model = rg.tl.fit_model(
        demo_cohort,
        "os_months",
        {"radiomics": None, "clinical": ["age", "stage"]},
        event="os_event",
        n_features=10,
        param_grid={"alphas": [[0.05]]},
        **QUICK,
    )
    cv = model.predictions
    metrics = model.metrics.set_index("metric")["estimate"]
    event = cv["event"].astype(bool).to_numpy()
    assert metrics["concordance"] == pytest.approx(
        concordance_index_censored(event, cv["time"], cv["prediction"])[0]
    )
    times = model.card["validation"]["times"]
    y = survival_array(event, cv["time"])
    auc, mean = cumulative_dynamic_auc(y, y, cv["prediction"], times)
    for t, value in zip(times, auc):
        assert metrics[f"time_dependent_auc@{t:g}"] == pytest.approx(value)
    assert metrics["mean_time_dependent_auc"] == pytest.approx(mean)
    c_index = model.metrics.set_index("metric").loc["concordance"]
    assert c_index["ci_lower"] > 0.5
    assert set(model.curves["curve"]) == {"time_dependent_auc"} and len(model.curves) >= 8


def test_compare_feature_sets_on_the_same_folds(demo_cohort):
    comparison = rg.tl.compare_models(
        demo_cohort,
        "response",
        {"imaging": "radiomics", "molecular": "rna", "clinical": {"clinical": ["age", "stage"]}},
        n_features=10,
        n_repeats=1,
        n_bootstraps=200,
    )
    auc = comparison.metrics[comparison.metrics["metric"] == "auc"].set_index("candidate")
    assert set(auc.index) == {"imaging", "molecular", "clinical"}
    tests = comparison.tests.set_index(["candidate_a", "candidate_b"])
    assert len(tests) == 3
    row = tests.loc[("imaging", "molecular")]
    # DeLong on the repeat-averaged predictions is the same statistic computed directly
    direct = cls.delong_test(
        comparison.predictions["observed"],
        comparison.predictions["imaging"],
        comparison.predictions["molecular"],
    )
    assert row["p_value_delong"] == pytest.approx(direct["p_value"])
    assert row["difference"] == pytest.approx(
        auc.loc["imaging", "estimate"] - auc.loc["molecular", "estimate"]
    )
    assert 0 < row["p_value_bootstrap"] <= 1
    stored = demo_cohort.uns["radiogenomics"]["model_comparison_tests"]["response"]
    assert len(stored) == 3


# --------------------------------------------------------------------------- use and reuse


@pytest.fixture(scope="module")
def fitted(demo_build):
    mdata = demo_build[2].copy()
    model = rg.tl.fit_model(
        mdata,
        "egfr_mutant",
        {"radiomics": None, "clinical": ["stage"]},
        n_features=5,
        param_grid={},
        test=("site", "site_C"),
        **QUICK,
    )
    return mdata, model


def test_external_split_and_stored_results(fitted, tmp_path):
    mdata, model = fitted
    external = model.predictions[model.predictions["set"] == "external"]
    site_c = mdata.obs_names[mdata.obs["site"] == "site_C"]
    assert set(external["patient_id"]) == set(site_c)
    cv = model.predictions[model.predictions["set"] == "cross-validation"]
    assert not set(cv["patient_id"]) & set(site_c)
    assert {"cross-validation", "external"} == set(model.metrics["validation"])
    ext_auc = model.metrics.set_index(["validation", "metric"]).loc[("external", "auc")]
    assert ext_auc["estimate"] > 0.8
    path = rg.write_cohort(mdata, tmp_path / "cohort.h5mu")
    back = rg.read_cohort(path)
    root = back.uns["radiogenomics"]
    card = json.loads(root["model_cards"]["egfr_mutant"])
    assert card["target"]["column"] == "egfr_mutant"
    pd.testing.assert_frame_equal(
        root["model_predictions"]["egfr_mutant"].reset_index(drop=True),
        model.predictions.reset_index(drop=True),
        check_dtype=False,
        check_categorical=False,
    )
    assert len(rg.get_result(back, "models", "egfr_mutant")) == len(model.metrics)


def test_predict_new_patients_with_the_stored_preprocessing(fitted):
    mdata, model = fitted
    scored = rg.tl.predict(model, mdata)
    X, _ = model.inputs(mdata)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        direct = model.pipeline.predict_proba(X)[:, 1]
    np.testing.assert_allclose(scored["prediction"], direct)
    assert set(scored["predicted_label"]) <= {"0", "1"}
    # a new cohort: five patients, their radiomics only, with the clinical column
    new = mdata[mdata.obs_names[:5]].copy()
    subset = rg.tl.predict(model, new, key_added="new_patients")
    np.testing.assert_allclose(subset["prediction"], scored["prediction"][:5])
    assert "new_patients" in new.uns["radiogenomics"]["model_predictions"]


def test_predict_errors_name_what_is_missing(fitted):
    mdata, model = fitted
    needed = model.required[0].split(":", 1)[1]
    lacking = mdata.copy()
    radiomics = lacking["radiomics"]
    lacking.mod["radiomics"] = radiomics[:, [v for v in radiomics.var_names if v != needed]].copy()
    with pytest.raises(InputError, match="feature\\(s\\) the model needs") as info:
        model.predict(lacking)
    assert needed in str(info.value)
    holes = mdata.copy()
    patient = holes.obs_names[2]
    values = np.array(holes["radiomics"].X, dtype=float)
    values[
        list(holes["radiomics"].obs_names).index(patient),
        list(holes["radiomics"].var_names).index(needed),
    ] = np.nan
    holes.mod["radiomics"].X = values
    with pytest.raises(InputError, match=f"{patient}") as info:
        model.predict(holes)
    assert needed in str(info.value)
    assert len(model.predict(holes, missing="skip")) == holes.n_obs - 1
    assert len(model.predict(holes, missing="impute")) == holes.n_obs
    relabelled = mdata.copy()
    relabelled.obs["stage"] = relabelled.obs["stage"].astype(str).replace("IV", "4")
    if any(r.startswith("clinical:stage") for r in model.required):
        with pytest.raises(CohortError, match="level the model has not seen"):
            model.predict(relabelled)
    no_modality = md.MuData({"rna": mdata["rna"].copy()})
    with pytest.raises(InputError, match="lacks modality 'radiomics'"):
        model.predict(no_modality)


def test_save_and_load_with_the_model_card(fitted, tmp_path):
    mdata, model = fitted
    folder = model.save(tmp_path / "egfr")
    card = json.loads((folder / "model_card.json").read_text())
    for section in ("data", "features", "pipeline", "validation", "versions", "figures"):
        assert section in card
    assert card["versions"]["scikit-learn"]
    assert card["features"]["used_by_final_model"] == model.required
    assert {m["metric"] for m in card["validation"]["metrics"]} >= {
        "auc",
        "brier",
        "calibration_slope",
    }
    for figure in card["figures"].values():
        assert (folder / figure).exists()
    loaded = rg.tl.load_model(folder)
    pd.testing.assert_frame_equal(loaded.predict(mdata), model.predict(mdata))
    with pytest.raises(InputError, match="no saved model"):
        rg.tl.load_model(tmp_path / "nothing")


def test_figures(fitted):
    mdata, model = fitted
    for maker in (rg.pl.roc, rg.pl.calibration, rg.pl.decision_curve, rg.pl.importance):
        from_model = maker(model)
        from_cohort = maker(mdata, "egfr_mutant")
        assert len(from_model.data) == len(from_cohort.data) > 0
    roc = rg.pl.roc(model)
    names = [trace.name for trace in roc.data if trace.name]
    assert any(n.startswith("cross-validation: AUC") for n in names)
    assert any(n.startswith("external: AUC") for n in names)
    with pytest.raises(CohortError):
        rg.pl.time_dependent_auc(model)


def test_bad_requests_are_clear_errors(demo_cohort):
    with pytest.raises(CohortError, match="no clinical column 'egfr'"):
        rg.tl.fit_model(demo_cohort, "egfr", "radiomics")
    with pytest.raises(CohortError, match="exactly two classes"):
        rg.tl.fit_model(demo_cohort, "stage", "radiomics", task="classification")
    with pytest.raises(CohortError, match="unknown feature source"):
        rg.tl.fit_model(demo_cohort, "egfr_mutant", "images")
    with pytest.raises(CohortError, match="outcome column cannot be a predictor"):
        rg.tl.fit_model(demo_cohort, "egfr_mutant", ["radiomics", "egfr_mutant"])
    with pytest.raises(InputError, match="needs an event column"):
        rg.tl.fit_model(demo_cohort, "os_months", "radiomics", task="survival")
    with pytest.raises(InputError, match="unknown model"):
        rg.tl.fit_model(demo_cohort, "egfr_mutant", "radiomics", model="svm")


def test_default_clinical_columns_leave_out_outcomes(demo_cohort):
    from radiogenomics.tl.models.design import parse_features

    spec = parse_features(
        demo_cohort, "radiomics,clinical", ["os_months", "os_event"], batch="site"
    )
    assert "vital_status" in spec.excluded  # re-encodes the event
    assert "site" in spec.excluded and "site" not in spec.clinical
    assert not {"os_months", "os_event", "vital_status"} & set(spec.clinical)
    assert {"age", "stage"} <= set(spec.clinical)


def test_model_command(demo_build, tmp_path):
    cohort = rg.write_cohort(demo_build[2].copy(), tmp_path / "cohort.h5mu")
    out = tmp_path / "model"
    result = run_cli(
        "model",
        str(cohort),
        "--target",
        "egfr_mutant",
        "--features",
        "radiomics,clinical",
        "--clinical",
        "age,stage",
        "--out",
        str(out),
        "--repeats",
        "1",
        "--bootstraps",
        "100",
        "--permutations",
        "0",
        "--n-features",
        "5",
    )
    assert result.returncode == 0, result.stderr
    assert "[cross-validation] auc" in result.stdout
    card = json.loads((out / "model_card.json").read_text())
    assert card["features"]["clinical"] == ["age", "stage"]
    assert card["validation"]["n_repeats"] == 1
    bad = run_cli("model", str(cohort), "--target", "nope", "--out", str(tmp_path / "x"))
    assert bad.returncode == 2
    assert len(bad.stderr.strip().splitlines()) <= 2 and "Traceback" not in bad.stderr


def test_regression_and_redundancy_filter():
    from sklearn.metrics import mean_absolute_error, r2_score

    mdata, X, _ = _noise_cohort(seed=3, n=80, p=300)
    rng = np.random.default_rng(3)
    mdata.obs["score"] = 2 * X[:, 0] - X[:, 1] + rng.normal(0, 0.5, 80)
    model = rg.tl.fit_model(mdata, "score", "noise", n_features=5, redundancy=0.9, **QUICK)
    assert model.task == "regression"
    assert "redundancy" in model.card["pipeline"]["steps"]
    cv = model.predictions
    metrics = model.metrics.set_index("metric")["estimate"]
    assert metrics["r2"] == pytest.approx(r2_score(cv["observed"], cv["prediction"]))
    assert metrics["mae"] == pytest.approx(mean_absolute_error(cv["observed"], cv["prediction"]))
    assert metrics["r2"] > 0.6
    assert {"noise:f0", "noise:f1"} <= set(model.required)
    # the redundancy filter keeps the first of two near-copies
    frame = pd.DataFrame({"a": X[:, 0], "a_copy": X[:, 0] + 0.01 * X[:, 2], "b": X[:, 1]})
    kept = transformers.CorrelationFilter(threshold=0.95).fit(frame).get_feature_names_out()
    assert list(kept) == ["a", "b"]


@pytest.mark.parametrize(
    "task,learner",
    [
        ("classification", "elastic_net"),
        ("classification", "random_forest"),
        ("classification", "gradient_boosting"),
        ("survival", "random_forest"),
        ("survival", "gradient_boosting"),
    ],
)
def test_every_learner_fits_validates_and_predicts(task, learner):
    mdata, X, _ = _noise_cohort(seed=4, n=80, p=30)
    rng = np.random.default_rng(4)
    signal = 1.5 * X[:, 0] - 1.0 * X[:, 1]
    if task == "classification":
        mdata.obs["label"] = (signal + rng.normal(0, 0.7, 80) > 0).astype(float)
        options = {"target": "label"}
    else:
        mdata.obs["time"] = rng.exponential(10 * np.exp(-signal))
        mdata.obs["event"] = (rng.random(80) < 0.8).astype(int)
        options = {"target": "time", "event": "event"}
    model = rg.tl.fit_model(
        mdata,
        features="noise",
        model=learner,
        selection="mrmr",
        n_features=5,
        param_grid={},
        n_bootstraps=100,
        importance_repeats=1,
        n_repeats=1,
        outer_folds=3,
        **options,
    )
    primary = "auc" if task == "classification" else "concordance"
    assert model.metrics.set_index("metric").loc[primary, "estimate"] > 0.65
    assert len(model.predict(mdata)) == 80
    assert {"noise:f0", "noise:f1"} <= set(model.required)


def test_external_validation_on_a_second_cohort(demo_cohort):
    site_c = (demo_cohort.obs["site"] == "site_C").to_numpy()
    training = demo_cohort[~site_c].copy()
    other = demo_cohort[site_c].copy()
    model = rg.tl.fit_model(
        training, "egfr_mutant", "radiomics", n_features=5, param_grid={}, test=other, **QUICK
    )
    external = model.metrics[model.metrics["validation"] == "external"].set_index("metric")
    assert external.loc["auc", "n"] == other.n_obs
    assert external.loc["auc", "ci_lower"] > 0.6
    assert model.card["data"]["external"]["n_patients"] == other.n_obs


def test_harmonisation_step_uses_the_library_combat(demo_cohort):
    """Fitted on every patient, the pipeline's ComBat step gives what ``rg.pp.harmonize``
    gives (same kernel, no covariates); fitted on a training fold, the held-out patients
    are corrected with the training fold's parameters only."""
    cohort = demo_cohort.copy()
    features = [f for f in cohort["radiomics"].var_names if "firstorder" in f]
    values = cohort["radiomics"][:, features].to_df()
    X = values.add_prefix("radiomics:")
    X["batch:site"] = cohort.obs["site"].astype(str).reindex(X.index).to_numpy()
    step = transformers.Harmonizer(batch="batch:site").fit(X)
    ours = step.transform(X)
    reference = cohort["radiomics"][:, features].copy()
    reference.obs["site"] = cohort.obs["site"].reindex(reference.obs_names).to_numpy()
    rg.pp.harmonize(reference, batch_key="site")
    np.testing.assert_allclose(ours.to_numpy(), np.asarray(reference.X), rtol=1e-8, atol=1e-8)
    # fold-fitted: changing the held-out patients changes nothing for the others
    train, test = X.iloc[:60], X.iloc[60:]
    fitted = transformers.Harmonizer(batch="batch:site").fit(train)
    shifted = test.copy()
    shifted[shifted.columns[:-1]] += 1000.0
    np.testing.assert_allclose(
        fitted.transform(train).to_numpy(),
        transformers.Harmonizer(batch="batch:site").fit(train).transform(train).to_numpy(),
    )
    np.testing.assert_allclose(
        fitted.transform(shifted).to_numpy() - fitted.transform(test).to_numpy(),
        1000.0
        / np.sqrt(fitted.params_.delta_star[np.searchsorted(fitted.batches_, test["batch:site"])]),
        rtol=1e-6,
    )


def test_harmonising_inside_the_folds_recovers_the_site_masked_signal(demo_cohort):
    """Response follows immune infiltration, which brightens the tumour; the scanner sites
    scale intensities. ComBat inside each training fold removes the site effect and the
    cross-validated AUC of response from imaging rises."""
    options = {
        "n_features": 10,
        "param_grid": {"C": [0.5]},
        "n_repeats": 2,
        "n_bootstraps": 200,
        "importance_repeats": 0,
    }
    plain = rg.tl.fit_model(demo_cohort, "response", "radiomics", store=False, **options)
    harmonised = rg.tl.fit_model(
        demo_cohort, "response", "radiomics", harmonize="site", store=False, **options
    )
    auc = {
        name: model.metrics.set_index("metric").loc["auc", "estimate"]
        for name, model in (("plain", plain), ("harmonised", harmonised))
    }
    print(
        f"response from imaging: AUC {auc['plain']:.3f} without, {auc['harmonised']:.3f} "
        "with ComBat inside the folds"
    )
    assert auc["harmonised"] > auc["plain"] + 0.03
    assert harmonised.card["pipeline"]["harmonize"]["batch"] == "site"
    assert "site" not in harmonised.feature_set.clinical
    scored = harmonised.predict(demo_cohort)  # new patients are harmonised as in training
    assert len(scored) == demo_cohort.n_obs


def test_models_read_the_chosen_layer(demo_cohort):
    """When X holds values preprocessed on every patient, the model reads the raw layer,
    for fitting and for new patients alike."""
    cohort = demo_cohort.copy()
    radiomics = cohort.mod["radiomics"]
    radiomics.layers["raw"] = np.asarray(radiomics.X, dtype=float).copy()
    radiomics.X = np.random.default_rng(0).normal(size=radiomics.shape)  # X: no signal left
    radiomics.uns.setdefault("radiogenomics", {})["preprocessing"] = {
        "01_harmonize": {"step": "harmonize"}
    }
    with pytest.warns(UserWarning, match="preprocessed on every patient"):
        rg.tl.fit_model(
            cohort, "egfr_mutant", "radiomics", n_features=5, param_grid={}, store=False, **QUICK
        )
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model = rg.tl.fit_model(
            cohort,
            "egfr_mutant",
            "radiomics",
            layers={"radiomics": "raw"},
            n_features=5,
            param_grid={},
            store=False,
            **QUICK,
        )
    assert not [w for w in caught if "preprocessed on every patient" in str(w.message)]
    assert model.metrics.set_index("metric").loc["auc", "estimate"] > 0.9
    assert model.card["features"]["layers"] == {"radiomics": "raw"}
    reference = rg.tl.fit_model(
        demo_cohort, "egfr_mutant", "radiomics", n_features=5, param_grid={}, store=False, **QUICK
    )
    np.testing.assert_allclose(
        model.predict(cohort)["prediction"], reference.predict(demo_cohort)["prediction"]
    )
    with pytest.raises(CohortError, match="no layer 'normalised'"):
        rg.tl.fit_model(cohort, "egfr_mutant", "radiomics", layers={"radiomics": "normalised"})


def test_saved_figures_come_from_the_registered_writers(fitted, tmp_path):
    from radiogenomics.tl.models.fitted import FIGURE_WRITERS, register_figure_writer

    _, model = fitted
    seen = []

    def write_one(written_model, folder):
        seen.append((written_model, folder.name))
        (folder / "one.json").write_text("{}")
        return {"one": "figures/one.json"}

    def broken(written_model, folder):
        raise RuntimeError("no figure today")

    register_figure_writer(write_one)
    register_figure_writer(write_one)  # once only
    register_figure_writer(broken)
    try:
        with pytest.warns(UserWarning, match="no figure today"):
            folder = model.save(tmp_path / "model")
    finally:
        FIGURE_WRITERS.remove(write_one)
        FIGURE_WRITERS.remove(broken)
    assert seen == [(model, "figures")]
    card = json.loads((folder / "model_card.json").read_text())
    assert card["figures"]["one"] == "figures/one.json"
    assert (folder / "figures" / "one.json").exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temporaries
