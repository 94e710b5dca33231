"""Exported result tables with provenance: CSV, TSV, Parquet and Excel.

``write_table(df, path)`` picks the format from the suffix, validates the table against
its schema in ``data_schemas/`` (the association table, or the survival screen when the
table has those columns), writes it under a temporary name and renames it into place, and
writes ``<path>.meta.json`` beside it: what was computed and how (method, covariates,
multiple-testing method and family, patients), the package versions, a hash of the
inputs, the date, and which rows were written when a filter applied.

Excel sheets stay usable: an ``.xlsx`` file receives only the rows the caller selects
(``top`` most significant, or ``q`` at most a threshold) and at most ``excel_rows`` rows
(the most significant ones); the file's ``about`` sheet and the sidecar say so.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import os
import platform
import warnings
from collections.abc import Mapping
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import numpy as np
import pandas as pd

from ._files import atomic_path
from .errors import InputError, SchemaError
from .io.schema import load_schema, validate_frame

__all__ = [
    "FORMATS",
    "write_table",
    "read_sidecar",
    "sidecar_path",
    "detect_schema",
    "file_digest",
    "feature_units",
]

#: Suffix -> format.
FORMATS = {".csv": "csv", ".tsv": "tsv", ".parquet": "parquet", ".xlsx": "xlsx"}
#: Most rows written to an Excel sheet unless the caller asks for fewer.
EXCEL_ROWS = 20_000
#: Excel's own limit (rows per sheet, less the header).
EXCEL_LIMIT = 1_048_575
#: Rows validated and written at a time.
CHUNK_ROWS = 1_000_000

_VERSIONED = (
    "radiogenomics",
    "numpy",
    "scipy",
    "pandas",
    "statsmodels",
    "anndata",
    "mudata",
    "pyarrow",
    "xlsxwriter",
    "openpyxl",
)


def file_digest(path: str | os.PathLike, chunk: int = 1 << 22) -> str:
    """SHA-256 of a file (hex), read in chunks.

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> from radiogenomics.export import file_digest
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     path = Path(folder) / "table.csv"
    ...     _ = path.write_text("patient_id,score", encoding="utf-8")
    ...     digest = file_digest(path)
    >>> len(digest), digest[:12]
    (64, '4dcb96498dc3')
    """
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def sidecar_path(path: str | os.PathLike) -> Path:
    """``<path>.meta.json``.

    Examples
    --------
    >>> from radiogenomics.export import sidecar_path
    >>> sidecar_path("results/associations.csv").as_posix()
    'results/associations.csv.meta.json'
    """
    path = Path(path)
    return path.with_name(path.name + ".meta.json")


def read_sidecar(path: str | os.PathLike) -> dict:
    """The provenance written beside an exported table.

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> import radiogenomics as rg
    >>> mdata = rg.datasets.toy_cohort(n_patients=20, n_genes=3)
    >>> table = rg.tl.associate(mdata, "radiomics", "rna")
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     path = rg.export.write_table(table, Path(folder) / "associations.tsv")
    ...     meta = rg.export.read_sidecar(path)
    >>> meta["file"], meta["format"], meta["rows"], meta["method"], meta["n_patients"]
    ('associations.tsv', 'tsv', 36, 'linear', 20)
    >>> meta["multiple_testing"]
    {'method': 'bh', 'family': 'all'}
    >>> meta["file_hash"]
    'sha256:...'
    """
    meta = sidecar_path(path)
    if not meta.exists():
        raise InputError("the table has no provenance file beside it", file=meta)
    return json.loads(meta.read_text(encoding="utf-8"))


def detect_schema(frame: pd.DataFrame) -> str | None:
    """The name of the output schema whose required columns the frame has.

    Examples
    --------
    >>> import pandas as pd
    >>> import radiogenomics as rg
    >>> from radiogenomics.export import detect_schema
    >>> mdata = rg.datasets.toy_cohort(n_patients=20, n_genes=3)
    >>> detect_schema(rg.tl.associate(mdata, "radiomics", "rna"))
    'association_table'
    >>> detect_schema(pd.DataFrame({"feature": ["f1"], "score": [0.3]})) is None
    True
    """
    for name in ("association_table", "survival_screen"):
        schema = load_schema(name)
        names = {f["name"] for f in schema["fields"]}
        if names <= set(frame.columns):
            return name
    return None


def _versions() -> dict:
    found = {"python": platform.python_version()}
    for name in _VERSIONED:
        try:
            found[name] = version(name)
        except PackageNotFoundError:
            continue
    return found


def _select(
    frame: pd.DataFrame, fmt: str, q: float | None, top: int | None, excel_rows: int
) -> tuple[pd.DataFrame, dict | None, str | None]:
    """Rows to write (sorted by p-value when a filter applies), the filter and a note."""
    total = len(frame)
    applied: dict = {}
    notes = []
    if (q is not None or top is not None or fmt == "xlsx") and "p_value" not in frame.columns:
        if q is not None or top is not None:
            raise InputError(
                "filtering rows needs the table's p_value column",
                expected="a p_value column",
                found=list(frame.columns)[:10],
            )
    keep = np.ones(total, dtype=bool)
    if q is not None:
        if "q_value" not in frame.columns:
            raise InputError(
                "q= needs the table's q_value column",
                expected="a q_value column",
                found=list(frame.columns)[:10],
            )
        if not 0 <= q <= 1:
            raise InputError("q must lie in [0, 1]", found=q)
        keep &= frame["q_value"].to_numpy(dtype=float, na_value=np.nan) <= q
        applied["q_max"] = float(q)
        notes.append(f"rows with q_value <= {q}")
    if top is not None:
        if int(top) < 1:
            raise InputError("top must be a positive number of rows", found=top)
        applied["top"] = int(top)
    limit = top
    if fmt == "xlsx":
        cap = min(int(excel_rows), EXCEL_LIMIT)
        if int(keep.sum()) > cap and (top is None or top > cap):
            limit = cap
            applied["excel_rows"] = cap
    if not applied:
        return frame, None, None
    index = np.flatnonzero(keep)
    if "p_value" in frame.columns:
        p = frame["p_value"].to_numpy(dtype=float, na_value=np.nan)[index]
        p = np.where(np.isnan(p), np.inf, p)
        if limit is not None and index.size > limit:
            part = np.argpartition(p, limit - 1)[:limit]
            index, p = index[part], p[part]
        order = np.lexsort((index, p))
        index = index[order]
    elif limit is not None:
        index = index[:limit]
    selected = frame.iloc[index]
    if top is not None:
        notes.append(f"the {int(top)} rows with the smallest p-values")
    if "excel_rows" in applied:
        notes.append(
            f"at most {applied['excel_rows']} rows in an Excel sheet (the most "
            "significant); write CSV, TSV or Parquet for every row"
        )
    note = (
        f"{len(selected)} of {total} rows written: "
        + "; ".join(notes)
        + ". Rows are sorted by p-value."
    )
    return selected, applied, note


def _provenance(frame: pd.DataFrame, params: Mapping) -> dict:
    def unique(column):
        if column not in frame.columns:
            return None
        values = frame[column]
        uniq = (
            values.cat.categories[np.unique(values.cat.codes[values.cat.codes >= 0])]
            if isinstance(values.dtype, pd.CategoricalDtype)
            else values.dropna().unique()
        )
        uniq = [str(v) for v in uniq]
        return uniq[0] if len(uniq) == 1 else uniq

    multitest = params.get("multitest")
    covariates = params.get("covariates")
    if covariates is None:
        text = unique("covariates")
        covariates = [c for c in text.split(",") if c] if isinstance(text, str) else text
    return {
        "method": params.get("method", unique("method")),
        "covariates": covariates,
        "multiple_testing": multitest if multitest is not None else None,
        "n_patients": params.get("n_patients"),
        "input_hash": params.get("input_hash"),
    }


def _lookup(cohort, modalities: pd.Series, features: pd.Series, column: str) -> np.ndarray:
    """``var[column]`` of each row's (modality, feature), ``""`` where there is none."""
    mods = getattr(cohort, "mod", {})
    out = np.full(len(features), "", dtype=object)
    modalities = modalities.astype(str).to_numpy()
    names = features.astype(str)
    for mod in np.unique(modalities):
        if mod not in mods or column not in mods[mod].var:
            continue
        var = mods[mod].var
        lookup = pd.Series(var[column].astype(str).to_numpy(), index=var.index.astype(str))
        rows = modalities == mod
        out[rows] = names[rows].map(lookup).fillna("").to_numpy(dtype=object)
    return out


