"""Shared pieces of the DICOM readers: headers, geometry of a series grid, reports."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ...errors import InputError

__all__ = ["REPORT_KEY", "Grid", "conversion_report", "dicom_kind", "is_dicom_file", "read_header"]

#: Metadata key of a SimpleITK image holding its conversion report (JSON).
REPORT_KEY = "radiogenomics:conversion"
#: Metadata keys (DICOM tags, as SimpleITK names them) set on images read from DICOM.
SERIES_UID_KEY = "0020|000e"
FRAME_OF_REFERENCE_KEY = "0020|0052"
MODALITY_KEY = "0008|0060"
SOP_UIDS_KEY = "radiogenomics:sop_instance_uids"

SEGMENTATION_MODALITIES = ("RTSTRUCT", "SEG")


def is_dicom_file(path: str | os.PathLike) -> bool:
    """Whether a file starts with the DICOM preamble (``DICM`` at byte 128)."""
    try:
        with open(path, "rb") as handle:
            handle.seek(128)
            return handle.read(4) == b"DICM"
    except OSError:
        return False


def read_header(
    path: str | os.PathLike,
    what: str = "DICOM file",
    *,
    pixels: bool = False,
    specific_tags: list[str] | None = None,
):
    """The DICOM header of a file (without its pixel data unless ``pixels``).

    Raises ``InputError`` naming the file when it is missing or unreadable.
    """
    import pydicom
    from pydicom.errors import InvalidDicomError

    if not Path(path).is_file():
        raise InputError(f"the {what} does not exist", file=path)
    try:
        return pydicom.dcmread(
            str(path), stop_before_pixels=not pixels, specific_tags=specific_tags
        )
    except (InvalidDicomError, OSError, EOFError, ValueError, TypeError, AttributeError) as exc:
        raise InputError(
            f"cannot read the {what}",
            file=path,
            found=" ".join(str(exc).split())[:200] or type(exc).__name__,
        ) from None


def dicom_kind(path: str | os.PathLike) -> str | None:
    """``"RTSTRUCT"`` or ``"SEG"`` for a DICOM segmentation file, ``None`` otherwise."""
    p = Path(path)
    if not p.is_file() or not is_dicom_file(p):
        return None
    from pydicom.filereader import read_partial

    try:  # the header up to Modality (0008,0060) only: cheap for large RTSTRUCTs
        with open(p, "rb") as handle:
            ds = read_partial(handle, stop_when=lambda tag, vr, length: tag > 0x00080060)
        modality = str(ds.get("Modality", ""))
    except Exception:  # not readable as DICOM: not a segmentation
        return None
    return modality if modality in SEGMENTATION_MODALITIES else None


@dataclass
class Grid:
    """The voxel grid of a series: size (x, y, z), spacing, origin, direction (3x3)."""

    size: tuple[int, int, int]
    spacing: np.ndarray
    origin: np.ndarray
    direction: np.ndarray
    frame_of_reference: str | None = None
    series_uid: str | None = None
    sop_instance_uids: list[str] = field(default_factory=list)
    source: str = "image"
    report: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_image(cls, image, source: str = "image") -> Grid:
        def meta(key):
            return image.GetMetaData(key).strip() if image.HasMetaDataKey(key) else None

        uids = meta(SOP_UIDS_KEY)
        report = meta(REPORT_KEY)
        return cls(
            size=tuple(int(s) for s in image.GetSize()),
            spacing=np.asarray(image.GetSpacing(), float),
            origin=np.asarray(image.GetOrigin(), float),
            direction=np.asarray(image.GetDirection(), float).reshape(3, 3),
            frame_of_reference=meta(FRAME_OF_REFERENCE_KEY),
            series_uid=meta(SERIES_UID_KEY),
            sop_instance_uids=json.loads(uids) if uids else [],
            source=source,
            report=json.loads(report) if report else {},
        )

    def continuous_index(self, points: np.ndarray) -> np.ndarray:
        """Continuous voxel indices (x, y, z) of physical points (n, 3) in mm."""
        matrix = self.direction * self.spacing[None, :]
        return np.linalg.solve(matrix, (np.asarray(points, float) - self.origin).T).T

    @property
    def voxel_volume(self) -> float:
        return float(np.prod(self.spacing))

    def image(self, array: np.ndarray):
        """A SimpleITK image on this grid from an array ordered (z, y, x)."""
        import SimpleITK as sitk

        image = sitk.GetImageFromArray(array)
        image.SetSpacing(tuple(float(s) for s in self.spacing))
        image.SetOrigin(tuple(float(o) for o in self.origin))
        image.SetDirection(tuple(float(d) for d in self.direction.ravel()))
        if self.frame_of_reference:
            image.SetMetaData(FRAME_OF_REFERENCE_KEY, self.frame_of_reference)
        if self.series_uid:
            image.SetMetaData(SERIES_UID_KEY, self.series_uid)
        return image


def set_report(image, report: dict[str, Any]) -> None:
    image.SetMetaData(REPORT_KEY, json.dumps(report, default=str))


def conversion_report(image) -> dict[str, Any]:
    """The conversion report attached to an image read by the DICOM readers.

    Parameters
    ----------
    image
        A ``SimpleITK.Image`` returned by :func:`read_dicom_series`, :func:`read_rtstruct`
        or :func:`read_seg`.

    Returns
    -------
    dict
        For a mask: ``source`` (RTSTRUCT or SEG), ``roi``, ``n_contours``, ``n_slices``,
        ``n_voxels``, ``volume_mm3``, ``n_holes`` and ``warnings`` (a list of sentences);
        for a series: ``modality``, ``series_uid``, ``n_slices``, ``units`` and ``warnings``.
        Empty when the image carries no report.

    See Also
    --------
    radiogenomics.io.DicomScan.conversion_report : the reports of a scanned tree, as a table.

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> import numpy as np
    >>> import SimpleITK as sitk
    >>> import radiogenomics as rg
    >>> from radiogenomics.io.dicom import write_dicom_series
    >>> ct = sitk.GetImageFromArray(np.zeros((3, 8, 8), np.int16))
    >>> folder = write_dicom_series(ct, Path(tempfile.mkdtemp()) / "CT", patient_id="P1")
    >>> report = rg.io.conversion_report(rg.io.read_dicom_series(folder))
    >>> sorted(report)
    ['modality', 'n_slices', 'series_uid', 'units', 'warnings']
    >>> report["modality"], report["n_slices"], report["units"], report["warnings"]
    ('CT', 3, None, [])
    >>> rg.io.conversion_report(ct)  # not read from DICOM: no report
    {}
    """
    if not image.HasMetaDataKey(REPORT_KEY):
        return {}
    return json.loads(image.GetMetaData(REPORT_KEY))


def as_text(value: Any) -> str:
    return "" if value is None else str(value).strip()
