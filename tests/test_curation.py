"""Feature curation: QC, transforms, ComBat (against scanpy), ICC (against pingouin),
mask perturbation, redundancy, and the demo's planted site effect."""

from __future__ import annotations

import warnings

import anndata as ad
import mudata as md
import numpy as np
import pandas as pd
import pytest
from scipy import stats

import radiogenomics as rg
from radiogenomics.errors import CohortError, InputError
from radiogenomics.stats.combat import combat_apply, combat_fit
from radiogenomics.stats.icc import intraclass_correlation

warnings.filterwarnings("ignore", category=FutureWarning)


# --------------------------------------------------------------------------- helpers


def _batchy_data(seed: int = 0, n: int = 90, p: int = 40):
    rng = np.random.default_rng(seed)
    batch = rng.integers(0, 3, n)
    age = rng.normal(60, 10, n)
    stage = rng.choice(["I", "II", "III"], n)
    x = rng.normal(size=(n, p)) * rng.uniform(0.5, 3, p) + rng.normal(0, 5, p)
    x += np.array([0.0, 1.5, -1.0])[batch][:, None] * rng.uniform(0.5, 1.5, p)
    x *= np.array([1.0, 1.6, 0.7])[batch][:, None]
    x += 0.05 * age[:, None] + (stage == "III")[:, None] * 0.8
    return x, batch, age, stage


def _scanpy_combat(x, batch, covariates: dict[str, np.ndarray] | None = None):
    import scanpy as sc

    adata = ad.AnnData(x.copy())
    adata.obs["batch"] = pd.Categorical([f"b{b}" for b in batch])
    for name, column in (covariates or {}).items():
        adata.obs[name] = column
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return sc.pp.combat(
            adata, key="batch", covariates=list(covariates or {}) or None, inplace=False
        )


# --------------------------------------------------------------------------- ComBat


def test_combat_matches_scanpy_without_covariates():
    x, batch, _, _ = _batchy_data(0)
    model = combat_fit(x, batch, convention="scanpy")
    ours = combat_apply(x, batch, model)
    np.testing.assert_allclose(ours, _scanpy_combat(x, batch), rtol=0, atol=1e-9)
    assert not np.allclose(ours, x)  # something was corrected


def test_combat_matches_scanpy_with_covariates():
    x, batch, age, stage = _batchy_data(1)
    # categorical covariates as indicator columns (scanpy's own dummy coding of a
    # categorical covariate is collinear with the batch indicators, scanpy#1606)
    covariates = {
        "age": age,
        "stage_II": (stage == "II").astype(float),
        "stage_III": (stage == "III").astype(float),
    }
    design = np.column_stack(list(covariates.values()))
    ours = combat_apply(x, batch, combat_fit(x, batch, design, convention="scanpy"), design)
    np.testing.assert_allclose(ours, _scanpy_combat(x, batch, covariates), rtol=0, atol=1e-9)


def test_combat_refuses_bad_input():
    x, batch, _, _ = _batchy_data(2)
    with pytest.raises(ValueError, match="at least two samples"):
        combat_fit(x, np.r_[batch[:-1], 3])
    confounded = (batch == 1).astype(float)
    with pytest.raises(ValueError, match="collinear"):
        combat_fit(x, batch, confounded[:, None])
    x[0, 0] = np.nan
    with pytest.raises(ValueError, match="finite"):
        combat_fit(x, batch)


def test_harmonize_tool_matches_scanpy_on_the_demo(demo_cohort):
    mdata = demo_cohort
    rg.pp.filter_features(mdata, mod="radiomics")
    rg.pp.transform(mdata, mod="radiomics")
    x = np.array(mdata["radiomics"].X, dtype=float)
    patients = mdata["radiomics"].obs_names
    site = mdata.obs.loc[patients, "site"].astype(str).to_numpy()
    stage = mdata.obs.loc[patients, "stage"].astype(str).to_numpy()
    indicators = {
        f"stage_{s}": (stage == s).astype(float) for s in ("II", "III", "IV") if (stage == s).any()
    }
    levels, codes = np.unique(site, return_inverse=True)
    expected = _scanpy_combat(x, codes, indicators)
    rg.pp.harmonize(
        mdata, mod="radiomics", batch_key="site", covariates=["stage"], convention="scanpy"
    )
    np.testing.assert_allclose(mdata["radiomics"].X, expected, rtol=0, atol=1e-8)
    # the values before are kept, and the step is recorded
    np.testing.assert_array_equal(mdata["radiomics"].layers["raw"].shape, x.shape)
    assert [
        e["step"] for e in mdata["radiomics"].uns["radiogenomics"]["preprocessing"].values()
    ] == ["transform", "harmonize"]


