"""Marker groups: quantile groups and the maximally selected log-rank cutpoint."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import mudata as md
import numpy as np
import pandas as pd

from ..._compat import renamed
from ...cohort import store_result
from ...errors import CohortError, InputError
from ...stats import maxstat as maxstat_kernel
from .._survival_data import (
    numeric_values,
    outcome,
    resolve_variable,
)

_QUANTILE_LABELS = {
    "median": ["low", "high"],
    "tertiles": ["low", "middle", "high"],
    "quartiles": ["Q1", "Q2", "Q3", "Q4"],
}


def marker_groups(
    mdata: md.MuData,
    marker: str,
    method: str = "median",
    *,
    mod: str | None = None,
    cutoff: float | None = None,
    time: str | None = None,
    event: str | None = None,
    event_map: Mapping | None = None,
    minprop: float = 0.1,
    maxprop: float = 0.9,
    pmethod: str = "exactGauss",
    labels: Sequence[str] | None = None,
    layer: str | None = None,
    key_added: str | None = None,
) -> pd.Series:
    """Split patients into groups by a continuous marker, as a column of ``mdata.obs``.

    Parameters
    ----------
    mdata
        The cohort.
    marker
        A clinical column, a feature (``"modality:feature"`` or a unique feature name), or
        a feature of ``mod``.
    method
        ``"median"`` (low: at or below the median), ``"tertiles"``, ``"quartiles"``,
        ``"cutoff"`` (low: at or below ``cutoff``) or ``"maxstat"``: the cut-point
        maximising the standardised log-rank statistic (needs ``time`` and ``event``; its
        p-value is corrected for the search, see :func:`maxstat`).
    mod
        Modality of the feature.
    cutoff
        The cut-off for ``method="cutoff"``.
    time, event, event_map, minprop, maxprop, pmethod
        For ``method="maxstat"``.
    labels
        Group names (default ``low``/``high``, ``low``/``middle``/``high``, ``Q1``..``Q4``).
    layer
        Layer of the feature's modality to read (``"raw"``: the values before
        preprocessing, in physical units; cut-offs are then in those units too).
    key_added
        Name of the new ``obs`` column (default ``"<marker>_group"``).

    Returns
    -------
    pandas.Series
        The ordered categorical groups (missing where the marker is missing), also stored
        as ``mdata.obs[key_added]``.

    See Also
    --------
    maxstat : the optimal cut-point alone, with its p-value.
    kaplan_meier, logrank : curves and tests of the groups.

    Examples
    --------
    >>> import radiogenomics as rg
    >>> mdata = rg.datasets.toy_cohort(n_patients=60)
    >>> groups = rg.tl.marker_groups(mdata, "age", method="tertiles")
    >>> groups.name, groups.value_counts(sort=False).to_dict()
    ('age_group', {'low': 20, 'middle': 21, 'high': 19})
    >>> groups = rg.tl.marker_groups(mdata, "original_shape_VoxelVolume", method="maxstat",
    ...                              mod="radiomics", time="os_months", event="os_event",
    ...                              key_added="volume_group")
    >>> mdata.obs["volume_group"].value_counts(sort=False).to_dict()
    {'low': 30, 'high': 30}
    """
    variable = resolve_variable(mdata, marker, mod, layer=layer)
    values = numeric_values(variable)
    known = ~np.isnan(values)
    if known.sum() < 2:
        raise CohortError(f"marker {marker!r} has fewer than two values", column=variable.label)
    if np.unique(values[known]).size < 2:
        raise CohortError(
            f"marker {marker!r} is constant: it cannot split patients",
            column=variable.label,
            found=float(values[known][0]),
        )
    if method in _QUANTILE_LABELS:
        names = list(labels) if labels is not None else _QUANTILE_LABELS[method]
        k = len(_QUANTILE_LABELS[method])
        if len(names) != k:
            raise InputError(
                f"method {method!r} makes {k} groups", expected=f"{k} labels", found=list(names)
            )
        edges = np.quantile(values[known], np.linspace(0, 1, k + 1))
        inner = edges[1:-1]
        if np.unique(inner).size < inner.size:
            raise CohortError(
                f"the {method} of {marker!r} are not distinct (too many tied values)",
                column=variable.label,
                found=list(inner),
                hint="Use method='median' or a cut-off",
            )
        code = np.searchsorted(inner, values, side="left")  # at or below an edge: lower group
        thresholds = list(map(float, inner))
    elif method == "cutoff":
        if cutoff is None:
            raise InputError("method='cutoff' needs cutoff=<value>")
        names = list(labels) if labels is not None else ["low", "high"]
        code = (values > cutoff).astype(np.int64)
        thresholds = [float(cutoff)]
        if code[known].min() == code[known].max():
            raise CohortError(
                f"the cut-off {cutoff} leaves every patient in one group", column=variable.label
            )
    elif method == "maxstat":
        if time is None or event is None:
            raise InputError("method='maxstat' needs time= and event=")
        result = maxstat(
            mdata,
            marker,
            time=time,
            event=event,
            mod=mod,
            event_map=event_map,
            minprop=minprop,
            maxprop=maxprop,
            pmethod=pmethod,
            layer=layer,
            key_added=key_added or f"{marker}_group",
        )
        names = list(labels) if labels is not None else ["low", "high"]
        cut = float(result["cutpoint"].iloc[0])
        code = (values > cut).astype(np.int64)
        thresholds = [cut]
    else:
        raise InputError(
            "unknown grouping method",
            expected="median, tertiles, quartiles, cutoff or maxstat",
            found=method,
        )
    code = np.where(known, code, -1)
    groups = pd.Categorical.from_codes(code, categories=names, ordered=True)
    column = key_added or f"{marker}_group"
    mdata.obs[column] = pd.Series(groups, index=mdata.obs.index)
    root = mdata.uns.setdefault("radiogenomics", {})
    root.setdefault("marker_groups", {})[column] = {
        "marker": marker,
        "source": variable.source,
        "method": method,
        "thresholds": thresholds,
        "labels": names,
        "layer": layer,
    }
    return mdata.obs[column]


@renamed(seed="random_state")
def maxstat(
    mdata: md.MuData,
    marker: str,
    *,
    time: str,
    event: str,
    mod: str | None = None,
    event_map: Mapping | None = None,
    minprop: float = 0.1,
    maxprop: float = 0.9,
    pmethod: str = "exactGauss",
    n_permutations: int = 10000,
    random_state: int | np.random.Generator | None = 0,
    missing: str = "error",
    layer: str | None = None,
    key_added: str | None = None,
) -> pd.DataFrame:
    """Optimal cut-point of a marker by maximally selected log-rank statistics.

    The p-value accounts for the search over cut-points, as R's ``maxstat`` (never the
    uncorrected log-rank p-value at the chosen cut).

    Parameters
    ----------
    mdata
        The cohort.
    marker, mod
        As :func:`marker_groups`.
    time, event, event_map, missing
        As :func:`kaplan_meier`.
    minprop, maxprop
        Smallest and largest share of patients below the cut-point.
    pmethod
        ``"exactGauss"`` (default; Hothorn & Lausen 2003), ``"Lau94"``, ``"Lau92"`` or
        ``"condMC"`` (permutations).
    n_permutations, random_state
        For ``"condMC"``.
    layer
        Layer of the feature's modality to read (``"raw"``: the cut-point in the values
        before preprocessing).
    key_added
        Key of the stored tables (default: the marker).

    Returns
    -------
    pandas.DataFrame
        One row: ``marker, modality, n, n_events, cutpoint, statistic, p_value, pmethod,
        n_low, n_high, minprop, maxprop``. The statistic at every candidate cut-point is
        stored under ``"maxstat_cutpoints"``.

    See Also
    --------
    marker_groups : split the patients at the cut-point (``method="maxstat"``).

    Examples
    --------
    >>> import radiogenomics as rg
    >>> mdata = rg.datasets.toy_cohort(n_patients=60)
    >>> table = rg.tl.maxstat(mdata, "original_shape_VoxelVolume", mod="radiomics",
    ...                       time="os_months", event="os_event")
    >>> row = table.iloc[0]
    >>> round(float(row["cutpoint"]), 1), int(row["n_low"]), int(row["n_high"])
    (122.6, 30, 30)
    >>> round(float(row["statistic"]), 2), round(float(row["p_value"]), 3)  # search-corrected
    (3.44, 0.009)
    >>> rg.get_result(mdata, "maxstat_cutpoints", "original_shape_VoxelVolume").columns.tolist()
    ['cutpoint', 'n_low', 'statistic']
    """
    variable = resolve_variable(mdata, marker, mod, layer=layer)
    values = numeric_values(variable)
    out = outcome(mdata, time, event, event_map, missing)
    keep = out.usable & ~np.isnan(values)
    if keep.sum() < 3:
        raise CohortError(
            f"fewer than three patients have {marker!r} and follow-up", column=variable.label
        )
    if out.event[keep].sum() == 0:
        raise CohortError(
            "no events among the patients with the marker: no cut-point can separate survival",
            column=event,
        )
    try:
        result = maxstat_kernel.maxstat(
            values[keep],
            out.time[keep],
            out.event[keep],
            minprop=minprop,
            maxprop=maxprop,
            pmethod=pmethod,
            n_permutations=n_permutations,
            random_state=random_state,
        )
    except ValueError as exc:
        raise CohortError(
            f"no maximally selected statistic for {marker!r}: {exc}", column=variable.label
        ) from None
    n_low = int((values[keep] <= result.cutpoint).sum())
    table = pd.DataFrame(
        [
            {
                "marker": variable.label,
                "modality": variable.source,
                "n": int(keep.sum()),
                "n_events": int(out.event[keep].sum()),
                "cutpoint": result.cutpoint,
                "statistic": result.statistic,
                "p_value": result.p_value,
                "pmethod": pmethod,
                "n_low": n_low,
                "n_high": int(keep.sum()) - n_low,
                "minprop": minprop,
                "maxprop": maxprop,
            }
        ]
    )
    cuts = pd.DataFrame(
        {"cutpoint": result.cutpoints, "n_low": result.group_sizes, "statistic": result.statistics}
    )
    key = key_added or marker
    params = {
        "marker": marker,
        "time": time,
        "event": event,
        "pmethod": pmethod,
        "minprop": minprop,
        "maxprop": maxprop,
        "layer": layer,
    }
    store_result(mdata, "maxstat", key, table, params)
    store_result(mdata, "maxstat_cutpoints", key, cuts, params)
    return table


# ----------------------------------------------------------------------------- Cox
