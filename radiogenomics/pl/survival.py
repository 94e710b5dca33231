"""Survival figures: Kaplan-Meier curves with a numbers-at-risk table and the log-rank
p-value, forest plots of hazard ratios, and the volcano of a survival screen.

The figures draw tables computed by ``radiogenomics.tl`` (stored in the cohort or
passed directly); they compute no statistics themselves.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping, Sequence

import mudata as md
import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from .. import tl
from ..cohort import get_result, working_copy
from ..errors import CohortError, InputError

__all__ = ["km", "forest", "survival_volcano"]

_PALETTE = [
    "#1f77b4",
    "#d62728",
    "#2ca02c",
    "#9467bd",
    "#ff7f0e",
    "#8c564b",
    "#e377c2",
    "#7f7f7f",
    "#bcbd22",
    "#17becf",
]


def _rgba(hex_color: str, alpha: float) -> str:
    h = hex_color.lstrip("#")
    r, g, b = (int(h[i : i + 2], 16) for i in (0, 2, 4))
    return f"rgba({r},{g},{b},{alpha})"


def _format_p(p: float) -> str:
    if p is None or not np.isfinite(p):
        return "n/a"
    return f"{p:.2g}" if p >= 1e-4 else f"{p:.1e}"


def _nice_ticks(t_max: float, count: int = 6) -> np.ndarray:
    if t_max <= 0:
        return np.array([0.0])
    raw = t_max / count
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw)
    return np.arange(0.0, t_max + 1e-9, step)


def _at_risk(curve: pd.DataFrame, times: np.ndarray) -> list[int]:
    """Patients still followed at each time: at risk at the first tabulated time >= t."""
    table_times = curve["time"].to_numpy()
    at_risk = curve["n_at_risk"].to_numpy()
    # the last row's patients leave at its time; after it nobody is at risk
    idx = np.searchsorted(table_times, times, side="left")
    return [int(at_risk[i]) if i < len(at_risk) else 0 for i in idx]


def _deprecated_compute(mdata, time, event, groupby, event_map):
    """The curves and test of ``km(mdata, time, event, groupby)``, on a working copy."""

    warnings.warn(
        "rg.pl.km(mdata, time, event, groupby) is deprecated and will be removed in the "
        "next release: run rg.tl.kaplan_meier (and rg.tl.logrank) first and pass key=; "
        "the curves computed here are no longer stored in the cohort",
        FutureWarning,
        stacklevel=3,
    )
    work = working_copy(mdata)
    curves = tl.kaplan_meier(work, time=time, event=event, groupby=groupby, event_map=event_map)
    logrank_table = None
    if groupby is not None and curves["group"].astype(str).nunique() > 1:
        logrank_table = tl.logrank(
            work, time=time, event=event, groupby=groupby, event_map=event_map
        )
    return curves, logrank_table


def km(
    mdata: md.MuData | None = None,
    time: str | None = None,
    event: str | None = None,
    groupby: str | None = None,
    *,
    key: str | None = None,
    curves: pd.DataFrame | None = None,
    logrank_table: pd.DataFrame | None = None,
    event_map: Mapping | None = None,
    show_ci: bool = True,
    show_censored: bool = True,
    show_at_risk: bool = True,
    at_risk_times: Sequence[float] | None = None,
    title: str | None = None,
    time_label: str | None = None,
    colors: Mapping[str, str] | None = None,
) -> go.Figure:
    """Kaplan-Meier curves with a numbers-at-risk table and the log-rank p-value.

    Draws curves computed by :func:`radiogenomics.tl.kaplan_meier` (and the test of
    :func:`radiogenomics.tl.logrank`): pass the cohort with the ``key`` of the stored
    results, or the ``curves`` table itself (with an optional ``logrank_table``). The
    figure computes nothing and changes nothing in the cohort.

    Passing ``time``/``event``/``groupby`` instead of ``key`` is deprecated (a
    ``FutureWarning``; removed in the next release): the curves are then computed on a
    working copy and no longer stored in the cohort.

    Returns
    -------
    plotly.graph_objects.Figure

    See Also
    --------
    radiogenomics.tl.kaplan_meier, radiogenomics.tl.logrank

    Examples
    --------
    >>> import pandas as pd
    >>> import radiogenomics as rg
    >>> curves = pd.DataFrame({"group": ["all"] * 3, "time": [0.0, 5.0, 9.0],
    ...                        "survival": [1.0, 0.8, 0.5], "ci_lower": [1.0, 0.5, 0.2],
    ...                        "ci_upper": [1.0, 0.95, 0.8], "n_at_risk": [10, 10, 6],
    ...                        "n_events": [0, 2, 3], "n_censored": [0, 2, 1]})
    >>> fig = rg.pl.km(curves=curves, time_label="months")
    >>> fig.layout.xaxis2.title.text
    'months'
    """

    if curves is None:
        if mdata is None:
            raise InputError("km needs a cohort (with time/event or key) or a curves table")
        if key is not None:
            curves, logrank_table = _stored_curves(mdata, key)
        else:
            if time is None or event is None:
                raise InputError(
                    "km needs key= of curves stored by rg.tl.kaplan_meier (or a curves table)"
                )
            curves, logrank_table = _deprecated_compute(mdata, time, event, groupby, event_map)
    groups = [str(g) for g in pd.unique(curves["group"].astype(str))]
    colors = dict(colors or {})
    for i, g in enumerate(groups):
        colors.setdefault(g, _PALETTE[i % len(_PALETTE)])
    rows = 2 if show_at_risk else 1
    fig = make_subplots(
        rows=rows,
        cols=1,
        shared_xaxes=True,
        vertical_spacing=0.06,
        row_heights=[0.75, 0.25] if show_at_risk else [1.0],
    )
    t_max = float(curves["time"].max())
    ticks = np.asarray(
        at_risk_times if at_risk_times is not None else _nice_ticks(t_max), dtype=float
    )
    for g in groups:
        c = curves[curves["group"].astype(str) == g].sort_values("time")
        color = colors[g]
        if show_ci:
            _add_band(fig, c, g, color)
        _add_curve(fig, c, g, color)
        if show_censored:
            _add_censored(fig, c, g, color)
        if show_at_risk:
            _add_at_risk(fig, c, g, color, ticks)
    if logrank_table is not None and len(logrank_table):
        _add_logrank(fig, logrank_table)
    _km_axes(fig, show_at_risk, ticks, t_max, time_label, title)
    return fig


def _stored_curves(mdata, key: str) -> tuple[pd.DataFrame, pd.DataFrame | None]:
    """The curves stored under ``key``, with the log-rank test stored beside them if any."""
    curves = get_result(mdata, "kaplan_meier", key)
    try:
        logrank_table = get_result(mdata, "logrank", key)
    except CohortError:  # no test stored under that key
        logrank_table = None
    return curves, logrank_table


def _add_band(fig: go.Figure, c: pd.DataFrame, g: str, color: str) -> None:
    """The confidence band of one group's curve: its upper, then its filled lower bound."""
    fig.add_trace(
        go.Scatter(
            x=c["time"],
            y=c["ci_upper"],
            mode="lines",
            line=dict(width=0, shape="hv"),
            hoverinfo="skip",
            showlegend=False,
            legendgroup=g,
        ),
        row=1,
        col=1,
    )
    fig.add_trace(
        go.Scatter(
            x=c["time"],
            y=c["ci_lower"],
            mode="lines",
            line=dict(width=0, shape="hv"),
            fill="tonexty",
            fillcolor=_rgba(color, 0.15),
            hoverinfo="skip",
            showlegend=False,
            legendgroup=g,
        ),
        row=1,
        col=1,
    )


