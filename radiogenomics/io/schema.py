"""The table schemas of ``data_schemas/`` and their enforcement.

The schemas are Frictionless Table Schemas (JSON) read at run time. Besides the standard
``fields``/``constraints``/``missingValues`` keys the library understands:

- ``x-aliases`` on a field: other column names accepted for it (renamed on reading);
- ``x-radiogenomics``: table-level rules: ``uniqueTogether`` (columns that identify a row),
  ``values`` (for wide matrices: numeric type, whether missing, infinite and all-missing
  columns are allowed) and ``extraFields`` (``keep`` or ``ignore`` columns not in ``fields``).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from functools import cache
from typing import Any

import numpy as np
import pandas as pd

from data_schemas import SCHEMA_DIR

from ..errors import SchemaError
from .tables import Table

__all__ = [
    "load_schema",
    "schema_names",
    "resolve_aliases",
    "validate_fields",
    "validate_numeric_block",
    "validate_frame",
]


def schema_names() -> list[str]:
    """Names of all schemas shipped with the package.

    Examples
    --------
    >>> import radiogenomics as rg
    >>> rg.io.schema_names()
    ['association_table', 'clinical', 'expression_matrix', 'image_manifest', 'join_report',
     'mutations_maf', 'proteomics_matrix', 'radiomic_features', 'survival_screen']
    """
    return sorted(p.stem for p in SCHEMA_DIR.glob("*.json"))


@cache
def _load(name: str) -> str:
    path = SCHEMA_DIR / f"{name}.json"
    if not path.exists():
        raise SchemaError(
            f"no schema named {name!r}", expected=f"one of {schema_names()}", found=name
        )
    return path.read_text(encoding="utf-8")


def load_schema(name: str) -> dict[str, Any]:
    """The schema ``data_schemas/<name>.json`` as a dict (a fresh copy).

    Examples
    --------
    >>> import radiogenomics as rg
    >>> schema = rg.io.load_schema("association_table")
    >>> [f["name"] for f in schema["fields"]][:6]
    ['x_modality', 'x', 'y_modality', 'y', 'method', 'n']
    >>> patient = rg.io.load_schema("clinical")["fields"][0]
    >>> patient["name"], patient["x-aliases"][:4]
    ('patient_id', ['patient_id', 'PatientID', 'Patient_ID', 'patient'])
    >>> rg.io.load_schema("no_such_table")
    Traceback (most recent call last):
    ...
    radiogenomics.errors.SchemaError: no schema named 'no_such_table' ...
    """
    return json.loads(_load(name))


def field(schema: dict, name: str) -> dict:
    for f in schema["fields"]:
        if f["name"] == name:
            return f
    raise KeyError(name)


def resolve_aliases(
    columns: Iterable[str], schema: dict, explicit: dict[str, str | None] | None = None
) -> dict[str, str]:
    """Map file column names to schema field names.

    ``explicit`` maps a field name to the column the user named for it (wins over aliases).
    Returns ``{file column: field name}`` for the columns that need renaming.
    """
    columns = list(columns)
    explicit = explicit or {}
    renames: dict[str, str] = {}
    for f in schema["fields"]:
        name = f["name"]
        chosen = explicit.get(name)
        if chosen is not None:
            if chosen not in columns:
                raise SchemaError(
                    f"the column named for {name!r} is not in the file",
                    column=chosen,
                    expected=f"one of the columns {columns[:12]}",
                    found="no such column",
                )
            if chosen != name:
                renames[chosen] = name
            continue
        if name in columns:
            continue
        for alias in f.get("x-aliases", []):
            if alias in columns and alias not in renames:
                renames[alias] = name
                break
    return renames


def _location_of(table: Table | None, position: int) -> int | str:
    return f"record {int(position) + 1}" if table is None else table.line(position)


def _file_of(table: Table | None) -> str | None:
    return None if table is None else str(table.path)


def _refuse_first(
    bad: np.ndarray,
    message: str,
    values: pd.Series,
    table: Table | None,
    column: str,
    expected: str,
) -> None:
    """Raise :class:`SchemaError` at the first cell where ``bad`` holds, if any."""
    if bad.any():
        pos = int(np.flatnonzero(bad)[0])
        raise SchemaError(
            message,
            file=_file_of(table),
            row=_location_of(table, pos),
            column=column,
            expected=expected,
            found=values.iloc[pos],
        )


def _missing_column(frame: pd.DataFrame, f: dict, file: str | None) -> None:
    """Raise when a required field has no column in ``frame``."""
    if f.get("constraints", {}).get("required"):
        name = f["name"]
        aliases = f.get("x-aliases", [])
        also = f" (or one of {aliases})" if aliases else ""
        raise SchemaError(
            f"the required column {name!r}{also} is missing",
            file=file,
            expected=f"a column {name!r}",
            found=f"columns {list(frame.columns)[:10]}" + (" ..." if frame.shape[1] > 10 else ""),
        )


def _check_unique(
    values: pd.Series, present: np.ndarray, name: str, file: str | None, table: Table | None
) -> None:
    """Raise at the second occurrence of the first value present more than once."""
    dup = values.duplicated(keep=False).to_numpy() & present
    if dup.any():
        positions = np.flatnonzero(dup)
        value = values.iloc[positions[0]]
        same = positions[values.iloc[positions].to_numpy() == value]
        where = ", ".join(str(_location_of(table, p)) for p in same[:5])
        raise SchemaError(
            f"the value {value!r} appears more than once (at {where})",
            file=file,
            row=_location_of(table, same[1]),
            column=name,
            expected="unique values",
            found=f"duplicate {value!r}",
        )


def _check_values(values: pd.Series, present: np.ndarray, f: dict, table: Table | None) -> None:
    """Raise at the first present value outside the field's pattern, enum or range."""
    name = f["name"]
    constraints = f.get("constraints", {})
    if "pattern" in constraints:
        pattern = re.compile(constraints["pattern"])
        matched = values.astype(str).str.fullmatch(pattern).to_numpy(dtype=bool)
        bad = present & ~matched
        message = f.get("x-patternMessage", "does not match the expected pattern")
        _refuse_first(
            bad,
            f"the value {message}",
            values,
            table,
            name,
            f"a value matching {constraints['pattern']}",
        )
    if "enum" in constraints:
        allowed = set(constraints["enum"])
        bad = present & ~values.isin(allowed).to_numpy()
        _refuse_first(
            bad,
            "value not allowed",
            values,
            table,
            name,
            f"one of {sorted(map(str, allowed))[:12]}",
        )
    for key, op, word in (("minimum", np.less, "at least"), ("maximum", np.greater, "at most")):
        if key in constraints:
            arr = values.to_numpy(dtype=float, na_value=np.nan)
            with np.errstate(invalid="ignore"):
                bad = op(arr, constraints[key]) & present
            _refuse_first(
                bad,
                "value out of range",
                values,
                table,
                name,
                f"a number {word} {constraints[key]}",
            )


