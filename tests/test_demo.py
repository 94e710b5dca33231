"""The demo cohort: its contents, its planted truth, and the `radiogenomics demo` job."""

from __future__ import annotations

import importlib
import sysconfig
from pathlib import Path

import mudata
import numpy as np
import pandas as pd
import pytest
from helpers import run_cli

import radiogenomics as rg
from radiogenomics.datasets.simulate import simulate


def test_demo_cohort_contents(demo_build):
    folder, paths, mdata = demo_build
    assert set(mdata.mod) == {"radiomics", "rna", "protein", "mutation"}
    assert {"age", "sex", "stage", "site", "os_months", "os_event"} <= set(mdata.obs.columns)
    assert mdata.n_obs > 90  # of 120 simulated; the rest lack an assay (join report)
    report = rg.join_report(mdata)
    assert len(report) == 120 and (~report["kept"]).sum() == 120 - mdata.n_obs
    assert report.loc[~report["kept"], "reason"].str.startswith("not in ").all()
    radiomics = mdata["radiomics"]
    assert {"image_type", "feature_class", "feature"} <= set(radiomics.var.columns)
    assert set(radiomics.var["feature_class"]) == {
        "shape",
        "firstorder",
        "glcm",
        "glrlm",
        "glszm",
        "gldm",
        "ngtdm",
    }
    info = radiomics.uns["radiogenomics"]
    assert info["pyradiomics_version"] and '"binWidth": 25' in info["params"]
    assert mdata["rna"].n_vars == 2000 and "counts" in mdata["rna"].layers
    assert np.isnan(mdata["protein"].X).mean() > 0.05  # realistic missingness
    assert set(np.unique(mdata["mutation"].X)) <= {0.0, 1.0}
    manifest = mdata.uns["radiogenomics"]["manifest"]
    assert Path(manifest["image"].iloc[0]).exists()


def test_demo_features_are_pyradiomics_features(demo_build):
    """The cohort's radiomics equal a direct pyradiomics run on a demo image."""
    from radiomics import featureextractor

    folder, paths, mdata = demo_build
    patient = mdata.obs_names[3]
    row = mdata.uns["radiogenomics"]["manifest"].set_index("patient_id").loc[patient]
    extractor = featureextractor.RadiomicsFeatureExtractor(rg.extract.resolve_params("demo"))
    direct = extractor.execute(row["image"], row["mask"], label=1)
    ours = mdata["radiomics"][patient].to_df().iloc[0]
    for name, value in ours.items():
        assert float(direct[name]) == pytest.approx(value, rel=1e-12, abs=1e-12), name


def test_planted_imaging_truth_holds(demo_build):
    """Marker features follow the factor they were built from (independent correlation)."""
    _, _, mdata = demo_build
    truth = mdata.uns["radiogenomics"]["truth"]
    factors = truth["factors"].loc[mdata.obs_names]
    radiomics = mdata["radiomics"].to_df()
    for _, marker in truth["marker_features"].iterrows():
        r = np.corrcoef(radiomics[marker["feature"]], factors[marker["factor"]])[0, 1]
        assert np.sign(r) == marker["sign"] and abs(r) > 0.4, (marker["feature"], r)
    sphericity = radiomics["original_shape_Sphericity"]
    egfr = factors["egfr_mutant"].astype(bool)
    assert sphericity[egfr].mean() < sphericity[~egfr].mean()
    # the scanner sites shift intensities (a batch effect to harmonise)
    medians = (
        radiomics["original_firstorder_Median"].groupby(mdata.obs["site"].astype(str).values).mean()
    )
    assert medians["site_B"] > medians["site_A"] > medians["site_C"]


def test_planted_molecular_truth_holds(demo_build):
    _, _, mdata = demo_build
    truth = mdata.uns["radiogenomics"]["truth"]
    factors = truth["factors"].loc[mdata.obs_names]
    modules = truth["gene_modules"]["module"]
    rna = mdata["rna"].to_df()
    for factor in ("proliferation", "hypoxia", "immune"):
        genes = [g for g in modules.index[modules == factor] if g in rna][:10]
        r = [np.corrcoef(rna[g], factors[factor])[0, 1] for g in genes]
        assert np.median(r) > 0.5, (factor, r)
    nulls = modules.index[modules == "none"][:200]
    r_null = [np.corrcoef(rna[g], factors["proliferation"])[0, 1] for g in nulls]
    assert abs(np.mean(r_null)) < 0.1
    # proteins follow their transcripts
    protein = mdata["protein"].to_df()
    shared = [g for g in protein.columns if g in rna.columns][:20]
    r = [pd.Series(rna[g]).corr(pd.Series(protein[g])) for g in shared]
    assert np.median(r) > 0.4
    # event rate and survival depend on the factors as planted (a crude check; the Cox
    # tests of the survival tools check the hazard ratios)
    assert 0.4 < mdata.obs["os_event"].mean() < 0.9


