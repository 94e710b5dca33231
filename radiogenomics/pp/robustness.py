"""Robustness of features between repeated extractions: intraclass correlation of
test-retest scans or perturbed segmentations, and the mask erosion/dilation path."""

from __future__ import annotations

import json
import os
import re
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Literal

import mudata as md
import numpy as np
import pandas as pd
from anndata import AnnData

from .._compat import keyword_only
from ..cohort import store_result
from ..errors import CohortError, InputError
from ..extract import features, read_image
from ..io import read_manifest
from ..stats.icc import intraclass_correlation
from ._modality import get_modality, subset_features, values

__all__ = [
    "ICC_KINDS",
    "ROBUSTNESS_COLUMNS",
    "perturb_masks",
    "perturbation_features",
    "robust_features",
]

#: ICC kinds accepted by :func:`robust_features` and the kernel's name for each.
ICC_KINDS = {"icc_1_1": "icc1", "icc_2_1": "icc2", "icc_3_1": "icc3"}

ROBUSTNESS_COLUMNS = [
    "feature",
    "n_subjects",
    "n_replicates",
    "icc_1_1",
    "icc_2_1",
    "icc_2_1_ci_lower",
    "icc_2_1_ci_upper",
    "icc_3_1",
    "icc_3_1_ci_lower",
    "icc_3_1_ci_upper",
    "f_statistic",
    "p_value",
    "robust",
]

_SAFE = re.compile(r"[^A-Za-z0-9._-]+")


def _safe(text: str) -> str:
    return _SAFE.sub("_", str(text)).strip("_") or "case"


