"""The figures the pages show, from ``radiogenomics.pl``.

Pages ask this module for a figure; it calls the library's plotting functions and adds
what a dashboard needs on top (the pair names on each volcano point, for clicks).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go

import radiogenomics as rg

from .components import empty_figure

#: Up to this many points a scatter plot is drawn as SVG: a browser draws a few thousand
#: SVG points sooner than it starts WebGL (which has no graphics card on many servers and
#: in headless browsers); beyond it WebGL is faster.
SVG_POINTS = 5000


def _has(name: str) -> bool:
    return callable(getattr(rg.pl, name, None))


def svg_when_small(fig: go.Figure, limit: int = SVG_POINTS) -> go.Figure:
    """The figure with its WebGL scatter traces drawn as SVG when they hold at most
    ``limit`` points in all."""
    gl = [t for t in fig.data if t.type == "scattergl"]
    if not gl or sum(len(t.x) if t.x is not None else 0 for t in gl) > limit:
        return fig
    traces = []
    for trace in fig.data:
        if trace.type == "scattergl":
            spec = trace.to_plotly_json()
            spec.pop("type", None)
            trace = go.Scatter(spec)
        traces.append(trace)
    return go.Figure(data=traces, layout=fig.layout)


def volcano(
    table: pd.DataFrame,
    q_threshold: float | None = 0.05,
    title=None,
    *,
    background: pd.DataFrame | None = None,
    p_line: float | None = None,
    x_label: str = "estimate",
    selected: dict | None = None,
) -> go.Figure | dict:
    """Volcano plot of association rows; each point carries ``[x, y]`` as customdata.

    Returns a ``plotly.graph_objects.Figure``, or with a background the same figure as
    plain data (a dict), the cloud added without validating its points.

    Parameters
    ----------
    table
        The rows to draw (the most significant of the filtered rows).
    background
        A thinned picture of every pair of the table (``TableStore.background``), drawn
        in light grey beneath.
    p_line
        The p-value where the q threshold falls: a dashed line labelled with ``q``.
    x_label
        The horizontal axis title (the estimate with its unit).
    selected
        ``{"x", "y", "estimate", "p_value"}`` of a pair to mark (the figure's only
        annotation, so that a page can replace it alone).
    """
    if table.empty and (background is None or not len(background)):
        return empty_figure("No pair passes the filter.")
    threshold = q_threshold if q_threshold else 0.05
    if table.empty:
        fig = go.Figure()
        fig.update_layout(template="plotly_white")
    elif _has("volcano"):
        fig = svg_when_small(
            rg.pl.volcano(table, q_threshold=threshold, label_top=0, title=title or "")
        )
    else:
        fig = _volcano(table, q_threshold)
    _attach_pairs(fig, table)
    if p_line is not None and p_line > 0:
        level = float(-np.log10(max(p_line, 1e-300)))
        fig.add_hline(
            y=level,
            line=dict(color="#c0392b", width=1, dash="dash"),
            label=dict(
                text=f"q = {threshold:g}", textposition="end", font=dict(size=11, color="#c0392b")
            ),
        )
    fig.update_layout(
        height=440,
        margin=dict(l=10, r=10, t=30, b=40),
        clickmode="event",
        title=None,
        xaxis_title=x_label,
        yaxis_title="-log10 p-value",
        legend=dict(orientation="h", y=-0.18, x=0),
    )
    if title:
        fig.update_layout(title=title)
    if selected:
        fig.update_layout(annotations=[selected_mark(selected)])
    if background is None or not len(background):
        return fig
    # the cloud joins the figure as plain data: no validation of thousands of points
    out = fig.to_plotly_json()
    out["data"].insert(0, background_trace(background))
    return out


def background_trace(background: pd.DataFrame) -> dict:
    """The thinned picture of every pair as a light grey scatter trace (plain lists of
    numbers, light to send; kept per table by the page)."""
    if "_trace" in background.attrs:
        return background.attrs["_trace"]
    with np.errstate(divide="ignore"):
        minus_log_p = -np.log10(np.clip(background["p_value"].to_numpy(float), 1e-300, 1))
    trace = {
        "type": "scatter",
        "mode": "markers",
        "name": "all pairs (thinned)",
        "x": np.round(background["estimate"].to_numpy(float), 4).tolist(),
        "y": np.round(minus_log_p, 3).tolist(),
        "marker": {"size": 4, "color": "#c9d1db", "opacity": 0.6},
        "hovertemplate": "estimate %{x:.3g}<br>-log10 p %{y:.2f}<extra>all pairs</extra>",
    }
    background.attrs["_trace"] = trace
    return trace


def selected_mark(selected: dict) -> dict:
    """The annotation that marks a chosen pair on a volcano plot (an arrow and its name)."""
    with np.errstate(divide="ignore"):
        level = float(-np.log10(max(float(selected["p_value"]), 1e-300)))
    return dict(
        x=float(selected["estimate"]),
        y=level,
        xref="x",
        yref="y",
        text=f"{selected['x']} ~ {selected['y']}",
        showarrow=True,
        arrowhead=2,
        arrowcolor="#17324f",
        ax=40,
        ay=-40,
        bgcolor="#fff7d6",
        bordercolor="#17324f",
        font=dict(size=11, color="#17324f"),
        name="selected",
    )


def _volcano(table: pd.DataFrame, q_threshold) -> go.Figure:
    with np.errstate(divide="ignore"):
        minus_log_p = -np.log10(np.clip(table["p_value"].to_numpy(float), 1e-300, 1))
    significant = table["q_value"].to_numpy(float) <= (q_threshold or 0.05)
    fig = go.Figure()
    for mask, name, color in (
        (~significant, "not significant", "#a9b4c2"),
        (significant, f"q ≤ {q_threshold or 0.05:g}", "#c0392b"),
    ):
        part = table[mask]
        fig.add_scatter(
            x=part["estimate"],
            y=minus_log_p[mask],
            mode="markers",
            name=name,
            marker=dict(size=6, color=color, opacity=0.75),
            text=part["x"] + " ~ " + part["y"],
            hovertemplate="%{text}<br>estimate %{x:.3g}<br>-log10 p %{y:.2f}<extra></extra>",
        )
    fig.update_layout(
        template="plotly_white",
        xaxis_title="estimate",
        yaxis_title="-log10 p-value",
        legend=dict(orientation="h", y=1.08),
    )
    return fig


def _attach_pairs(fig: go.Figure, table: pd.DataFrame) -> None:
    """Put ``[x, y]`` on every point of every trace, matched by the trace's coordinates."""
    key = {}
    with np.errstate(divide="ignore"):
        minus_log_p = -np.log10(np.clip(table["p_value"].to_numpy(float), 1e-300, 1))
    for xv, yv, x, y in zip(table["estimate"].to_numpy(float), minus_log_p, table["x"], table["y"]):
        key.setdefault((round(float(xv), 12), round(float(yv), 9)), [str(x), str(y)])
    for trace in fig.data:
        if (
            getattr(trace, "x", None) is None
            or getattr(trace, "y", None) is None
            or len(trace.x) == 0
        ):
            continue
        if trace.customdata is not None and len(trace.customdata) == len(trace.x):
            first = trace.customdata[0]
            if (
                isinstance(first, list | tuple | np.ndarray)
                and len(first) >= 2
                and str(first[0]) in set(table["x"].astype(str))
            ):
                continue
        trace.customdata = [
            key.get((round(float(a), 12), round(float(b), 9)), ["", ""])
            for a, b in zip(trace.x, trace.y)
        ]


