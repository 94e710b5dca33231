"""Survival kernels against lifelines, statsmodels and R's published output on ``lung``."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from lifelines import CoxPHFitter, KaplanMeierFitter
from lifelines.datasets import load_lung
from lifelines.statistics import logrank_test as lifelines_logrank
from lifelines.statistics import multivariate_logrank_test, proportional_hazard_test
from lifelines.utils import concordance_index as lifelines_concordance
from lifelines.utils import median_survival_times
from scipy import stats
from statsmodels.duration.hazard_regression import PHReg
from statsmodels.duration.survfunc import SurvfuncRight, survdiff

from radiogenomics.stats.cox import cox_batch, prepare_survival, schoenfeld_test
from radiogenomics.stats.survival import concordance_index, kaplan_meier, logrank_test

TOL = 1e-6
PRECISE = {"precision": 1e-12}


@pytest.fixture(scope="module")
def lung() -> pd.DataFrame:
    return load_lung()


def random_survival(seed: int, n: int = 150, ties: bool = True):
    rng = np.random.default_rng(seed)
    time = rng.exponential(10, n)
    time = np.round(time) + 1 if ties else time
    event = (rng.random(n) < 0.7).astype(int)
    return rng, time, event


def lifelines_cox(df: pd.DataFrame, strata=None) -> CoxPHFitter:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return CoxPHFitter().fit(df, "T", "E", strata=strata, fit_options=PRECISE)


# ------------------------------------------------------------------------ Kaplan-Meier


@pytest.mark.parametrize("seed", [0, 1])
def test_kaplan_meier_matches_lifelines(seed):
    _, time, event = random_survival(seed)
    ours = kaplan_meier(time, event)
    ref = KaplanMeierFitter().fit(time, event)
    np.testing.assert_allclose(ours.time, ref.survival_function_.index.to_numpy())
    np.testing.assert_allclose(ours.survival, ref.survival_function_.to_numpy().ravel(), atol=TOL)
    np.testing.assert_allclose(ours.ci_lower, ref.confidence_interval_.iloc[:, 0], atol=TOL)
    np.testing.assert_allclose(ours.ci_upper, ref.confidence_interval_.iloc[:, 1], atol=TOL)
    table = ref.event_table
    np.testing.assert_array_equal(ours.n_at_risk, table["at_risk"].to_numpy())
    np.testing.assert_array_equal(ours.n_events, table["observed"].to_numpy())
    np.testing.assert_array_equal(ours.n_censored, table["censored"].to_numpy())
    assert ours.median == ref.median_survival_time_
    lo, hi = median_survival_times(ref.confidence_interval_).to_numpy().ravel()
    assert ours.median_ci == (lo, hi)


def test_kaplan_meier_greenwood_matches_statsmodels():
    _, time, event = random_survival(2)
    ours = kaplan_meier(time, event)
    ref = SurvfuncRight(time, event)
    idx = np.searchsorted(ours.time, ref.surv_times)
    np.testing.assert_allclose(ours.survival[idx], ref.surv_prob, atol=TOL)
    defined = np.isfinite(ref.surv_prob_se)  # statsmodels leaves it undefined where S = 0
    assert defined[:-1].all()
    np.testing.assert_allclose(ours.std_error[idx][defined], ref.surv_prob_se[defined], atol=TOL)


def test_kaplan_meier_lung_matches_lifelines_and_r(lung):
    for sex in (None, 1, 2):
        data = lung if sex is None else lung[lung["sex"] == sex]
        ours = kaplan_meier(data["time"], data["status"])
        ref = KaplanMeierFitter().fit(data["time"], data["status"])
        np.testing.assert_allclose(
            ours.survival, ref.survival_function_.to_numpy().ravel(), atol=TOL
        )
        np.testing.assert_allclose(ours.ci_lower, ref.confidence_interval_.iloc[:, 0], atol=TOL)
    # R: survfit(Surv(time, status) ~ sex, data = lung) prints median (0.95LCL, 0.95UCL)
    published = {None: (310, 285, 363), 1: (270, 212, 310), 2: (426, 348, 550)}
    for sex, (median, lower, upper) in published.items():
        data = lung if sex is None else lung[lung["sex"] == sex]
        fit = kaplan_meier(data["time"], data["status"], ci_method="log")
        assert (fit.median, *fit.median_ci) == (median, lower, upper)


# ------------------------------------------------------------------------ log-rank


@pytest.mark.parametrize("seed", [0, 3])
def test_two_group_logrank_matches_lifelines(seed):
    rng, time, event = random_survival(seed)
    group = rng.integers(0, 2, time.size)
    ours = logrank_test(time, event, group)
    a, b = group == 0, group == 1
    ref = lifelines_logrank(time[a], time[b], event[a], event[b])
    assert ours.statistic == pytest.approx(ref.test_statistic, abs=TOL)
    assert ours.p_value == pytest.approx(ref.p_value, abs=TOL)


@pytest.mark.parametrize(
    "weighting", ["logrank", "wilcoxon", "tarone-ware", "peto", "fleming-harrington"]
)
def test_k_group_weighted_logrank_matches_lifelines(weighting):
    rng, time, event = random_survival(4)
    group = rng.integers(0, 3, time.size)
    kwargs = {"p": 1.0, "q": 0.5} if weighting == "fleming-harrington" else {}
    ours = logrank_test(time, event, group, weighting=weighting, **kwargs)
    ref = multivariate_logrank_test(
        time, group, event, weightings=None if weighting == "logrank" else weighting, **kwargs
    )
    assert ours.df == ref.degrees_of_freedom
    assert ours.statistic == pytest.approx(ref.test_statistic, abs=TOL)
    assert ours.p_value == pytest.approx(ref.p_value, abs=TOL)


def test_logrank_lung_matches_lifelines_and_r(lung):
    ours = logrank_test(lung["time"], lung["status"], (lung["sex"] == 2).astype(int))
    ref = multivariate_logrank_test(lung["time"], lung["sex"], lung["status"])
    assert ours.statistic == pytest.approx(ref.test_statistic, abs=TOL)
    # R: survdiff(Surv(time, status) ~ sex, data = lung): Chisq = 10.3, O 112 / 53, E 91.6 / 73.4
    assert ours.statistic == pytest.approx(10.3, abs=0.05)
    np.testing.assert_array_equal(ours.observed, [112, 53])
    np.testing.assert_allclose(ours.expected, [91.6, 73.4], atol=0.05)
    ecog = lung.dropna(subset=["ph.ecog"])
    ecog = ecog[ecog["ph.ecog"] < 3]
    ours = logrank_test(ecog["time"], ecog["status"], ecog["ph.ecog"].astype(int))
    ref = multivariate_logrank_test(ecog["time"], ecog["ph.ecog"], ecog["status"])
    assert ours.statistic == pytest.approx(ref.test_statistic, abs=TOL)


def test_stratified_logrank_matches_statsmodels():
    rng, time, event = random_survival(5)
    group = rng.integers(0, 3, time.size)
    strata = rng.integers(0, 2, time.size)
    ours = logrank_test(time, event, group, strata=strata)
    chisq, p = survdiff(time, event, group, strata=strata)
    assert ours.statistic == pytest.approx(chisq, abs=TOL)
    assert ours.p_value == pytest.approx(p, abs=TOL)


def test_trend_test_is_the_cox_score_test_of_the_group_score():
    # without tied times, the log-rank (trend) statistic is the score test of a Cox model
    # with the group score as covariate
    rng, time, event = random_survival(6, ties=False)
    group = rng.integers(0, 4, time.size)
    scores = np.array([1.0, 2.0, 4.0, 7.0])
    ours = logrank_test(time, event, group, trend_scores=scores)
    model = PHReg(time, scores[group][:, None], status=event)
    u = model.score(np.zeros(1))
    info = -model.hessian(np.zeros(1))
    assert ours.statistic == pytest.approx(float(u @ np.linalg.solve(info, u)), rel=1e-10)
    # with two groups the trend test is the log-rank test
    two = (group > 1).astype(int)
    assert logrank_test(time, event, two, trend_scores=[0, 1]).statistic == pytest.approx(
        logrank_test(time, event, two).statistic, rel=1e-12
    )


# ------------------------------------------------------------------------ concordance


def test_concordance_matches_lifelines_with_ties_and_missing():
    rng, time, event = random_survival(7)
    risk = rng.normal(size=(time.size, 40))
    risk[:, :5] = np.round(risk[:, :5])  # tied risks
    risk[:, 5] = 1.0  # all tied
    ours = concordance_index(time, event, risk)
    ref = [lifelines_concordance(time, -risk[:, j], event) for j in range(risk.shape[1])]
    np.testing.assert_allclose(ours, ref, atol=1e-12)
    present = rng.random(risk.shape) > 0.15
    ours = concordance_index(time, event, risk, present=present)
    ref = [lifelines_concordance(time[m], -risk[m, j], event[m]) for j, m in enumerate(present.T)]
    np.testing.assert_allclose(ours, ref, atol=1e-12)
    for j in (0, 6):  # one score, with and without tied risks
        one = concordance_index(time, event, risk[:, j])
        assert one == pytest.approx(lifelines_concordance(time, -risk[:, j], event), abs=1e-12)


def test_concordance_untied_scores_of_both_signs_take_the_rank_path(monkeypatch):
    """Scores without ties go through one sort per score (not the tied-pair counting),
    whatever their signs; near-ties (equal but for the last bits) and negative ties still
    count as lifelines counts them."""
    from radiogenomics.stats import concordance as kernels

    rng, time, event = random_survival(9)
    risk = rng.normal(size=(time.size, 30))  # both signs, no ties
    risk[:, 1] -= 10.0  # all negative
    ref = [lifelines_concordance(time, -risk[:, j], event) for j in range(risk.shape[1])]

    def refuse(*args, **kwargs):
        raise AssertionError("untied scores were sent to the tied-pair path")

    with monkeypatch.context() as patch:
        patch.setattr(kernels, "_concordance_chunk", refuse)
        np.testing.assert_allclose(concordance_index(time, event, risk), ref, atol=1e-12)
    near = risk.copy()
    near[:4, 2] = -1.5  # negative ties
    near[4, 3] = np.nextafter(near[5, 3], np.inf)  # distinct, equal but for the last bit
    ref = [lifelines_concordance(time, -near[:, j], event) for j in range(near.shape[1])]
    np.testing.assert_allclose(concordance_index(time, event, near), ref, atol=1e-12)


# ------------------------------------------------------------------------ Cox


@pytest.mark.parametrize("with_covariates", [False, True])
@pytest.mark.parametrize("stratified", [False, True])
def test_cox_batch_matches_lifelines_per_feature(with_covariates, stratified):
    rng, time, event = random_survival(8)
    n = time.size
    x = rng.normal(size=(n, 6))
    x[:, 1] = rng.integers(0, 2, n)
    x[:, 2] *= 1000.0  # a feature on a large scale
    x[rng.random(n) < 0.1, 3] = np.nan  # missing values
    z = np.column_stack([rng.normal(50, 10, n), rng.integers(0, 2, n)])
    strata = rng.integers(0, 2, n)
    fit = cox_batch(
        prepare_survival(time, event, strata if stratified else None),
        x,
        z if with_covariates else None,
    )
    assert (fit.status == "ok").all()
    for j in range(x.shape[1]):
        df = pd.DataFrame({"T": time, "E": event, "x": x[:, j]})
        if with_covariates:
            df["a"], df["b"] = z[:, 0], z[:, 1]
        if stratified:
            df["s"] = strata
        ref = lifelines_cox(df.dropna(), strata=["s"] if stratified else None)
        np.testing.assert_allclose(fit.coef[j], ref.params_.to_numpy(), atol=TOL)
        np.testing.assert_allclose(fit.std_error[j], ref.standard_errors_.to_numpy(), atol=TOL)
        p = 2 * stats.norm.sf(np.abs(fit.coef[j] / fit.std_error[j]))
        np.testing.assert_allclose(p, ref.summary["p"].to_numpy(), atol=TOL)
        assert fit.log_likelihood[j] == pytest.approx(ref.log_likelihood_, abs=TOL)
        assert fit.n[j] == len(df.dropna())


@pytest.mark.parametrize("ties", ["efron", "breslow"])
def test_cox_batch_matches_statsmodels(ties):
    rng, time, event = random_survival(9)
    x = rng.normal(size=(time.size, 3))
    z = rng.normal(size=(time.size, 2))
    strata = rng.integers(0, 3, time.size)
    for s in (None, strata):
        fit = cox_batch(prepare_survival(time, event, s), x, z, ties=ties)
        for j in range(3):
            ref = PHReg(
                time, np.column_stack([x[:, j], z]), status=event, ties=ties, strata=s
            ).fit()
            np.testing.assert_allclose(fit.coef[j], ref.params, atol=1e-9)
            np.testing.assert_allclose(fit.std_error[j], ref.bse, atol=1e-9)
            assert fit.log_likelihood[j] == pytest.approx(ref.llf, abs=1e-8)


def test_cox_lung_matches_lifelines_and_published_r(lung):
    data = lung[["time", "status", "age", "sex", "ph.ecog"]].dropna()
    fit = cox_batch(
        prepare_survival(lung["time"], lung["status"]),
        lung[["age"]].to_numpy(),
        lung[["sex"]].to_numpy(),
    )
    # R: coxph(Surv(time, status) ~ age + sex, data = lung)
    np.testing.assert_allclose(fit.coef[0], [0.017045, -0.513219], atol=5e-7)
    np.testing.assert_allclose(fit.std_error[0], [0.009223, 0.167458], atol=5e-7)
    lr = 2 * (fit.log_likelihood[0] - fit.log_likelihood_null[0])
    assert lr == pytest.approx(14.12, abs=0.005)
    assert fit.score_statistic[0] == pytest.approx(13.72, abs=0.005)
    wald = fit.coef[0] @ np.linalg.solve(fit.covariance[0], fit.coef[0])
    assert wald == pytest.approx(13.47, abs=0.005)
    ref = lifelines_cox(data.rename(columns={"time": "T", "status": "E"}))
    ours = cox_batch(
        prepare_survival(data["time"], data["status"]),
        data[["age"]].to_numpy(),
        data[["sex", "ph.ecog"]].to_numpy(),
    )
    np.testing.assert_allclose(ours.coef[0], ref.params_.to_numpy(), atol=TOL)
    np.testing.assert_allclose(ours.std_error[0], ref.standard_errors_.to_numpy(), atol=TOL)


def test_score_test_equals_logrank_without_ties():
    rng, time, event = random_survival(10, ties=False)
    group = rng.integers(0, 2, time.size)
    fit = cox_batch(prepare_survival(time, event), group[:, None].astype(float))
    a, b = group == 0, group == 1
    ref = lifelines_logrank(time[a], time[b], event[a], event[b])
    assert fit.score_statistic[0] == pytest.approx(ref.test_statistic, rel=1e-10)


def test_cox_batch_flags_instead_of_hiding():
    rng, time, event = random_survival(11, ties=False)
    n = time.size
    order = np.argsort(time)
    separated = np.zeros(n)
    # every patient with the marker dies before anyone without it: monotone likelihood
    early_events = order[event[order] == 1][:10]
    separated[early_events] = 1.0
    x = np.column_stack(
        [
            rng.normal(size=n),  # ordinary
            np.full(n, 3.0),  # constant
            separated,
            np.where(event == 1, np.nan, rng.normal(size=n)),  # no events among its patients
        ]
    )
    fit = cox_batch(prepare_survival(time, event), x)
    assert list(fit.status) == ["ok", "constant", "separation", "no_events"]
    assert np.isfinite(fit.coef[0]).all()
    assert np.isnan(fit.coef[1:, 0]).all()


# ------------------------------------------------------------------------ PH test


@pytest.mark.parametrize("transform", ["rank", "identity", "log", "km"])
def test_schoenfeld_test_matches_lifelines(transform):
    rng, time, event = random_survival(12, n=200, ties=False)
    age = rng.normal(60, 10, time.size)
    treat = rng.integers(0, 2, time.size)
    # a time-varying effect of treatment
    time = np.where(treat == 1, time**1.4, time)
    df = pd.DataFrame({"T": time, "E": event, "age": age, "treat": treat})
    ref_fit = lifelines_cox(df)
    ref = proportional_hazard_test(ref_fit, df, time_transform=transform)
    design = prepare_survival(time, event)
    x = df[["age", "treat"]].to_numpy()
    fit = cox_batch(design, x[:, :1], x[:, 1:])
    ours = schoenfeld_test(design, x, fit.coef[0], fit.covariance[0], transform=transform)
    np.testing.assert_allclose(ours["statistic"], ref.test_statistic, rtol=1e-5)
    np.testing.assert_allclose(ours["p_value"], ref.p_value, atol=TOL)
    # with one covariate the global test is the per-covariate test
    one = schoenfeld_test(
        design, x[:, 1:], fit.coef[0][1:], fit.covariance[0][1:, 1:], transform=transform
    )
    assert one["global_statistic"] == pytest.approx(one["statistic"][0], rel=1e-12)


def test_cox_batch_flags_constant_features_whatever_their_rounding():
    # 0.1 and 1/3 have no exact binary mean: the feature is still constant, with or
    # without missing values, in the same chunk as ordinary features
    rng, time, event = random_survival(13, ties=False)
    n = time.size
    x = np.column_stack(
        [
            np.full(n, 0.1),
            np.full(n, 1 / 3),
            np.where(rng.random(n) < 0.1, np.nan, 0.7),
            rng.normal(size=n),
            np.where(rng.random(n) < 0.1, np.nan, rng.normal(size=n)),
        ]
    )
    fit = cox_batch(prepare_survival(time, event), x)
    assert list(fit.status) == ["constant", "constant", "constant", "ok", "ok"]
    assert np.isnan(fit.coef[:3]).all()
    for j in (3, 4):
        df = pd.DataFrame({"T": time, "E": event, "x": x[:, j]}).dropna()
        ref = lifelines_cox(df)
        assert fit.coef[j, 0] == pytest.approx(ref.params_["x"], abs=TOL)
        assert fit.std_error[j, 0] == pytest.approx(ref.standard_errors_["x"], abs=TOL)
