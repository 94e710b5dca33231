"""One DICOM image series -> a SimpleITK image: sorted by geometry, rescaled, PET in SUV."""

from __future__ import annotations

import json
import os
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np

from ...errors import InputError
from ._common import (
    MODALITY_KEY,
    SEGMENTATION_MODALITIES,
    SOP_UIDS_KEY,
    Grid,
    as_text,
    set_report,
)

__all__ = ["read_dicom_series", "series_headers", "suv_factor"]

# modalities whose files hold no image slices of a series
_NON_IMAGE = set(SEGMENTATION_MODALITIES) | {
    "RTPLAN",
    "RTDOSE",
    "RTRECORD",
    "SR",
    "PR",
    "KO",
    "REG",
    "DOC",
}
_ORIENTATION_TOLERANCE = 1e-4
_SPACING_TOLERANCE = 0.01  # relative, on the slice step
_OFFSET_TOLERANCE = 0.01  # mm, in-plane drift of the slice positions


def _files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_file() and not p.name.startswith("."))


def series_headers(
    folder: str | os.PathLike, pixels: bool = False
) -> tuple[dict[str, list[tuple[Path, Any]]], list[tuple[Path, str]]]:
    """Image headers of a folder grouped by SeriesInstanceUID, and the files not read.

    ``pixels=True`` reads the pixel data too (each file is then read once).

    Returns
    -------
    series
        ``{series_uid: [(path, header), ...]}`` for image files (files of segmentations,
        plans, reports and other non-image objects are left out).
    skipped
        ``[(path, reason), ...]`` for files that are not DICOM or cannot be read.
    """
    import pydicom
    from pydicom.errors import InvalidDicomError

    series: dict[str, list[tuple[Path, Any]]] = {}
    skipped: list[tuple[Path, str]] = []
    for path in _files(Path(folder)):
        try:
            ds = pydicom.dcmread(str(path), stop_before_pixels=not pixels)
        except (InvalidDicomError, OSError, EOFError, ValueError, TypeError, AttributeError) as exc:
            skipped.append((path, " ".join(str(exc).split())[:120] or type(exc).__name__))
            continue
        if as_text(ds.get("Modality")) in _NON_IMAGE or "ImagePositionPatient" not in ds:
            continue
        series.setdefault(as_text(ds.get("SeriesInstanceUID")), []).append((path, ds))
    return series, skipped


def _describe(uid: str, items: list) -> str:
    ds = items[0][1]
    text = f"{uid} ({as_text(ds.get('Modality'))}, {len(items)} files"
    description = as_text(ds.get("SeriesDescription"))
    return text + (f", {description!r})" if description else ")")


def _dicom_datetime(date: Any, time: Any) -> datetime | None:
    date, time = as_text(date), as_text(time)
    if not date or not time:
        return None
    time = time.replace(":", "")
    whole, _, fraction = time.partition(".")
    whole = whole.ljust(6, "0")
    try:
        moment = datetime.strptime(date + whole[:6], "%Y%m%d%H%M%S")
    except ValueError:
        return None
    return moment + timedelta(seconds=float("0." + fraction) if fraction else 0.0)


def _datetime_value(value: Any) -> datetime | None:
    text = as_text(value)
    if len(text) < 14:
        return None
    return _dicom_datetime(text[:8], text[8:].split("+")[0].split("-")[0])


def _need(keyword: str, tag: str, value: Any, file: str | os.PathLike | None):
    """``value``, or an InputError naming the tag a BQML to SUV conversion lacks."""
    if value is None or as_text(value) == "":
        raise InputError(
            f"PET in BQML cannot be converted to SUV: {keyword} {tag} is missing",
            file=file,
            expected=f"a value for {keyword}",
            hint="SUV is never guessed; add the tag or give the series in SUV",
        )
    return value