def perturb_masks(
    manifest: str | os.PathLike | pd.DataFrame,
    out: str | os.PathLike,
    *,
    radius: int = 1,
    operations: Sequence[Literal["erode", "dilate"]] = ("erode", "dilate"),
    include_original: bool = True,
) -> pd.DataFrame:
    """Write eroded and dilated copies of every mask of a manifest.

    Each lesion (the manifest row's ``label``) is eroded or dilated by ``radius`` voxels
    with a ball structuring element (SimpleITK); the written mask holds that lesion
    only, on the original grid. A lesion that erosion would empty is left out of that
    replicate (recorded in the ``note`` column of the original row).

    Parameters
    ----------
    manifest
        Image manifest (file or DataFrame, see ``data_schemas/image_manifest.json``).
    out
        Folder for the perturbed masks.
    radius
        Voxels of erosion/dilation.
    operations
        Which perturbations.
    include_original
        Also list the original masks (replicate ``"original"``).

    Returns
    -------
    pandas.DataFrame
        A manifest for ``rg.extract.features``: ``patient_id``, ``image``, ``mask``,
        ``label``, ``lesion_id`` (made unique per replicate: ``<lesion>~<replicate>``),
        plus ``subject`` (patient and lesion), ``replicate`` and ``note``.

    See Also
    --------
    perturbation_features : extract features from the perturbed masks.

    Examples
    --------
    >>> import tempfile
    >>> import numpy as np
    >>> import pandas as pd
    >>> import SimpleITK as sitk
    >>> import radiogenomics as rg
    >>> cube = np.zeros((9, 9, 9), dtype=np.uint8)
    >>> cube[2:7, 2:7, 2:7] = 1  # a 5 x 5 x 5 voxel lesion
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     sitk.WriteImage(sitk.GetImageFromArray(100.0 * cube), f"{folder}/P1_ct.nii.gz")
    ...     sitk.WriteImage(sitk.GetImageFromArray(cube), f"{folder}/P1_seg.nii.gz")
    ...     manifest = pd.DataFrame({"patient_id": ["P1"], "image": [f"{folder}/P1_ct.nii.gz"],
    ...                              "mask": [f"{folder}/P1_seg.nii.gz"]})
    ...     table = rg.pp.perturb_masks(manifest, f"{folder}/perturbed", radius=1)
    ...     voxels = [int(sitk.GetArrayFromImage(sitk.ReadImage(m)).sum()) for m in table["mask"]]
    >>> table["replicate"].tolist(), voxels
    (['original', 'erode1', 'dilate1'], [125, 27, 335])
    """
    import SimpleITK as sitk

    if radius < 1:
        raise InputError(
            "the perturbation radius is a number of voxels",
            expected="an integer of at least 1",
            found=radius,
        )
    unknown = [op for op in operations if op not in ("erode", "dilate")]
    if unknown:
        raise InputError("unknown mask perturbation", expected="'erode' or 'dilate'", found=unknown)
    cases = read_manifest(manifest)
    folder = Path(out)
    folder.mkdir(parents=True, exist_ok=True)
    rows = []
    for _, case in cases.iterrows():
        lesion = "" if pd.isna(case.get("lesion_id")) else str(case["lesion_id"])
        subject = f"{case['patient_id']}|{lesion}" if lesion else str(case["patient_id"])
        base = {
            "patient_id": case["patient_id"],
            "image": case["image"],
            "label": int(case["label"]),
            "subject": subject,
        }
        notes = []
        perturbed = []
        mask = read_image(case["mask"], "mask")
        lesion_mask = sitk.Cast(mask == int(case["label"]), sitk.sitkUInt8)
        for op in operations:
            name = f"{op}{radius}"
            if op == "erode":
                changed = sitk.BinaryErode(
                    lesion_mask, [radius] * mask.GetDimension(), sitk.sitkBall, 0, 1
                )
            else:
                changed = sitk.BinaryDilate(
                    lesion_mask, [radius] * mask.GetDimension(), sitk.sitkBall, 0, 1
                )
            array = sitk.GetArrayViewFromImage(changed)
            if not array.any():
                notes.append(f"{name}: empty after perturbation")
                continue
            labelled = sitk.Cast(changed, mask.GetPixelID()) * int(case["label"])
            labelled.CopyInformation(mask)
            path = folder / f"{_safe(subject)}_label{int(case['label'])}_{name}.nii.gz"
            tmp = path.with_name(f".{path.name}.tmp.nii.gz")
            sitk.WriteImage(labelled, str(tmp), useCompression=True)
            os.replace(tmp, path)
            perturbed.append(
                {
                    **base,
                    "mask": str(path.resolve()),
                    "lesion_id": f"{lesion}~{name}",
                    "replicate": name,
                    "note": "",
                }
            )
        if include_original:
            rows.append(
                {
                    **base,
                    "mask": case["mask"],
                    "lesion_id": f"{lesion}~original",
                    "replicate": "original",
                    "note": "; ".join(notes),
                }
            )
        rows.extend(perturbed)
    columns = ["patient_id", "image", "mask", "label", "lesion_id", "subject", "replicate", "note"]
    return pd.DataFrame(rows, columns=columns)


