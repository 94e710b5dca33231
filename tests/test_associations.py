"""Radiogenomic associations: the kernels against statsmodels, scipy and pingouin; multiple
testing against statsmodels; power and false discoveries on the demo cohort; the tool,
the exports, the figures and the command."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from anndata import AnnData
from scipy import special, stats

import radiogenomics as rg
from radiogenomics.stats.association import FIELDS, associate_arrays
from radiogenomics.stats.multitest import adjust_pvalues, storey_pi0
from radiogenomics.stats.tails import RTable
from radiogenomics.tl.associations import ASSOCIATION_COLUMNS

REL = 1e-8


def assert_close(ours, reference, what, rel=REL, p_value=False):
    """Relative agreement; p-values below 1e-300 need only be tiny too."""
    ours, reference = float(ours), float(reference)
    if np.isnan(reference):
        assert np.isnan(ours), what
        return
    if p_value and reference < 1e-300:
        assert ours < 1e-290, what
        return
    # relative agreement; an exact zero of the reference allows rounding noise only
    assert abs(ours - reference) <= rel * abs(reference) + 1e-14, (
        f"{what}: {ours!r} vs {reference!r}"
    )


def random_blocks(seed=0, n=70, n_x=6, n_y=40, with_missing=True):
    """x with very different scales and means, y partly following x, numeric covariates;
    missing values scattered and as a shared block (a pattern of 18 columns)."""
    rng = np.random.default_rng(seed)
    covariates = np.column_stack(
        [rng.normal(60, 10, n), rng.integers(0, 2, n), rng.integers(0, 3, n) == 1]
    ).astype(float)
    x = (
        rng.normal(size=(n, n_x)) * [1, 10, 100, 1e3, 1e4, 0.01][:n_x]
        + [0, 5, 1e3, 1e5, 0, 0][:n_x]
    )
    x[:, -1] = covariates[:, 0] * 0.01 + rng.normal(size=n) * 0.002  # near the covariate
    y = rng.normal(size=(n, n_y)) + 0.4 * (x[:, [0]] - x[:, 0].mean())
    y[:, :5] *= 1e3
    if with_missing:
        y[rng.random(y.shape) < 0.08] = np.nan
        y[:6, 20:38] = np.nan  # a shared pattern
        x[rng.random(x.shape) < 0.05] = np.nan
        covariates[4, 1] = np.nan
    return x, y, covariates


def complete_rows(*columns):
    stacked = np.column_stack(columns)
    return ~np.isnan(stacked).any(axis=1)


def ols_reference(x, y, covariates):
    import statsmodels.api as sm

    ok = complete_rows(x, y, covariates)
    design = sm.add_constant(np.column_stack([x[ok], covariates[ok]]), has_constant="add")
    fit = sm.OLS(y[ok], design).fit()
    low, high = fit.conf_int()[1]
    return {
        "estimate": fit.params[1],
        "std_error": fit.bse[1],
        "statistic": fit.tvalues[1],
        "p_value": fit.pvalues[1],
        "ci_lower": low,
        "ci_upper": high,
        "n": ok.sum(),
    }


def check_all_pairs(result, reference, fields):
    n_x, n_y = result.shape
    for i in range(n_x):
        for j in range(n_y):
            expected = reference(i, j)
            assert result.n[i, j] == expected["n"], (i, j)
            for name in fields:
                assert_close(
                    result[name][i, j],
                    expected[name],
                    f"{name} of pair {(i, j)}",
                    p_value=name == "p_value",
                )


@pytest.mark.parametrize("missing", [False, True], ids=["complete", "missing"])
def test_linear_matches_statsmodels_ols(missing):
    x, y, covariates = random_blocks(with_missing=missing)
    fields = ("estimate", "std_error", "statistic", "p_value", "ci_lower", "ci_upper")
    result = associate_arrays(x, y, covariates, "linear")
    check_all_pairs(result, lambda i, j: ols_reference(x[:, i], y[:, j], covariates), fields)
    # the wide block as x (the other orientation of the algebra)
    swapped = associate_arrays(y[:, :12], x, covariates, "linear")
    check_all_pairs(swapped, lambda i, j: ols_reference(y[:, i], x[:, j], covariates), fields)
    assert np.isnan(result["q_value"]).all()  # left to the multiple-testing step


def test_linear_large_block_uses_the_p_value_table_exactly():
    """A million pairs: p-values from the interpolation table equal statsmodels'."""
    rng = np.random.default_rng(1)
    n = 40
    x = rng.normal(size=(n, 500))
    y = rng.normal(size=(n, 2100)) + 0.8 * x[:, :1]
    covariates = rng.normal(size=(n, 2))
    result = associate_arrays(x, y, covariates, "linear")
    for i, j in [(0, 0), (0, 7), (3, 5), (499, 2099), (0, 1500), (250, 3)]:
        expected = ols_reference(x[:, i], y[:, j], covariates)
        for name in ("estimate", "std_error", "statistic", "p_value"):
            assert_close(result[name][i, j], expected[name], name, p_value=name == "p_value")
    smallest = np.unravel_index(np.argmin(result["p_value"]), result.shape)
    expected = ols_reference(x[:, smallest[0]], y[:, smallest[1]], covariates)
    assert_close(result["p_value"][smallest], expected["p_value"], "smallest p", p_value=True)


