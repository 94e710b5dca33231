"""Radiomic phenotypes on the demo cohort (planted subtypes recovered), differential tests
between them (against scipy; planted gene modules found) and gene-set
over-representation (against Fisher's exact test)."""

from __future__ import annotations

import warnings

import mudata as md
import numpy as np
import pandas as pd
import plotly.graph_objects as go
import pytest
from scipy import stats
from sklearn.metrics import adjusted_rand_score

import radiogenomics as rg
from radiogenomics.datasets.simulate import FACTORS, SUBTYPES
from radiogenomics.errors import CohortError, InputError
from radiogenomics.stats.groups import (
    hypergeometric_overrepresentation,
    mann_whitney_one_vs_rest,
    welch_one_vs_rest,
)
from radiogenomics.tl.differential import DIFFERENTIAL_COLUMNS

warnings.filterwarnings("ignore", category=FutureWarning)


@pytest.fixture(scope="module")
def phenotyped(demo_build):
    """The demo cohort curated as in the demo job, with radiomic subtypes."""
    mdata = demo_build[2].copy()
    rg.pp.filter_features(mdata, mod="radiomics")
    rg.pp.transform(mdata, mod="radiomics")
    rg.pp.harmonize(mdata, mod="radiomics", batch_key="site", covariates=["stage"])
    rg.pp.scale(mdata, mod="radiomics")
    rg.pp.remove_redundant(mdata, mod="radiomics", threshold=0.9)
    table = rg.tl.phenotypes(mdata, mod="radiomics", n_resamples=20)
    return mdata, table


def _truth_subtype(mdata) -> pd.Series:
    factors = mdata.uns["radiogenomics"]["truth"]["factors"]
    return factors.loc[mdata.obs_names, "subtype"].astype(str)


def test_planted_subtypes_recovered(phenotyped, record_property):
    mdata, table = phenotyped
    truth = _truth_subtype(mdata)
    found = mdata.obs["radiomic_subtype"]
    ari = adjusted_rand_score(truth, found.astype(str))
    record_property("adjusted_rand_index", ari)
    print(f"\nplanted subtypes vs radiomic subtypes: adjusted Rand index {ari:.3f}")
    print(pd.crosstab(truth, found).to_string())
    assert ari > 0.7
    assert len(table) == 3
    # a null: shuffled labels do not agree
    shuffled = np.random.default_rng(0).permutation(truth.to_numpy())
    assert abs(adjusted_rand_score(shuffled, found.astype(str))) < 0.1


def test_phenotypes_stored_for_plots_and_reload(phenotyped, tmp_path):
    mdata, table = phenotyped
    radiomics = mdata["radiomics"]
    assert isinstance(mdata.obs["radiomic_subtype"].dtype, pd.CategoricalDtype)
    assert radiomics.obsm["X_umap"].shape == (radiomics.n_obs, 2)
    assert radiomics.obsm["X_pca"].shape[0] == radiomics.n_obs
    consensus = radiomics.obsp["radiomic_subtype_consensus"]
    assert consensus.shape == (radiomics.n_obs, radiomics.n_obs)
    assert np.allclose(consensus, consensus.T)
    # stability: mean within-subtype consensus, per patient and per subtype
    stability = mdata.obs["radiomic_subtype_stability"]
    assert stability.between(0, 1).all()
    assert (table["stability"] > 0.6).all()
    assert table["n_patients"].sum() == radiomics.n_obs
    params = mdata.uns["radiogenomics"]["params"]["phenotypes"]["radiomic_subtype"]
    assert params["stability_ari_mean"] > 0.6
    rg.write_cohort(mdata, tmp_path / "pheno.h5mu")
    again = rg.read_cohort(tmp_path / "pheno.h5mu")
    assert (
        again.obs["radiomic_subtype"].astype(str).equals(mdata.obs["radiomic_subtype"].astype(str))
    )
    pd.testing.assert_frame_equal(
        rg.get_result(again, "phenotypes", "radiomic_subtype"), table, check_dtype=False
    )


