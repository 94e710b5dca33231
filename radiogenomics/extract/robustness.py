"""Segmentation robustness: re-extraction under mask perturbations and the intraclass
correlation of every feature across them (Zwanenburg et al. 2019, Sci Rep 9:614).

Each lesion's mask is perturbed in three ways:

- ``erode``: voxels closer than ``distance`` mm to the background are removed (exact
  Euclidean distance in physical units, so anisotropic voxels are handled and a
  distance below a voxel size leaves that axis unchanged);
- ``dilate``: background voxels within ``distance`` mm of the lesion are added;
- ``contour``: the contour is displaced by a smooth random field (Gaussian noise smoothed
  with a ``smoothing`` mm kernel, scaled to a standard deviation of ``displacement`` mm),
  applied to the signed distance of each voxel to the contour; ``n_perturbations``
  random replicates per lesion, reproducible from ``random_state``.

The perturbed masks are written to a folder (``mask_dir``, by default inside the
extraction cache) under names derived from the input mask and the perturbation, and are
not rewritten when present, so a re-run finds both the masks and, through
:func:`radiogenomics.extract.features`, the extracted cases in its cache. Extraction runs
with the same executors (local processes or a Dask ``client``).
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy import ndimage

from ..errors import InputError
from ..io import read_manifest
from ..stats.icc import intraclass_correlation
from .case import read_image
from .run import features

__all__ = [
    "robustness",
    "perturbed_manifest",
    "PERTURBATIONS",
    "ROBUSTNESS_TABLE_COLUMNS",
    "ICC_CHOICES",
]

PERTURBATIONS = ("erode", "dilate", "contour")
#: The ICC that decides robustness: kernel key and the name printed in the table.
ICC_CHOICES = {"icc_1_1": ("icc1", "ICC(1,1)"), "icc_2_1": ("icc2", "ICC(2,1)")}
ROBUSTNESS_TABLE_COLUMNS = [
    "feature",
    "image_type",
    "feature_class",
    "icc",
    "ci_lower",
    "ci_upper",
    "robust",
    "icc_kind",
    "n_subjects",
    "n_replicates",
]
_SEPARATOR = "~"


def _file_key(path: str) -> str:
    stat = os.stat(path)
    return f"{os.path.abspath(path)}:{stat.st_size}:{stat.st_mtime_ns}"


def _perturb(
    mask: np.ndarray,
    spacing_zyx: np.ndarray,
    kind: str,
    distance: float,
    displacement: float,
    smoothing: float,
    rng: np.random.Generator | None,
) -> np.ndarray:
    if kind == "erode":
        inside = ndimage.distance_transform_edt(mask, sampling=spacing_zyx)
        return mask & (inside > distance)
    if kind == "dilate":
        outside = ndimage.distance_transform_edt(~mask, sampling=spacing_zyx)
        return mask | (outside <= distance)
    # contour: signed distance (negative inside, positive outside), displaced by a smooth
    # random field
    inside = ndimage.distance_transform_edt(mask, sampling=spacing_zyx)
    outside = ndimage.distance_transform_edt(~mask, sampling=spacing_zyx)
    # half a voxel puts the contour between the last voxel inside and the first outside
    signed = np.where(mask, -(inside - 0.5 * spacing_zyx.min()), outside - 0.5 * spacing_zyx.min())
    field = rng.normal(size=mask.shape)
    field = ndimage.gaussian_filter(field, sigma=smoothing / spacing_zyx, mode="reflect")
    sd = field.std()
    field = field / sd * displacement if sd > 0 else field * 0.0
    return signed < field


_PERTURBED_COLUMNS = [
    "patient_id",
    "image",
    "mask",
    "label",
    "lesion_id",
    "subject",
    "replicate",
    "note",
]


def _check_perturbation_arguments(
    perturbations: Sequence[str],
    n_perturbations: int,
    distance: float | None,
    displacement: float | None,
    smoothing: float | None,
) -> None:
    """Refuse unknown perturbations, no random contours, and lengths that are not positive."""
    unknown = [p for p in perturbations if p not in PERTURBATIONS]
    if unknown or not perturbations:
        raise InputError(
            "unknown mask perturbation",
            expected=f"some of {PERTURBATIONS}",
            found=list(unknown or perturbations),
        )
    if "contour" in perturbations and int(n_perturbations) < 1:
        raise InputError(
            "n_perturbations is the number of random contours per lesion",
            expected="at least 1",
            found=n_perturbations,
        )
    for name, value in (
        ("distance", distance),
        ("displacement", displacement),
        ("smoothing", smoothing),
    ):
        if value is not None and not (np.isfinite(value) and value > 0):
            raise InputError(
                f"{name} is a length in millimetres", expected="a number above 0", found=value
            )


def _lesion_lengths(
    spacing_zyx: np.ndarray,
    distance: float | None,
    displacement: float | None,
    smoothing: float | None,
) -> tuple[float, float, float]:
    """Erosion/dilation distance, contour displacement and smoothing in mm for one mask."""
    d = float(distance) if distance is not None else float(spacing_zyx[1:].min())
    shift = float(displacement) if displacement is not None else float(spacing_zyx[1:].min())
    smooth = float(smoothing) if smoothing is not None else 4.0 * shift
    return d, shift, smooth


def _replicate_plan(perturbations: Sequence[str], n_perturbations: int) -> list[str]:
    """The replicate names: the fixed perturbations, then ``contour1`` ... ``contourN``."""
    plan = [p for p in perturbations if p != "contour"]
    plan += (
        [f"contour{i + 1}" for i in range(int(n_perturbations))]
        if "contour" in perturbations
        else []
    )
    return plan


def _contour_rng(
    random_state: int | None, subject: str, label: int, replicate: str
) -> np.random.Generator:
    """The random stream of one lesion's random contour replicate."""
    seed = int(
        hashlib.sha1(repr((random_state, subject, label, replicate)).encode()).hexdigest()[:8],
        16,
    )
    return np.random.default_rng(seed)


