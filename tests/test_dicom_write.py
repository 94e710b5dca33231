"""Writing DICOM series and RTSTRUCTs (the demo's DICOM path), read back by the readers."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import SimpleITK as sitk
from helpers import SHARED_DATA

from radiogenomics.io import conversion_report, read_dicom_series, read_rtstruct
from radiogenomics.io.dicom import mask_contours, write_dicom_series, write_rtstruct
from radiogenomics.io.dicom.rtstruct import fill_polygon

STS = SHARED_DATA / "dicom" / "sts"


@pytest.mark.parametrize("seed", range(5))
def test_mask_contours_fill_back_to_the_mask(seed):
    rng = np.random.default_rng(seed)
    mask = rng.random((13, 17)) < 0.5  # many islands, holes and diagonal touches
    filled = np.zeros_like(mask)
    for polygon in mask_contours(mask):
        filled ^= fill_polygon(polygon[:, 0], polygon[:, 1], mask.shape)
    np.testing.assert_array_equal(filled, mask)


def test_series_written_and_read_back(tmp_path):
    rng = np.random.default_rng(0)
    array = rng.normal(100, 30, size=(6, 9, 11)).astype(np.float32)
    image = sitk.GetImageFromArray(array)
    image.SetSpacing((0.7, 0.9, 2.5))
    image.SetOrigin((-10.0, 5.0, 30.0))
    write_dicom_series(image, tmp_path / "ct", patient_id="P1")
    back = read_dicom_series(tmp_path / "ct")
    np.testing.assert_allclose(back.GetSpacing(), (0.7, 0.9, 2.5))
    np.testing.assert_allclose(back.GetOrigin(), (-10.0, 5.0, 30.0))
    step = (array.max() - array.min()) / 65000
    np.testing.assert_allclose(sitk.GetArrayFromImage(back), array, atol=step)


@pytest.mark.skipif(not STS.is_dir(), reason=f"shared DICOM data absent: {STS}")
def test_rtstruct_written_from_the_reference_mask_reads_back_exactly(tmp_path):
    folder = STS / "dicom" / "STS_002" / "PET" / "image"
    reference = sitk.ReadImage(str(STS / "nifti" / "STS_002" / "PET_mask.nii.gz"))
    series = read_dicom_series(folder)
    reference.CopyInformation(series)
    path = write_rtstruct(reference, folder, tmp_path / "rs.dcm", roi_name="tumour")
    mask = read_rtstruct(path, folder, roi="tumour")
    np.testing.assert_array_equal(sitk.GetArrayFromImage(mask), sitk.GetArrayFromImage(reference))
    assert conversion_report(mask)["warnings"] == []  # its image references are right


def test_demo_dicom_tree_gives_the_nifti_shape_features(tmp_path):
    from radiogenomics import extract
    from radiogenomics.datasets import write_demo_files
    from radiogenomics.datasets.dicom import demo_dicom_manifest

    paths = write_demo_files(tmp_path / "inputs", n_patients=12, random_state=1)
    nifti = pd.read_csv(paths["manifest"]).head(2)
    nifti["image"] = [str(tmp_path / "inputs" / p) for p in nifti["image"]]
    nifti["mask"] = [str(tmp_path / "inputs" / p) for p in nifti["mask"]]
    subset = tmp_path / "subset.csv"
    nifti.to_csv(subset, index=False)
    manifest = demo_dicom_manifest(subset, tmp_path / "dicom")
    assert sorted(manifest["patient_id"]) == sorted(nifti["patient_id"])
    ours = extract.features(manifest, params="demo")
    reference = extract.features(subset, params="demo")[ours.obs_names]
    shape = [n for n in ours.var_names if "_shape_" in n]
    np.testing.assert_allclose(ours[:, shape].X, reference[:, shape].X, rtol=1e-9)
    # intensities are stored in 16 bits: first-order features within the quantisation
    mean = "original_firstorder_Mean"
    np.testing.assert_allclose(ours[:, mean].X, reference[:, mean].X, rtol=1e-4)


def test_oblique_series_rtstruct_round_trip(tmp_path):
    """An oblique MR-like grid: no slice dropped, the mask back voxel for voxel."""
    angle = np.deg2rad(25)
    row = np.array([np.cos(angle), 0.0, np.sin(angle)])
    column = np.array([0.0, 1.0, 0.0])
    normal = np.cross(row, column)
    rng = np.random.default_rng(4)
    image = sitk.GetImageFromArray(rng.integers(0, 500, size=(7, 12, 10)).astype(np.int16))
    image.SetSpacing((0.8, 0.8, 3.3))
    image.SetOrigin((12.0, -40.0, 7.5))
    image.SetDirection(tuple(np.column_stack([row, column, normal]).ravel()))
    write_dicom_series(image, tmp_path / "mr", patient_id="P1", modality="MR")
    series = read_dicom_series(tmp_path / "mr")
    assert series.GetSize() == (10, 12, 7)
    np.testing.assert_allclose(series.GetDirection(), image.GetDirection(), atol=1e-9)
    np.testing.assert_array_equal(sitk.GetArrayFromImage(series), sitk.GetArrayFromImage(image))
    truth = np.zeros((7, 12, 10), np.uint8)
    truth[1:6, 3:9, 2:8] = 1
    truth[3, 5:7, 4:6] = 0  # a hole on one slice
    mask = sitk.GetImageFromArray(truth)
    mask.CopyInformation(series)
    path = write_rtstruct(mask, tmp_path / "mr", tmp_path / "rs.dcm")
    back = read_rtstruct(path, series)
    np.testing.assert_array_equal(sitk.GetArrayFromImage(back), truth)
    report = conversion_report(back)
    assert report["n_slices"] == 5 and report["n_holes"] == 1
