"""Extraction of one case: read image and mask, check them, run pyradiomics.

:func:`extract_case` never raises: a failure is returned as a :class:`CaseResult` with the
stage where it happened and a one-line message, so that one bad case never stops a run.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ExtractionError, RadiogenomicsError
from ..io.dicom import read_dicom_series
from ..io.dicom.report import read_dicom_mask
from ..io.imagefiles import check_image_file, header_problem, nifti_nonfinite

__all__ = [
    "CONVERSION_KEY",
    "STAGES",
    "CaseResult",
    "build_extractor",
    "check_geometry",
    "check_values",
    "extract_case",
    "read_image",
    "read_mask",
]

_GEOMETRY_TOLERANCE = 1e-3
#: Key of a case's values holding its DICOM conversion report (taken out of the features).
CONVERSION_KEY = "radiogenomics_conversion"

#: Stages at which a case can fail, in the order they run.
STAGES = (
    "read image",
    "read mask",
    "check geometry",
    "check mask",
    "check ROI",
    "extract",
    "worker",
)

# pyradiomics' own mask checks (imageoperations.checkMask) raise ValueError with these texts
_GEOMETRY_MESSAGES = ("geometry mismatch", "size mismatch")
_ROI_MESSAGES = (
    "not present in mask",
    "segmented voxel",
    "too few dimensions",
    "ROI is too small",
    "bounding box",
)


@dataclass
class CaseResult:
    """The outcome of one case: its values, or the stage and message of its failure.

    See Also
    --------
    extract_case : returns one.
    radiogenomics.extract.failures_table : the failed ones as a table.

    Examples
    --------
    >>> import radiogenomics as rg
    >>> from radiogenomics.extract import CaseResult
    >>> done = CaseResult(index=0, values={"original_shape_VoxelVolume": 216.0}, seconds=0.4)
    >>> failed = CaseResult(index=1, stage="read image", error="the image does not exist")
    >>> done.ok, failed.ok
    (True, False)
    >>> failed.stage in rg.extract.STAGES
    True
    """

    index: int
    values: dict[str, Any] | None = None
    stage: str | None = None
    error: str | None = None
    seconds: float = 0.0
    cached: bool = False

    @property
    def ok(self) -> bool:
        return self.values is not None


def _quiet_pyradiomics() -> None:
    import radiomics  # noqa: F401  (importing it sets its log level: quiet it afterwards)

    logger = logging.getLogger("radiomics")
    logger.setLevel(logging.ERROR)
    for handler in logger.handlers:
        handler.setLevel(logging.ERROR)


def _sitk_detail(exc: Exception) -> str:
    lines = [line.strip() for line in str(exc).strip().splitlines() if line.strip()]
    detail = next(
        (line for line in lines if "ERROR" in line or "exception" in line.lower()),
        lines[0] if lines else type(exc).__name__,
    )
    return detail[:300]


def read_image(path: str | Path, what: str = "image", series_uid: str | None = None):
    """Read an image file (NIfTI, NRRD, MetaImage, ...) or the DICOM series in a folder.

    Parameters
    ----------
    path
        File, or folder holding exactly one DICOM series.
    what
        ``"image"`` or ``"mask"``, for messages.
    series_uid
        The series to read when a folder holds several
        (:func:`~radiogenomics.io.read_dicom_series`).

    Returns
    -------
    SimpleITK.Image

    Raises
    ------
    ExtractionError
        When the path does not exist or cannot be read.
    InputError
        When a folder holds no (or several) DICOM series or a series that cannot be used.

    See Also
    --------
    radiogenomics.io.read_dicom_series : what reads a DICOM series folder.

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> import SimpleITK as sitk
    >>> import radiogenomics as rg
    >>> path = Path(tempfile.mkdtemp()) / "P1_ct.nii.gz"
    >>> sitk.WriteImage(sitk.Image(10, 12, 8, sitk.sitkInt16), str(path))
    >>> rg.extract.read_image(path).GetSize()
    (10, 12, 8)
    >>> try:
    ...     rg.extract.read_image(path.with_name("P2_ct.nii.gz"))
    ... except rg.errors.ExtractionError as exc:
    ...     print(exc.message)
    the image does not exist
    """
    import SimpleITK as sitk

    p = Path(path)
    if not p.exists():
        raise ExtractionError(f"the {what} does not exist", file=path)
    try:
        if p.is_dir():  # sorted by geometry, rescaled, PET in SUV (see io.dicom)
            return read_dicom_series(p, series_uid=series_uid)
        check_image_file(p, what)
        image = sitk.ReadImage(str(p))
    except RadiogenomicsError:
        raise
    except Exception as exc:  # SimpleITK raises RuntimeError with a long text
        problem = header_problem(p)
        if problem is not None:
            raise ExtractionError(
                f"the {what} file's header is corrupt", file=path, found=problem
            ) from None
        raise ExtractionError(
            f"cannot read the {what}",
            file=path,
            found=_sitk_detail(exc),
            hint="Is it an image file (NIfTI, NRRD, MHA) or a DICOM series folder?",
        ) from None
    if image.GetDimension() > 3:
        raise ExtractionError(
            f"the {what} is {image.GetDimension()}-D (size {image.GetSize()})",
            file=path,
            expected="a 3-D volume or a 2-D slice",
            found=f"{image.GetDimension()} dimensions (a time series or several volumes?)",
            hint="Save one volume of it, e.g. with SimpleITK's Extract",
        )
    return image


def check_values(image, mask, label: int, image_path: str) -> None:
    """Raise when the ROI holds voxels that are not finite numbers (NaN, infinity).

    pyradiomics would extract them (and SimpleITK reads NaN voxels of NIfTI files as 0),
    which gives wrong values without a warning.
    """
    import SimpleITK as sitk

    if image.GetNumberOfComponentsPerPixel() != 1 or mask.GetNumberOfComponentsPerPixel() != 1:
        return
    roi = sitk.GetArrayViewFromImage(mask) == label
    values = sitk.GetArrayViewFromImage(image)
    if roi.shape != values.shape:
        return  # the mask is resampled onto the image by pyradiomics (correctMask)
    bad = nifti_nonfinite(image_path)
    if bad is None or bad.shape != roi.shape:
        if not np.issubdtype(values.dtype, np.floating):
            return
        bad = ~np.isfinite(values)
    n_bad = int((bad & roi).sum())
    if n_bad:
        raise ExtractionError(
            f"{n_bad} of the {int(roi.sum())} voxels inside the ROI are not numbers "
            "(NaN or infinite)",
            file=image_path,
            expected="finite intensities inside the ROI",
            found=f"{n_bad} non-finite voxel(s)",
            hint="Fill or exclude them (for example shrink the mask) before extraction",
        )


def _text(value: Any) -> str | None:
    if value is None or (isinstance(value, float) and value != value):
        return None
    text = str(value).strip()
    return text or None


def read_mask(path: str | Path, image, roi: str | None = None):
    """Read a mask file, or rasterise an RTSTRUCT or DICOM SEG onto the image's grid.

    Parameters
    ----------
    path
        Label image file, or an RTSTRUCT/SEG file (told apart by its DICOM header).
    image
        The case's image (the series grid a DICOM segmentation is placed on).
    roi
        ROI name or regular expression (RTSTRUCT), segment label or number (SEG).

    Returns
    -------
    mask, conversion
        The mask, and for a DICOM segmentation the conversion report (see
        :func:`~radiogenomics.io.conversion_report`, with the series' warnings added), else
        ``None``.
    """

    mask, report = read_dicom_mask(path, image, roi)
    if mask is not None:
        return mask, report
    if roi is not None:
        raise ExtractionError(
            "a roi is given but the mask is not an RTSTRUCT or SEG",
            file=path,
            expected="no roi for a label image",
            found=roi,
        )
    return read_image(path, "mask"), None


def check_geometry(
    image,
    mask,
    label: int,
    image_path: str,
    mask_path: str,
    *,
    tolerance: float = _GEOMETRY_TOLERANCE,
    same_grid: bool = True,
) -> None:
    """Raise when image and mask do not share their grid, or the label is absent.

    Parameters
    ----------
    image, mask
        SimpleITK images.
    label
        Label value of the region in the mask.
    tolerance
        Largest difference allowed in spacing, origin and direction.
    same_grid
        Require the same size, spacing, origin and direction. ``False`` when pyradiomics
        resamples the mask onto the image (setting ``correctMask``).

    Raises
    ------
    ExtractionError
        Naming the mask file, what differs or which labels the mask holds.

    Examples
    --------
    >>> import SimpleITK as sitk
    >>> import radiogenomics as rg
    >>> image = sitk.Image(10, 10, 10, sitk.sitkInt16)
    >>> mask = sitk.Image(10, 10, 10, sitk.sitkUInt8)
    >>> mask[5, 5, 5] = 1
    >>> rg.extract.check_geometry(image, mask, 1, "P1_ct.nii.gz", "P1_seg.nii.gz")  # fine
    >>> try:
    ...     rg.extract.check_geometry(image, mask, 2, "P1_ct.nii.gz", "P1_seg.nii.gz")
    ... except rg.errors.ExtractionError as exc:
    ...     print(exc)
    P1_seg.nii.gz: label 2 is not in the mask (expected voxels with label 2, found
    'labels 1')
    >>> mask.SetSpacing((1.0, 1.0, 2.0))
    >>> try:
    ...     rg.extract.check_geometry(image, mask, 1, "P1_ct.nii.gz", "P1_seg.nii.gz")
    ... except rg.errors.ExtractionError as exc:
    ...     print(exc)
    P1_seg.nii.gz: image and mask spacing differ (expected spacing (1.0, 1.0, 1.0),
    found '(1.0, 1.0, 2.0)')
    >>> rg.extract.check_geometry(  # pyradiomics resamples the mask (correctMask)
    ...     image, mask, 1, "P1_ct.nii.gz", "P1_seg.nii.gz", same_grid=False
    ... )
    """
    import SimpleITK as sitk

    if image.GetDimension() != mask.GetDimension():
        raise ExtractionError(
            "image and mask have different dimensions",
            file=mask_path,
            expected=f"{image.GetDimension()}-D",
            found=f"{mask.GetDimension()}-D",
        )
    if same_grid:
        if image.GetSize() != mask.GetSize():
            raise ExtractionError(
                "image and mask sizes differ",
                file=mask_path,
                expected=f"size {image.GetSize()}",
                found=f"size {mask.GetSize()}",
            )
        for name in ("Spacing", "Origin", "Direction"):
            a = np.asarray(getattr(image, f"Get{name}")())
            b = np.asarray(getattr(mask, f"Get{name}")())
            if not np.allclose(a, b, atol=tolerance, rtol=0):
                raise ExtractionError(
                    f"image and mask {name.lower()} differ",
                    file=mask_path,
                    expected=f"{name.lower()} {tuple(np.round(a, 4).tolist())}",
                    found=f"{tuple(np.round(b, 4).tolist())}",
                )
    if mask.GetNumberOfComponentsPerPixel() != 1:
        return  # vector label maps: pyradiomics picks the channel (label_channel)
    labels = sitk.GetArrayViewFromImage(mask)
    if np.issubdtype(labels.dtype, np.floating):
        fractional = labels != np.round(labels)
        if fractional.any():
            values = np.unique(labels[fractional])
            shown = ", ".join(f"{v:g}" for v in values[:5].tolist()) + (
                " ..." if values.size > 5 else ""
            )
            raise ExtractionError(
                f"the mask holds non-integer values in {int(fractional.sum())} voxels",
                file=mask_path,
                expected="a label map (whole-number labels)",
                found=f"values {shown} (a probability or partial-volume map?)",
                hint="Threshold it into labels first, for example (mask >= 0.5)",
            )
    present = labels == label
    if present.any():
        return
    nonzero = labels[labels != 0]
    if nonzero.size == 0:
        raise ExtractionError(
            "the mask is empty", file=mask_path, expected="a segmented region", found="only zeros"
        )
    values = np.unique(nonzero)
    shown = ", ".join(str(v) for v in values[:10].tolist()) + (" ..." if values.size > 10 else "")
    raise ExtractionError(
        f"label {label} is not in the mask",
        file=mask_path,
        expected=f"voxels with label {label}",
        found=f"labels {shown}",
    )


def as_single_slice(image, mask, params: dict):
    """A 2-D image and mask as one-slice volumes, with settings for 2-D extraction.

    pyradiomics' 3-D shape features are undefined on a slice (they come out NaN): the
    volumes get the in-plane ``shape2D`` class instead, and texture matrices are computed
    in the slice (``force2D``).
    """
    import SimpleITK as sitk

    image3d, mask3d = sitk.JoinSeries(image), sitk.JoinSeries(mask)
    params2d = json.loads(json.dumps(params))
    settings = params2d.setdefault("setting", {})
    settings["force2D"] = True
    settings["force2Ddimension"] = 0
    classes = params2d.get("featureClass")
    if classes and "shape" in classes:
        classes["shape2D"] = []
        del classes["shape"]
    return image3d, mask3d, params2d


def _plain(value: Any) -> Any:
    if isinstance(value, np.ndarray):
        return float(value) if value.size == 1 else str(value.tolist())
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, (dict, tuple, list)):
        return str(value)
    return value


def describe(exc: BaseException) -> str:
    """One line describing a failure, without the file (the failures table has the paths)."""
    if isinstance(exc, RadiogenomicsError):
        text = exc.message
        details = []
        if exc.expected is not None:
            details.append(f"expected {exc.expected}")
        if exc.found is not None:
            details.append(f"found {exc.found}")
        if details:
            text += " (" + ", ".join(details) + ")"
        return text
    lines = [line.strip() for line in str(exc).strip().splitlines() if line.strip()]
    message = lines[0] if lines else ""
    return f"{type(exc).__name__}: {message}" if message else type(exc).__name__


_EXTRACTORS: dict[str, Any] = {}


def build_extractor(params: dict):
    """The pyradiomics extractor for these settings, built once per process and settings.

    Building one validates the settings (pyradiomics checks them against its schema),
    which costs more than extracting a small case, so it is done once.
    """
    from radiomics import featureextractor

    key = json.dumps(params, sort_keys=True, default=str)
    extractor = _EXTRACTORS.get(key)
    if extractor is None:
        logger = logging.getLogger("pykwalify")
        level = logger.level
        logger.setLevel(logging.CRITICAL)
        try:
            extractor = featureextractor.RadiomicsFeatureExtractor(json.loads(key))
        except Exception as exc:
            raise ExtractionError(
                "invalid pyradiomics parameters", found=" ".join(str(exc).split())[:300]
            ) from None
        finally:
            logger.setLevel(level)
        if len(_EXTRACTORS) >= 4:
            _EXTRACTORS.clear()
        _EXTRACTORS[key] = extractor
    return extractor


def extract_case(index: int, case: dict, params: dict) -> CaseResult:
    """Extract the features of one manifest row; a failure is returned, never raised.

    Parameters
    ----------
    index
        Position of the row in the manifest (returned with the result).
    case
        The row: ``image``, ``mask`` (absolute paths) and ``label``.
    params
        Resolved pyradiomics parameters (:func:`~radiogenomics.extract.resolve_params`).

    Returns
    -------
    CaseResult
        The feature values by pyradiomics name (diagnostics included), or the stage
        (one of :data:`STAGES`) and the message of the failure.

    See Also
    --------
    radiogenomics.extract.features : every row of a manifest, in parallel and cached.

    Examples
    --------
    A 10 x 10 x 10 image whose intensity is ten times the sum of the voxel indices, and a
    6 x 6 x 6 cube mask:

    >>> import tempfile
    >>> from pathlib import Path
    >>> import numpy as np
    >>> import SimpleITK as sitk
    >>> import radiogenomics as rg
    >>> folder = Path(tempfile.mkdtemp())
    >>> values = np.indices((10, 10, 10)).sum(axis=0) * 10
    >>> sitk.WriteImage(sitk.GetImageFromArray(values.astype(np.int16)), str(folder / "ct.nii"))
    >>> cube = np.zeros((10, 10, 10), np.uint8)
    >>> cube[2:8, 2:8, 2:8] = 1
    >>> sitk.WriteImage(sitk.GetImageFromArray(cube), str(folder / "seg.nii"))
    >>> case = {"image": str(folder / "ct.nii"), "mask": str(folder / "seg.nii"), "label": 1}
    >>> params = rg.extract.resolve_params("default")
    >>> result = rg.extract.extract_case(0, case, params)
    >>> result.ok, result.values["original_shape_VoxelVolume"]
    (True, 216.0)
    >>> result.values["original_firstorder_Mean"]
    135.0
    >>> failed = rg.extract.extract_case(1, dict(case, label=2), params)  # returned, not raised
    >>> failed.ok, failed.stage, failed.error
    (False, 'check mask', 'label 2 is not in the mask (expected voxels with label 2, found
    labels 1)')
    """
    start = time.perf_counter()
    stage = "settings"
    try:
        _quiet_pyradiomics()
        extractor = build_extractor(params)
        settings = params.get("setting") or {}
        stage = "read image"
        image = read_image(case["image"], "image", _text(case.get("series_uid")))
        stage = "read mask"
        mask, conversion = read_mask(case["mask"], image, _text(case.get("roi")))
        stage = "check geometry"
        label = case.get("label")
        label = int(label) if label is not None and label == label else 1
        tolerance = settings.get("geometryTolerance") or _GEOMETRY_TOLERANCE
        same_grid = not settings.get("correctMask", False)
        try:
            check_geometry(
                image,
                mask,
                label,
                case["image"],
                case["mask"],
                tolerance=max(float(tolerance), _GEOMETRY_TOLERANCE),
                same_grid=same_grid,
            )
        except ExtractionError as exc:
            if "mask" in exc.message and "image and mask" not in exc.message:
                stage = "check mask"
            raise
        stage = "check ROI"
        check_values(image, mask, label, case["image"])
        if image.GetDimension() == 2:
            image, mask, params2d = as_single_slice(image, mask, params)
            extractor = build_extractor(params2d)
        stage = "extract"
        try:
            result = extractor.execute(image, mask, label=label)
        except ValueError as exc:
            if any(text in str(exc) for text in _GEOMETRY_MESSAGES):
                stage = "check geometry"
            elif any(text in str(exc) for text in _ROI_MESSAGES):
                stage = "check ROI"
            raise
        values = {k: _plain(v) for k, v in result.items()}
        if conversion is not None:
            values[CONVERSION_KEY] = conversion
        return CaseResult(index=index, values=values, seconds=time.perf_counter() - start)
    except Exception as exc:  # every failure is recorded for this case only
        return CaseResult(
            index=index, stage=stage, error=describe(exc), seconds=time.perf_counter() - start
        )