def _replicate_row(
    base: dict, mask: str, label: int, lesion: str, replicate: str, note: str
) -> dict:
    """One row of the perturbed manifest."""
    return {
        **base,
        "mask": mask,
        "label": label,
        "lesion_id": f"{lesion}{_SEPARATOR}{replicate}",
        "replicate": replicate,
        "note": note,
    }


def perturbed_manifest(
    manifest,
    mask_dir: str | os.PathLike,
    *,
    perturbations: Sequence[str] = PERTURBATIONS,
    n_perturbations: int = 3,
    distance: float | None = None,
    displacement: float | None = None,
    smoothing: float | None = None,
    random_state: int | None = 0,
) -> pd.DataFrame:
    """Write the perturbed masks of every lesion of a manifest and list them.

    Parameters are those of :func:`robustness`.

    Returns
    -------
    DataFrame
        A manifest for :func:`radiogenomics.extract.features`: ``patient_id``, ``image``,
        ``mask``, ``label``, ``lesion_id`` (``<lesion>~<replicate>``), with ``subject``
        (patient, or patient|lesion), ``replicate`` (``original``, ``erode``,
        ``dilate``, ``contour1`` ...) and ``note`` (a perturbation that emptied the
        lesion).
    """
    import SimpleITK as sitk

    _check_perturbation_arguments(perturbations, n_perturbations, distance, displacement, smoothing)
    cases = read_manifest(manifest)
    folder = Path(mask_dir)
    folder.mkdir(parents=True, exist_ok=True)
    rows = []
    for row_number, case in enumerate(cases.itertuples(index=False)):
        case = case._asdict()
        lesion = "" if pd.isna(case.get("lesion_id")) else str(case["lesion_id"])
        subject = f"{case['patient_id']}|{lesion}" if lesion else str(case["patient_id"])
        label = int(case["label"])
        base = {"patient_id": case["patient_id"], "image": case["image"], "subject": subject}
        mask_image = read_image(case["mask"], "mask")
        spacing = np.asarray(mask_image.GetSpacing(), dtype=float)[::-1]  # z, y, x
        lesion_mask = sitk.GetArrayFromImage(mask_image) == label
        if not lesion_mask.any():
            raise InputError(
                f"label {label} is not in the mask",
                file=case["mask"],
                row=row_number + 1,
                column="label",
                expected="a label of the mask",
                found=sorted(np.unique(sitk.GetArrayViewFromImage(mask_image)))[:8],
            )
        d, shift, smooth = _lesion_lengths(spacing, distance, displacement, smoothing)
        notes = []
        source_key = _file_key(case["mask"])
        perturbed = []
        for replicate in _replicate_plan(perturbations, n_perturbations):
            kind = "contour" if replicate.startswith("contour") else replicate
            settings = (source_key, label, replicate, d, shift, smooth, random_state)
            digest = hashlib.sha1(repr(settings).encode()).hexdigest()[:16]
            path = folder / f"mask_{digest}_{replicate}.nrrd"  # NRRD keeps the geometry exact
            if not path.exists():
                rng = None
                if kind == "contour":
                    rng = _contour_rng(random_state, subject, label, replicate)
                changed = _perturb(lesion_mask, spacing, kind, d, shift, smooth, rng)
                if not changed.any():
                    notes.append(f"{replicate}: empty after perturbation")
                    continue
                out = sitk.GetImageFromArray(changed.astype(np.uint8))
                out.CopyInformation(mask_image)
                tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp.nrrd")
                sitk.WriteImage(out, str(tmp), useCompression=True)
                os.replace(tmp, path)
            perturbed.append(_replicate_row(base, str(path.resolve()), 1, lesion, replicate, ""))
        rows.append(_replicate_row(base, case["mask"], label, lesion, "original", "; ".join(notes)))
        rows.extend(perturbed)
    return pd.DataFrame(rows, columns=_PERTURBED_COLUMNS)