def perturbation_features(
    manifest: str | os.PathLike | pd.DataFrame,
    params=None,
    *,
    out: str | os.PathLike | None = None,
    radius: int = 1,
    operations: Sequence[str] = ("erode", "dilate"),
    n_jobs: int | None = None,
) -> AnnData:
    """Re-extract features with every mask eroded and dilated (see :func:`perturb_masks`).

    Returns
    -------
    AnnData
        One row per (lesion, replicate) with ``obs`` columns ``subject`` and
        ``replicate`` (``original``, ``erode1``, ``dilate1``), ready for
        :func:`robust_features`.

    See Also
    --------
    perturb_masks : the perturbed masks alone.
    robust_features : the ICC of every feature across the replicates.

    Examples
    --------
    The extraction runs pyradiomics on every replicate, so the example is not run here:

    >>> import tempfile
    >>> import numpy as np
    >>> import pandas as pd
    >>> import SimpleITK as sitk
    >>> import radiogenomics as rg
    >>> cube = np.zeros((12, 12, 12), dtype=np.uint8)
    >>> cube[2:10, 2:10, 2:10] = 1
    >>> tmp = tempfile.TemporaryDirectory()
    >>> folder = tmp.name
    >>> sitk.WriteImage(sitk.GetImageFromArray(100.0 * cube), f"{folder}/P1_ct.nii.gz")
    >>> sitk.WriteImage(sitk.GetImageFromArray(cube), f"{folder}/P1_seg.nii.gz")
    >>> manifest = pd.DataFrame({"patient_id": ["P1"], "image": [f"{folder}/P1_ct.nii.gz"],
    ...                          "mask": [f"{folder}/P1_seg.nii.gz"]})
    >>> replicates = rg.pp.perturbation_features(  # doctest: +SKIP
    ...     manifest, {"featureClass": {"firstorder": []}}, out=f"{folder}/perturbed")
    >>> replicates.obs[["subject", "replicate"]].values.tolist()  # doctest: +SKIP
    [['P1', 'original'], ['P1', 'erode1'], ['P1', 'dilate1']]
    >>> tmp.cleanup()
    """
    folder = Path(out) if out is not None else Path(tempfile.mkdtemp(prefix="rg-perturb-"))
    table = perturb_masks(manifest, folder, radius=radius, operations=operations)
    adata = features(
        table.drop(columns=["subject", "replicate", "note"]), params=params, n_jobs=n_jobs
    )
    lookup = table.set_index("mask")
    adata.obs["subject"] = lookup.loc[adata.obs["mask"].astype(str), "subject"].to_numpy()
    adata.obs["replicate"] = lookup.loc[adata.obs["mask"].astype(str), "replicate"].to_numpy()
    adata.uns["radiogenomics"]["perturbation"] = {
        "radius": radius,
        "operations": list(operations),
        "folder": str(folder),
    }
    return adata


def _ratings(replicates: AnnData, names: list[str], subject_key: str, replicate_key: str):
    for key in (subject_key, replicate_key):
        if key not in replicates.obs.columns:
            raise CohortError(
                f"the replicate table has no obs column {key!r}",
                column=key,
                expected="the subject (patient or lesion) and the replicate "
                "(scan, segmentation or perturbation) of each row",
            )
    obs = replicates.obs[[subject_key, replicate_key]].astype(str)
    duplicated = obs.duplicated()
    if duplicated.any():
        row = obs[duplicated].iloc[0]
        raise CohortError(
            "a subject has the same replicate twice",
            row=str(obs.index[duplicated][0]),
            found=f"{row[subject_key]} / {row[replicate_key]}",
            expected="one row per subject and replicate",
        )
    missing = [f for f in names if f not in replicates.var_names]
    if missing:
        raise CohortError(
            f"{len(missing)} feature(s) of the modality are not in the replicates",
            expected="the same features",
            found=missing[:5],
        )
    x = pd.DataFrame(values(replicates[:, names]), index=replicates.obs_names, columns=names)
    subjects = pd.Index(sorted(obs[subject_key].unique()))
    reps = pd.Index(sorted(obs[replicate_key].unique()))
    if reps.size < 2:
        raise CohortError(
            "robustness needs at least two replicates per subject",
            column=replicate_key,
            found=list(reps),
        )
    cube = np.full((subjects.size, reps.size, len(names)), np.nan)
    i = subjects.get_indexer(obs[subject_key])
    j = reps.get_indexer(obs[replicate_key])
    cube[i, j, :] = x.to_numpy()
    return cube, subjects, reps


def _perturbation_replicates(mdata, adata: AnnData, manifest, params, out, radius, n_jobs):
    """Features re-extracted from the eroded and dilated masks of the cohort's manifest,
    with the settings that produced the modality unless ``params`` are given."""
    if manifest is None:
        root = mdata.uns.get("radiogenomics", {}) if isinstance(mdata, md.MuData) else {}
        manifest = root.get("manifest")
        if manifest is None:
            raise CohortError(
                "no replicates given and the cohort has no image manifest",
                expected="replicates= or manifest=",
            )
    if params is None:
        stored = adata.uns.get("radiogenomics", {}).get("params")
        if stored is None:
            raise CohortError(
                "the extraction settings of the modality are unknown",
                expected="params= (as given to rg.extract.features)",
            )
        params = json.loads(stored) if isinstance(stored, str) else dict(stored)
    return perturbation_features(manifest, params, out=out, radius=radius, n_jobs=n_jobs)