def test_p_value_table_matches_stdtr():
    rng = np.random.default_rng(2)
    for df in (1, 3, 10, 37, 200, 5000):
        table = RTable(df)
        r = np.concatenate([rng.random(20000), 1 - 10 ** rng.uniform(-9, 0, 5000), [0.0, 1.0]])
        with np.errstate(divide="ignore"):
            t = r * np.sqrt(df / ((1 - r) * (1 + r)))
        exact = 2 * special.stdtr(df, -t)
        ours = table(r)
        keep = exact > 1e-300
        assert np.all(np.abs(ours[keep] - exact[keep]) <= 1e-9 * exact[keep]), df
        assert np.all(ours[~keep] < 1e-290)


@pytest.mark.parametrize("missing", [False, True], ids=["complete", "missing"])
def test_correlations_match_scipy(missing):
    x, y, _ = random_blocks(seed=3, with_missing=missing)
    pearson = associate_arrays(x, y, None, "pearson")
    spearman = associate_arrays(x, y, None, "spearman")

    def reference(function):
        def pair(i, j):
            ok = complete_rows(x[:, i], y[:, j])
            result = function(x[ok, i], y[ok, j])
            out = {"estimate": result.statistic, "p_value": result.pvalue, "n": ok.sum()}
            if function is stats.pearsonr:
                interval = result.confidence_interval()
                out.update(ci_lower=interval.low, ci_upper=interval.high)
            return out

        return pair

    check_all_pairs(
        pearson, reference(stats.pearsonr), ("estimate", "p_value", "ci_lower", "ci_upper")
    )
    check_all_pairs(spearman, reference(stats.spearmanr), ("estimate", "p_value"))


@pytest.mark.parametrize("method", ["pearson", "spearman"])
def test_partial_correlations_match_pingouin(method):
    pingouin = pytest.importorskip("pingouin")
    x, y, covariates = random_blocks(seed=4, n_y=12, with_missing=True)
    result = associate_arrays(x, y, covariates, method)
    names = ["c0", "c1", "c2"]
    for i in range(x.shape[1]):
        for j in range(y.shape[1]):
            frame = pd.DataFrame(
                np.column_stack([x[:, i], y[:, j], covariates]), columns=["x", "y", *names]
            )
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                reference = pingouin.partial_corr(frame, x="x", y="y", covar=names, method=method)
            assert result.n[i, j] == reference["n"].iloc[0]
            assert_close(result["estimate"][i, j], reference["r"].iloc[0], "r")
            assert_close(result["p_value"][i, j], reference["p_val"].iloc[0], "p", p_value=True)
            # pingouin's interval (its table rounds it; the same call unrounded)
            n, k = reference["n"].iloc[0], len(names)
            low, high = pingouin.compute_esci(
                stat=reference["r"].iloc[0], nx=n - k, ny=n - k, eftype="r", decimals=15
            )
            assert_close(result["ci_lower"][i, j], low, "ci_lower", rel=1e-8)
            assert_close(result["ci_upper"][i, j], high, "ci_upper", rel=1e-8)


def binary_blocks(seed=5, missing=True):
    rng = np.random.default_rng(seed)
    x, _, covariates = random_blocks(seed=seed, n_y=2, with_missing=missing)
    n = x.shape[0]
    y = (rng.random((n, 5)) < 0.35).astype(float)
    y[:, 2] = (x[:, 0] + rng.normal(size=n) > 0.5).astype(float)  # follows x
    y[:, 3] = 0.0
    y[:5, 3] = 1.0  # a small group: scipy's exact distribution
    x_ties = np.round(x[:, :2], 0)  # ties
    x = np.column_stack([x, x_ties])
    if missing:
        y[rng.random(y.shape) < 0.05] = np.nan
    return x, y, covariates