def test_phenotypes_resolution_grid_and_outer_join(demo_build):
    mdata = demo_build[2].copy()
    rg.pp.filter_features(mdata, mod="radiomics")
    rg.pp.scale(mdata, mod="radiomics")
    # a patient without radiomics (outer join): no subtype, aligned by ID
    absent = mdata.obs_names[0]
    mdata.mod["radiomics"] = mdata["radiomics"][mdata["radiomics"].obs_names != absent].copy()
    mdata.update()
    rg.tl.phenotypes(
        mdata, mod="radiomics", resolution=[0.3, 1.5], n_resamples=5, umap=False, key_added="grid"
    )
    params = mdata.uns["radiogenomics"]["params"]["phenotypes"]["grid"]
    assert params["grid"]["resolution"] == [0.3, 1.5]
    assert params["resolution"] in (0.3, 1.5)
    assert pd.isna(mdata.obs.loc[absent, "grid"])
    assert mdata.obs["grid"].notna().sum() == mdata["radiomics"].n_obs
    assert "X_umap" not in mdata["radiomics"].obsm


def test_embedding_figures(phenotyped):
    mdata, _ = phenotyped
    by_subtype = rg.pl.embedding(mdata, "radiomic_subtype")
    assert isinstance(by_subtype, go.Figure)
    assert [t.name for t in by_subtype.data] == ["1", "2", "3"]
    by_gene = rg.pl.embedding(mdata, "rna:MKI67", basis="pca")
    assert by_gene.data[0].marker.colorscale is not None
    feature = mdata["radiomics"].var_names[0]
    by_feature = rg.pl.embedding(mdata, feature)
    np.testing.assert_allclose(
        by_feature.data[0].marker.color, np.asarray(mdata["radiomics"][:, feature].X).ravel()
    )
    with pytest.raises(CohortError, match="colour by"):
        rg.pl.embedding(mdata, "no_such_thing")


# --------------------------------------------------------------------------- differential


def test_group_tests_match_scipy():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(60, 25))
    x[:, 5] = np.round(x[:, 5])  # ties
    x[rng.random(x.shape) < 0.1] = np.nan
    codes = rng.integers(0, 3, 60)
    codes[:3] = -1  # not in any group
    welch = welch_one_vs_rest(x, codes)
    ranks = mann_whitney_one_vs_rest(x, codes, method="asymptotic")
    versus = mann_whitney_one_vs_rest(x, codes, reference=2, method="asymptotic")
    for g in range(3):
        for j in range(x.shape[1]):
            a = x[codes == g, j]
            b = x[(codes >= 0) & (codes != g), j]
            a, b = a[~np.isnan(a)], b[~np.isnan(b)]
            t = stats.ttest_ind(a, b, equal_var=False)
            assert welch["statistic"][g, j] == pytest.approx(t.statistic, rel=1e-10)
            assert welch["p_value"][g, j] == pytest.approx(t.pvalue, rel=1e-9)
            u = stats.mannwhitneyu(a, b, method="asymptotic")
            assert ranks["statistic"][g, j] == pytest.approx(u.statistic, rel=1e-12)
            assert ranks["p_value"][g, j] == pytest.approx(u.pvalue, rel=1e-9)
            if g < 2:
                c = x[codes == 2, j]
                u = stats.mannwhitneyu(a, c[~np.isnan(c)], method="asymptotic")
                assert versus["p_value"][g, j] == pytest.approx(u.pvalue, rel=1e-9)
    assert np.isnan(versus["p_value"][2]).all()


def test_hypergeometric_matches_fisher():
    for overlap, set_size, hits, universe in [
        (5, 30, 50, 1000),
        (0, 10, 20, 300),
        (12, 15, 40, 200),
    ]:
        table = [
            [overlap, hits - overlap],
            [set_size - overlap, universe - hits - set_size + overlap],
        ]
        expected = stats.fisher_exact(table, alternative="greater").pvalue
        ours = hypergeometric_overrepresentation(overlap, set_size, hits, universe)
        assert ours == pytest.approx(expected, rel=1e-10)


def _matched(mdata) -> dict[str, str]:
    """Radiomic subtype -> the planted subtype most of its patients have."""
    table = pd.crosstab(mdata.obs["radiomic_subtype"], _truth_subtype(mdata))
    return {str(k): str(v) for k, v in table.idxmax(axis=1).items()}


PLANTED_MODULE = {"proliferative": "proliferation", "hypoxic": "hypoxia", "inflamed": "immune"}