def feature_units(df: pd.DataFrame, cohort) -> pd.DataFrame:
    """The table with the unit and IBSI tag of the features its rows name, from the cohort.

    Association tables gain ``x_unit``, ``x_ibsi_tag`` and ``y_unit``; survival screens
    ``unit`` and ``ibsi_tag``; values come from ``var["unit"]`` and ``var["ibsi_tag"]`` of
    the named modality (empty where the modality has none, or the unit is dimensionless).
    Other tables are returned unchanged. The input is not modified.

    Examples
    --------
    >>> import radiogenomics as rg
    >>> from radiogenomics.export import feature_units
    >>> from radiogenomics.io.annotations import annotate_radiomics_var
    >>> mdata = rg.datasets.toy_cohort(n_patients=20, n_genes=3)
    >>> _ = annotate_radiomics_var(mdata["radiomics"].var, modality="CT")  # as read_radiomics
    >>> table = rg.tl.associate(mdata, "radiomics", "rna")
    >>> out = feature_units(table, mdata)
    >>> [c for c in out.columns if c not in table.columns]
    ['x_unit', 'x_ibsi_tag', 'y_unit']
    >>> out.drop_duplicates("x")[["x", "x_unit", "x_ibsi_tag"]].head(4).values.tolist()
    [['original_shape_VoxelVolume', 'mm³', 'morph_vol_approx'],
     ['original_shape_Sphericity', '', 'morph_sphericity'],
     ['original_shape_SurfaceArea', 'mm²', 'morph_area_mesh'],
     ['original_firstorder_Mean', 'HU', 'stat_mean']]
    """
    out = df.copy()
    out.attrs = dict(df.attrs)
    if {"x_modality", "x", "y_modality", "y"} <= set(df.columns):
        out["x_unit"] = _lookup(cohort, df["x_modality"], df["x"], "unit")
        out["x_ibsi_tag"] = _lookup(cohort, df["x_modality"], df["x"], "ibsi_tag")
        out["y_unit"] = _lookup(cohort, df["y_modality"], df["y"], "unit")
    elif {"modality", "feature"} <= set(df.columns):
        out["unit"] = _lookup(cohort, df["modality"], df["feature"], "unit")
        out["ibsi_tag"] = _lookup(cohort, df["modality"], df["feature"], "ibsi_tag")
    return out