# --------------------------------------------------------------------------- the demo's site


def _marker_correlations(mdata, values: np.ndarray, names) -> pd.Series:
    truth = mdata.uns["radiogenomics"]["truth"]
    factors = truth["factors"].loc[mdata["radiomics"].obs_names]
    markers = truth["marker_features"]
    out = {}
    for _, row in markers.iterrows():
        if row["feature"] in names:
            j = list(names).index(row["feature"])
            out[row["feature"]] = abs(stats.pearsonr(values[:, j], factors[row["factor"]])[0])
    return pd.Series(out)


def test_demo_site_effect_visible_before_and_removed_after(demo_cohort):
    mdata = demo_cohort
    rg.pp.filter_features(mdata, mod="radiomics")
    rg.pp.transform(mdata, mod="radiomics")
    names = list(mdata["radiomics"].var_names)
    before_values = np.array(mdata["radiomics"].X, dtype=float)
    site = mdata.obs.loc[mdata["radiomics"].obs_names, "site"].astype(str).to_numpy()

    scores = rg.pp.harmonize(mdata, mod="radiomics", batch_key="site", covariates=["stage"])
    s = scores.set_index("metric")
    print("\nbatch separation before/after ComBat:\n", s[["before", "after"]].round(3).to_string())
    # visible before
    assert s.loc["fraction_features_batch_q05", "before"] > 0.5
    assert s.loc["kbet_rejection_rate", "before"] > 0.3
    assert s.loc["silhouette", "before"] > 0.05
    # removed after
    assert s.loc["fraction_features_batch_q05", "after"] < 0.05
    assert s.loc["kbet_rejection_rate", "after"] < 0.15
    assert s.loc["silhouette", "after"] < 0.02
    assert s.loc["batch_r2_mean", "after"] < 0.1 * s.loc["batch_r2_mean", "before"]
    # the intensity mean (a first-order feature, scaled and offset per site) by site
    mean = names.index("original_firstorder_Mean")
    after_values = np.asarray(mdata["radiomics"].X)
    groups_before = [before_values[site == g, mean] for g in np.unique(site)]
    groups_after = [after_values[site == g, mean] for g in np.unique(site)]
    assert stats.f_oneway(*groups_before).pvalue < 1e-6
    assert stats.f_oneway(*groups_after).pvalue > 0.5

    # planted biology survives: the marker features still follow their factors
    r_before = _marker_correlations(mdata, before_values, names)
    r_after = _marker_correlations(mdata, after_values, names)
    assert len(r_before) >= 6
    assert (r_after >= r_before - 0.05).all(), pd.concat([r_before, r_after], axis=1)
    assert r_after.mean() > r_before.mean()
    # ... and so do the planted subtypes and the stage covariate
    from sklearn.metrics import silhouette_score

    subtype = (
        mdata.uns["radiogenomics"]["truth"]["factors"]
        .loc[mdata["radiomics"].obs_names, "subtype"]
        .astype(str)
    )
    z = lambda v: (v - v.mean(0)) / v.std(0)  # noqa: E731
    assert silhouette_score(z(after_values), subtype) > silhouette_score(z(before_values), subtype)
    stage = s.loc["covariate_r2_mean[stage]"]
    assert abs(stage["after"] - stage["before"]) < 0.03

    stored = rg.get_result(mdata, "harmonization", "radiomics")
    assert list(stored["metric"]) == list(scores["metric"])
    fig = rg.pl.batch_before_after(mdata)
    assert len(fig.data) == 2 * len(np.unique(site))
    assert "silhouette" in fig.layout.annotations[0].text


def test_batch_separation_standalone(demo_cohort):
    table = rg.pp.batch_separation(demo_cohort, mod="radiomics", batch_key="site")
    assert set(table["metric"]) >= {"silhouette", "kbet_rejection_rate", "batch_r2_mean"}


def test_harmonize_errors(demo_cohort):
    with pytest.raises(CohortError, match="no column 'scanner'"):
        rg.pp.harmonize(demo_cohort, mod="radiomics", batch_key="scanner")
    with pytest.raises(CohortError, match="batch cannot also be a covariate"):
        rg.pp.harmonize(demo_cohort, mod="radiomics", batch_key="site", covariates=["site"])
    demo_cohort["radiomics"].X[0, 3] = np.nan
    with pytest.raises(CohortError, match="missing"):
        rg.pp.harmonize(demo_cohort, mod="radiomics", batch_key="site")


