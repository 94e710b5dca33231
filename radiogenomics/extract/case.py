"""Extraction of one case: read image and mask, check them, run pyradiomics."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ExtractionError

__all__ = ["CaseResult", "extract_case", "read_image"]

_GEOMETRY_TOLERANCE = 1e-3


@dataclass
class CaseResult:
    """The outcome of one case: its values, or the stage and message of its failure."""

    index: int
    values: dict[str, Any] | None = None
    stage: str | None = None
    error: str | None = None
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return self.values is not None


def _quiet_pyradiomics() -> None:
    logger = logging.getLogger("radiomics")
    logger.setLevel(logging.ERROR)
    for handler in logger.handlers:
        handler.setLevel(logging.ERROR)


def read_image(path: str, what: str):
    """Read an image file, or the DICOM series in a folder, with SimpleITK."""
    import SimpleITK as sitk

    p = Path(path)
    if not p.exists():
        raise ExtractionError(f"the {what} does not exist", file=path)
    try:
        if p.is_dir():
            reader = sitk.ImageSeriesReader()
            series = reader.GetGDCMSeriesIDs(str(p))
            if not series:
                raise ExtractionError(f"the {what} folder holds no DICOM series", file=path)
            if len(series) > 1:
                raise ExtractionError(
                    f"the {what} folder holds {len(series)} DICOM series",
                    file=path, expected="exactly one series",
                )
            reader.SetFileNames(reader.GetGDCMSeriesFileNames(str(p), series[0]))
            return reader.Execute()
        return sitk.ReadImage(str(p))
    except ExtractionError:
        raise
    except Exception as exc:  # SimpleITK raises RuntimeError with a long text
        first = str(exc).strip().splitlines()
        detail = next((line for line in first if "ERROR" in line or "exception" in line.lower()),
                      first[0] if first else type(exc).__name__)
        raise ExtractionError(f"cannot read the {what}", file=path, found=detail.strip()) from None


def check_geometry(image, mask, label: int, image_path: str, mask_path: str) -> None:
    """Raise when image and mask do not share their grid, or the label is absent."""
    import SimpleITK as sitk

    if image.GetDimension() != mask.GetDimension():
        raise ExtractionError("image and mask have different dimensions", file=mask_path,
                              expected=f"{image.GetDimension()}-D", found=f"{mask.GetDimension()}-D")
    if image.GetSize() != mask.GetSize():
        raise ExtractionError("image and mask sizes differ", file=mask_path,
                              expected=f"size {image.GetSize()}", found=f"size {mask.GetSize()}")
    for name in ("Spacing", "Origin", "Direction"):
        a = np.asarray(getattr(image, f"Get{name}")())
        b = np.asarray(getattr(mask, f"Get{name}")())
        if not np.allclose(a, b, atol=_GEOMETRY_TOLERANCE, rtol=0):
            raise ExtractionError(f"image and mask {name.lower()} differ", file=mask_path,
                                  expected=f"{name.lower()} {tuple(np.round(a, 4))}",
                                  found=f"{tuple(np.round(b, 4))}")
    labels = sitk.GetArrayViewFromImage(mask)
    if not np.any(labels != 0):
        raise ExtractionError("the mask is empty", file=mask_path, expected="a segmented region")
    if not np.any(labels == label):
        present = np.unique(labels[labels != 0])[:10].tolist()
        raise ExtractionError(f"label {label} is not in the mask", file=mask_path,
                              expected=f"voxels with label {label}", found=f"labels {present}")


def _plain(value: Any) -> Any:
    if isinstance(value, np.ndarray):
        return float(value) if value.size == 1 else str(value.tolist())
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, (dict, tuple, list)):
        return str(value)
    return value


def extract_case(index: int, case: dict, params: dict) -> CaseResult:
    """Extract the features of one manifest row; a failure is returned, never raised."""
    import time

    start = time.perf_counter()
    stage = "read image"
    try:
        from radiomics import featureextractor

        _quiet_pyradiomics()
        image = read_image(case["image"], "image")
        stage = "read mask"
        mask = read_image(case["mask"], "mask")
        stage = "check geometry"
        label = int(case.get("label") or 1)
        check_geometry(image, mask, label, case["image"], case["mask"])
        stage = "settings"
        try:
            extractor = featureextractor.RadiomicsFeatureExtractor(params)
        except Exception as exc:
            raise ExtractionError("invalid pyradiomics parameters", found=str(exc)) from None
        stage = "extract"
        result = extractor.execute(image, mask, label=label)
        values = {k: _plain(v) for k, v in result.items()}
        return CaseResult(index=index, values=values, seconds=time.perf_counter() - start)
    except Exception as exc:  # every failure is recorded for this case only
        message = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        if not isinstance(exc, ExtractionError):
            message = f"{type(exc).__name__}: {message}"
        return CaseResult(index=index, stage=stage, error=message,
                          seconds=time.perf_counter() - start)
