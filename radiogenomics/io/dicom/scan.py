"""Scan a DICOM folder tree of any shape into an image manifest of series and their masks."""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from ...errors import InputError
from ._common import SEGMENTATION_MODALITIES, as_text
from .report import conversion_table, read_dicom_mask
from .rtstruct import rtstruct_rois
from .seg import seg_segments
from .series import _NON_IMAGE, read_dicom_series
from .validate import segmentation_references

__all__ = ["MANIFEST_COLUMNS", "DicomScan", "scan_dicom"]

MANIFEST_COLUMNS = [
    "patient_id",
    "lesion_id",
    "image",
    "mask",
    "roi",
    "modality",
    "series_uid",
    "study_date",
    "series_description",
]
_MODALITY_ALIASES = {"PET": "PT", "MRI": "MR"}


@dataclass
class DicomScan:
    """What :func:`scan_dicom` found.

    Attributes
    ----------
    manifest
        One row per image series and ROI (or segment): ``patient_id``, ``lesion_id`` (set
        when a patient has several rows), ``image`` (series folder), ``mask`` (RTSTRUCT or
        SEG file), ``roi``, ``modality``, ``series_uid``, ``study_date``,
        ``series_description``.
    unreadable
        Files that are not DICOM or cannot be read: ``path``, ``reason``.
    series_without_segmentation
        Image series no RTSTRUCT/SEG refers to: ``patient_id``, ``modality``,
        ``series_uid``, ``folder``, ``n_files``, ``series_description``.
    segmentations_without_series
        RTSTRUCT/SEG files whose series is not in the tree, or with no ROI matching:
        ``patient_id``, ``kind``, ``path``, ``reason``.

    See Also
    --------
    scan_dicom : what makes one.

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> import numpy as np
    >>> import SimpleITK as sitk
    >>> import radiogenomics as rg
    >>> from radiogenomics.io.dicom import write_dicom_series, write_rtstruct
    >>> root = Path(tempfile.mkdtemp())
    >>> values = np.zeros((4, 16, 16), np.int16)
    >>> values[1:3, 4:12, 4:12] = 40
    >>> ct = sitk.GetImageFromArray(values)
    >>> tumour = sitk.GetImageFromArray((values > 0).astype(np.uint8))
    >>> series = write_dicom_series(ct, root / "P1" / "CT", patient_id="P1")
    >>> _ = write_rtstruct(tumour, series, root / "P1" / "RTSTRUCT" / "rs.dcm", roi_name="GTV")
    >>> _ = (root / "README.txt").write_text("not DICOM")
    >>> scan = rg.io.scan_dicom(root)
    >>> print(scan.summary())
    /...: 1 image series x ROI row(s) for 1 patient(s)
    1 unreadable or non-DICOM file(s):
      /.../README.txt: not a DICOM file
    >>> report = scan.conversion_report()  # reads every series and mask, extracts nothing
    >>> report[["patient_id", "roi", "n_contours", "n_voxels", "volume_mm3"]].values.tolist()
    [['P1', 'GTV', 2, 128, 128.0]]
    >>> path = scan.write(root / "manifest.csv")  # and what was left out, beside it
    >>> sorted(p.name for p in root.glob("manifest.csv*"))
    ['manifest.csv', 'manifest.csv.scan.json']
    >>> rg.io.read_manifest(path)[["patient_id", "roi", "label"]].values.tolist()
    [['P1', 'GTV', 1]]
    """

    root: Path
    manifest: pd.DataFrame
    unreadable: pd.DataFrame
    series_without_segmentation: pd.DataFrame
    segmentations_without_series: pd.DataFrame
    notes: list[str] = field(default_factory=list)

    def summary(self, limit: int = 20) -> str:
        """A few lines: rows of the manifest and every file or series left out, and why."""
        lines = [
            f"{self.root}: {len(self.manifest)} image series x ROI row(s) for "
            f"{self.manifest['patient_id'].nunique() if len(self.manifest) else 0} "
            "patient(s)"
        ]
        sections = [
            ("unreadable or non-DICOM file(s)", self.unreadable, lambda r: f"{r.path}: {r.reason}"),
            (
                "image series without a segmentation",
                self.series_without_segmentation,
                lambda r: (
                    f"{r.patient_id} {r.modality} {r.series_uid} ({r.n_files} files in {r.folder})"
                ),
            ),
            (
                "segmentation(s) without their series",
                self.segmentations_without_series,
                lambda r: f"{r.patient_id} {r.kind} {r.path}: {r.reason}",
            ),
        ]
        for title, table, show in sections:
            if len(table):
                lines.append(f"{len(table)} {title}:")
                lines.extend("  " + show(r) for r in table.head(limit).itertuples(index=False))
                if len(table) > limit:
                    lines.append(f"  ... and {len(table) - limit} more")
        lines.extend(self.notes)
        return "\n".join(lines)

    def conversion_report(self) -> pd.DataFrame:
        """Convert every row (series and mask) and return the conversion report table.

        The same table as ``uns["radiogenomics"]["conversion"]`` of an extraction
        (:func:`~radiogenomics.io.dicom.report.conversion_table`), without extracting:
        ROI, contours, slices, voxels, volume in mm³, holes and warnings per row. A row
        that cannot be converted raises its ``InputError``.
        """
        pairs = []
        for row in self.manifest.to_dict(orient="records"):
            image = read_dicom_series(row["image"], series_uid=row["series_uid"])
            pairs.append((row, read_dicom_mask(row["mask"], image, row["roi"])[1]))
        return conversion_table(pairs)

    def to_dict(self) -> dict:
        return {
            "root": str(self.root),
            "unreadable": self.unreadable.to_dict(orient="records"),
            "series_without_segmentation": self.series_without_segmentation.to_dict(
                orient="records"
            ),
            "segmentations_without_series": self.segmentations_without_series.to_dict(
                orient="records"
            ),
            "notes": self.notes,
        }

    def write(self, path: str | os.PathLike) -> Path:
        """Write the manifest (CSV/TSV from the suffix) and ``<path>.scan.json`` beside it."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        sep = "\t" if path.suffix.lower() in (".tsv", ".txt") else ","
        tmp = path.with_name(f".{path.name}.tmp")
        self.manifest.to_csv(tmp, index=False, sep=sep)
        os.replace(tmp, path)
        side = path.with_name(path.name + ".scan.json")
        tmp = side.with_name(f".{side.name}.tmp")
        tmp.write_text(json.dumps(self.to_dict(), indent=2, default=str), encoding="utf-8")
        os.replace(tmp, side)
        return path


def _walk(root: Path):
    for folder, dirs, files in os.walk(root):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in sorted(files):
            if not name.startswith("."):
                yield Path(folder) / name


def _frame(rows: list[dict], columns: list[str]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=columns).astype(object)


def _check_arguments(
    root: str | os.PathLike, roi: str | None, modality: str | None
) -> tuple[Path, re.Pattern | None, str | None]:
    """The root folder, the compiled ROI pattern and the wanted modality, checked."""
    root = Path(root)
    if not root.is_dir():
        raise InputError(
            "the DICOM folder does not exist"
            if not root.exists()
            else "the DICOM root must be a folder",
            file=root,
        )
    try:
        pattern = re.compile(roi, re.IGNORECASE) if roi else None
    except re.error as exc:
        raise InputError(
            "invalid regular expression for roi",
            expected="a Python regex",
            found=f"{roi!r} ({exc})",
        ) from None
    wanted = None
    if modality:
        wanted = _MODALITY_ALIASES.get(modality.upper(), modality.upper())
    return root, pattern, wanted


def _sort_header(
    path: Path,
    ds,
    series: dict[str, dict],
    segmentations: list[tuple[Path, object]],
    unreadable: list[dict],
) -> None:
    """File one header under the segmentations, an image series, or the unreadable files."""
    kind = as_text(ds.get("Modality"))
    if kind in SEGMENTATION_MODALITIES:
        segmentations.append((path, ds))
        return
    if kind in _NON_IMAGE or "ImagePositionPatient" not in ds:
        if "SeriesInstanceUID" not in ds:
            unreadable.append(
                {"path": str(path), "reason": "no SeriesInstanceUID (DICOMDIR or not an image)"}
            )
        return
    uid = as_text(ds.get("SeriesInstanceUID"))
    entry = series.setdefault(
        uid,
        {
            "patient_id": as_text(ds.get("PatientID")),
            "modality": kind,
            "frame": as_text(ds.get("FrameOfReferenceUID")),
            "study_date": as_text(ds.get("StudyDate") or ds.get("SeriesDate")),
            "series_description": as_text(ds.get("SeriesDescription")),
            "folders": {},
            "n_files": 0,
        },
    )
    entry["folders"][str(path.parent)] = entry["folders"].get(str(path.parent), 0) + 1
    entry["n_files"] += 1


def _orphan(patient: str, kind: str, path: Path, reason: str) -> dict:
    """One row of the segmentations left without their series."""
    return {"patient_id": patient, "kind": kind, "path": str(path), "reason": reason}


def _find_series(ds, path: Path, series: dict[str, dict]) -> tuple[str | None, str, dict | None]:
    """The series a segmentation belongs to, how it was found, or why it was not."""
    kind = as_text(ds.get("Modality"))
    patient = as_text(ds.get("PatientID"))
    refs, frames = segmentation_references(ds)
    matches = [uid for uid in refs if uid in series]
    how = "referenced series"
    if not matches:
        same_frame = [
            uid for uid, s in series.items() if s["frame"] in frames and s["patient_id"] == patient
        ]
        if len(same_frame) == 1:
            matches, how = same_frame, "frame of reference"
        elif len(same_frame) > 1:
            return (
                None,
                how,
                _orphan(
                    patient,
                    kind,
                    path,
                    f"its series {', '.join(sorted(refs)) or '?'} is "
                    f"not in the tree and {len(same_frame)} series "
                    "share its frame of reference",
                ),
            )
    if not matches:
        return (
            None,
            how,
            _orphan(
                patient,
                kind,
                path,
                f"its series {', '.join(sorted(refs)) or '(none named)'} is not in the tree",
            ),
        )
    return matches[0], how, None


def _segmentation_rows(
    path: Path, ds, uid: str, info: dict, pattern: re.Pattern | None, roi: str | None
) -> tuple[list[dict], dict | None]:
    """The manifest rows of one paired segmentation (one per chosen ROI), or why none."""
    kind = as_text(ds.get("Modality"))
    patient = as_text(ds.get("PatientID"))
    names = (
        list(rtstruct_rois(ds).values()) if kind == "RTSTRUCT" else list(seg_segments(ds).values())
    )
    chosen = [n for n in names if pattern is None or pattern.search(n)]
    if not chosen:
        return [], _orphan(
            patient,
            kind,
            path,
            f"no ROI matches {roi!r} (ROIs: {', '.join(repr(n) for n in names) or 'none'})",
        )
    if len(info["folders"]) > 1:
        return [], _orphan(
            patient,
            kind,
            path,
            f"its series {uid} is spread over {len(info['folders'])} folders",
        )
    folder = next(iter(info["folders"]))
    return [
        {
            "patient_id": info["patient_id"] or patient,
            "lesion_id": None,
            "image": folder,
            "mask": str(path),
            "roi": name,
            "modality": info["modality"],
            "series_uid": uid,
            "study_date": info["study_date"],
            "series_description": info["series_description"],
        }
        for name in chosen
    ], None


def _pair_segmentations(
    segmentations: list[tuple[Path, object]],
    series: dict[str, dict],
    pattern: re.Pattern | None,
    roi: str | None,
    wanted: str | None,
    notes: list[str],
) -> tuple[list[dict], list[dict], set[str]]:
    """Manifest rows, orphan segmentations and paired series UIDs; notes frame pairings."""
    rows: list[dict] = []
    orphans: list[dict] = []
    paired: set[str] = set()
    for path, ds in segmentations:
        uid, how, orphan = _find_series(ds, path, series)
        if uid is None:
            orphans.append(orphan)
            continue
        info = series[uid]
        paired.add(uid)
        if wanted is not None and info["modality"] != wanted:
            continue
        if how != "referenced series":
            notes.append(f"{path}: paired with series {uid} by its frame of reference")
        found, orphan = _segmentation_rows(path, ds, uid, info, pattern, roi)
        if orphan is not None:
            orphans.append(orphan)
            continue
        rows.extend(found)
    return rows, orphans, paired


def _manifest(rows: list[dict]) -> pd.DataFrame:
    """The manifest table, with lesion IDs for patients with several rows, sorted."""
    manifest = _frame(rows, MANIFEST_COLUMNS)
    if len(manifest):
        several = manifest.groupby("patient_id")["patient_id"].transform("size") > 1
        lesion = manifest["modality"] + "_" + manifest["roi"]
        duplicate = lesion.groupby([manifest["patient_id"], lesion]).cumcount()
        lesion = lesion.where(duplicate == 0, lesion + "_" + (duplicate + 1).astype(str))
        manifest["lesion_id"] = lesion.where(several, None)
        manifest = manifest.sort_values(["patient_id", "modality", "roi"], kind="stable")
        manifest = manifest.reset_index(drop=True)
    return manifest


def _lonely_series(series: dict[str, dict], paired: set[str], wanted: str | None) -> pd.DataFrame:
    """The image series no segmentation refers to (of the wanted modality)."""
    lonely = [
        {
            "patient_id": s["patient_id"],
            "modality": s["modality"],
            "series_uid": uid,
            "folder": ", ".join(s["folders"]),
            "n_files": s["n_files"],
            "series_description": s["series_description"],
        }
        for uid, s in sorted(series.items(), key=lambda x: (x[1]["patient_id"], x[0]))
        if uid not in paired and (wanted is None or s["modality"] == wanted)
    ]
    return _frame(
        lonely,
        ["patient_id", "modality", "series_uid", "folder", "n_files", "series_description"],
    )


def scan_dicom(
    root: str | os.PathLike, roi: str | None = None, modality: str | None = None
) -> DicomScan:
    """Find the image series and their RTSTRUCT/SEG segmentations in a folder tree.

    The tree may have any shape (TCIA or IDC layouts, hashed file names, segmentations in
    their own series folders). Files are grouped by SeriesInstanceUID; each RTSTRUCT or SEG
    is paired with the series it refers to (by its referenced series, else by its frame
    of reference when a single series of the patient has it). Nothing is dropped silently:
    unreadable files, series without a segmentation and segmentations without their series
    are listed in the result.

    Parameters
    ----------
    root
        Top folder of the tree.
    roi
        Regular expression selecting ROI names (RTSTRUCT) or segment labels (SEG); matched
        anywhere in the name, case-insensitive. Default: every ROI.
    modality
        Keep only image series of this modality (``CT``, ``MR``, ``PT``; ``PET`` is
        accepted for ``PT``).

    Returns
    -------
    DicomScan
        ``manifest`` (one row per series and ROI, ready for
        :func:`~radiogenomics.extract.features`) and the lists of what was left out.

    Raises
    ------
    InputError
        When ``root`` is not a folder or ``roi`` is not a valid regular expression.

    See Also
    --------
    radiogenomics.extract.features : extract the features of every row of the manifest.
    read_dicom_series, read_rtstruct, read_seg : read one series or mask.

    Examples
    --------
    Two patients with a CT series each (hashed folder names); only P1's has an RTSTRUCT:

    >>> import tempfile
    >>> from pathlib import Path
    >>> import numpy as np
    >>> import SimpleITK as sitk
    >>> import radiogenomics as rg
    >>> from radiogenomics.io.dicom import write_dicom_series, write_rtstruct
    >>> root = Path(tempfile.mkdtemp())
    >>> values = np.zeros((4, 16, 16), np.int16)
    >>> values[1:3, 4:12, 4:12] = 40
    >>> ct = sitk.GetImageFromArray(values)
    >>> tumour = sitk.GetImageFromArray((values > 0).astype(np.uint8))
    >>> for patient in ("P1", "P2"):
    ...     series = write_dicom_series(ct, root / patient / "a1b2", patient_id=patient)
    ...     if patient == "P1":
    ...         _ = write_rtstruct(tumour, series, root / patient / "c3d4" / "rs.dcm")
    >>> _ = (root / "README.txt").write_text("not DICOM")
    >>> scan = rg.io.scan_dicom(root, roi="gtv")
    >>> scan.manifest[["patient_id", "roi", "modality"]].values.tolist()
    [['P1', 'GTV', 'CT']]
    >>> Path(scan.manifest.loc[0, "image"]).name, Path(scan.manifest.loc[0, "mask"]).name
    ('a1b2', 'rs.dcm')
    >>> scan.series_without_segmentation[["patient_id", "modality", "n_files"]].values.tolist()
    [['P2', 'CT', 4]]
    >>> scan.unreadable["reason"].tolist()
    ['not a DICOM file']
    >>> len(rg.io.scan_dicom(root, roi="^PTV").manifest)  # no ROI matches
    0
    """
    import pydicom
    from pydicom.errors import InvalidDicomError

    root, pattern, wanted = _check_arguments(root, roi, modality)
    unreadable: list[dict] = []
    series: dict[str, dict] = {}
    segmentations: list[tuple[Path, object]] = []
    for path in _walk(root):
        try:
            ds = pydicom.dcmread(str(path), stop_before_pixels=True)
        except (InvalidDicomError, OSError, EOFError, ValueError, TypeError, AttributeError) as exc:
            reason = (
                "not a DICOM file"
                if isinstance(exc, InvalidDicomError)
                else " ".join(str(exc).split())[:160] or type(exc).__name__
            )
            unreadable.append({"path": str(path), "reason": reason})
            continue
        _sort_header(path, ds, series, segmentations, unreadable)

    notes: list[str] = []
    rows, orphans, paired = _pair_segmentations(segmentations, series, pattern, roi, wanted, notes)
    manifest = _manifest(rows)
    lonely = _lonely_series(series, paired, wanted)
    if wanted is not None:
        other = sum(1 for s in series.values() if s["modality"] != wanted)
        if other:
            notes.append(f"{other} series of other modalities than {wanted} left out (--modality)")
    return DicomScan(
        root=root,
        manifest=manifest,
        unreadable=_frame(unreadable, ["path", "reason"]),
        series_without_segmentation=lonely,
        segmentations_without_series=_frame(orphans, ["patient_id", "kind", "path", "reason"]),
        notes=notes,
    )