# --------------------------------------------------------------------------- ICC


def _pingouin_icc(ratings: np.ndarray) -> pd.DataFrame:
    import pingouin as pg

    n, k = ratings.shape
    long = pd.DataFrame(
        {
            "target": np.repeat(np.arange(n), k),
            "rater": np.tile(np.arange(k), n),
            "rating": ratings.ravel(),
        }
    )
    saved = dict(pg.options)
    pg.options["round.column.CI95"] = None  # pingouin rounds intervals to 2 decimals
    try:
        return pg.intraclass_corr(
            long, targets="target", raters="rater", ratings="rating", nan_policy="omit"
        ).set_index("Type")
    finally:
        pg.options.clear()
        pg.options.update(saved)


def test_icc_matches_pingouin():
    rng = np.random.default_rng(3)
    n, k, p = 25, 3, 12
    subject = rng.normal(0, rng.uniform(0.2, 3, p), (n, 1, p))
    rater = rng.normal(0, 0.5, (1, k, p))
    x = 10 + subject + rater + rng.normal(0, 1, (n, k, p))
    ours = intraclass_correlation(x)
    names = {
        "icc1": "ICC(1,1)",
        "icc2": "ICC(A,1)",
        "icc3": "ICC(C,1)",
        "icc1k": "ICC(1,k)",
        "icc2k": "ICC(A,k)",
        "icc3k": "ICC(C,k)",
    }
    for j in range(p):
        reference = _pingouin_icc(x[:, :, j])
        for key, label in names.items():
            assert ours[key][j] == pytest.approx(reference.loc[label, "ICC"], abs=1e-8)
            lower, upper = reference.loc[label, "CI95"]
            assert ours[f"{key}_ci_lower"][j] == pytest.approx(lower, abs=1e-8)
            assert ours[f"{key}_ci_upper"][j] == pytest.approx(upper, abs=1e-8)
        assert ours["f1"][j] == pytest.approx(reference.loc["ICC(1,1)", "F"], rel=1e-10)
        assert ours["f2"][j] == pytest.approx(reference.loc["ICC(C,1)", "F"], rel=1e-10)
        assert ours["p1"][j] == pytest.approx(reference.loc["ICC(1,1)", "pval"], abs=1e-10)
        assert ours["p2"][j] == pytest.approx(reference.loc["ICC(C,1)", "pval"], abs=1e-10)


def test_robust_features_from_replicates_matches_pingouin():
    rng = np.random.default_rng(4)
    n, k, p = 20, 3, 6
    truth = rng.normal(0, 1, (n, 1, p)) * np.array([3, 2, 1, 0.5, 0.2, 0.05])
    x = truth + rng.normal(0, 0.4, (n, k, p)) + np.array([0.0, 0.3, -0.2])[None, :, None]
    features = [f"f{j}" for j in range(p)]
    cohort = ad.AnnData(
        x[:, 0, :],
        obs=pd.DataFrame(index=[f"P{i}" for i in range(n)]),
        var=pd.DataFrame(index=features),
    )
    obs = pd.DataFrame(
        {
            "subject": np.repeat([f"P{i}" for i in range(n)], k),
            "replicate": np.tile(["scan1", "scan2", "scan3"], n),
        }
    )
    flat = x.reshape(n * k, p).copy()
    flat[4, 2] = np.nan  # one missing value: that subject is left out for feature f2
    replicates = ad.AnnData(
        flat, obs=obs.set_axis([f"r{i}" for i in range(n * k)]), var=pd.DataFrame(index=features)
    )
    mdata = md.MuData({"radiomics": cohort})
    table = rg.pp.robust_features(mdata, mod="radiomics", replicates=replicates, threshold=0.75)
    for j, feature in enumerate(features):
        ratings = flat[:, j].reshape(n, k)
        reference = _pingouin_icc(ratings)  # listwise deletion of the incomplete subject
        row = table.set_index("feature").loc[feature]
        assert row["icc_2_1"] == pytest.approx(reference.loc["ICC(A,1)", "ICC"], abs=1e-8)
        assert row["icc_3_1"] == pytest.approx(reference.loc["ICC(C,1)", "ICC"], abs=1e-8)
        assert row["n_subjects"] == (n - 1 if j == 2 else n)
    assert table["robust"].tolist() == list(table["icc_3_1"] >= 0.75)
    assert table["robust"].iloc[0] and not table["robust"].iloc[-1]
    assert mdata["radiomics"].var["robust"].tolist() == table["robust"].tolist()
    assert rg.get_result(mdata, "robustness", "radiomics") is table
    # subset keeps the robust features only
    rg.pp.robust_features(mdata, mod="radiomics", replicates=replicates, subset=True)
    assert list(mdata["radiomics"].var_names) == list(table.loc[table["robust"], "feature"])