def _check_field(values: pd.Series, f: dict, file: str | None, table: Table | None) -> None:
    """Check the converted values of one field against its constraints."""
    name = f["name"]
    constraints = f.get("constraints", {})
    missing = values.isna().to_numpy()
    if constraints.get("required") and missing.any():
        pos = int(np.flatnonzero(missing)[0])
        raise SchemaError(
            "a required value is missing",
            file=file,
            row=_location_of(table, pos),
            column=name,
            expected=f"a {f.get('type', 'string')} value",
            found="an empty cell",
        )
    present = ~missing
    if constraints.get("unique"):
        _check_unique(values, present, name, file, table)
    _check_values(values, present, f, table)


def _check_unique_together(
    frame: pd.DataFrame, schema: dict, file: str | None, table: Table | None
) -> None:
    """Raise when two rows share the columns that identify a row (``uniqueTogether``)."""
    unique_together = schema.get("x-radiogenomics", {}).get("uniqueTogether")
    if not unique_together:
        return
    cols = [c for c in unique_together if c in frame.columns]
    absent = [c for c in unique_together if c not in frame.columns]
    dup = frame.duplicated(subset=cols, keep=False).to_numpy()
    if dup.any():
        positions = np.flatnonzero(dup)
        key = tuple(frame.iloc[positions[0]][cols])
        same = [p for p in positions if tuple(frame.iloc[p][cols]) == key]
        where = ", ".join(str(_location_of(table, p)) for p in same[:5])
        label = key[0] if len(key) == 1 else key
        raise SchemaError(
            f"duplicate ID {label!r} (at {where})",
            file=file,
            row=_location_of(table, same[1]),
            column=cols[0] if len(cols) == 1 else None,
            expected=f"one row per {' and '.join(cols)}",
            found=f"{len(same)} rows for {label!r}",
            hint=(
                f"Add a {absent[0]} column"
                + (f" (or {' or '.join(absent[1:])})" if len(absent) > 1 else "")
                + " to tell the rows apart"
                if absent
                else None
            ),
        )