def _ibsi_stamp(cohort) -> dict | None:
    mods = getattr(cohort, "mod", {})
    if "radiomics" not in mods:
        return None
    stamp = mods["radiomics"].uns.get("radiogenomics", {}).get("ibsi")
    return None if stamp is None else dict(stamp)


def write_table(
    df: pd.DataFrame,
    path: str | os.PathLike,
    *,
    q: float | None = None,
    top: int | None = None,
    schema: str | bool | None = None,
    params: Mapping | None = None,
    excel_rows: int = EXCEL_ROWS,
    cohort=None,
) -> Path:
    """Write a result table, validated, atomically, with a provenance sidecar.

    Parameters
    ----------
    df
        The table (an association table from ``rg.tl.associate``, a survival screen, ...).
    path
        Output file; the format comes from the suffix: ``.csv``, ``.tsv``, ``.parquet``,
        ``.xlsx``.
    q
        Write only rows with ``q_value <= q``.
    top
        Write only the ``top`` rows with the smallest p-values.
    schema
        Schema name in ``data_schemas/`` to validate against; ``None`` (the default)
        detects the association table or the survival screen from the columns (and
        refuses a table that is neither); ``False`` skips validation.
    params
        How the table was computed (default: ``df.attrs["radiogenomics"]``, set by the
        tools), written to the sidecar.
    excel_rows
        Most rows in an Excel sheet (the most significant are kept, and the sheet says so).
    cohort
        The cohort the table was computed from: adds the features' units and IBSI tags
        (:func:`feature_units`) and the extraction's IBSI self-test summary to the sidecar.

    Returns
    -------
    pathlib.Path
        The table written; the sidecar is ``<path>.meta.json``.

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> import pandas as pd
    >>> import radiogenomics as rg
    >>> mdata = rg.datasets.toy_cohort(n_patients=20, n_genes=3)
    >>> table = rg.tl.associate(mdata, "radiomics", "rna")
    >>> table.shape
    (36, 14)
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     path = rg.export.write_table(table, Path(folder) / "top.csv", top=5)
    ...     written = pd.read_csv(path)
    ...     meta = rg.export.read_sidecar(path)
    ...     beside = sorted(p.name for p in Path(folder).iterdir())
    >>> beside
    ['top.csv', 'top.csv.meta.json']
    >>> written.shape, bool(written["p_value"].is_monotonic_increasing)
    ((5, 14), True)
    >>> meta["schema"], meta["filter"]
    ('association_table', {'top': 5})
    >>> meta["note"]
    '5 of 36 rows written: the 5 rows with the smallest p-values. Rows are sorted by p-value.'

    A table that is neither an association table nor a survival screen needs
    ``schema=False``:

    >>> with tempfile.TemporaryDirectory() as folder:
    ...     path = rg.export.write_table(
    ...         pd.DataFrame({"feature": ["f1", "f2"], "score": [0.3, 0.1]}),
    ...         Path(folder) / "scores.parquet",
    ...         schema=False,
    ...     )
    ...     print(rg.export.read_sidecar(path)["schema"])
    None
    """
    path = Path(path)
    fmt = FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise InputError(
            "unknown table format",
            file=path,
            expected=f"a file ending in one of {list(FORMATS)}",
            found=path.suffix,
        )
    if not isinstance(df, pd.DataFrame):
        raise InputError("write_table needs a pandas DataFrame", found=type(df).__name__)
    if schema is None:
        schema = detect_schema(df)
        if schema is None:
            raise SchemaError(
                "the table is neither an association table nor a survival screen",
                file=path,
                expected="the columns of data_schemas/association_table.json or "
                "survival_screen.json (or schema=False)",
                found=list(map(str, df.columns))[:10],
            )
    elif schema is not False:
        load_schema(str(schema))  # unknown names raise
    ibsi = None
    if cohort is not None:
        df = feature_units(df, cohort)
        ibsi = _ibsi_stamp(cohort)
    merged = dict(df.attrs.get("radiogenomics", {}))
    merged.update(params or {})
    selected, applied, note = _select(df, fmt, q, top, excel_rows)
    with atomic_path(path) as tmp:
        if fmt == "xlsx":
            table = _validated(selected, schema, path)
            _write_excel(table, tmp, note, merged)
        elif fmt == "parquet":
            _write_parquet(selected, schema, tmp, path)
        else:
            _write_text(selected, schema, tmp, path, sep="," if fmt == "csv" else "\t")
    meta = {
        "file": path.name,
        "format": fmt,
        "schema": schema if schema is not False else None,
        "created": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
        "rows": int(len(selected)),
        "rows_total": int(len(df)),
        "filter": applied,
        "note": note,
        **_provenance(df, merged),
        "package_versions": _versions(),
        **({"ibsi_self_test": ibsi} if ibsi is not None else {}),
        "file_hash": "sha256:" + file_digest(path),
        "parameters": _jsonable(merged),
    }
    with atomic_path(sidecar_path(path)) as tmp_meta:
        tmp_meta.write_text(json.dumps(_jsonable(meta), indent=2), encoding="utf-8")
    if note and fmt == "xlsx" and applied and "excel_rows" in applied:
        warnings.warn(note, stacklevel=2)
    return path


