"""Survival outcomes and variables taken from a cohort, checked before any statistics.

Times and events come from ``mdata.obs`` (the user names the columns). Whatever built the
obs, the checks here hold: times finite and non-negative, events 0/1 (or mapped with
``event_map``), and missing values either refused (naming the patients) or dropped on
request. Variables for grouping, terms and markers are clinical columns or features of a
modality, aligned on the cohort's patients.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import mudata as md
import numpy as np
import pandas as pd

from .._compat import legacy_value
from .._data import as_list, modality_block
from ..errors import CohortError, InputError

__all__ = ["Outcome", "outcome", "Variable", "resolve_variable", "group_codes", "MISSING"]

MISSING = ("error", "drop")


@dataclass
class Outcome:
    """Follow-up of the cohort's patients (arrays aligned on ``patients``)."""

    time: np.ndarray
    event: np.ndarray  # 0/1 float
    usable: np.ndarray  # bool: time and event known
    patients: pd.Index
    time_column: str
    event_column: str


def _examples(patients: pd.Index, mask: np.ndarray, limit: int = 3) -> str:
    ids = [str(p) for p in patients[mask][:limit]]
    more = int(mask.sum()) - len(ids)
    return ", ".join(ids) + (f" and {more} more" if more > 0 else "")


def outcome(
    mdata: md.MuData,
    time: str,
    event: str,
    event_map: Mapping | None = None,
    missing: str = "error",
) -> Outcome:
    """Times and events of every patient of the cohort, validated.

    Parameters
    ----------
    mdata
        The cohort.
    time, event
        Columns of ``mdata.obs``.
    event_map
        Event codes to 0/1, e.g. ``{"Dead": 1, "Alive": 0}``; without it events must be
        0/1 or booleans.
    missing
        ``"error"`` (default): a patient without time or event is an error naming the
        patients (the old spelling ``"raise"`` still works, with a ``FutureWarning``);
        ``"drop"``: such patients are left out (``Outcome.usable``) with a warning.

    Raises
    ------
    CohortError
        Unknown column, negative or infinite time, event code outside the coding, missing
        values with ``missing="error"``.
    """
    missing = legacy_value("missing", missing, {"raise": "error"}, "outcome")
    if missing not in MISSING:
        raise InputError("unknown missing-value rule", expected=f"one of {MISSING}", found=missing)
    obs = mdata.obs
    patients = pd.Index(mdata.obs_names)
    for column, role in ((time, "time"), (event, "event")):
        if not isinstance(column, str) or column not in obs.columns:
            raise CohortError(
                f"the {role} column is not a clinical column of the cohort",
                column=str(column),
                expected=f"one of {list(map(str, obs.columns))[:15]}",
                found="no such column",
            )
    t = _time_values(obs[time], time, patients)
    e = _event_values(obs[event], event, event_map, patients)
    unknown = np.isnan(t) | np.isnan(e)
    if unknown.any():
        which = []
        if np.isnan(t).any():
            which.append(f"time ({time!r})")
        if np.isnan(e).any():
            which.append(f"event ({event!r})")
        message = (
            f"{int(unknown.sum())} patient(s) have no {' or '.join(which)}: "
            f"{_examples(patients, unknown)}"
        )
        if missing == "error":
            first = int(np.flatnonzero(unknown)[0])
            raise CohortError(
                message,
                column=time if np.isnan(t[first]) else event,
                row=str(patients[first]),
                expected="a follow-up time and an event for everyone",
                found="missing",
                hint="Pass missing='drop' to leave them out, or subset the cohort",
            )
        warnings.warn(f"{message}; they are left out (missing='drop')", UserWarning, stacklevel=3)
    usable = ~unknown
    if usable.sum() == 0:
        raise CohortError("no patient has both a follow-up time and an event", column=time)
    return Outcome(
        time=np.where(usable, t, 0.0),
        event=np.where(usable, e, 0.0),
        usable=usable,
        patients=patients,
        time_column=time,
        event_column=event,
    )


def _time_values(t_series: pd.Series, time: str, patients: pd.Index) -> np.ndarray:
    """Follow-up times as floats (NaN when missing), refusing non-numbers, infinite or negative."""
    if (
        isinstance(t_series.dtype, pd.CategoricalDtype)
        or not (pd.api.types.is_numeric_dtype(t_series.dtype))
        or pd.api.types.is_bool_dtype(t_series.dtype)
    ):
        raise CohortError(
            "survival times must be numbers",
            column=time,
            expected="a numeric column of follow-up times",
            found=str(t_series.dtype),
        )
    t = pd.to_numeric(t_series, errors="coerce").to_numpy(dtype=float, na_value=np.nan)
    bad = np.isinf(t)
    if bad.any():
        first = int(np.flatnonzero(bad)[0])
        raise CohortError(
            "infinite survival time",
            column=time,
            row=str(patients[first]),
            expected="a finite time >= 0",
            found=t[first],
        )
    negative = t < 0
    if negative.any():
        first = int(np.flatnonzero(negative)[0])
        raise CohortError(
            f"negative survival time for {int(negative.sum())} patient(s): "
            f"{_examples(patients, negative)}",
            column=time,
            row=str(patients[first]),
            expected="a time >= 0",
            found=t[first],
        )
    return t