def validate_fields(frame: pd.DataFrame, schema: dict, table: Table | None = None) -> pd.DataFrame:
    """Check and convert the named fields of ``frame`` against ``schema``.

    Returns a copy with the fields converted to their types. Raises :class:`SchemaError`
    naming the file, line and column of the first offending cell.
    """
    frame = frame.copy()
    file = _file_of(table)
    for f in schema["fields"]:
        name = f["name"]
        if name not in frame.columns:
            _missing_column(frame, f, file)
            continue
        frame[name] = _convert(frame[name], f, file, table)
        _check_field(frame[name], f, file, table)
    _check_unique_together(frame, schema, file, table)
    return frame


def _convert(values: pd.Series, f: dict, file: str | None, table: Table | None) -> pd.Series:
    kind = f.get("type", "string")
    if kind == "string":
        if isinstance(values.dtype, pd.CategoricalDtype):
            # convert the categories, not every cell (tables of millions of rows)
            categories = values.cat.categories.map(lambda v: str(v).strip())
            if categories.is_unique:
                return values.cat.rename_categories(categories)
            return values.astype(object).map(lambda v: v if pd.isna(v) else str(v).strip())
        return values.map(lambda v: v if pd.isna(v) else str(v).strip()).astype(object)
    if kind in ("number", "integer"):
        numeric = pd.to_numeric(values, errors="coerce")
        bad = numeric.isna().to_numpy() & values.notna().to_numpy()
        _refuse_first(
            bad,
            "value is not a number",
            values,
            table,
            f["name"],
            f"{'an integer' if kind == 'integer' else 'a number'}",
        )
        if kind == "integer":
            arr = numeric.to_numpy(dtype=float, na_value=np.nan)
            huge = np.isinf(arr) | (np.abs(np.nan_to_num(arr)) > 2.0**53)
            _refuse_first(huge, "value out of range", values, table, f["name"], "a finite integer")
            frac = ~np.isnan(arr) & (arr != np.round(arr))
            _refuse_first(
                frac, "value is not a whole number", values, table, f["name"], "an integer"
            )
            return numeric.astype("Int64")
        numeric = numeric.astype(float)
        infinite = np.isinf(numeric.to_numpy())
        if not f.get("x-allowInfinite", False):
            _refuse_first(
                infinite, "an infinite value", values, table, f["name"], "a finite number"
            )
        return numeric
    if kind == "boolean":
        mapping = {"true": True, "false": False, "1": True, "0": False, "yes": True, "no": False}
        out = values.map(lambda v: v if pd.isna(v) else mapping.get(str(v).strip().lower()))
        bad = out.isna().to_numpy() & values.notna().to_numpy()
        _refuse_first(bad, "value is not a boolean", values, table, f["name"], "true/false or 1/0")
        return out.astype("boolean")
    return values


