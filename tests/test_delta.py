"""Delta radiomics: exact changes on constructed data, and every refused input."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from anndata import AnnData

import radiogenomics as rg
from radiogenomics.errors import CohortError, InputError


def _long(base: np.ndarray, follow: np.ndarray, patients=("P1", "P2", "P3")) -> AnnData:
    n = len(patients)
    X = np.vstack([base, follow])
    obs = pd.DataFrame(
        {"patient_id": list(patients) * 2, "timepoint": ["baseline"] * n + ["week6"] * n},
        index=[f"{p}@{t}" for t in ("baseline", "week6") for p in patients],
    )
    var = pd.DataFrame(
        {"unit": ["HU", "mm3"]}, index=["original_firstorder_Mean", "original_shape_VoxelVolume"]
    )
    return AnnData(X=X, obs=obs, var=var)


BASE = np.array([[10.0, 100.0], [-4.0, 50.0], [2.0, 8.0]])
FOLLOW = np.array([[15.0, 80.0], [-2.0, 50.0], [3.0, 2.0]])


@pytest.mark.parametrize("kind", ["absolute", "relative", "log_ratio"])
def test_delta_exact(kind):
    adata = _long(BASE, FOLLOW)
    out = rg.tl.delta(adata, "baseline", "week6", kind=kind)
    expected = {
        "absolute": FOLLOW - BASE,
        "relative": (FOLLOW - BASE) / BASE,
        "log_ratio": np.log(FOLLOW / BASE),
    }[kind]
    assert list(out.obs_names) == ["P1", "P2", "P3"]
    np.testing.assert_allclose(out.X, expected, rtol=0, atol=1e-15)
    np.testing.assert_array_equal(out.layers["baseline"], BASE)
    np.testing.assert_array_equal(out.layers["follow_up"], FOLLOW)
    assert (out.var["delta_kind"] == kind).all()
    if kind == "absolute":
        assert list(out.var["unit"]) == ["HU", "mm3"]
    # hand-computed cells: P1 mean 10 -> 15
    assert out.X[0, 0] == {"absolute": 5.0, "relative": 0.5, "log_ratio": np.log(1.5)}[kind]


def test_delta_order_of_rows_does_not_matter():
    adata = _long(BASE, FOLLOW)
    shuffled = adata[[4, 0, 5, 2, 1, 3]].copy()
    out = rg.tl.delta(shuffled, "baseline", "week6", kind="absolute")
    table = pd.DataFrame(out.X, index=out.obs_names)
    np.testing.assert_array_equal(table.loc[["P1", "P2", "P3"]].to_numpy(), FOLLOW - BASE)


def test_zero_baseline_is_nan_with_reason():
    base = BASE.copy()
    base[1, 1] = 0.0
    follow = FOLLOW.copy()
    follow[2, 0] = -1.0  # sign change: no log ratio
    out = rg.tl.delta(_long(base, follow), "baseline", "week6", kind="log_ratio")
    assert np.isnan(out.X[1, 1]) and np.isnan(out.X[2, 0])
    assert np.isfinite(out.X[0]).all()
    undefined = out.uns["radiogenomics"]["delta"]["undefined"]
    reasons = dict(zip(zip(undefined["patient"], undefined["feature"]), undefined["reason"]))
    assert reasons == {
        ("P2", "original_shape_VoxelVolume"): "zero baseline",
        ("P3", "original_firstorder_Mean"): "baseline and follow-up of opposite signs",
    }
    assert list(out.var["n_undefined"]) == [1, 1]
    relative = rg.tl.delta(_long(base, follow), "baseline", "week6", kind="relative")
    assert np.isnan(relative.X[1, 1]) and relative.X[2, 0] == -1.0 / 2.0 - 1.0
    # absolute change is defined everywhere
    absolute = rg.tl.delta(_long(base, follow), "baseline", "week6", kind="absolute")
    assert np.isfinite(absolute.X).all()


def test_missing_timepoint_is_listed():
    adata = _long(BASE, FOLLOW)
    partial = adata[[0, 1, 2, 3, 4]].copy()  # P3 has no week6 image
    with pytest.raises(CohortError, match=r"P3 \(no 'week6'\)"):
        rg.tl.delta(partial, "baseline", "week6")
    out = rg.tl.delta(partial, "baseline", "week6", kind="absolute", missing="drop")
    assert list(out.obs_names) == ["P1", "P2"]
    dropped = out.uns["radiogenomics"]["delta"]["dropped"]
    assert list(dropped["patient"]) == ["P3"]
    np.testing.assert_array_equal(out.X, (FOLLOW - BASE)[:2])


def test_refused_inputs():
    adata = _long(BASE, FOLLOW)
    with pytest.raises(InputError, match="unknown kind"):
        rg.tl.delta(adata, "baseline", "week6", kind="ratio")
    with pytest.raises(CohortError, match="no image at time point 'week12'"):
        rg.tl.delta(adata, "baseline", "week12")
    twice = adata[[0, 0, 1, 2, 3, 4, 5]].copy()
    twice.obs_names_make_unique()
    with pytest.raises(CohortError, match="several images at time point 'baseline'"):
        rg.tl.delta(twice, "baseline", "week6")
    no_column = adata.copy()
    del no_column.obs["timepoint"]
    with pytest.raises(CohortError, match="no time point column"):
        rg.tl.delta(no_column, "baseline", "week6")


def test_lesions_are_paired_separately():
    adata = _long(BASE, FOLLOW, patients=("P1", "P1", "P2"))
    adata.obs["lesion_id"] = ["a", "b", "a"] * 2
    out = rg.tl.delta(adata, "baseline", "week6", kind="absolute")
    assert list(out.obs_names) == ["P1|a", "P1|b", "P2|a"]
    assert list(out.obs["lesion_id"]) == ["a", "b", "a"]
    np.testing.assert_array_equal(out.X, FOLLOW - BASE)


def test_cohort_gets_a_delta_modality():
    patients = ["P1", "P2", "P3"]
    base = AnnData(X=BASE, obs=pd.DataFrame(index=patients), var=pd.DataFrame(index=["f1", "f2"]))
    follow = AnnData(
        X=FOLLOW[[2, 0, 1]],
        obs=pd.DataFrame(index=["P3", "P1", "P2"]),
        var=pd.DataFrame(index=["f1", "f2"]),
    )
    clinical = pd.DataFrame({"response": [1, 0, 1]}, index=patients)
    mdata = rg.build_cohort(
        {"radiomics_baseline": base, "radiomics_week6": follow}, clinical=clinical
    )
    out = rg.tl.delta(mdata, "baseline", "week6", kind="relative")
    assert "radiomics_delta" in mdata.mod
    stored = mdata.mod["radiomics_delta"]
    table = pd.DataFrame(stored.X, index=stored.obs_names, columns=stored.var_names)
    np.testing.assert_allclose(table.loc[patients].to_numpy(), (FOLLOW - BASE) / BASE)
    assert list(mdata.obs["response"].loc[patients]) == [1, 0, 1]
    assert mdata.uns["radiogenomics"]["delta"]["radiomics_delta"]["kind"] == "relative"
    assert out.n_obs == 3


def test_manifest_accepts_a_timepoint_per_image(tmp_path):
    frame = pd.DataFrame(
        {
            "patient_id": ["P1", "P1", "P2"],
            "image": ["a.nrrd", "b.nrrd", "c.nrrd"],
            "mask": ["am.nrrd", "bm.nrrd", "cm.nrrd"],
            "Visit": ["baseline", "week6", "baseline"],
        }
    )
    manifest = rg.io.read_manifest(frame, base_dir=tmp_path)
    assert list(manifest["timepoint"]) == ["baseline", "week6", "baseline"]
    frame.loc[1, "Visit"] = "baseline"
    with pytest.raises(rg.errors.SchemaError, match="duplicate ID"):
        rg.io.read_manifest(frame, base_dir=tmp_path)


def test_delta_from_a_longitudinal_manifest_matches_pyradiomics(tmp_path):
    """A real MR case at baseline and at a follow-up whose lesion shrank (the mask eroded):
    the change equals the difference of pyradiomics' own values."""
    from helpers import PYRADIOMICS_CASES

    if not PYRADIOMICS_CASES.is_dir():
        pytest.skip(f"reference data not found at {PYRADIOMICS_CASES}")
    import SimpleITK as sitk
    from radiomics import featureextractor

    image = str(PYRADIOMICS_CASES / "breast1_image.nrrd")
    mask = str(PYRADIOMICS_CASES / "breast1_label.nrrd")
    small = sitk.BinaryErode(sitk.ReadImage(mask) == 1, [1, 1, 0], sitk.sitkBall, 0, 1)
    small = sitk.Cast(small, sitk.sitkUInt8)
    small.CopyInformation(sitk.ReadImage(mask))
    follow_mask = str(tmp_path / "breast1_week6.nrrd")
    sitk.WriteImage(small, follow_mask)
    manifest = pd.DataFrame(
        {
            "patient_id": ["breast1", "breast1"],
            "image": [image, image],
            "mask": [mask, follow_mask],
            "timepoint": ["baseline", "week6"],
        }
    )
    params = {
        "setting": {"binWidth": 25, "label": 1},
        "imageType": {"Original": {}},
        "featureClass": {"firstorder": [], "shape": ["VoxelVolume"]},
    }
    long = rg.extract.features_by_timepoint(manifest, params=params, n_jobs=1)
    assert sorted(long.obs_names) == ["breast1@baseline", "breast1@week6"]
    assert sorted(long.obs["timepoint"]) == ["baseline", "week6"]
    change = rg.tl.delta(long, "baseline", "week6", kind="absolute")
    extractor = featureextractor.RadiomicsFeatureExtractor(binWidth=25, label=1)
    extractor.disableAllFeatures()
    extractor.enableFeatureClassByName("firstorder")
    extractor.enableFeaturesByName(shape=["VoxelVolume"])
    before = extractor.execute(image, mask)
    after = extractor.execute(image, follow_mask)
    for feature in (
        "original_firstorder_Mean",
        "original_shape_VoxelVolume",
        "original_firstorder_Entropy",
    ):
        expected = float(after[feature]) - float(before[feature])
        assert change[:, feature].X[0, 0] == pytest.approx(expected, rel=1e-9, abs=1e-12)
    assert change[:, "original_shape_VoxelVolume"].X[0, 0] < 0
    missing = manifest.iloc[[0]].assign(timepoint=np.nan)
    with pytest.raises(rg.errors.SchemaError, match="no time point"):
        rg.extract.features_by_timepoint(missing, params=params)