def heatmap(block: pd.DataFrame, value: str = "estimate", q_threshold: float = 0.05) -> go.Figure:
    """Clustered heatmap of a block of pairs (long form x, y, value, p_value, q_value)."""
    if block.empty:
        return empty_figure("No pair passes the filter.")
    if _has("heatmap"):
        fig = rg.pl.heatmap(
            block,
            value=value,
            q_threshold=q_threshold,
            x_names=list(dict.fromkeys(block["x"])),
            y_names=list(dict.fromkeys(block["y"])),
            title="",
        )
    else:
        fig = _heatmap(block.pivot_table(index="x", columns="y", values=value, aggfunc="first"))
    n_rows = block["x"].nunique()
    # as wide as the page, a readable row per feature
    fig.update_layout(
        width=None,
        autosize=True,
        height=max(460, 20 * n_rows + 200),
        margin=dict(l=10, r=10, t=30, b=10),
        title=None,
    )
    return fig


def _heatmap(matrix: pd.DataFrame) -> go.Figure:
    limit = float(np.nanmax(np.abs(matrix.to_numpy(float)))) if matrix.size else 1.0
    fig = go.Figure(
        go.Heatmap(
            z=matrix.to_numpy(float),
            x=list(matrix.columns),
            y=list(matrix.index),
            colorscale="RdBu_r",
            zmid=0,
            zmin=-limit,
            zmax=limit,
            colorbar=dict(title="estimate"),
        )
    )
    fig.update_layout(
        template="plotly_white", yaxis=dict(automargin=True), xaxis=dict(tickangle=-60)
    )
    return fig


def pair(
    mdata,
    x_modality: str,
    x: str,
    y_modality: str,
    y: str,
    method: str | None = None,
    covariates: str = "",
) -> go.Figure:
    """Scatter (or box) plot of one pair over the cohort's patients."""
    if _has("pair"):
        fig = rg.pl.pair(
            mdata,
            x,
            y,
            x=x_modality,
            y=y_modality,
            method=method,
            covariates=[c for c in str(covariates or "").split(",") if c],
        )
        fig.update_layout(height=400, margin=dict(l=10, r=10, t=60, b=40))
        return fig
    from radiogenomics._data import modality_block

    xs = modality_block(mdata, x_modality, features=[x]).values[:, 0]
    ys = modality_block(mdata, y_modality, features=[y]).values[:, 0]
    keep = ~np.isnan(xs) & ~np.isnan(ys)
    xs, ys = xs[keep], ys[keep]
    binary = set(np.unique(ys)) <= {0.0, 1.0}
    fig = go.Figure()
    if binary:
        for level in (0.0, 1.0):
            fig.add_box(
                y=xs[ys == level],
                name=f"{y} = {int(level)}",
                boxpoints="all",
                jitter=0.4,
                pointpos=0,
                marker=dict(size=5),
            )
        fig.update_layout(yaxis_title=x)
    else:
        fig.add_scatter(
            x=xs, y=ys, mode="markers", marker=dict(size=7, color="#2c6fbb", opacity=0.8)
        )
        fig.update_layout(xaxis_title=x, yaxis_title=y)
    fig.update_layout(
        template="plotly_white", showlegend=False, height=380, margin=dict(l=10, r=10, t=30, b=40)
    )
    return fig