def _suv_inputs(ds, file: str | os.PathLike | None) -> tuple[float, Any, float, float]:
    """Patient weight, radiopharmaceutical item, injected dose and half-life, checked."""
    weight = float(_need("PatientWeight", "(0010,1030)", ds.get("PatientWeight"), file))
    if weight <= 0:
        raise InputError(
            "PET in BQML cannot be converted to SUV: PatientWeight (0010,1030) is not positive",
            file=file,
            expected="a weight in kg",
            found=weight,
        )
    sequence = ds.get("RadiopharmaceuticalInformationSequence")
    _need("RadiopharmaceuticalInformationSequence", "(0054,0016)", sequence or None, file)
    info = sequence[0]
    dose = float(
        _need("RadionuclideTotalDose", "(0018,1074)", info.get("RadionuclideTotalDose"), file)
    )
    half_life = float(
        _need("RadionuclideHalfLife", "(0018,1075)", info.get("RadionuclideHalfLife"), file)
    )
    if dose <= 0 or half_life <= 0:
        raise InputError(
            "PET in BQML cannot be converted to SUV: RadionuclideTotalDose and "
            "RadionuclideHalfLife must be positive",
            file=file,
            found=f"dose {dose}, half-life {half_life}",
        )
    return weight, info, dose, half_life


def _decay_seconds(ds, info, file: str | os.PathLike | None, details: dict[str, Any]) -> float:
    """Seconds from the injection to the series time; ``details`` gets where it came from."""
    series_time = _dicom_datetime(
        _need("SeriesDate", "(0008,0021)", ds.get("SeriesDate"), file),
        _need("SeriesTime", "(0008,0031)", ds.get("SeriesTime"), file),
    )
    if series_time is None:
        raise InputError(
            "PET in BQML cannot be converted to SUV: unreadable SeriesDate/"
            "SeriesTime (0008,0021)/(0008,0031)",
            file=file,
            found=f"{ds.get('SeriesDate')} {ds.get('SeriesTime')}",
        )
    elapsed = None
    start = _datetime_value(info.get("RadiopharmaceuticalStartDateTime"))
    if start is not None:
        elapsed = (series_time - start).total_seconds()
        details["start_from"] = "RadiopharmaceuticalStartDateTime"
    if elapsed is None or not 0 <= elapsed < 86400:
        # no date and time of the injection, or one inconsistent with the series date
        # (shifted by de-identification): the time of day, the scan following within a day
        start = _dicom_datetime(
            ds.get("SeriesDate"),
            _need(
                "RadiopharmaceuticalStartTime",
                "(0018,1072)",
                info.get("RadiopharmaceuticalStartTime"),
                file,
            ),
        )
        if start is None:
            raise InputError(
                "PET in BQML cannot be converted to SUV: unreadable "
                "RadiopharmaceuticalStartTime (0018,1072)",
                file=file,
                found=info.get("RadiopharmaceuticalStartTime"),
            )
        elapsed = (series_time - start).total_seconds() % 86400.0
        details["start_from"] = "RadiopharmaceuticalStartTime"
    return elapsed


def suv_factor(ds, file: str | os.PathLike | None = None) -> tuple[float, dict[str, Any]]:
    """The factor turning PET values in Bq/mL into SUV body weight, and how it was found.

    ``SUVbw = value * weight[g] / dose[Bq]``, the dose decay-corrected from the
    radiopharmaceutical start time to the series time (``DecayCorrection`` ``START``);
    images corrected to the administration time (``ADMIN``) need no decay factor.

    Parameters
    ----------
    ds
        Header of a slice of the series (``Units`` ``BQML``).
    file
        The file, for messages.

    Raises
    ------
    InputError
        When a tag needed is missing or unusable; the message names the tag.
    """
    weight, info, dose, half_life = _suv_inputs(ds, file)
    correction = as_text(_need("DecayCorrection", "(0054,1102)", ds.get("DecayCorrection"), file))
    details: dict[str, Any] = {
        "weight_kg": weight,
        "dose_bq": dose,
        "half_life_s": half_life,
        "decay_correction": correction,
    }
    if correction == "ADMIN":
        decayed = dose
        details["decay_s"] = 0.0
    elif correction == "START":
        elapsed = _decay_seconds(ds, info, file, details)
        decayed = dose * 2.0 ** (-elapsed / half_life)
        details["decay_s"] = elapsed
    else:
        raise InputError(
            "PET in BQML cannot be converted to SUV: DecayCorrection (0054,1102) "
            f"is {correction!r}",
            file=file,
            expected="'START' or 'ADMIN'",
            found=correction,
        )
    factor = weight * 1000.0 / decayed
    details["factor"] = factor
    return factor, details


_NATIVE = ("1.2.840.10008.1.2", "1.2.840.10008.1.2.1")  # implicit and explicit VR little endian


