"""Maximally selected log-rank statistics against independent references: the Nelson-Aalen
estimator (lifelines), the permutation distribution, and direct simulation of the
Gaussian limit from its correlation matrix."""

from __future__ import annotations

import math

import numpy as np
import pytest
from lifelines import NelsonAalenFitter

from radiogenomics.stats import maxstat as ms


def survival_data(seed: int, n: int, effect: float = 0.0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=n)
    time = rng.exponential(10 * np.exp(-effect * (x > 0.3)), n)
    event = (rng.random(n) < 0.7).astype(float)
    return x, time, event


def test_logrank_scores_are_event_minus_nelson_aalen():
    _, time, event = survival_data(0, 80)  # continuous times: no ties
    scores = ms.logrank_scores(time, event)
    cumulative = NelsonAalenFitter(nelson_aalen_smoothing=False).fit(time, event)
    hazard = cumulative.cumulative_hazard_.loc[time].to_numpy().ravel()
    np.testing.assert_allclose(scores, event - hazard, atol=1e-12)
    assert scores.sum() == pytest.approx(0.0, abs=1e-10)


def test_cutpoints_follow_maxstat_rules():
    # R maxstat: m = which(!duplicated(sort(x))) - 1, kept where
    # max(1, floor(N*minprop)) <= m <= floor(N*maxprop); the cut is the m-th smallest x
    x = np.array([1, 1, 2, 3, 3, 3, 4, 5, 6, 7], dtype=float)
    time = np.arange(1.0, 11.0)
    event = np.ones(10)
    result = ms.maxstat(x, time, event, pmethod="Lau94")
    np.testing.assert_array_equal(result.group_sizes, [2, 3, 6, 7, 8, 9])
    np.testing.assert_array_equal(result.cutpoints, [1, 2, 3, 4, 5, 6])
    narrow = ms.maxstat(x, time, event, minprop=0.25, maxprop=0.75, pmethod="Lau94")
    np.testing.assert_array_equal(narrow.group_sizes, [2, 3, 6, 7])


def test_standardisation_matches_permutation_moments():
    x, time, event = survival_data(1, 60)
    result = ms.maxstat(x, time, event, pmethod="Lau94")
    scores = ms.logrank_scores(time, event)[np.argsort(x)]
    rng = np.random.default_rng(2)
    perms = rng.permuted(np.broadcast_to(scores, (40000, scores.size)), axis=1)
    sums = np.cumsum(perms, axis=1)[:, result.group_sizes - 1]
    observed = np.cumsum(scores)[result.group_sizes - 1]
    z = (observed - sums.mean(0)) / sums.std(0)
    np.testing.assert_allclose(np.abs(z), result.statistics, rtol=0.02, atol=0.02)


def test_permutation_correlation_has_the_product_form():
    _, time, event = survival_data(3, 100)
    scores = ms.logrank_scores(time, event)
    rng = np.random.default_rng(4)
    perms = rng.permuted(np.broadcast_to(scores, (30000, scores.size)), axis=1)
    m = np.array([15, 40, 70])
    sums = np.cumsum(perms, axis=1)[:, m - 1]
    empirical = np.corrcoef(sums.T)
    n = scores.size
    for i in range(3):
        for j in range(i + 1, 3):
            formula = math.sqrt(m[i] * (n - m[j]) / (m[j] * (n - m[i])))
            assert empirical[i, j] == pytest.approx(formula, abs=0.02)


@pytest.mark.parametrize("n, b", [(30, 2.2), (80, 2.8), (200, 3.1)])
def test_exact_gauss_matches_simulated_gaussian_maximum(n, b):
    m = np.arange(max(1, math.floor(n * 0.1)), math.floor(n * 0.9) + 1)
    corr = np.sqrt(
        np.minimum.outer(m, m)
        * (n - np.maximum.outer(m, m))
        / (np.maximum.outer(m, m) * (n - np.minimum.outer(m, m)))
    )
    rng = np.random.default_rng(n)
    chol = np.linalg.cholesky(corr + 1e-12 * np.eye(m.size))
    draws = 200_000
    hits = 0
    for _ in range(4):
        t = rng.standard_normal((draws // 4, m.size)) @ chol.T
        hits += int((np.abs(t).max(1) >= b).sum())
    simulated = hits / draws
    se = math.sqrt(simulated * (1 - simulated) / draws)
    exact = ms.p_exact_gauss(b, n, m)
    assert abs(exact - simulated) < 4 * se
    # the improved Bonferroni bound lies above, the single-cut p-value below
    assert ms.p_lausen94(b, n, m) >= exact - 1e-9
    assert exact >= 2 * (1 - 0.5 * (1 + math.erf(b / math.sqrt(2))))


def test_exact_gauss_agrees_with_the_permutation_distribution():
    x, time, event = survival_data(5, 150, effect=0.5)
    gauss = ms.maxstat(x, time, event, pmethod="exactGauss")
    perm = ms.maxstat(x, time, event, pmethod="condMC", n_permutations=20000, random_state=1)
    assert gauss.statistic == perm.statistic
    assert gauss.cutpoint == perm.cutpoint
    assert abs(gauss.p_value - perm.p_value) < 0.02
    # never the uncorrected p-value of the selected cut
    naive = 2 * (1 - 0.5 * (1 + math.erf(gauss.statistic / math.sqrt(2))))
    assert gauss.p_value > naive


def test_null_p_values_are_calibrated():
    rejections = 0
    for seed in range(60):
        x, time, event = survival_data(100 + seed, 60)
        rejections += ms.maxstat(x, time, event).p_value < 0.1
    assert 0 < rejections <= 14  # about 6 expected; the uncorrected cut-point gives ~35%


def test_planted_cutpoint_is_found():
    x, time, event = survival_data(6, 300, effect=1.2)
    result = ms.maxstat(x, time, event)
    assert result.p_value < 1e-4
    assert abs(result.cutpoint - 0.3) < 0.25
