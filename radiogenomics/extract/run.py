"""``features``: pyradiomics over an image manifest, in parallel, cached, fault tolerant."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import pandas as pd
from anndata import AnnData

from ..errors import ExtractionError, InputError
from ..io.annotations import annotate_radiomics_var, extraction_flags
from ..io.dicom.report import conversion_table
from ..io.readers import radiomics_anndata, read_manifest
from .cache import CaseCache, KeyBy
from .case import CONVERSION_KEY, CaseResult
from .executors import run_dask, run_processes, run_sequential
from .ibsi import ibsi_provenance
from .progress import progress_bar
from .settings import params_hash, resolve_params, validate_params

__all__ = ["FAILURE_COLUMNS", "failures_table", "features", "summary"]

FAILURE_COLUMNS = ["patient_id", "lesion_id", "label", "image", "mask", "stage", "error"]


def _versions() -> dict[str, str]:
    import radiomics
    import SimpleITK as sitk

    return {
        "pyradiomics": str(radiomics.__version__),
        "SimpleITK": str(sitk.Version_VersionString()),
    }


def _lesion(value: Any) -> str | None:
    if value is None or (isinstance(value, float) and value != value) or value is pd.NA:
        return None
    text = str(value)
    return text if text else None


def _cases(frame: pd.DataFrame) -> list[dict]:
    """The manifest rows as small plain dicts (what a worker needs, the IDs, the modality)."""
    cases = [
        {
            "patient_id": str(p),
            "lesion_id": _lesion(les),
            "image": str(img),
            "mask": str(msk),
            "label": int(lab),
        }
        for p, les, img, msk, lab in zip(
            frame["patient_id"], frame["lesion_id"], frame["image"], frame["mask"], frame["label"]
        )
    ]
    for column in ("roi", "series_uid"):  # DICOM: RTSTRUCT ROI or SEG segment, series
        if column in frame:
            for case, value in zip(cases, frame[column]):
                if _lesion(value) is not None:
                    case[column] = _lesion(value)
    if "modality" in frame.columns:
        for case, modality in zip(cases, frame["modality"]):
            case["modality"] = _lesion(modality) or ""
    return cases


def failures_table(cases: list[dict], results: Iterable[CaseResult]) -> pd.DataFrame:
    """One row per failed case: patient, lesion, label, paths, stage and message.

    See Also
    --------
    features : stores this table as ``uns["radiogenomics"]["failures"]``.

    Examples
    --------
    >>> import radiogenomics as rg
    >>> from radiogenomics.extract import CaseResult
    >>> cases = [
    ...     {"patient_id": "P1", "image": "P1_ct.nii.gz", "mask": "P1_seg.nii.gz", "label": 1},
    ...     {
    ...         "patient_id": "P2",
    ...         "lesion_id": "L2",
    ...         "image": "P2_ct.nii.gz",
    ...         "mask": "P2_seg.nii.gz",
    ...         "label": 2,
    ...     },
    ... ]
    >>> results = [
    ...     CaseResult(index=0, values={"original_shape_VoxelVolume": 216.0}),
    ...     CaseResult(index=1, stage="check mask", error="label 2 is not in the mask"),
    ... ]
    >>> table = rg.extract.failures_table(cases, results)
    >>> table.columns.tolist()
    ['patient_id', 'lesion_id', 'label', 'image', 'mask', 'stage', 'error']
    >>> table.values.tolist()
    [['P2', 'L2', 2, 'P2_ct.nii.gz', 'P2_seg.nii.gz', 'check mask', 'label 2 is not in the mask']]
    """
    failed = [r for r in results if not r.ok]
    columns: dict[str, list] = {name: [] for name in FAILURE_COLUMNS}
    for r in failed:
        case = cases[r.index]
        columns["patient_id"].append(str(case.get("patient_id", "")))
        columns["lesion_id"].append(_lesion(case.get("lesion_id")) or "")
        columns["label"].append(int(case.get("label") or 1))
        columns["image"].append(str(case.get("image", "")))
        columns["mask"].append(str(case.get("mask", "")))
        columns["stage"].append(str(r.stage))
        columns["error"].append(str(r.error))
    return pd.DataFrame(
        {
            name: pd.Series(values, dtype="int64" if name == "label" else object)
            for name, values in columns.items()
        }
    )


def _n_jobs(n_jobs: int | None) -> int:
    if n_jobs is None or n_jobs == 0:
        return 1
    if n_jobs < 0:
        return max((os.cpu_count() or 1) + 1 + n_jobs, 1)
    return int(n_jobs)


def _connect(address: str):
    try:
        from distributed import Client
    except ImportError:  # pragma: no cover - dask[distributed] is a dependency
        raise InputError(
            "a Dask scheduler needs the distributed package",
            expected="pip install 'dask[distributed]'",
        ) from None
    try:
        return Client(address, timeout="20s")
    except Exception as exc:
        raise InputError(
            "cannot connect to the Dask scheduler",
            found=f"{address}: {exc}",
            hint="Start one with 'dask scheduler' and 'dask worker ADDRESS'",
        ) from None


def _describe_client(client) -> str:
    try:
        return f"dask ({client.scheduler.address}, {len(client.nthreads())} workers)"
    except Exception:
        return "dask"


def _cached_results(
    cache: CaseCache | None, cases: list[dict], n_jobs: int
) -> tuple[dict[int, CaseResult], list[str]]:
    """The cases found in the cache, by index, and every case's cache key."""
    results: dict[int, CaseResult] = {}
    keys: list[str] = []
    if cache is not None:
        keys = cache.keys(cases, n_threads=max(n_jobs, 4))
        for i, key in enumerate(keys):
            values = cache.load(key)
            if values is not None:
                results[i] = CaseResult(index=i, values=values, cached=True)
    return results, keys


