"""Statistics that must agree with R: the concordance of stratified Cox models, the
``cox.zph`` proportional-hazards test, sva's ComBat and ``wilcox.test``'s choice of the
exact Mann-Whitney test. R values are kept as constants with the R code that gives them."""

from __future__ import annotations

import warnings

import anndata as ad
import numpy as np
import pandas as pd
import pytest
from lifelines.datasets import load_rossi
from lifelines.utils import concordance_index as lifelines_concordance
from sksurv.metrics import concordance_index_censored

import radiogenomics as rg
from radiogenomics.stats.concordance import concordance_counts
from radiogenomics.stats.survival import concordance_index


@pytest.fixture(scope="module")
def rossi() -> pd.DataFrame:
    return load_rossi()


def rossi_cohort(rossi: pd.DataFrame, extra: np.ndarray | None = None):
    patients = [f"R{i:03d}" for i in range(len(rossi))]
    clinical = rossi.set_axis(pd.Index(patients, name="patient_id"))
    values = np.c_[
        rossi[["age", "prio"]].to_numpy(float),
        np.zeros((len(rossi), 0)) if extra is None else extra,
    ]
    feats = ad.AnnData(
        values,
        obs=pd.DataFrame(index=patients),
        var=pd.DataFrame(index=[f"f{j}" for j in range(values.shape[1])]),
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return rg.build_cohort({"radiomics": feats}, clinical=clinical)


def per_stratum(time, event, risk, strata, function):
    """Pooled concordant and comparable pairs of an outside implementation, per stratum."""
    concordant = comparable = 0.0
    for level in np.unique(strata):
        m = strata == level
        c, pairs = function(time[m], event[m], risk[m])
        concordant += c
        comparable += pairs
    return concordant / comparable


def sksurv_pairs(time, event, risk):
    _, concordant, discordant, tied_risk, _ = concordance_index_censored(
        event.astype(bool), time.astype(float), risk
    )
    return concordant + 0.5 * tied_risk, concordant + discordant + tied_risk


def lifelines_pairs(time, event, risk):
    from lifelines.utils.concordance import _concordance_summary_statistics

    concordant, tied, pairs = _concordance_summary_statistics(time, -risk, event)
    return concordant + 0.5 * tied, pairs


# ------------------------------------------------------------------ stratified concordance

# R 4.4, survival 3.7:
#   library(survival); fit <- coxph(Surv(week, arrest) ~ fin + age + prio + strata(wexp), rossi)
#   sprintf("%.6f", concordance(fit)$concordance)        # "0.602987"
R_ROSSI_STRATIFIED_CONCORDANCE = 0.602987


def test_stratified_cox_concordance_counts_pairs_within_strata_as_r(rossi):
    mdata = rossi_cohort(rossi)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        rg.tl.cox(mdata, ["fin", "age", "prio"], time="week", event="arrest", strata="wexp")
    model = rg.get_result(mdata, "cox_model").iloc[0]
    assert model["concordance"] == pytest.approx(R_ROSSI_STRATIFIED_CONCORDANCE, abs=5e-7)
    # the same from outside implementations run stratum by stratum, on our linear predictor
    table = rg.get_result(mdata, "cox")
    lp = rossi[["fin", "age", "prio"]].to_numpy(float) @ table["coef"].to_numpy()
    t, e, s = rossi["week"].to_numpy(float), rossi["arrest"].to_numpy(), rossi["wexp"].to_numpy()
    for outside in (sksurv_pairs, lifelines_pairs):
        assert model["concordance"] == pytest.approx(per_stratum(t, e, lp, s, outside), abs=1e-12)
    # pooling the strata gives the old, wrong figure
    assert lifelines_concordance(t, -lp, e) == pytest.approx(0.628986, abs=5e-7)


def test_stratified_concordance_kernels_every_path():
    rng = np.random.default_rng(3)
    n = 240
    time = np.round(rng.exponential(10, n)) + 1
    event = (rng.random(n) < 0.7).astype(int)
    strata = rng.choice(["a", "b", "c"], n)
    risk = rng.normal(size=(n, 12))
    risk[:, :3] = np.round(risk[:, :3])  # tied risks: the tied-pair path
    present = rng.random(risk.shape) > 0.1
    present[:, :6] = True
    risk = np.where(present, risk, np.nan)  # missing values in half of the columns
    ours = concordance_index(time, event, risk, strata=strata)
    for j in range(risk.shape[1]):
        m = present[:, j]
        ref = per_stratum(time[m], event[m], risk[m, j], strata[m], sksurv_pairs)
        assert ours[j] == pytest.approx(ref, abs=1e-12)
        if m.all():  # one complete score: the block-comparison path
            assert concordance_index(time, event, risk[:, j], strata=strata) == pytest.approx(
                ref, abs=1e-12
            )
            assert concordance_counts(time, event, risk[:, j], strata=strata)[
                "concordance"
            ] == pytest.approx(ref, abs=1e-12)
    # one stratum is no stratum
    np.testing.assert_allclose(
        concordance_index(time, event, risk, strata=np.zeros(n)),
        concordance_index(time, event, risk),
        atol=0,
    )
    with pytest.raises(ValueError, match="one code per patient"):
        concordance_index(time, event, risk, strata=strata[:-1])


def test_stratified_cox_screen_concordance(rossi):
    rng = np.random.default_rng(0)
    mdata = rossi_cohort(rossi, extra=rng.normal(size=(len(rossi), 3)))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        plain = rg.tl.cox_screen(mdata, mod="radiomics", time="week", event="arrest", strata="wexp")
        adjusted = rg.tl.cox_screen(
            mdata,
            mod="radiomics",
            time="week",
            event="arrest",
            covariates=["fin"],
            strata="wexp",
            key_added="adj",
        )
    t, e, s = rossi["week"].to_numpy(float), rossi["arrest"].to_numpy(), rossi["wexp"].to_numpy()
    x = mdata["radiomics"].X
    for _, row in plain.iterrows():
        j = list(mdata["radiomics"].var_names).index(row["feature"])
        ref = per_stratum(t, e, row["coef"] * x[:, j], s, sksurv_pairs)
        assert row["concordance"] == pytest.approx(ref, abs=1e-12)
    fin = rossi["fin"].to_numpy(float)
    for _, row in adjusted.iterrows():
        j = list(mdata["radiomics"].var_names).index(row["feature"])
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ref_fit = rg.tl.cox(
                mdata,
                ["fin", f"radiomics:{row['feature']}"],
                time="week",
                event="arrest",
                strata="wexp",
                key_added="one",
            )
        lp = np.c_[fin, x[:, j]] @ ref_fit["coef"].to_numpy()
        ref = per_stratum(t, e, lp, s, sksurv_pairs)
        assert row["concordance"] == pytest.approx(ref, abs=1e-9)


# ------------------------------------------------------------------ cox.zph

# R 4.x, survival >= 3.0 (Therneau's score test):
#   library(survival)
#   fit <- coxph(Surv(week, arrest) ~ fin + age + race + wexp + mar + paro + prio, rossi)
#   cox.zph(fit)                # transform = "km"; the row "age" reads chisq 5.97, df 1
# (the approximation of survival < 3.0 and of lifelines gives 11.03 for age)
R_ROSSI_ZPH_AGE_KM = 5.97
ROSSI_TERMS = ["fin", "age", "race", "wexp", "mar", "paro", "prio"]


def zph_time(time, event, transform):
    """g(t) as R's cox.zph defines it, from lifelines' Kaplan-Meier and scipy's ranks."""
    from lifelines import KaplanMeierFitter
    from scipy.stats import rankdata

    if transform == "km":  # 1 - S(t-), the left-continuous Kaplan-Meier
        curve = KaplanMeierFitter().fit(time, event).survival_function_.iloc[:, 0]
        steps, values = curve.index.to_numpy(), curve.to_numpy()
        before = np.searchsorted(steps, time, side="left") - 1
        g = 1.0 - np.where(before >= 0, values[np.maximum(before, 0)], 1.0)
    elif transform == "rank":
        g = rankdata(time)
    elif transform == "log":
        g = np.log(time)
    else:
        g = np.asarray(time, float)
    return g - g[event == 1].mean()


def zph_reference(time, event, x, coef, terms, transform, ties="efron", strata=None):
    """The score test of adding g(t) x to the Cox model at (coef, 0), computed by
    statsmodels on the data split at every event time (counting-process form): R's
    survival checks cox.zph against exactly this test (tests/cancer.R)."""
    from statsmodels.duration.hazard_regression import PHReg

    g = zph_time(time, event, transform)
    g_at = dict(zip(time, g))
    cuts = np.unique(time[event == 1])
    rows, start, stop, status = [], [], [], []
    for i, t_i in enumerate(time):
        edges = np.r_[0.0, cuts[cuts < t_i], t_i]
        rows += [i] * (edges.size - 1)
        start += list(edges[:-1])
        stop += list(edges[1:])
        status += [0] * (edges.size - 2) + [int(event[i])]
    rows, start, stop = np.array(rows), np.array(start), np.array(stop)
    # statsmodels counts a subject at risk from its entry time inclusive: enter just after
    entry = np.where(start > 0, start + 1e-7, 0.0)
    xi = x[rows]
    gx = xi * np.array([g_at[s] for s in stop])[:, None]
    d = x.shape[1]

    def score_test(columns):
        model = PHReg(
            stop,
            np.c_[xi, gx[:, columns]],
            status=np.array(status),
            entry=entry,
            strata=None if strata is None else strata[rows],
            ties=ties,
        )
        at = np.r_[coef, np.zeros(len(columns))]
        u = model.score(at)
        return float(u @ np.linalg.solve(-model.hessian(at), u))

    return [score_test(list(c)) for c in terms], score_test(list(range(d)))


def rossi_fit(rossi, terms, ties="efron", strata=None):
    from radiogenomics.stats.cox import cox_batch, prepare_survival

    x = rossi[terms].to_numpy(float)
    t, e = rossi["week"].to_numpy(float), rossi["arrest"].to_numpy()
    s = None if strata is None else rossi[strata].to_numpy()
    design = prepare_survival(t, e, s)
    fit = cox_batch(design, x[:, :1], x[:, 1:], ties=ties, tol=1e-12)
    return design, x, t, e, s, fit.coef[0]


def test_cox_zph_on_rossi_matches_r():
    rossi = load_rossi()
    mdata = rossi_cohort(rossi)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        table = rg.tl.cox(mdata, ROSSI_TERMS, time="week", event="arrest", key_added="new")
        old = rg.tl.cox(
            mdata, ROSSI_TERMS, time="week", event="arrest", ph_method="schoenfeld", key_added="old"
        )
    age = table.set_index("term").loc["age"]
    assert round(age["ph_statistic"], 2) == R_ROSSI_ZPH_AGE_KM
    assert age["ph_df"] == 1
    assert round(old.set_index("term").loc["age", "ph_statistic"], 2) == 11.03
    model = rg.get_result(mdata, "cox_model", "new").iloc[0]
    assert model["ph_method"] == "zph" and model["ph_global_df"] == 7


@pytest.mark.parametrize("transform", ["km", "rank", "identity", "log"])
def test_cox_zph_is_the_score_test_of_g_of_time_interactions(rossi, transform):
    from radiogenomics.stats.cox import cox_zph

    design, x, t, e, _, coef = rossi_fit(rossi, ROSSI_TERMS)
    ours = cox_zph(design, x, coef, transform=transform)
    terms = [[j] for j in range(x.shape[1])]
    ref, ref_global = zph_reference(t, e, x, coef, terms, transform)
    np.testing.assert_allclose(ours["statistic"], ref, rtol=1e-7)
    assert ours["global_statistic"] == pytest.approx(ref_global, rel=1e-7)
    np.testing.assert_allclose(ours["p_value"], stats_chi2_sf(ref, 1), rtol=1e-6)


def stats_chi2_sf(values, df):
    from scipy import stats

    return stats.chi2.sf(values, df)


def test_cox_zph_stratified_breslow_and_multi_column_terms(rossi):
    from radiogenomics.stats.cox import cox_zph

    frame = rossi.assign(
        prio_mid=(rossi["prio"].between(2, 4)).astype(float),
        prio_high=(rossi["prio"] > 4).astype(float),
    )
    terms = ["fin", "age", "prio_mid", "prio_high"]
    groups = [[0], [1], [2, 3]]  # prio's two indicators: one 2-df test, as R terms=TRUE
    for ties, strata in (("breslow", None), ("efron", "wexp"), ("breslow", "race")):
        design, x, t, e, s, coef = rossi_fit(frame, terms, ties=ties, strata=strata)
        ours = cox_zph(design, x, coef, ties=ties, transform="km", terms=groups)
        ref, ref_global = zph_reference(t, e, x, coef, groups, "km", ties=ties, strata=s)
        np.testing.assert_allclose(ours["statistic"], ref, rtol=1e-7)
        assert list(ours["df"]) == [1, 1, 2]
        assert ours["global_statistic"] == pytest.approx(ref_global, rel=1e-7)


# ------------------------------------------------------------------ Mann-Whitney "auto"

# R (?wilcox.test, Hollander & Wolfe p. 69):
#   x <- c(0.80, 0.83, 1.89, 1.04, 1.45, 1.38, 1.91, 1.64, 0.73, 1.46)
#   y <- c(1.15, 0.88, 0.90, 0.74, 1.21)
#   wilcox.test(x, y, alternative = "g")     # W = 35, p-value = 0.1272 (exact)
R_WILCOX_W, R_WILCOX_P_GREATER = 35.0, 0.1272


def r_rule(a, b):
    """scipy's p-value with R wilcox.test's choice: exact below 50 per group, no ties."""
    from scipy import stats

    tied = np.unique(np.r_[a, b]).size < a.size + b.size
    exact = a.size < 50 and b.size < 50 and not tied
    return stats.mannwhitneyu(a, b, method="exact" if exact else "asymptotic").pvalue, exact


def both_kernels(a, b):
    """p-values of the association engine's and the group tests' Mann-Whitney kernels."""
    from radiogenomics.stats.groups import mann_whitney_one_vs_rest
    from radiogenomics.stats.ranks import column_ranks, mannwhitney_from_ranks, tie_terms

    values = np.r_[a, b][:, None]
    group = np.r_[np.ones(a.size), np.zeros(b.size)]
    ranks = column_ranks(values)
    u1, p_engine = mannwhitney_from_ranks(ranks[:, 0] @ group, a.size, b.size, tie_terms(values)[0])
    result = mann_whitney_one_vs_rest(values, (1 - group).astype(np.int64))
    assert result["statistic"][0, 0] == pytest.approx(float(u1), abs=1e-9)
    return float(p_engine), float(result["p_value"][0, 0]), bool(result["exact"][0, 0])


def test_mann_whitney_auto_follows_r_exact_rule():
    x = np.array([0.80, 0.83, 1.89, 1.04, 1.45, 1.38, 1.91, 1.64, 0.73, 1.46])
    y = np.array([1.15, 0.88, 0.90, 0.74, 1.21])
    engine, groups, exact = both_kernels(x, y)
    assert exact
    assert engine == pytest.approx(2 * R_WILCOX_P_GREATER, abs=1e-4)  # two-sided
    assert groups == pytest.approx(engine, rel=1e-12)
    rng = np.random.default_rng(5)
    for n1, n0, tie in (
        (9, 12, False),
        (20, 30, False),
        (49, 49, False),
        (49, 50, False),
        (12, 15, True),
        (60, 8, False),
    ):
        a, b = rng.normal(0.4, 1, n1), rng.normal(0, 1, n0)
        if tie:
            b[0] = a[0]
        reference, should_be_exact = r_rule(a, b)
        engine, groups, exact = both_kernels(a, b)
        assert exact == should_be_exact == (n1 < 50 and n0 < 50 and not tie)
        assert engine == pytest.approx(reference, rel=1e-9)
        assert groups == pytest.approx(reference, rel=1e-9)


def test_mann_whitney_rule_is_recorded_in_the_provenance():
    from radiogenomics.stats.ranks import EXACT_RULE

    rng = np.random.default_rng(2)
    n = 30
    patients = [f"P{i:02d}" for i in range(n)]
    x = ad.AnnData(
        rng.normal(size=(n, 3)),
        obs=pd.DataFrame(index=patients),
        var=pd.DataFrame(index=["a", "b", "c"]),
    )
    mutation = ad.AnnData(
        (rng.random((n, 2)) < 0.4).astype(float),
        obs=pd.DataFrame(index=patients),
        var=pd.DataFrame(index=["TP53", "KRAS"]),
    )
    clinical = pd.DataFrame(
        {"group": rng.choice(["u", "v"], n)}, index=pd.Index(patients, name="patient_id")
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        mdata = rg.build_cohort({"radiomics": x, "mutation": mutation}, clinical=clinical)
        table = rg.tl.associate(mdata, x="radiomics", y="mutation", method="mannwhitney")
        rg.tl.differential(mdata, "group", mod="radiomics", method="wilcoxon")
    assert "R wilcox.test" in EXACT_RULE
    assert table.attrs["radiogenomics"]["mannwhitney_p_value"] == EXACT_RULE
    params = mdata.uns["radiogenomics"]["params"]
    assert params["differential"]["group:radiomics"]["wilcoxon_p_value"] == EXACT_RULE
    provenance = table.attrs["radiogenomics"]
    assert params[provenance["kind"]][provenance["key"]]["mannwhitney_p_value"] == EXACT_RULE
    # the p-values themselves: exact (no ties, both groups < 50), as scipy's exact test
    row = table[(table["x"] == "a") & (table["y"] == "TP53")].iloc[0]
    values = mdata["radiomics"][:, "a"].X.ravel()
    carrier = mdata["mutation"][:, "TP53"].X.ravel() == 1
    reference, exact = r_rule(values[carrier], values[~carrier])
    assert exact and row["p_value"] == pytest.approx(reference, rel=1e-9)


# ------------------------------------------------------------------ ComBat as sva

# A fixed matrix: 16 patients (rows) x 8 features, three batches, an age covariate.
COMBAT_X = np.array(
    [
        [3.66, 4.54, 3.10, 3.71, 3.16, 4.76, 3.73, 5.27],
        [5.22, 4.87, 2.54, 4.52, 5.01, 5.17, 3.53, 4.58],
        [3.96, 4.13, 6.00, 4.13, 4.91, 5.82, 4.36, 4.83],
        [4.90, 4.85, 3.56, 4.87, 6.15, 3.24, 5.65, 4.91],
        [4.24, 6.88, 5.64, 3.68, 4.95, 5.46, 4.69, 5.56],
        [6.58, 6.53, 8.17, 5.12, 7.02, 5.08, 6.71, 4.57],
        [6.05, 5.47, 7.60, 8.09, 4.97, 4.82, 7.73, 3.60],
        [6.56, 5.95, 8.47, 7.74, 6.80, 5.79, 6.72, 9.20],
        [6.16, 5.19, 6.66, 6.08, 6.54, 4.22, 6.63, 5.80],
        [8.52, 6.60, 6.07, 7.23, 6.30, 7.44, 6.61, 7.31],
        [5.10, 6.41, 3.84, 3.44, 6.62, 4.78, 7.13, 10.08],
        [3.91, 4.41, 4.84, 5.01, 4.36, 4.63, 5.03, 4.96],
        [3.71, 4.74, 4.66, 3.86, 4.60, 4.11, 5.16, 4.67],
        [4.25, 4.14, 4.32, 2.96, 3.39, 4.73, 2.75, 4.89],
        [3.18, 5.29, 4.02, 5.12, 4.48, 3.61, 5.33, 5.52],
        [4.54, 4.75, 4.68, 4.07, 5.34, 4.48, 4.60, 4.13],
    ]
)
COMBAT_BATCH = [0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 2, 2, 2, 2, 2]
COMBAT_AGE = [60, 62, 58, 53, 56, 52, 60, 71, 56, 55, 64, 63, 61, 53, 60, 66]
# Corrected values of the first two features, R sva::ComBat (sva 3.x):
#   library(sva)
#   x <- matrix(c(<COMBAT_X row by row>), nrow = 16, byrow = TRUE)
#   batch <- c(<COMBAT_BATCH>); age <- c(<COMBAT_AGE>)
#   combat <- function(...) t(ComBat(dat = t(x), batch = batch, mod = model.matrix(~age),
#                                    prior.plots = FALSE, ...))
#   print(combat()[, 1:2], digits = 11)                                   # SVA_PARAMETRIC
#   print(combat(par.prior = FALSE)[, 1:2], digits = 11)                  # SVA_NONPARAMETRIC
#   print(combat(mean.only = TRUE)[, 1:2], digits = 11)                   # SVA_MEAN_ONLY
#   print(combat(par.prior = FALSE, mean.only = TRUE)[, 1:2], digits = 11)
# The numbers were computed with neuroCombat 0.2.12 (Fortin's line-by-line port of sva's
# ComBat: rowVars for t2 and the inverse-gamma prior, int.eprior); inmoose 0.9.1's
# pycombat_norm is not used because it takes population variances for both.
SVA_PARAMETRIC = np.array(
    [
        [4.2521222044, 4.9833900073],
        [5.7780120062, 5.2387131265],
        [4.5473242197, 4.6651535492],
        [5.4713547662, 5.2418596091],
        [4.8229446026, 6.8319939784],
        [5.3454699686, 5.7012886891],
        [4.8739935283, 4.7481870194],
        [5.1715119686, 5.1641414454],
        [4.9913876317, 4.5029623344],
        [6.8016242367, 5.7604558784],
        [4.1152506632, 5.5815250909],
        [4.7202002011, 4.9374612953],
        [4.4444903185, 5.3899665524],
        [5.0565172175, 4.5221296880],
        [3.7563424185, 6.1531854772],
        [5.5560828770, 5.4232926495],
    ]
)
SVA_NONPARAMETRIC = np.array(
    [
        [4.4099258321, 5.0149998115],
        [5.6366573959, 5.2645438274],
        [4.6630478621, 4.7038647612],
        [5.4470207773, 5.2694815727],
        [4.9002574878, 6.8255755685],
        [5.5899516375, 5.6430120284],
        [5.1342214940, 4.7984439464],
        [5.3745698351, 5.1493730731],
        [5.2536050483, 4.5885265454],
        [6.9159228040, 5.6911806941],
        [4.4269381032, 5.5234884483],
        [4.6542230222, 4.9145813466],
        [4.4292864488, 5.3377498167],
        [4.9930099574, 4.5340528368],
        [3.8471972553, 6.0499084170],
        [5.3520346248, 5.3654899271],
    ]
)
SVA_MEAN_ONLY = np.array(
    [
        [4.1642644916, 4.9340803620],
        [5.7242644916, 5.2640803620],
        [4.4642644916, 4.5240803620],
        [5.4042644916, 5.2440803620],
        [4.7442644916, 7.2740803620],
        [5.5020843558, 5.6939467513],
        [4.9720843558, 4.6339467513],
        [5.4820843558, 5.1139467513],
        [5.0820843558, 4.3539467513],
        [7.4420843558, 5.7639467513],
        [4.0220843558, 5.5739467513],
        [4.6311391216, 5.0292885308],
        [4.4311391216, 5.3592885308],
        [4.9711391216, 4.7592885308],
        [3.9011391216, 5.9092885308],
        [5.2611391216, 5.3692885308],
    ]
)
SVA_NONPARAMETRIC_MEAN_ONLY = np.array(
    [
        [4.2015590652, 4.8925034043],
        [5.7615590652, 5.2225034043],
        [4.5015590652, 4.4825034043],
        [5.4415590652, 5.2025034043],
        [4.7815590652, 7.2325034043],
        [5.2951798039, 5.7773326184],
        [4.7651798039, 4.7173326184],
        [5.2751798039, 5.1973326184],
        [4.8751798039, 4.4373326184],
        [7.2351798039, 5.8473326184],
        [3.8151798039, 5.6573326184],
        [4.6339837999, 5.0111876698],
        [4.4339837999, 5.3411876698],
        [4.9739837999, 4.7411876698],
        [3.9039837999, 5.8911876698],
        [5.2639837999, 5.3511876698],
    ]
)


@pytest.mark.parametrize(
    ("parametric", "mean_only", "expected"),
    [
        (True, False, SVA_PARAMETRIC),
        (False, False, SVA_NONPARAMETRIC),
        (True, True, SVA_MEAN_ONLY),
        (False, True, SVA_NONPARAMETRIC_MEAN_ONLY),
    ],
)
def test_combat_matches_sva(parametric, mean_only, expected):
    from radiogenomics.stats.combat import combat_apply, combat_fit

    batch, age = np.array(COMBAT_BATCH), np.array(COMBAT_AGE, dtype=float)[:, None]
    model = combat_fit(COMBAT_X, batch, age, parametric=parametric, mean_only=mean_only)
    assert model.convention == "sva" and model.parametric == parametric
    ours = combat_apply(COMBAT_X, batch, model, age)
    np.testing.assert_allclose(ours[:, :2], expected, rtol=0, atol=5e-10)
    if parametric:  # scanpy's convention differs from sva's (ddof of the prior variance)
        scanpy = combat_apply(
            COMBAT_X,
            batch,
            combat_fit(COMBAT_X, batch, age, mean_only=mean_only, convention="scanpy"),
            age,
        )
        assert np.abs(scanpy[:, :2] - expected).max() > 1e-3


def test_harmonize_records_the_combat_convention():
    patients = [f"P{i:02d}" for i in range(len(COMBAT_BATCH))]
    feats = ad.AnnData(
        COMBAT_X.copy(),
        obs=pd.DataFrame(index=patients),
        var=pd.DataFrame(index=[f"f{j}" for j in range(COMBAT_X.shape[1])]),
    )
    clinical = pd.DataFrame(
        {"site": [f"s{b}" for b in COMBAT_BATCH], "age": COMBAT_AGE},
        index=pd.Index(patients, name="patient_id"),
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        mdata = rg.build_cohort({"radiomics": feats}, clinical=clinical)
        rg.pp.harmonize(
            mdata, mod="radiomics", batch_key="site", covariates=["age"], parametric=False
        )
    np.testing.assert_allclose(mdata["radiomics"].X[:, :2], SVA_NONPARAMETRIC, rtol=0, atol=5e-10)
    params = mdata.uns["radiogenomics"]["params"]["harmonization"]["radiomics"]
    assert params["convention"] == "sva" and params["parametric"] is False
    # the stored parameters correct patients as the fit corrected them (the new-patient
    # path of the tumor board)
    new = pd.DataFrame(
        COMBAT_X[:4], index=[f"N{i}" for i in range(4)], columns=list(feats.var_names)
    )
    obs = pd.DataFrame(
        {"site": clinical["site"].iloc[:4].to_numpy(), "age": COMBAT_AGE[:4]}, index=new.index
    )
    placed = rg.pp.apply_preprocessing(mdata, new, mod="radiomics", obs=obs)
    np.testing.assert_allclose(
        np.asarray(placed.X)[:, :2], SVA_NONPARAMETRIC[:4], rtol=0, atol=5e-10
    )
    with pytest.raises(rg.errors.InputError, match="convention"):
        rg.pp.harmonize(mdata, mod="radiomics", batch_key="site", convention="R")
