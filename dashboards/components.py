"""Pieces shared by the pages: header, cards, tables, empty figures, number formats."""

from __future__ import annotations

import math

import pandas as pd
import plotly.graph_objects as go
from dash import dash_table, dcc, html

NAV = [
    ("/", "Cohort"),
    ("/associations", "Associations"),
    ("/survival", "Survival"),
    ("/patient", "Patient"),
    ("/models", "Models"),
    ("/subtypes", "Subtypes"),
    ("/compare", "Compare"),
]


def nav_class(href: str, active: str | None) -> str:
    """The class of a navigation link: marked when it is the page shown."""
    current = "/" + (active or "").strip("/")
    return "rg-nav-link rg-nav-active" if current == href else "rg-nav-link"


def header(title: str, active: str | None = None, report: str | None = None) -> html.Header:
    """The header with the navigation, the page at ``active`` marked (the browser keeps
    the mark up to date as the user moves between pages); ``report`` is the address of
    the study report, when there is one."""
    links = [
        dcc.Link(label, href=href, id=f"nav-{label.lower()}", className=nav_class(href, active))
        for href, label in NAV
    ]
    if report:
        links.append(
            html.A("Report", href=report, id="nav-report", target="_blank", className="rg-nav-link")
        )
    return html.Header(
        className="rg-header",
        children=[
            html.Div(title, className="rg-title"),
            html.Nav(className="rg-nav", children=links),
        ],
    )


def card(title: str | None, *children, id: str | None = None, class_name: str = "") -> html.Section:
    kwargs = {"id": id} if id else {}
    return html.Section(
        className=f"rg-card {class_name}".strip(),
        children=[html.H3(title, className="rg-card-title") if title else None, *children],
        **kwargs,
    )


def stat(label: str, value, id: str | None = None) -> html.Div:
    kwargs = {"id": id} if id else {}
    return html.Div(
        className="rg-stat",
        children=[
            html.Div(value, className="rg-stat-value", **kwargs),
            html.Div(label, className="rg-stat-label"),
        ],
    )


def notice(text: str, kind: str = "info") -> html.Div:
    return html.Div(text, className=f"rg-notice rg-notice-{kind}")


def empty_figure(message: str = "", height: int = 320) -> go.Figure:
    fig = go.Figure()
    fig.update_layout(
        template="plotly_white",
        height=height,
        xaxis=dict(visible=False),
        yaxis=dict(visible=False),
        margin=dict(l=10, r=10, t=10, b=10),
        annotations=[
            dict(
                text=message,
                showarrow=False,
                x=0.5,
                y=0.5,
                xref="paper",
                yref="paper",
                font=dict(size=14, color="#667"),
            )
        ]
        if message
        else [],
    )
    return fig


def graph(
    id,
    figure: go.Figure | None = None,
    height: int | None = None,
    config: dict | None = None,
    **kwargs,
) -> dcc.Graph:
    style = {"height": f"{height}px"} if height else {}
    return dcc.Graph(
        id=id,
        figure=figure if figure is not None else empty_figure(),
        config={"displaylogo": False, **(config or {})},
        style=style,
        **kwargs,
    )


def format_number(value) -> str:
    """Short text of a number for tables: 3 significant digits, scientific when tiny."""
    if value is None:
        return ""
    try:
        number = float(value)
    except (TypeError, ValueError):
        return str(value)
    if math.isnan(number):
        return ""
    if number == 0:
        return "0"
    if abs(number) < 1e-3 or abs(number) >= 1e5:
        return f"{number:.2e}"
    return f"{number:.3g}"


def records(frame: pd.DataFrame) -> list[dict]:
    """DataFrame rows as JSON-safe records with numbers formatted for reading."""
    out = frame.copy()
    for column in out.columns:
        if pd.api.types.is_float_dtype(out[column].dtype):
            out[column] = [format_number(v) for v in out[column]]
        elif isinstance(out[column].dtype, pd.CategoricalDtype) or out[column].dtype == object:
            out[column] = out[column].astype(object).where(out[column].notna(), "").astype(str)
        elif pd.api.types.is_bool_dtype(out[column].dtype):
            out[column] = out[column].map({True: "yes", False: "no"})
    return out.to_dict("records")


def table(
    id: str,
    columns: list[str],
    data: list[dict] | None = None,
    page_size: int = 15,
    server_side: bool = False,
    **kwargs,
) -> dash_table.DataTable:
    """A DataTable; ``server_side`` pages and sorts through callbacks (custom actions)."""
    options = (
        dict(page_action="custom", sort_action="custom", sort_mode="single", page_current=0)
        if server_side
        else dict(page_action="native", sort_action="native")
    )
    return dash_table.DataTable(
        id=id,
        columns=[{"name": c.replace("_", " "), "id": c} for c in columns],
        data=data or [],
        page_size=page_size,
        style_table={"overflowX": "auto"},
        style_cell={
            "fontFamily": "inherit",
            "fontSize": "13px",
            "padding": "4px 8px",
            "textAlign": "left",
            "maxWidth": "340px",
            "overflow": "hidden",
            "textOverflow": "ellipsis",
        },
        style_header={"fontWeight": "600", "backgroundColor": "#f3f5f8"},
        style_data_conditional=[
            {"if": {"state": "active"}, "backgroundColor": "#e8eef6", "border": "1px solid #2c6fbb"}
        ],
        **options,
        **kwargs,
    )


def options(values, labels=None) -> list[dict]:
    labels = labels or {}
    return [{"label": labels.get(v, str(v)), "value": v} for v in values]