def _runner(todo: list[tuple[int, dict]], resolved: dict, client: Any, n_jobs: int):
    """The executor running the cases left (Dask, local processes or this process)."""
    if client is not None:
        return run_dask(todo, resolved, client), _describe_client(client)
    if n_jobs > 1 and len(todo) > 1:
        return run_processes(todo, resolved, n_jobs), f"{min(n_jobs, len(todo))} local processes"
    return run_sequential(todo, resolved), "this process"


def _collect(
    runner,
    results: dict[int, CaseResult],
    cases: list[dict],
    cache: CaseCache | None,
    keys: list[str],
    bar,
    n_from_cache: int,
    own_client: Any,
) -> None:
    """Gather the results as they come, caching successes; close the runner and bar."""
    n_failed = 0
    try:
        bar.set_postfix_str(f"failed 0, cached {n_from_cache}")
        for result in runner:
            results[result.index] = result
            if result.ok:
                if cache is not None:
                    cache.store(
                        keys[result.index], cases[result.index], result.values, result.seconds
                    )
            else:
                n_failed += 1
            bar.update(1)
            bar.set_postfix_str(f"failed {n_failed}, cached {n_from_cache}", refresh=False)
    finally:
        runner.close()
        bar.close()
        if own_client is not None:
            own_client.close()


def _raise_if_all_failed(done: list[CaseResult], failed: pd.DataFrame, manifest) -> None:
    """Raise an ExtractionError carrying the failures table when no case succeeded."""
    if not done:
        first = failed.iloc[0]
        error = ExtractionError(
            f"every case failed ({len(failed)}); the first ({first['patient_id']}) at stage "
            f"{first['stage']!r}: {first['error']}",
            file=None if isinstance(manifest, pd.DataFrame) else manifest,
        )
        error.failures = failed
        raise error


