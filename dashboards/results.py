"""What a dashboard serves: the cohort and the result tables of a finished analysis.

Everything is found once, when the app is made, from the path given on the command line;
no page or callback ever opens a path that came from the browser. The browser names a
table by its key and a patient by the identifier shown to it (a pseudonym when asked).
"""

from __future__ import annotations

import hashlib
import os
import secrets
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from radiogenomics.errors import InputError

from .store import ASSOCIATION_COLUMNS, SURVIVAL_COLUMNS, TableStore

__all__ = ["Results", "load_results"]

_TABLE_SUFFIXES = (".parquet", ".csv", ".tsv")
_NOT_RESULTS = {"join", "join_report", "params", "truth", "files", "manifest", "clinical"}


def _kind_of(columns) -> str | None:
    columns = set(columns)
    if set(ASSOCIATION_COLUMNS) <= columns:
        return "associations"
    if set(SURVIVAL_COLUMNS) <= columns:
        return "survival"
    return None


def _read_small(path: Path) -> pd.DataFrame:
    sep = "\t" if path.suffix == ".tsv" else ","
    return pd.read_csv(path, sep=sep, keep_default_na=True, na_values=["", "NA", "NaN"])


@dataclass
class Results:
    """The cohort and result tables behind a dashboard.

    Attributes
    ----------
    mdata
        The cohort (``None`` when only tables were given).
    associations, survival
        Result tables by key, each a :class:`~dashboards.store.TableStore`.
    time, event
        Clinical columns of survival time and event (from the cohort's provenance, or
        given), used to show outcomes.
    pseudonymize
        Show pseudonyms instead of patient IDs.
    """

    source: Path
    mdata: object | None = None
    associations: dict[str, TableStore] = field(default_factory=dict)
    survival: dict[str, TableStore] = field(default_factory=dict)
    time: str | None = None
    event: str | None = None
    pseudonymize: bool = False
    pseudonym_key: str = ""
    _to_display: dict[str, str] = field(default_factory=dict)
    _from_display: dict[str, str] = field(default_factory=dict)
    _memo: dict[str, OrderedDict] = field(default_factory=dict, repr=False)
    _memo_lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    # ---------------------------------------------------------------- memo
    def memo(
        self, name: str, key: Hashable, compute: Callable[[], object], size: int = 64
    ) -> object:
        """What the pages computed from these results (layouts, figures, tables), kept
        for the next request: the value of ``compute()`` under ``(name, key)``; the ``size``
        latest of each ``name`` are kept. The results never change while served, so a
        value stays right; callers must not modify what they get."""
        with self._memo_lock:
            found = self._memo.setdefault(name, OrderedDict())
            if key in found:
                found.move_to_end(key)
                return found[key]
        value = compute()
        with self._memo_lock:
            found[key] = value
            while len(found) > size:
                found.popitem(last=False)
        return value

    # ---------------------------------------------------------------- patients
    @property
    def patients(self) -> list[str]:
        return [] if self.mdata is None else [str(p) for p in self.mdata.obs_names]

    def display_id(self, patient: str) -> str:
        """What the browser sees for a patient ID (with pseudonyms on, a patient outside the
        cohort shows as ``(pseudonymised)``)."""
        if not self.pseudonymize:
            return str(patient)
        return self._to_display.get(str(patient), "(pseudonymised)")

    def patient_id(self, shown: str | None) -> str | None:
        """The patient ID behind what the browser sent, or ``None`` if unknown."""
        if shown is None:
            return None
        shown = str(shown)
        if self.pseudonymize:
            return self._from_display.get(shown)
        return shown if self.mdata is not None and shown in self.mdata.obs_names else None

    def _make_pseudonyms(self) -> None:
        key = self.pseudonym_key or secrets.token_hex(32)  # no key given: this run only
        digests = {p: hashlib.sha256(f"{key}\0{p}".encode()).hexdigest() for p in self.patients}
        width = max(3, len(str(len(digests))))
        for number, patient in enumerate(sorted(digests, key=digests.get), start=1):
            shown = f"PT-{number:0{width}d}"
            self._to_display[patient] = shown
            self._from_display[shown] = patient

    # ---------------------------------------------------------------- cohort
    @property
    def modalities(self) -> list[str]:
        return [] if self.mdata is None else list(self.mdata.mod)

    def feature_classes(self) -> dict[str, str]:
        """Radiomic feature name -> feature class, from the radiomics modality's ``var``."""
        if self.mdata is None or "radiomics" not in self.mdata.mod:
            return {}
        var = self.mdata["radiomics"].var
        if "feature_class" not in var:
            return {}
        return {str(k): str(v) for k, v in var["feature_class"].items()}

    def risk_columns(self) -> dict[str, str]:
        """Clinical columns holding a stored risk signature's score and group
        (``mdata.uns["radiogenomics"]["risk_signature"][key]`` -> ``<key>_score``,
        ``<key>_group``, and ``<key>_set``, training or held out, when recorded)."""
        stored = self.uns("risk_signature", default={}) or {}
        if self.mdata is None or not isinstance(stored, dict):
            return {}
        for key in stored:
            columns = {"risk score": f"{key}_score", "risk group": f"{key}_group"}
            if all(c in self.mdata.obs.columns for c in columns.values()):
                if f"{key}_set" in self.mdata.obs.columns:
                    columns["risk set"] = f"{key}_set"
                return columns
        return {}

    def patient_predictions(self, patient: str) -> pd.DataFrame:
        """The patient's rows of the stored model predictions (one per model), with the
        model's key first."""
        stored = self.uns("model_predictions", default={}) or {}
        frames = []
        if isinstance(stored, dict):
            for key, table in stored.items():
                if isinstance(table, pd.DataFrame) and "patient_id" in table:
                    rows = table[table["patient_id"].astype(str) == str(patient)]
                    if len(rows):
                        rows = rows.drop(columns=["patient_id"]).copy()
                        rows.insert(0, "model", str(key))
                        frames.append(rows)
        return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()

    def manifest(self) -> pd.DataFrame | None:
        if self.mdata is None:
            return None
        table = self.mdata.uns.get("radiogenomics", {}).get("manifest")
        return table if isinstance(table, pd.DataFrame) and len(table) else None

    def uns(self, *keys, default=None):
        value = {} if self.mdata is None else self.mdata.uns.get("radiogenomics", {})
        for key in keys:
            if not isinstance(value, dict) or key not in value:
                return default
            value = value[key]
        return value


