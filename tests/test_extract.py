"""Feature extraction: pyradiomics baseline, inputs, settings, executors, faults, cache."""

from __future__ import annotations

import ast
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from radiogenomics.errors import ExtractionError, InputError

sitk = pytest.importorskip("SimpleITK")
featureextractor = pytest.importorskip("radiomics.featureextractor")

from radiogenomics import extract  # noqa: E402
from radiogenomics.cli import main  # noqa: E402
from radiogenomics.extract import case as case_module  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
REAL_CASES = ("brain1", "brain2", "breast1")


# --------------------------------------------------------------------------- helpers


def _reference(image, mask, params: dict, label: int = 1) -> dict:
    """Feature values straight from pyradiomics (the independent reference)."""
    extractor = featureextractor.RadiomicsFeatureExtractor(json.loads(json.dumps(params)))
    result = extractor.execute(str(image), str(mask), label=label)
    return {k: float(v) for k, v in result.items() if not k.startswith("diagnostics_")}


def _assert_row_matches(adata, obs_name: str, reference: dict, rtol: float = 1e-9) -> None:
    row = adata[obs_name].X.ravel()
    values = dict(zip(adata.var_names, row))
    assert set(values) == set(reference)
    for name, expected in reference.items():
        assert values[name] == pytest.approx(expected, rel=rtol, abs=1e-12), name


def _write(array: np.ndarray, path: Path, spacing=(1.0, 1.0, 2.0), origin=(0.0, 0.0, 0.0)):
    image = sitk.GetImageFromArray(array)
    image.SetSpacing(spacing)
    image.SetOrigin(origin)
    path.parent.mkdir(parents=True, exist_ok=True)
    sitk.WriteImage(image, str(path))
    return path


def _phantom(seed: int = 0, shape=(16, 32, 32)) -> tuple[np.ndarray, np.ndarray]:
    """A small textured image (int16) and a two-lesion label map (labels 1 and 2)."""
    rng = np.random.default_rng(seed)
    z, y, x = np.indices(shape)
    image = (200 + 40 * rng.standard_normal(shape)).astype(np.int16)
    mask = np.zeros(shape, np.uint8)
    first = (z - 8) ** 2 / 16 + (y - 10) ** 2 / 36 + (x - 10) ** 2 / 36 <= 1
    second = (z - 8) ** 2 / 9 + (y - 22) ** 2 / 16 + (x - 22) ** 2 / 25 <= 1
    image[first] += 150
    image[second] -= 80
    mask[first] = 1
    mask[second] = 2
    return image, mask


def _write_dicom_series(array: np.ndarray, folder: Path, spacing=(1.0, 1.0, 2.0)) -> Path:
    """Write a 3-D int16 array as a DICOM MR series, one file per slice."""
    folder.mkdir(parents=True)
    volume = sitk.GetImageFromArray(array)
    volume.SetSpacing(spacing)
    writer = sitk.ImageFileWriter()
    writer.KeepOriginalImageUIDOn()
    series = "1.2.826.0.1.3680043.2.1125.1.42"
    for k in range(volume.GetDepth()):
        image_slice = volume[:, :, k]
        position = volume.TransformIndexToPhysicalPoint((0, 0, k))
        tags = {
            "0008|0060": "MR",
            "0008|0016": "1.2.840.10008.5.1.4.1.1.4",
            "0008|0018": f"{series}.{k + 1}",
            "0010|0020": "PHANTOM",
            "0020|000d": "1.2.826.0.1.3680043.2.1125.1.41",
            "0020|000e": series,
            "0020|0013": str(k + 1),
            "0020|0032": "\\".join(f"{v:.6f}" for v in position),
            "0020|0037": "1\\0\\0\\0\\1\\0",
            "0018|0050": str(spacing[2]),
            "0028|0030": f"{spacing[1]}\\{spacing[0]}",
        }
        for tag, value in tags.items():
            image_slice.SetMetaData(tag, value)
        writer.SetFileName(str(folder / f"slice{k:03d}.dcm"))
        writer.Execute(image_slice)
    return folder


