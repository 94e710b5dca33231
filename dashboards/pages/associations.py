"""Association explorer: filter an association table on the server, see the volcano plot,
a clustered heatmap and the rows, download the filtered rows, open one pair's plot."""

from __future__ import annotations

from urllib.parse import urlencode

import dash
import plotly.graph_objects as go
from dash import ClientsideFunction, Input, Output, Patch, State, dcc, html, no_update
from dash.exceptions import PreventUpdate

import radiogenomics as rg

from .. import figures
from ..components import card, empty_figure, graph, notice, options, records, table
from ..results import Results
from ..store import TableFilter
from ..units import estimate_label

PATH = "/associations"
TITLE = "Associations"

Q_CHOICES = [0.001, 0.01, 0.05, 0.1, 0.25, 1.0]
TABLE_COLUMNS = ["x", "y", "method", "n", "estimate", "ci_lower", "ci_upper", "p_value", "q_value"]
#: The volcano plots the most significant filtered pairs, at most this many: enough for
#: its shape and its strongest pairs, light to send and to draw (the table holds them all).
VOLCANO_POINTS = 1500
PAGE_SIZE = 15


def table_label(key: str, store) -> str:
    modalities = (
        f"{'/'.join(store.distinct('x_modality', 5))} ~ {'/'.join(store.distinct('y_modality', 5))}"
    )
    methods = ", ".join(store.distinct("method", 5))
    return f"{modalities} ({methods}): {store.n_rows:,} pairs [{key}]"


DEFAULT_Q = 0.05


def summary(results: Results, key: str, flt: TableFilter) -> tuple:
    """The count text, volcano and heatmap of a table under a filter (kept for the next
    request). The volcano draws a thinned picture of every pair beneath the filtered ones
    and the line where the q threshold falls."""

    def compute():
        store = results.associations[key]
        count = store.count(flt)
        top = store.top(flt, VOLCANO_POINTS, ["x", "y", "estimate", "p_value", "q_value"])
        shown = f" (the {len(top):,} most significant are plotted)" if count > len(top) else ""
        text = f"{count:,} of {store.n_rows:,} pairs match{shown}."
        q = flt.q_max if flt.q_max and flt.q_max < 1 else DEFAULT_Q
        return (
            text,
            figures.volcano(
                top,
                q_threshold=q,
                background=store.background(),
                p_line=store.p_threshold(q),
                x_label=estimate_axis(results, key),
            ),
            figures.heatmap(store.block(flt), q_threshold=q),
        )

    return results.memo("associations-summary", (key, flt), compute, size=128)


def estimate_axis(results: Results, key: str) -> str:
    """What the table's estimate measures, with its unit (the volcano's axis)."""
    store = results.associations[key]
    methods = store.distinct("method", 3)
    x_mod = "/".join(store.distinct("x_modality", 3))
    y_mod = "/".join(store.distinct("y_modality", 3))
    return estimate_label(methods[0] if len(methods) == 1 else None, x_mod, y_mod, results.mdata)


def ordered_tables(results: Results) -> list[str]:
    """The association tables, the largest first."""
    return sorted(results.associations, key=lambda k: -results.associations[k].n_rows)


def pair_name(results: Results, key: str) -> str:
    """How the address names a table: ``<x modality>_vs_<y modality>`` when that names
    only this table, else its key."""
    store = results.associations[key]
    name = "_vs_".join(
        ["/".join(store.distinct("x_modality", 3)), "/".join(store.distinct("y_modality", 3))]
    )
    same = [
        k
        for k in results.associations
        if "_vs_".join(
            [
                "/".join(results.associations[k].distinct("x_modality", 3)),
                "/".join(results.associations[k].distinct("y_modality", 3)),
            ]
        )
        == name
    ]
    return name if len(same) == 1 else key


