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


def volcano(table: pd.DataFrame, q_threshold: float | None = 0.05, title=None) -> go.Figure:
    """Volcano plot of association rows; each point carries ``[x, y]`` as customdata."""
    if table.empty:
        return empty_figure("No pair passes the filter.")
    if _has("volcano"):
        fig = svg_when_small(rg.pl.volcano(
            table, q_threshold=q_threshold if q_threshold else 0.05, label_top=0,
            title=title or ""))
    else:
        fig = _volcano(table, q_threshold)
    _attach_pairs(fig, table)
    fig.update_layout(height=420, margin=dict(l=10, r=10, t=30, b=40), clickmode="event")
    if title:
        fig.update_layout(title=title)
    return fig


def _volcano(table: pd.DataFrame, q_threshold) -> go.Figure:
    with np.errstate(divide="ignore"):
        minus_log_p = -np.log10(np.clip(table["p_value"].to_numpy(float), 1e-300, 1))
    significant = table["q_value"].to_numpy(float) <= (q_threshold or 0.05)
    fig = go.Figure()
    for mask, name, color in ((~significant, "not significant", "#a9b4c2"),
                              (significant, f"q ≤ {q_threshold or 0.05:g}", "#c0392b")):
        part = table[mask]
        fig.add_scatter(
            x=part["estimate"], y=minus_log_p[mask], mode="markers", name=name,
            marker=dict(size=6, color=color, opacity=0.75),
            text=part["x"] + " ~ " + part["y"],
            hovertemplate="%{text}<br>estimate %{x:.3g}<br>-log10 p %{y:.2f}<extra></extra>")
    fig.update_layout(template="plotly_white", xaxis_title="estimate",
                      yaxis_title="-log10 p-value", legend=dict(orientation="h", y=1.08))
    return fig


def _attach_pairs(fig: go.Figure, table: pd.DataFrame) -> None:
    """Put ``[x, y]`` on every point of every trace, matched by the trace's coordinates."""
    key = {}
    with np.errstate(divide="ignore"):
        minus_log_p = -np.log10(np.clip(table["p_value"].to_numpy(float), 1e-300, 1))
    for xv, yv, x, y in zip(table["estimate"].to_numpy(float), minus_log_p, table["x"],
                            table["y"]):
        key.setdefault((round(float(xv), 12), round(float(yv), 9)), [str(x), str(y)])
    for trace in fig.data:
        if getattr(trace, "x", None) is None or getattr(trace, "y", None) is None or len(
                trace.x) == 0:
            continue
        if trace.customdata is not None and len(trace.customdata) == len(trace.x):
            first = trace.customdata[0]
            if isinstance(first, list | tuple | np.ndarray) and len(first) >= 2 and str(
                    first[0]) in set(table["x"].astype(str)):
                continue
        trace.customdata = [key.get((round(float(a), 12), round(float(b), 9)), ["", ""])
                            for a, b in zip(trace.x, trace.y)]


def heatmap(block: pd.DataFrame, value: str = "estimate",
            q_threshold: float = 0.05) -> go.Figure:
    """Clustered heatmap of a block of pairs (long form x, y, value, p_value, q_value)."""
    if block.empty:
        return empty_figure("No pair passes the filter.")
    if _has("heatmap"):
        fig = rg.pl.heatmap(block, value=value, q_threshold=q_threshold,
                            x_names=list(dict.fromkeys(block["x"])),
                            y_names=list(dict.fromkeys(block["y"])), title="")
    else:
        fig = _heatmap(block.pivot_table(index="x", columns="y", values=value,
                                         aggfunc="first"))
    fig.update_layout(height=460, margin=dict(l=10, r=10, t=30, b=10))
    return fig


def _heatmap(matrix: pd.DataFrame) -> go.Figure:
    limit = float(np.nanmax(np.abs(matrix.to_numpy(float)))) if matrix.size else 1.0
    fig = go.Figure(go.Heatmap(z=matrix.to_numpy(float), x=list(matrix.columns),
                               y=list(matrix.index), colorscale="RdBu_r", zmid=0,
                               zmin=-limit, zmax=limit, colorbar=dict(title="estimate")))
    fig.update_layout(template="plotly_white", yaxis=dict(automargin=True),
                      xaxis=dict(tickangle=-60))
    return fig


def pair(mdata, x_modality: str, x: str, y_modality: str, y: str, method: str | None = None,
         covariates: str = "") -> go.Figure:
    """Scatter (or box) plot of one pair over the cohort's patients."""
    if _has("pair"):
        fig = rg.pl.pair(mdata, x, y, x=x_modality, y=y_modality, method=method,
                         covariates=[c for c in str(covariates or "").split(",") if c])
        fig.update_layout(height=400, margin=dict(l=10, r=10, t=60, b=40))
        return fig
    from radiogenomics.tl._data import modality_block

    xs = modality_block(mdata, x_modality, features=[x]).values[:, 0]
    ys = modality_block(mdata, y_modality, features=[y]).values[:, 0]
    keep = ~np.isnan(xs) & ~np.isnan(ys)
    xs, ys = xs[keep], ys[keep]
    binary = set(np.unique(ys)) <= {0.0, 1.0}
    fig = go.Figure()
    if binary:
        for level in (0.0, 1.0):
            fig.add_box(y=xs[ys == level], name=f"{y} = {int(level)}", boxpoints="all",
                        jitter=0.4, pointpos=0, marker=dict(size=5))
        fig.update_layout(yaxis_title=x)
    else:
        fig.add_scatter(x=xs, y=ys, mode="markers", marker=dict(size=7, color="#2c6fbb",
                                                                 opacity=0.8))
        fig.update_layout(xaxis_title=x, yaxis_title=y)
    fig.update_layout(template="plotly_white", showlegend=False, height=380,
                      margin=dict(l=10, r=10, t=30, b=40))
    return fig
