"""The demo images as a DICOM tree: a CT series and an RTSTRUCT per patient."""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd

from ..io import read_manifest, scan_dicom
from ..io.dicom import write_dicom_series, write_rtstruct

__all__ = ["write_demo_dicom"]


def write_demo_dicom(manifest: str | os.PathLike, out: str | os.PathLike) -> Path:
    """Write the demo's NIfTI images and masks as DICOM series with RTSTRUCT contours.

    Layout, as a TCIA download would have it: ``out/<patient>/<study>/CT/slice_*.dcm`` and
    ``out/<patient>/<study>/RTSTRUCT/rs.dcm`` (the contours follow the voxel edges of the
    mask, so the RTSTRUCT gives back the mask exactly). Scan it with
    :func:`~radiogenomics.io.scan_dicom` to get a manifest.

    Parameters
    ----------
    manifest
        The demo's image manifest (:func:`~radiogenomics.datasets.write_demo_files`).
    out
        Root of the DICOM tree.

    Returns
    -------
    pathlib.Path
        ``out``.
    """
    import SimpleITK as sitk

    out = Path(out)
    frame = read_manifest(manifest)
    for row in frame.itertuples(index=False):
        study = out / str(row.patient_id) / "study-1"
        series = study / "CT"
        image = sitk.ReadImage(str(row.image))
        write_dicom_series(
            image,
            series,
            patient_id=str(row.patient_id),
            modality="CT",
            series_description="demo CT",
        )
        mask = sitk.ReadImage(str(row.mask))
        reference = sitk.ReadImage(str(next(series.glob("*.dcm"))))  # geometry of slice 0
        mask.SetOrigin(reference.GetOrigin())
        write_rtstruct(
            mask, series, study / "RTSTRUCT" / "rs.dcm", roi_name="GTV", label=int(row.label)
        )
    return out


def demo_dicom_manifest(manifest: str | os.PathLike, out: str | os.PathLike) -> pd.DataFrame:
    """Write the DICOM tree of the demo and return the manifest scanned from it."""

    root = write_demo_dicom(manifest, out)
    return scan_dicom(root).manifest