def load_results(
    path: str | os.PathLike,
    *,
    time: str | None = None,
    event: str | None = None,
    pseudonymize: bool = False,
    pseudonym_key: str | None = None,
    cache_dir: str | os.PathLike | None = None,
) -> Results:
    """Find the cohort and result tables of a results folder or a cohort file.

    A folder may hold ``cohort.h5mu`` (or one ``.h5mu`` file) and result tables as Parquet,
    CSV or TSV files, in the folder itself or in its ``results/`` subfolder (searched
    recursively); a table is recognised by its columns (association table or survival
    screen). Tables stored in the cohort (``mdata.uns["radiogenomics"][kind][key]``) are
    served too. A ``.h5mu`` file: that cohort, plus the tables of a ``results/`` folder
    beside it.

    Parameters
    ----------
    time, event
        Survival time and event columns (default: those recorded when the clinical table
        was read).
    pseudonymize
        Show patients as ``PT-001``, ... (ordered by a keyed hash of their ID).
    pseudonym_key
        Secret of the keyed hash (default: the results folder's own random key, made on
        first use and kept in the folder with mode 600; see :mod:`dashboards.pseudonyms`).
    cache_dir
        Where serving copies of large tables go.
    """
    from radiogenomics.cohort import read_cohort

    path = Path(path).expanduser()
    if not path.exists():
        raise InputError(
            "the results path does not exist",
            file=path,
            expected="a results folder or a .h5mu cohort file",
        )
    if path.is_dir():
        cohorts = (
            [path / "cohort.h5mu"]
            if (path / "cohort.h5mu").is_file()
            else sorted(path.glob("*.h5mu"))
        )
        if len(cohorts) > 1:
            raise InputError(
                "several cohort files in the results folder",
                file=path,
                expected="one .h5mu file (or cohort.h5mu)",
                found=[c.name for c in cohorts],
            )
        cohort = cohorts[0] if cohorts else None
        folders = [path / "results"] if (path / "results").is_dir() else []
        loose = [p for p in sorted(path.iterdir()) if p.suffix in _TABLE_SUFFIXES]
    else:
        if path.suffix != ".h5mu":
            raise InputError(
                "not a cohort file",
                file=path,
                expected="a .h5mu file",
                found=path.suffix or "no suffix",
            )
        cohort = path
        folders = [path.parent / "results"] if (path.parent / "results").is_dir() else []
        loose = []
    mdata = read_cohort(cohort) if cohort is not None else None
    if pseudonymize and not pseudonym_key:
        from .pseudonyms import folder_key

        pseudonym_key = folder_key(path)
    results = Results(
        source=path, mdata=mdata, pseudonymize=pseudonymize, pseudonym_key=pseudonym_key or ""
    )
    classes = results.feature_classes()

    files = list(loose)
    for folder in folders:
        files.extend(
            p
            for p in sorted(folder.rglob("*"))
            if p.suffix in _TABLE_SUFFIXES and not p.name.startswith(".")
        )
    by_stem: dict[str, Path] = {}
    for file in files:
        # one table may be exported in several formats: serve the Parquet one
        stem = str(file.with_suffix(""))
        if stem not in by_stem or file.suffix == ".parquet":
            by_stem[stem] = file
    for file in by_stem.values():
        if file.suffix == ".parquet":
            import pyarrow.parquet as pq

            try:
                columns = pq.ParquetFile(file).schema_arrow.names
            except Exception:  # not a table we can serve
                continue
            kind = _kind_of(columns)
            source = file
        else:
            try:
                frame = _read_small(file)
            except Exception:  # not a table we can serve
                continue
            kind = _kind_of(frame.columns)
            source = frame
        if kind is None:
            continue
        target = results.associations if kind == "associations" else results.survival
        key = file.stem
        while key in target:
            key = f"{key}_"
        target[key] = TableStore(source, kind=kind, feature_classes=classes, cache_dir=cache_dir)

    for kind_name, tables in results.uns(default={}).items():
        if kind_name in _NOT_RESULTS or not isinstance(tables, dict):
            continue
        for key, table in tables.items():
            if not isinstance(table, pd.DataFrame):
                continue
            kind = _kind_of(table.columns)
            if kind is None:
                continue
            target = results.associations if kind == "associations" else results.survival
            if key in target:
                continue  # the exported file of the same table is already served
            # a streamed table: the cohort holds its summary, the Parquet file the rows
            streamed = results.uns("params", kind_name, key, "path", default=None)
            if streamed and Path(streamed).suffix == ".parquet" and Path(streamed).is_file():
                target[str(key)] = TableStore(
                    Path(streamed), kind=kind, feature_classes=classes, cache_dir=cache_dir
                )
                continue
            target[str(key)] = TableStore(table, kind=kind, feature_classes=classes)

    provenance = results.uns("clinical", default={}) or {}
    results.time = time or _first(provenance.get("time"))
    results.event = event or _first(provenance.get("event"))
    if mdata is not None:
        for name in (results.time, results.event):
            if name is not None and name not in mdata.obs.columns:
                raise InputError(
                    f"the cohort has no clinical column {name!r}",
                    file=cohort,
                    column=name,
                    expected=f"one of {list(map(str, mdata.obs.columns))[:15]}",
                )
    if pseudonymize:
        results._make_pseudonyms()
    return results


def _first(value):
    if value is None:
        return None
    if isinstance(value, str):
        return value
    try:
        items = list(value)
    except TypeError:
        return str(value)
    return str(items[0]) if items else None