def test_simulation_is_reproducible():
    a, b = (
        simulate(20, random_state=5, with_images=False),
        simulate(20, random_state=5, with_images=False),
    )
    pd.testing.assert_frame_equal(a.clinical, b.clinical)
    pd.testing.assert_frame_equal(a.counts, b.counts)
    c = simulate(20, random_state=6, with_images=False)
    assert not a.counts.equals(c.counts)


def test_demo_command_end_to_end(tmp_path):
    out = tmp_path / "demo"
    result = run_cli("demo", "--out", str(out), "--patients", "24", "--jobs", "1", "--no-serve")
    assert result.returncode == 0, result.stderr
    assert "Cohort:" in result.stdout
    cohort = mudata.read_h5mu(out / "cohort.h5mu")
    assert {"radiomics", "rna", "protein", "mutation"} <= set(cohort.mod)
    assert cohort["radiomics"].n_vars > 100
    assert {"age", "sex", "stage", "site", "os_months", "os_event"} <= set(cohort.obs.columns)
    for name in (
        "manifest.csv",
        "clinical.csv",
        "rna_counts.tsv",
        "proteomics.csv",
        "mutations.maf",
        "genesets.gmt",
    ):
        assert (out / "inputs" / name).exists(), name
    assert (out / "features.h5ad").exists() and (out / "summary.json").exists()
    # the clinical columns keep their types through every step of the job
    clinical = pd.read_csv(out / "inputs" / "clinical.csv")
    ours = rg.read_cohort(out / "cohort.h5mu").obs
    assert ours["age"].dtype == clinical["age"].dtype == np.float64
    assert ours["os_months"].dtype == np.float64


def test_installed_package_ships_schemas_and_dashboards():
    """With a plain (non-editable) install, schemas and dashboards come from site-packages."""
    site = Path(sysconfig.get_paths()["purelib"]).resolve()
    package = Path(rg.__file__).resolve()
    if site not in package.parents:
        pytest.skip(f"radiogenomics runs from a source tree ({package.parent}), not an install")
    for name in ("data_schemas", "dashboards"):
        module = importlib.import_module(name)
        assert site in Path(module.__file__).resolve().parents, name
    from data_schemas import SCHEMA_DIR

    assert (SCHEMA_DIR / "clinical.json").exists()
    assert len(rg.io.schema_names()) >= 9


def test_demo_reads_its_features_from_the_cache_when_built_again(tmp_path):
    """Same demo, another folder: every case comes from the cache, values unchanged."""
    cache = tmp_path / "cache"
    first = rg.datasets.demo(n_patients=12, path=tmp_path / "a", n_jobs=1, cache_dir=cache)
    again = rg.datasets.demo(n_patients=12, path=tmp_path / "b", n_jobs=1, cache_dir=cache)
    assert first["radiomics"].uns["radiogenomics"]["n_from_cache"] == 0
    info = again["radiomics"].uns["radiogenomics"]
    assert info["n_from_cache"] == info["n_cases"] == 12
    np.testing.assert_array_equal(again["radiomics"].X, first["radiomics"].X)
    other = rg.datasets.demo(
        n_patients=12, random_state=3, path=tmp_path / "c", n_jobs=1, cache_dir=cache
    )
    assert other["radiomics"].uns["radiogenomics"]["n_from_cache"] == 0  # other images


def test_dataset_builders_take_random_state_and_the_old_seed_warns():
    new = simulate(n_patients=12, random_state=4, n_genes=50, n_proteins=10, with_images=False)
    with pytest.warns(FutureWarning, match="'seed' is now 'random_state'"):
        old = simulate(n_patients=12, seed=4, n_genes=50, n_proteins=10, with_images=False)
    pd.testing.assert_frame_equal(old.clinical, new.clinical)
    with pytest.raises(TypeError, match="both 'seed' and its new name"):
        simulate(n_patients=12, seed=4, random_state=4)
