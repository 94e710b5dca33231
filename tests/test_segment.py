"""Semi-automatic segmentation: SUV thresholds on a real PET series and region growing,
against numpy/scipy computations of the same rule."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from helpers import SHARED_DATA
from scipy import ndimage

import radiogenomics as rg

STS = SHARED_DATA / "dicom" / "sts" / "nifti" / "STS_001"


@pytest.fixture(scope="module")
def pet():
    if not (STS / "PET_image.nii.gz").exists():
        pytest.skip(f"reference data not found at {STS}")
    import SimpleITK as sitk

    image = sitk.ReadImage(str(STS / "PET_image.nii.gz"))
    expert = sitk.GetArrayFromImage(sitk.ReadImage(str(STS / "PET_mask.nii.gz"))) > 0
    z, y, x = np.nonzero(expert)
    box = ((x.min(), x.max()), (y.min(), y.max()), (z.min(), z.max()))
    return image, sitk.GetArrayFromImage(image).astype(float), expert, box


def _dice(a, b):
    return 2 * (a & b).sum() / (a.sum() + b.sum())


def test_fraction_of_suvmax_in_a_box(pet, tmp_path):
    import SimpleITK as sitk

    image, suv, expert, box = pet
    mask, path = rg.extract.segment(
        image, "suv_fraction", fraction=0.41, box=box, out=tmp_path / "pet_mask.nrrd"
    )
    got = sitk.GetArrayFromImage(mask).astype(bool)
    (x0, x1), (y0, y1), (z0, z1) = box
    inside = np.zeros(suv.shape, bool)
    inside[z0 : z1 + 1, y0 : y1 + 1, x0 : x1 + 1] = True
    # SUVmax of the box, not of the image (the image's hottest voxel is elsewhere)
    assert suv.max() > suv[inside].max()
    rule = inside & (suv >= 0.41 * suv[inside].max())
    labels, _ = ndimage.label(rule)
    largest = labels == np.argmax(np.bincount(labels.ravel())[1:]) + 1
    np.testing.assert_array_equal(got, largest)
    assert mask.GetSpacing() == image.GetSpacing() and mask.GetOrigin() == image.GetOrigin()
    dice = _dice(got, expert)
    print(
        f"41% SUVmax in the expert's box: {got.sum()} voxels, Dice {dice:.3f} with the "
        f"expert contour ({expert.sum()} voxels)"
    )
    assert dice > 0.3
    # the written mask goes into a manifest and extracts
    manifest = pd.DataFrame(
        {"patient_id": ["STS_001"], "image": [str(STS / "PET_image.nii.gz")], "mask": [str(path)]}
    )
    adata = rg.extract.features(
        manifest,
        params={
            "setting": {"binWidth": 0.5, "label": 1},
            "imageType": {"Original": {}},
            "featureClass": {"firstorder": ["Maximum"]},
        },
        n_jobs=1,
    )
    assert adata[:, "original_firstorder_Maximum"].X[0, 0] == pytest.approx(
        suv[inside].max(), rel=1e-5
    )


def test_fixed_suv_threshold_keeps_the_seed_region(pet):
    import SimpleITK as sitk

    image, suv, expert, box = pet
    seed_zyx = np.unravel_index(np.argmax(np.where(expert, suv, -np.inf)), suv.shape)
    seed = tuple(int(v) for v in seed_zyx[::-1])
    mask = sitk.GetArrayFromImage(
        rg.extract.segment(image, "suv", threshold=2.5, seed=seed)
    ).astype(bool)
    labels, _ = ndimage.label(suv >= 2.5)
    np.testing.assert_array_equal(mask, labels == labels[seed_zyx])


def test_region_growing_matches_connected_component_of_the_range():
    import SimpleITK as sitk

    rng = np.random.default_rng(0)
    array = rng.normal(0, 5, (20, 30, 30))
    array[5:12, 8:20, 10:22] += 100  # a bright lesion
    array[14:18, 2:6, 2:6] += 100  # another, not connected
    image = sitk.GetImageFromArray(array)
    image.SetSpacing((0.8, 0.8, 2.0))
    mask = rg.extract.segment(image, "region_growing", seed=(15, 12, 8), lower=60, upper=200)
    got = sitk.GetArrayFromImage(mask).astype(bool)
    labels, _ = ndimage.label((array >= 60) & (array <= 200))  # face connectivity
    np.testing.assert_array_equal(got, labels == labels[8, 12, 15])
    assert got[5:12, 8:20, 10:22].all() and not got[14:18, 2:6, 2:6].any()
    with pytest.raises(rg.errors.InputError, match="starts from a seed"):
        rg.extract.segment(image, "region_growing")
    with pytest.raises(rg.errors.InputError, match="unknown segmentation method"):
        rg.extract.segment(image, "watershed")
    with pytest.raises(rg.errors.InputError, match="outside the image"):
        rg.extract.segment(image, "suv", box=((0, 40), (0, 5), (0, 5)))
    with pytest.raises(rg.errors.InputError, match="empty"):
        rg.extract.segment(image, "suv", threshold=1e6)