def _stored_values(ds) -> np.ndarray:
    """The stored pixel values of a slice; uncompressed little-endian data read directly."""
    syntax = str(getattr(getattr(ds, "file_meta", None), "TransferSyntaxUID", ""))
    bits = int(ds.get("BitsAllocated", 0) or 0)
    if (
        syntax not in _NATIVE
        or int(ds.get("SamplesPerPixel", 1) or 1) != 1
        or bits not in (8, 16, 32)
        or "PixelData" not in ds
    ):
        return ds.pixel_array
    rows, columns = int(ds.Rows), int(ds.Columns)
    raw = np.frombuffer(ds.PixelData, dtype=f"<u{bits // 8}", count=rows * columns)
    stored_bits = int(ds.get("BitsStored", bits) or bits)
    values = raw.astype(np.int64)
    if stored_bits < bits:
        values &= (1 << stored_bits) - 1
    if int(ds.get("PixelRepresentation", 0) or 0) == 1:  # two's complement
        values = np.where(values >= 1 << (stored_bits - 1), values - (1 << stored_bits), values)
    return values.reshape(rows, columns)


def _check_slices(items: list[tuple[Path, Any]]) -> None:
    """Refuse multi-frame files and slices without their geometry tags."""
    for path, ds in items:
        frames = int(ds.get("NumberOfFrames", 1) or 1)
        if frames > 1:
            raise InputError(
                "multi-frame (enhanced) DICOM images are not supported",
                file=path,
                expected="one slice per file",
                found=f"{frames} frames",
            )
        for keyword in ("ImageOrientationPatient", "PixelSpacing", "Rows", "Columns"):
            if keyword not in ds:
                raise InputError(
                    f"the slice has no {keyword}",
                    file=path,
                    expected="an image slice with its geometry",
                )


def _common_orientation(folder: Path, items: list[tuple[Path, Any]]) -> np.ndarray:
    """The slices' orientations; refuse mixed orientations, sizes and pixel spacings."""
    orientations = np.array([[float(v) for v in ds.ImageOrientationPatient] for _, ds in items])
    distinct = np.unique(np.round(orientations, 3), axis=0)
    if np.abs(orientations - orientations[0]).max() > _ORIENTATION_TOLERANCE:
        raise InputError(
            "the series mixes slice orientations",
            file=folder,
            expected="one ImageOrientationPatient for all slices",
            found=f"{len(distinct)} orientations: "
            + "; ".join(str(tuple(o)) for o in distinct[:3].tolist()),
        )
    for keyword in ("Rows", "Columns", "PixelSpacing"):
        values = {
            str(list(ds.get(keyword))) if keyword == "PixelSpacing" else int(ds.get(keyword))
            for _, ds in items
        }
        if len(values) > 1:
            raise InputError(
                f"the slices of the series differ in {keyword}",
                file=folder,
                expected=f"one {keyword}",
                found=", ".join(map(str, sorted(values))),
            )
    return orientations


def _check_spacing(folder: Path, items: list[tuple[Path, Any]], along: np.ndarray) -> None:
    """Refuse sorted slices at the same position, missing slices and uneven spacing."""
    gaps = np.diff(along)
    duplicated = np.flatnonzero(gaps < 1e-3)
    if duplicated.size:
        at = along[duplicated[0]]
        raise InputError(
            "several slices of the series lie at the same position",
            file=folder,
            expected="one slice per position",
            found=f"{duplicated.size + 1} slices at {at:.3f} mm, e.g. "
            f"{items[duplicated[0]][0].name} and "
            f"{items[duplicated[0] + 1][0].name}",
        )
    step = float(gaps.min())
    if gaps.max() - step > _SPACING_TOLERANCE * step:
        multiples = gaps / step
        if np.all(np.abs(multiples - np.round(multiples)) < 0.05):
            where = np.flatnonzero(np.round(multiples) > 1)
            n_missing = int(np.round(multiples).sum() - gaps.size)
            shown = ", ".join(f"{along[i]:.2f} to {along[i + 1]:.2f} mm" for i in where[:3])
            raise InputError(
                f"the series has {n_missing} missing slice(s)",
                file=folder,
                expected=f"slices every {step:.4g} mm",
                found=f"gaps between {shown}",
            )
        raise InputError(
            "the slice spacing of the series is uneven",
            file=folder,
            expected="a constant distance between slices",
            found=f"distances from {step:.4g} to {gaps.max():.4g} mm",
        )