def validate_numeric_block(
    block: pd.DataFrame,
    rules: dict,
    *,
    table: Table | None = None,
    rows_are_file_rows: bool = True,
    what: str = "value",
    label_rows: bool = False,
) -> np.ndarray:
    """Convert a block of cells to a float matrix, enforcing ``rules``.

    Parameters
    ----------
    block
        Cells as read; rows are file rows when ``rows_are_file_rows``.
    rules
        The ``values`` rules of a schema: ``allowMissing``, ``allowInfinite``,
        ``allowAllMissing`` and optionally ``minimum`` and ``integer`` (whole numbers only,
        with ``integerHint`` as the message's advice).
    table
        The source table, to report file lines.
    what
        Name of a column of the block in messages (``feature``, ``gene``, ``protein``).
    label_rows
        Report rows by their index label instead of the file line.

    Returns
    -------
    The values as a float64 array shaped like ``block``.
    """
    file = _file_of(table)

    def where(i: int) -> int | str:
        if label_rows or table is None:
            return str(block.index[i])
        return table.line(i)

    object_cols = [
        c for c, dtype in block.dtypes.items() if not pd.api.types.is_numeric_dtype(dtype)
    ]
    if object_cols:
        converted = block[object_cols].apply(pd.to_numeric, errors="coerce")
        bad = converted.isna().to_numpy() & block[object_cols].notna().to_numpy()
        if bad.any():
            i, j = np.argwhere(bad)[0]
            column = object_cols[j]
            raise SchemaError(
                "a value in a numeric matrix is not a number",
                file=file,
                row=where(i),
                column=str(column),
                expected="a number",
                found=block[column].iloc[i],
                hint=(
                    f"If {column!r} is an annotation, not a {what}, name it as such"
                    if bad[:, j].all()
                    else None
                ),
            )
        block = block.copy()
        block[object_cols] = converted
    values = block.to_numpy(dtype=np.float64, na_value=np.nan)

    def refuse(bad: np.ndarray, message: str, expected: str, found=None, hint=None) -> None:
        """Raise at the first cell where ``bad`` holds, if any."""
        if bad.any():
            i, j = np.argwhere(bad)[0]
            raise SchemaError(
                message,
                file=file,
                row=where(i),
                column=str(block.columns[j]),
                expected=expected,
                found=values[i, j] if found is None else found,
                hint=hint,
            )

    if not rules.get("allowInfinite", False):
        refuse(np.isinf(values), "an infinite value", "a finite number")
    if not rules.get("allowMissing", True):
        refuse(
            np.isnan(values),
            "a missing value",
            "a number (missing values are not allowed in this matrix)",
            found="an empty cell",
        )
    with np.errstate(invalid="ignore"):
        if rules.get("integer", False):
            refuse(
                np.isfinite(values) & (values != np.round(values)),
                "value is not a whole number",
                "whole numbers (raw counts)",
                hint=rules.get("integerHint"),
            )
        if "minimum" in rules:
            refuse(
                values < rules["minimum"],
                "value out of range",
                f"a number at least {rules['minimum']}",
            )
    return values


def check_all_missing(
    values: np.ndarray,
    names: Iterable[str],
    *,
    axis: int,
    file: str | None,
    what: str,
    hint: str | None = None,
) -> np.ndarray:
    """Raise when an entire column (``axis=0``) or row (``axis=1``) of ``values`` is missing.

    Returns the boolean mask of all-missing entries along the other axis.
    """
    names = list(names)
    all_missing = np.isnan(values).all(axis=axis)
    if all_missing.any():
        bad = [names[i] for i in np.flatnonzero(all_missing)]
        raise SchemaError(
            f"{len(bad)} {what}(s) have no value at all: {bad[:5]}"
            + (" ..." if len(bad) > 5 else ""),
            file=file,
            column=str(bad[0]) if axis == 0 else None,
            row=str(bad[0]) if axis == 1 else None,
            expected=f"at least one value per {what}",
            found="only missing values",
            hint=hint,
        )
    return all_missing


def validate_frame(frame: pd.DataFrame, name: str, *, file: str | None = None) -> pd.DataFrame:
    """Validate an in-memory table against schema ``name`` (output tables before export).

    Examples
    --------
    >>> import radiogenomics as rg
    >>> mdata = rg.datasets.toy_cohort(n_patients=20, n_genes=3)
    >>> table = rg.tl.associate(mdata, "radiomics", "rna")
    >>> rg.io.validate_frame(table, "association_table").shape
    (36, 14)
    >>> table.loc[2, "p_value"] = 1.5
    >>> rg.io.validate_frame(table, "association_table", file="associations.csv")
    Traceback (most recent call last):
    ...
    radiogenomics.errors.SchemaError: ...row 'record 3', column 'p_value': value out of range...
    """
    schema = load_schema(name)
    extra = schema.get("x-radiogenomics", {}).get("extraFields", "keep")
    if extra == "forbid":
        unknown = set(frame.columns) - {f["name"] for f in schema["fields"]}
        if unknown:
            raise SchemaError(
                "columns not in the schema",
                file=file,
                expected=f"only {[f['name'] for f in schema['fields']]}",
                found=sorted(unknown),
            )
    try:
        return validate_fields(frame.reset_index(drop=True), schema, None)
    except SchemaError as exc:
        if file is not None and exc.file is None:
            exc.file = file
            exc.args = (str(exc),)
        raise