@pytest.fixture(scope="module")
def phantom(tmp_path_factory):
    folder = tmp_path_factory.mktemp("phantom")
    image, mask = _phantom()
    return {
        "folder": folder,
        "image": _write(image, folder / "image.nrrd"),
        "mask": _write(mask, folder / "mask.nrrd"),
        "array": image,
        "labels": mask,
    }


@pytest.fixture
def demo_rows(demo_build):
    """The first rows of the demo manifest, as a manifest DataFrame with absolute paths."""
    folder, paths, _ = demo_build
    manifest = pd.read_csv(paths["manifest"], dtype={"patient_id": str, "lesion_id": str})
    for column in ("image", "mask"):
        manifest[column] = [str((folder / p).resolve()) for p in manifest[column]]
    return manifest


# --------------------------------------------------------------------------- correctness


def _baseline_groups(folder: Path) -> dict:
    """{(case, settings literal): {feature class: Series of baseline values}}."""
    groups: dict = {}
    for path in sorted(folder.glob("baseline_*.csv")):
        table = pd.read_csv(path, index_col=0)
        feature_class = path.stem.removeprefix("baseline_")
        for case in REAL_CASES:
            if case not in table.columns:
                continue
            settings = table.loc["diagnostics_Configuration_Settings", case]
            image_types = table.loc["diagnostics_Configuration_EnabledImageTypes", case]
            values = table[case][table.index.str.startswith("original_")]
            groups.setdefault((case, settings, image_types), {})[feature_class] = values
    return groups


def test_matches_pyradiomics_baseline(shared_cases):
    """Every original_* feature of brain1, brain2 and breast1 within 1e-3 of the baseline."""
    groups = _baseline_groups(shared_cases)
    assert {case for case, _, _ in groups} == set(REAL_CASES)
    compared = {case: 0 for case in REAL_CASES}
    for (case, settings, image_types), classes in groups.items():
        params = {
            "setting": ast.literal_eval(settings),
            "imageType": ast.literal_eval(image_types),
            "featureClass": {name: [] for name in classes},
        }
        manifest = pd.DataFrame(
            {
                "patient_id": [case],
                "image": [str(shared_cases / f"{case}_image.nrrd")],
                "mask": [str(shared_cases / f"{case}_label.nrrd")],
            }
        )
        adata = extract.features(manifest, params=params)
        assert adata.uns["radiogenomics"]["n_failed"] == 0
        got = dict(zip(adata.var_names, adata.X[0]))
        for values in classes.values():
            for name, expected in values.items():
                expected = float(expected)
                assert name in got, f"{case}: {name} not extracted"
                relative = abs(got[name] - expected) / max(abs(expected), 1e-12)
                assert relative <= 1e-3, f"{case} {name}: {got[name]} vs baseline {expected}"
                compared[case] += 1
    # shape, firstorder and the five texture classes: about a hundred features per case
    assert min(compared.values()) >= 100, compared


def test_cli_on_the_real_cases_with_a_broken_case(shared_cases, tmp_path, capsys):
    import anndata

    rows = [
        (case, shared_cases / f"{case}_image.nrrd", shared_cases / f"{case}_label.nrrd", 1)
        for case in REAL_CASES
    ]
    rows.insert(1, ("brain1-wrong-label", rows[0][1], rows[0][2], 2))
    pd.DataFrame(rows, columns=["patient_id", "image", "mask", "label"]).to_csv(
        tmp_path / "manifest.csv", index=False
    )
    out = tmp_path / "features.h5ad"
    status = main(["extract", str(tmp_path / "manifest.csv"), "--out", str(out), "--jobs", "2"])
    printed = capsys.readouterr().out
    assert status == 1
    assert "Extracted 3 of 4 cases" in printed
    assert "brain1-wrong-label (label 2) at check mask: label 2 is not in the mask" in printed
    written = anndata.read_h5ad(out)
    assert list(written.obs_names) == list(REAL_CASES)
    baseline = pd.read_csv(shared_cases / "baseline_firstorder.csv", index_col=0)
    for case in REAL_CASES:  # the default preset is the baseline's firstorder setting
        expected = float(baseline.loc["original_firstorder_Entropy", case])
        got = float(written[case, "original_firstorder_Entropy"].X[0, 0])
        assert got == pytest.approx(expected, rel=1e-6)