def _check_geometry(folder: Path, items: list[tuple[Path, Any]]):
    """Sort slices along the normal; refuse mixed orientations, gaps and uneven spacing."""
    first = items[0][1]
    _check_slices(items)
    orientations = _common_orientation(folder, items)
    row, column = orientations[0][:3], orientations[0][3:]
    normal = np.cross(row, column)
    positions = np.array([[float(v) for v in ds.ImagePositionPatient] for _, ds in items])
    along = positions @ normal
    order = np.argsort(along, kind="stable")
    items = [items[i] for i in order]
    positions, along = positions[order], along[order]
    pixel = [float(v) for v in first.PixelSpacing]  # (row spacing, column spacing)
    if len(items) == 1:
        step = float(first.get("SpacingBetweenSlices") or first.get("SliceThickness") or 1.0)
        return items, positions[0], np.array([pixel[1], pixel[0], step]), row, column, normal
    _check_spacing(folder, items, along)
    drift = positions - positions[0] - np.outer(along - along[0], normal)
    if np.abs(drift).max() > _OFFSET_TOLERANCE * max(1.0, min(pixel)):
        raise InputError(
            "the slices are not stacked along their normal (tilted gantry or sheared volume)",
            file=folder,
            expected="positions along the cross product of the orientation",
            found=f"in-plane offsets up to {np.abs(drift).max():.3f} mm",
        )
    step = float((along[-1] - along[0]) / (len(items) - 1))
    return items, positions[0], np.array([pixel[1], pixel[0], step]), row, column, normal


def _series_items(folder: Path, series_uid: str | None):
    """The headers of the chosen series of a folder, its UID and the files not read."""
    groups, skipped = series_headers(folder, pixels=True)
    if not groups:
        found = f"{len(skipped)} unreadable or non-DICOM files" if skipped else "no image files"
        raise InputError("the folder holds no DICOM image series", file=folder, found=found)
    if series_uid is None:
        if len(groups) > 1:
            raise InputError(
                f"the folder holds {len(groups)} DICOM series",
                file=folder,
                expected="one series, or series_uid naming one",
                found="; ".join(_describe(uid, items) for uid, items in sorted(groups.items())),
            )
        series_uid = next(iter(groups))
    elif series_uid not in groups:
        raise InputError(
            "the series is not in the folder",
            file=folder,
            expected=f"SeriesInstanceUID {series_uid}",
            found="; ".join(_describe(uid, items) for uid, items in sorted(groups.items())),
        )
    return groups[series_uid], series_uid, skipped


def _rescaled_volume(items: list[tuple[Path, Any]]) -> tuple[np.ndarray, bool]:
    """The slices' rescaled values stacked, and whether every rescale keeps integers."""
    slices = []
    integral = True
    for path, ds in items:
        try:
            stored = _stored_values(ds)
        except Exception as exc:  # decoders raise many kinds of errors
            raise InputError(
                "cannot decode the pixel data of the slice",
                file=path,
                found=" ".join(str(exc).split())[:200],
            ) from None
        slope = float(ds.get("RescaleSlope", 1) or 1)
        intercept = float(ds.get("RescaleIntercept", 0) or 0)
        integral &= slope == int(slope) and intercept == int(intercept)
        slices.append(stored.astype(np.float64) * slope + intercept)
    return np.stack(slices), integral


def _pet_to_suv(
    volume: np.ndarray, first, file: Path, units: str, report: dict, warnings: list[str]
) -> tuple[np.ndarray, bool]:
    """A PET volume in SUV (converted from BQML), and whether it is still integral."""
    if units == "BQML":
        factor, details = suv_factor(first, file)
        volume = volume * factor
        report["suv"] = details
        warnings.append(
            f"PET converted from BQML to SUV body weight (weight {details['weight_kg']:g} "
            f"kg, dose {details['dose_bq']:.4g} Bq decayed over {details['decay_s']:.0f} s, "
            f"half-life {details['half_life_s']:g} s"
            + (
                f", injection time from {details['start_from']})"
                if "start_from" in details
                else ")"
            )
        )
        report["units"] = "SUVbw (from BQML)"
        return volume, False
    if units != "GML":
        raise InputError(
            "PET values cannot be turned into SUV",
            file=file,
            expected="Units (0054,1001) 'BQML' or 'GML'",
            found=units or "no Units",
        )
    return volume, True


