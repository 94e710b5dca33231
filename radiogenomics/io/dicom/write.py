"""Write an image as a DICOM series and a voxel mask as an RTSTRUCT on it (pydicom)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from ...errors import InputError
from ._common import Grid
from .series import read_dicom_series, series_headers

__all__ = ["mask_contours", "write_dicom_series", "write_rtstruct"]

_STORAGE = {
    "CT": "1.2.840.10008.5.1.4.1.1.2",
    "MR": "1.2.840.10008.5.1.4.1.1.4",
    "PT": "1.2.840.10008.5.1.4.1.1.128",
}
_RTSTRUCT = "1.2.840.10008.5.1.4.1.1.481.3"


def _dataset(sop_class: str, sop_uid: str):
    from pydicom.dataset import FileDataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian

    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = sop_class
    meta.MediaStorageSOPInstanceUID = sop_uid
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = FileDataset(None, {}, file_meta=meta, preamble=b"\0" * 128)
    ds.SOPClassUID, ds.SOPInstanceUID = sop_class, sop_uid
    return ds


def write_dicom_series(
    image,
    folder: str | os.PathLike,
    *,
    patient_id: str,
    modality: str = "CT",
    series_description: str = "",
    study_uid: str | None = None,
    frame_uid: str | None = None,
    study_date: str = "20240101",
) -> Path:
    """Write a 3-D image as a DICOM series, one slice per file (``slice_<k>.dcm``).

    Values are stored as 16-bit integers with a RescaleSlope/RescaleIntercept chosen so
    that :func:`~radiogenomics.io.read_dicom_series` returns them to within half a step
    (exactly for integer images that fit 16 bits).

    Returns
    -------
    pathlib.Path
        The folder.
    """
    import SimpleITK as sitk
    from pydicom.uid import generate_uid

    if image.GetDimension() != 3:
        raise InputError(
            "only 3-D images can be written as a DICOM series", found=f"{image.GetDimension()}-D"
        )
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    array = sitk.GetArrayFromImage(image).astype(np.float64)
    low, high = float(array.min()), float(array.max())
    if np.all(array == np.round(array)) and low >= -32768 and high <= 32767:
        slope, intercept = 1.0, 0.0
    else:
        intercept = low
        slope = (high - low) / 65000.0 or 1.0
        intercept = low + 32768 * slope
    stored = np.clip(np.round((array - intercept) / slope), -32768, 32767).astype(np.int16)
    direction = np.asarray(image.GetDirection(), float).reshape(3, 3)
    spacing = np.asarray(image.GetSpacing(), float)
    origin = np.asarray(image.GetOrigin(), float)
    study_uid = study_uid or generate_uid()
    frame_uid = frame_uid or generate_uid()
    series_uid = generate_uid()
    sop_class = _STORAGE.get(modality, _STORAGE["CT"])
    for k in range(stored.shape[0]):
        ds = _dataset(sop_class, generate_uid())
        ds.Modality = modality
        ds.PatientID, ds.PatientName = patient_id, patient_id
        ds.PatientBirthDate, ds.PatientSex = "", "O"
        ds.StudyInstanceUID, ds.SeriesInstanceUID = study_uid, series_uid
        ds.FrameOfReferenceUID = frame_uid
        ds.StudyDate = ds.SeriesDate = study_date
        ds.StudyTime = ds.SeriesTime = "120000"
        ds.StudyID, ds.AccessionNumber, ds.ReferringPhysicianName = "1", "", ""
        ds.SeriesNumber, ds.InstanceNumber = 1, k + 1
        ds.SeriesDescription = series_description
        ds.ImagePositionPatient = [float(v) for v in origin + direction[:, 2] * spacing[2] * k]
        ds.ImageOrientationPatient = [float(v) for v in (*direction[:, 0], *direction[:, 1])]
        ds.PixelSpacing = [float(spacing[1]), float(spacing[0])]
        ds.SliceThickness = float(spacing[2])
        ds.Rows, ds.Columns = stored.shape[1], stored.shape[2]
        ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
        ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 1
        ds.RescaleSlope, ds.RescaleIntercept = f"{slope:.10g}", f"{intercept:.10g}"
        if modality == "PT":
            ds.Units = "GML"
        ds.PixelData = np.ascontiguousarray(stored[k]).tobytes()
        ds.save_as(folder / f"slice_{k:04d}.dcm", enforce_file_format=True)
    return folder


def mask_contours(plane: np.ndarray) -> list[np.ndarray]:
    """Closed polygons along the voxel edges of a 2-D mask, in continuous index (x, y).

    Filled by the even-odd rule on voxel centres (as :func:`read_rtstruct` does) they give
    back exactly the mask: every boundary edge of the mask is on one of the polygons.
    """
    plane = np.asarray(plane, bool)
    padded = np.pad(plane, 1)
    inside = padded[1:-1, 1:-1]
    edges = []
    # corner (cx, cy) is the continuous index (cx - 0.5, cy - 0.5); sides turn clockwise
    for (oy, ox), start, end in (
        ((-1, 0), (0, 0), (1, 0)),
        ((0, 1), (1, 0), (1, 1)),
        ((1, 0), (1, 1), (0, 1)),
        ((0, -1), (0, 1), (0, 0)),
    ):
        neighbour = padded[1 + oy : padded.shape[0] - 1 + oy, 1 + ox : padded.shape[1] - 1 + ox]
        y, x = np.nonzero(inside & ~neighbour)
        edges.append(np.column_stack([x + start[0], y + start[1], x + end[0], y + end[1]]))
    edges = np.concatenate(edges)
    outgoing: dict[tuple[int, int], list[tuple[int, int]]] = {}
    for x0, y0, x1, y1 in edges.tolist():
        outgoing.setdefault((x0, y0), []).append((x1, y1))
    polygons = []
    while outgoing:
        start = next(iter(outgoing))
        loop = [start]
        vertex = start
        while True:
            ends = outgoing[vertex]
            following = ends.pop()
            if not ends:
                del outgoing[vertex]
            if following == start:
                break
            loop.append(following)
            vertex = following
        points = np.asarray(loop, float)
        # drop vertices in the middle of straight runs
        before, after = np.roll(points, 1, axis=0), np.roll(points, -1, axis=0)
        cross = (points - before)[:, 0] * (after - points)[:, 1] - (points - before)[:, 1] * (
            after - points
        )[:, 0]
        polygons.append(points[cross != 0] - 0.5)
    return polygons


_STUDY_KEYWORDS = (
    "PatientID",
    "PatientName",
    "PatientBirthDate",
    "PatientSex",
    "StudyInstanceUID",
    "StudyDate",
    "StudyTime",
    "StudyID",
    "AccessionNumber",
    "ReferringPhysicianName",
)


def _check_on_grid(array: np.ndarray, mask, grid: Grid, path: str | os.PathLike) -> None:
    """Refuse a mask whose (z, y, x) array is not on the series grid."""
    if array.shape != grid.size[::-1]:
        raise InputError(
            "the mask is not on the series grid",
            file=path,
            expected=f"size {grid.size}",
            found=f"size {mask.GetSize()}",
        )


def _patient_contours(array: np.ndarray, grid: Grid) -> list[tuple[int, np.ndarray]]:
    """The slice and patient coordinates of every contour of a (z, y, x) mask."""
    contours = []
    matrix = grid.direction * grid.spacing[None, :]
    for k in range(array.shape[0]):
        if not array[k].any():
            continue
        for polygon in mask_contours(array[k]):
            index = np.column_stack([polygon, np.full(len(polygon), float(k))])
            contours.append((k, grid.origin + index @ matrix.T))
    return contours


def write_rtstruct(
    mask,
    series_folder: str | os.PathLike,
    path: str | os.PathLike,
    *,
    roi_name: str = "GTV",
    label: int = 1,
) -> Path:
    """Write the region ``label`` of a voxel mask as an RTSTRUCT on a DICOM series.

    The mask must be on the series grid. Contours follow the voxel edges
    (:func:`mask_contours`) and reference the series' slices.
    """
    import pydicom
    import SimpleITK as sitk
    from pydicom.dataset import Dataset
    from pydicom.uid import generate_uid

    series = read_dicom_series(series_folder)
    grid = Grid.from_image(series)
    array = sitk.GetArrayFromImage(mask) == label
    _check_on_grid(array, mask, grid, path)
    groups, _ = series_headers(series_folder)
    first = next(iter(groups.values()))[0][1]
    sop_uids = grid.sop_instance_uids
    ds = _dataset(_RTSTRUCT, generate_uid())
    ds.Modality = "RTSTRUCT"
    for keyword in _STUDY_KEYWORDS:
        setattr(ds, keyword, first.get(keyword, ""))
    ds.SeriesInstanceUID, ds.SeriesNumber, ds.InstanceNumber = generate_uid(), 2, 1
    ds.StructureSetLabel, ds.StructureSetDate, ds.StructureSetTime = roi_name, "", ""
    reference = Dataset()
    reference.FrameOfReferenceUID = grid.frame_of_reference
    study = Dataset()
    study.ReferencedSOPClassUID = "1.2.840.10008.3.1.2.3.1"
    study.ReferencedSOPInstanceUID = first.StudyInstanceUID
    referenced = Dataset()
    referenced.SeriesInstanceUID = grid.series_uid
    images = []
    for uid in sop_uids:
        item = Dataset()
        item.ReferencedSOPClassUID, item.ReferencedSOPInstanceUID = first.SOPClassUID, uid
        images.append(item)
    referenced.ContourImageSequence = images
    study.RTReferencedSeriesSequence = [referenced]
    reference.RTReferencedStudySequence = [study]
    ds.ReferencedFrameOfReferenceSequence = [reference]
    roi = Dataset()
    roi.ROINumber, roi.ROIName = 1, roi_name
    roi.ReferencedFrameOfReferenceUID = grid.frame_of_reference
    roi.ROIGenerationAlgorithm = "AUTOMATIC"
    ds.StructureSetROISequence = [roi]
    contours = []
    for k, points in _patient_contours(array, grid):
        contour = Dataset()
        image_ref = Dataset()
        image_ref.ReferencedSOPClassUID = first.SOPClassUID
        image_ref.ReferencedSOPInstanceUID = sop_uids[k]
        contour.ContourImageSequence = [image_ref]
        contour.ContourGeometricType = "CLOSED_PLANAR"
        contour.NumberOfContourPoints = len(points)
        contour.ContourData = [f"{v:.4f}" for v in points.ravel()]
        contours.append(contour)
    if not contours:
        raise InputError(f"the mask has no voxel with label {label}", file=path)
    item = Dataset()
    item.ReferencedROINumber = 1
    item.ROIDisplayColor = [255, 0, 0]
    item.ContourSequence = contours
    ds.ROIContourSequence = [item]
    observation = Dataset()
    observation.ObservationNumber, observation.ReferencedROINumber = 1, 1
    observation.RTROIInterpretedType, observation.ROIInterpreter = "GTV", ""
    ds.RTROIObservationsSequence = [observation]
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    pydicom.dcmwrite(path, ds, enforce_file_format=True)
    return path
