"""RTSTRUCT contours -> a voxel mask on a series grid, rasterised by geometry."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import numpy as np

from ...errors import InputError
from ._common import Grid, as_text, read_header, set_report
from .series import read_dicom_series

__all__ = ["fill_polygon", "read_rtstruct", "rtstruct_rois", "select_name"]

# a contour may sit this far (in slices) from a slice centre and still belong to it
_PLANE_TOLERANCE = 0.1
# and extend this far (in voxels) past the centres of the outermost voxels
_EDGE_TOLERANCE = 0.5 + 1e-3


def fill_polygon(x: np.ndarray, y: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Voxels of a (rows, columns) slice whose centre lies inside a closed polygon.

    Even-odd rule on the pixel centres: for each row ``j`` the crossings of the horizontal
    line through the centres with the polygon's edges (half-open in ``y``, so that a vertex
    is counted once) toggle the voxels whose centre ``i`` lies right of the crossing.

    Parameters
    ----------
    x, y
        Vertices in continuous voxel index (column ``x``, row ``y``); the polygon is closed
        from the last vertex back to the first.
    shape
        ``(rows, columns)`` of the slice.
    """
    rows, columns = shape
    out = np.zeros(shape, dtype=bool)
    x0, y0 = np.asarray(x, float), np.asarray(y, float)
    x1, y1 = np.roll(x0, -1), np.roll(y0, -1)
    low = max(int(np.ceil(y0.min())), 0)
    high = min(int(np.floor(y0.max())), rows - 1)
    if high < low:
        return out
    j = np.arange(low, high + 1, dtype=float)[:, None]
    crosses = (y0[None, :] <= j) != (y1[None, :] <= j)
    with np.errstate(divide="ignore", invalid="ignore"):
        at = x0[None, :] + (j - y0[None, :]) * (x1 - x0)[None, :] / (y1 - y0)[None, :]
    row_index, edge = np.nonzero(crosses)
    start = np.clip(np.floor(at[row_index, edge]).astype(np.int64) + 1, 0, columns)
    toggles = np.zeros((high - low + 1, columns + 1), dtype=np.int32)
    np.add.at(toggles, (row_index, start), 1)
    out[low : high + 1] = (np.cumsum(toggles[:, :columns], axis=1) % 2).astype(bool)
    return out


def rtstruct_rois(ds) -> dict[int, str]:
    """ROI numbers and names of an RTSTRUCT header."""
    return {
        int(item.ROINumber): as_text(item.get("ROIName"))
        for item in ds.get("StructureSetROISequence", [])
    }


def select_name(names: list[str], wanted: str | None, what: str, file) -> str:
    """Pick one name by exact match or regular expression (full match); else InputError.

    The message of the error lists every name of the file.
    """
    listing = f"The file's {what}s: " + (", ".join(repr(n) for n in names) or "none")
    if wanted is None:
        if len(names) == 1:
            return names[0]
        raise InputError(
            f"the file holds {len(names)} {what}s: choose one",
            file=file,
            expected=f"a {what} name or regular expression",
            found="none given",
            hint=listing,
        )
    if wanted in names:
        return wanted
    try:
        pattern = re.compile(wanted)
    except re.error:
        pattern = None
    matched = [n for n in names if pattern is not None and pattern.fullmatch(n)]
    if len(matched) == 1:
        return matched[0]
    if len(matched) > 1:
        raise InputError(
            f"several {what}s match {wanted!r}",
            file=file,
            expected=f"one {what}",
            found=", ".join(repr(n) for n in matched),
            hint=listing,
        )
    raise InputError(
        f"no {what} {wanted!r} in the file",
        file=file,
        expected=f"one of its {what}s",
        found=wanted,
        hint=listing,
    )


def series_grid(series, what: str = "series") -> Grid:
    """The grid of a series given as a folder (read with :func:`read_dicom_series`) or image."""
    import SimpleITK as sitk

    if isinstance(series, sitk.Image):
        if series.GetDimension() != 3:
            raise InputError(f"the {what} image must be 3-D", found=f"{series.GetDimension()}-D")
        return Grid.from_image(series)
    return Grid.from_image(read_dicom_series(series), source=str(series))


def _contour_points(item, number: int, roi: str, file) -> np.ndarray:
    kind = as_text(item.get("ContourGeometricType")) or "CLOSED_PLANAR"
    values = _decimal_strings(item, "ContourData", file)
    n = values.size // 3
    if n < 3:
        raise InputError(
            f"contour {number} of ROI {roi!r} has fewer than three points",
            file=file,
            expected="a closed polygon of at least 3 points",
            found=f"{n} point(s), type {kind}",
        )
    if kind != "CLOSED_PLANAR":
        raise InputError(
            f"contour {number} of ROI {roi!r} is not a closed polygon",
            file=file,
            expected="ContourGeometricType CLOSED_PLANAR",
            found=kind,
        )
    return values[: n * 3].reshape(-1, 3)


