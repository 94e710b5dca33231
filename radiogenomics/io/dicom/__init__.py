"""Clinical DICOM in: image series, RTSTRUCT and SEG masks, folder-tree scans."""

from ._common import conversion_report, dicom_kind
from .report import conversion_table, read_dicom_mask
from .rtstruct import read_rtstruct
from .scan import DicomScan, scan_dicom
from .seg import read_seg
from .series import read_dicom_series
from .validate import check_manifest_masks
from .write import mask_contours, write_dicom_series, write_rtstruct

__all__ = [
    "DicomScan",
    "check_manifest_masks",
    "conversion_report",
    "conversion_table",
    "dicom_kind",
    "mask_contours",
    "read_dicom_mask",
    "read_dicom_series",
    "read_rtstruct",
    "read_seg",
    "scan_dicom",
    "write_dicom_series",
    "write_rtstruct",
]
