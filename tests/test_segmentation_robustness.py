"""Segmentation robustness: mask perturbations against scipy's morphology, and the ICC
of features re-extracted from real MR cases against pingouin."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from helpers import PYRADIOMICS_CASES, run_cli
from scipy import ndimage

import radiogenomics as rg
from radiogenomics.extract.robustness import _perturb

CASES = ("brain1", "brain2", "breast1")
PARAMS = {
    "setting": {"binWidth": 25, "label": 1},
    "imageType": {"Original": {}},
    "featureClass": {"firstorder": [], "glcm": [], "glszm": []},
}


def _ball(shape=(20, 24, 24), radius=6.5):
    z, y, x = np.indices(shape)
    centre = (np.array(shape) - 1) / 2
    return ((z - centre[0]) ** 2 + (y - centre[1]) ** 2 + (x - centre[2]) ** 2) <= radius**2


def test_erosion_and_dilation_by_one_voxel_are_the_six_connected_morphology():
    mask = _ball()
    spacing = np.array([1.0, 1.0, 1.0])
    cross = ndimage.generate_binary_structure(3, 1)
    eroded = _perturb(mask, spacing, "erode", 1.0, 1.0, 4.0, None)
    dilated = _perturb(mask, spacing, "dilate", 1.0, 1.0, 4.0, None)
    np.testing.assert_array_equal(eroded, ndimage.binary_erosion(mask, cross))
    np.testing.assert_array_equal(dilated, ndimage.binary_dilation(mask, cross))
    # anisotropic voxels: 1 mm moves the contour in-plane (0.8 mm voxels) but not across
    # the 5 mm slices
    spacing = np.array([5.0, 0.8, 0.8])
    in_plane = np.zeros((3, 3, 3), dtype=bool)
    in_plane[1] = ndimage.generate_binary_structure(2, 1)
    np.testing.assert_array_equal(
        _perturb(mask, spacing, "erode", 1.0, 1.0, 4.0, None),
        ndimage.binary_erosion(mask, in_plane),
    )


def test_random_contour_moves_the_boundary_by_about_the_displacement():
    mask = _ball((30, 40, 40), 12.0)
    spacing = np.ones(3)
    rng = np.random.default_rng(0)
    changed = _perturb(mask, spacing, "contour", 1.0, 1.0, 4.0, rng)
    assert changed.sum() != mask.sum()
    # only voxels near the contour change
    inside = ndimage.distance_transform_edt(mask)
    outside = ndimage.distance_transform_edt(~mask)
    flipped = changed != mask
    assert flipped.any()
    assert np.maximum(inside, outside)[flipped].max() <= 5.0  # within a few SDs
    # no displacement gives the mask back
    still = _perturb(mask, spacing, "contour", 1.0, 1e-12, 4.0, np.random.default_rng(1))
    np.testing.assert_array_equal(still, mask)


@pytest.fixture(scope="module")
def mr_robustness(tmp_path_factory):
    if not PYRADIOMICS_CASES.is_dir():
        pytest.skip(f"reference data not found at {PYRADIOMICS_CASES}")
    folder = tmp_path_factory.mktemp("robustness")
    manifest = pd.DataFrame(
        {
            "patient_id": list(CASES),
            "image": [str(PYRADIOMICS_CASES / f"{c}_image.nrrd") for c in CASES],
            "mask": [str(PYRADIOMICS_CASES / f"{c}_label.nrrd") for c in CASES],
        }
    )
    path = folder / "manifest.csv"
    manifest.to_csv(path, index=False)
    cache = folder / "cache"
    table, replicates = rg.extract.robustness(
        path,
        params=PARAMS,
        perturbations=("erode", "contour"),
        n_perturbations=1,
        random_state=0,
        n_jobs=2,
        cache_dir=cache,
        return_replicates=True,
    )
    return folder, path, cache, table, replicates


def test_icc_matches_pingouin_on_the_same_table(mr_robustness):
    pingouin = pytest.importorskip("pingouin")
    _, _, _, table, replicates = mr_robustness
    assert list(table.columns) == rg.extract.robustness.__globals__["ROBUSTNESS_TABLE_COLUMNS"]
    assert (table["n_subjects"] == 3).all() and (table["n_replicates"] == 3).all()
    assert set(replicates.obs["replicate"]) == {"original", "erode", "contour1"}
    indexed = table.set_index("feature")
    for feature in (
        "original_firstorder_Mean",
        "original_firstorder_Skewness",
        "original_glcm_Contrast",
        "original_glszm_SmallAreaEmphasis",
        "original_glszm_ZoneEntropy",
    ):
        long = pd.DataFrame(
            {
                "subject": replicates.obs["subject"].to_numpy(),
                "replicate": replicates.obs["replicate"].to_numpy(),
                "value": replicates[:, feature].X.ravel(),
            }
        )
        reference = pingouin.intraclass_corr(
            long, targets="subject", raters="replicate", ratings="value"
        ).set_index("Type")
        assert indexed.loc[feature, "icc"] == pytest.approx(
            reference.loc["ICC(1,1)", "ICC"], abs=1e-10
        )
        lower, upper = reference.loc["ICC(1,1)", "CI95" if "CI95" in reference else "CI95%"]
        # pingouin rounds its interval to two decimals
        assert indexed.loc[feature, "ci_lower"] == pytest.approx(lower, abs=0.006)
        assert indexed.loc[feature, "ci_upper"] == pytest.approx(upper, abs=0.006)
    assert (table["icc_kind"] == "ICC(1,1)").all()
    assert (table["robust"] == (table["icc"] >= 0.75)).all()


def test_intensity_means_are_robust_and_small_roi_texture_less_so(mr_robustness):
    table = mr_robustness[3].set_index("feature")
    means = [
        "original_firstorder_Mean",
        "original_firstorder_Median",
        "original_firstorder_RootMeanSquared",
    ]
    print(table.loc[means, ["icc", "ci_lower", "ci_upper"]])
    assert (table.loc[means, "icc"] > 0.95).all() and table.loc[means, "robust"].all()
    texture = table[table["feature_class"].isin(["glcm", "glszm"])]
    print(
        f"median ICC: intensity means {table.loc[means, 'icc'].median():.3f}, "
        f"texture {texture['icc'].median():.3f}; robust texture features "
        f"{int(texture['robust'].sum())} of {len(texture)}"
    )
    assert texture["icc"].median() < table.loc[means, "icc"].min()
    assert (~texture["robust"]).any()


def test_rerun_reuses_masks_and_the_extraction_cache(mr_robustness):
    _, path, cache, table, _ = mr_robustness
    masks = sorted((cache / "perturbed_masks").glob("*.nrrd"))
    assert len(masks) == 2 * len(CASES)
    stamps = [m.stat().st_mtime_ns for m in masks]
    again, replicates = rg.extract.robustness(
        path,
        params=PARAMS,
        perturbations=("erode", "contour"),
        n_perturbations=1,
        random_state=0,
        n_jobs=1,
        cache_dir=cache,
        return_replicates=True,
    )
    assert replicates.uns["radiogenomics"]["n_from_cache"] == 3 * len(CASES)
    assert [m.stat().st_mtime_ns for m in masks] == stamps
    pd.testing.assert_frame_equal(again, table)


def test_cli_writes_the_table(mr_robustness):
    folder, path, cache, table, _ = mr_robustness
    params = folder / "params.json"
    import json

    params.write_text(json.dumps(PARAMS))
    out = folder / "robustness.csv"
    result = run_cli(
        "robustness",
        str(path),
        "--out",
        str(out),
        "--params",
        str(params),
        "--perturbations",
        "erode,contour",
        "--n-perturbations",
        "1",
        "--jobs",
        "1",
        "--cache",
        str(cache),
    )
    assert result.returncode == 0, result.stderr
    assert "features robust" in result.stdout
    written = pd.read_csv(out)
    np.testing.assert_allclose(written["icc"], table["icc"], rtol=1e-12)
    assert list(written["feature"]) == list(table["feature"])


def test_refused_settings(tmp_path):
    frame = pd.DataFrame({"patient_id": ["a"], "image": ["i.nrrd"], "mask": ["m.nrrd"]})
    with pytest.raises(rg.errors.InputError, match="unknown mask perturbation"):
        rg.extract.robustness(frame, perturbations=("shrink",), mask_dir=tmp_path)
    with pytest.raises(rg.errors.InputError, match="length in millimetres"):
        rg.extract.robustness(frame, distance=-1.0, mask_dir=tmp_path)
    with pytest.raises(rg.errors.InputError, match="unknown icc"):
        rg.extract.robustness(frame, icc="icc_3_1", mask_dir=tmp_path)


def test_replicates_feed_the_robust_feature_filter(mr_robustness):
    import anndata as ad
    import mudata as md

    _, _, _, table, replicates = mr_robustness
    originals = replicates[replicates.obs["replicate"] == "original"]
    radiomics = ad.AnnData(
        np.asarray(originals.X),
        obs=pd.DataFrame(index=list(originals.obs["subject"])),
        var=pd.DataFrame(index=replicates.var_names),
    )
    mdata = md.MuData({"radiomics": radiomics})
    filtered = rg.pp.robust_features(
        mdata, mod="radiomics", replicates=replicates, icc="icc_1_1", subset=True
    )
    np.testing.assert_allclose(filtered["icc_1_1"], table["icc"], rtol=1e-10)
    assert list(mdata["radiomics"].var_names) == list(table.loc[table["robust"], "feature"])
