"""Check that the RTSTRUCT and SEG masks of a manifest refer to their image series."""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd

from ...errors import InputError
from ._common import as_text, dicom_kind, read_header
from .rtstruct import rtstruct_rois, select_name
from .seg import _choose, seg_segments
from .series import series_headers

__all__ = ["check_manifest_masks", "segmentation_references"]


def segmentation_references(ds) -> tuple[set[str], set[str]]:
    """Series UIDs and frames of reference an RTSTRUCT or SEG header refers to."""
    series: set[str] = set()
    frames: set[str] = set()
    if as_text(ds.get("Modality")) == "RTSTRUCT":
        for reference in ds.get("ReferencedFrameOfReferenceSequence", []):
            frames.add(as_text(reference.get("FrameOfReferenceUID")))
            for study in reference.get("RTReferencedStudySequence", []):
                for item in study.get("RTReferencedSeriesSequence", []):
                    series.add(as_text(item.get("SeriesInstanceUID")))
        for roi in ds.get("StructureSetROISequence", []):
            frames.add(as_text(roi.get("ReferencedFrameOfReferenceUID")))
    else:
        frames.add(as_text(ds.get("FrameOfReferenceUID")))
        for item in ds.get("ReferencedSeriesSequence", []):
            series.add(as_text(item.get("SeriesInstanceUID")))
    return series - {""}, frames - {""}


def check_manifest_masks(frame: pd.DataFrame, manifest: str | os.PathLike | None = None) -> int:
    """Open the header of every RTSTRUCT/SEG mask and check it against its image series.

    For each such row: the image is a folder holding the series (the one named by
    ``series_uid`` when given), the mask refers to that series or to its frame of
    reference, and the row's ``roi`` names one ROI or segment of the file.

    Parameters
    ----------
    frame
        The manifest as read by :func:`~radiogenomics.io.read_manifest`.
    manifest
        The manifest's file, for messages.

    Returns
    -------
    int
        The number of rows whose mask is an RTSTRUCT or SEG.

    Raises
    ------
    InputError
        At the first row that does not check out, naming its line and what was found.
    """
    n = 0
    for position, row in enumerate(frame.itertuples(index=False)):
        line = position + 2 if manifest is not None else str(row.patient_id)
        mask, image = Path(row.mask), Path(row.image)
        kind = dicom_kind(mask)
        if kind is None:
            continue
        n += 1
        roi = getattr(row, "roi", None)
        roi = (
            None
            if roi is None or (isinstance(roi, float) and roi != roi) or roi == ""
            else str(roi)
        )
        wanted = getattr(row, "series_uid", None)
        wanted = (
            None
            if wanted is None or (isinstance(wanted, float) and wanted != wanted)
            else str(wanted)
        )

        def fail(message, expected=None, found=None, column="mask", line=line, mask=mask):
            raise InputError(
                f"{message} ({mask.name})" if column == "mask" else message,
                file=manifest,
                row=line,
                column=column,
                expected=expected,
                found=found,
            )

        if not image.is_dir():
            fail(
                f"an {kind} mask needs a DICOM series folder as image",
                expected="a folder",
                found=str(image),
                column="image",
            )
        groups, _ = series_headers(image)
        if wanted is not None:
            groups = {uid: items for uid, items in groups.items() if uid == wanted}
        if len(groups) != 1:
            fail(
                "the image folder does not hold exactly one DICOM series"
                + (f" {wanted}" if wanted else ""),
                expected="one series (or series_uid)",
                found=f"{len(groups)} series",
                column="image",
            )
        uid, items = next(iter(groups.items()))
        frame_uid = as_text(items[0][1].get("FrameOfReferenceUID"))
        header = read_header(mask, kind)
        series, frames = segmentation_references(header)
        if uid not in series and frame_uid not in frames:
            fail(
                f"the {kind} refers neither to the image's series nor to its frame of reference",
                expected=f"series {uid} or frame of reference {frame_uid}",
                found=f"series {', '.join(sorted(series)) or 'none'}; frame of reference "
                f"{', '.join(sorted(frames)) or 'none'}",
            )
        if frames and frame_uid and frame_uid not in frames:
            fail(
                f"the {kind} is in another frame of reference than the image's series",
                expected=frame_uid,
                found=", ".join(sorted(frames)),
            )
        try:
            if kind == "RTSTRUCT":
                select_name(list(rtstruct_rois(header).values()), roi, "ROI", mask)
            else:
                _choose(seg_segments(header), roi, mask)
        except InputError as exc:
            raise InputError(
                f"{exc.message} ({mask.name})",
                file=manifest,
                row=line,
                column="roi",
                expected=exc.expected,
                found=exc.found,
                hint=exc.hint,
            ) from None
    return n
