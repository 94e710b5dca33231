"""``var["ibsi_tag"]`` and ``var["unit"]`` on read and extracted radiomics, kept through
preprocessing and written into exported tables."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import radiogenomics as rg
from radiogenomics.export import read_sidecar
from radiogenomics.extract import ibsi

PACKAGE_DATA = Path(ibsi.__file__).parent / "ibsi_data"

FEATURES = {
    "original_shape_MeshVolume": ("mm³", "morph_volume"),
    "original_shape_SurfaceArea": ("mm²", "morph_area_mesh"),
    "original_shape_Maximum3DDiameter": ("mm", "morph_diam"),
    "original_shape_Sphericity": ("", "morph_sphericity"),
    "original_shape_MajorAxisLength": ("mm", ""),
    "original_firstorder_Mean": ("HU", "stat_mean"),
    "original_firstorder_Variance": ("HU²", "stat_var"),
    "original_firstorder_Energy": ("HU²", "stat_energy"),
    "original_firstorder_TotalEnergy": ("HU²·mm³", ""),
    "original_firstorder_Kurtosis": ("", ""),
    "original_firstorder_Entropy": ("", "ih_entropy"),
    "original_glcm_JointAverage": ("", "cm_joint_avg_3D_avg"),
    "original_glszm_ZoneEntropy": ("", "szm_zs_entr_3D"),
    "original_gldm_DependenceEntropy": ("", "ngl_dc_entr_3D"),
    "original_ngtdm_Busyness": ("", "ngt_busyness_3D"),
    "wavelet-LLH_firstorder_Mean": ("a.u.", ""),
    "original_glcm_MCC": ("", ""),
}


def _table(tmp_path: Path, modality: str | None) -> Path:
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(rng.uniform(1, 5, (6, len(FEATURES))), columns=list(FEATURES))
    frame.insert(0, "patient_id", [f"P{i}" for i in range(6)])
    if modality is not None:
        frame.insert(1, "modality", modality)
    path = tmp_path / "features.csv"
    frame.to_csv(path, index=False)
    return path


def test_read_radiomics_units_and_tags(tmp_path):
    adata = rg.io.read_radiomics(_table(tmp_path, "CT"))
    assert "modality" in adata.obs and adata.n_vars == len(FEATURES)
    for name, (unit, tag) in FEATURES.items():
        assert adata.var.loc[name, "unit"] == unit, name
        assert adata.var.loc[name, "ibsi_tag"] == tag, name


@pytest.mark.parametrize(
    ("modality", "argument", "expected"),
    [
        ("PT", None, "SUV"),
        ("MR", None, "a.u."),
        (None, None, "intensity units"),
        (None, "PET", "SUV"),
        ("CT", "PT", "SUV"),
    ],
)
def test_intensity_unit_from_modality(tmp_path, modality, argument, expected):
    adata = rg.io.read_radiomics(_table(tmp_path, modality), modality=argument)
    assert adata.var.loc["original_firstorder_Mean", "unit"] == expected
    assert adata.var.loc["original_shape_MeshVolume", "unit"] == "mm³"


def test_batch_csv_settings_give_2_5d_tags(tmp_path):
    path = _table(tmp_path, "CT")
    frame = pd.read_csv(path)
    frame["diagnostics_Configuration_Settings"] = str({"force2D": True, "binWidth": 25})
    frame.to_csv(path, index=False)
    adata = rg.io.read_radiomics(path)
    assert adata.var.loc["original_glcm_JointAverage", "ibsi_tag"] == "cm_joint_avg_2_5D_avg"
    assert adata.var.loc["original_shape_MeshVolume", "ibsi_tag"] == "morph_volume"


@pytest.fixture(scope="module")
def phantom():
    manifest = pd.DataFrame(
        {
            "patient_id": ["phantom"],
            "modality": ["CT"],
            "image": [str(PACKAGE_DATA / "phantom.nii.gz")],
            "mask": [str(PACKAGE_DATA / "mask.nii.gz")],
            "label": [1],
        }
    )
    return rg.extract.features(manifest, params=ibsi.IBSI_PHANTOM_PARAMS)


def test_extracted_tags_are_those_the_phantom_verifies(phantom):
    var = phantom.var
    assert {"ibsi_tag", "unit"} <= set(var.columns)
    check = rg.extract.ibsi_check().set_index("ibsi_tag")
    tagged = var[var["ibsi_tag"] != ""]
    assert len(tagged) >= 90
    for name, tag in zip(tagged.index, tagged["ibsi_tag"]):
        # every tag we write is a feature of the IBSI table that passed on the phantom,
        # and the value in the AnnData is the value compared there
        row = check.loc[tag]
        assert row["feature"] == name and row["passed"] and row["claimed"]
        assert float(phantom[:, name].X[0, 0]) == pytest.approx(row["value"], rel=1e-12)
    assert var.loc["original_firstorder_Mean", "unit"] == "HU"
    assert var.loc["original_shape_VoxelVolume", "unit"] == "mm³"
    # the IBSI volume of the phantom (592 mm³ = 74 voxels of 2 x 2 x 2 mm) in its unit
    assert float(phantom[:, "original_shape_VoxelVolume"].X[0, 0]) == 74 * 8


def _features() -> pd.DataFrame:
    rng = np.random.default_rng(1)
    n = 40
    frame = pd.DataFrame(
        rng.normal(100, 10, (n, 4)),
        columns=[
            "original_shape_MeshVolume",
            "original_firstorder_Mean",
            "original_glcm_Contrast",
            "original_firstorder_Variance",
        ],
    )
    frame.insert(0, "patient_id", [f"P{i:02d}" for i in range(n)])
    frame.insert(1, "modality", "CT")
    return frame


def test_units_survive_preprocessing_and_raw_values_stay(tmp_path):
    frame = _features()
    path = tmp_path / "features.csv"
    frame.to_csv(path, index=False)
    radiomics = rg.io.read_radiomics(path)
    clinical = pd.DataFrame(
        {"site": ["a", "b"] * 20, "age": np.arange(40.0)},
        index=pd.Index(radiomics.obs_names, name="patient_id"),
    )
    mdata = rg.build_cohort({"radiomics": radiomics}, clinical=clinical)
    before = mdata["radiomics"].var[["ibsi_tag", "unit"]].copy()
    raw = np.asarray(mdata["radiomics"].X).copy()
    rg.pp.filter_features(mdata, mod="radiomics", min_distinct=2)
    rg.pp.harmonize(mdata, mod="radiomics", batch_key="site")
    rg.pp.scale(mdata, mod="radiomics")
    after = mdata["radiomics"].var
    pd.testing.assert_frame_equal(after[["ibsi_tag", "unit"]], before.loc[after.index])
    np.testing.assert_array_equal(mdata["radiomics"].layers["raw"], raw)
    assert not np.allclose(mdata["radiomics"].X, raw)
    # the cohort file keeps them
    rg.write_cohort(mdata, tmp_path / "cohort.h5mu")
    back = rg.read_cohort(tmp_path / "cohort.h5mu")
    assert list(back["radiomics"].var["unit"]) == list(after["unit"])
    assert back["radiomics"].var.loc["original_firstorder_Mean", "unit"] == "HU"


def test_exported_tables_keep_units_and_tags(tmp_path, phantom):
    frame = _features()
    path = tmp_path / "features.csv"
    frame.to_csv(path, index=False)
    radiomics = rg.io.read_radiomics(path)
    radiomics.uns["radiogenomics"]["ibsi"] = phantom.uns["radiogenomics"]["ibsi"]
    rng = np.random.default_rng(2)
    clinical = pd.DataFrame(
        {
            "os_months": rng.exponential(20, 40),
            "os_event": rng.integers(0, 2, 40),
            "age": rng.normal(60, 8, 40),
        },
        index=pd.Index(radiomics.obs_names, name="patient_id"),
    )
    mdata = rg.build_cohort({"radiomics": radiomics}, clinical=clinical)
    screen = rg.tl.cox_screen(mdata, mod="radiomics", time="os_months", event="os_event")
    out = rg.export.write_table(screen, tmp_path / "screen.csv", cohort=mdata)
    written = pd.read_csv(out, keep_default_na=False)
    units = dict(zip(written["feature"], written["unit"]))
    tags = dict(zip(written["feature"], written["ibsi_tag"]))
    assert units["original_shape_MeshVolume"] == "mm³"
    assert units["original_firstorder_Mean"] == "HU"
    assert units["original_glcm_Contrast"] == ""
    assert tags["original_glcm_Contrast"] == "cm_contrast_3D_avg"
    meta = read_sidecar(out)
    assert meta["ibsi_self_test"]["n_claimed_passed"] >= 95
    assert "unit" not in screen.columns  # the tool's table is not changed
    pq = rg.export.write_table(screen, tmp_path / "screen.parquet", cohort=mdata)
    assert pd.read_parquet(pq)["unit"].tolist() == written["unit"].tolist()
    assoc = pd.DataFrame(
        {
            "x_modality": "radiomics",
            "x": ["original_firstorder_Mean", "original_shape_MeshVolume"],
            "y_modality": "clinical",
            "y": "age",
            "method": "linear",
            "n": 40,
            "estimate": 0.1,
            "std_error": 0.1,
            "statistic": 1.0,
            "p_value": 0.3,
            "q_value": 0.3,
            "ci_lower": -0.1,
            "ci_upper": 0.3,
            "covariates": "",
        }
    )
    out = rg.export.write_table(assoc, tmp_path / "assoc.tsv", cohort=mdata)
    written = pd.read_csv(out, sep="\t", keep_default_na=False)
    assert written["x_unit"].tolist() == ["HU", "mm³"]
    assert written["x_ibsi_tag"].tolist() == ["stat_mean", "morph_volume"]
    assert written["y_unit"].tolist() == ["", ""]
    assert json.loads(Path(str(out) + ".meta.json").read_text())["rows"] == 2
    xlsx = rg.export.write_table(assoc, tmp_path / "assoc.xlsx", cohort=mdata)
    sheet = pd.read_excel(xlsx, sheet_name=0, keep_default_na=False)
    assert sheet["x_unit"].tolist() == ["HU", "mm³"]