@pytest.mark.parametrize("missing", [False, True], ids=["complete", "missing"])
def test_group_tests_match_scipy(missing):
    x, y, _ = binary_blocks(missing=missing)
    welch = associate_arrays(x, y, None, "welch")
    mannwhitney = associate_arrays(x, y, None, "mannwhitney")

    def groups(i, j):
        ok = complete_rows(x[:, i], y[:, j])
        values, labels = x[ok, i], y[ok, j]
        return values[labels == 1], values[labels == 0], ok.sum()

    def welch_reference(i, j):
        one, zero, n = groups(i, j)
        result = stats.ttest_ind(one, zero, equal_var=False)
        interval = result.confidence_interval()
        return {
            "estimate": one.mean() - zero.mean(),
            "statistic": result.statistic,
            "p_value": result.pvalue,
            "ci_lower": interval.low,
            "ci_upper": interval.high,
            "n": n,
        }

    def mannwhitney_reference(i, j):
        one, zero, n = groups(i, j)
        # R's wilcox.test rule: exact below 50 per group without ties
        tied = np.unique(np.r_[one, zero]).size < one.size + zero.size
        exact = one.size < 50 and zero.size < 50 and not tied
        result = stats.mannwhitneyu(one, zero, method="exact" if exact else "asymptotic")
        return {
            "statistic": result.statistic,
            "p_value": result.pvalue,
            "estimate": 2 * result.statistic / (one.size * zero.size) - 1,
            "n": n,
        }

    check_all_pairs(
        welch, welch_reference, ("estimate", "statistic", "p_value", "ci_lower", "ci_upper")
    )
    check_all_pairs(mannwhitney, mannwhitney_reference, ("statistic", "p_value", "estimate"))


def test_logistic_matches_statsmodels_logit():
    import statsmodels.api as sm

    x, y, covariates = binary_blocks(seed=6)
    y = y[:, [0, 1, 2]]
    result = associate_arrays(x, y, covariates, "logistic")

    def reference(i, j):
        ok = complete_rows(x[:, i], y[:, j], covariates)
        design = sm.add_constant(np.column_stack([x[ok, i], covariates[ok]]), has_constant="add")
        fit = sm.Logit(y[ok, j], design).fit(disp=0, tol=1e-12, maxiter=100)
        low, high = fit.conf_int()[1]
        return {
            "estimate": fit.params[1],
            "std_error": fit.bse[1],
            "statistic": fit.tvalues[1],
            "p_value": fit.pvalues[1],
            "ci_lower": low,
            "ci_upper": high,
            "n": ok.sum(),
        }

    check_all_pairs(
        result, reference, ("estimate", "std_error", "statistic", "p_value", "ci_lower", "ci_upper")
    )


def test_bad_kernel_inputs():
    x, y, covariates = binary_blocks(seed=7)
    with pytest.raises(ValueError, match="does not adjust for covariates"):
        associate_arrays(x, y, covariates, "welch")
    with pytest.raises(ValueError, match="binary"):
        associate_arrays(x, y + 1, None, "mannwhitney")
    with pytest.raises(ValueError, match="unknown method"):
        associate_arrays(x, y, None, "anova")


# --- multiple testing ---------------------------------------------------------------------


def statsmodels_adjusted(p, method):
    from statsmodels.stats.multitest import multipletests

    out = np.full(p.shape, np.nan)
    valid = ~np.isnan(p)
    if valid.any():
        out[valid] = multipletests(p[valid], method=method)[1]
    return out


METHOD_NAMES = [("bh", "fdr_bh"), ("by", "fdr_by"), ("bonferroni", "bonferroni"), ("holm", "holm")]