def read_query(results: Results, params: dict | None) -> dict:
    """The page's state from its query string: ``pair`` (a table, by its modality pair
    ``radiomics_vs_rna`` or its key), ``q``, ``gene`` and ``feature`` (name searches),
    ``method``, ``class``, and ``x`` with ``y`` (the pair shown)."""
    params = params or {}
    keys = ordered_tables(results)
    state = {
        "table": keys[0],
        "q": DEFAULT_Q,
        "method": None,
        "feature_class": None,
        "x_search": "",
        "y_search": "",
        "selected": None,
    }
    wanted = params.get("pair")
    if wanted in results.associations:
        state["table"] = wanted
    elif wanted:
        state["table"] = next((k for k in keys if pair_name(results, k) == wanted), keys[0])
    try:
        q = float(params.get("q", DEFAULT_Q))
    except ValueError:
        q = DEFAULT_Q
    state["q"] = q if q in Q_CHOICES else DEFAULT_Q
    store = results.associations[state["table"]]
    if params.get("method") in store.distinct("method"):
        state["method"] = params["method"]
    if params.get("class") in store.classes:
        state["feature_class"] = params["class"]
    state["x_search"] = (params.get("feature") or "")[:100]
    state["y_search"] = (params.get("gene") or "")[:100]
    if params.get("x") and params.get("y"):
        state["selected"] = {"table": state["table"], "x": params["x"], "y": params["y"]}
    return state


