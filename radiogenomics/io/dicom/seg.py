"""DICOM SEG (binary or fractional) -> a voxel mask of one segment on a series grid."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from ...errors import InputError
from ._common import Grid, as_text, read_header, set_report
from .rtstruct import select_name, series_grid

__all__ = ["read_seg", "seg_segments"]

_FRACTION_THRESHOLD = 0.5


def seg_segments(ds) -> dict[int, str]:
    """Segment numbers and labels of a SEG header."""
    return {
        int(item.SegmentNumber): as_text(item.get("SegmentLabel"))
        for item in ds.get("SegmentSequence", [])
    }


def _choose(segments: dict[int, str], segment: int | str | None, file) -> int:
    listing = "The file's segments: " + (
        ", ".join(f"{n} {label!r}" for n, label in segments.items()) or "none"
    )
    if isinstance(segment, (int, np.integer)) and not isinstance(segment, bool):
        if int(segment) in segments:
            return int(segment)
        raise InputError(
            f"no segment number {segment} in the file",
            file=file,
            expected="one of its segments",
            found=int(segment),
            hint=listing,
        )
    labels = list(segments.values())
    if (
        segment is not None
        and segment not in labels
        and str(segment).isdigit()
        and int(segment) in segments
    ):
        return int(segment)
    if segment is None and len(segments) > 1:
        raise InputError(
            f"the file holds {len(segments)} segments: choose one",
            file=file,
            expected="a segment label or number",
            found="none given",
            hint=listing,
        )
    if segment is not None and labels.count(segment) > 1:
        raise InputError(
            f"several segments are labelled {segment!r}",
            file=file,
            expected="a segment number",
            found=labels.count(segment),
            hint=listing,
        )
    try:
        label = select_name(labels, None if segment is None else str(segment), "segment", file)
    except InputError as exc:
        raise InputError(
            exc.message, file=file, expected=exc.expected, found=exc.found, hint=listing
        ) from None
    return next(n for n, v in segments.items() if v == label)


def _volume_image(volume):
    """A SimpleITK image of a highdicom volume (array axes: slice, row, column)."""
    import SimpleITK as sitk

    affine = np.asarray(volume.affine, float)
    columns = affine[:3, :3]
    spacing = np.sqrt((columns**2).sum(axis=0))  # slice, row, column
    axes = columns / spacing[None, :]
    image = sitk.GetImageFromArray(np.ascontiguousarray(volume.array))
    image.SetSpacing((float(spacing[2]), float(spacing[1]), float(spacing[0])))
    image.SetOrigin(tuple(float(v) for v in affine[:3, 3]))
    image.SetDirection(
        tuple(float(v) for v in np.column_stack([axes[:, 2], axes[:, 1], axes[:, 0]]).ravel())
    )
    return image


def _aligned(image, grid: Grid) -> bool:
    """Whether the voxel centres of ``image`` fall on voxel centres of the grid."""
    direction = np.asarray(image.GetDirection(), float).reshape(3, 3)
    spacing = np.asarray(image.GetSpacing(), float)
    corners = np.array([[0, 0, 0], [1, 0, 0], [0, 1, 0], [0, 0, 1]], float)
    points = np.asarray(image.GetOrigin(), float)[:, None] + (direction * spacing) @ corners.T
    index = grid.continuous_index(points.T)
    steps = index[1:] - index[0]
    return bool(
        np.allclose(index, np.round(index), atol=1e-3)
        and np.allclose(np.abs(steps), np.eye(3), atol=1e-3)
    )


def read_seg(path: str | os.PathLike, series, segment: int | str | None = None):
    """One segment of a DICOM SEG as a mask on the grid of its image series.

    Read with highdicom (binary and fractional SEG; overlapping segments are fine since one
    is read at a time). The segment's frames are placed on the series grid by their
    positions in the shared frame of reference; a SEG on another grid is resampled
    (nearest neighbour) and a fractional one thresholded at 0.5, each said in the report.

    Parameters
    ----------
    path
        The SEG file.
    series
        The image series: its folder, or the image read by :func:`read_dicom_series`.
    segment
        Segment label (exact, or a regular expression matching one label in full) or
        segment number. May be omitted when the file holds a single segment.

    Returns
    -------
    SimpleITK.Image
        Mask (UInt8, 1 inside) on exactly the series grid, with its conversion report.

    Raises
    ------
    InputError
        For a file that is not a SEG, an unknown or ambiguous segment (the message lists
        the labels), another frame of reference than the series', or an empty mask.

    See Also
    --------
    read_dicom_series : the image series the mask is placed on.
    read_rtstruct : the same for an RTSTRUCT.

    Examples
    --------
    A SEG of one segment written with highdicom on a small CT series:

    >>> import tempfile
    >>> import warnings
    >>> from pathlib import Path
    >>> import highdicom as hd
    >>> import numpy as np
    >>> import pydicom
    >>> import SimpleITK as sitk
    >>> from pydicom.sr.codedict import codes
    >>> import radiogenomics as rg
    >>> from radiogenomics.io.dicom import write_dicom_series
    >>> folder = Path(tempfile.mkdtemp())
    >>> values = np.zeros((4, 16, 16), np.int16)
    >>> values[1:3, 4:12, 4:12] = 40
    >>> series = write_dicom_series(sitk.GetImageFromArray(values), folder / "CT", patient_id="P1")
    >>> sources = [pydicom.dcmread(f) for f in sorted(series.glob("*.dcm"))]
    >>> tumour = hd.seg.SegmentDescription(
    ...     1,
    ...     "tumour",
    ...     codes.SCT.MorphologicallyAbnormalStructure,
    ...     codes.SCT.Neoplasm,
    ...     hd.seg.SegmentAlgorithmTypeValues.MANUAL,
    ... )
    >>> with warnings.catch_warnings():  # highdicom: "P1" does not look like a person's name
    ...     warnings.simplefilter("ignore", UserWarning)
    ...     seg = hd.seg.Segmentation(
    ...         sources,
    ...         (values > 0).astype(np.uint8),
    ...         hd.seg.SegmentationTypeValues.BINARY,
    ...         [tumour],
    ...         hd.UID(),
    ...         1,
    ...         hd.UID(),
    ...         1,
    ...         "radiogenomics",
    ...         "example",
    ...         "1",
    ...         "0",
    ...     )
    >>> seg.save_as(folder / "seg.dcm")
    >>> mask = rg.io.read_seg(folder / "seg.dcm", series, "tumour")
    >>> mask.GetSize(), bool((sitk.GetArrayFromImage(mask) == (values > 0)).all())
    ((16, 16, 4), True)
    >>> report = rg.io.conversion_report(mask)
    >>> report["roi"], report["segment_number"], report["n_voxels"], report["warnings"]
    ('tumour', 1, 128, [])
    """
    import highdicom as hd
    import SimpleITK as sitk

    path = Path(path)
    header = read_header(path, "SEG")
    if as_text(header.get("Modality")) != "SEG":
        raise InputError(
            "the file is not a DICOM SEG",
            file=path,
            expected="Modality SEG",
            found=as_text(header.get("Modality")) or "no Modality",
        )
    grid = series_grid(series)
    number = _choose(seg_segments(header), segment, path)
    label = seg_segments(header)[number]
    frame = as_text(header.get("FrameOfReferenceUID"))
    if grid.frame_of_reference and frame and frame != grid.frame_of_reference:
        raise InputError(
            "the SEG is in another frame of reference than the series",
            file=path,
            expected=f"FrameOfReferenceUID {grid.frame_of_reference}",
            found=frame,
        )
    warnings: list[str] = []
    try:
        seg = hd.seg.segread(str(path))
        volume = seg.get_volume(
            segment_numbers=[number], combine_segments=False, rescale_fractional=True
        )
    except Exception as exc:  # highdicom raises ValueError/RuntimeError on odd geometry
        raise InputError(
            "cannot place the SEG frames in a volume",
            file=path,
            found=" ".join(str(exc).split())[:200],
        ) from None
    if volume.array.ndim == 4:
        volume = volume.with_array(volume.array[..., 0])
    fractional = as_text(header.get("SegmentationType")) == "FRACTIONAL"
    values = np.asarray(volume.array, float)
    if fractional:
        binary = values >= _FRACTION_THRESHOLD
        if np.any((values > 0) & (values < 1)):
            warnings.append(f"fractional segment thresholded at {_FRACTION_THRESHOLD}")
    else:
        binary = values > 0
    image = _volume_image(volume.with_array(binary.astype(np.uint8)))
    reference = grid.image(np.zeros(grid.size[::-1], dtype=np.uint8))
    if not _aligned(image, grid):
        warnings.append(
            "the SEG grid differs from the series grid: resampled (nearest "
            "neighbour) onto the series"
        )
    mask = sitk.Resample(
        image, reference, sitk.Transform(), sitk.sitkNearestNeighbor, 0, sitk.sitkUInt8
    )
    array = sitk.GetArrayFromImage(mask)
    n_voxels = int(array.sum())
    if n_voxels == 0:
        raise InputError(
            f"segment {number} ({label!r}) gives an empty mask on the series grid",
            file=path,
            expected="segmented voxels inside the series",
            found="none",
        )
    result = grid.image(array)
    report: dict[str, Any] = {
        "source": "SEG",
        "roi": label,
        "segment_number": number,
        "n_contours": None,
        "n_slices": int(np.count_nonzero(array.reshape(array.shape[0], -1).any(axis=1))),
        "n_voxels": n_voxels,
        "volume_mm3": n_voxels * grid.voxel_volume,
        "n_holes": None,
        "warnings": warnings,
    }
    set_report(result, report)
    return result