def test_formats_and_dicom_series(phantom, tmp_path):
    """NIfTI, NRRD, MHA and a DICOM series folder give pyradiomics' values."""
    params = extract.resolve_params("default")
    reference = _reference(phantom["image"], phantom["mask"], params)
    image = sitk.ReadImage(str(phantom["image"]))
    paths = {}
    for suffix in (".nii.gz", ".mha"):
        paths[suffix] = tmp_path / f"image{suffix}"
        sitk.WriteImage(image, str(paths[suffix]))
    paths["dicom"] = _write_dicom_series(phantom["array"], tmp_path / "dicom")
    read_back = extract.read_image(paths["dicom"])
    assert read_back.GetSize() == image.GetSize()
    assert np.allclose(read_back.GetSpacing(), image.GetSpacing())
    assert np.array_equal(sitk.GetArrayFromImage(read_back), phantom["array"])
    mask_nifti = tmp_path / "mask.nii.gz"
    sitk.WriteImage(sitk.ReadImage(str(phantom["mask"])), str(mask_nifti))
    manifest = pd.DataFrame(
        {
            "patient_id": ["nrrd", "nifti", "mha", "dicom"],
            "image": [
                str(phantom["image"]),
                str(paths[".nii.gz"]),
                str(paths[".mha"]),
                str(paths["dicom"]),
            ],
            "mask": [
                str(phantom["mask"]),
                str(mask_nifti),
                str(phantom["mask"]),
                str(phantom["mask"]),
            ],
        }
    )
    adata = extract.features(manifest, params="default")
    assert list(adata.obs_names) == ["nrrd", "nifti", "mha", "dicom"]
    for name in adata.obs_names:
        _assert_row_matches(adata, name, reference)


def test_multilabel_masks_and_several_lesions(phantom):
    params = extract.resolve_params("default")
    manifest = pd.DataFrame(
        {
            "patient_id": ["P1", "P1", "P2"],
            "lesion_id": ["L1", "L2", "L1"],
            "image": [str(phantom["image"])] * 3,
            "mask": [str(phantom["mask"])] * 3,
            "label": [1, 2, 2],
        }
    )
    adata = extract.features(manifest, params=params)
    assert list(adata.obs_names) == ["P1|L1", "P1|L2", "P2|L1"]
    assert list(adata.obs["patient_id"]) == ["P1", "P1", "P2"]
    assert list(adata.obs["lesion_id"]) == ["L1", "L2", "L1"]
    for name, label in (("P1|L1", 1), ("P1|L2", 2)):
        _assert_row_matches(
            adata, name, _reference(phantom["image"], phantom["mask"], params, label)
        )
    volumes = adata[:, "original_shape_VoxelVolume"].X.ravel()
    assert volumes[0] == (phantom["labels"] == 1).sum() * 2.0  # voxel volume 1 x 1 x 2 mm
    assert volumes[1] == (phantom["labels"] == 2).sum() * 2.0


# --------------------------------------------------------------------------- settings


