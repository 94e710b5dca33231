"""IBSI self-test on the IBSI 1 digital phantom, IBSI tags and the provenance stamp.

The reference is the IBSI consensus table itself (shipped in the package, and the copy in
../shared/data when present), read here with the csv module, independently of the code.
"""

from __future__ import annotations

import csv
import dataclasses
import math
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from helpers import SHARED_DATA

import radiogenomics as rg
from radiogenomics.cli import main
from radiogenomics.extract import ibsi

PACKAGE_DATA = Path(ibsi.__file__).parent / "ibsi_data"
SHARED_PHANTOM = SHARED_DATA / "dicom" / "ibsi_1_digital_phantom"


def _csv_rows(path: Path) -> dict[str, tuple[str, str]]:
    with open(path, newline="", encoding="utf-8") as handle:
        reader = csv.reader(handle, delimiter=";")
        header = next(reader)
        assert header == ["reference value", "tolerance", "tag"]
        return {tag: (value, tol) for value, tol, tag in reader}


def _agrees(value: float, reference_text: str, tolerance_text: str) -> bool:
    """The IBSI criterion written independently: within the tolerance, or (tolerance 0)
    equal to the reference once rounded to its 3 significant digits."""
    reference, tolerance = float(reference_text), float(tolerance_text)
    if not math.isfinite(value):
        return False
    if tolerance > 0:
        return abs(value - reference) <= tolerance
    return float(f"{value:.3g}") == reference


@pytest.fixture(scope="module")
def check() -> pd.DataFrame:
    return rg.extract.ibsi_check()


def test_shipped_files_match_the_ibsi_release():
    if not SHARED_PHANTOM.exists():
        pytest.skip(f"IBSI phantom not found at {SHARED_PHANTOM}")
    pairs = [
        ("reference_values/ibsi_1_dig_phantom.csv", "ibsi_1_dig_phantom.csv"),
        ("nifti/image/phantom.nii.gz", "phantom.nii.gz"),
        ("nifti/mask/mask.nii.gz", "mask.nii.gz"),
    ]
    for source, shipped in pairs:
        assert (SHARED_PHANTOM / source).read_bytes() == (PACKAGE_DATA / shipped).read_bytes()
    assert "Attribution 4.0" in (PACKAGE_DATA / "LICENSE.md").read_text(encoding="utf-8")


def test_references_are_the_csv_verbatim(check):
    rows = _csv_rows(PACKAGE_DATA / "ibsi_1_dig_phantom.csv")
    assert list(check.columns) == [
        "feature",
        "ibsi_tag",
        "reference",
        "tolerance",
        "value",
        "passed",
        "claimed",
        "note",
    ]
    for row in check.itertuples():
        value_text, tol_text = rows[row.ibsi_tag]
        assert row.reference == float(value_text), row.ibsi_tag
        assert row.tolerance == float(tol_text), row.ibsi_tag
    # every tag with a consensus value that the mapping names is compared, and no other
    mapped = {ibsi.full_tag(e) for e in ibsi.IBSI_FEATURES}
    mapped |= {ibsi.full_tag(e, True) for e in ibsi.IBSI_FEATURES if e.texture}
    expected = {t for t, (v, _) in rows.items() if v.strip() and t in mapped}
    assert set(check["ibsi_tag"]) == expected


def test_passed_is_right_for_every_row(check):
    rows = _csv_rows(PACKAGE_DATA / "ibsi_1_dig_phantom.csv")
    for row in check.itertuples():
        assert row.passed == _agrees(row.value, *rows[row.ibsi_tag]), (row.ibsi_tag, row.value)


def test_goal_and_claims(check):
    claimed = check[check["claimed"]]
    assert len(check) >= 100
    assert int(claimed["passed"].sum()) >= 95
    assert claimed["passed"].all(), claimed.loc[~claimed["passed"], "ibsi_tag"].tolist()
    # rows we do not claim say why
    assert (check.loc[~check["claimed"], "note"].str.len() > 0).all()
    summary = check.attrs["radiogenomics"]
    assert summary["compliant"] and summary["discretisation_ok"]
    assert summary["n_compared"] == len(check)
    assert summary["n_passed"] == int(check["passed"].sum())
    assert summary["versions"]["pyradiomics"]
    # the tags of the issue
    tags = set(check["ibsi_tag"])
    assert {
        "stat_mean",
        "cm_joint_max_3D_avg",
        "rlm_sre_3D_avg",
        "szm_sze_3D",
        "ngl_lde_3D",
        "ngt_coarseness_3D",
        "morph_volume",
        "cm_joint_max_2_5D_avg",
        "szm_sze_2_5D",
        "ngl_glnu_norm_3D",
    } <= tags
    # 2.5-D rows come from the force2D extraction and say so
    assert check.loc[check["ibsi_tag"].str.contains("_2_5D"), "note"].str.contains("force2D").all()


def test_kurtosis_is_excess_kurtosis(check):
    import SimpleITK as sitk
    from scipy import stats

    image = sitk.GetArrayFromImage(sitk.ReadImage(str(PACKAGE_DATA / "phantom.nii.gz")))
    mask = sitk.GetArrayFromImage(sitk.ReadImage(str(PACKAGE_DATA / "mask.nii.gz")))
    values = image[mask == 1].astype(float)
    row = check.set_index("ibsi_tag").loc["stat_kurt"]
    assert row["value"] == pytest.approx(stats.kurtosis(values, fisher=True), rel=1e-9)
    assert row["reference"] == -0.355 and row["passed"]
    assert "minus 3" in row["note"]