def test_robust_features_errors():
    adata = ad.AnnData(np.zeros((3, 2)), var=pd.DataFrame(index=["a", "b"]))
    replicates = ad.AnnData(
        np.ones((6, 1)),
        obs=pd.DataFrame({"subject": list("xxyyzz"), "replicate": list("121212")}).set_axis(
            list("abcdef")
        ),
        var=pd.DataFrame(index=["a"]),
    )
    with pytest.raises(CohortError, match="not in the replicates"):
        rg.pp.robust_features(adata, mod="radiomics", replicates=replicates)
    with pytest.raises(CohortError, match="unknown ICC"):
        rg.pp.robust_features(adata, mod="radiomics", replicates=replicates, icc="icc_9")


def test_mask_perturbation_path(demo_cohort, tmp_path):
    import SimpleITK as sitk

    mdata = demo_cohort
    manifest = mdata.uns["radiogenomics"]["manifest"].head(10)
    table = rg.pp.perturb_masks(manifest, tmp_path / "masks")
    assert set(table["replicate"]) == {"original", "erode1", "dilate1"}
    for subject, rows in table.groupby("subject"):
        voxels = {
            r: int(sitk.GetArrayFromImage(sitk.ReadImage(m)).astype(bool).sum())
            for r, m in zip(rows["replicate"], rows["mask"])
        }
        assert voxels["erode1"] < voxels["original"] < voxels["dilate1"], subject

    result = rg.pp.robust_features(
        mdata, mod="radiomics", manifest=manifest, out=tmp_path / "p", n_jobs=1
    )
    assert (result["n_subjects"] == 10).all()
    assert (result["n_replicates"] == 3).all()
    # the ICC of the volume between original, eroded and dilated masks, by pingouin
    import json

    extracted = rg.pp.perturbation_features(
        manifest, json.loads(mdata["radiomics"].uns["radiogenomics"]["params"]), out=tmp_path / "q"
    )
    frame = pd.DataFrame(
        {
            "subject": extracted.obs["subject"],
            "replicate": extracted.obs["replicate"],
            "value": np.asarray(extracted[:, "original_shape_VoxelVolume"].X).ravel(),
        }
    )
    wide = frame.pivot(index="subject", columns="replicate", values="value").to_numpy()
    reference = _pingouin_icc(wide)
    row = result.set_index("feature").loc["original_shape_VoxelVolume"]
    assert row["icc_3_1"] == pytest.approx(reference.loc["ICC(C,1)", "ICC"], abs=1e-8)
    assert row["icc_2_1"] == pytest.approx(reference.loc["ICC(A,1)", "ICC"], abs=1e-8)
    assert "icc_3_1" in mdata["radiomics"].var


# --------------------------------------------------------------------------- QC


def _qc_data():
    rng = np.random.default_rng(5)
    n = 60
    good = rng.normal(size=n)
    missing = rng.normal(size=n)
    missing[:20] = np.nan
    constant = np.full(n, 3.0)
    few = rng.integers(0, 3, n).astype(float)
    near_zero = np.zeros(n)
    near_zero[:2] = [1.0, 2.0]
    near_zero[2:] = 0.5
    x = np.column_stack([good, missing, constant, few, near_zero, rng.normal(size=n)])
    names = ["good", "missing", "constant", "few", "near_zero", "good2"]
    adata = ad.AnnData(
        x, obs=pd.DataFrame(index=[f"P{i}" for i in range(n)]), var=pd.DataFrame(index=names)
    )
    return md.MuData({"radiomics": adata})


