"""Features from DICOM series + RTSTRUCT/SEG masks, through the manifest, the cache and the CLI."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from helpers import SHARED_DATA

from radiogenomics import extract
from radiogenomics.cli import main
from radiogenomics.errors import InputError
from radiogenomics.io.dicom import check_manifest_masks

STS = SHARED_DATA / "dicom" / "sts"
MODALITIES = ("CT", "MR_T1", "PET")
pytestmark = pytest.mark.skipif(not STS.is_dir(), reason=f"shared DICOM data absent: {STS}")


def _dicom_manifest(patient="STS_001", modalities=MODALITIES, roi=True) -> pd.DataFrame:
    folder = STS / "dicom" / patient
    return pd.DataFrame(
        {
            "patient_id": [patient] * len(modalities),
            "lesion_id": list(modalities),
            "image": [str(folder / m / "image") for m in modalities],
            "mask": [str(folder / m / "mask" / "RS.dcm") for m in modalities],
            "roi": [f"GTV_Mass_{m}" if roi else "" for m in modalities],
        }
    )


def _pyradiomics(image, mask, params):
    from radiomics import featureextractor

    result = featureextractor.RadiomicsFeatureExtractor(params).execute(str(image), str(mask))
    return {k: float(v) for k, v in result.items() if not k.startswith("diagnostics_")}


def test_features_from_rtstruct_equal_pyradiomics_on_nifti(tmp_path):
    """DICOM + RTSTRUCT through extract.features == pyradiomics on the NIfTI image + mask.

    The NIfTI image and the voxel mask are the independent (IBSI) conversion of the same
    series and contour; our rasterisation matches that mask voxel for voxel (Dice 1).
    """
    params = extract.resolve_params("default")
    manifest = _dicom_manifest()
    adata = extract.features(manifest, params="default", n_jobs=2, cache_dir=tmp_path)
    assert adata.uns["radiogenomics"]["n_failed"] == 0
    for modality in MODALITIES:
        reference = _pyradiomics(
            STS / "nifti" / "STS_001" / f"{modality}_image.nii.gz",
            STS / "nifti" / "STS_001" / f"{modality}_mask.nii.gz",
            params,
        )
        row = adata[f"STS_001|{modality}"]
        ours = dict(zip(adata.var_names, np.asarray(row.X).ravel()))
        assert set(ours) == set(reference)
        names = sorted(reference)
        np.testing.assert_allclose(
            [ours[n] for n in names],
            [reference[n] for n in names],
            rtol=1e-6,
            atol=1e-9,
            err_msg=modality,
        )

    table = adata.uns["radiogenomics"]["conversion"]
    assert list(table["roi"]) == [f"GTV_Mass_{m}" for m in MODALITIES]
    assert list(table["source"]) == ["RTSTRUCT"] * 3
    assert list(table["modality"]) == ["CT", "MR", "PT"]
    assert list(table["n_contours"]) == [32, 32, 32]
    import SimpleITK as sitk

    for modality, n_voxels, volume in zip(MODALITIES, table["n_voxels"], table["volume_mm3"]):
        mask = sitk.ReadImage(str(STS / "nifti" / "STS_001" / f"{modality}_mask.nii.gz"))
        expected = int(sitk.GetArrayFromImage(mask).sum())
        assert n_voxels == expected
        assert volume == pytest.approx(expected * np.prod(mask.GetSpacing()), rel=1e-5)
    assert all("stale references" in w for w in table["warnings"])

    # the cache gives the same values and report; another roi spelling is another case
    again = extract.features(manifest, params="default", cache_dir=tmp_path)
    assert again.uns["radiogenomics"]["n_from_cache"] == 3
    np.testing.assert_array_equal(again.X, adata.X)
    pd.testing.assert_frame_equal(again.uns["radiogenomics"]["conversion"], table)
    regex = manifest.assign(roi="GTV_Mass_.*")
    third = extract.features(regex.iloc[:1], params="default", cache_dir=tmp_path)
    assert third.uns["radiogenomics"]["n_from_cache"] == 0
    np.testing.assert_allclose(third.X[0], adata.X[0], rtol=1e-12)


def test_conversion_table_survives_h5ad(tmp_path):
    import anndata as ad

    from radiogenomics.cohort import write_h5ad

    adata = extract.features(_dicom_manifest(modalities=("PET",)), params="default")
    write_h5ad(adata, tmp_path / "features.h5ad")
    table = ad.read_h5ad(tmp_path / "features.h5ad").uns["radiogenomics"]["conversion"]
    assert table.loc[table.index[0], "roi"] == "GTV_Mass_PET"
    assert int(table["n_voxels"].iloc[0]) == 5095


def test_bad_roi_and_roi_without_dicom_mask_are_case_failures(tmp_path):
    manifest = _dicom_manifest(modalities=("PET",))
    nifti = STS / "nifti" / "STS_001"
    manifest = pd.concat(
        [
            manifest.assign(roi="GTV_Body"),
            pd.DataFrame(
                {
                    "patient_id": ["STS_001"],
                    "lesion_id": ["nifti"],
                    "image": [str(nifti / "PET_image.nii.gz")],
                    "mask": [str(nifti / "PET_mask.nii.gz")],
                    "roi": ["GTV"],
                }
            ),
        ],
        ignore_index=True,
    )
    with pytest.raises(Exception, match="every case failed") as info:
        extract.features(manifest, params="default")
    failures = info.value.failures
    assert list(failures["stage"]) == ["read mask", "read mask"]
    assert "no ROI 'GTV_Body'" in failures["error"].iloc[0]
    assert "not an RTSTRUCT or SEG" in failures["error"].iloc[1]


def test_validate_manifest_checks_dicom_masks(tmp_path, capsys):
    manifest = _dicom_manifest()
    path = tmp_path / "manifest.csv"
    manifest.to_csv(path, index=False)
    assert main(["validate", "manifest", str(path)]) == 0
    assert "3 RTSTRUCT/SEG mask(s) refer to their image series" in capsys.readouterr().out

    crossed = manifest.copy()
    crossed.loc[1, "image"] = str(STS / "dicom" / "STS_002" / "MR_T1" / "image")
    crossed.to_csv(path, index=False)
    assert main(["validate", "manifest", str(path)]) == 2
    err = capsys.readouterr().err
    assert "line 3, column 'mask'" in err
    assert "refers neither to the image's series nor to its frame of reference" in err

    wrong_roi = manifest.assign(roi=["GTV_Mass_CT", "Liver", "GTV_Mass_PET"])
    with pytest.raises(InputError, match="line 3.*column 'roi'.*no ROI 'Liver'.*GTV_Mass_MR_T1"):
        check_manifest_masks(wrong_roi, path)

    nifti_image = manifest.copy()
    nifti_image.loc[0, "image"] = str(STS / "nifti" / "STS_001" / "CT_image.nii.gz")
    with pytest.raises(InputError, match="line 2, column 'image'.*needs a DICOM series folder"):
        check_manifest_masks(nifti_image, path)


def test_manifest_roi_column_is_read_as_text(tmp_path):
    from radiogenomics.io import read_manifest

    path = tmp_path / "manifest.csv"
    pd.DataFrame(
        {"patient_id": ["a"], "image": ["img"], "mask": ["seg.dcm"], "segment": ["1"]}
    ).to_csv(path, index=False)
    frame = read_manifest(path)
    assert frame["roi"].tolist() == ["1"]
    assert json.dumps(frame["roi"].tolist()) == '["1"]'


def test_cohort_page_shows_the_conversion_report(tmp_path):
    import json as _json

    import radiogenomics as rg
    from dashboards.pages import overview
    from dashboards.results import Results

    adata = extract.features(
        _dicom_manifest(modalities=("PET",)).drop(columns="lesion_id"), params="default"
    )
    mdata = rg.build_cohort({"radiomics": adata})
    layout = overview._layout(Results(source=tmp_path, mdata=mdata))
    text = _json.dumps(
        layout.to_plotly_json(), default=lambda o: getattr(o, "to_plotly_json", lambda: str(o))()
    )
    assert "DICOM conversion: 1 masks from RTSTRUCT/SEG" in text
    assert "GTV_Mass_PET" in text and "5095" in text