def _pixel_array(volume: np.ndarray, integral: bool) -> np.ndarray:
    """The volume in the smallest of int16, int32 or float32 that holds it."""
    if integral and volume.min() >= -32768 and volume.max() <= 32767:
        return volume.astype(np.int16)
    if integral and np.abs(volume).max() < 2**31:
        return volume.astype(np.int32)
    return volume.astype(np.float32)


def read_dicom_series(folder: str | os.PathLike, series_uid: str | None = None):
    """Read one DICOM image series into a SimpleITK image.

    Slices are sorted by their position along the slice normal (not by file name or
    InstanceNumber) and each slice's RescaleSlope and RescaleIntercept are applied (CT in
    HU). A PET series is returned in SUV body weight: ``Units`` ``GML`` as stored,
    ``BQML`` converted with the patient weight, injected dose, radiopharmaceutical start
    time and half-life, decay-corrected to the series time (:func:`suv_factor`).

    Parameters
    ----------
    folder
        Folder holding the series' files (other files, such as an RTSTRUCT, are ignored).
    series_uid
        SeriesInstanceUID to read when the folder holds several series.

    Returns
    -------
    SimpleITK.Image
        3-D, integer when the stored values rescale to integers, else 32-bit float. Its
        metadata holds the SeriesInstanceUID (``0020|000e``), FrameOfReferenceUID
        (``0020|0052``), Modality (``0008|0060``) and a conversion report
        (:func:`conversion_report`).

    Raises
    ------
    InputError
        For a folder that is missing or holds no series, several series without
        ``series_uid``, mixed orientations, missing slices, uneven spacing, duplicated
        positions, a PET unit that cannot be turned into SUV or a tag missing for it.

    See Also
    --------
    read_rtstruct, read_seg : a mask on the grid of the series.
    scan_dicom : find the series and their segmentations in a folder tree.

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> import numpy as np
    >>> import SimpleITK as sitk
    >>> import radiogenomics as rg
    >>> from radiogenomics.io.dicom import write_dicom_series
    >>> values = np.arange(4 * 16 * 16, dtype=np.int16).reshape(4, 16, 16) - 500
    >>> ct = sitk.GetImageFromArray(values)
    >>> ct.SetSpacing((0.8, 0.8, 2.5))
    >>> folder = write_dicom_series(ct, Path(tempfile.mkdtemp()) / "CT", patient_id="P1")
    >>> len(list(folder.glob("*.dcm")))  # one file per slice
    4
    >>> image = rg.io.read_dicom_series(folder)
    >>> image.GetSize(), image.GetSpacing(), image.GetMetaData("0008|0060")
    ((16, 16, 4), (0.8, 0.8, 2.5), 'CT')
    >>> bool((sitk.GetArrayFromImage(image) == values).all())  # rescaled back to HU
    True
    >>> report = rg.io.conversion_report(image)
    >>> report["modality"], report["n_slices"], report["warnings"]
    ('CT', 4, [])
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise InputError(
            "the DICOM series folder does not exist"
            if not folder.exists()
            else "a DICOM series must be given as its folder",
            file=folder,
        )
    series, series_uid, skipped = _series_items(folder, series_uid)
    items, origin, spacing, row, column, normal = _check_geometry(folder, series)
    first = items[0][1]
    modality = as_text(first.get("Modality"))
    warnings: list[str] = []
    volume, integral = _rescaled_volume(items)

    units = as_text(first.get("Units")) if modality == "PT" else ""
    report: dict[str, Any] = {
        "modality": modality,
        "series_uid": series_uid,
        "n_slices": len(items),
        "units": units or None,
    }
    if skipped:
        warnings.append(f"{len(skipped)} file(s) of the folder are not DICOM and were ignored")
    if modality == "PT":
        volume, still_integral = _pet_to_suv(volume, first, items[0][0], units, report, warnings)
        integral = integral and still_integral
    array = _pixel_array(volume, integral)
    direction = np.column_stack([row, column, normal])
    grid = Grid(
        size=(int(first.Columns), int(first.Rows), len(items)),
        spacing=spacing,
        origin=origin,
        direction=direction,
        frame_of_reference=as_text(first.get("FrameOfReferenceUID")) or None,
        series_uid=series_uid,
    )
    image = grid.image(array)
    image.SetMetaData(MODALITY_KEY, modality)
    image.SetMetaData(
        SOP_UIDS_KEY, json.dumps([as_text(ds.get("SOPInstanceUID")) for _, ds in items])
    )
    report["warnings"] = warnings
    set_report(image, report)
    return image
