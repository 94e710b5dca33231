"""Helpers shared by the survival tools: groups, design matrices, strata and keys."""

from __future__ import annotations

import warnings

import numpy as np

from ..._data import as_list, design_matrix
from ...errors import CohortError
from .._survival_data import (
    covariate_frame,
    group_codes,
)

#: Columns of the survival screen table (DESIGN.md, ``data_schemas/survival_screen.json``).
SCREEN_COLUMNS = [
    "modality",
    "feature",
    "n",
    "n_events",
    "coef",
    "hazard_ratio",
    "std_error",
    "z",
    "p_value",
    "q_value",
    "hr_ci_lower",
    "hr_ci_upper",
    "concordance",
]


class ProportionalHazardsWarning(UserWarning):
    """A Cox model term whose effect seems to change over follow-up."""


def _groups(mdata, groupby, usable):
    """Codes per patient (-1 = not in a group), level names, ordered flag."""
    if groupby is None:
        return np.zeros(mdata.n_obs, dtype=np.int64), ["all"], False
    if groupby not in mdata.obs.columns:
        raise CohortError(
            f"unknown grouping column {groupby!r}",
            column=str(groupby),
            expected=f"a column of mdata.obs: {list(map(str, mdata.obs.columns))[:15]}",
            found="no such column",
            hint="Make groups from a marker with radiogenomics.tl.marker_groups",
        )
    codes, names, ordered = group_codes(mdata.obs[groupby], groupby)
    absent = (codes < 0) & usable
    if absent.any():
        warnings.warn(
            f"{int(absent.sum())} patient(s) have no value in {groupby!r} and are left out",
            UserWarning,
            stacklevel=3,
        )
    return codes, names, ordered


def _default_key(*parts) -> str:
    return ":".join(str(p) for p in parts if p is not None)


def _obs_column(mdata, column):
    if column not in mdata.obs.columns:
        raise CohortError(
            f"unknown clinical column {column!r}",
            column=str(column),
            expected=f"one of {list(map(str, mdata.obs.columns))[:15]}",
            found="no such column",
        )
    return mdata.obs[column]


def _design(mdata, terms, covariate_label="term"):
    """Design matrix of terms (clinical columns expanded, features as they are)."""
    frame = covariate_frame(mdata, terms)
    values, names = design_matrix(frame, list(frame.columns), where="the cohort")
    origin = []
    for name in names:
        base = name.split("[T.", 1)[0]
        origin.append(base)
    return values, names, origin


def _strata_codes(mdata, strata):
    columns = as_list(strata)
    if not columns:
        return None, []
    parts = []
    for column in columns:
        c, _, _ = group_codes(_obs_column(mdata, column), column)
        parts.append(c)
    combined = np.stack(parts, axis=1)
    codes = np.full(mdata.n_obs, -1, dtype=np.int64)
    ok = (combined >= 0).all(1)
    if ok.any():
        _, inverse = np.unique(combined[ok], axis=0, return_inverse=True)
        codes[ok] = inverse.ravel()
    return codes, columns