def test_presets_and_parameter_files(tmp_path):
    for name in extract.PRESETS:
        extract.validate_params(extract.resolve_params(name))
        assert name in extract.PRESET_DESCRIPTIONS
    params = {
        "setting": {"binWidth": 10, "label": 1},
        "imageType": {"Original": {}},
        "featureClass": {"firstorder": [], "shape": None},
    }
    yaml_file = tmp_path / "params.yaml"
    yaml_file.write_text(
        "setting:\n  binWidth: 10\n  label: 1\nimageType:\n  Original: {}\n"
        "featureClass:\n  firstorder:\n  shape:\n"
    )
    json_file = tmp_path / "params.json"
    json_file.write_text(json.dumps(params))
    expected = extract.resolve_params(params)
    assert expected["featureClass"] == {"firstorder": [], "shape": []}
    assert extract.resolve_params(yaml_file) == expected
    assert extract.resolve_params(str(json_file)) == expected
    flat = extract.resolve_params({"binWidth": 10})
    assert flat["setting"]["binWidth"] == 10 and "glcm" in flat["featureClass"]

    with pytest.raises(InputError, match="unknown extraction preset"):
        extract.resolve_params("no-such-preset")
    with pytest.raises(InputError, match="does not exist"):
        extract.resolve_params(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("setting:\n  binWidth: -3\n")
    with pytest.raises(InputError, match="invalid pyradiomics parameters"):
        extract.validate_params(extract.resolve_params(bad))
    with pytest.raises(InputError, match="invalid pyradiomics parameters"):
        extract.validate_params(extract.resolve_params({"featureClass": {"nosuch": []}}))


def test_image_types_are_selectable(phantom):
    resolved = extract.resolve_params("mr", image_types=["original", "log"])
    assert set(resolved["imageType"]) == {"Original", "LoG"}
    assert resolved["imageType"]["LoG"]["sigma"] == [2.0, 3.0, 4.0, 5.0]  # kept from the preset
    resolved = extract.resolve_params("default", image_types="original, LoG, wavelet")
    assert resolved["imageType"]["LoG"]["sigma"] == [1.0, 2.0, 3.0, 4.0, 5.0]
    with pytest.raises(InputError, match="unknown image type"):
        extract.resolve_params("default", image_types=["sobel"])

    manifest = pd.DataFrame(
        {"patient_id": ["P1"], "image": [str(phantom["image"])], "mask": [str(phantom["mask"])]}
    )
    params = {"setting": {"binWidth": 25}, "featureClass": {"firstorder": []}}
    adata = extract.features(
        manifest, params=params, image_types={"Original": {}, "LoG": {"sigma": [1.0]}, "Square": {}}
    )
    assert set(adata.var["image_type"]) == {"original", "log-sigma-1-0-mm-3D", "square"}
    reference = _reference(
        phantom["image"],
        phantom["mask"],
        {**params, "imageType": {"Original": {}, "LoG": {"sigma": [1.0]}, "Square": {}}},
    )
    _assert_row_matches(adata, "P1", reference)


# --------------------------------------------------------------------------- faults


@pytest.fixture(scope="module")
def broken_manifest(tmp_path_factory, phantom):
    """Two good cases and one case of every failure kind."""
    folder = tmp_path_factory.mktemp("broken")
    labels = phantom["labels"]
    garbage = folder / "garbage.nii.gz"
    garbage.write_bytes(b"this is not an image" * 10)
    small = np.zeros_like(labels)
    small[8, 10, 10:14] = 1
    small[8, 11, 10:14] = 1
    rows = [
        ("good1", phantom["image"], phantom["mask"], 1),
        ("missing", folder / "nowhere.nii.gz", phantom["mask"], 1),
        ("unreadable", garbage, phantom["mask"], 1),
        ("geometry", phantom["image"], _write(labels[:, :30], folder / "cropped.nrrd"), 1),
        ("spacing", phantom["image"], _write(labels, folder / "spacing.nrrd", (1.0, 1.0, 3.0)), 1),
        ("empty", phantom["image"], _write(np.zeros_like(labels), folder / "empty.nrrd"), 1),
        ("no-label", phantom["image"], phantom["mask"], 3),
        ("too-small", phantom["image"], _write(small, folder / "small.nrrd"), 1),
        ("good2", phantom["image"], phantom["mask"], 2),
    ]
    manifest = pd.DataFrame(rows, columns=["patient_id", "image", "mask", "label"])
    manifest["image"] = manifest["image"].astype(str)
    manifest["mask"] = manifest["mask"].astype(str)
    path = folder / "manifest.csv"
    manifest.to_csv(path, index=False)
    return path


EXPECTED_FAILURES = {
    "missing": ("read image", "does not exist"),
    "unreadable": ("read image", "cannot read the image"),
    "geometry": ("check geometry", "sizes differ"),
    "spacing": ("check geometry", "spacing differ"),
    "empty": ("check mask", "the mask is empty"),
    "no-label": ("check mask", "label 3 is not in the mask"),
    "too-small": ("check ROI", "ROI is too small"),
}


def test_failures_are_recorded_and_the_rest_finishes(broken_manifest, phantom):
    adata = extract.features(broken_manifest, params="demo")
    assert list(adata.obs_names) == ["good1", "good2"]
    params = extract.resolve_params("demo")
    _assert_row_matches(adata, "good1", _reference(phantom["image"], phantom["mask"], params, 1))
    _assert_row_matches(adata, "good2", _reference(phantom["image"], phantom["mask"], params, 2))
    info = adata.uns["radiogenomics"]
    failures = info["failures"]
    assert list(failures.columns) == extract.FAILURE_COLUMNS
    assert info["n_failed"] == len(EXPECTED_FAILURES) and info["n_cases"] == 9
    assert list(failures["patient_id"]) == list(EXPECTED_FAILURES)  # manifest order
    for row in failures.itertuples():
        stage, text = EXPECTED_FAILURES[row.patient_id]
        assert row.stage == stage, row
        assert text in row.error, row
    assert failures.set_index("patient_id").loc["no-label", "label"] == 3


def test_every_case_failing_raises_with_the_table(broken_manifest):
    manifest = pd.read_csv(broken_manifest).iloc[1:3]
    with pytest.raises(ExtractionError, match="every case failed") as info:
        extract.features(manifest)
    assert list(info.value.failures["stage"]) == ["read image", "read image"]


def _crash_on(patient: str):
    original = case_module.extract_case

    def extract_or_crash(index, case, params):
        if case["patient_id"] == patient:
            os._exit(3)  # a worker dying, as a segmentation fault would
        return original(index, case, params)

    return extract_or_crash


@pytest.mark.skipif(sys.platform != "linux", reason="uses fork to pass the crashing function")
def test_a_crashing_worker_fails_only_its_case(demo_rows, monkeypatch):
    rows = demo_rows.iloc[:6]
    monkeypatch.setattr(case_module, "extract_case", _crash_on(rows["patient_id"].iloc[2]))
    adata = extract.features(rows, params="demo", n_jobs=2)
    failures = adata.uns["radiogenomics"]["failures"]
    assert list(failures["patient_id"]) == [rows["patient_id"].iloc[2]]
    assert failures["stage"].iloc[0] == "worker" and "died" in failures["error"].iloc[0]
    assert list(adata.obs_names) == [p for i, p in enumerate(rows["patient_id"]) if i != 2]


# --------------------------------------------------------------------------- executors


def test_processes_and_dask_give_identical_results(demo_rows, broken_manifest):
    distributed = pytest.importorskip("distributed")
    broken = pd.read_csv(broken_manifest).iloc[[1, 5]]
    manifest = pd.concat([demo_rows.iloc[:5], broken, demo_rows.iloc[5:8]], ignore_index=True)
    manifest["label"] = manifest["label"].fillna(1).astype(int)
    manifest["lesion_id"] = manifest["lesion_id"].fillna("")
    one = extract.features(manifest, params="demo", n_jobs=1)
    two = extract.features(manifest, params="demo", n_jobs=2)
    with (
        distributed.LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0"
        ) as cluster,
        distributed.Client(cluster) as client,
    ):
        dask = extract.features(manifest, params="demo", client=client)
    expected_order = [p for p in manifest["patient_id"] if p not in ("missing", "empty")]
    for other in (two, dask):
        assert list(other.obs_names) == list(one.obs_names) == expected_order
        assert list(other.var_names) == list(one.var_names)
        np.testing.assert_array_equal(other.X, one.X)
        pd.testing.assert_frame_equal(other.obs, one.obs)
        pd.testing.assert_frame_equal(
            other.uns["radiogenomics"]["failures"], one.uns["radiogenomics"]["failures"]
        )
    assert "dask" in dask.uns["radiogenomics"]["extraction"]["executor"]
    first = demo_rows.iloc[0]
    reference = _reference(first["image"], first["mask"], extract.resolve_params("demo"))
    _assert_row_matches(one, first["patient_id"], reference)


