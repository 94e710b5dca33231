"""Clinical DICOM in: image series, RTSTRUCT and SEG masks, folder-tree scans."""

from ._common import conversion_report, dicom_kind
from .rtstruct import read_rtstruct
from .seg import read_seg
from .series import read_dicom_series

__all__ = ["conversion_report", "dicom_kind", "read_dicom_series", "read_rtstruct", "read_seg"]