def _feature_rows(cases: list[dict], done: list[CaseResult]) -> tuple[list[dict], list]:
    """One row of IDs and feature values per extracted case, and the DICOM conversions."""
    rows = []
    with_lesion = any(cases[r.index]["lesion_id"] is not None for r in done)
    conversions = []
    for r in done:
        case = cases[r.index]
        if CONVERSION_KEY in r.values:
            r.values = dict(r.values)
            conversions.append((case, r.values.pop(CONVERSION_KEY)))
        row = {
            "patient_id": case["patient_id"],
            "image": case["image"],
            "mask": case["mask"],
            "label": case["label"],
        }
        if with_lesion:
            row["lesion_id"] = case["lesion_id"] or ""
        if "modality" in case:
            row["modality"] = case["modality"]
        row.update(r.values)
        rows.append(row)
    return rows, conversions


def features(
    manifest: str | os.PathLike | pd.DataFrame,
    params: str | os.PathLike | Mapping | None = None,
    n_jobs: int | None = None,
    cache_dir: str | os.PathLike | None = None,
    client: Any = None,
    *,
    image_types: Iterable[str] | Mapping[str, Any] | str | None = None,
    cache_key: KeyBy = "stat",
    progress: bool | None = None,
) -> AnnData:
    """Extract radiomic features for every row of an image manifest with pyradiomics.

    A case that fails (missing or unreadable file, image and mask geometry that do not
    match, empty mask, label not in the mask, ROI too small, a crashed worker) does not
    stop the others: it is left out of the result and recorded in the failures table.

    Parameters
    ----------
    manifest
        Manifest file or DataFrame (``patient_id``, ``image``, ``mask``, optional ``label``
        and ``lesion_id``; see ``data_schemas/image_manifest.json``). Images and masks may
        be NIfTI, NRRD, MetaImage (.mha/.mhd) or any format SimpleITK reads, or a folder
        holding one DICOM series. A mask may hold several labels (the row's ``label``
        picks one); a patient may have several lesions (one row each, with ``lesion_id``).
    params
        pyradiomics settings: a preset name (``"default"``, ``"demo"``, ``"ct"``,
        ``"mr"``; see :data:`~radiogenomics.extract.PRESETS`), a YAML/JSON parameter file
        in pyradiomics' format, or a dict (pyradiomics' format, or flat settings applied
        to the default preset). Default: pyradiomics' defaults. The manifest's ``label``
        takes precedence over the setting ``label``.
    n_jobs
        Worker processes on this machine (default 1, in this process; ``-1`` for every
        core). Ignored when ``client`` is given.
    cache_dir
        Folder of the resumable per-case cache. Finished cases are written as they
        finish; a re-run (even after ``kill -9``) computes only the cases not there.
        Entries are keyed by the image and mask (see ``cache_key``), the label, the
        settings and the pyradiomics and SimpleITK versions. Failures are not cached.
    client
        A ``dask.distributed.Client`` (or a scheduler address) to run the cases on a Dask
        cluster; its workers must read the image paths. Same results as local runs.
    image_types
        Replace the image types (filters) of ``params``, e.g. ``["original", "wavelet",
        "log"]``; see :func:`~radiogenomics.extract.resolve_params`.
    cache_key
        ``"stat"`` (path, size and modification time of the files, fast) or ``"content"``
        (SHA-256 of the files: survives moving or copying the data).
    progress
        Show a progress bar (cases done, failed, from the cache, time left). Default: in
        a terminal or a notebook, not otherwise.

    Returns
    -------
    AnnData
        Cases (in manifest order, failures left out) by features, ``var`` with
        ``image_type``, ``feature_class``, ``feature``, ``ibsi_tag`` (empty where IBSI
        has no counterpart; 2.5-D tags with ``force2D``) and ``unit`` (intensity
        features in HU, SUV or a.u. from a manifest column ``modality``: ``CT``, ``PT``,
        ``MR``; "intensity units" without it; empty: dimensionless); ``obs_names`` are patient IDs
        (``patient|lesion`` when a patient has several lesions). ``uns["radiogenomics"]``
        holds the settings (``params``, JSON), the pyradiomics version, ``n_cases``,
        ``n_failed``, ``n_from_cache``, the ``failures`` table (patient, lesion, label,
        image, mask, stage, error), an ``extraction`` summary and ``ibsi``, the summary of
        the IBSI phantom self-test (:func:`~radiogenomics.extract.ibsi_check`) run once
        per process with the same pyradiomics.

    Raises
    ------
    InputError
        For a bad manifest, unknown preset or invalid pyradiomics parameters.
    ExtractionError
        When every case fails (the message names the first failure; the exception's
        ``failures`` attribute holds the whole table).

    See Also
    --------
    summary : the extraction in a few lines.
    radiogenomics.io.scan_dicom : a manifest from a DICOM folder tree.
    resolve_params : the settings ``params`` gives.

    Examples
    --------
    One tiny image and mask, used by two rows; the second asks for a label the mask does
    not have:

    >>> import tempfile
    >>> from pathlib import Path
    >>> import numpy as np
    >>> import pandas as pd
    >>> import SimpleITK as sitk
    >>> import radiogenomics as rg
    >>> folder = Path(tempfile.mkdtemp())
    >>> values = np.indices((10, 10, 10)).sum(axis=0) * 10
    >>> sitk.WriteImage(sitk.GetImageFromArray(values.astype(np.int16)), str(folder / "ct.nii"))
    >>> cube = np.zeros((10, 10, 10), np.uint8)
    >>> cube[2:8, 2:8, 2:8] = 1
    >>> sitk.WriteImage(sitk.GetImageFromArray(cube), str(folder / "seg.nii"))
    >>> manifest = pd.DataFrame(
    ...     {
    ...         "patient_id": ["P1", "P2"],
    ...         "image": [str(folder / "ct.nii")] * 2,
    ...         "mask": [str(folder / "seg.nii")] * 2,
    ...         "label": [1, 2],  # the mask has no label 2: P2 fails
    ...     }
    ... )
    >>> adata = rg.extract.features(manifest, cache_dir=folder / "cache", progress=False)
    >>> adata.obs_names.tolist(), adata.n_vars
    (['P1'], 107)
    >>> float(adata[:, "original_firstorder_Mean"].X[0, 0])
    135.0
    >>> adata.var.loc["original_shape_VoxelVolume", ["feature_class", "ibsi_tag", "unit"]].tolist()
    ['shape', 'morph_vol_approx', 'mm³']
    >>> info = adata.uns["radiogenomics"]
    >>> info["n_cases"], info["n_failed"], info["ibsi"]["compliant"]
    (2, 1, True)
    >>> info["failures"][["patient_id", "stage"]].values.tolist()
    [['P2', 'check mask']]

    A second run reads P1 from the cache (failures are tried again):

    >>> again = rg.extract.features(manifest, cache_dir=folder / "cache", progress=False)
    >>> again.uns["radiogenomics"]["n_from_cache"]
    1
    """
    started = time.perf_counter()
    cases = _cases(read_manifest(manifest))
    resolved = resolve_params(params, image_types)
    validate_params(resolved, params if isinstance(params, (str, os.PathLike)) else None)
    if cache_key not in ("stat", "content"):
        raise InputError("unknown cache key", expected="'stat' or 'content'", found=cache_key)
    n_jobs = _n_jobs(n_jobs)
    own_client = None
    if isinstance(client, str):
        client = own_client = _connect(client)

    cache = CaseCache(cache_dir, resolved, cache_key) if cache_dir is not None else None
    results, keys = _cached_results(cache, cases, n_jobs)
    n_from_cache = len(results)
    todo = [(i, case) for i, case in enumerate(cases) if i not in results]
    runner, executor = _runner(todo, resolved, client, n_jobs)
    bar = progress_bar(len(cases), progress, initial=n_from_cache)
    _collect(runner, results, cases, cache, keys, bar, n_from_cache, own_client)

    ordered = [results[i] for i in range(len(cases))]
    failed = failures_table(cases, ordered)
    done = [r for r in ordered if r.ok]
    _raise_if_all_failed(done, failed, manifest)
    rows, conversions = _feature_rows(cases, done)
    frame = pd.DataFrame(rows)
    source = "pyradiomics extraction of " + (
        "a manifest table" if isinstance(manifest, pd.DataFrame) else str(Path(manifest).resolve())
    )
    adata = radiomics_anndata(frame, source=source, reader="radiogenomics.extract.features")
    modality = None
    if "modality" in adata.obs:
        modality = "|".join(sorted({str(m) for m in adata.obs["modality"].dropna() if str(m)}))
    annotate_radiomics_var(adata.var, modality=modality, **extraction_flags(resolved))
    versions = _versions()
    info = adata.uns["radiogenomics"]
    info["params"] = json.dumps(resolved, sort_keys=True)
    info["params_hash"] = params_hash(resolved)
    info["pyradiomics_version"] = versions["pyradiomics"]
    info["n_cases"] = len(cases)
    info["n_failed"] = int(len(failed))
    info["n_from_cache"] = int(n_from_cache)
    info["failures"] = failed
    info["conversion"] = conversion_table(conversions)
    info["extraction"] = {
        "executor": executor if todo else "the cache only",
        "n_computed": len(todo),
        "cache_dir": "" if cache is None else str(cache.folder),
        "cache_key": cache_key,
        "seconds": round(time.perf_counter() - started, 3),
        "simpleitk_version": versions["SimpleITK"],
    }
    info["ibsi"] = ibsi_provenance()
    return adata