def _jsonable(value):
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, float) and not np.isfinite(value):
        return None
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    return str(value)


def _chunks(frame: pd.DataFrame):
    for start in range(0, max(len(frame), 1), CHUNK_ROWS):
        yield start, frame.iloc[start : start + CHUNK_ROWS]


def _validated(frame: pd.DataFrame, schema, path: Path, offset: int = 0) -> pd.DataFrame:
    """The rows to write, unchanged, once they pass the schema (when one is given)."""
    frame = frame.reset_index(drop=True)
    if schema is False:
        return frame
    try:
        validate_frame(frame, str(schema), file=str(path))
    except SchemaError as exc:
        if offset and isinstance(exc.row, str) and exc.row.startswith("record "):
            exc.row = f"record {int(exc.row.split()[1]) + offset}"
            exc.args = (str(exc),)
        raise
    return frame


def _arrow(frame: pd.DataFrame, schema, path: Path, offset: int, text: bool = False):
    import pyarrow as pa

    table = pa.Table.from_pandas(_validated(frame, schema, path, offset), preserve_index=False)
    if text:  # categorical columns as plain text
        fields = [
            pa.field(f.name, pa.string()) if pa.types.is_dictionary(f.type) else f
            for f in table.schema
        ]
        table = table.cast(pa.schema(fields))
    return table