def _event_values(series: pd.Series, column: str, event_map, patients: pd.Index) -> np.ndarray:
    values = series.astype(object).where(series.notna(), None).to_numpy()
    out = np.full(values.size, np.nan)
    if event_map is not None:
        mapping = {}
        for key, value in dict(event_map).items():
            if value not in (0, 1, True, False):
                raise CohortError(
                    "event_map must map codes to 0 or 1", column=column, found={key: value}
                )
            mapping[_event_key(key)] = float(value)
        expected = f"one of {sorted(mapping)} (the event_map)"
    else:
        mapping = {"0": 0.0, "1": 1.0, "true": 1.0, "false": 0.0}
        expected = "0 or 1 (or give event_map, e.g. {'Dead': 1, 'Alive': 0})"
    for i, value in enumerate(values):
        if value is None or (isinstance(value, float) and np.isnan(value)):
            continue
        key = _event_key(value)
        code = mapping.get(key if event_map is not None else key.lower())
        if code is None:
            raise CohortError(
                "event value outside the stated coding",
                column=column,
                row=str(patients[i]),
                expected=expected,
                found=value,
            )
        out[i] = code
    return out


def _event_key(value) -> str:
    if isinstance(value, (bool, np.bool_)):
        return "1" if value else "0"
    if isinstance(value, (float, np.floating)) and float(value).is_integer():
        return str(int(value))
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    return str(value).strip()


@dataclass
class Variable:
    """One variable of the cohort aligned on its patients."""

    name: str  # as given
    label: str  # feature or column name
    source: str  # modality name or "clinical"
    values: pd.Series  # indexed by patient


def resolve_variable(
    mdata: md.MuData, name: str, mod: str | None = None, layer: str | None = None
) -> Variable:
    """A clinical column or a modality feature, by name.

    ``name`` may be an ``obs`` column, ``"modality:feature"``, or a feature name; with
    ``mod`` given the feature is looked up in that modality only. A feature name found in
    several modalities must be qualified.
    """
    patients = pd.Index(mdata.obs_names)
    if mod is not None:
        block = modality_block(mdata, mod, features=[name], layer=layer)
        return Variable(name, name, mod, pd.Series(block.values[:, 0], index=patients))
    if name in mdata.obs.columns:
        return Variable(name, name, "clinical", mdata.obs[name])
    if ":" in name:
        prefix, feature = name.split(":", 1)
        if prefix in mdata.mod:
            block = modality_block(mdata, prefix, features=[feature], layer=layer)
            return Variable(name, feature, prefix, pd.Series(block.values[:, 0], index=patients))
    found = [m for m, a in mdata.mod.items() if name in a.var_names]
    if len(found) == 1:
        block = modality_block(mdata, found[0], features=[name], layer=layer)
        return Variable(name, name, found[0], pd.Series(block.values[:, 0], index=patients))
    if len(found) > 1:
        raise CohortError(
            f"{name!r} is a feature of several modalities",
            found=found,
            expected="a qualified name such as " + repr(f"{found[0]}:{name}"),
        )
    raise CohortError(
        f"{name!r} is neither a clinical column nor a feature of the cohort",
        expected=f"an obs column ({list(map(str, mdata.obs.columns))[:10]}) or a feature of "
        f"{list(mdata.mod)} (as 'modality:feature')",
        found=name,
    )


def numeric_values(variable: Variable) -> np.ndarray:
    """The variable as floats (refusing categories)."""
    series = variable.values
    if isinstance(series.dtype, pd.CategoricalDtype) or not (
        pd.api.types.is_numeric_dtype(series.dtype) or pd.api.types.is_bool_dtype(series.dtype)
    ):
        raise CohortError(
            f"{variable.name!r} is not numeric",
            column=variable.label,
            expected="numbers (a continuous marker)",
            found=str(series.dtype),
        )
    return pd.to_numeric(series, errors="coerce").to_numpy(dtype=float, na_value=np.nan)


def group_codes(series: pd.Series, column: str) -> tuple[np.ndarray, list[str], bool]:
    """Integer codes (-1 = missing), level names, and whether the levels are ordered.

    Categorical columns keep their category order (unused levels dropped); numbers and
    text are sorted.
    """
    if isinstance(series.dtype, pd.CategoricalDtype):
        used = [c for c in series.cat.categories if (series == c).any()]
        cat = pd.Categorical(series, categories=used, ordered=series.cat.ordered)
        return (
            np.asarray(cat.codes, dtype=np.int64),
            [str(c) for c in used],
            bool(series.cat.ordered),
        )
    numeric = pd.api.types.is_numeric_dtype(series.dtype) or pd.api.types.is_bool_dtype(
        series.dtype
    )
    levels = sorted(series.dropna().unique(), key=lambda v: v if numeric else str(v))
    if not numeric:
        levels = sorted({str(v) for v in series.dropna()})
        keys = series.map(lambda v: v if pd.isna(v) else str(v))
    else:
        keys = series
    index = {lv: i for i, lv in enumerate(levels)}
    codes = np.array([-1 if pd.isna(v) else index[v] for v in keys], dtype=np.int64)
    names = [str(lv) for lv in levels]
    return codes, names, bool(numeric)


def covariate_frame(mdata: md.MuData, covariates: Sequence[str]) -> pd.DataFrame:
    """Covariates (clinical columns or features) as a DataFrame on the cohort's patients."""
    frame = pd.DataFrame(index=pd.Index(mdata.obs_names))
    for name in as_list(covariates):
        variable = resolve_variable(mdata, name)
        frame[name] = (
            variable.values.to_numpy()
            if not isinstance(variable.values.dtype, pd.CategoricalDtype)
            else variable.values.values
        )
    return frame