def rows_page(
    results: Results, key: str, flt: TableFilter, page=0, page_size=PAGE_SIZE, sort_by=None
) -> tuple[list[dict], int, str]:
    """One page of the table's filtered rows, the number of pages and the download link."""
    store = results.associations[key]
    size = int(page_size or PAGE_SIZE)
    count = store.count(flt)
    pages = max(1, -(-count // size))
    page = min(int(page or 0), pages - 1)
    frame = store.page(
        flt, sort_by, page, size, columns=[*TABLE_COLUMNS, "x_modality", "y_modality"]
    )
    return records(frame), pages, dash.get_relative_path(download_href(key, flt, sort_by))


def layout(results: Results, params: dict | None = None):
    if not results.associations:
        return card(
            "Associations",
            notice(
                "No association table was found in the results. "
                "Run rg.tl.associate and export its table."
            ),
        )
    state = read_query(results, params)
    key = state["table"]
    store = results.associations[key]
    flt = _filter(
        state["q"], state["method"], state["feature_class"], state["x_search"], state["y_search"]
    )
    count, volcano, heatmap = summary(results, key, flt)
    rows, pages, href = rows_page(results, key, flt)
    choices = results.memo(
        "associations-choices",
        None,
        lambda: [
            {"label": table_label(k, results.associations[k]), "value": k}
            for k in ordered_tables(results)
        ],
    )
    pair_figure, pair_stats = (
        empty_figure("No pair selected."),
        notice("Click a point of the volcano plot or a row of the table."),
    )
    selected = None
    if state["selected"]:
        shown = pair_view(results, state["selected"])
        if shown is not None:
            selected = state["selected"]
            pair_figure, pair_stats, mark = shown
            volcano = go.Figure(volcano)
            volcano.update_layout(annotations=[figures.selected_mark(mark)])
    return html.Div(
        [
            card(
                "Filter",
                html.Div(
                    className="rg-controls",
                    children=[
                        html.Label(
                            [
                                "Modality pair and method",
                                dcc.Dropdown(
                                    id="assoc-table", clearable=False, value=key, options=choices
                                ),
                            ],
                            className="rg-wide",
                        ),
                        html.Label(
                            [
                                "q-value at most",
                                dcc.Dropdown(
                                    id="assoc-q",
                                    clearable=False,
                                    value=state["q"],
                                    options=[
                                        {"label": "all" if q == 1 else f"{q:g}", "value": q}
                                        for q in Q_CHOICES
                                    ],
                                ),
                            ]
                        ),
                        html.Label(
                            [
                                "Method",
                                dcc.Dropdown(
                                    id="assoc-method",
                                    options=options(store.distinct("method")),
                                    value=state["method"],
                                    placeholder="all",
                                ),
                            ]
                        ),
                        html.Label(
                            [
                                "Feature class",
                                dcc.Dropdown(
                                    id="assoc-class",
                                    options=options(store.classes),
                                    value=state["feature_class"],
                                    placeholder="all",
                                ),
                            ]
                        ),
                        html.Label(
                            [
                                "Feature contains",
                                dcc.Input(
                                    id="assoc-x-search",
                                    type="text",
                                    debounce=True,
                                    placeholder="e.g. glcm",
                                    value=state["x_search"],
                                ),
                            ]
                        ),
                        html.Label(
                            [
                                "Gene contains",
                                dcc.Input(
                                    id="assoc-y-search",
                                    type="text",
                                    debounce=True,
                                    placeholder="e.g. MKI67",
                                    value=state["y_search"],
                                ),
                            ]
                        ),
                    ],
                ),
                html.Div(
                    className="rg-row",
                    children=[
                        html.Span(count, id="assoc-count", className="rg-count"),
                        html.A(
                            "Download the filtered rows (CSV)",
                            id="assoc-download",
                            href=href,
                            className="rg-button",
                            download="associations.csv",
                        ),
                    ],
                ),
            ),
            html.Div(
                className="rg-grid-2",
                children=[
                    card("Volcano plot (click a point)", graph("assoc-volcano", volcano)),
                    card(
                        "Pair",
                        html.Div(
                            id="assoc-pair-stats", className="rg-pair-stats", children=pair_stats
                        ),
                        graph("assoc-pair", pair_figure),
                    ),
                ],
            ),
            card(
                "Rows",
                table(
                    "assoc-rows",
                    TABLE_COLUMNS,
                    rows,
                    page_size=PAGE_SIZE,
                    server_side=True,
                    page_count=pages,
                ),
            ),
            card(
                "Clustered heatmap of the most significant features and genes",
                graph("assoc-heatmap", heatmap),
            ),
            dcc.Store(id="assoc-selected", data=selected or {}),
            dcc.Store(
                id="assoc-pair-names", data={k: pair_name(results, k) for k in results.associations}
            ),
            dcc.Store(
                id="assoc-defaults", data={"pair": pair_name(results, ordered_tables(results)[0])}
            ),
        ]
    )


def pair_view(results: Results, selected: dict):
    """The pair's figure, its statistics and where it sits on the volcano, or ``None``
    when the table has no such pair."""
    store = results.associations.get(selected.get("table"))
    if store is None:
        return None
    rows = store.pair(selected["x"], selected["y"])
    if rows.empty:
        return None
    row = rows.iloc[0]
    stats = html.Table(
        className="rg-kv",
        children=[
            html.Tbody(
                [
                    html.Tr([html.Th("pair"), html.Td(f"{row['x']} ~ {row['y']}", id="pair-name")]),
                    *[
                        html.Tr([html.Th(label), html.Td(value)])
                        for label, value in (
                            ("method", row["method"]),
                            ("patients", f"{int(row['n'])}"),
                            (
                                estimate_label(
                                    row["method"],
                                    row["x_modality"],
                                    row["y_modality"],
                                    results.mdata,
                                )
                                + " (95% CI)",
                                f"{row['estimate']:.3g} ({row['ci_lower']:.3g} to {row['ci_upper']:.3g})",
                            ),
                            ("p-value", f"{row['p_value']:.3g}"),
                            ("q-value", f"{row['q_value']:.3g}"),
                            ("covariates", row["covariates"] or "none"),
                        )
                    ],
                ]
            )
        ],
    )
    mark = {"x": row["x"], "y": row["y"], "estimate": row["estimate"], "p_value": row["p_value"]}
    if results.mdata is None:
        return empty_figure("No cohort: the pair's values are not available."), stats, mark
    try:
        fig = figures.pair(
            results.mdata,
            row["x_modality"],
            row["x"],
            row["y_modality"],
            row["y"],
            method=row["method"],
            covariates=row["covariates"],
        )
    except rg.errors.RadiogenomicsError:  # a table of another cohort: not in this one
        fig = empty_figure("This pair's values are not in the cohort.")
    return fig, stats, mark


def _filter(q, method, feature_class, x_search, y_search) -> TableFilter:
    return TableFilter(
        q_max=float(q) if q is not None else None,
        method=method or None,
        feature_class=feature_class or None,
        x_search=(x_search or "").strip()[:100],
        y_search=(y_search or "").strip()[:100],
    )


def download_href(key: str, flt: TableFilter, sort_by=None) -> str:
    params = {"table": key}
    if flt.q_max is not None:
        params["q"] = f"{flt.q_max:g}"
    for name, value in (
        ("method", flt.method),
        ("class", flt.feature_class),
        ("xs", flt.x_search),
        ("ys", flt.y_search),
    ):
        if value:
            params[name] = value
    if sort_by:
        params["sort"] = sort_by[0].get("column_id", "")
        params["dir"] = sort_by[0].get("direction", "asc")
    return "/download/associations.csv?" + urlencode(params)


def register(app, results: Results) -> None:
    """The explorer's callbacks; none runs when a page loads, whose layout already holds
    what they would return for the controls' first values."""
    filters = [
        Input("assoc-table", "value"),
        Input("assoc-q", "value"),
        Input("assoc-method", "value"),
        Input("assoc-class", "value"),
        Input("assoc-x-search", "value"),
        Input("assoc-y-search", "value"),
    ]

    def store_of(key):
        store = results.associations.get(key)
        if store is None:
            raise PreventUpdate
        return store

    @app.callback(
        Output("assoc-method", "options"),
        Output("assoc-class", "options"),
        Input("assoc-table", "value"),
        prevent_initial_call=True,
    )
    def table_options(key):
        store = store_of(key)
        return options(store.distinct("method")), options(store.classes)

    @app.callback(
        Output("assoc-count", "children"),
        Output("assoc-volcano", "figure"),
        Output("assoc-heatmap", "figure"),
        *filters,
        prevent_initial_call=True,
    )
    def overview(key, q, method, feature_class, x_search, y_search):
        store_of(key)
        return summary(results, key, _filter(q, method, feature_class, x_search, y_search))

    @app.callback(
        Output("assoc-rows", "data"),
        Output("assoc-rows", "page_count"),
        Output("assoc-download", "href"),
        *filters,
        Input("assoc-rows", "page_current"),
        Input("assoc-rows", "page_size"),
        Input("assoc-rows", "sort_by"),
        prevent_initial_call=True,
    )
    def rows(key, q, method, feature_class, x_search, y_search, page, page_size, sort_by):
        store_of(key)
        return rows_page(
            results,
            key,
            _filter(q, method, feature_class, x_search, y_search),
            page,
            page_size,
            sort_by,
        )

    @app.callback(
        Output("assoc-selected", "data"),
        Input("assoc-volcano", "clickData"),
        Input("assoc-rows", "active_cell"),
        State("assoc-rows", "data"),
        State("assoc-table", "value"),
        prevent_initial_call=True,
    )
    def select(click, active, data, key):
        from dash import ctx

        if ctx.triggered_id == "assoc-volcano" and click:
            point = click["points"][0]
            custom = point.get("customdata")
            if not custom or not custom[0]:
                raise PreventUpdate
            return {"table": key, "x": str(custom[0]), "y": str(custom[1])}
        if ctx.triggered_id == "assoc-rows" and active and data:
            row = data[min(int(active["row"]), len(data) - 1)]
            return {"table": key, "x": row["x"], "y": row["y"]}
        raise PreventUpdate

    @app.callback(
        Output("assoc-pair", "figure"),
        Output("assoc-pair-stats", "children"),
        Input("assoc-selected", "data"),
        prevent_initial_call=True,
    )
    def show_pair(selected):
        if not selected:
            raise PreventUpdate
        store_of(selected.get("table"))
        shown = pair_view(results, selected)
        if shown is None:
            return empty_figure("Pair not found."), no_update
        return shown[0], shown[1]

    @app.callback(
        Output("assoc-volcano", "figure", allow_duplicate=True),
        Input("assoc-selected", "data"),
        prevent_initial_call=True,
    )
    def highlight(selected):
        """The chosen pair marked on the volcano (only the mark travels)."""
        if not selected:
            raise PreventUpdate
        store = store_of(selected.get("table"))
        rows = store.pair(selected["x"], selected["y"])
        if rows.empty:
            raise PreventUpdate
        row = rows.iloc[0]
        patched = Patch()
        patched["layout"]["annotations"] = [
            figures.selected_mark(
                {
                    "x": row["x"],
                    "y": row["y"],
                    "estimate": row["estimate"],
                    "p_value": row["p_value"],
                }
            )
        ]
        return patched

    app.clientside_callback(
        ClientsideFunction("rg", "associationsSearch"),
        Output("url", "search", allow_duplicate=True),
        *filters,
        Input("assoc-selected", "data"),
        State("assoc-pair-names", "data"),
        State("assoc-defaults", "data"),
        prevent_initial_call=True,
    )