def test_filter_features_records_what_and_why():
    mdata = _qc_data()
    table = rg.pp.filter_features(mdata, mod="radiomics", min_distinct=5)
    reasons = table.set_index("feature")["reason"].to_dict()
    assert reasons == {
        "good": "",
        "missing": "missing",
        "constant": "constant",
        "few": "few_distinct",
        "near_zero": "few_distinct",
        "good2": "",
    }
    assert list(mdata["radiomics"].var_names) == ["good", "good2"]
    dropped = mdata["radiomics"].uns["radiogenomics"]["dropped_features"]
    assert set(dropped["feature"]) == {"missing", "constant", "few", "near_zero"}
    assert rg.get_result(mdata, "feature_qc", "radiomics") is table
    assert table.loc[table.feature == "missing", "fraction_missing"].item() == pytest.approx(1 / 3)


def test_filter_features_near_zero_variance_and_flag_only():
    mdata = _qc_data()
    table = rg.pp.filter_features(mdata, mod="radiomics", min_distinct=2, subset=False)
    assert table.set_index("feature").loc["near_zero", "reason"] == "near_zero_variance"
    assert table.set_index("feature").loc["few", "reason"] == ""
    assert mdata["radiomics"].n_vars == 6
    assert mdata["radiomics"].var["qc_dropped"].sum() == 3
    with pytest.raises(CohortError, match="fraction"):
        rg.pp.filter_features(mdata, mod="radiomics", max_missing=5)


# --------------------------------------------------------------------------- transforms


