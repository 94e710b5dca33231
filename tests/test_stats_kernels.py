"""One kernel per statistic, each against its outside reference: the Mann-Whitney U test
(scipy, through every entry point), the Kaplan-Meier counts and the censoring distribution
(lifelines, scikit-survival) and the time-dependent AUC (scikit-survival)."""

from __future__ import annotations

import numpy as np
import pytest
from lifelines import KaplanMeierFitter
from scipy import stats
from sksurv.metrics import cumulative_dynamic_auc as sksurv_auc
from sksurv.nonparametric import CensoringDistributionEstimator, kaplan_meier_estimator
from sksurv.util import Surv

from radiogenomics.stats.association import associate_arrays
from radiogenomics.stats.concordance import censoring_survival, cumulative_dynamic_auc
from radiogenomics.stats.groups import mann_whitney_one_vs_rest
from radiogenomics.stats.kaplan_meier import kaplan_meier, kaplan_meier_counts
from radiogenomics.stats.ranks import EXACT_BELOW, column_ranks, mannwhitney_from_ranks, tie_terms


def _samples():
    """Small two-group samples, half of them with ties, and one large pair."""
    rng = np.random.default_rng(3)
    for k in range(60):
        n1, n0 = int(rng.integers(1, 12)), int(rng.integers(1, 12))
        if k % 2:
            x = rng.integers(0, 4, n1 + n0).astype(float)  # ties
        else:
            x = rng.normal(size=n1 + n0)
        yield x, n1, n0
    yield rng.normal(size=130), 60, 70


def _scipy(x, n1, method, continuity=True):
    if method == "auto":  # R wilcox.test's rule, as EXACT_RULE says
        tied = np.unique(x).size < x.size
        method = (
            "exact" if n1 < EXACT_BELOW and x.size - n1 < EXACT_BELOW and not tied else "asymptotic"
        )
    return stats.mannwhitneyu(x[:n1], x[n1:], method=method, use_continuity=continuity).pvalue


@pytest.mark.parametrize("method", ["auto", "exact", "asymptotic"])
def test_every_mann_whitney_entry_point_gives_scipys_p_value(method):
    for x, n1, n0 in _samples():
        y = np.r_[np.ones(n1), np.zeros(n0)]
        ref = _scipy(x, n1, method)
        rank_sum = column_ranks(x[:, None])[:, 0] @ y
        _, p_ranks = mannwhitney_from_ranks(rank_sum, n1, n0, tie_terms(x[:, None]), method)
        p_groups = mann_whitney_one_vs_rest(x[:, None], (1 - y).astype(np.int64), method=method)[
            "p_value"
        ][1, 0]
        p_assoc = associate_arrays(
            x[:, None], y[:, None], method="mannwhitney", mannwhitney_method=method, n_jobs=1
        )["p_value"][0, 0]
        for p in (float(p_ranks[0]), p_groups, p_assoc):
            assert p == pytest.approx(ref, rel=1e-9, abs=1e-14), (n1, n0, method)


def test_mann_whitney_without_continuity_correction_matches_scipy():
    for x, n1, n0 in _samples():
        codes = np.r_[np.zeros(n1), np.ones(n0)].astype(np.int64)
        out = mann_whitney_one_vs_rest(x[:, None], codes, method="asymptotic", continuity=False)
        ref = stats.mannwhitneyu(x[:n1], x[n1:], method="asymptotic", use_continuity=False)
        assert out["p_value"][0, 0] == pytest.approx(ref.pvalue, rel=1e-9)
        assert out["statistic"][0, 0] == pytest.approx(ref.statistic)


def _survival_data(seed, n=60, ties=True):
    rng = np.random.default_rng(seed)
    time = rng.exponential(10.0, n)
    if ties:
        time = np.ceil(time)  # events and censorings at the same times
    event = rng.random(n) < 0.6
    return time, event


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_kaplan_meier_counts_match_lifelines_and_sksurv(seed):
    time, event = _survival_data(seed)
    fit = KaplanMeierFitter().fit(time, event)
    curve = kaplan_meier(time, event)
    np.testing.assert_allclose(curve.time, fit.survival_function_.index.to_numpy())
    np.testing.assert_allclose(curve.survival, fit.survival_function_.iloc[:, 0], atol=1e-12)
    for reverse in (False, True):
        ref_times, ref_curve = kaplan_meier_estimator(event, time, reverse=reverse)
        times, at_risk, events, _ = kaplan_meier_counts(time, event, reverse=reverse)
        np.testing.assert_allclose(times, ref_times)
        with np.errstate(invalid="ignore", divide="ignore"):
            ours = np.cumprod(np.where(events > 0, 1 - events / at_risk, 1.0))
        np.testing.assert_allclose(ours, ref_curve, atol=1e-12)


@pytest.mark.parametrize("seed", [0, 4])
def test_censoring_distribution_matches_sksurv(seed):
    time, event = _survival_data(seed)
    y = Surv.from_arrays(event, time)
    reference = CensoringDistributionEstimator().fit(y)
    at = np.linspace(0.0, time.max() - 1e-9, 40)
    np.testing.assert_allclose(
        censoring_survival(time, event, at), reference.predict_proba(at), atol=1e-12
    )


@pytest.mark.parametrize("ties", [False, True])
def test_time_dependent_auc_matches_sksurv(ties):
    train_time, train_event = _survival_data(5, n=80, ties=ties)
    time, event = _survival_data(6, n=50, ties=ties)
    rng = np.random.default_rng(7)
    risk = np.round(-time / 5 + rng.normal(size=time.size), 1)  # tied risks too
    times = np.quantile(time[event], [0.2, 0.4, 0.6])
    times = times[(times >= time.min()) & (times < time.max()) & (times < train_time.max())]
    ref_auc, ref_mean = sksurv_auc(
        Surv.from_arrays(train_event, train_time), Surv.from_arrays(event, time), risk, times
    )
    auc, mean = cumulative_dynamic_auc(train_time, train_event, time, event, risk, times)
    np.testing.assert_allclose(auc, ref_auc, atol=1e-10)
    assert mean == pytest.approx(ref_mean, abs=1e-10)
