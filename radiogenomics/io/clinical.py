"""The clinical table reader: one row per patient, typed columns, follow-up times and event
codes checked against the clinical schema."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence

import numpy as np
import pandas as pd

from ..errors import InputError, SchemaError
from ._common import PathLike, _aliases, _provenance
from .schema import (
    load_schema,
    resolve_aliases,
    validate_fields,
)
from .tables import Table, read_table


def _as_list(value: str | Iterable[str] | None) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    return list(value)


def read_clinical(
    path: PathLike,
    *,
    id_column: str | None = None,
    time: str | Iterable[str] | None = None,
    event: str | Iterable[str] | None = None,
    event_map: Mapping[str, int] | None = None,
    categorical: Iterable[str] = (),
    ordered: Mapping[str, Sequence[str]] | None = None,
    sep: str | None = None,
    encoding: str | None = None,
    sheet: str | int | None = None,
) -> pd.DataFrame:
    """Read a clinical table, one row per patient.

    Parameters
    ----------
    id_column
        Column of patient IDs (default: ``patient_id`` or a usual alias such as ``ID``).
    time
        Survival or follow-up time column(s): numbers, non-negative; missing allowed.
    event
        Event indicator column(s): 0/1 (or true/false), or the keys of ``event_map``.
    event_map
        Mapping of event codes to 0/1, for example ``{"Dead": 1, "Alive": 0}``.
    categorical
        Columns to treat as categories even if they look numeric (a site code).
    ordered
        Ordered categories with their order, e.g. ``{"stage": ["I", "II", "III", "IV"]}``.

    Returns
    -------
    pandas.DataFrame
        Indexed by patient ID (strings, named ``patient_id``); numeric columns as numbers,
        text columns as categoricals, events as integers 0/1.

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> import pandas as pd
    >>> import radiogenomics as rg
    >>> table = pd.DataFrame(
    ...     {
    ...         "ID": ["P1", "P2", "P3"],
    ...         "age": [61, 70, 55],
    ...         "stage": ["II", "I", "III"],
    ...         "site": [1, 2, 1],
    ...         "os_months": [14.2, 30.5, None],
    ...         "vital_status": ["Dead", "Alive", "Alive"],
    ...     }
    ... )
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     table.to_csv(Path(folder) / "clinical.csv", index=False)
    ...     clinical = rg.io.read_clinical(
    ...         Path(folder) / "clinical.csv",
    ...         time="os_months",
    ...         event="vital_status",
    ...         event_map={"Dead": 1, "Alive": 0},
    ...         categorical=["site"],
    ...         ordered={"stage": ["I", "II", "III", "IV"]},
    ...     )
    >>> clinical.index.name, clinical.index.tolist()
    ('patient_id', ['P1', 'P2', 'P3'])
    >>> clinical.dtypes.astype(str).to_dict()
    {'age': 'int64', 'stage': 'category', 'site': 'category', 'os_months': 'float64',
     'vital_status': 'int64'}
    >>> clinical["vital_status"].tolist(), bool(clinical["stage"].cat.ordered)
    ([1, 0, 0], True)
    """
    schema = load_schema("clinical")
    ordered = dict(ordered or {})
    categorical = list(categorical) + [c for c in ordered if c not in categorical]
    strings = _aliases(schema, "patient_id") + [c for c in [id_column] if c] + categorical
    table = read_table(
        path,
        sep=sep,
        encoding=encoding,
        sheet=sheet,
        string_columns=strings,
        missing_values=schema["missingValues"],
    )
    renames = resolve_aliases(table.data.columns, schema, {"patient_id": id_column})
    frame = table.data.rename(columns=renames)
    time_cols, event_cols = _as_list(time), _as_list(event)
    extra_fields = []
    for name in time_cols:
        extra_fields.append(
            {"name": name, "type": "number", "constraints": {"required": False, "minimum": 0}}
        )
    for name in [*time_cols, *event_cols, *categorical]:
        if name not in frame.columns:
            raise SchemaError(
                "a column named in the call is not in the file",
                file=path,
                column=name,
                expected=f"a column {name!r}",
                found=f"columns {list(frame.columns)[:10]}",
            )
    checked = validate_fields(frame, {**schema, "fields": schema["fields"] + extra_fields}, table)
    special = {"patient_id", *event_cols, *categorical}
    numeric = [
        c
        for c, dtype in checked.dtypes.items()
        if c not in special
        and pd.api.types.is_numeric_dtype(dtype)
        and not pd.api.types.is_bool_dtype(dtype)
    ]
    _check_finite(checked, numeric, table)
    plain = set(numeric)
    columns: dict[str, object] = {}
    for column in checked.columns:  # the few columns that are not plain numbers
        if column == "patient_id" or column in plain:
            continue
        values = checked[column]
        if column in event_cols:
            columns[column] = _events(values, column, event_map, table)
        elif column in ordered:
            columns[column] = _ordered(values, column, ordered[column], table)
        elif column in categorical:
            columns[column] = pd.Categorical(values.map(lambda v: v if pd.isna(v) else str(v)))
        elif pd.api.types.is_bool_dtype(values.dtype):
            columns[column] = values.to_numpy()
        else:
            columns[column] = _text_or_numbers(values, column, table)
    for column in [*time_cols, *event_cols]:
        if pd.isna(checked[column]).all():
            raise SchemaError(
                f"the {'time' if column in time_cols else 'event'} column has no value at all",
                file=path,
                column=column,
                expected="a value for at least one patient",
                found="only missing values",
            )
    index = pd.Index(checked["patient_id"].astype(str), name="patient_id")
    parts = [checked[numeric].set_axis(index)] if numeric else []
    if columns:
        parts.append(pd.DataFrame(columns, index=index))
    order = [c for c in checked.columns if c != "patient_id"]
    out = pd.concat(parts, axis=1)[order] if parts else pd.DataFrame(index=index)
    for column in time_cols:
        out[column] = out[column].astype(float)
    out.attrs["radiogenomics"] = _provenance(
        path,
        "read_clinical",
        time=time_cols or None,
        event=event_cols or None,
        event_map=dict(event_map) if event_map else None,
    )
    return out


def _check_finite(frame: pd.DataFrame, columns: list[str], table: Table) -> None:
    """Raise at the first infinite value among the numeric ``columns`` (checked as one block)."""
    if not columns:
        return
    block = frame[columns].to_numpy(dtype=float, na_value=np.nan)
    infinite = np.isinf(block)
    if infinite.any():
        i, j = np.argwhere(infinite)[0]
        raise SchemaError(
            "an infinite value",
            file=table.path,
            row=table.line(int(i)),
            column=columns[j],
            expected="a finite number",
            found=block[i, j],
        )


def _text_or_numbers(values: pd.Series, column: str, table: Table):
    """A text column as categories, or as numbers when every value is one.

    A column whose values are mostly numbers but hold a few that are not (``abc``, ``.``,
    a decimal comma such as ``51,5``) is an error at the first such cell: reading it as
    categories would silently turn a measurement into labels.
    """
    present = values.notna().to_numpy()
    numeric = pd.to_numeric(values, errors="coerce")
    parsed = numeric.notna().to_numpy()
    if present.any() and (parsed == present).all():
        infinite = np.isinf(numeric.to_numpy(dtype=float))
        if infinite.any():
            pos = int(np.flatnonzero(infinite)[0])
            raise SchemaError(
                "an infinite value",
                file=table.path,
                row=table.line(pos),
                column=column,
                expected="a finite number",
                found=values.iloc[pos],
            )
        return numeric.to_numpy()
    n_numbers = int(parsed.sum())
    if n_numbers and n_numbers >= (int(present.sum()) - n_numbers):
        pos = int(np.flatnonzero(present & ~parsed)[0])
        found = values.iloc[pos]
        text = str(found).strip()
        if re.fullmatch(r"[-+]?\d+,\d+", text):
            hint = "A decimal comma? Write numbers with a decimal point (51.5)"
        elif text in (".", "-", "?", "*", "n/a", "N/A", "NULL", "null", "none", "None"):
            hint = (
                f"If {text!r} means missing, leave the cell empty or write NA; if the "
                f"column holds labels, pass categorical=[{column!r}]"
            )
        else:
            hint = (
                f"Fix the value, leave the cell empty (missing), or pass "
                f"categorical=[{column!r}] to read the column as labels"
            )
        raise SchemaError(
            f"value is not a number, while {n_numbers} of the column's "
            f"{int(present.sum())} values are numbers",
            file=table.path,
            row=table.line(pos),
            column=column,
            expected="a number",
            found=found,
            hint=hint,
        )
    return pd.Categorical(values.map(lambda v: v if pd.isna(v) else str(v)))


def _events(values: pd.Series, column: str, event_map, table: Table) -> np.ndarray:
    if event_map is not None:
        mapping = {str(k).strip(): int(v) for k, v in event_map.items()}
        bad_codes = [v for v in mapping.values() if v not in (0, 1)]
        if bad_codes:
            raise InputError("event_map must map to 0 or 1", found=bad_codes)
        keys = values.map(lambda v: v if pd.isna(v) else _event_key(v))
        mapped = keys.map(lambda v: mapping.get(v, -1) if not pd.isna(v) else np.nan)
        expected = f"one of {sorted(mapping)} (the event_map)"
    else:

        def to01(v):
            if pd.isna(v):
                return np.nan
            key = _event_key(v).lower()
            return {"0": 0, "1": 1, "true": 1, "false": 0}.get(key, -1)

        mapped = values.map(to01)
        expected = "0 or 1 (or pass event_map, e.g. {'Dead': 1, 'Alive': 0})"
    bad = (mapped == -1).to_numpy()
    if bad.any():
        pos = int(np.flatnonzero(bad)[0])
        raise SchemaError(
            "event value outside the stated coding",
            file=table.path,
            row=table.line(pos),
            column=column,
            expected=expected,
            found=values.iloc[pos],
        )
    arr = mapped.to_numpy(dtype=float)
    if np.isnan(arr).any():
        return pd.array([None if np.isnan(a) else int(a) for a in arr], dtype="Int64")
    return arr.astype(np.int64)


def _event_key(value) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


def _ordered(values: pd.Series, column: str, order: Sequence[str], table: Table) -> pd.Categorical:
    strings = values.map(lambda v: v if pd.isna(v) else str(v).strip())
    order = [str(o) for o in order]
    bad = strings.notna().to_numpy() & ~strings.isin(order).to_numpy()
    if bad.any():
        pos = int(np.flatnonzero(bad)[0])
        raise SchemaError(
            "value not among the stated ordered categories",
            file=table.path,
            row=table.line(pos),
            column=column,
            expected=f"one of {order}",
            found=values.iloc[pos],
        )
    return pd.Categorical(strings, categories=order, ordered=True)
