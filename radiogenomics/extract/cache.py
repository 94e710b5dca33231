"""A resumable cache of extracted cases, one small JSON file per case.

Layout: ``<cache_dir>/settings-<key>/<case key>.json``. The folder key is a hash of the
resolved pyradiomics parameters, the pyradiomics and SimpleITK versions and the cache
format, so changing any of them starts a new folder (the old one is simply no longer read).
The case key is a hash of the image and mask fingerprints and the label (and, for DICOM
rows, the ROI or segment and the series UID). A fingerprint is
either the path, size and modification time of each file (``key_by="stat"``, the default)
or a SHA-256 of the file contents (``key_by="content"``, which survives moving or copying
the data). A DICOM series folder is fingerprinted file by file.

Each entry is written to a temporary file in the same folder and renamed into place
(``os.replace``), so a run killed at any moment (``kill -9``) leaves either a complete entry
or none; stray temporary files of dead processes are removed by the next run, and an
unreadable entry (after a power failure, say) is dropped and computed again. Failures are
not cached: a re-run tries failed cases again.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Literal

from .._files import pid_alive
from ..errors import InputError

__all__ = ["CACHE_FORMAT", "CaseCache", "fingerprint"]

CACHE_FORMAT = 1
KeyBy = Literal["stat", "content"]


def _file_digest(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def fingerprint(path: str | os.PathLike, key_by: KeyBy = "stat") -> list:
    """What identifies the data at ``path``: stat fields or a content hash (files of a folder).

    See Also
    --------
    CaseCache : keys its entries by the fingerprints of a case's image and mask.

    Examples
    --------
    >>> import shutil
    >>> import tempfile
    >>> from pathlib import Path
    >>> import radiogenomics as rg
    >>> folder = Path(tempfile.mkdtemp())
    >>> image = folder / "P1_ct.nii.gz"
    >>> _ = image.write_bytes(b"not really an image")
    >>> copy = Path(shutil.copy(image, folder / "copy.nii.gz"))
    >>> kind, path, size, mtime_ns = rg.extract.fingerprint(image)
    >>> kind, Path(path).name, size
    ('file', 'P1_ct.nii.gz', 19)
    >>> rg.extract.fingerprint(copy) == rg.extract.fingerprint(image)  # another path
    False
    >>> rg.extract.fingerprint(copy, "content") == rg.extract.fingerprint(image, "content")
    True
    >>> rg.extract.fingerprint(folder)[0], rg.extract.fingerprint(folder / "missing.nii.gz")[0]
    ('folder', 'missing')
    """
    p = Path(path)
    if key_by not in ("stat", "content"):
        raise InputError("unknown cache key", expected="'stat' or 'content'", found=key_by)
    if not p.exists():
        return ["missing", str(p)]
    if p.is_dir():
        files = sorted(f for f in p.iterdir() if f.is_file())
        if key_by == "content":
            return ["folder", [[f.name, _file_digest(f)] for f in files]]
        return [
            "folder",
            str(p.absolute()),
            [[f.name, (st := f.stat()).st_size, st.st_mtime_ns] for f in files],
        ]
    if key_by == "content":
        return ["file", _file_digest(p)]
    st = p.stat()
    return ["file", str(p.absolute()), st.st_size, st.st_mtime_ns]


def _versions() -> dict[str, str]:
    import radiomics
    import SimpleITK as sitk

    return {
        "pyradiomics": str(radiomics.__version__),
        "SimpleITK": str(sitk.Version_VersionString()),
    }


def _atomic_write(path: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{os.getpid()}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


class CaseCache:
    """Per-case results on disk for one set of extraction settings.

    Parameters
    ----------
    root
        The cache folder (created if needed).
    params
        Resolved pyradiomics parameters.
    key_by
        ``"stat"`` (path, size and modification time) or ``"content"`` (SHA-256 of the
        files).

    See Also
    --------
    radiogenomics.extract.features : uses one with ``cache_dir``.
    fingerprint : what identifies an image or a mask in a key.

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> import radiogenomics as rg
    >>> folder = Path(tempfile.mkdtemp())
    >>> for name in ("P1_ct.nii.gz", "P1_seg.nii.gz"):
    ...     _ = (folder / name).write_bytes(b"image data")
    >>> case = {
    ...     "patient_id": "P1",
    ...     "image": str(folder / "P1_ct.nii.gz"),
    ...     "mask": str(folder / "P1_seg.nii.gz"),
    ...     "label": 1,
    ... }
    >>> cache = rg.extract.CaseCache(folder / "cache", rg.extract.resolve_params("default"))
    >>> key = cache.key(case)
    >>> cache.load(key) is None, len(cache)
    (True, 0)
    >>> cache.store(key, case, {"original_shape_VoxelVolume": 216.0}, seconds=0.4)
    >>> cache.load(key), len(cache)
    ({'original_shape_VoxelVolume': 216.0}, 1)
    >>> cache.key(dict(case, label=2)) == key  # another label: another entry
    False
    >>> other = rg.extract.CaseCache(folder / "cache", rg.extract.resolve_params({"binWidth": 10}))
    >>> other.folder == cache.folder, other.load(key)  # other settings: another folder
    (False, None)
    """

    def __init__(self, root: str | os.PathLike, params: dict, key_by: KeyBy = "stat") -> None:
        self.root = Path(root)
        self.key_by = key_by
        identity = {"format": CACHE_FORMAT, "params": params, **_versions()}
        text = json.dumps(identity, sort_keys=True, default=str)
        self.settings_key = hashlib.sha256(text.encode()).hexdigest()[:20]
        self.folder = self.root / f"settings-{self.settings_key}"
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise InputError(
                "cannot create the cache folder", file=self.folder, found=exc.strerror or str(exc)
            ) from None
        settings_file = self.folder / "settings.json"
        if not settings_file.exists():
            _atomic_write(
                settings_file, json.dumps(identity, indent=2, sort_keys=True, default=str)
            )
        self._remove_stale_temporaries()

    def _remove_stale_temporaries(self) -> None:
        for tmp in self.folder.glob(".*.tmp"):
            try:
                pid = int(tmp.name.split(".")[1])
            except (IndexError, ValueError):
                continue
            if not pid_alive(pid):
                tmp.unlink(missing_ok=True)

    def key(self, case: dict) -> str:
        """The cache key of a manifest row (image, mask, label, and roi/series_uid if given)."""
        label = case.get("label")
        label = int(label) if label is not None and label == label else 1
        parts = [
            fingerprint(case["image"], self.key_by),
            fingerprint(case["mask"], self.key_by),
            label,
        ]
        for name in ("roi", "series_uid"):  # DICOM rows: the ROI/segment and the series
            if case.get(name) is not None:
                parts.append([name, str(case[name])])
        return hashlib.sha256(json.dumps(parts).encode()).hexdigest()[:32]

    def keys(self, cases: Iterable[dict], n_threads: int = 4) -> list[str]:
        """Keys of many rows (content hashes are computed in parallel threads)."""
        cases = list(cases)
        if self.key_by == "content" and len(cases) > 1:
            with ThreadPoolExecutor(max_workers=max(1, n_threads)) as pool:
                return list(pool.map(self.key, cases))
        return [self.key(c) for c in cases]

    def path(self, key: str) -> Path:
        return self.folder / f"{key}.json"

    def load(self, key: str) -> dict[str, Any] | None:
        """The cached feature values of a case, or ``None``."""
        path = self.path(key)
        try:
            entry = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None
        except (OSError, ValueError):
            path.unlink(missing_ok=True)  # unreadable entry: compute the case again
            return None
        if not isinstance(entry, dict) or entry.get("format") != CACHE_FORMAT:
            return None
        values = entry.get("values")
        return values if isinstance(values, dict) else None

    def store(self, key: str, case: dict, values: dict[str, Any], seconds: float) -> None:
        """Write one case atomically."""
        entry = {
            "format": CACHE_FORMAT,
            "patient_id": str(case.get("patient_id")),
            "image": str(case.get("image")),
            "mask": str(case.get("mask")),
            "label": None if case.get("label") is None else int(case["label"]),
            "seconds": round(float(seconds), 4),
            "values": values,
        }
        _atomic_write(self.path(key), json.dumps(entry, default=str))

    def __len__(self) -> int:
        return sum(1 for _ in self.folder.glob("*.json")) - 1  # minus settings.json