def _icc_by_pattern(cube: np.ndarray) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Every ICC of every feature, fitted once per pattern of complete subjects, and the
    number of subjects each feature uses."""
    n_features, n_reps = cube.shape[2], cube.shape[1]
    results = {
        key: np.full(n_features, np.nan)
        for key in (
            "icc1",
            "icc2",
            "icc3",
            "icc2_ci_lower",
            "icc2_ci_upper",
            "icc3_ci_lower",
            "icc3_ci_upper",
            "f1",
            "f2",
            "p1",
            "p2",
        )
    }
    n_subjects = np.zeros(n_features, dtype=np.int64)
    complete = np.isfinite(cube).all(axis=1)  # subjects x features
    patterns, inverse = np.unique(complete.T, axis=0, return_inverse=True)
    for k, pattern in enumerate(patterns):
        columns = np.flatnonzero(inverse.ravel() == k)
        rows = np.flatnonzero(pattern)
        n_subjects[columns] = rows.size
        if rows.size < 2:
            continue
        fitted = intraclass_correlation(cube[np.ix_(rows, np.arange(n_reps), columns)])
        for key in results:
            results[key][columns] = fitted[key]
    return results, n_subjects


def _robustness_table(names, n_subjects, n_replicates, results, kernel, robust) -> pd.DataFrame:
    """The per-feature table of :data:`ROBUSTNESS_COLUMNS`."""
    return pd.DataFrame(
        {
            "feature": names,
            "n_subjects": n_subjects,
            "n_replicates": n_replicates,
            "icc_1_1": results["icc1"],
            "icc_2_1": results["icc2"],
            "icc_2_1_ci_lower": results["icc2_ci_lower"],
            "icc_2_1_ci_upper": results["icc2_ci_upper"],
            "icc_3_1": results["icc3"],
            "icc_3_1_ci_lower": results["icc3_ci_lower"],
            "icc_3_1_ci_upper": results["icc3_ci_upper"],
            "f_statistic": results["f1"] if kernel == "icc1" else results["f2"],
            "p_value": results["p1"] if kernel == "icc1" else results["p2"],
            "robust": robust,
        }
    )[ROBUSTNESS_COLUMNS]


@keyword_only("mod")
def robust_features(
    mdata: md.MuData | AnnData,
    mod: str = "radiomics",
    replicates: AnnData | None = None,
    *,
    subject_key: str = "subject",
    replicate_key: str = "replicate",
    icc: Literal["icc_2_1", "icc_3_1", "icc_1_1"] = "icc_3_1",
    threshold: float = 0.75,
    subset: bool = False,
    manifest: pd.DataFrame | str | os.PathLike | None = None,
    params=None,
    radius: int = 1,
    out: str | os.PathLike | None = None,
    n_jobs: int | None = None,
    key_added: str | None = None,
) -> pd.DataFrame:
    """Intraclass correlation of every feature between repeated extractions, and a flag
    on features below ``threshold``.

    Parameters
    ----------
    mdata
        The cohort (or a modality's AnnData).
    mod
        Modality whose features are judged.
    replicates
        Repeated extractions as rows (test-retest scans, several segmentations), with
        ``obs`` columns ``subject_key`` (patient or lesion) and ``replicate_key``. When
        ``None``, the perturbation path runs: every mask of ``manifest`` (by default the
        cohort's own image manifest, ``mdata.uns["radiogenomics"]["manifest"]``) is
        eroded and dilated by ``radius`` voxels and features are re-extracted with
        ``params`` (by default the settings that produced the modality).
    icc
        The coefficient that decides robustness: ``"icc_3_1"`` (two-way mixed,
        consistency; the default), ``"icc_2_1"`` (two-way random, absolute agreement)
        or ``"icc_1_1"``.
    threshold
        Features with the chosen ICC below this are flagged (0.75: "good" reliability).
    subset
        Also remove the flagged features from the modality.
    out, n_jobs
        Folder for perturbed masks (a temporary folder by default); extraction workers.

    Returns
    -------
    pandas.DataFrame
        Per feature (columns :data:`ROBUSTNESS_COLUMNS`): ICC(1,1), ICC(2,1) and
        ICC(3,1) with 95% confidence intervals, the F test of the chosen coefficient
        and the ``robust`` flag. Subjects lacking a replicate or a value are left out
        feature by feature (``n_subjects``). Stored as
        ``rg.get_result(mdata, "robustness", mod)``; ``var`` gets ``icc_2_1``,
        ``icc_3_1`` and ``robust``.

    See Also
    --------
    perturbation_features : replicates from eroded and dilated masks.
    remove_redundant : with ``keep="robust"``, keep the most robust feature of a cluster.

    Examples
    --------
    Two simulated scans per patient: the first six features repeat well, the last six are
    dominated by noise.

    >>> import anndata as ad
    >>> import numpy as np
    >>> import pandas as pd
    >>> import radiogenomics as rg
    >>> mdata = rg.datasets.toy_cohort(n_patients=30)
    >>> rad = mdata["radiomics"]
    >>> rng = np.random.default_rng(0)
    >>> noise = rad.X.std(axis=0) * np.repeat([0.1, 2.0], 6)
    >>> scans = [rad.X + rng.normal(size=rad.shape) * noise for _ in range(2)]
    >>> obs = pd.DataFrame({"subject": list(rad.obs_names) * 2,
    ...                     "replicate": ["scan1"] * 30 + ["scan2"] * 30},
    ...                    index=[f"row{i}" for i in range(60)])
    >>> replicates = ad.AnnData(np.vstack(scans), obs=obs, var=rad.var[[]])
    >>> table = rg.pp.robust_features(mdata, mod="radiomics", replicates=replicates)
    >>> table["robust"].tolist()
    [True, True, True, True, True, True, False, False, False, False, False, False]
    >>> int(table["n_subjects"].min()), int(table["n_replicates"].max())
    (30, 2)
    """
    if icc not in ICC_KINDS:
        raise CohortError("unknown ICC kind", expected=f"one of {list(ICC_KINDS)}", found=icc)
    adata = get_modality(mdata, mod)
    names = [str(v) for v in adata.var_names]
    source = "replicates"
    if replicates is None:
        source = "mask perturbation"
        replicates = _perturbation_replicates(mdata, adata, manifest, params, out, radius, n_jobs)
        subject_key, replicate_key = "subject", "replicate"
    cube, subjects, reps = _ratings(replicates, names, subject_key, replicate_key)
    results, n_subjects = _icc_by_pattern(cube)
    kernel = ICC_KINDS[icc]
    chosen = results[kernel]
    robust = chosen >= threshold
    table = _robustness_table(names, n_subjects, reps.size, results, kernel, robust)
    adata.var["icc_2_1"] = results["icc2"]
    adata.var["icc_3_1"] = results["icc3"]
    adata.var["robust"] = robust
    params_out = {
        "mod": mod,
        "icc": icc,
        "threshold": threshold,
        "source": source,
        "replicates": [str(r) for r in reps],
        "n_subjects": int(subjects.size),
        "n_robust": int(robust.sum()),
        "subset": subset,
    }
    if source == "mask perturbation":
        params_out["radius"] = radius
    adata.uns.setdefault("radiogenomics", {})["robustness"] = params_out
    if subset:
        if not robust.any():
            raise CohortError(
                "no feature reaches the robustness threshold",
                expected=f"{icc} >= {threshold}",
                found=f"highest {np.nanmax(chosen):.3f}",
            )
        subset_features(mdata, mod, robust)
    if isinstance(mdata, md.MuData):
        store_result(mdata, "robustness", key_added or mod, table, params_out)
    return table