def _decimal_strings(item, keyword: str, file) -> np.ndarray:
    """A DS multi-value as floats, parsed from the raw bytes (pydicom's DS objects are slow)."""
    from pydicom.tag import Tag

    tag = Tag(keyword)
    if tag not in item:
        return np.empty(0)
    element = item.get_item(tag)
    value = element.value
    try:
        if isinstance(value, bytes):
            text = value.decode("ascii").strip(" \0")
            return np.array(text.split("\\") if text else [], dtype=float)
        if isinstance(value, (str, int, float)):
            return np.array([float(value)])
        return np.array([float(v) for v in value], dtype=float)
    except (ValueError, UnicodeDecodeError):
        raise InputError(
            f"unreadable {keyword}", file=file, expected="decimal numbers", found=str(value)[:60]
        ) from None


def _roi_contours(ds, path: Path, grid: Grid, roi: str | None) -> tuple[str, list, list[str]]:
    """The chosen ROI's name, its contour items and warnings, its frame of reference checked."""
    rois = rtstruct_rois(ds)
    name = select_name(list(rois.values()), roi, "ROI", path)
    number = next(k for k, v in rois.items() if v == name)
    info = next(i for i in ds.StructureSetROISequence if int(i.ROINumber) == number)
    frame = as_text(info.get("ReferencedFrameOfReferenceUID"))
    warnings: list[str] = []
    if grid.frame_of_reference and frame and frame != grid.frame_of_reference:
        raise InputError(
            f"ROI {name!r} is in another frame of reference than the series",
            file=path,
            expected=f"FrameOfReferenceUID {grid.frame_of_reference}",
            found=frame,
        )
    if not grid.frame_of_reference:
        warnings.append(
            "the series has no FrameOfReferenceUID: the contours were placed without checking it"
        )
    contours = next(
        (c for c in ds.get("ROIContourSequence", []) if int(c.ReferencedROINumber) == number), None
    )
    items = [] if contours is None else list(contours.get("ContourSequence", []))
    if not items:
        raise InputError(
            f"ROI {name!r} has no contours", file=path, expected="a ContourSequence", found="none"
        )
    return name, items, warnings


def _rasterise_contour(
    item, index: int, name: str, path: Path, grid: Grid
) -> tuple[int, np.ndarray]:
    """The slice of one contour and the voxels of that slice it encloses."""
    nx, ny, nz = grid.size
    points = _contour_points(item, index, name, path)
    ijk = grid.continuous_index(points)
    plane = ijk[:, 2]
    k = int(np.round(plane.mean()))
    if np.abs(plane - k).max() > _PLANE_TOLERANCE:
        raise InputError(
            f"contour {index} of ROI {name!r} does not lie on a slice of the series",
            file=path,
            expected=f"all points on one slice plane (within {_PLANE_TOLERANCE} slice)",
            found=f"slice positions {plane.min():.3f} to {plane.max():.3f}",
        )
    low, high = ijk[:, :2].min(axis=0), ijk[:, :2].max(axis=0)
    if (
        k < 0
        or k >= nz
        or low[0] < -_EDGE_TOLERANCE
        or low[1] < -_EDGE_TOLERANCE
        or high[0] > nx - 1 + _EDGE_TOLERANCE
        or high[1] > ny - 1 + _EDGE_TOLERANCE
    ):
        raise InputError(
            f"contour {index} of ROI {name!r} lies outside the image",
            file=path,
            expected=f"voxel indices within x 0..{nx - 1}, y 0..{ny - 1}, z 0..{nz - 1}",
            found=f"x {low[0]:.1f}..{high[0]:.1f}, y {low[1]:.1f}..{high[1]:.1f}, z {k}",
        )
    return k, fill_polygon(ijk[:, 0], ijk[:, 1], (ny, nx))


def _combine_slices(mask: np.ndarray, per_slice: dict[int, list[np.ndarray]]) -> int:
    """XOR the filled contours of each slice into ``mask``; the number of holes."""
    holes = 0
    for k, fills in per_slice.items():
        for i, filled in enumerate(fills):
            mask[k] ^= filled
            n = int(filled.sum())
            others = np.zeros_like(filled)
            for j, other in enumerate(fills):
                if j != i:
                    others |= other
            if n and (filled & others).sum() == n:  # wholly inside another contour
                holes += 1
    return holes


