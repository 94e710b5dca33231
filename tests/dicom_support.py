"""Small synthetic DICOM series and RTSTRUCT files for the DICOM tests (written with pydicom)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pydicom
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

CT_STORAGE = "1.2.840.10008.5.1.4.1.1.2"
PET_STORAGE = "1.2.840.10008.5.1.4.1.1.128"
RTSTRUCT_STORAGE = "1.2.840.10008.5.1.4.1.1.481.3"


def _file_meta(sop_class: str, sop_uid: str) -> FileMetaDataset:
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = sop_class
    meta.MediaStorageSOPInstanceUID = sop_uid
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    return meta


def write_series(
    folder: Path,
    array: np.ndarray,
    *,
    spacing=(1.0, 1.0),
    positions=None,
    origin=(0.0, 0.0, 0.0),
    orientation=(1, 0, 0, 0, 1, 0),
    slope=1.0,
    intercept=0.0,
    modality="CT",
    series_uid=None,
    frame_uid=None,
    names=None,
    orientations=None,
    patient_id="P1",
    extra=None,
) -> list[Path]:
    """Write ``array`` (z, rows, columns; stored values) as one slice per file.

    ``positions`` are the ImagePositionPatient of each slice (default: 2 mm apart along the
    normal from ``origin``); ``names`` the file names (default ``slice_<i>.dcm``).
    """
    folder.mkdir(parents=True, exist_ok=True)
    series_uid = series_uid or generate_uid()
    frame_uid = frame_uid or generate_uid()
    study_uid = generate_uid()
    row, column = np.asarray(orientation[:3], float), np.asarray(orientation[3:], float)
    normal = np.cross(row, column)
    if positions is None:
        positions = [np.asarray(origin, float) + 2.0 * k * normal for k in range(len(array))]
    paths = []
    for k, plane in enumerate(array):
        sop_class = PET_STORAGE if modality == "PT" else CT_STORAGE
        sop_uid = generate_uid()
        ds = Dataset()
        ds.file_meta = _file_meta(sop_class, sop_uid)
        ds.SOPClassUID, ds.SOPInstanceUID = sop_class, sop_uid
        ds.Modality = modality
        ds.PatientID, ds.PatientName = patient_id, patient_id
        ds.PatientBirthDate, ds.PatientSex = "19700101", "O"
        ds.StudyID, ds.AccessionNumber, ds.ReferringPhysicianName = "1", "1", "Doe^J"
        ds.StudyTime, ds.SeriesNumber, ds.Manufacturer = "100000", 1, "test"
        ds.StudyInstanceUID, ds.SeriesInstanceUID = study_uid, series_uid
        ds.FrameOfReferenceUID = frame_uid
        ds.StudyDate = ds.SeriesDate = "20240102"
        ds.SeriesTime = "110000"
        ds.SeriesDescription = f"{modality} test"
        ds.InstanceNumber = len(array) - k  # deliberately not the slice order
        ds.ImagePositionPatient = [float(v) for v in positions[k]]
        ds.ImageOrientationPatient = [
            float(v) for v in (orientations[k] if orientations else orientation)
        ]
        ds.PixelSpacing = [float(spacing[0]), float(spacing[1])]
        ds.SliceThickness = 2.0
        ds.Rows, ds.Columns = plane.shape
        ds.SamplesPerPixel = 1
        ds.PhotometricInterpretation = "MONOCHROME2"
        ds.BitsAllocated, ds.BitsStored, ds.HighBit = 16, 16, 15
        ds.PixelRepresentation = 1
        ds.RescaleSlope, ds.RescaleIntercept = slope, intercept
        ds.PixelData = np.ascontiguousarray(plane.astype(np.int16)).tobytes()
        for key, value in (extra or {}).items():
            setattr(ds, key, value)
        name = names[k] if names else f"slice_{k:03d}.dcm"
        path = folder / name
        ds.save_as(path, enforce_file_format=True)
        paths.append(path)
    return paths


def write_rtstruct(
    path: Path,
    series_folder: Path,
    rois: dict[str, list[np.ndarray]],
    *,
    frame_uid=None,
    contour_type="CLOSED_PLANAR",
) -> Path:
    """An RTSTRUCT with ROIs of closed planar contours (arrays of points (n, 3) in mm)."""
    first = pydicom.dcmread(sorted(series_folder.glob("*.dcm"))[0], stop_before_pixels=True)
    frame_uid = frame_uid or first.FrameOfReferenceUID
    sop_uid = generate_uid()
    ds = Dataset()
    ds.file_meta = _file_meta(RTSTRUCT_STORAGE, sop_uid)
    ds.SOPClassUID, ds.SOPInstanceUID = RTSTRUCT_STORAGE, sop_uid
    ds.Modality = "RTSTRUCT"
    ds.PatientID, ds.PatientName = first.PatientID, first.PatientName
    ds.StudyInstanceUID, ds.SeriesInstanceUID = first.StudyInstanceUID, generate_uid()
    ds.StructureSetLabel = "test"
    reference = Dataset()
    reference.FrameOfReferenceUID = frame_uid
    study = Dataset()
    study.ReferencedSOPInstanceUID = first.StudyInstanceUID
    series = Dataset()
    series.SeriesInstanceUID = first.SeriesInstanceUID
    study.RTReferencedSeriesSequence = [series]
    reference.RTReferencedStudySequence = [study]
    ds.ReferencedFrameOfReferenceSequence = [reference]
    ds.StructureSetROISequence, ds.ROIContourSequence = [], []
    for number, (name, contours) in enumerate(rois.items(), start=1):
        roi = Dataset()
        roi.ROINumber, roi.ROIName = number, name
        roi.ReferencedFrameOfReferenceUID = frame_uid
        ds.StructureSetROISequence.append(roi)
        item = Dataset()
        item.ReferencedROINumber = number
        item.ContourSequence = []
        for points in contours:
            contour = Dataset()
            contour.ContourGeometricType = contour_type
            contour.NumberOfContourPoints = len(points)
            contour.ContourData = [float(v) for v in np.asarray(points, float).ravel()]
            item.ContourSequence.append(contour)
        ds.ROIContourSequence.append(item)
    ds.save_as(path, enforce_file_format=True)
    return path


def square(x0, x1, y0, y1, z) -> np.ndarray:
    """A square contour in mm on the plane ``z``."""
    return np.array([[x0, y0, z], [x1, y0, z], [x1, y1, z], [x0, y1, z]], float)