def test_yeo_johnson_matches_scikit_learn():
    from sklearn.preprocessing import PowerTransformer

    rng = np.random.default_rng(6)
    x = np.column_stack(
        [
            rng.lognormal(0, 1, 80),
            -rng.lognormal(1, 0.5, 80),
            rng.normal(5, 2, 80),
            rng.gamma(2, 3, 80),
        ]
    )
    adata = ad.AnnData(x.copy(), var=pd.DataFrame(index=list("abcd")))
    table = rg.pp.transform(adata, mod="radiomics")
    z = stats.zscore(x, ddof=1)  # the transform standardises first by default
    reference = PowerTransformer(method="yeo-johnson", standardize=False).fit(z)
    np.testing.assert_allclose(table["lambda"], reference.lambdas_, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(adata.X, reference.transform(z), rtol=1e-3, atol=1e-3)
    plain = ad.AnnData(x.copy(), var=pd.DataFrame(index=list("abcd")))
    table = rg.pp.transform(plain, mod="radiomics", standardize=False)
    reference = PowerTransformer(method="yeo-johnson", standardize=False).fit(x)
    np.testing.assert_allclose(table["lambda"], reference.lambdas_, rtol=1e-4, atol=1e-4)
    skewed = [0, 1, 3]  # lognormal, reflected lognormal, gamma
    assert (np.abs(table["skewness_before"].iloc[skewed]) > 1).all()
    assert (np.abs(table["skewness_after"].iloc[skewed]) < 0.2).all()
    np.testing.assert_array_equal(adata.layers["raw"], x)


def test_log_transform_and_min_skewness():
    rng = np.random.default_rng(7)
    x = np.column_stack([rng.lognormal(0, 1, 50), rng.normal(0, 1, 50)])
    adata = ad.AnnData(x.copy(), var=pd.DataFrame(index=["skewed", "symmetric"]))
    table = rg.pp.transform(adata, mod="radiomics", method="log", min_skewness=1.0)
    assert table["method"].tolist() == ["log", "none"]
    np.testing.assert_allclose(adata.X[:, 0], np.log(x[:, 0]))
    np.testing.assert_array_equal(adata.X[:, 1], x[:, 1])


def test_scale_matches_scipy_zscore():
    rng = np.random.default_rng(8)
    x = rng.normal(3, 2, (40, 5))
    adata = ad.AnnData(x.copy())
    rg.pp.scale(adata, mod="radiomics")
    np.testing.assert_allclose(adata.X, stats.zscore(x, ddof=1), atol=1e-12)
    robust = ad.AnnData(x.copy())
    rg.pp.scale(robust, mod="radiomics", method="robust")
    iqr = stats.iqr(x, axis=0, scale="normal")
    np.testing.assert_allclose(robust.X, (x - np.median(x, axis=0)) / iqr, atol=1e-12)


def test_apply_preprocessing_to_new_patients(demo_cohort, tmp_path):
    mdata = demo_cohort
    raw = mdata["radiomics"].copy()
    patients = list(mdata.obs_names)
    held_out = patients[:4]
    cohort = mdata[patients[4:]].copy()
    rg.pp.filter_features(cohort, mod="radiomics")
    rg.pp.transform(cohort, mod="radiomics")
    rg.pp.harmonize(cohort, mod="radiomics", batch_key="site", covariates=["stage", "age"])
    rg.pp.scale(cohort, mod="radiomics")
    rg.pp.remove_redundant(cohort, mod="radiomics", threshold=0.9)
    rg.write_cohort(cohort, tmp_path / "curated.h5mu")
    reread = rg.read_cohort(tmp_path / "curated.h5mu")

    # the cohort's own patients are placed where the cohort put them
    own = raw[cohort.obs_names].copy()
    again = rg.pp.apply_preprocessing(reread, own, obs=cohort.obs)
    np.testing.assert_allclose(again.X, cohort["radiomics"].X, atol=1e-9)
    assert list(again.var_names) == list(cohort["radiomics"].var_names)

    # new patients: same features, the same steps
    new = raw[held_out].copy()
    placed = rg.pp.apply_preprocessing(reread, new, obs=mdata.obs.loc[held_out])
    assert placed.shape == (4, cohort["radiomics"].n_vars)
    assert np.isfinite(placed.X).all()
    np.testing.assert_array_equal(placed.layers["raw"], raw[held_out][:, placed.var_names].X)
    # from a DataFrame, with a site the harmonisation never saw: refused
    frame = pd.DataFrame(np.asarray(new.X), index=new.obs_names, columns=new.var_names)
    obs = mdata.obs.loc[held_out].copy()
    obs["site"] = obs["site"].astype(str)
    obs.iloc[0, obs.columns.get_loc("site")] = "site_Z"
    with pytest.raises(InputError, match="not part of the harmonisation"):
        rg.pp.apply_preprocessing(reread, frame, obs=obs)
    with pytest.raises(InputError, match="lack"):
        rg.pp.apply_preprocessing(reread, frame.iloc[:, :5], obs=mdata.obs.loc[held_out])


# --------------------------------------------------------------------------- redundancy


def test_remove_redundant_clusters_and_representatives():
    rng = np.random.default_rng(9)
    n = 100
    a, b, c = rng.normal(size=(3, n))
    x = np.column_stack(
        [
            a,
            a + 0.05 * rng.normal(size=n),
            -a + 0.1 * rng.normal(size=n),  # cluster of 3
            b,
            np.exp(b) + 0.01 * rng.normal(size=n),  # monotone: Spearman-redundant
            c,
        ]
    )
    names = ["a1", "a2", "a3", "b1", "b2", "c1"]
    adata = ad.AnnData(x, var=pd.DataFrame(index=names))
    adata.var["icc_3_1"] = [0.5, 0.9, 0.7, 0.8, 0.95, 0.6]
    mdata = md.MuData({"radiomics": adata})
    table = rg.pp.remove_redundant(mdata, mod="radiomics", threshold=0.9)
    clusters = table.set_index("feature")["cluster"]
    assert clusters["a1"] == clusters["a2"] == clusters["a3"]
    assert clusters["b1"] == clusters["b2"] != clusters["a1"]
    assert clusters.nunique() == 3
    # the medoid: highest mean |Spearman r| with the rest of its cluster (pandas)
    spearman = pd.DataFrame(x, columns=names).corr("spearman").abs()
    members = ["a1", "a2", "a3"]
    medoid = spearman.loc[members, members].sum().idxmax()
    assert table.set_index("feature").loc["a1", "representative"] == medoid
    assert list(mdata["radiomics"].var_names) == list(table.loc[table["kept"], "feature"])
    assert len(mdata["radiomics"].var_names) == 3
    # complete linkage: every pair inside a cluster is above the threshold
    for _, rows in table.groupby("cluster"):
        block = spearman.loc[rows["feature"], rows["feature"]].to_numpy()
        assert block.min() >= 0.9

    robust = md.MuData({"radiomics": adata.copy()})
    table = rg.pp.remove_redundant(robust, mod="radiomics", threshold=0.9, keep="robust")
    assert set(table.loc[table["kept"], "feature"]) == {"a2", "b2", "c1"}


def test_correlation_clustermap_figure(demo_cohort):
    fig = rg.pl.correlation_clustermap(demo_cohort, mod="radiomics")
    heatmap = [t for t in fig.data if t.type == "heatmap"][0]
    n = demo_cohort["radiomics"].n_vars
    assert np.asarray(heatmap.z).shape == (n, n)
    assert np.allclose(np.diag(np.asarray(heatmap.z)), 1.0)
    assert len(fig.data) > 1  # the dendrogram
