"""Survival analysis on a cohort: Kaplan-Meier curves, log-rank tests, grouping of a
continuous marker (quantiles, a cut-off, maximally selected rank statistics), Cox models
with their proportional-hazards check, and a Cox screen of every feature of a modality.

Each tool takes the cohort first, names the time and event columns of ``mdata.obs``,
stores its table with :func:`radiogenomics.cohort.store_result` and returns it.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence

import mudata as md
import numpy as np
import pandas as pd
from scipy import stats

from .._compat import renamed
from ..cohort import store_result
from ..errors import CohortError, InputError
from ..stats import cox as cox_kernel
from ..stats import maxstat as maxstat_kernel
from ..stats import survival as km_kernel
from ..stats.multitest import adjust_pvalues
from ._data import as_list, design_matrix, modality_block
from ._survival_data import (
    covariate_frame,
    group_codes,
    numeric_values,
    outcome,
    resolve_variable,
)

__all__ = [
    "kaplan_meier",
    "logrank",
    "marker_groups",
    "maxstat",
    "cox",
    "cox_screen",
    "ProportionalHazardsWarning",
    "SCREEN_COLUMNS",
]

#: Columns of the survival screen table (DESIGN.md, ``data_schemas/survival_screen.json``).
SCREEN_COLUMNS = [
    "modality", "feature", "n", "n_events", "coef", "hazard_ratio", "std_error", "z",
    "p_value", "q_value", "hr_ci_lower", "hr_ci_upper", "concordance",
]


class ProportionalHazardsWarning(UserWarning):
    """A Cox model term whose effect seems to change over follow-up."""


def _groups(mdata, groupby, usable):
    """Codes per patient (-1 = not in a group), level names, ordered flag."""
    if groupby is None:
        return np.zeros(mdata.n_obs, dtype=np.int64), ["all"], False
    if groupby not in mdata.obs.columns:
        raise CohortError(
            f"unknown grouping column {groupby!r}", column=str(groupby),
            expected=f"a column of mdata.obs: {list(map(str, mdata.obs.columns))[:15]}",
            found="no such column",
            hint="Make groups from a marker with radiogenomics.tl.marker_groups",
        )
    codes, names, ordered = group_codes(mdata.obs[groupby], groupby)
    absent = (codes < 0) & usable
    if absent.any():
        warnings.warn(
            f"{int(absent.sum())} patient(s) have no value in {groupby!r} and are left out",
            UserWarning, stacklevel=3)
    return codes, names, ordered


def _default_key(*parts) -> str:
    return ":".join(str(p) for p in parts if p is not None)


def kaplan_meier(
    mdata: md.MuData,
    time: str,
    event: str,
    groupby: str | None = None,
    *,
    event_map: Mapping | None = None,
    alpha: float = 0.05,
    ci_method: str = "log-log",
    missing: str = "error",
    key_added: str | None = None,
) -> pd.DataFrame:
    """Kaplan-Meier survival curves, overall or per group.

    Parameters
    ----------
    mdata
        The cohort.
    time, event
        Follow-up time and event columns of ``mdata.obs``.
    groupby
        A grouping column of ``mdata.obs`` (categorical, text, boolean or integer codes),
        for example one made by :func:`marker_groups`.
    event_map
        Event codes to 0/1, e.g. ``{"Dead": 1, "Alive": 0}``.
    alpha
        1 - confidence level of the pointwise band.
    ci_method
        ``"log-log"`` (default, as lifelines), ``"log"`` (R ``survfit``) or ``"plain"``.
    missing
        ``"error"`` or ``"drop"`` patients without time or event (the old ``"raise"``
        still works, with a ``FutureWarning``).
    key_added
        Key of the stored results (default ``"<time>:<groupby>"``).

    Returns
    -------
    pandas.DataFrame
        One row per group and distinct time (plus time 0): ``group, time, n_at_risk,
        n_events, n_censored, survival, std_error, ci_lower, ci_upper``. Stored under
        ``uns["radiogenomics"]["kaplan_meier"][key]``; the per-group summary (``n,
        n_events, median_survival, median_ci_lower, median_ci_upper, median_reached``)
        under ``"kaplan_meier_summary"``.
    """
    out = outcome(mdata, time, event, event_map, missing)
    codes, names, _ = _groups(mdata, groupby, out.usable)
    curves, summary = [], []
    for k, name in enumerate(names):
        inside = out.usable & (codes == k)
        if not inside.any():
            continue
        fit = km_kernel.kaplan_meier(out.time[inside], out.event[inside], alpha=alpha,
                                     ci_method=ci_method)
        curves.append(pd.DataFrame({
            "group": name, "time": fit.time, "n_at_risk": fit.n_at_risk.astype(np.int64),
            "n_events": fit.n_events.astype(np.int64),
            "n_censored": fit.n_censored.astype(np.int64), "survival": fit.survival,
            "std_error": fit.std_error, "ci_lower": fit.ci_lower, "ci_upper": fit.ci_upper,
        }))
        lower, upper = fit.median_ci
        summary.append({
            "group": name, "n": int(inside.sum()), "n_events": int(out.event[inside].sum()),
            "median_survival": fit.median, "median_ci_lower": lower, "median_ci_upper": upper,
            "median_reached": bool(np.isfinite(fit.median)),
        })
        if out.event[inside].sum() == 0:
            warnings.warn(f"group {name!r} has no events: its curve stays at 1", UserWarning,
                          stacklevel=2)
    table = pd.concat(curves, ignore_index=True)
    table["group"] = pd.Categorical(table["group"], categories=[s["group"] for s in summary])
    summary_table = pd.DataFrame(summary)
    key = key_added or _default_key(time, groupby or "all")
    params = {"time": time, "event": event, "groupby": groupby, "alpha": alpha,
              "ci_method": ci_method, "missing": missing,
              "event_map": {str(k): int(v) for k, v in event_map.items()} if event_map else None}
    store_result(mdata, "kaplan_meier", key, table, params)
    store_result(mdata, "kaplan_meier_summary", key, summary_table, params)
    return table


def logrank(
    mdata: md.MuData,
    time: str,
    event: str,
    groupby: str,
    *,
    strata: str | Sequence[str] | None = None,
    trend: bool = False,
    scores: Sequence[float] | Mapping | None = None,
    weighting: str = "logrank",
    p: float = 1.0,
    q: float = 0.0,
    event_map: Mapping | None = None,
    missing: str = "error",
    key_added: str | None = None,
) -> pd.DataFrame:
    """Log-rank test of two or more groups; stratified, weighted, or for trend.

    Parameters
    ----------
    mdata
        The cohort.
    time, event
        Follow-up time and event columns of ``mdata.obs``.
    groupby
        Grouping column of ``mdata.obs``.
    strata
        Column(s) of ``mdata.obs``: the test compares groups within strata and sums over
        them (R ``survdiff(Surv(t, e) ~ g + strata(s))``).
    trend
        Test for a trend over ordered groups (1 degree of freedom) instead of any difference.
        Scores are ``scores`` if given, else the group values for a numeric column, else
        1..k in the order of an ordered categorical.
    scores
        Scores per group, in group order or as ``{group: score}``.
    weighting
        ``"logrank"`` (default), ``"wilcoxon"`` (Gehan-Breslow), ``"tarone-ware"``,
        ``"peto"`` or ``"fleming-harrington"`` (with ``p`` and ``q``); as lifelines.
    event_map, missing
        See :func:`kaplan_meier`.
    key_added
        Key of the stored table (default ``"<time>:<groupby>"``).

    Returns
    -------
    pandas.DataFrame
        One row per group: ``group, n, n_events, expected, observed_minus_expected``
        (weighted counts for weighted tests), ``score`` for the trend test, and the test:
        ``test, weighting, strata, statistic, df, p_value``.
    """
    out = outcome(mdata, time, event, event_map, missing)
    codes, names, ordered = _groups(mdata, groupby, out.usable)
    keep = out.usable & (codes >= 0)
    strata_cols = as_list(strata)
    strata_codes = None
    if strata_cols:
        parts = []
        for column in strata_cols:
            c, _, _ = group_codes(_obs_column(mdata, column), column)
            parts.append(c)
        combined = np.stack(parts, axis=1)
        missing_stratum = (combined < 0).any(1) & keep
        if missing_stratum.any():
            warnings.warn(f"{int(missing_stratum.sum())} patient(s) have no stratum and are "
                          "left out", UserWarning, stacklevel=2)
        keep &= ~(combined < 0).any(1)
        _, strata_codes = np.unique(combined[keep], axis=0, return_inverse=True)
        strata_codes = strata_codes.ravel()
    present = np.unique(codes[keep])
    if present.size < 2:
        raise CohortError(f"the log-rank test needs at least two groups in {groupby!r}",
                          column=groupby, expected="two or more groups with patients",
                          found=[names[i] for i in present])
    remap = np.full(len(names), -1)
    remap[present] = np.arange(present.size)
    group_names = [names[i] for i in present]
    trend_scores = None
    if trend:
        trend_scores = _trend_scores(mdata.obs[groupby], group_names, scores, ordered, groupby)
    result = km_kernel.logrank_test(
        out.time[keep], out.event[keep], remap[codes[keep]], strata=strata_codes,
        weighting=weighting, trend_scores=trend_scores, p=p, q=q)
    no_events = [g for g, o in zip(group_names, result.observed) if o == 0]
    if no_events:
        warnings.warn(f"group(s) {no_events} of {groupby!r} have no events", UserWarning,
                      stacklevel=2)
    table = pd.DataFrame({
        "group": group_names,
        "n": result.n,
        "n_events": np.bincount(remap[codes[keep]], weights=out.event[keep],
                                minlength=present.size).astype(np.int64),
        "observed": result.observed,
        "expected": result.expected,
        "observed_minus_expected": result.observed - result.expected,
    })
    if trend:
        table["score"] = trend_scores
    table["test"] = "trend" if trend else "k-sample"
    table["weighting"] = weighting
    table["strata"] = ",".join(strata_cols) if strata_cols else ""
    table["statistic"] = result.statistic
    table["df"] = result.df
    table["p_value"] = result.p_value
    key = key_added or _default_key(time, groupby)
    store_result(mdata, "logrank", key, table, {
        "time": time, "event": event, "groupby": groupby, "strata": strata_cols,
        "trend": trend, "weighting": weighting, "p": p, "q": q, "missing": missing})
    return table


def _obs_column(mdata, column):
    if column not in mdata.obs.columns:
        raise CohortError(f"unknown clinical column {column!r}", column=str(column),
                          expected=f"one of {list(map(str, mdata.obs.columns))[:15]}",
                          found="no such column")
    return mdata.obs[column]


def _trend_scores(series, group_names, scores, ordered, column):
    if scores is not None:
        if isinstance(scores, Mapping):
            missing = [g for g in group_names if g not in {str(k) for k in scores}]
            if missing:
                raise InputError("trend scores are missing for some groups", column=column,
                                 expected=f"a score for each of {group_names}", found=missing)
            lookup = {str(k): float(v) for k, v in scores.items()}
            return np.array([lookup[g] for g in group_names])
        values = np.asarray(list(scores), dtype=float)
        if values.size != len(group_names):
            raise InputError("one trend score per group is needed", column=column,
                             expected=f"{len(group_names)} scores for {group_names}",
                             found=values.size)
        return values
    numeric = pd.api.types.is_numeric_dtype(series.dtype) and not isinstance(
        series.dtype, pd.CategoricalDtype)
    if numeric:
        return np.array([float(g) for g in group_names])
    if isinstance(series.dtype, pd.CategoricalDtype) and series.cat.ordered:
        order = [str(c) for c in series.cat.categories]
        return np.array([order.index(g) + 1.0 for g in group_names])
    raise InputError(
        f"the trend test needs ordered groups, and {column!r} is not ordered", column=column,
        expected="an ordered categorical, numeric groups, or scores=...",
        found=str(series.dtype))


# ----------------------------------------------------------------------------- markers

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
    """
    variable = resolve_variable(mdata, marker, mod, layer=layer)
    values = numeric_values(variable)
    known = ~np.isnan(values)
    if known.sum() < 2:
        raise CohortError(f"marker {marker!r} has fewer than two values", column=variable.label)
    if np.unique(values[known]).size < 2:
        raise CohortError(f"marker {marker!r} is constant: it cannot split patients",
                          column=variable.label, found=float(values[known][0]))
    if method in _QUANTILE_LABELS:
        names = list(labels) if labels is not None else _QUANTILE_LABELS[method]
        k = len(_QUANTILE_LABELS[method])
        if len(names) != k:
            raise InputError(f"method {method!r} makes {k} groups", expected=f"{k} labels",
                             found=list(names))
        edges = np.quantile(values[known], np.linspace(0, 1, k + 1))
        inner = edges[1:-1]
        if np.unique(inner).size < inner.size:
            raise CohortError(
                f"the {method} of {marker!r} are not distinct (too many tied values)",
                column=variable.label, found=list(inner),
                hint="Use method='median' or a cut-off")
        code = np.searchsorted(inner, values, side="left")  # at or below an edge: lower group
        thresholds = list(map(float, inner))
    elif method == "cutoff":
        if cutoff is None:
            raise InputError("method='cutoff' needs cutoff=<value>")
        names = list(labels) if labels is not None else ["low", "high"]
        code = (values > cutoff).astype(np.int64)
        thresholds = [float(cutoff)]
        if code[known].min() == code[known].max():
            raise CohortError(f"the cut-off {cutoff} leaves every patient in one group",
                              column=variable.label)
    elif method == "maxstat":
        if time is None or event is None:
            raise InputError("method='maxstat' needs time= and event=")
        result = maxstat(mdata, marker, time=time, event=event, mod=mod, event_map=event_map,
                         minprop=minprop, maxprop=maxprop, pmethod=pmethod, layer=layer,
                         key_added=key_added or f"{marker}_group")
        names = list(labels) if labels is not None else ["low", "high"]
        cut = float(result["cutpoint"].iloc[0])
        code = (values > cut).astype(np.int64)
        thresholds = [cut]
    else:
        raise InputError("unknown grouping method",
                         expected="median, tertiles, quartiles, cutoff or maxstat", found=method)
    code = np.where(known, code, -1)
    groups = pd.Categorical.from_codes(code, categories=names, ordered=True)
    column = key_added or f"{marker}_group"
    mdata.obs[column] = pd.Series(groups, index=mdata.obs.index)
    root = mdata.uns.setdefault("radiogenomics", {})
    root.setdefault("marker_groups", {})[column] = {
        "marker": marker, "source": variable.source, "method": method,
        "thresholds": thresholds, "labels": names, "layer": layer,
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
    """
    variable = resolve_variable(mdata, marker, mod, layer=layer)
    values = numeric_values(variable)
    out = outcome(mdata, time, event, event_map, missing)
    keep = out.usable & ~np.isnan(values)
    if keep.sum() < 3:
        raise CohortError(f"fewer than three patients have {marker!r} and follow-up",
                          column=variable.label)
    if out.event[keep].sum() == 0:
        raise CohortError("no events among the patients with the marker: no cut-point can "
                          "separate survival", column=event)
    try:
        result = maxstat_kernel.maxstat(values[keep], out.time[keep], out.event[keep],
                                        minprop=minprop, maxprop=maxprop, pmethod=pmethod,
                                        n_permutations=n_permutations, random_state=random_state)
    except ValueError as exc:
        raise CohortError(f"no maximally selected statistic for {marker!r}: {exc}",
                          column=variable.label) from None
    n_low = int((values[keep] <= result.cutpoint).sum())
    table = pd.DataFrame([{
        "marker": variable.label, "modality": variable.source, "n": int(keep.sum()),
        "n_events": int(out.event[keep].sum()), "cutpoint": result.cutpoint,
        "statistic": result.statistic, "p_value": result.p_value, "pmethod": pmethod,
        "n_low": n_low, "n_high": int(keep.sum()) - n_low, "minprop": minprop,
        "maxprop": maxprop,
    }])
    cuts = pd.DataFrame({"cutpoint": result.cutpoints, "n_low": result.group_sizes,
                         "statistic": result.statistics})
    key = key_added or marker
    params = {"marker": marker, "time": time, "event": event, "pmethod": pmethod,
              "minprop": minprop, "maxprop": maxprop, "layer": layer}
    store_result(mdata, "maxstat", key, table, params)
    store_result(mdata, "maxstat_cutpoints", key, cuts, params)
    return table


# ----------------------------------------------------------------------------- Cox


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


def cox(
    mdata: md.MuData,
    terms: str | Sequence[str],
    *,
    time: str,
    event: str,
    strata: str | Sequence[str] | None = None,
    ties: str = "efron",
    event_map: Mapping | None = None,
    alpha: float = 0.05,
    ph_transform: str = "km",
    ph_alpha: float = 0.05,
    ph_method: str = "zph",
    missing: str = "error",
    key_added: str | None = None,
) -> pd.DataFrame:
    """Multivariable Cox proportional hazards model.

    Parameters
    ----------
    mdata
        The cohort.
    terms
        Clinical columns (categorical ones expanded to indicators against their first
        level, named like ``stage[T.II]``) and features (``"modality:feature"``).
    time, event
        Follow-up time and event columns of ``mdata.obs``.
    strata
        Column(s) of ``mdata.obs``: a separate baseline hazard per stratum.
    ties
        ``"efron"`` (default, as R and lifelines) or ``"breslow"``.
    event_map, missing
        See :func:`kaplan_meier`. Patients missing a term are left out with a warning.
    alpha
        1 - confidence level of the hazard-ratio intervals.
    ph_transform, ph_alpha
        Time transform of the proportional-hazards test (``"km"``, ``"rank"``,
        ``"identity"``, ``"log"``) and the level below which a term is reported as
        breaking the assumption (with a :class:`ProportionalHazardsWarning`).
    ph_method
        ``"zph"`` (default): the score test of R ``survival::cox.zph`` (version 3.0 and
        later), one test per variable (the indicators of a categorical variable together,
        with as many degrees of freedom, as R's default ``terms=TRUE``) and a global test;
        see :func:`radiogenomics.stats.cox.cox_zph`. ``"schoenfeld"``: the earlier
        approximation from scaled Schoenfeld residuals (R before 3.0, lifelines'
        ``proportional_hazard_test``), one test per design column.
    key_added
        Key of the stored tables.

    Returns
    -------
    pandas.DataFrame
        One row per design column: ``term, variable, coef, hazard_ratio, std_error, z,
        p_value, hr_ci_lower, hr_ci_upper, ph_statistic, ph_df, ph_p_value, ph_note``
        (the rows of one categorical variable share its test). The model (``n, n_events,
        ties, strata, log_likelihood, lr_*, wald_*, score_*, concordance, ph_global_*,
        ph_transform, ph_method``) is stored under ``"cox_model"``. With ``strata`` the
        concordance compares pairs within a stratum only, as R ``coxph``.
    """
    terms = as_list(terms)
    if not terms:
        raise InputError("cox needs at least one term")
    if ph_method not in ("zph", "schoenfeld"):
        raise InputError("unknown proportional-hazards test", column="ph_method",
                         expected="'zph' or 'schoenfeld'", found=ph_method)
    if ph_transform not in cox_kernel.ZPH_TRANSFORMS:
        raise InputError("unknown time transform of the proportional-hazards test",
                         column="ph_transform", expected=list(cox_kernel.ZPH_TRANSFORMS),
                         found=ph_transform)
    out = outcome(mdata, time, event, event_map, missing)
    x, names, origin = _design(mdata, terms)
    strata_codes, strata_cols = _strata_codes(mdata, strata)
    complete = out.usable & ~np.isnan(x).any(1)
    if strata_codes is not None:
        complete &= strata_codes >= 0
    dropped = out.usable & ~complete
    if dropped.any():
        ids = ", ".join(map(str, mdata.obs_names[dropped][:3]))
        warnings.warn(f"{int(dropped.sum())} patient(s) miss a term or stratum and are left "
                      f"out (e.g. {ids})", UserWarning, stacklevel=2)
    t, e, xs = out.time[complete], out.event[complete], x[complete]
    if e.sum() == 0:
        raise CohortError("no events among the patients analysed", column=event)
    for j, name in enumerate(names):
        column = xs[:, j]
        if np.unique(column).size < 2:
            raise CohortError(f"term {name!r} is constant in the patients analysed",
                              column=origin[j], found=float(column[0]))
        levels = np.unique(column)
        if levels.size == 2 and set(levels) <= {0.0, 1.0}:
            for level, label in ((1.0, "with"), (0.0, "without")):
                if e[column == level].sum() == 0:
                    raise CohortError(
                        f"no events among the patients {label} {name!r}: its hazard ratio "
                        "is zero or infinite and cannot be estimated",
                        column=origin[j], expected="events in every group",
                        hint="Merge sparse levels, or drop the term")
    s = None if strata_codes is None else strata_codes[complete]
    design = cox_kernel.prepare_survival(t, e, s)
    fit = cox_kernel.cox_batch(design, xs[:, :1], xs[:, 1:] if xs.shape[1] > 1 else None,
                               ties=ties, tol=1e-10, return_linear_predictor=True)
    status = fit.status[0]
    if status != "ok":
        raise CohortError(f"the Cox model cannot be fitted: {cox_kernel.STATUS[status]}",
                          expected="a finite maximum of the partial likelihood",
                          found=status,
                          hint="Check for a term that separates patients with and without "
                               "events, or collinear terms")
    coef = fit.coef[0]
    cov = fit.covariance[0]
    se = np.sqrt(np.diag(cov))
    z = coef / se
    p = 2 * stats.norm.sf(np.abs(z))
    zq = stats.norm.ppf(1 - alpha / 2)
    d = coef.size
    wald = float(coef @ np.linalg.solve(cov, coef))
    lr = float(2 * (fit.log_likelihood[0] - fit.log_likelihood_null[0]))
    score = float(fit.score_statistic[0])
    lp = fit.linear_predictor[:, 0]
    concordance = km_kernel.concordance_index(t, e, lp, strata=s)  # pairs within strata
    if ph_method == "zph":
        variables = list(dict.fromkeys(origin))
        groups = [[j for j, o in enumerate(origin) if o == v] for v in variables]
        ph = cox_kernel.cox_zph(design, xs, coef, ties=ties, transform=ph_transform,
                                terms=groups)
        term_of = {j: k for k, group in enumerate(groups) for j in group}
        ph_statistic = np.array([ph["statistic"][term_of[j]] for j in range(len(names))])
        ph_df = np.array([ph["df"][term_of[j]] for j in range(len(names))])
        ph_p = np.array([ph["p_value"][term_of[j]] for j in range(len(names))])
        label, tested = "cox.zph score test", [variables[term_of[j]] for j in range(len(names))]
    else:
        ph = cox_kernel.schoenfeld_test(design, xs, coef, cov, ties=ties,
                                        transform=ph_transform)
        ph_statistic, ph_p = ph["statistic"], ph["p_value"]
        ph_df = np.ones(len(names), dtype=np.int64)
        label, tested = "scaled Schoenfeld residuals", list(names)
    notes = []
    warned = set()
    for j in range(len(names)):
        if ph_p[j] < ph_alpha:
            note = (f"The effect of {tested[j]!r} on the hazard seems to change over "
                    f"follow-up ({label}, p = {ph_p[j]:.2g}): its hazard ratio is an "
                    "average over time and may mislead. Consider stratifying on it or "
                    "modelling a time-varying effect.")
            if note not in warned:
                warnings.warn(note, ProportionalHazardsWarning, stacklevel=2)
                warned.add(note)
        else:
            note = ""
        notes.append(note)
    table = pd.DataFrame({
        "term": names, "variable": origin, "coef": coef, "hazard_ratio": np.exp(coef),
        "std_error": se, "z": z, "p_value": p,
        "hr_ci_lower": np.exp(coef - zq * se), "hr_ci_upper": np.exp(coef + zq * se),
        "ph_statistic": ph_statistic, "ph_df": ph_df, "ph_p_value": ph_p, "ph_note": notes,
    })
    model = pd.DataFrame([{
        "n": int(complete.sum()), "n_events": int(e.sum()), "ties": ties,
        "strata": ",".join(strata_cols), "log_likelihood": float(fit.log_likelihood[0]),
        "log_likelihood_null": float(fit.log_likelihood_null[0]),
        "lr_statistic": lr, "lr_df": d, "lr_p_value": float(stats.chi2.sf(lr, d)),
        "wald_statistic": wald, "wald_df": d, "wald_p_value": float(stats.chi2.sf(wald, d)),
        "score_statistic": score, "score_df": d,
        "score_p_value": float(stats.chi2.sf(score, d)), "concordance": concordance,
        "ph_global_statistic": ph["global_statistic"], "ph_global_df": ph["global_df"],
        "ph_global_p_value": ph["global_p_value"], "ph_transform": ph_transform,
        "ph_method": ph_method,
    }])
    key = key_added or _default_key(time, "+".join(terms))
    params = {"terms": terms, "time": time, "event": event, "strata": strata_cols,
              "ties": ties, "alpha": alpha, "ph_transform": ph_transform,
              "ph_method": ph_method, "missing": missing}
    store_result(mdata, "cox", key, table, params)
    store_result(mdata, "cox_model", key, model, params)
    return table


def cox_screen(
    mdata: md.MuData,
    mod: str | Sequence[str] | None,
    *,
    time: str,
    event: str,
    covariates: str | Sequence[str] = (),
    strata: str | Sequence[str] | None = None,
    ties: str = "efron",
    event_map: Mapping | None = None,
    features: Sequence[str] | None = None,
    layer: str | None = None,
    alpha: float = 0.05,
    concordance: bool = True,
    missing: str = "error",
    key_added: str | None = None,
) -> pd.DataFrame:
    """A Cox model for every feature of a modality, optionally adjusted for covariates.

    All features are fitted at once by a vectorised Newton-Raphson (see
    :func:`radiogenomics.stats.cox.cox_batch`); each model is ``feature + covariates``
    on the patients who have the feature (and every covariate).

    Parameters
    ----------
    mdata
        The cohort.
    mod
        Modality name, several names, or ``None`` for every modality. q-values are
        Benjamini-Hochberg within each modality.
    time, event
        Follow-up time and event columns of ``mdata.obs``.
    covariates
        Clinical columns (categorical ones expanded to indicators) or features
        (``"modality:feature"``) in every model.
    strata
        Column(s) of ``mdata.obs`` for a stratified baseline hazard.
    ties
        ``"efron"`` (default) or ``"breslow"``.
    event_map, missing
        See :func:`kaplan_meier`. Patients missing a covariate are left out of every
        model, with a warning.
    features
        Only these features (of a single modality).
    layer
        Modality layer instead of ``X``.
    alpha
        1 - confidence level of the hazard-ratio intervals.
    concordance
        Also compute Harrell's C of each model's linear predictor (with ``strata``, over
        pairs within a stratum only, as R ``coxph``).
    key_added
        Key of the stored table (default: the modality name(s)).

    Returns
    -------
    pandas.DataFrame
        The survival screen table (:data:`SCREEN_COLUMNS`) plus ``hazard_ratio_per_sd``
        (per standard deviation of the feature), ``status`` and ``note`` (why a row has no
        estimate: a constant feature, no events, too few patients, perfect separation with
        an infinite hazard ratio, collinearity, non-convergence) and ``covariates``; sorted
        by p-value, rows without an estimate last.
    """
    mods = list(mdata.mod) if mod is None else as_list(mod)
    if features is not None and len(mods) != 1:
        raise InputError("features= needs a single modality", found=mods)
    out = outcome(mdata, time, event, event_map, missing)
    covariates = as_list(covariates)
    if covariates:
        z, z_names, _ = _design(mdata, covariates)
    else:
        z, z_names = np.empty((mdata.n_obs, 0)), []
    strata_codes, strata_cols = _strata_codes(mdata, strata)
    keep = out.usable & ~np.isnan(z).any(1)
    if strata_codes is not None:
        keep &= strata_codes >= 0
    dropped = out.usable & ~keep
    if dropped.any():
        warnings.warn(f"{int(dropped.sum())} patient(s) miss a covariate or stratum and are "
                      "left out of every model", UserWarning, stacklevel=2)
    t, e = out.time[keep], out.event[keep]
    if e.sum() == 0:
        raise CohortError("no events among the patients analysed", column=event)
    zk = z[keep]
    for j, name in enumerate(z_names):
        if np.unique(zk[:, j]).size < 2:
            raise CohortError(f"covariate {name!r} is constant in the patients analysed",
                              column=name)
    screen_strata = None if strata_codes is None else strata_codes[keep]
    design = cox_kernel.prepare_survival(t, e, screen_strata)
    zq = stats.norm.ppf(1 - alpha / 2)
    tables = []
    for name in mods:
        block = modality_block(mdata, name, features=features, layer=layer)
        x = block.values if keep.all() else block.values[keep]
        fit = cox_kernel.cox_batch(design, x, zk if zk.shape[1] else None, ties=ties,
                                   return_linear_predictor=concordance and bool(z_names))
        coef = fit.coef[:, 0]
        se = fit.std_error[:, 0]
        with np.errstate(invalid="ignore", over="ignore"):
            zstat = coef / se
            p = 2 * stats.norm.sf(np.abs(zstat))
        sd = fit.feature_sd
        table = pd.DataFrame({
            "modality": name, "feature": block.names, "n": fit.n, "n_events": fit.n_events,
            "coef": coef, "hazard_ratio": np.exp(coef), "std_error": se, "z": zstat,
            "p_value": p, "q_value": np.nan,
            "hr_ci_lower": np.exp(coef - zq * se), "hr_ci_upper": np.exp(coef + zq * se),
            "concordance": np.nan,
        })
        if concordance:
            ok = fit.status == "ok"
            if z_names:
                c = km_kernel.concordance_index(t, e, fit.linear_predictor[:, ok],
                                                strata=screen_strata)
            else:  # the C-index of b * x is C(x) or 1 - C(x)
                c = km_kernel.concordance_index(t, e, x if ok.all() else x[:, ok],
                                                strata=screen_strata)
                c = np.where(coef[ok] >= 0, c, 1.0 - c)
            table.loc[ok, "concordance"] = c
        with np.errstate(over="ignore", invalid="ignore"):
            table["hazard_ratio_per_sd"] = np.exp(coef * sd)
        table["status"] = fit.status
        table["note"] = [
            "" if s == "ok" else cox_kernel.STATUS[s] for s in fit.status
        ]
        table["covariates"] = ",".join(covariates)
        table["q_value"] = adjust_pvalues(table["p_value"].to_numpy(), method="bh")
        tables.append(table)
    table = pd.concat(tables, ignore_index=True)
    table = table.sort_values(["p_value", "modality", "feature"], na_position="last",
                              kind="stable").reset_index(drop=True)
    flagged = table["status"] != "ok"
    if flagged.any():
        counts = table.loc[flagged, "status"].value_counts().to_dict()
        warnings.warn(f"{int(flagged.sum())} feature(s) have no estimate ({counts}); see the "
                      "'status' and 'note' columns", UserWarning, stacklevel=2)
    key = key_added or "+".join(mods)
    store_result(mdata, "survival_screen", key, table, {
        "modalities": mods, "time": time, "event": event, "covariates": covariates,
        "covariate_columns": z_names, "strata": strata_cols, "ties": ties, "alpha": alpha,
        "n_patients": int(keep.sum()), "missing": missing, "layer": layer})
    return table
