"""build_cohort: ID harmonisation, combining samples, the join report, the .h5mu round trip."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from anndata import AnnData

import radiogenomics as rg
from radiogenomics.cohort import harmonize_ids
from radiogenomics.errors import CohortError, InputError


def modality(ids, n_vars=3, seed=0, prefix="f", obs=None):
    rng = np.random.default_rng(seed)
    return AnnData(
        X=rng.normal(size=(len(ids), n_vars)),
        obs=pd.DataFrame(obs or {}, index=pd.Index(ids)),
        var=pd.DataFrame(index=[f"{prefix}{i}" for i in range(n_vars)]),
    )


@pytest.fixture
def clinical():
    return pd.DataFrame(
        {
            "age": [50.0, 60.0, 70.0, 80.0],
            "stage": pd.Categorical(
                ["I", "II", "II", "IV"], categories=["I", "II", "III", "IV"], ordered=True
            ),
            "os_event": np.array([1, 0, 1, 1]),
        },
        index=pd.Index(
            ["TCGA-01-0001", "TCGA-01-0002", "TCGA-01-0003", "TCGA-01-0004"], name="patient_id"
        ),
    )


def test_tcga_rule_and_regex_and_mapping():
    assert list(harmonize_ids(["TCGA-02-0003-01A-01R", "TCGA-02-0003"], "tcga")) == [
        "TCGA-02-0003",
        "TCGA-02-0003",
    ]
    assert list(harmonize_ids(["pt7_scan2", "pt8_scan1"], r"^(pt\d+)_")) == ["pt7", "pt8"]
    assert list(harmonize_ids(["a", "b"], {"a": "P1", "b": "P2"})) == ["P1", "P2"]
    assert list(harmonize_ids(["x1"], str.upper)) == ["X1"]
    with pytest.raises(CohortError, match="does not match the ID rule.*found 'BADID'"):
        harmonize_ids(["TCGA-01-0001-01A", "BADID"], "tcga", where="modality 'rna'")
    with pytest.raises(CohortError, match="not in the ID mapping"):
        harmonize_ids(["a", "c"], {"a": "P1"})


def test_inner_join_report(clinical):
    radiomics = modality(["TCGA-01-0001", "TCGA-01-0002", "TCGA-01-0003"], prefix="r")
    rna = modality(
        ["TCGA-01-0002-01A", "TCGA-01-0003-01A", "TCGA-01-0004-01A", "TCGA-01-0009-01A"],
        prefix="g",
        seed=1,
    )
    mdata, report = rg.build_cohort(
        {"radiomics": radiomics, "rna": rna},
        clinical=clinical,
        join="inner",
        id_rule={"rna": "tcga"},
        return_report=True,
    )
    assert list(mdata.obs_names) == ["TCGA-01-0002", "TCGA-01-0003"]
    assert list(mdata["rna"].obs["sample_id"]) == ["TCGA-01-0002-01A", "TCGA-01-0003-01A"]
    # every patient seen anywhere is in the report, with where and why
    report = report.set_index("patient_id")
    assert set(report.index) == {
        "TCGA-01-0001",
        "TCGA-01-0002",
        "TCGA-01-0003",
        "TCGA-01-0004",
        "TCGA-01-0009",
    }
    assert report.loc["TCGA-01-0001", "reason"] == "not in rna"
    assert report.loc["TCGA-01-0004", "reason"] == "not in radiomics"
    assert report.loc["TCGA-01-0009", "reason"] == "not in radiomics, clinical"
    assert report["kept"].sum() == 2
    stored = rg.join_report(mdata).set_index("patient_id")
    pd.testing.assert_frame_equal(stored, report)
    assert mdata.uns["radiogenomics"]["join"]["n_dropped"] == 3
    # clinical columns in obs with their types
    assert list(mdata.obs["age"]) == [60.0, 70.0]
    assert mdata.obs["stage"].cat.ordered
    # values follow their patients
    np.testing.assert_array_equal(mdata["rna"].X, rna.X[:2])
    np.testing.assert_array_equal(mdata["radiomics"].X, radiomics.X[1:])


def test_outer_join_keeps_everyone_in_a_modality(clinical):
    radiomics = modality(["TCGA-01-0001", "TCGA-01-0002"], prefix="r")
    rna = modality(["TCGA-01-0002", "TCGA-01-0003"], prefix="g")
    mdata = rg.build_cohort({"radiomics": radiomics, "rna": rna}, clinical=clinical, join="outer")
    assert sorted(mdata.obs_names) == ["TCGA-01-0001", "TCGA-01-0002", "TCGA-01-0003"]
    report = rg.join_report(mdata).set_index("patient_id")
    assert report.loc["TCGA-01-0004", "reason"] == "in no modality"
    assert report.loc["TCGA-01-0001", "missing_from"] == "rna"
    assert bool(report.loc["TCGA-01-0001", "kept"])
    assert mdata["rna"].n_obs == 2 and mdata["radiomics"].n_obs == 2


def test_no_overlap_is_an_error():
    with pytest.raises(CohortError, match="no patient is left after the inner join.*id_rule"):
        rg.build_cohort({"a": modality(["P1"]), "b": modality(["S1"], prefix="g")})


def test_several_samples_refused_then_combined():
    ids = ["P1-01A", "P1-02A", "P2-01A"]
    rna = modality(ids, prefix="g")
    with pytest.raises(CohortError) as info:
        rg.build_cohort({"rna": rna}, id_rule=r"^(P\d+)")
    assert "several samples or lesions in 'rna'" in str(info.value)
    assert "'P1': ['P1-01A', 'P1-02A']" in str(info.value)
    assert "combine=" in str(info.value)
    first = rg.build_cohort({"rna": rna}, id_rule=r"^(P\d+)", combine="first")
    np.testing.assert_array_equal(first["rna"].X[0], rna.X[0])
    mean = rg.build_cohort({"rna": rna}, id_rule=r"^(P\d+)", combine="mean")
    np.testing.assert_allclose(mean["rna"].X[0], rna.X[:2].mean(axis=0))
    assert mean["rna"].obs.loc["P1", "sample_id"] == "P1-01A;P1-02A"
    assert int(mean["rna"].obs.loc["P1", "n_samples"]) == 2
    report = rg.join_report(mean).set_index("patient_id")
    assert report.loc["P1", "n_samples_rna"] == 2


def test_largest_lesion_and_per_modality_rules():
    lesions = AnnData(
        X=np.array([[100.0, 1.0], [500.0, 2.0], [50.0, 3.0]]),
        obs=pd.DataFrame(
            {"patient_id": ["P1", "P1", "P2"], "lesion_id": ["a", "b", "a"]},
            index=["P1|a", "P1|b", "P2|a"],
        ),
        var=pd.DataFrame(index=["original_shape_VoxelVolume", "original_firstorder_Mean"]),
    )
    mutation = AnnData(
        X=np.array([[1.0, 0.0], [0.0, 0.0], [0.0, 1.0]]),
        obs=pd.DataFrame(index=["P1-T1", "P1-T2", "P2-T1"]),
        var=pd.DataFrame(index=["TP53", "EGFR"]),
    )
    mdata = rg.build_cohort(
        {"radiomics": lesions, "mutation": mutation},
        id_rule={"mutation": r"^(P\d)"},
        combine={"radiomics": "largest_lesion", "mutation": "max"},
    )
    np.testing.assert_array_equal(mdata["radiomics"].X, [[500.0, 2.0], [50.0, 3.0]])
    assert list(mdata["radiomics"].obs["lesion_id"]) == ["b", "a"]
    np.testing.assert_array_equal(mdata["mutation"].X, [[1.0, 0.0], [0.0, 1.0]])
    with pytest.raises(CohortError, match="needs a lesion size feature"):
        rg.build_cohort(
            {"radiomics": lesions[:, ["original_firstorder_Mean"]].copy()}, combine="largest_lesion"
        )


def test_duplicate_clinical_patient_after_rule(clinical):
    clin = clinical.copy()
    clin.index = pd.Index(["A-1", "A-2", "B-1", "C-1"], name="patient_id")
    with pytest.raises(CohortError, match="several rows for one patient.*found 'A'"):
        rg.build_cohort(
            {"x": modality(["A", "B"])}, clinical=clin, id_rule={"clinical": r"^(\w)", "x": None}
        )


def test_round_trip_is_lossless(tmp_path, clinical):
    radiomics = rg.io.feature_var(["original_shape_VoxelVolume", "wavelet-LLH_glcm_Contrast"])
    rad = AnnData(
        X=np.array([[1.5, 2.0], [3.0, 4.0], [5.0, np.nan], [7.0, 8.0]]),
        obs=pd.DataFrame(index=clinical.index.astype(str)),
        var=radiomics,
    )
    rad.uns["radiogenomics"] = {"params": '{"binWidth": 25}', "n_failed": 0}
    rna = modality(list(clinical.index), n_vars=5, prefix="g", seed=3)
    rna.layers["counts"] = np.arange(20, dtype=np.int64).reshape(4, 5)
    mdata = rg.build_cohort({"radiomics": rad, "rna": rna}, clinical=clinical)
    path = rg.write_cohort(mdata, tmp_path / "cohort.h5mu")
    back = rg.read_cohort(path)
    assert list(back.obs_names) == list(mdata.obs_names)
    pd.testing.assert_frame_equal(back.obs, mdata.obs)
    assert back.obs["stage"].cat.ordered
    for name in ("radiomics", "rna"):
        np.testing.assert_array_equal(back[name].X, mdata[name].X)
        pd.testing.assert_frame_equal(back[name].var, mdata[name].var)
        pd.testing.assert_frame_equal(back[name].obs, mdata[name].obs)
    assert back["rna"].layers["counts"].dtype == np.int64
    np.testing.assert_array_equal(back["rna"].layers["counts"], rna.layers["counts"])
    assert back["radiomics"].uns["radiogenomics"]["params"] == '{"binWidth": 25}'
    pd.testing.assert_frame_equal(rg.join_report(back), rg.join_report(mdata))
    assert back.uns["radiogenomics"]["join"]["n_patients"] == 4


def test_write_is_atomic(tmp_path, clinical, monkeypatch):
    mdata = rg.build_cohort({"x": modality(list(clinical.index))}, clinical=clinical)
    path = rg.write_cohort(mdata, tmp_path / "cohort.h5mu")
    before = path.read_bytes()

    def broken_write(self, filename, *args, **kwargs):
        with open(filename, "wb") as fh:
            fh.write(b"half a file")
        raise OSError("disk full")

    monkeypatch.setattr(type(mdata), "write", broken_write)
    with pytest.raises(OSError, match="disk full"):
        rg.write_cohort(mdata, path)
    assert path.read_bytes() == before  # the old cohort is intact
    assert [p.name for p in tmp_path.iterdir()] == ["cohort.h5mu"]  # no temporary left


def test_read_cohort_errors(tmp_path):
    with pytest.raises(InputError, match="the cohort file does not exist"):
        rg.read_cohort(tmp_path / "none.h5mu")
    bad = tmp_path / "bad.h5mu"
    bad.write_text("not hdf5")
    with pytest.raises(InputError, match="cannot read the cohort file"):
        rg.read_cohort(bad)
    with pytest.raises(InputError, match="must end in .h5mu"):
        rg.write_cohort(None, tmp_path / "x.h5")


def test_bad_modalities():
    with pytest.raises(CohortError, match="is not an AnnData"):
        rg.build_cohort({"rna": pd.DataFrame()})
    a = modality(["P1", "P2"])
    a.obs_names = ["P1", "P1"]
    with pytest.raises(CohortError, match="duplicate obs_names"):
        rg.build_cohort({"rna": a})
    with pytest.raises(CohortError, match="unknown join"):
        rg.build_cohort({"rna": modality(["P1"])}, join="left")


def test_results_storage():
    mdata = rg.build_cohort({"x": modality(["P1", "P2"])})
    table = pd.DataFrame({"a": [1, 2]})
    rg.store_result(mdata, "association", "x_vs_y", table, {"method": "linear"})
    pd.testing.assert_frame_equal(rg.get_result(mdata, "association"), table)
    assert mdata.uns["radiogenomics"]["params"]["association"]["x_vs_y"]["method"] == "linear"
    with pytest.raises(CohortError, match="no 'survival' results"):
        rg.get_result(mdata, "survival")


def test_adding_a_modality_keeps_clinical_dtypes(clinical):
    from radiogenomics.cohort import add_modality

    mdata = rg.build_cohort({"x": modality(list(clinical.index))}, clinical=clinical)
    assert mdata.obs["age"].dtype == np.float64  # whole numbers, stored as floats
    add_modality(mdata, "scores", modality(list(clinical.index[:2]), prefix="s"))
    assert mdata.obs["age"].dtype == np.float64
    assert list(mdata.mod) == ["x", "scores"]
    with pytest.raises(CohortError, match="not in the cohort"):
        add_modality(mdata, "bad", modality(["nobody"]))


def test_working_copy_shares_matrices_and_keeps_the_cohort_unchanged():
    from radiogenomics.cohort import working_copy

    rng = np.random.default_rng(3)
    n = 40
    ids = [f"P{i:02d}" for i in range(n)]
    clinical = pd.DataFrame(
        {"os": rng.exponential(20, n), "dead": rng.integers(0, 2, n), "age": rng.normal(60, 8, n)},
        index=pd.Index(ids),
    )
    x = modality(ids, n_vars=5, seed=1)
    x.layers["raw"] = x.X * 10
    mdata = rg.build_cohort(
        {"x": x, "y": modality(ids[:30], n_vars=4, seed=2, prefix="g")}, clinical=clinical
    )
    rg.store_result(mdata, "association", "earlier", pd.DataFrame({"a": [1]}))
    before_obs = mdata.obs.copy()
    before_uns = {k: sorted(v) for k, v in mdata.uns["radiogenomics"].items()}

    work = working_copy(mdata)
    assert work.shape == mdata.shape and list(work.mod) == list(mdata.mod)
    assert np.shares_memory(work["x"].X, mdata["x"].X)
    assert np.shares_memory(work["x"].layers["raw"], mdata["x"].layers["raw"])
    pd.testing.assert_frame_equal(work.obs, mdata.obs)

    # what a dashboard request does: group by a marker, then curves, test and model
    groups = rg.tl.marker_groups(work, "x:f0", method="median", layer="raw", key_added="grp")
    curves = rg.tl.kaplan_meier(work, time="os", event="dead", groupby="grp")
    model = rg.tl.cox(work, ["grp", "age"], time="os", event="dead")
    assert "grp" in work.obs and len(curves) and len(model)

    # the same on a full copy gives the same numbers
    full = mdata.copy()
    pd.testing.assert_series_equal(
        rg.tl.marker_groups(full, "x:f0", method="median", layer="raw", key_added="grp"), groups
    )
    pd.testing.assert_frame_equal(
        rg.tl.kaplan_meier(full, time="os", event="dead", groupby="grp"), curves
    )

    # and the cohort itself is untouched
    pd.testing.assert_frame_equal(mdata.obs, before_obs)
    assert {k: sorted(v) for k, v in mdata.uns["radiogenomics"].items()} == before_uns
    assert "grp" not in mdata.obs
