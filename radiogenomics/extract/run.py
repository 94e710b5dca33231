"""``features``: pyradiomics over an image manifest."""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import pandas as pd
from anndata import AnnData

from ..errors import ExtractionError
from ..io.readers import radiomics_anndata, read_manifest
from .case import CaseResult, extract_case
from .settings import params_hash, resolve_params

__all__ = ["features", "failures_table"]

FAILURE_COLUMNS = ["patient_id", "lesion_id", "label", "image", "mask", "stage", "error"]


def _pyradiomics_version() -> str:
    import radiomics

    return str(radiomics.__version__)


def _run_cases(cases: list[dict], params: dict, n_jobs: int) -> Iterable[CaseResult]:
    if n_jobs <= 1 or len(cases) <= 1:
        for i, case in enumerate(cases):
            yield extract_case(i, case, params)
        return
    with ProcessPoolExecutor(max_workers=n_jobs) as pool:
        futures = [pool.submit(extract_case, i, case, params) for i, case in enumerate(cases)]
        for future in futures:
            yield future.result()


def failures_table(cases: list[dict], results: list[CaseResult]) -> pd.DataFrame:
    """One row per failed case: patient, lesion, label, paths, stage and message."""
    rows = [
        {**{k: cases[r.index].get(k) for k in FAILURE_COLUMNS[:5]}, "stage": r.stage,
         "error": r.error}
        for r in results if not r.ok
    ]
    table = pd.DataFrame(rows, columns=FAILURE_COLUMNS)
    table["lesion_id"] = table["lesion_id"].astype(object).where(table["lesion_id"].notna(), "")
    return table.astype({"label": "int64"}) if len(table) else table


def features(
    manifest: str | os.PathLike | pd.DataFrame,
    params: str | os.PathLike | dict | None = None,
    n_jobs: int | None = None,
) -> AnnData:
    """Extract radiomic features for every row of an image manifest with pyradiomics.

    Parameters
    ----------
    manifest
        Manifest file or DataFrame (``patient_id``, ``image``, ``mask``, optional ``label``
        and ``lesion_id``; see ``data_schemas/image_manifest.json``).
    params
        pyradiomics settings: a preset name (``"default"``, ``"demo"``), a YAML/JSON
        parameter file or a dict. Default: pyradiomics' defaults.
    n_jobs
        Worker processes (default 1; ``-1`` for every core).

    Returns
    -------
    AnnData
        Cases (in manifest order, failures left out) by features, ``var`` with
        ``image_type``, ``feature_class``, ``feature``. ``uns["radiogenomics"]`` holds the
        settings (``params``, JSON), the pyradiomics version and the ``failures`` table.

    Raises
    ------
    ExtractionError
        When every case fails (the message names the first failure).
    """
    cases_frame = read_manifest(manifest)
    cases = cases_frame.to_dict("records")
    resolved = resolve_params(params)
    if n_jobs is None or n_jobs == 0:
        n_jobs = 1
    elif n_jobs < 0:
        n_jobs = max(os.cpu_count() or 1, 1)
    results = sorted(_run_cases(cases, resolved, n_jobs), key=lambda r: r.index)
    failed = failures_table(cases, results)
    done = [r for r in results if r.ok]
    if not done:
        first = failed.iloc[0]
        raise ExtractionError(
            f"every case failed; the first ({first['patient_id']}) at stage "
            f"{first['stage']!r}: {first['error']}",
            file=None if isinstance(manifest, pd.DataFrame) else manifest,
        )
    rows = []
    for r in done:
        case = cases[r.index]
        row = {"patient_id": case["patient_id"], "image": case["image"], "mask": case["mask"],
               "label": case["label"]}
        if pd.notna(case.get("lesion_id")) and case.get("lesion_id") not in (None, ""):
            row["lesion_id"] = str(case["lesion_id"])
        row.update(r.values)
        rows.append(row)
    frame = pd.DataFrame(rows)
    if "lesion_id" in frame:
        frame["lesion_id"] = frame["lesion_id"].fillna("")
    source = "pyradiomics extraction of " + (
        "a manifest table" if isinstance(manifest, pd.DataFrame) else str(Path(manifest).resolve())
    )
    adata = radiomics_anndata(frame, source=source, reader="radiogenomics.extract.features")
    info = adata.uns["radiogenomics"]
    info["params"] = json.dumps(resolved, sort_keys=True)
    info["params_hash"] = params_hash(resolved)
    info["pyradiomics_version"] = _pyradiomics_version()
    info["n_cases"] = len(cases)
    info["n_failed"] = int(len(failed))
    info["failures"] = failed
    return adata