def read_rtstruct(path: str | os.PathLike, series, roi: str | None = None):
    """Rasterise one ROI of an RTSTRUCT onto the grid of its image series.

    Each contour's points are mapped to continuous voxel indices of the series in the
    shared frame of reference, assigned to the slice they lie on, and filled by the
    even-odd rule on the voxel centres (:func:`fill_polygon`); several contours of the ROI
    on a slice combine by XOR, so a contour inside another is a hole. The contours' image
    references (often stale) are not used; references to images that are not in the series
    are reported as a warning.

    Parameters
    ----------
    path
        The RTSTRUCT file.
    series
        The image series: its folder, or the image read by :func:`read_dicom_series`.
    roi
        ROI name, or a regular expression matching one name in full. May be omitted when
        the file holds a single ROI.

    Returns
    -------
    SimpleITK.Image
        Mask (UInt8, 1 inside) on exactly the series grid, carrying its conversion report
        (:func:`conversion_report`): ROI, contours, slices, voxels, volume in mm³, holes
        and warnings.

    Raises
    ------
    InputError
        For a file that is not an RTSTRUCT, an unknown or ambiguous ROI (the message lists
        the file's ROIs), a frame of reference other than the series', a contour outside
        the image or off the slice planes, a contour of fewer than three points, or an
        empty mask.

    See Also
    --------
    read_dicom_series : the image series the mask is placed on.
    read_seg : the same for a DICOM SEG.

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> import numpy as np
    >>> import SimpleITK as sitk
    >>> import radiogenomics as rg
    >>> from radiogenomics.io.dicom import write_dicom_series, write_rtstruct
    >>> folder = Path(tempfile.mkdtemp())
    >>> values = np.zeros((4, 16, 16), np.int16)
    >>> values[1:3, 4:12, 4:12] = 40  # an 8 x 8 voxel tumour on two slices
    >>> ct = sitk.GetImageFromArray(values)
    >>> ct.SetSpacing((0.8, 0.8, 2.5))
    >>> series = write_dicom_series(ct, folder / "CT", patient_id="P1")
    >>> tumour = sitk.GetImageFromArray((values > 0).astype(np.uint8))
    >>> tumour.CopyInformation(ct)
    >>> rs = write_rtstruct(tumour, series, folder / "RTSTRUCT" / "rs.dcm", roi_name="GTV")
    >>> mask = rg.io.read_rtstruct(rs, series, roi="GTV")
    >>> mask.GetSize(), bool((sitk.GetArrayFromImage(mask) == (values > 0)).all())
    ((16, 16, 4), True)
    >>> report = rg.io.conversion_report(mask)
    >>> report["roi"], report["n_contours"], report["n_voxels"], round(report["volume_mm3"], 1)
    ('GTV', 2, 128, 204.8)
    >>> try:
    ...     rg.io.read_rtstruct(rs, series, roi="PTV")
    ... except rg.errors.InputError as exc:
    ...     print(exc.message, "-", exc.hint)
    no ROI 'PTV' in the file - The file's ROIs: 'GTV'
    """
    path = Path(path)
    ds = read_header(path, "RTSTRUCT", pixels=True)
    if as_text(ds.get("Modality")) != "RTSTRUCT":
        raise InputError(
            "the file is not an RTSTRUCT",
            file=path,
            expected="Modality RTSTRUCT",
            found=as_text(ds.get("Modality")) or "no Modality",
        )
    grid = series_grid(series)
    name, items, warnings = _roi_contours(ds, path, grid, roi)

    nx, ny, nz = grid.size
    mask = np.zeros((nz, ny, nx), dtype=bool)
    per_slice: dict[int, list[np.ndarray]] = {}
    references, stale = 0, 0
    known = set(grid.sop_instance_uids)
    for index, item in enumerate(items, start=1):
        k, filled = _rasterise_contour(item, index, name, path, grid)
        per_slice.setdefault(k, []).append(filled)
        for ref in item.get("ContourImageSequence", []):
            references += 1
            if known and as_text(ref.get("ReferencedSOPInstanceUID")) not in known:
                stale += 1
    holes = _combine_slices(mask, per_slice)
    n_voxels = int(mask.sum())
    if n_voxels == 0:
        raise InputError(
            f"ROI {name!r} gives an empty mask on the series grid",
            file=path,
            expected="contours enclosing at least one voxel centre",
            found=f"{len(items)} contour(s) on {len(per_slice)} slice(s)",
        )
    if stale:
        warnings.append(
            f"{stale} of {references} contour image references are not images of "
            "the series (stale references); rasterised by geometry"
        )
    report: dict[str, Any] = {
        "source": "RTSTRUCT",
        "roi": name,
        "n_contours": len(items),
        "n_slices": len(per_slice),
        "n_voxels": n_voxels,
        "volume_mm3": n_voxels * grid.voxel_volume,
        "n_holes": holes,
        "warnings": warnings,
    }
    image = grid.image(mask.astype(np.uint8))
    set_report(image, report)
    return image