def _add_curve(fig: go.Figure, c: pd.DataFrame, g: str, color: str) -> None:
    """One group's survival curve, with its size in the legend."""
    n = int(c["n_at_risk"].iloc[0])
    fig.add_trace(
        go.Scatter(
            x=c["time"],
            y=c["survival"],
            mode="lines",
            name=f"{g} (n={n})",
            line=dict(color=color, shape="hv", width=2),
            legendgroup=g,
            customdata=np.stack([c["n_at_risk"], c["n_events"]], axis=1),
            hovertemplate=(
                f"{g}<br>time %{{x}}<br>survival %{{y:.3f}}<br>at risk "
                "%{customdata[0]}<br>events %{customdata[1]}<extra></extra>"
            ),
        ),
        row=1,
        col=1,
    )


def _add_censored(fig: go.Figure, c: pd.DataFrame, g: str, color: str) -> None:
    """Tick marks on one group's curve where patients were censored."""
    cens = c[c["n_censored"] > 0]
    if len(cens):
        fig.add_trace(
            go.Scatter(
                x=cens["time"],
                y=cens["survival"],
                mode="markers",
                marker=dict(symbol="line-ns-open", size=8, color=color),
                showlegend=False,
                legendgroup=g,
                hoverinfo="skip",
            ),
            row=1,
            col=1,
        )


def _add_at_risk(fig: go.Figure, c: pd.DataFrame, g: str, color: str, ticks) -> None:
    """One group's row of the numbers-at-risk table."""
    fig.add_trace(
        go.Scatter(
            x=ticks,
            y=[g] * len(ticks),
            mode="text",
            text=_at_risk(c, ticks),
            textfont=dict(color=color),
            showlegend=False,
            hoverinfo="skip",
            cliponaxis=False,
        ),
        row=2,
        col=1,
    )