# --------------------------------------------------------------------------- cache


def _forbid_extraction(monkeypatch):
    def fail(index, case, params):
        raise AssertionError(f"case {case['patient_id']} was extracted again")

    monkeypatch.setattr(case_module, "extract_case", fail)


def test_cache_resumes_and_invalidates(demo_rows, tmp_path, monkeypatch):
    rows = demo_rows.iloc[:4].copy()
    cache = tmp_path / "cache"
    cold = extract.features(rows, params="demo", cache_dir=cache)
    assert cold.uns["radiogenomics"]["n_from_cache"] == 0
    folders = list(cache.glob("settings-*"))
    assert len(folders) == 1 and len(list(folders[0].glob("*.json"))) == 5  # + settings.json

    with monkeypatch.context() as patch:
        _forbid_extraction(patch)
        warm = extract.features(rows, params="demo", cache_dir=cache)
    assert warm.uns["radiogenomics"]["n_from_cache"] == 4
    np.testing.assert_array_equal(warm.X, cold.X)
    pd.testing.assert_frame_equal(warm.obs, cold.obs)
    assert list(warm.var_names) == list(cold.var_names)
    first = rows.iloc[0]
    _assert_row_matches(
        warm,
        first["patient_id"],
        _reference(first["image"], first["mask"], extract.resolve_params("demo")),
    )

    # other settings: nothing from the cache
    changed = extract.features(
        rows,
        params={
            **extract.resolve_params("demo"),
            "setting": {"binWidth": 10, "minimumROISize": 50},
        },
        cache_dir=cache,
    )
    assert changed.uns["radiogenomics"]["n_from_cache"] == 0
    assert len(list(cache.glob("settings-*"))) == 2

    # a changed image file (new modification time) is extracted again, the others are not
    touched = Path(rows["image"].iloc[1])
    stat = touched.stat()
    os.utime(touched, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))
    again = extract.features(rows, params="demo", cache_dir=cache)
    assert again.uns["radiogenomics"]["n_from_cache"] == 3
    assert again.uns["radiogenomics"]["extraction"]["n_computed"] == 1