def test_demo_follow_up_scan_changes_with_the_response(tmp_path):
    """The simulated week-6 scan: responders' tumours shrink and lose enhancement; the
    relative volume change equals the planted voxel-count ratio minus one."""
    from radiogenomics.datasets import write_demo_files, write_follow_up

    paths = write_demo_files(tmp_path / "demo", n_patients=16, random_state=0)
    manifest = write_follow_up(paths)
    params = {
        "setting": {"binWidth": 25, "label": 1, "minimumROIDimensions": 2, "minimumROISize": 20},
        "imageType": {"Original": {}},
        "featureClass": {"firstorder": ["Mean"], "shape": ["VoxelVolume"]},
    }
    long = rg.extract.features_by_timepoint(manifest, params=params, n_jobs=2, progress=False)
    change = rg.tl.delta(long, "baseline", "week6", kind="relative")
    truth = pd.read_csv(paths["truth"] / "follow_up.csv", dtype={"patient_id": str})
    truth = truth.set_index("patient_id").loc[list(change.obs["patient_id"])]
    volume = change[:, "original_shape_VoxelVolume"].X.ravel()
    np.testing.assert_allclose(volume, truth["volume_ratio"] - 1, rtol=1e-9, atol=1e-12)
    responders = truth["responder"].to_numpy(dtype=bool)
    assert responders.any() and (~responders).any()
    assert volume[responders].max() < 0 <= volume[~responders].min()
    mean = change[:, "original_firstorder_Mean"].X.ravel()
    assert mean[responders].max() < 0