def test_differential_genes_are_the_planted_modules(phenotyped):
    mdata, _ = phenotyped
    gmt = mdata.uns["radiogenomics"]["files"]["genesets"]
    table = rg.tl.differential(mdata, "radiomic_subtype", mod="rna", genesets=gmt)
    assert list(table.columns) == DIFFERENTIAL_COLUMNS
    genes = mdata.uns["radiogenomics"]["truth"]["gene_modules"]
    modules = genes["module"]
    loadings = genes[[f"{f}_loading" for f in FACTORS]].to_numpy()
    matched = _matched(mdata)
    assert sorted(matched.values()) == sorted(PLANTED_MODULE)
    for group, planted in matched.items():
        # the planted direction of each gene in this subtype: loadings times the shift
        # of the subtype's factor means from the other subtypes'
        others = np.mean([SUBTYPES[s] for s in SUBTYPES if s != planted], axis=0)
        shift = pd.Series(loadings @ (np.asarray(SUBTYPES[planted]) - others), index=genes.index)
        rows = table[(table["group"] == group) & (table["q_value"] < 0.05)]
        for direction, sign in (("up", 1), ("down", -1)):
            top = rows[sign * rows["difference"] > 0].head(50)["feature"]
            agree = (sign * shift.reindex(top) > 0).mean()
            assert agree > 0.95, (group, planted, direction, agree)
        top = rows[rows["difference"] > 0].head(50)["feature"]
        assert modules.reindex(top).value_counts().idxmax() == PLANTED_MODULE[planted]

    # against scipy for a few genes
    rna = mdata["rna"]
    groups = mdata.obs["radiomic_subtype"].reindex(rna.obs_names).astype(str)
    for gene in ["MKI67", "CA9", "CD8A", "G00001"]:
        values = np.asarray(rna[:, gene].X).ravel()
        row = table[(table["group"] == "1") & (table["feature"] == gene)].iloc[0]
        t = stats.ttest_ind(values[groups == "1"], values[groups != "1"], equal_var=False)
        assert row["p_value"] == pytest.approx(t.pvalue, rel=1e-9)
        assert row["difference"] == pytest.approx(
            values[groups == "1"].mean() - values[groups != "1"].mean(), rel=1e-12
        )
    # q-values are Benjamini-Hochberg within each group (statsmodels)
    from statsmodels.stats.multitest import multipletests

    one = table[table["group"] == "2"]
    np.testing.assert_allclose(
        one["q_value"], multipletests(one["p_value"], method="fdr_bh")[1], rtol=1e-10
    )

    # over-representation: each subtype's planted module, none of the random sets
    enrichment = rg.get_result(mdata, "enrichment", "radiomic_subtype:rna")
    for group, planted in matched.items():
        rows = enrichment[(enrichment["group"] == group) & (enrichment["direction"] == "up")]
        best = rows.sort_values("p_value").iloc[0]
        assert best["gene_set"] == f"DEMO_{PLANTED_MODULE[planted].upper()}"
        assert best["q_value"] < 1e-10
    random_sets = enrichment[enrichment["gene_set"].str.startswith("DEMO_RANDOM")]
    assert (random_sets["q_value"] > 0.05).all()

    fig = rg.pl.differential_dotplot(mdata, "radiomic_subtype:rna", n_top=4)
    assert isinstance(fig, go.Figure)
    assert len(fig.layout.xaxis.ticktext) == 12
    assert list(fig.layout.yaxis.ticktext) == ["1", "2", "3"]


def test_differential_wilcoxon_on_proteins_with_missing_values(phenotyped):
    mdata, _ = phenotyped
    table = rg.tl.differential(
        mdata, "radiomic_subtype", mod="protein", method="wilcoxon", reference="2"
    )
    assert set(table["group"]) == {"1", "3"}
    protein = mdata["protein"]
    groups = mdata.obs["radiomic_subtype"].reindex(protein.obs_names).astype(str)
    name = protein.var_names[np.isnan(np.asarray(protein.X)).any(axis=0)][0]
    values = np.asarray(protein[:, name].X).ravel()
    a = values[(groups == "1").to_numpy()]
    b = values[(groups == "2").to_numpy()]
    a, b = a[~np.isnan(a)], b[~np.isnan(b)]
    # R's wilcox.test rule: exact below 50 values per group without ties
    exact = a.size < 50 and b.size < 50 and np.unique(np.r_[a, b]).size == a.size + b.size
    expected = stats.mannwhitneyu(a, b, method="exact" if exact else "asymptotic")
    row = table[(table["group"] == "1") & (table["feature"] == name)].iloc[0]
    assert row["p_value"] == pytest.approx(expected.pvalue, rel=1e-9)
    assert row["n_group"] == a.size


