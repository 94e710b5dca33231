"""Kaplan-Meier curves and log-rank tests of groups of patients."""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence

import mudata as md
import numpy as np
import pandas as pd

from ..._compat import keyword_only
from ..._data import as_list
from ...cohort import store_result
from ...errors import CohortError, InputError
from ...stats import survival as km_kernel
from .._survival_data import (
    group_codes,
    outcome,
)
from ._common import (
    _default_key,
    _groups,
    _obs_column,
)


@keyword_only("time")
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

    See Also
    --------
    logrank : test whether the groups' curves differ.
    marker_groups : groups from a continuous marker.
    radiogenomics.pl.km : draw the curves.

    Examples
    --------
    >>> import radiogenomics as rg
    >>> mdata = rg.datasets.toy_cohort(n_patients=60)
    >>> curves = rg.tl.kaplan_meier(mdata, time="os_months", event="os_event", groupby="site")
    >>> curves.loc[:2, ["group", "time", "n_at_risk", "survival"]].round(3)
        group  time  n_at_risk  survival
    0  site_A   0.0         32     1.000
    1  site_A   2.2         32     0.969
    2  site_A   2.7         31     0.938
    >>> summary = rg.get_result(mdata, "kaplan_meier_summary", "os_months:site")
    >>> summary[["group", "n", "n_events", "median_survival"]]
        group   n  n_events  median_survival
    0  site_A  32        23             17.6
    1  site_B  28        15             24.0
    """
    out = outcome(mdata, time, event, event_map, missing)
    codes, names, _ = _groups(mdata, groupby, out.usable)
    curves, summary = [], []
    for k, name in enumerate(names):
        inside = out.usable & (codes == k)
        if not inside.any():
            continue
        fit = km_kernel.kaplan_meier(
            out.time[inside], out.event[inside], alpha=alpha, ci_method=ci_method
        )
        curves.append(
            pd.DataFrame(
                {
                    "group": name,
                    "time": fit.time,
                    "n_at_risk": fit.n_at_risk.astype(np.int64),
                    "n_events": fit.n_events.astype(np.int64),
                    "n_censored": fit.n_censored.astype(np.int64),
                    "survival": fit.survival,
                    "std_error": fit.std_error,
                    "ci_lower": fit.ci_lower,
                    "ci_upper": fit.ci_upper,
                }
            )
        )
        lower, upper = fit.median_ci
        summary.append(
            {
                "group": name,
                "n": int(inside.sum()),
                "n_events": int(out.event[inside].sum()),
                "median_survival": fit.median,
                "median_ci_lower": lower,
                "median_ci_upper": upper,
                "median_reached": bool(np.isfinite(fit.median)),
            }
        )
        if out.event[inside].sum() == 0:
            warnings.warn(
                f"group {name!r} has no events: its curve stays at 1", UserWarning, stacklevel=2
            )
    table = pd.concat(curves, ignore_index=True)
    table["group"] = pd.Categorical(table["group"], categories=[s["group"] for s in summary])
    summary_table = pd.DataFrame(summary)
    key = key_added or _default_key(time, groupby or "all")
    params = {
        "time": time,
        "event": event,
        "groupby": groupby,
        "alpha": alpha,
        "ci_method": ci_method,
        "missing": missing,
        "event_map": {str(k): int(v) for k, v in event_map.items()} if event_map else None,
    }
    store_result(mdata, "kaplan_meier", key, table, params)
    store_result(mdata, "kaplan_meier_summary", key, summary_table, params)
    return table


@keyword_only("time")
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

    See Also
    --------
    kaplan_meier : the groups' survival curves.

    Examples
    --------
    >>> import radiogenomics as rg
    >>> mdata = rg.datasets.toy_cohort(n_patients=60)
    >>> table = rg.tl.logrank(mdata, time="os_months", event="os_event", groupby="site")
    >>> table[["group", "n", "observed", "expected"]].round(2)
        group   n  observed  expected
    0  site_A  32      23.0     17.78
    1  site_B  28      15.0     20.22
    >>> int(table["df"].iloc[0]), round(float(table["p_value"].iloc[0]), 3)
    (1, 0.088)
    >>> trend = rg.tl.logrank(mdata, time="os_months", event="os_event", groupby="stage",
    ...                       trend=True)
    >>> trend[["group", "score"]].values.tolist(), trend["test"].iloc[0]
    ([['I', 1.0], ['II', 2.0], ['III', 3.0]], 'trend')
    """
    out = outcome(mdata, time, event, event_map, missing)
    codes, names, ordered = _groups(mdata, groupby, out.usable)
    keep = out.usable & (codes >= 0)
    strata_cols = as_list(strata)
    keep, strata_codes = _logrank_strata(mdata, strata_cols, keep)
    present = np.unique(codes[keep])
    if present.size < 2:
        raise CohortError(
            f"the log-rank test needs at least two groups in {groupby!r}",
            column=groupby,
            expected="two or more groups with patients",
            found=[names[i] for i in present],
        )
    remap = np.full(len(names), -1)
    remap[present] = np.arange(present.size)
    group_names = [names[i] for i in present]
    trend_scores = None
    if trend:
        trend_scores = _trend_scores(mdata.obs[groupby], group_names, scores, ordered, groupby)
    result = km_kernel.logrank_test(
        out.time[keep],
        out.event[keep],
        remap[codes[keep]],
        strata=strata_codes,
        weighting=weighting,
        trend_scores=trend_scores,
        p=p,
        q=q,
    )
    no_events = [g for g, o in zip(group_names, result.observed) if o == 0]
    if no_events:
        warnings.warn(
            f"group(s) {no_events} of {groupby!r} have no events", UserWarning, stacklevel=2
        )
    n_events = np.bincount(
        remap[codes[keep]], weights=out.event[keep], minlength=present.size
    ).astype(np.int64)
    table = _logrank_table(
        group_names, n_events, result, trend, trend_scores, weighting, strata_cols
    )
    key = key_added or _default_key(time, groupby)
    store_result(
        mdata,
        "logrank",
        key,
        table,
        {
            "time": time,
            "event": event,
            "groupby": groupby,
            "strata": strata_cols,
            "trend": trend,
            "weighting": weighting,
            "p": p,
            "q": q,
            "missing": missing,
        },
    )
    return table