def summary(adata: AnnData) -> str:
    """A few lines on an extraction: cases, features, cache, executor and every failure.

    See Also
    --------
    features : the extraction it describes.

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> import numpy as np
    >>> import pandas as pd
    >>> import SimpleITK as sitk
    >>> import radiogenomics as rg
    >>> folder = Path(tempfile.mkdtemp())
    >>> values = np.indices((10, 10, 10)).sum(axis=0) * 10
    >>> sitk.WriteImage(sitk.GetImageFromArray(values.astype(np.int16)), str(folder / "ct.nii"))
    >>> cube = np.zeros((10, 10, 10), np.uint8)
    >>> cube[2:8, 2:8, 2:8] = 1
    >>> sitk.WriteImage(sitk.GetImageFromArray(cube), str(folder / "seg.nii"))
    >>> manifest = pd.DataFrame(
    ...     {
    ...         "patient_id": ["P1", "P2"],
    ...         "image": [str(folder / "ct.nii")] * 2,
    ...         "mask": [str(folder / "seg.nii")] * 2,
    ...         "label": [1, 2],  # the mask has no label 2: P2 fails
    ...     }
    ... )
    >>> adata = rg.extract.features(manifest, progress=False)
    >>> print(rg.extract.summary(adata))
    Extracted 1 of 2 cases x 107 features (0 from the cache) with this process in ... s
    1 case(s) failed:
      P2 (label 2) at check mask: label 2 is not in the mask (expected voxels with label 2,
      found labels 1)
    """
    info = adata.uns.get("radiogenomics", {})
    extraction = info.get("extraction", {})
    n_cases = int(info.get("n_cases", adata.n_obs))
    failures = info.get("failures")
    n_failed = 0 if failures is None else len(failures)
    lines = [
        f"Extracted {adata.n_obs} of {n_cases} cases x {adata.n_vars} features "
        f"({int(info.get('n_from_cache', 0))} from the cache) with "
        f"{extraction.get('executor', 'pyradiomics')} in {extraction.get('seconds', '?')} s"
    ]
    if n_failed:
        lines.append(f"{n_failed} case(s) failed:")
        lines.extend(failure_lines(failures))
    else:
        lines.append("No case failed.")
    return "\n".join(lines)


def failure_lines(failures: pd.DataFrame) -> list[str]:
    lines = []
    for row in failures.itertuples(index=False):
        who = row.patient_id + (f" lesion {row.lesion_id}" if row.lesion_id else "")
        lines.append(f"  {who} (label {row.label}) at {row.stage}: {row.error}")
    return lines