def _add_logrank(fig: go.Figure, logrank_table: pd.DataFrame) -> None:
    """The log-rank (trend, stratified) p-value in the corner of the curves."""
    row = logrank_table.iloc[0]
    label = "log-rank trend" if row.get("test") == "trend" else "log-rank"
    if row.get("strata"):
        label += f" (stratified by {row['strata']})"
    fig.add_annotation(
        text=f"{label} p = {_format_p(float(row['p_value']))}",
        xref="x domain",
        yref="y domain",
        x=0.02,
        y=0.04,
        showarrow=False,
        xanchor="left",
        font=dict(size=13),
    )


def _km_axes(fig: go.Figure, show_at_risk: bool, ticks, t_max: float, time_label, title) -> None:
    """Axes, ranges and layout of the Kaplan-Meier figure."""
    fig.update_yaxes(title_text="survival probability", range=[0, 1.03], row=1, col=1)
    if show_at_risk:
        fig.update_yaxes(title_text="at risk", autorange="reversed", showgrid=False, row=2, col=1)
        fig.update_xaxes(title_text=time_label or "time", tickvals=ticks, row=2, col=1)
    else:
        fig.update_xaxes(title_text=time_label or "time", row=1, col=1)
    fig.update_xaxes(range=[-0.03 * t_max, t_max * 1.03])
    fig.update_layout(
        template="plotly_white",
        title=title,
        legend=dict(title="group"),
        margin=dict(l=70, r=20, t=60 if title else 30, b=50),
    )


def forest(
    data: pd.DataFrame | md.MuData,
    key: str | None = None,
    *,
    kind: str = "cox",
    label: str | None = None,
    top: int | None = None,
    title: str | None = None,
) -> go.Figure:
    """Forest plot of hazard ratios with their confidence intervals (log scale).

    Parameters
    ----------
    data
        A table with ``hazard_ratio``, ``hr_ci_lower``, ``hr_ci_upper`` (and ``p_value``),
        such as :func:`radiogenomics.tl.cox` or :func:`radiogenomics.tl.cox_screen`
        returns; or the cohort, with ``key`` (and ``kind``) of a stored table.
    label
        Column naming the rows (default ``term``, else ``feature``).
    top
        Only the ``top`` rows with the smallest p-values.

    See Also
    --------
    radiogenomics.tl.cox, radiogenomics.tl.cox_screen : the hazard ratios drawn here.

    Examples
    --------
    >>> import radiogenomics as rg
    >>> mdata = rg.datasets.toy_cohort(n_patients=60)
    >>> table = rg.tl.cox(mdata, ["age", "radiomics:original_shape_VoxelVolume"],
    ...                   time="os_months", event="os_event", key_added="os_model")
    >>> fig = rg.pl.forest(table)
    >>> type(fig).__name__, list(fig.data[0].y), fig.layout.xaxis.type
    ('Figure', ['age', 'radiomics:original_shape_VoxelVolume'], 'log')
    >>> fig.data[0].text[0]
    '1.00 (0.96-1.05), p = ...'
    >>> len(rg.pl.forest(mdata, "os_model").data[0].y)  # the table stored in the cohort
    2
    """
    table = get_result(data, kind, key) if isinstance(data, md.MuData) else data
    needed = {"hazard_ratio", "hr_ci_lower", "hr_ci_upper"}
    if not needed <= set(table.columns):
        raise InputError(
            "forest needs hazard ratios with confidence intervals",
            expected=sorted(needed),
            found=list(table.columns)[:10],
        )
    table = table[np.isfinite(table["hazard_ratio"])]
    if top is not None and "p_value" in table.columns:
        table = table.nsmallest(top, "p_value")
    label = label or ("term" if "term" in table.columns else "feature")
    names = table[label].astype(str).tolist()
    p = table["p_value"].to_numpy() if "p_value" in table.columns else np.full(len(table), np.nan)
    hr = table["hazard_ratio"].to_numpy()
    lo, hi = table["hr_ci_lower"].to_numpy(), table["hr_ci_upper"].to_numpy()
    text = [f"{h:.2f} ({a:.2f}-{b:.2f}), p = {_format_p(q)}" for h, a, b, q in zip(hr, lo, hi, p)]
    fig = go.Figure(
        go.Scatter(
            x=hr,
            y=names,
            mode="markers",
            marker=dict(symbol="square", size=10, color=np.where(hr >= 1, "#d62728", "#1f77b4")),
            error_x=dict(
                type="data",
                symmetric=False,
                array=hi - hr,
                arrayminus=hr - lo,
                thickness=1.5,
                width=4,
                color="#444",
            ),
            text=text,
            hovertemplate="%{y}: HR %{text}<extra></extra>",
            showlegend=False,
        )
    )
    fig.add_vline(x=1.0, line=dict(color="#888", dash="dash"))
    fig.update_xaxes(type="log", title_text="hazard ratio (95% CI)")
    fig.update_yaxes(autorange="reversed")
    fig.update_layout(
        template="plotly_white",
        title=title,
        height=max(250, 40 * len(names) + 120),
        margin=dict(l=10, r=20, t=60 if title else 30, b=50),
    )
    return fig