@pytest.mark.parametrize("size", [1, 7, 2500, 1_100_000])
def test_multitest_matches_statsmodels(size):
    rng = np.random.default_rng(size)
    p = rng.random(size) ** 3
    p[: size // 10] = rng.random(size // 10) * 1e-30
    if size > 10:
        p[rng.random(size) < 0.01] = np.nan
        p[5 : size // 3] = np.round(p[5 : size // 3], 4)  # ties
    for ours, theirs in METHOD_NAMES:
        expected = statsmodels_adjusted(p, theirs)
        got = adjust_pvalues(p, ours)
        assert np.array_equal(np.isnan(got), np.isnan(expected))
        valid = ~np.isnan(expected)
        np.testing.assert_allclose(got[valid], expected[valid], rtol=1e-14, atol=0)


@pytest.mark.parametrize("signal", ["null", "sparse", "dense"])
def test_multitest_large_families_every_path(signal):
    """One family of 1.2 million tests: the lookup table (few q-value levels), the sorted
    look-ups of the cells where levels change, and the sorting permutation (levels
    everywhere) all equal statsmodels."""
    from radiogenomics.stats import multitest

    rng = np.random.default_rng(12)
    size = 1_200_000
    p = rng.random(size)
    if signal == "sparse":
        p[: size // 100] = rng.random(size // 100) * 1e-4
    elif signal == "dense":
        p = p**6
    p[7 : size // 4] = np.round(p[7 : size // 4], 7)  # ties
    expected = statsmodels_adjusted(p, "fdr_bh")
    paths = [adjust_pvalues(p, "bh")]
    ordered = np.empty(size)
    multitest._stepup_by_order(p, "bh", ordered)
    paths.append(ordered)
    for got in paths:
        np.testing.assert_allclose(got, expected, rtol=1e-14, atol=0)


def test_multitest_families_match_statsmodels_per_family():
    rng = np.random.default_rng(8)
    p = rng.random((12, 700)) ** 2  # statsmodels' Holm takes about 0.07 s a family
    p[rng.random(p.shape) < 0.05] = np.nan
    p[::3] = np.round(p[::3], 3)
    codes = np.repeat(np.arange(12)[:, None], 700, axis=1)
    for ours, theirs in METHOD_NAMES:
        expected = np.vstack([statsmodels_adjusted(row, theirs) for row in p])
        for got in (
            adjust_pvalues(p, ours, families="rows"),
            adjust_pvalues(p, ours, families=codes),
        ):
            assert np.array_equal(np.isnan(got), np.isnan(expected))
            valid = ~np.isnan(expected)
            np.testing.assert_allclose(got[valid], expected[valid], rtol=1e-14, atol=0)
        # columns as families, written into a transposed view (as associate's family "y")
        narrow = p[:, :10]
        by_column = np.empty(narrow.shape)
        adjust_pvalues(narrow.T, ours, families="rows", out=by_column.T)
        expected = np.column_stack([statsmodels_adjusted(col, theirs) for col in narrow.T])
        valid = ~np.isnan(expected)
        np.testing.assert_allclose(by_column[valid], expected[valid], rtol=1e-14, atol=0)
    # tiny q-values keep their precision within a family (no offsets between families)
    tiny = np.full((3, 4), 1e-200)
    tiny[:, 0] = [1e-250, 1e-220, 1e-210]
    got = adjust_pvalues(tiny, "bh", families=np.repeat(np.arange(3)[:, None], 4, axis=1))
    np.testing.assert_allclose(
        got, np.vstack([statsmodels_adjusted(r, "fdr_bh") for r in tiny]), rtol=1e-14
    )


def test_storey_q_values_match_r_qvalue_on_the_hedenfalk_data():
    """R's qvalue on its own example data (the vignette's summary):

    library(qvalue); data(hedenfalk); qobj <- qvalue(p = hedenfalk$p); summary(qobj)
    pi0: 0.67 (Storey & Tibshirani 2003: "pi0 = 0.67")
              <1e-04 <0.001 <0.01 <0.025 <0.05 <0.1   <1
    p-value       15     76   265    424   605  868 3170
    q-value        0      0     1     73   162  319 3170
    """
    p = np.loadtxt(Path(__file__).parent / "data" / "hedenfalk_p.txt")
    assert p.size == 3170
    pi0 = storey_pi0(p)
    assert pi0 == pytest.approx(0.670, abs=5e-4)
    q = adjust_pvalues(p, "storey")
    cuts = [1e-4, 1e-3, 0.01, 0.025, 0.05, 0.1, 1]
    assert [int((p < c).sum()) for c in cuts] == [15, 76, 265, 424, 605, 868, 3170]
    assert [int((q < c).sum()) for c in cuts] == [0, 0, 1, 73, 162, 319, 3170]
    # qvalue's q-values: pi0 * min(1, cummin(p m / rank)) from the largest p down
    order = np.argsort(p)[::-1]
    m = p.size
    expected = np.empty(m)
    expected[order] = pi0 * np.minimum(1, np.minimum.accumulate(p[order] * m / np.arange(m, 0, -1)))
    np.testing.assert_allclose(q, expected, rtol=1e-12)
    # pi0 = 1 is Benjamini-Hochberg
    np.testing.assert_allclose(
        adjust_pvalues(p, "storey", pi0=1.0), statsmodels_adjusted(p, "fdr_bh"), rtol=1e-12
    )
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        adjust_pvalues(np.array([0.1, 1.5]))


# --- the tool on cohorts --------------------------------------------------------------------


def small_cohort(seed=10, n=50, join="inner"):
    """A cohort with radiomics, rna (some patients absent), protein with NaN, mutations."""
    rng = np.random.default_rng(seed)
    patients = [f"P{i:03d}" for i in range(n)]
    age = rng.normal(60, 8, n)
    stage = rng.choice(["I", "II", "III"], n)
    sex = rng.choice(["female", "male"], n)
    radiomics = rng.normal(size=(n, 5)) * [1, 50, 3, 1, 2] + [0, 1000, 5, 0, 0]
    rna = rng.normal(size=(n, 8)) + 0.6 * radiomics[:, [0]]
    protein = rng.normal(size=(n, 6)) + 0.3 * radiomics[:, [2]]
    protein[rng.random(protein.shape) < 0.15] = np.nan
    mutation = (rng.random((n, 3)) < 0.3).astype(float)
    clinical = pd.DataFrame(
        {
            "age": age,
            "stage": pd.Categorical(stage, ["I", "II", "III"]),
            "sex": sex,
            "score": rng.normal(size=n),
        },
        index=patients,
    )
    clinical.loc[patients[10], "age"] = np.nan

    def adata(values, prefix, rows):
        return AnnData(
            X=values[rows],
            obs=pd.DataFrame(index=[patients[i] for i in rows]),
            var=pd.DataFrame(index=[f"{prefix}{k}" for k in range(values.shape[1])]),
        )

    everyone = np.arange(n)
    modalities = {
        "radiomics": adata(radiomics, "feature_", everyone),
        "rna": adata(rna, "GENE", everyone[5:]),
        "protein": adata(protein, "PROT", everyone),
        "mutation": adata(mutation, "MUT", everyone),
    }
    return rg.build_cohort(modalities, clinical=clinical, join=join)


def test_associate_table_matches_statsmodels_formula():
    import statsmodels.formula.api as smf

    mdata = small_cohort(join="outer")
    table = rg.tl.associate(mdata, "radiomics", "rna", covariates=["age", "stage", "sex"])
    assert list(table.columns) == ASSOCIATION_COLUMNS
    assert len(table) == 5 * 8
    assert (table["covariates"] == "age,stage,sex").all()
    stored = rg.get_result(mdata, "associations", "radiomics_vs_rna")
    assert stored is table
    params = mdata.uns["radiogenomics"]["params"]["associations"]["radiomics_vs_rna"]
    assert params["multitest"] == {"method": "bh", "family": "all"}
    assert params["covariate_columns"] == ["age", "stage[T.II]", "stage[T.III]", "sex[T.male]"]
    frame = mdata.obs[["age", "stage", "sex"]].copy()
    frame["x"] = mdata["radiomics"].to_df().reindex(mdata.obs_names)["feature_1"]
    frame["y"] = mdata["rna"].to_df().reindex(mdata.obs_names)["GENE3"]
    fit = smf.ols("y ~ x + age + stage + sex", data=frame).fit()
    row = table[(table["x"] == "feature_1") & (table["y"] == "GENE3")].iloc[0]
    assert row["n"] == fit.nobs == 44  # 5 patients lack rna, one lacks age
    assert_close(row["estimate"], fit.params["x"], "estimate")
    assert_close(row["std_error"], fit.bse["x"], "std_error")
    assert_close(row["p_value"], fit.pvalues["x"], "p_value")
    expected_q = statsmodels_adjusted(table["p_value"].to_numpy(), "fdr_bh")
    np.testing.assert_allclose(table["q_value"], expected_q, rtol=1e-14)


def test_associate_families_clinical_columns_and_protein_missing_values():
    mdata = small_cohort()
    per_x = rg.tl.associate(
        mdata, "radiomics", "protein", family="x", multitest="by", key_added="per_x"
    )
    for _, group in per_x.groupby("x", observed=True):
        expected = statsmodels_adjusted(group["p_value"].to_numpy(), "fdr_by")
        np.testing.assert_allclose(group["q_value"], expected, rtol=1e-14)
    assert per_x["n"].min() < per_x["n"].max()  # per-pair complete cases
    clinical = rg.tl.associate(mdata, ["score", "age"], "radiomics", method="spearman")
    assert set(clinical["x_modality"]) == {"clinical"}
    assert set(clinical["x"]) == {"score", "age"}
    mutation = rg.tl.associate(mdata, "radiomics", "mutation", method="welch")
    assert mutation["method"].iloc[0] == "welch" and mutation["p_value"].notna().all()


def test_associate_refuses_bad_requests():
    mdata = small_cohort()
    with pytest.raises(rg.errors.InputError, match="cannot adjust for covariates"):
        rg.tl.associate(mdata, "radiomics", "mutation", covariates=["age"], method="welch")
    with pytest.raises(rg.errors.CohortError, match="binary") as error:
        rg.tl.associate(mdata, "radiomics", "rna", method="mannwhitney")
    assert error.value.column == "GENE0"
    with pytest.raises(rg.errors.CohortError, match="unknown covariate"):
        rg.tl.associate(mdata, "radiomics", "rna", covariates=["weight"])
    with pytest.raises(rg.errors.InputError, match="unknown association method"):
        rg.tl.associate(mdata, "radiomics", "rna", method="anova")
    with pytest.raises(rg.errors.InputError, match="family"):
        rg.tl.associate(mdata, "radiomics", "rna", family="genes")


def test_constant_feature_warns_and_gives_nan():
    mdata = small_cohort()
    mdata.mod["radiomics"].X[:, 3] = 7.0
    with pytest.warns(UserWarning, match="could not be tested"):
        table = rg.tl.associate(mdata, "radiomics", "rna")
    constant = table[table["x"] == "feature_3"]
    assert constant["p_value"].isna().all() and constant["q_value"].isna().all()
    assert table.loc[table["x"] != "feature_3", "q_value"].notna().all()


def test_dask_client_gives_the_same_table():
    distributed = pytest.importorskip("distributed")
    x, y, covariates = random_blocks(seed=11, n_y=60)
    local = associate_arrays(x, y, covariates, "linear")
    with (
        distributed.LocalCluster(
            n_workers=1, threads_per_worker=2, processes=False, dashboard_address=":0"
        ) as cluster,
        distributed.Client(cluster) as client,
    ):
        remote = associate_arrays(x, y, covariates, "linear", client=client, chunk_columns=7)
    np.testing.assert_array_equal(local.n, remote.n)
    for name in FIELDS:
        # chunks may split a block of a shared missingness pattern: the same numbers to
        # rounding (both agree with statsmodels to 1e-10 or better)
        np.testing.assert_allclose(remote[name], local[name], rtol=1e-10, equal_nan=True)


def test_score_gene_sets(tmp_path):
    mdata = small_cohort()
    gmt = tmp_path / "sets.gmt"
    gmt.write_text(
        "SET_A\tfirst\tGENE0\tGENE1\tGENE2\tNOT_A_GENE\n"
        "SET_B\tsecond\tGENE3\tGENE4\tGENE5\tGENE6\n"
        "TINY\ttoo small\tGENE7\n"
    )
    scores = rg.tl.score_gene_sets(mdata, gmt, min_size=3)
    assert "geneset" in mdata.mod and list(scores.var_names) == ["SET_A", "SET_B"]
    assert scores.var.loc["SET_A", "n_genes_scored"] == 3
    assert "TINY" in scores.uns["radiogenomics"]["dropped"]
    rna = mdata["rna"].to_df()
    z = (rna - rna.mean()) / rna.std(ddof=1)
    np.testing.assert_allclose(
        scores.X[:, 0], z[["GENE0", "GENE1", "GENE2"]].mean(axis=1), rtol=1e-12
    )
    assert mdata.obs["stage"].dtype == "category"  # the clinical columns are untouched
    table = rg.tl.associate(mdata, "geneset", "radiomics", method="spearman")
    assert set(table["x_modality"]) == {"geneset"} and len(table) == 2 * 5
    bad = tmp_path / "bad.gmt"
    bad.write_text("SET_A\tfirst\tGENE0\nBROKEN_LINE\n")
    with pytest.raises(rg.errors.InputError) as error:
        rg.tl.score_gene_sets(mdata, bad)
    assert error.value.row == 2 and "bad.gmt" in str(error.value)


# --- the demo cohort: power and false discoveries -------------------------------------------


def planted_pairs(mdata, table):
    truth = mdata.uns["radiogenomics"]["truth"]
    modules = truth["gene_modules"]["module"]
    markers = truth["marker_features"].set_index("feature")["factor"]
    x = table["x"].astype(str)
    y = table["y"].astype(str)
    is_marker = x.isin(markers.index).to_numpy()
    module = modules.reindex(y).to_numpy()
    factor = markers.reindex(x).to_numpy()
    planted = is_marker & (module == factor)
    null = is_marker & (module == "none")
    return planted, null


def test_planted_links_are_found_on_the_demo(demo_build, record_property):
    mdata = demo_build[2].copy()
    table = rg.tl.associate(mdata, "radiomics", "rna", covariates=["age", "sex", "site"])
    planted, null = planted_pairs(mdata, table)
    significant = (table["q_value"] < 0.05).to_numpy()
    power = significant[planted].mean()
    false_rate = significant[null].mean()
    record_property("power", float(power))
    record_property("null_gene_discovery_rate", float(false_rate))
    print(f"power on planted pairs {power:.3f}; discoveries among null genes {false_rate:.4f}")
    assert planted.sum() > 300 and power > 0.8
    assert false_rate < 0.1


def test_false_discovery_proportion_with_links_permuted_away(demo_build, record_property):
    """The null genes' patients are shuffled (their link to imaging removed, their mutual
    correlations kept); the planted genes keep theirs. Discoveries among the shuffled genes
    are false; their proportion stays near the nominal 5% over repeated seeds."""
    mdata = demo_build[2]
    truth = mdata.uns["radiogenomics"]["truth"]
    modules = truth["gene_modules"]["module"].reindex(mdata["rna"].var_names)
    markers = list(truth["marker_features"]["feature"])
    x = mdata["radiomics"][:, markers].to_df().reindex(mdata.obs_names).to_numpy()
    rna = mdata["rna"].to_df().reindex(mdata.obs_names)
    null_genes = (modules == "none").to_numpy()
    signal_genes = modules.isin(["proliferation", "hypoxia", "immune"]).to_numpy()
    proportions = []
    for seed in range(12):
        rng = np.random.default_rng(seed)
        shuffled = rna.to_numpy()[:, null_genes][rng.permutation(mdata.n_obs)]
        y = np.column_stack([rna.to_numpy()[:, signal_genes], shuffled])
        result = associate_arrays(x, y, None, "linear")
        q = adjust_pvalues(result["p_value"], "bh")
        discoveries = q < 0.05
        false = discoveries[:, signal_genes.sum() :].sum()
        proportions.append(false / max(discoveries.sum(), 1))
    mean = float(np.mean(proportions))
    record_property("mean_false_discovery_proportion", mean)
    print(f"false discovery proportion over 12 seeds: mean {mean:.4f}, max {max(proportions):.4f}")
    assert mean <= 0.075 and max(proportions) < 0.15


# --- exports, figures, command ----------------------------------------------------------


def test_write_table_all_formats_with_provenance(tmp_path):
    mdata = small_cohort()
    table = rg.tl.associate(mdata, "radiomics", "rna", covariates=["age", "sex"])
    for suffix in (".csv", ".tsv", ".parquet", ".xlsx"):
        path = rg.export.write_table(table, tmp_path / f"table{suffix}")
        meta = json.loads((tmp_path / f"table{suffix}.meta.json").read_text())
        assert meta["schema"] == "association_table" and meta["rows"] == len(table)
        assert meta["method"] == "linear" and meta["covariates"] == ["age", "sex"]
        assert meta["multiple_testing"] == {"method": "bh", "family": "all"}
        assert meta["n_patients"] == 44 and meta["input_hash"].startswith("sha256:")
        assert {"numpy", "scipy", "pandas", "radiogenomics"} <= set(meta["package_versions"])
        assert meta["created"] and meta["filter"] is None
        if suffix == ".parquet":
            back = pd.read_parquet(path)
        elif suffix == ".xlsx":
            back = pd.read_excel(path, sheet_name="table")
        else:
            back = pd.read_csv(
                path, sep="," if suffix == ".csv" else "\t", float_precision="round_trip"
            )
        assert list(back.columns) == list(table.columns)
        assert (back["x"].astype(str).to_numpy() == table["x"].astype(str).to_numpy()).all()
        np.testing.assert_allclose(back["p_value"], table["p_value"], rtol=1e-15)
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temporaries


def test_write_table_filters_validates_and_limits_excel(tmp_path):
    mdata = small_cohort()
    table = rg.tl.associate(mdata, "radiomics", "rna")
    top = rg.export.write_table(table, tmp_path / "top.csv", top=5)
    back = pd.read_csv(top)
    assert len(back) == 5 and back["p_value"].is_monotonic_increasing
    assert np.isclose(back["p_value"].iloc[0], table["p_value"].min())
    meta = rg.export.read_sidecar(top)
    assert meta["filter"] == {"top": 5} and meta["rows_total"] == len(table)
    assert "5 of 40 rows" in meta["note"]
    with pytest.warns(UserWarning, match="Excel sheet"):
        rg.export.write_table(table, tmp_path / "few.xlsx", excel_rows=7)
    sheets = pd.read_excel(tmp_path / "few.xlsx", sheet_name=None)
    assert len(sheets["table"]) == 7 and "7 of 40 rows" in str(sheets["about"].columns[1])
    assert rg.export.read_sidecar(tmp_path / "few.xlsx")["filter"] == {"excel_rows": 7}
    q_only = rg.export.write_table(table, tmp_path / "q.parquet", q=0.05)
    assert (pd.read_parquet(q_only)["q_value"] <= 0.05).all()
    broken = table.copy()
    broken["p_value"] = broken["p_value"].astype(float)
    broken.loc[3, "p_value"] = 1.5
    with pytest.raises(rg.errors.SchemaError) as error:
        rg.export.write_table(broken, tmp_path / "broken.csv")
    assert error.value.column == "p_value" and "record 4" in str(error.value)
    assert not (tmp_path / "broken.csv").exists()
    with pytest.raises(rg.errors.SchemaError, match="neither an association table"):
        rg.export.write_table(pd.DataFrame({"a": [1]}), tmp_path / "other.csv")
    with pytest.raises(rg.errors.InputError, match="unknown table format"):
        rg.export.write_table(table, tmp_path / "table.json")


def test_figures():
    import plotly.graph_objects as go

    mdata = small_cohort()
    table = rg.tl.associate(mdata, "radiomics", "rna", covariates=["age"])
    volcano = rg.pl.volcano(mdata, "radiomics_vs_rna")
    assert isinstance(volcano, go.Figure)
    drawn = sum(len(trace.x) for trace in volcano.data if trace.mode == "markers")
    assert drawn == len(table)
    assert volcano.layout.title.text.startswith("Associations (linear)")
    # a table of several methods keeps the caller's title (and has no single method to name)
    mixed = pd.concat([table, table.assign(method="spearman")], ignore_index=True)
    assert rg.pl.volcano(mixed, title="My title").layout.title.text.startswith("My title")
    assert rg.pl.volcano(mixed).layout.title.text.startswith("Associations")
    heat = rg.pl.heatmap(table, n_x=4, n_y=6)
    assert heat.data[0].z.shape == (4, 6)
    scatter = rg.pl.pair(mdata, "feature_0", "GENE1", key="radiomics_vs_rna")
    assert "adjusted for age" in scatter.layout.annotations[0].text
    row = table[(table["x"] == "feature_0") & (table["y"] == "GENE1")].iloc[0]
    assert f"p = {row['p_value']:.3g}" in scatter.layout.annotations[0].text
    box = rg.pl.pair(mdata, "feature_2", "MUT1", y="mutation")
    assert {trace.type for trace in box.data} == {"box"}


def test_associate_command(tmp_path):
    from radiogenomics.cli import main

    mdata = small_cohort()
    cohort = rg.write_cohort(mdata, tmp_path / "cohort.h5mu")
    out = tmp_path / "table.parquet"
    assert (
        main(
            [
                "associate",
                str(cohort),
                "--x",
                "radiomics",
                "--y",
                "protein",
                "--covariates",
                "age,sex",
                "--out",
                str(out),
                "--top",
                "10",
            ]
        )
        == 0
    )
    assert len(pd.read_parquet(out)) == 10
    assert rg.export.read_sidecar(out)["covariates"] == ["age", "sex"]
    assert (
        main(
            [
                "associate",
                str(cohort),
                "--y",
                "mutation",
                "--method",
                "welch",
                "--covariates",
                "age",
                "--out",
                str(tmp_path / "t.csv"),
            ]
        )
        == 2
    )


def test_demo_step_writes_the_tables(demo_build, tmp_path):
    from radiogenomics.workflow import demo_associations

    done = demo_associations(demo_build[2].copy(), tmp_path, echo=lambda _: None)
    assert set(done) == {"radiomics_vs_rna", "radiomics_vs_protein", "radiomics_vs_mutation"}
    for name in done:  # files are named after the tables' keys in the cohort
        for suffix in (".csv", ".tsv", ".parquet", ".xlsx"):
            path = tmp_path / f"{name}{suffix}"
            assert path.exists() and (tmp_path / f"{path.name}.meta.json").exists()


def test_old_argument_names_still_work_with_a_future_warning():
    mdata = rg.datasets.toy_cohort(n_patients=40)
    new = rg.tl.associate(
        mdata,
        "radiomics",
        "rna",
        multitest="permutation",
        n_permutations=3,
        n_jobs=1,
        random_state=5,
        key_added="new",
    )
    with pytest.warns(FutureWarning) as caught:
        old = rg.tl.associate(
            mdata,
            "radiomics",
            "rna",
            multitest="permutation",
            n_permutations=3,
            n_threads=1,
            seed=5,
            key_added="old",
        )
    messages = sorted(str(w.message) for w in caught)
    assert len(messages) == 2
    assert "'n_threads' is now 'n_jobs'" in messages[0]
    assert "'seed' is now 'random_state'" in messages[1]
    pd.testing.assert_frame_equal(old, new)
    with pytest.raises(TypeError, match="both 'seed' and its new name"):
        rg.tl.associate(mdata, "radiomics", "rna", seed=1, random_state=1)
