"""Cohort-level survival tools: agreement with lifelines per feature, the planted truth of
the demo cohort, bad input, figures, the CLI and the written tables."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import anndata as ad
import numpy as np
import pandas as pd
import plotly.graph_objects as go
import pytest
from lifelines import CoxPHFitter, KaplanMeierFitter
from lifelines.statistics import multivariate_logrank_test
from lifelines.utils import concordance_index as lifelines_concordance

import radiogenomics as rg
from radiogenomics.errors import CohortError, InputError

TOL = 1e-6


def make_cohort(seed: int = 0, n: int = 90, p: int = 25, join: str = "inner", drop: int = 0):
    """A small random cohort: a feature modality, a second modality missing ``drop``
    patients, and clinical columns (times with ties, a categorical stage)."""
    rng = np.random.default_rng(seed)
    patients = [f"P{i:03d}" for i in range(n)]
    x = rng.normal(size=(n, p)) * rng.uniform(0.5, 200, p)
    risk = 0.8 * x[:, 0] / x[:, 0].std()
    time = np.round(rng.exponential(20 * np.exp(-risk)), 1) + 0.1
    event = (rng.random(n) < 0.75).astype(int)
    clinical = pd.DataFrame(
        {
            "os": time,
            "dead": event,
            "age": rng.normal(60, 9, n).round(),
            "stage": pd.Categorical(
                rng.choice(["I", "II", "III"], n), categories=["I", "II", "III"], ordered=True
            ),
            "site": rng.choice(["a", "b"], n),
        },
        index=pd.Index(patients, name="patient_id"),
    )
    feats = ad.AnnData(
        x, obs=pd.DataFrame(index=patients), var=pd.DataFrame(index=[f"f{j:02d}" for j in range(p)])
    )
    keep = patients[drop:]
    other = ad.AnnData(
        rng.normal(size=(len(keep), 5)),
        obs=pd.DataFrame(index=keep),
        var=pd.DataFrame(index=[f"g{j}" for j in range(5)]),
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return rg.build_cohort({"radiomics": feats, "rna": other}, clinical=clinical, join=join)


def lifelines_fit(df: pd.DataFrame) -> CoxPHFitter:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return CoxPHFitter().fit(df, "T", "E", fit_options={"precision": 1e-12})


# ------------------------------------------------------------------------ screen


def test_cox_screen_matches_one_lifelines_fit_per_feature_with_covariates():
    mdata = make_cohort()
    table = rg.tl.cox_screen(
        mdata, mod="radiomics", time="os", event="dead", covariates=["age", "stage"]
    )
    assert list(table.columns[:13]) == rg.tl.survival.SCREEN_COLUMNS
    obs = mdata.obs
    stage = pd.get_dummies(obs["stage"], prefix="stage", drop_first=True).astype(float)
    for _, row in table.iterrows():
        df = pd.DataFrame(
            {
                "T": obs["os"],
                "E": obs["dead"],
                "x": mdata["radiomics"][:, row["feature"]].X.ravel(),
                "age": obs["age"],
            }
        ).join(stage)
        ref = lifelines_fit(df)
        assert row["coef"] == pytest.approx(ref.params_["x"], abs=TOL)
        assert row["std_error"] == pytest.approx(ref.standard_errors_["x"], abs=TOL)
        assert row["p_value"] == pytest.approx(ref.summary.loc["x", "p"], abs=TOL)
        assert row["hr_ci_lower"] == pytest.approx(
            ref.summary.loc["x", "exp(coef) lower 95%"], rel=TOL
        )
        assert row["concordance"] == pytest.approx(ref.concordance_index_, abs=1e-12)
    # BH q-values, as statsmodels computes them
    from statsmodels.stats.multitest import multipletests

    expected = multipletests(table["p_value"], method="fdr_bh")[1]
    np.testing.assert_allclose(table["q_value"], expected, atol=1e-12)


def test_cox_screen_univariate_concordance_and_outer_join_alignment():
    mdata = make_cohort(seed=1, join="outer", drop=12)
    table = rg.tl.cox_screen(mdata, mod="rna", time="os", event="dead")
    assert (table["n"] == mdata.n_obs - 12).all()
    rna = mdata["rna"]
    obs = mdata.obs.loc[rna.obs_names]
    for _, row in table.iterrows():
        x = rna[:, row["feature"]].X.ravel()
        ref = lifelines_fit(pd.DataFrame({"T": obs["os"], "E": obs["dead"], "x": x}))
        assert row["coef"] == pytest.approx(ref.params_["x"], abs=TOL)
        assert row["std_error"] == pytest.approx(ref.standard_errors_["x"], abs=TOL)
        assert row["concordance"] == pytest.approx(
            lifelines_concordance(obs["os"], -row["coef"] * x, obs["dead"]), abs=1e-12
        )
    stored = rg.get_result(mdata, "survival_screen", "rna")
    pd.testing.assert_frame_equal(stored, table)


def test_cox_screen_flags_constant_and_separated_features():
    mdata = make_cohort(seed=2)
    obs = mdata.obs
    x = mdata["radiomics"].X.copy()
    x[:, 1] = 7.0
    first_deaths = obs.index[(obs["dead"] == 1).to_numpy()][
        np.argsort(obs["os"][obs["dead"] == 1].to_numpy())[:6]
    ]
    x[:, 2] = obs.index.isin(first_deaths).astype(float)
    mdata["radiomics"].X = x
    with pytest.warns(UserWarning, match="no estimate"):
        table = rg.tl.cox_screen(mdata, mod="radiomics", time="os", event="dead").set_index(
            "feature"
        )
    assert table.loc["f01", "status"] == "constant"
    assert table.loc["f02", "status"] == "separation"
    assert "infinite" in table.loc["f02", "note"]
    for feature in ("f01", "f02"):
        assert np.isnan(
            table.loc[feature, ["coef", "hazard_ratio", "p_value", "q_value"]].astype(float)
        ).all()
    assert np.isfinite(table.drop(["f01", "f02"])["hazard_ratio"]).all()


# ------------------------------------------------------------------------ KM, log-rank, Cox


def test_kaplan_meier_and_logrank_tools_match_lifelines():
    mdata = make_cohort(seed=3)
    curves = rg.tl.kaplan_meier(mdata, time="os", event="dead", groupby="stage")
    obs = mdata.obs
    for stage, part in curves.groupby("group", observed=True):
        sub = obs[obs["stage"] == stage]
        ref = KaplanMeierFitter().fit(sub["os"], sub["dead"])
        np.testing.assert_allclose(
            part["survival"], ref.survival_function_.to_numpy().ravel(), atol=TOL
        )
    summary = rg.get_result(mdata, "kaplan_meier_summary")
    assert list(summary["group"]) == ["I", "II", "III"]
    table = rg.tl.logrank(mdata, time="os", event="dead", groupby="stage")
    ref = multivariate_logrank_test(obs["os"], obs["stage"].astype(str), obs["dead"])
    assert table["statistic"].iloc[0] == pytest.approx(ref.test_statistic, abs=TOL)
    trend = rg.tl.logrank(mdata, time="os", event="dead", groupby="stage", trend=True)
    assert list(trend["score"]) == [1.0, 2.0, 3.0] and (trend["df"] == 1).all()
    with pytest.raises(InputError, match="ordered"):
        rg.tl.logrank(mdata, time="os", event="dead", groupby="site", trend=True)


def test_cox_tool_matches_lifelines_and_reports_tests():
    mdata = make_cohort(seed=4)
    table = rg.tl.cox(mdata, ["age", "stage", "radiomics:f00"], time="os", event="dead")
    assert list(table["term"]) == ["age", "stage[T.II]", "stage[T.III]", "radiomics:f00"]
    obs = mdata.obs
    df = pd.DataFrame(
        {
            "T": obs["os"],
            "E": obs["dead"],
            "age": obs["age"],
            "s2": (obs["stage"] == "II").astype(float),
            "s3": (obs["stage"] == "III").astype(float),
            "f": mdata["radiomics"][:, "f00"].X.ravel(),
        }
    )
    ref = lifelines_fit(df)
    np.testing.assert_allclose(table["coef"], ref.params_.to_numpy(), atol=TOL)
    np.testing.assert_allclose(table["std_error"], ref.standard_errors_.to_numpy(), atol=TOL)
    np.testing.assert_allclose(table["p_value"], ref.summary["p"].to_numpy(), atol=TOL)
    model = rg.get_result(mdata, "cox_model").iloc[0]
    lr = ref.log_likelihood_ratio_test()
    assert model["lr_statistic"] == pytest.approx(lr.test_statistic, abs=1e-5)
    assert model["concordance"] == pytest.approx(ref.concordance_index_, abs=1e-12)
    assert model["n"] == len(df) and model["n_events"] == int(df["E"].sum())


def test_cox_warns_in_plain_language_when_hazards_are_not_proportional():
    mdata = make_cohort(seed=5, n=300)
    obs = mdata.obs
    rng = np.random.default_rng(0)
    late = (obs["site"] == "b").to_numpy()
    # site a: constant hazard; site b: a hazard rising with time (Weibull shape 3), so the
    # hazard ratio of b against a grows over follow-up
    obs["os"] = np.where(late, 20 * rng.weibull(3.0, len(obs)), rng.exponential(20, len(obs)))
    with pytest.warns(rg.tl.survival.ProportionalHazardsWarning, match="change over follow-up"):
        table = rg.tl.cox(mdata, ["site"], time="os", event="dead", ph_transform="rank")
    assert table["ph_p_value"].iloc[0] < 0.05
    assert "stratifying" in table["ph_note"].iloc[0]


def test_cox_refuses_a_level_without_events():
    mdata = make_cohort(seed=6)
    obs = mdata.obs
    obs.loc[obs["stage"] == "III", "dead"] = 0
    with pytest.raises(CohortError, match="no events among the patients with 'stage\\[T.III\\]'"):
        rg.tl.cox(mdata, ["stage"], time="os", event="dead")


# ------------------------------------------------------------------------ bad input


def test_bad_outcomes_name_the_column_and_patient():
    mdata = make_cohort(seed=7)
    obs = mdata.obs
    obs.loc["P003", "os"] = -2.0
    with pytest.raises(CohortError) as info:
        rg.tl.cox_screen(mdata, mod="radiomics", time="os", event="dead")
    assert "negative survival time" in str(info.value) and "'P003'" in str(info.value)
    assert "column 'os'" in str(info.value)
    obs.loc["P003", "os"] = np.nan
    with pytest.raises(CohortError, match="have no time.*P003"):
        rg.tl.kaplan_meier(mdata, time="os", event="dead")
    with pytest.warns(UserWarning, match="left out"):
        table = rg.tl.cox_screen(mdata, mod="radiomics", time="os", event="dead", missing="drop")
    assert (table["n"] == mdata.n_obs - 1).all()
    obs.loc["P003", "os"] = 5.0
    obs["status"] = np.where(obs["dead"] == 1, "Dead", "Alive")
    with pytest.raises(CohortError, match="outside the stated coding"):
        rg.tl.kaplan_meier(mdata, time="os", event="status")
    curves = rg.tl.kaplan_meier(mdata, time="os", event="status", event_map={"Dead": 1, "Alive": 0})
    assert curves["n_events"].sum() == obs["dead"].sum()
    obs.loc["P010", "status"] = "Lost"
    with pytest.raises(CohortError) as info:
        rg.tl.kaplan_meier(mdata, time="os", event="status", event_map={"Dead": 1, "Alive": 0})
    assert "'P010'" in str(info.value) and "'Lost'" in str(info.value)
    with pytest.raises(CohortError, match="not a clinical column"):
        rg.tl.logrank(mdata, time="months", event="dead", groupby="stage")


def test_group_without_events_is_reported():
    mdata = make_cohort(seed=8)
    obs = mdata.obs
    obs.loc[obs["site"] == "a", "dead"] = 0
    with pytest.warns(UserWarning, match="no events"):
        rg.tl.logrank(mdata, time="os", event="dead", groupby="site")


# ------------------------------------------------------------------------ markers


def test_marker_groups_and_maxstat_tool():
    mdata = make_cohort(seed=9, n=150)
    groups = rg.tl.marker_groups(mdata, "f00", "median")
    assert list(groups.cat.categories) == ["low", "high"]
    values = mdata["radiomics"][:, "f00"].X.ravel()
    assert ((groups == "low").to_numpy() == (values <= np.median(values))).all()
    quartiles = rg.tl.marker_groups(mdata, "radiomics:f00", "quartiles", key_added="q")
    assert quartiles.value_counts().min() >= 37
    table = rg.tl.maxstat(mdata, "f00", time="os", event="dead")
    assert table["p_value"].iloc[0] < 0.01  # f00 drives the simulated hazard
    split = rg.tl.marker_groups(mdata, "f00", "maxstat", time="os", event="dead", key_added="m")
    cut = table["cutpoint"].iloc[0]
    assert ((split == "high").to_numpy() == (values > cut)).all()
    with pytest.raises(InputError, match="needs time"):
        rg.tl.marker_groups(mdata, "f00", "maxstat")
    with pytest.raises(CohortError, match="constant"):
        mdata.obs["flat"] = 1.0
        rg.tl.marker_groups(mdata, "flat")


# ------------------------------------------------------------------------ demo truth


def test_planted_prognostic_features_are_found_on_the_demo(demo_cohort):
    truth = demo_cohort.uns["radiogenomics"]["truth"]
    table = rg.tl.cox_screen(demo_cohort, mod="radiomics", time="os_months", event="os_event")
    table = table.set_index("feature")
    markers = truth["marker_features"].set_index("feature")
    size = markers.index[markers["factor"] == "proliferation"]
    immune = markers.index[markers["factor"] == "immune"]
    assert (table.loc[size, "q_value"] < 0.01).all()
    assert (table.loc[size, "hazard_ratio"] > 1).all()  # proliferation: log HR +0.6
    assert (table.loc[immune, "q_value"] < 0.05).all()
    assert (table.loc[immune, "hazard_ratio"] < 1).all()  # immune: log HR -0.4
    genes = rg.tl.cox_screen(
        demo_cohort, mod="rna", time="os_months", event="os_event", covariates=["age", "stage"]
    )
    modules = truth["gene_modules"]
    planted = sum(
        modules[f"{factor}_loading"] * truth["log_hazard"][factor]
        for factor in ("proliferation", "hypoxia", "immune")
    )
    genes = genes.join(modules["module"], on="feature").join(
        planted.rename("planted"), on="feature"
    )
    top = genes.head(100)
    assert top["module"].isin(["proliferation", "immune", "hypoxia"]).mean() > 0.8
    found = genes[(genes["q_value"] < 0.05) & (genes["module"] != "none")]
    assert len(found) > 50
    # the direction of each prognostic gene is the planted one (loading x log hazard)
    assert ((found["hazard_ratio"] > 1) == (found["planted"] > 0)).mean() > 0.95


def test_risk_signature_is_validated_on_held_out_patients(demo_cohort):
    from sksurv.metrics import concordance_index_censored

    signature = rg.tl.risk_signature(
        demo_cohort,
        mod="rna",
        time="os_months",
        event="os_event",
        n_preselect=300,
        key_added="sig",
        random_state=1,
    )
    assert len(signature) > 0 and (signature["modality"] == "rna").all()
    obs = demo_cohort.obs
    assert {"sig_score", "sig_group", "sig_set"} <= set(obs.columns)
    held = obs[obs["sig_set"] == "held_out"]
    evaluation = rg.get_result(demo_cohort, "risk_signature_evaluation", "sig")
    c = evaluation.query("set == 'held_out' and metric == 'concordance'")["value"].iloc[0]
    ref = concordance_index_censored(
        held["os_event"].astype(bool), held["os_months"], held["sig_score"]
    )[0]
    assert c == pytest.approx(ref, abs=1e-12)
    assert c > 0.6  # the planted immune and proliferation modules generalise
    auc = evaluation.query("metric == 'time_dependent_auc'")
    assert len(auc) >= 1 and auc["value"].between(0, 1).all()
    train = obs[obs["sig_set"] == "training"]
    threshold = np.median(train["sig_score"])
    assert ((obs["sig_group"] == "high") == (obs["sig_score"] > threshold)).all()


# ------------------------------------------------------------------------ figures


def test_figures():
    mdata = make_cohort(seed=10)
    rg.tl.kaplan_meier(mdata, time="os", event="dead", groupby="stage", key_added="stage")
    rg.tl.logrank(mdata, time="os", event="dead", groupby="stage", key_added="stage")
    stored = {k: sorted(v) for k, v in mdata.uns["radiogenomics"].items()}
    obs_before = mdata.obs.copy()
    fig = rg.pl.km(mdata, key="stage", at_risk_times=[0, 10, 20, 40])
    assert isinstance(fig, go.Figure)
    # the figure reads the stored results and writes nothing into the cohort
    assert {k: sorted(v) for k, v in mdata.uns["radiogenomics"].items()} == stored
    pd.testing.assert_frame_equal(mdata.obs, obs_before)
    obs = mdata.obs
    texts = [t for t in fig.data if t.mode == "text"]
    assert len(texts) == 3
    for trace in texts:
        sub = obs[obs["stage"] == trace.y[0]]
        expected = [int((sub["os"] >= t).sum()) for t in (0, 10, 20, 40)]
        assert [int(v) for v in trace.text] == expected
    assert any("log-rank p" in a.text for a in fig.layout.annotations)
    cox = rg.tl.cox(mdata, ["age", "stage"], time="os", event="dead")
    assert isinstance(rg.pl.forest(cox), go.Figure)
    screen = rg.tl.cox_screen(mdata, mod="radiomics", time="os", event="dead")
    volcano = rg.pl.survival_volcano(screen)
    assert sum(len(t.x) for t in volcano.data) == len(screen)


def test_km_with_time_and_event_is_deprecated_and_stores_nothing():
    mdata = make_cohort(seed=10)
    before = dict(mdata.uns.get("radiogenomics", {}))
    with pytest.warns(FutureWarning, match="run rg.tl.kaplan_meier"):
        fig = rg.pl.km(mdata, "os", "dead", "stage")
    assert dict(mdata.uns.get("radiogenomics", {})).keys() == before.keys()
    rg.tl.kaplan_meier(mdata, time="os", event="dead", groupby="stage", key_added="k")
    rg.tl.logrank(mdata, time="os", event="dead", groupby="stage", key_added="k")
    again = rg.pl.km(mdata, key="k")
    # the deprecated call draws the same curves and test as the stored results
    assert fig.to_json() == again.to_json()
    assert any("log-rank p" in a.text for a in fig.layout.annotations)


# ------------------------------------------------------------------------ CLI and files


def test_cli_writes_the_screen_with_provenance(tmp_path):
    from radiogenomics.cli import main

    mdata = make_cohort(seed=11)
    cohort = rg.write_cohort(mdata, tmp_path / "cohort.h5mu")
    out = tmp_path / "results" / "screen.parquet"
    code = main(
        [
            "survival",
            str(cohort),
            "--time",
            "os",
            "--event",
            "dead",
            "--mod",
            "radiomics",
            "--covariates",
            "age,stage",
            "--out",
            str(out),
        ]
    )
    assert code == 0
    table = pd.read_parquet(out)
    expected = rg.tl.cox_screen(
        mdata, mod="radiomics", time="os", event="dead", covariates=["age", "stage"]
    )
    # the file adds each feature's unit and IBSI tag (from the cohort) to the screen's columns
    pd.testing.assert_frame_equal(table[list(expected.columns)], expected)
    assert set(table.columns) - set(expected.columns) == {"unit", "ibsi_tag"}
    meta = json.loads(Path(f"{out}.meta.json").read_text())
    assert meta["schema"] == "survival_screen" and meta["rows"] == len(table)
    assert meta["parameters"]["covariates"] == ["age", "stage"]
    assert len(meta["parameters"]["cohort_sha256"]) == 64
    assert sorted(p.name for p in out.parent.iterdir()) == [
        "screen.parquet",
        "screen.parquet.meta.json",
    ]
    code = main(
        [
            "survival",
            str(cohort),
            "--time",
            "nope",
            "--event",
            "dead",
            "--out",
            str(tmp_path / "x.csv"),
        ]
    )
    assert code == 2 and not (tmp_path / "x.csv").exists()


@pytest.mark.parametrize("suffix", [".csv", ".tsv", ".xlsx", ".parquet"])
def test_table_writer_round_trips(tmp_path, suffix):
    from radiogenomics.export import write_table

    table = pd.DataFrame(
        {"feature": ["a", "b"], "p_value": [0.01, 0.5], "group": pd.Categorical(["low", "high"])}
    )
    path = write_table(table, tmp_path / f"t{suffix}", schema=False, params={"k": 1})
    if suffix == ".parquet":
        back = pd.read_parquet(path)
    elif suffix == ".xlsx":
        back = pd.read_excel(path)
    else:
        back = pd.read_csv(path, sep="\t" if suffix == ".tsv" else ",")
    assert back["feature"].tolist() == ["a", "b"]
    np.testing.assert_allclose(back["p_value"], [0.01, 0.5])
    assert json.loads(Path(f"{path}.meta.json").read_text())["parameters"]["k"] == 1
    with pytest.raises(InputError, match="unknown table format"):
        write_table(table, tmp_path / "t.json")