def test_content_keys_survive_moving_the_data(phantom, tmp_path, monkeypatch):
    import shutil

    manifest = pd.DataFrame(
        {
            "patient_id": ["P1", "P2"],
            "image": [str(phantom["image"])] * 2,
            "mask": [str(phantom["mask"])] * 2,
            "label": [1, 2],
        }
    )
    cache = tmp_path / "cache"
    first = extract.features(manifest, cache_dir=cache, cache_key="content")
    moved = tmp_path / "moved"
    moved.mkdir()
    for name in ("image.nrrd", "mask.nrrd"):
        shutil.copy(phantom["folder"] / name, moved / name)
    manifest["image"] = str(moved / "image.nrrd")
    manifest["mask"] = str(moved / "mask.nrrd")
    with monkeypatch.context() as patch:
        _forbid_extraction(patch)
        second = extract.features(manifest, cache_dir=cache, cache_key="content")
    assert second.uns["radiogenomics"]["n_from_cache"] == 2
    np.testing.assert_array_equal(first.X, second.X)
    stat_run = extract.features(manifest, cache_dir=cache, cache_key="stat")
    assert stat_run.uns["radiogenomics"]["n_from_cache"] == 0


def _group_alive(pgid: int) -> list[int]:
    """Processes of a process group that are still running (zombies excluded)."""
    alive = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid and fields[0] != "Z":
            alive.append(int(stat.parent.name))
    return alive