def test_wrong_mapping_fails():
    wrong = []
    for entry in ibsi.IBSI_FEATURES:
        if entry.tag == "cm_contrast":  # contrast compared with the joint maximum
            entry = dataclasses.replace(entry, feature="MaximumProbability")
        wrong.append(entry)
    table = rg.extract.ibsi_check(mapping=wrong)
    row = table.set_index("ibsi_tag").loc["cm_contrast_3D_avg"]
    assert not row["passed"] and row["claimed"]
    summary = table.attrs["radiogenomics"]
    assert not summary["compliant"]
    assert "cm_contrast_3D_avg" in summary["failed_claims"]


def test_wrong_mapping_makes_the_command_fail(monkeypatch, capsys):
    assert main(["ibsi-check", "--failures-only"]) == 0
    out = capsys.readouterr().out
    found = re.search(r"(\d+) of (\d+) claimed compliant passed", out)
    assert found and found[1] == found[2] and int(found[1]) >= 95
    swapped = [
        dataclasses.replace(e, convert=None) if e.tag == "stat_kurt" else e
        for e in ibsi.IBSI_FEATURES
    ]
    monkeypatch.setattr(ibsi, "IBSI_FEATURES", tuple(swapped))
    assert main(["ibsi-check"]) == 1
    captured = capsys.readouterr()
    assert "stat_kurt" in captured.err


def test_perturbed_phantom_fails(tmp_path):
    import SimpleITK as sitk

    image = sitk.ReadImage(str(PACKAGE_DATA / "phantom.nii.gz"))
    mask = sitk.GetArrayFromImage(sitk.ReadImage(str(PACKAGE_DATA / "mask.nii.gz")))
    array = sitk.GetArrayFromImage(image)
    first = tuple(np.argwhere(mask == 1)[0])
    array[first] = array[first] + 1  # one voxel one grey level up
    perturbed = sitk.GetImageFromArray(array)
    perturbed.CopyInformation(image)
    path = tmp_path / "perturbed.nii.gz"
    sitk.WriteImage(perturbed, str(path))
    table = rg.extract.ibsi_check(image=path)
    assert not table.attrs["radiogenomics"]["compliant"]
    by_tag = table.set_index("ibsi_tag")
    assert not by_tag.loc["stat_mean", "passed"]
    # shape comes from the mask alone: still passes
    assert by_tag.loc["morph_volume", "passed"]


def test_within_tolerance():
    assert ibsi.within_tolerance(556.33, 556, 4)
    assert not ibsi.within_tolerance(560.5, 556, 4)
    assert ibsi.within_tolerance(2.1486, 2.15, 0)
    assert not ibsi.within_tolerance(2.144, 2.15, 0)
    assert ibsi.within_tolerance(1494.6, 1490, 0)
    assert not ibsi.within_tolerance(1495.1, 1490, 0)
    assert ibsi.within_tolerance(0.0, 0.0, 0) and not ibsi.within_tolerance(0.01, 0.0, 0)
    assert not ibsi.within_tolerance(float("nan"), 1.0, 0)


def test_tags():
    assert rg.extract.ibsi_tag("glcm", "JointAverage") == "cm_joint_avg_3D_avg"
    assert rg.extract.ibsi_tag("glszm", "ZoneEntropy") == "szm_zs_entr_3D"
    assert rg.extract.ibsi_tag("glcm", "JointAverage", force2d=True) == "cm_joint_avg_2_5D_avg"
    assert rg.extract.ibsi_tag("shape", "MeshVolume") == "morph_volume"
    assert rg.extract.ibsi_tag("firstorder", "Kurtosis") == ""  # not the IBSI value
    assert rg.extract.ibsi_tag("shape", "MajorAxisLength") == ""
    assert rg.extract.ibsi_tag("glcm", "MCC") == ""
    assert rg.extract.ibsi_tag("firstorder", "Mean", image_type="wavelet-LLH") == ""


def test_extraction_provenance_carries_the_summary(tmp_path):
    from radiogenomics.cohort import write_h5ad

    manifest = pd.DataFrame(
        {
            "patient_id": ["phantom"],
            "image": [str(PACKAGE_DATA / "phantom.nii.gz")],
            "mask": [str(PACKAGE_DATA / "mask.nii.gz")],
            "label": [1],
        }
    )
    adata = rg.extract.features(manifest, params=ibsi.IBSI_PHANTOM_PARAMS)
    stamp = adata.uns["radiogenomics"]["ibsi"]
    assert stamp["n_claimed_passed"] >= 95 and stamp["compliant"]
    assert stamp["versions"]["pyradiomics"] == adata.uns["radiogenomics"]["pyradiomics_version"]
    path = tmp_path / "phantom.h5ad"
    write_h5ad(adata, path)
    import anndata

    back = anndata.read_h5ad(path)
    assert int(back.uns["radiogenomics"]["ibsi"]["n_compared"]) == stamp["n_compared"]