def _logrank_strata(mdata, strata_cols, keep):
    """Patients kept once those without a stratum are left out, and their stratum codes."""
    strata_codes = None
    if strata_cols:
        parts = []
        for column in strata_cols:
            c, _, _ = group_codes(_obs_column(mdata, column), column)
            parts.append(c)
        combined = np.stack(parts, axis=1)
        missing_stratum = (combined < 0).any(1) & keep
        if missing_stratum.any():
            warnings.warn(
                f"{int(missing_stratum.sum())} patient(s) have no stratum and are left out",
                UserWarning,
                stacklevel=3,
            )
        keep = keep & ~(combined < 0).any(1)
        _, strata_codes = np.unique(combined[keep], axis=0, return_inverse=True)
        strata_codes = strata_codes.ravel()
    return keep, strata_codes


def _logrank_table(group_names, n_events, result, trend, trend_scores, weighting, strata_cols):
    """One row per group: observed and expected counts, then the test's columns."""
    table = pd.DataFrame(
        {
            "group": group_names,
            "n": result.n,
            "n_events": n_events,
            "observed": result.observed,
            "expected": result.expected,
            "observed_minus_expected": result.observed - result.expected,
        }
    )
    if trend:
        table["score"] = trend_scores
    table["test"] = "trend" if trend else "k-sample"
    table["weighting"] = weighting
    table["strata"] = ",".join(strata_cols) if strata_cols else ""
    table["statistic"] = result.statistic
    table["df"] = result.df
    table["p_value"] = result.p_value
    return table


def _trend_scores(series, group_names, scores, ordered, column):
    if scores is not None:
        if isinstance(scores, Mapping):
            missing = [g for g in group_names if g not in {str(k) for k in scores}]
            if missing:
                raise InputError(
                    "trend scores are missing for some groups",
                    column=column,
                    expected=f"a score for each of {group_names}",
                    found=missing,
                )
            lookup = {str(k): float(v) for k, v in scores.items()}
            return np.array([lookup[g] for g in group_names])
        values = np.asarray(list(scores), dtype=float)
        if values.size != len(group_names):
            raise InputError(
                "one trend score per group is needed",
                column=column,
                expected=f"{len(group_names)} scores for {group_names}",
                found=values.size,
            )
        return values
    numeric = pd.api.types.is_numeric_dtype(series.dtype) and not isinstance(
        series.dtype, pd.CategoricalDtype
    )
    if numeric:
        return np.array([float(g) for g in group_names])
    if isinstance(series.dtype, pd.CategoricalDtype) and series.cat.ordered:
        order = [str(c) for c in series.cat.categories]
        return np.array([order.index(g) + 1.0 for g in group_names])
    raise InputError(
        f"the trend test needs ordered groups, and {column!r} is not ordered",
        column=column,
        expected="an ordered categorical, numeric groups, or scores=...",
        found=str(series.dtype),
    )


# ----------------------------------------------------------------------------- markers