@pytest.mark.skipif(not Path("/proc").is_dir(), reason="needs /proc to watch the processes")
def test_killed_run_resumes_without_recomputing(demo_rows, tmp_path):
    """kill -9 midway: finished cases survive intact; the re-run computes only the rest."""
    rows = demo_rows.iloc[:8]
    manifest = tmp_path / "manifest.csv"
    rows.to_csv(manifest, index=False)
    cache = tmp_path / "cache"
    # slow settings (fine bins, wavelet filters): about a second a case
    params = {
        "setting": {"binWidth": 3, "minimumROISize": 50},
        "imageType": {"Original": {}, "Wavelet": {}},
    }
    (tmp_path / "params.json").write_text(json.dumps(params))
    script = (
        "import sys; from radiogenomics.extract import features; "
        "features(sys.argv[1], params=sys.argv[2], n_jobs=2, cache_dir=sys.argv[3])"
    )
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
    }
    process = subprocess.Popen(
        [sys.executable, "-c", script, str(manifest), str(tmp_path / "params.json"), str(cache)],
        env=env,
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 600  # a guard against hanging, not a timing check
        entries: list[Path] = []
        while time.monotonic() < deadline and process.poll() is None:
            entries = [p for p in cache.glob("settings-*/*.json") if p.name != "settings.json"]
            if len(entries) >= 2:
                break
            time.sleep(0.01)
        assert process.poll() is None, process.stderr.read().decode()[-2000:]
        os.kill(process.pid, signal.SIGKILL)
        process.wait()
        assert process.returncode == -signal.SIGKILL
        # the orphaned worker processes leave by themselves
        while _group_alive(process.pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not _group_alive(process.pid)
    finally:
        try:
            os.killpg(process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        process.stderr.close()

    done = {
        p: (p.stat().st_mtime_ns, p.stat().st_ino)
        for p in cache.glob("settings-*/*.json")
        if p.name != "settings.json"
    }
    assert 2 <= len(done) < len(rows)
    for path in done:  # complete entries only: every one parses
        assert json.loads(path.read_text())["values"]
    resumed = extract.features(manifest, params=tmp_path / "params.json", n_jobs=2, cache_dir=cache)
    info = resumed.uns["radiogenomics"]
    assert info["n_failed"] == 0 and resumed.n_obs == len(rows)
    assert info["n_from_cache"] == len(done)
    assert info["extraction"]["n_computed"] == len(rows) - len(done)
    for path, (mtime, inode) in done.items():  # not rewritten
        assert (path.stat().st_mtime_ns, path.stat().st_ino) == (mtime, inode)
    assert not list(cache.glob("settings-*/.*.tmp"))
    first = rows.iloc[0]
    reference = _reference(first["image"], first["mask"], extract.resolve_params(params))
    _assert_row_matches(resumed, first["patient_id"], reference)


# --------------------------------------------------------------------------- progress, CLI


def test_progress_bar_only_when_asked_or_watched(phantom, capsys):
    manifest = pd.DataFrame(
        {"patient_id": ["P1"], "image": [str(phantom["image"])], "mask": [str(phantom["mask"])]}
    )
    params = {"setting": {"binWidth": 25}, "featureClass": {"firstorder": []}}
    extract.features(manifest, params=params)  # stderr is captured: not a terminal
    assert capsys.readouterr().err == ""
    extract.features(manifest, params=params, progress=True)
    err = capsys.readouterr().err
    assert "1/1" in err and "case" in err and "failed 0" in err


def test_cli_extract_reports_failures_and_exit_status(broken_manifest, tmp_path, capsys):
    out = tmp_path / "features.h5ad"
    cache = tmp_path / "cache"
    status = main(
        [
            "extract",
            str(broken_manifest),
            "--params",
            "demo",
            "--out",
            str(out),
            "--jobs",
            "2",
            "--cache",
            str(cache),
        ]
    )
    printed = capsys.readouterr().out
    assert status == 1
    assert "Extracted 2 of 9 cases" in printed and "7 case(s) failed" in printed
    for patient, (stage, text) in EXPECTED_FAILURES.items():
        line = next(line for line in printed.splitlines() if line.strip().startswith(patient))
        assert stage in line and text in line
    import anndata

    written = anndata.read_h5ad(out)
    assert list(written.obs_names) == ["good1", "good2"]
    assert len(written.uns["radiogenomics"]["failures"]) == 7

    # the output feeds build_cohort
    from radiogenomics import build_cohort

    cohort = build_cohort({"radiomics": written})
    assert cohort.n_obs == 2

    good = pd.read_csv(broken_manifest).iloc[[0, 8]]
    good.to_csv(tmp_path / "good.csv", index=False)
    status = main(
        [
            "extract",
            str(tmp_path / "good.csv"),
            "--params",
            "demo",
            "--out",
            str(tmp_path / "good.h5ad"),
            "--jobs",
            "1",
            "--cache",
            str(cache),
        ]
    )
    assert status == 0
    assert "(2 from the cache)" in capsys.readouterr().out

    bad = pd.read_csv(broken_manifest).iloc[1:3]
    bad.to_csv(tmp_path / "bad.csv", index=False)
    status = main(["extract", str(tmp_path / "bad.csv"), "--out", str(tmp_path / "bad.h5ad")])
    assert status == 1 and not (tmp_path / "bad.h5ad").exists()
    assert "Every case failed (2)" in capsys.readouterr().out

    status = main(["extract", str(broken_manifest), "--params", "nosuch", "--out", str(out)])
    assert status == 2
    assert "unknown extraction preset" in capsys.readouterr().err
    status = main(["extract", str(tmp_path / "none.csv"), "--out", str(out)])
    assert status == 2