def survival_volcano(
    data: pd.DataFrame | md.MuData,
    key: str | None = None,
    *,
    effect: str = "hazard_ratio_per_sd",
    q_threshold: float = 0.05,
    label_top: int = 10,
    title: str | None = None,
) -> go.Figure:
    """Volcano plot of a survival screen: log2 hazard ratio against -log10 p-value.

    Parameters
    ----------
    data
        A table from :func:`radiogenomics.tl.cox_screen`, or the cohort with the ``key`` of
        a stored screen.
    effect
        ``"hazard_ratio_per_sd"`` (comparable across features of different scales) or
        ``"hazard_ratio"`` (per unit).
    q_threshold
        Features with a q-value below it are highlighted.
    label_top
        Features with the smallest p-values named on the plot.

    See Also
    --------
    radiogenomics.tl.cox_screen : the screen drawn here.
    forest : the hazard ratios with their intervals.

    Examples
    --------
    >>> import radiogenomics as rg
    >>> mdata = rg.datasets.toy_cohort(n_patients=60)
    >>> screen = rg.tl.cox_screen(mdata, mod="radiomics", time="os_months", event="os_event")
    >>> fig = rg.pl.survival_volcano(screen, label_top=2)
    >>> [trace.name for trace in fig.data], sum(len(trace.x) for trace in fig.data)
    (['q >= 0.05', 'q < 0.05'], 12)
    >>> [note.text for note in fig.layout.annotations]
    ['original_shape_VoxelVolume', 'original_shape_Sphericity']
    >>> rg.pl.survival_volcano(mdata, "radiomics").layout.xaxis.title.text
    'log2 hazard ratio (per SD)'
    """
    table = get_result(data, "survival_screen", key) if isinstance(data, md.MuData) else data
    if effect not in table.columns:
        raise InputError(
            "unknown effect column", expected="hazard_ratio_per_sd or hazard_ratio", found=effect
        )
    ok = table["status"] == "ok" if "status" in table.columns else np.isfinite(table["p_value"])
    shown = table[ok & np.isfinite(table[effect]) & (table[effect] > 0)]
    flagged = int((~ok).sum())
    x = np.log2(shown[effect].to_numpy())
    y = -np.log10(np.maximum(shown["p_value"].to_numpy(), 1e-300))
    significant = shown["q_value"].to_numpy() < q_threshold
    label = shown["feature"].astype(str)
    if "modality" in shown.columns and shown["modality"].nunique() > 1:
        label = shown["modality"].astype(str) + ":" + label
    fig = go.Figure()
    for flag, color, name in (
        (False, "#b0b0b0", f"q >= {q_threshold}"),
        (True, "#d62728", f"q < {q_threshold}"),
    ):
        sel = significant == flag
        fig.add_trace(
            go.Scatter(
                x=x[sel],
                y=y[sel],
                mode="markers",
                name=name,
                marker=dict(color=color, size=7, opacity=0.8),
                text=label[sel],
                customdata=shown["q_value"].to_numpy()[sel],
                hovertemplate="%{text}<br>log2 HR %{x:.2f}<br>-log10 p %{y:.2f}<br>"
                "q %{customdata:.3g}<extra></extra>",
            )
        )
    top = np.argsort(-y)[:label_top]
    for i in top:
        fig.add_annotation(
            x=x[i], y=y[i], text=str(label.iloc[i]), showarrow=False, yshift=10, font=dict(size=10)
        )
    fig.add_vline(x=0, line=dict(color="#888", dash="dash"))
    axis = "per SD" if effect == "hazard_ratio_per_sd" else "per unit"
    fig.update_xaxes(title_text=f"log2 hazard ratio ({axis})")
    fig.update_yaxes(title_text="-log10 p-value")
    subtitle = f"{flagged} feature(s) without an estimate not shown" if flagged else None
    fig.update_layout(
        template="plotly_white", title=title or subtitle, margin=dict(l=60, r=20, t=60, b=50)
    )
    return fig