def _default_mask_dir(
    mask_dir: str | os.PathLike | None, cache_dir: str | os.PathLike | None
) -> str | os.PathLike:
    """The folder of the perturbed masks: given, inside the cache, or a new temporary one."""
    if mask_dir is None:
        mask_dir = (
            Path(cache_dir) / "perturbed_masks"
            if cache_dir is not None
            else Path(tempfile.mkdtemp(prefix="rg-robustness-"))
        )
    return mask_dir


def _replicate_cube(adata, table: pd.DataFrame) -> tuple[np.ndarray, pd.Index, pd.Index]:
    """Subjects x replicates x features values; ``adata.obs`` gets replicate and subject."""
    lesion = adata.obs["lesion_id"].astype(str)
    replicate = lesion.str.rsplit(_SEPARATOR, n=1).str[-1]
    original_lesion = lesion.str.rsplit(_SEPARATOR, n=1).str[0]
    patient = adata.obs["patient_id"].astype(str)
    adata.obs["replicate"] = replicate.to_numpy()
    adata.obs["subject"] = np.where(original_lesion == "", patient, patient + "|" + original_lesion)
    subjects = pd.Index(sorted(set(table["subject"])))
    replicates = pd.Index(list(dict.fromkeys(table["replicate"])))
    values = np.asarray(adata.X, dtype=float)
    cube = np.full((subjects.size, replicates.size, adata.n_vars), np.nan)
    cube[
        subjects.get_indexer(adata.obs["subject"]),
        replicates.get_indexer(adata.obs["replicate"]),
        :,
    ] = values
    return cube, subjects, replicates


def _icc_table(adata, fitted: Mapping, icc: str, threshold: float) -> pd.DataFrame:
    """The per-feature ICC table from the fitted intraclass correlations."""
    kernel, label = ICC_CHOICES[icc]
    var = adata.var
    out = pd.DataFrame(
        {
            "feature": np.asarray(adata.var_names, dtype=str),
            "image_type": var["image_type"].to_numpy() if "image_type" in var else "",
            "feature_class": var["feature_class"].to_numpy() if "feature_class" in var else "",
            "icc": fitted[kernel],
            "ci_lower": fitted[f"{kernel}_ci_lower"],
            "ci_upper": fitted[f"{kernel}_ci_upper"],
        }
    )
    out["robust"] = out["icc"].to_numpy() >= threshold
    out["icc_kind"] = label
    return out