def _write_text(frame, schema, tmp: Path, path: Path, sep: str) -> None:
    import pyarrow.csv as pacsv

    writer = None
    try:
        for start, chunk in _chunks(frame):
            table = _arrow(chunk, schema, path, start, text=True)
            if writer is None:
                writer = pacsv.CSVWriter(
                    str(tmp), table.schema, write_options=pacsv.WriteOptions(delimiter=sep)
                )
            writer.write_table(table)
    finally:
        if writer is not None:
            writer.close()


def _write_parquet(frame, schema, tmp: Path, path: Path) -> None:
    import pyarrow.parquet as pq

    writer = None
    try:
        for start, chunk in _chunks(frame):
            table = _arrow(chunk, schema, path, start)
            if writer is None:
                writer = pq.ParquetWriter(tmp, table.schema)
            writer.write_table(table)
    finally:
        if writer is not None:
            writer.close()


def _cell(value):
    if value is None or value is pd.NA:
        return None
    if isinstance(value, float) and np.isnan(value):
        return None
    if isinstance(value, np.generic):
        value = value.item()
        if isinstance(value, float) and np.isnan(value):
            return None
    return value


def _excel_rows(table: pd.DataFrame):
    columns = []
    for name in table.columns:
        values = table[name]
        if isinstance(values.dtype, pd.CategoricalDtype):
            values = values.astype(object)
        columns.append(values.to_numpy(dtype=object))
    for row in zip(*columns):
        yield [_cell(v) for v in row]


def _write_excel(table: pd.DataFrame, tmp: Path, note: str | None, params: Mapping) -> None:
    about = [["rows", note or f"all {len(table)} rows of the table"]]
    for key, value in _jsonable(params).items():
        about.append([key, json.dumps(value) if isinstance(value, (dict, list)) else value])
    try:
        import xlsxwriter
    except ImportError:  # pragma: no cover - openpyxl is the fallback
        xlsxwriter = None
    if xlsxwriter is not None:
        book = xlsxwriter.Workbook(str(tmp), {"constant_memory": True})
        sheet = book.add_worksheet("table")
        sheet.write_row(0, 0, [str(c) for c in table.columns])
        for number, row in enumerate(_excel_rows(table), start=1):
            sheet.write_row(number, 0, row)
        info = book.add_worksheet("about")
        for number, row in enumerate(about):
            info.write_row(number, 0, row)
        book.close()
        return
    from openpyxl import Workbook

    book = Workbook(write_only=True)
    sheet = book.create_sheet("table")
    sheet.append([str(c) for c in table.columns])
    for row in _excel_rows(table):
        sheet.append(row)
    info = book.create_sheet("about")
    for row in about:
        info.append(row)
    book.save(tmp)
