"""The conversion report table: one row per case read from an RTSTRUCT or DICOM SEG."""

from __future__ import annotations

from typing import Any

import pandas as pd

from ._common import conversion_report, dicom_kind
from .rtstruct import read_rtstruct
from .seg import read_seg

__all__ = ["CONVERSION_COLUMNS", "conversion_table", "read_dicom_mask"]

CONVERSION_COLUMNS = [
    "patient_id",
    "lesion_id",
    "image",
    "mask",
    "source",
    "roi",
    "modality",
    "n_contours",
    "n_slices",
    "n_voxels",
    "volume_mm3",
    "n_holes",
    "warnings",
]


def _int(value: Any) -> Any:
    return pd.NA if value is None else int(value)


def conversion_table(conversions: list[tuple[dict, dict]]) -> pd.DataFrame:
    """A table of the (case, report) pairs of the cases whose mask was an RTSTRUCT or SEG.

    Columns: patient, lesion, image, mask, source (RTSTRUCT or SEG), ROI (or segment
    label), modality of the series, contours, slices with the ROI, voxels, volume in mm³,
    holes (contours inside another) and warnings (stale references, resampling, SUV
    conversion used; joined by "; ").
    """
    columns: dict[str, list] = {name: [] for name in CONVERSION_COLUMNS}
    for case, report in conversions:
        columns["patient_id"].append(str(case.get("patient_id", "")))
        columns["lesion_id"].append(case.get("lesion_id") or "")
        columns["image"].append(str(case.get("image", "")))
        columns["mask"].append(str(case.get("mask", "")))
        columns["source"].append(str(report.get("source", "")))
        columns["roi"].append(str(report.get("roi", "")))
        columns["modality"].append(str(report.get("modality") or ""))
        columns["n_contours"].append(_int(report.get("n_contours")))
        columns["n_slices"].append(_int(report.get("n_slices")))
        columns["n_voxels"].append(_int(report.get("n_voxels")))
        columns["volume_mm3"].append(float(report.get("volume_mm3", float("nan"))))
        columns["n_holes"].append(_int(report.get("n_holes")))
        columns["warnings"].append("; ".join(report.get("warnings") or []))
    dtypes = {
        "n_contours": "Int64",
        "n_slices": "Int64",
        "n_voxels": "Int64",
        "n_holes": "Int64",
        "volume_mm3": "float64",
    }
    return pd.DataFrame(
        {
            name: pd.Series(values, dtype=dtypes.get(name, object))
            for name, values in columns.items()
        }
    )


def read_dicom_mask(path, image, roi: str | None = None):
    """Read an RTSTRUCT or SEG onto ``image`` (a series read by ``read_dicom_series``).

    Returns
    -------
    mask, report
        The mask and its conversion report, with the series' warnings first and the
        series' ``modality`` and ``series_uid``; ``(None, None)`` when ``path`` is not an
        RTSTRUCT or SEG.
    """

    kind = dicom_kind(path)
    if kind is None:
        return None, None
    mask = (read_rtstruct if kind == "RTSTRUCT" else read_seg)(path, image, roi)
    report = conversion_report(mask)
    series = conversion_report(image)
    report["warnings"] = list(series.get("warnings", [])) + list(report.get("warnings", []))
    report["modality"] = series.get("modality")
    report["series_uid"] = series.get("series_uid")
    return mask, report