def robustness(
    manifest,
    params: str | os.PathLike | Mapping | None = None,
    perturbations: Sequence[str] = PERTURBATIONS,
    n_perturbations: int = 3,
    random_state: int | None = 0,
    *,
    distance: float | None = None,
    displacement: float | None = None,
    smoothing: float | None = None,
    icc: str = "icc_1_1",
    threshold: float = 0.75,
    confidence: float = 0.95,
    n_jobs: int | None = None,
    cache_dir: str | os.PathLike | None = None,
    mask_dir: str | os.PathLike | None = None,
    client: Any = None,
    image_types=None,
    progress: bool | None = None,
    return_replicates: bool = False,
):
    """Robustness of every feature to the segmentation: features re-extracted with each
    lesion's mask eroded, dilated and its contour randomly displaced, and their intraclass
    correlation across the perturbed masks.

    Parameters
    ----------
    manifest
        Image manifest (file or DataFrame; see ``data_schemas/image_manifest.json``).
    params
        Extraction settings, as :func:`radiogenomics.extract.features`.
    perturbations
        Some of ``"erode"``, ``"dilate"``, ``"contour"``.
    n_perturbations
        Random contour displacements per lesion.
    random_state
        Seed of the random contours (each lesion and replicate has its own stream).
    distance
        Millimetres of erosion and dilation (default: the smallest in-plane voxel size,
        one voxel).
    displacement
        Standard deviation of the random contour displacement, in mm (default: the
        smallest in-plane voxel size).
    smoothing
        Width (SD, mm) of the kernel smoothing the random field (default 4 x
        ``displacement``): larger is a smoother, more plausible contour.
    icc
        ``"icc_1_1"`` (the default; one-way random effects, absolute agreement, single
        rating: the perturbed masks are exchangeable raters, as in Zwanenburg et al.) or
        ``"icc_2_1"`` (two-way random effects, absolute agreement).
    threshold
        A feature is ``robust`` when its ICC is at least this (0.75: good reliability).
    confidence
        Level of the ICC confidence interval (F distribution, as pingouin).
    n_jobs, cache_dir, client, image_types, progress
        As :func:`radiogenomics.extract.features` (workers, extraction cache, Dask,
        progress bar).
    mask_dir
        Folder of the perturbed masks (default: ``<cache_dir>/perturbed_masks``, or a new
        temporary folder without a cache). With a Dask ``client`` on other machines, it
        must be a folder the workers can read, like the images.
    return_replicates
        Also return the extracted replicates (AnnData, one row per lesion and replicate,
        ``obs`` columns ``subject`` and ``replicate``), which
        :func:`radiogenomics.pp.robust_features` accepts as ``replicates=`` to keep only
        robust features of a cohort.

    Returns
    -------
    DataFrame (and AnnData with ``return_replicates``)
        Per feature: ``feature, image_type, feature_class, icc, ci_lower, ci_upper,
        robust, icc_kind, n_subjects, n_replicates``. Lesions lacking a replicate (a
        perturbation that emptied the mask, a failed extraction) are left out of the ICC
        (``n_subjects``); ``table.attrs["left_out"]`` lists them.
    """
    if icc not in ICC_CHOICES:
        raise InputError(f"unknown icc={icc!r}", expected=f"one of {list(ICC_CHOICES)}", found=icc)
    mask_dir = _default_mask_dir(mask_dir, cache_dir)
    table = perturbed_manifest(
        manifest,
        mask_dir,
        perturbations=perturbations,
        n_perturbations=n_perturbations,
        distance=distance,
        displacement=displacement,
        smoothing=smoothing,
        random_state=random_state,
    )
    adata = features(
        table[["patient_id", "image", "mask", "label", "lesion_id"]],
        params=params,
        n_jobs=n_jobs,
        cache_dir=cache_dir,
        client=client,
        image_types=image_types,
        progress=progress,
    )
    cube, subjects, replicates = _replicate_cube(adata, table)
    complete = np.isfinite(cube).all(axis=(1, 2))
    left_out = [str(s) for s in subjects[~complete]]
    if complete.sum() < 2:
        raise InputError(
            "too few lesions with every perturbed mask extracted for an ICC",
            expected="at least two lesions",
            found=int(complete.sum()),
            hint="Use a smaller erosion distance, or more lesions",
        )
    fitted = intraclass_correlation(cube[complete], confidence=confidence)
    out = _icc_table(adata, fitted, icc, threshold)
    out["n_subjects"] = int(complete.sum())
    out["n_replicates"] = int(replicates.size)
    out = out[ROBUSTNESS_TABLE_COLUMNS]
    out.attrs["left_out"] = left_out
    out.attrs["replicates"] = list(replicates)
    out.attrs["threshold"] = threshold
    adata.uns["radiogenomics"]["perturbation"] = {
        "perturbations": list(perturbations),
        "n_perturbations": int(n_perturbations),
        "distance_mm": distance,
        "displacement_mm": displacement,
        "smoothing_mm": smoothing,
        "random_state": random_state,
        "mask_dir": str(mask_dir),
        "left_out": left_out,
    }
    if return_replicates:
        return out, adata
    return out
