"""scan_dicom and 'radiogenomics scan': a folder tree of any shape -> manifest, nothing dropped."""

from __future__ import annotations

import json
import shutil

import anndata as ad
import numpy as np
import pandas as pd
import pytest
from helpers import SHARED_DATA

from radiogenomics.cli import main
from radiogenomics.errors import InputError
from radiogenomics.io import read_manifest, scan_dicom

STS = SHARED_DATA / "dicom" / "sts" / "dicom"
pytestmark = pytest.mark.skipif(not STS.is_dir(), reason=f"shared DICOM data absent: {STS}")


@pytest.fixture
def tree(tmp_path):
    """An IDC-like tree: hashed folder and file names, segmentations in their own folders."""
    root = tmp_path / "idc"
    for patient, modality, folder in (
        ("STS_002", "PET", "a3f9"),
        ("STS_002", "CT", "77c1"),
        ("STS_001", "PET", "e02b"),
    ):
        target = root / patient / "study" / folder
        target.mkdir(parents=True)
        for i, file in enumerate(sorted((STS / patient / modality / "image").glob("*.dcm"))):
            shutil.copy(file, target / f"{(i * 7919) % 1000:03x}{i}")  # no order, no suffix
    (root / "STS_002" / "study" / "rs01").mkdir()
    shutil.copy(
        STS / "STS_002" / "PET" / "mask" / "RS.dcm", root / "STS_002" / "study" / "rs01" / "1-1.dcm"
    )
    # an RTSTRUCT whose series is not in the tree
    (root / "STS_003").mkdir()
    shutil.copy(STS / "STS_003" / "MR_T1" / "mask" / "RS.dcm", root / "STS_003" / "RS.dcm")
    (root / "STS_002" / "notes.txt").write_text("not DICOM")
    (root / "broken.dcm").write_bytes(b"\0" * 128 + b"DICM" + b"\x02\x00")
    return root


def test_scan_pairs_series_and_lists_the_rest(tree):
    result = scan_dicom(tree)
    manifest = result.manifest
    assert manifest[["patient_id", "roi", "modality"]].values.tolist() == [
        ["STS_002", "GTV_Mass_PET", "PT"]
    ]
    assert manifest["image"].iloc[0] == str(tree / "STS_002" / "study" / "a3f9")
    assert manifest["mask"].iloc[0] == str(tree / "STS_002" / "study" / "rs01" / "1-1.dcm")
    assert manifest["study_date"].iloc[0] == "20060128"
    assert manifest["series_description"].iloc[0] == "IBSI_1_STS_002_PET_image"
    assert sorted(result.unreadable["path"]) == [
        str(tree / "STS_002" / "notes.txt"),
        str(tree / "broken.dcm"),
    ]
    lonely = result.series_without_segmentation
    assert sorted(zip(lonely["patient_id"], lonely["modality"], lonely["n_files"])) == [
        ("STS_001", "PT", 59),
        ("STS_002", "CT", 48),
    ]
    orphans = result.segmentations_without_series
    assert orphans["path"].tolist() == [str(tree / "STS_003" / "RS.dcm")]
    assert "is not in the tree" in orphans["reason"].iloc[0]
    text = result.summary()
    assert "2 unreadable or non-DICOM file(s)" in text
    assert "2 image series without a segmentation" in text
    assert "1 segmentation(s) without their series" in text


def test_scan_filters(tree):
    assert len(scan_dicom(tree, modality="CT").manifest) == 0
    assert len(scan_dicom(tree, modality="PET").manifest) == 1
    filtered = scan_dicom(tree, roi="liver")
    assert len(filtered.manifest) == 0
    assert "no ROI matches 'liver'" in " ".join(filtered.segmentations_without_series["reason"])
    assert len(scan_dicom(tree, roi="gtv_mass").manifest) == 1  # any case, anywhere
    with pytest.raises(InputError, match="invalid regular expression"):
        scan_dicom(tree, roi="(")
    with pytest.raises(InputError, match="does not exist"):
        scan_dicom(tree / "absent")


def test_scan_several_rois_and_series_get_lesion_ids():
    result = scan_dicom(STS / "STS_001")
    manifest = result.manifest
    assert manifest["lesion_id"].tolist() == [
        "CT_GTV_Mass_CT",
        "MR_GTV_Mass_MR_T1",
        "PT_GTV_Mass_PET",
    ]
    assert manifest["series_uid"].is_unique
    assert len(result.series_without_segmentation) == 0