def test_differential_errors(phenotyped):
    mdata, _ = phenotyped
    with pytest.raises(CohortError, match="no grouping column"):
        rg.tl.differential(mdata, "no_such_column", mod="rna")
    with pytest.raises(CohortError, match="reference group"):
        rg.tl.differential(mdata, "radiomic_subtype", mod="rna", reference="9")
    with pytest.raises(CohortError, match="unknown test"):
        rg.tl.differential(mdata, "radiomic_subtype", mod="rna", method="anova")


def test_read_gmt(tmp_path):
    path = tmp_path / "sets.gmt"
    path.write_text("A\tfirst\tg1\tg2\tg2\n\n# comment\nB\tsecond\tg3\n")
    assert rg.io.read_gmt(path) == {"A": ["g1", "g2"], "B": ["g3"]}
    path.write_text("A\tfirst\tg1\nbroken line\n")
    with pytest.raises(InputError, match="line 2"):
        rg.io.read_gmt(path)
    with pytest.raises(InputError, match="does not exist"):
        rg.io.read_gmt(tmp_path / "missing.gmt")


def test_overrepresentation_table():
    universe = [f"g{i}" for i in range(100)]
    sets = {"S1": universe[:10], "S2": universe[50:60], "tiny": universe[:2]}
    table = rg.tl.overrepresentation(universe[:8] + universe[50:51], universe, sets)
    assert list(table["gene_set"]) == ["S1", "S2"]  # "tiny" is below min_size
    s1 = table.iloc[0]
    assert s1["overlap"] == 8 and s1["set_size"] == 10 and s1["n_hits"] == 9
    expected = stats.fisher_exact([[8, 1], [2, 89]], alternative="greater").pvalue
    assert s1["p_value"] == pytest.approx(expected, rel=1e-10)


def test_phenotypes_errors():
    import anndata as ad

    cohort = md.MuData({"rna": ad.AnnData(np.zeros((3, 2)))})
    with pytest.raises(CohortError, match="no modality 'radiomics'"):
        rg.tl.phenotypes(cohort, mod="radiomics")
    with pytest.raises(CohortError, match="too few patients"):
        rg.tl.phenotypes(cohort, mod="rna")


def test_demo_step_stores_curation_and_phenotypes(demo_build):
    from radiogenomics.workflow import curate_demo

    _, paths, cohort = demo_build
    mdata = cohort.copy()
    summary: dict = {"steps": {}}
    lines: list[str] = []
    result = curate_demo(mdata, paths, summary, echo=lines.append)
    assert result is summary["curation"]
    assert result["batch_silhouette"][1] < result["batch_silhouette"][0]
    assert result["adjusted_rand_index_vs_planted"] > 0.7
    assert set(result["top_gene_set_per_subtype"].values()) >= {
        "DEMO_PROLIFERATION",
        "DEMO_HYPOXIA",
        "DEMO_IMMUNE",
    }
    for kind in (
        "feature_qc",
        "harmonization",
        "redundancy",
        "phenotypes",
        "differential",
        "enrichment",
    ):
        assert kind in mdata.uns["radiogenomics"], kind
    # every QC-passing feature stays (harmonised and scaled); the raw values are kept
    radiomics = mdata["radiomics"]
    assert radiomics.n_vars == result["n_features_extracted"] - result["n_features_dropped_qc"]
    assert "raw" in radiomics.layers
    assert "radiomic_subtype" in mdata.obs
    assert any("adjusted Rand index" in line for line in lines)


def test_demo_step_skips_a_cohort_too_small_to_harmonise(demo_build):
    from radiogenomics.workflow import curate_demo

    _, paths, cohort = demo_build
    mdata = cohort.copy()
    site = mdata.obs["site"].astype(str).to_numpy()
    site[0] = "site_single"  # a site with one patient cannot be harmonised
    mdata.obs["site"] = pd.Categorical(site)
    before = np.array(mdata["radiomics"].X)
    summary: dict = {"steps": {}}
    result = curate_demo(mdata, paths, summary, echo=lambda line: None)
    assert "two patients" in result["skipped"]
    np.testing.assert_array_equal(mdata["radiomics"].X, before)
    assert "raw" not in mdata["radiomics"].layers
    assert "feature_qc" not in mdata.uns["radiogenomics"]
