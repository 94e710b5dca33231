"""Extraction of longitudinal manifests: one image per patient (and lesion) and time point,
for delta radiomics (:func:`radiogenomics.tl.delta`)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

import pandas as pd
from anndata import AnnData

from ..errors import SchemaError
from ..io import read_manifest
from .run import features

__all__ = ["features_by_timepoint"]

_SEPARATOR = "@"


def features_by_timepoint(
    manifest: str | os.PathLike | pd.DataFrame,
    params: str | os.PathLike | Mapping | None = None,
    **options: Any,
) -> AnnData:
    """Extract the features of a manifest with a ``timepoint`` column (baseline, week6, ...).

    The cases run in one call of :func:`radiogenomics.extract.features` (same executors,
    same cache); rows are named ``<patient>[|<lesion>]@<timepoint>`` and ``obs`` holds
    ``patient_id``, ``lesion_id`` (when given) and ``timepoint``, ready for
    :func:`radiogenomics.tl.delta`.

    Parameters
    ----------
    manifest
        Image manifest with a ``timepoint`` column (``data_schemas/image_manifest.json``).
    params, **options
        As :func:`radiogenomics.extract.features` (``n_jobs``, ``cache_dir``, ``client``...).
    """

    frame = read_manifest(manifest)
    where = None if isinstance(manifest, pd.DataFrame) else str(manifest)
    if "timepoint" not in frame.columns:
        raise SchemaError(
            "the manifest has no timepoint column",
            file=where,
            column="timepoint",
            expected="the time point of each image (baseline, week6, ...)",
            found=list(frame.columns),
        )
    missing = frame["timepoint"].isna().to_numpy()
    if missing.any():
        row = int(missing.argmax())
        raise SchemaError(
            "an image has no time point",
            file=where,
            row=row + 2,
            column="timepoint",
            expected="a time point for every image",
            found="empty",
        )
    bad = frame["timepoint"].astype(str).str.contains(r"[@|~]", regex=True).to_numpy()
    if bad.any():
        row = int(bad.argmax())
        raise SchemaError(
            "a time point contains '@', '|' or '~'",
            file=where,
            row=row + 2,
            column="timepoint",
            expected="a plain name such as week6",
            found=str(frame["timepoint"].iloc[row]),
        )
    lesion = frame["lesion_id"].astype(object).where(frame["lesion_id"].notna(), "")
    cases = frame[["patient_id", "image", "mask", "label"]].copy()
    cases["lesion_id"] = lesion.astype(str) + _SEPARATOR + frame["timepoint"].astype(str)
    adata = features(cases, params=params, **options)
    composite = adata.obs["lesion_id"].astype(str)
    original = composite.str.rsplit(_SEPARATOR, n=1).str[0]
    timepoint = composite.str.rsplit(_SEPARATOR, n=1).str[-1]
    patient = adata.obs["patient_id"].astype(str)
    adata.obs["timepoint"] = timepoint.to_numpy()
    if (original != "").any():
        adata.obs["lesion_id"] = original.to_numpy()
        names = patient + "|" + original + _SEPARATOR + timepoint
        names = names.where(original != "", patient + _SEPARATOR + timepoint)
    else:
        del adata.obs["lesion_id"]
        names = patient + _SEPARATOR + timepoint
    adata.obs_names = pd.Index(names.to_numpy(), dtype=str)
    adata.uns["radiogenomics"]["timepoints"] = sorted(set(timepoint))
    return adata