def test_cli_scan_validate_extract(tree, tmp_path, capsys):
    out = tmp_path / "manifest.csv"
    assert main(["scan", str(tree), "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "1 image series x ROI row(s)" in printed and "Wrote" in printed
    side = json.loads((tmp_path / "manifest.csv.scan.json").read_text())
    assert len(side["unreadable"]) == 2 and len(side["segmentations_without_series"]) == 1
    frame = read_manifest(out)
    assert frame["roi"].tolist() == ["GTV_Mass_PET"]
    assert main(["validate", "manifest", str(out)]) == 0
    features = tmp_path / "features.h5ad"
    assert main(["extract", str(out), "--out", str(features), "--jobs", "1", "--no-progress"]) == 0
    adata = ad.read_h5ad(features)
    assert list(adata.obs_names) == ["STS_002"]
    table = adata.uns["radiogenomics"]["conversion"]
    assert int(table["n_voxels"].iloc[0]) == 555  # the independent mask's voxel count
    volume = adata[:, "original_shape_VoxelVolume"].X.ravel()[0]
    assert volume == pytest.approx(float(table["volume_mm3"].iloc[0]), rel=1e-9)
    assert np.isfinite(adata.X).all()
    empty = tmp_path / "none.csv"
    assert main(["scan", str(tree), "--out", str(empty), "--modality", "MR"]) == 2
    assert "nothing written" in capsys.readouterr().err and not empty.exists()
    assert isinstance(pd.read_csv(out), pd.DataFrame)


@pytest.mark.filterwarnings("ignore::UserWarning")
def test_scan_pairs_seg_and_extracts_it_like_the_rtstruct(tree):
    import highdicom as hd
    import pydicom
    import SimpleITK as sitk
    from pydicom.sr.codedict import codes
    from scipy import ndimage

    from radiogenomics import extract

    series_folder = tree / "STS_002" / "study" / "a3f9"
    sources = [pydicom.dcmread(f) for f in series_folder.iterdir()]
    sources.sort(key=lambda ds: float(ds.ImagePositionPatient[2]))  # axial: z is the normal
    reference = STS.parent / "nifti" / "STS_002" / "PET_mask.nii.gz"
    tumour = sitk.GetArrayFromImage(sitk.ReadImage(str(reference))) > 0
    ring = ndimage.binary_dilation(tumour, iterations=1) & ~tumour
    descriptions = [
        hd.seg.SegmentDescription(
            i + 1,
            label,
            codes.SCT.MorphologicallyAbnormalStructure,
            codes.SCT.Neoplasm,
            hd.seg.SegmentAlgorithmTypeValues.MANUAL,
        )
        for i, label in enumerate(["tumour", "ring"])
    ]
    seg = hd.seg.Segmentation(
        sources,
        np.stack([tumour, ring], -1).astype(np.uint8),
        hd.seg.SegmentationTypeValues.BINARY,
        descriptions,
        hd.UID(),
        2,
        hd.UID(),
        1,
        "radiogenomics",
        "tests",
        "1",
        "0",
    )
    (tree / "STS_002" / "seg").mkdir()
    seg.save_as(tree / "STS_002" / "seg" / "x.dcm")

    manifest = scan_dicom(tree).manifest
    assert manifest["roi"].tolist() == ["GTV_Mass_PET", "ring", "tumour"]
    assert manifest["lesion_id"].tolist() == ["PT_GTV_Mass_PET", "PT_ring", "PT_tumour"]
    chosen = manifest[manifest["roi"] != "ring"]
    adata = extract.features(chosen, params="default")
    np.testing.assert_allclose(adata.X[0], adata.X[1], rtol=1e-12)
    table = adata.uns["radiogenomics"]["conversion"]
    assert table["source"].tolist() == ["RTSTRUCT", "SEG"]
    assert table["n_voxels"].tolist() == [555, 555]


def test_scan_conversion_report_without_extracting(tree):
    table = scan_dicom(tree).conversion_report()
    assert table[["patient_id", "source", "roi", "modality"]].values.tolist() == [
        ["STS_002", "RTSTRUCT", "GTV_Mass_PET", "PT"]
    ]
    assert int(table["n_voxels"].iloc[0]) == 555  # the independent mask's voxel count
    assert int(table["n_contours"].iloc[0]) == 16
    assert "stale references" in table["warnings"].iloc[0]


def test_series_sharing_a_folder_are_told_apart_by_series_uid(tmp_path):
    from radiogenomics import extract
    from radiogenomics.io.dicom import check_manifest_masks

    folder = tmp_path / "study"
    folder.mkdir()
    for modality in ("CT", "PET"):
        for file in (STS / "STS_002" / modality / "image").glob("*.dcm"):
            shutil.copy(file, folder / f"{modality}_{file.name}")
    shutil.copy(STS / "STS_002" / "PET" / "mask" / "RS.dcm", folder / "RS.dcm")
    result = scan_dicom(tmp_path)
    manifest = result.manifest
    assert manifest["image"].tolist() == [str(folder)]
    assert result.series_without_segmentation["modality"].tolist() == ["CT"]
    path = tmp_path / "manifest.csv"
    manifest.to_csv(path, index=False)
    frame = read_manifest(path)
    assert check_manifest_masks(frame, path) == 1
    with pytest.raises(InputError, match="does not hold exactly one DICOM series"):
        check_manifest_masks(frame.drop(columns="series_uid"), path)
    adata = extract.features(path, params="default")
    assert adata.n_obs == 1
    assert int(adata.uns["radiogenomics"]["conversion"]["n_voxels"].iloc[0]) == 555
