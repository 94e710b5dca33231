"""Association explorer: filter an association table on the server, see the volcano plot,
a clustered heatmap and the rows, download the filtered rows, open one pair's plot."""

from __future__ import annotations

from urllib.parse import urlencode

import dash
from dash import Input, Output, State, dcc, html, no_update
from dash.exceptions import PreventUpdate

import radiogenomics as rg

from .. import figures
from ..components import card, empty_figure, graph, notice, options, records, table
from ..results import Results
from ..store import TableFilter

PATH = "/associations"
TITLE = "Associations"

Q_CHOICES = [0.001, 0.01, 0.05, 0.1, 0.25, 1.0]
TABLE_COLUMNS = ["x", "y", "method", "n", "estimate", "ci_lower", "ci_upper", "p_value",
                 "q_value"]
#: The volcano plots the most significant filtered pairs, at most this many: enough for
#: its shape and its strongest pairs, light to send and to draw (the table holds them all).
VOLCANO_POINTS = 1500
PAGE_SIZE = 15


def table_label(key: str, store) -> str:
    modalities = f"{'/'.join(store.distinct('x_modality', 5))} ~ " \
                 f"{'/'.join(store.distinct('y_modality', 5))}"
    methods = ", ".join(store.distinct("method", 5))
    return f"{modalities} ({methods}): {store.n_rows:,} pairs [{key}]"


DEFAULT_Q = 0.05


def summary(results: Results, key: str, flt: TableFilter) -> tuple:
    """The count text, volcano and heatmap of a table under a filter (kept for the next
    request)."""
    def compute():
        store = results.associations[key]
        count = store.count(flt)
        top = store.top(flt, VOLCANO_POINTS, ["x", "y", "estimate", "p_value", "q_value"])
        shown = f" (the {len(top):,} most significant are plotted)" if count > len(top) else ""
        text = f"{count:,} of {store.n_rows:,} pairs match{shown}."
        q = flt.q_max
        return (text, figures.volcano(top, q_threshold=q if q and q < 1 else 0.05),
                figures.heatmap(store.block(flt), q_threshold=q if q and q < 1 else 0.05))

    return results.memo("associations-summary", (key, flt), compute, size=128)


def rows_page(results: Results, key: str, flt: TableFilter, page=0, page_size=PAGE_SIZE,
              sort_by=None) -> tuple[list[dict], int, str]:
    """One page of the table's filtered rows, the number of pages and the download link."""
    store = results.associations[key]
    size = int(page_size or PAGE_SIZE)
    count = store.count(flt)
    pages = max(1, -(-count // size))
    page = min(int(page or 0), pages - 1)
    frame = store.page(flt, sort_by, page, size,
                       columns=[*TABLE_COLUMNS, "x_modality", "y_modality"])
    return records(frame), pages, dash.get_relative_path(download_href(key, flt, sort_by))


def layout(results: Results, params: dict | None = None):
    if not results.associations:
        return card("Associations", notice("No association table was found in the results. "
                                           "Run rg.tl.associate and export its table."))
    keys = list(results.associations)
    first = results.associations[keys[0]]
    flt = _filter(DEFAULT_Q, None, None, "", "")
    count, volcano, heatmap = summary(results, keys[0], flt)
    rows, pages, href = rows_page(results, keys[0], flt)
    choices = results.memo("associations-choices", None, lambda: (
        [{"label": table_label(k, s), "value": k} for k, s in results.associations.items()],
        options(first.distinct("method")), options(first.classes)))
    return html.Div([
        card("Filter", html.Div(className="rg-controls", children=[
            html.Label(["Modality pair and method", dcc.Dropdown(
                id="assoc-table", clearable=False, value=keys[0], options=choices[0])],
                className="rg-wide"),
            html.Label(["q-value at most", dcc.Dropdown(
                id="assoc-q", clearable=False, value=DEFAULT_Q,
                options=[{"label": "all" if q == 1 else f"{q:g}", "value": q}
                         for q in Q_CHOICES])]),
            html.Label(["Method", dcc.Dropdown(id="assoc-method", options=choices[1],
                                               placeholder="all")]),
            html.Label(["Feature class", dcc.Dropdown(
                id="assoc-class", options=choices[2], placeholder="all")]),
            html.Label(["Feature contains", dcc.Input(
                id="assoc-x-search", type="text", debounce=True, placeholder="e.g. glcm")]),
            html.Label(["Gene contains", dcc.Input(
                id="assoc-y-search", type="text", debounce=True, placeholder="e.g. MKI67")]),
        ]), html.Div(className="rg-row", children=[
            html.Span(count, id="assoc-count", className="rg-count"),
            html.A("Download the filtered rows (CSV)", id="assoc-download", href=href,
                   className="rg-button", download="associations.csv"),
        ])),
        html.Div(className="rg-grid-2", children=[
            card("Volcano plot (click a point)", graph("assoc-volcano", volcano)),
            card("Pair", html.Div(id="assoc-pair-stats", className="rg-pair-stats",
                                  children=notice("Click a point of the volcano plot or a "
                                                  "row of the table.")),
                 graph("assoc-pair", empty_figure("No pair selected."))),
        ]),
        card("Rows", table("assoc-rows", TABLE_COLUMNS, rows, page_size=PAGE_SIZE,
                           server_side=True, page_count=pages)),
        card("Clustered heatmap of the most significant features and genes",
             graph("assoc-heatmap", heatmap)),
        dcc.Store(id="assoc-selected"),
    ])


def _filter(q, method, feature_class, x_search, y_search) -> TableFilter:
    return TableFilter(q_max=float(q) if q is not None else None, method=method or None,
                       feature_class=feature_class or None,
                       x_search=(x_search or "").strip()[:100],
                       y_search=(y_search or "").strip()[:100])


def download_href(key: str, flt: TableFilter, sort_by=None) -> str:
    params = {"table": key}
    if flt.q_max is not None:
        params["q"] = f"{flt.q_max:g}"
    for name, value in (("method", flt.method), ("class", flt.feature_class),
                        ("xs", flt.x_search), ("ys", flt.y_search)):
        if value:
            params[name] = value
    if sort_by:
        params["sort"] = sort_by[0].get("column_id", "")
        params["dir"] = sort_by[0].get("direction", "asc")
    return "/download/associations.csv?" + urlencode(params)


def register(app, results: Results) -> None:
    """The explorer's callbacks; none runs when a page loads, whose layout already holds
    what they would return for the controls' first values."""
    filters = [Input("assoc-table", "value"), Input("assoc-q", "value"),
               Input("assoc-method", "value"), Input("assoc-class", "value"),
               Input("assoc-x-search", "value"), Input("assoc-y-search", "value")]

    def store_of(key):
        store = results.associations.get(key)
        if store is None:
            raise PreventUpdate
        return store

    @app.callback(
        Output("assoc-method", "options"), Output("assoc-class", "options"),
        Input("assoc-table", "value"), prevent_initial_call=True)
    def table_options(key):
        store = store_of(key)
        return options(store.distinct("method")), options(store.classes)

    @app.callback(
        Output("assoc-count", "children"), Output("assoc-volcano", "figure"),
        Output("assoc-heatmap", "figure"),
        *filters, prevent_initial_call=True)
    def overview(key, q, method, feature_class, x_search, y_search):
        store_of(key)
        return summary(results, key, _filter(q, method, feature_class, x_search, y_search))

    @app.callback(
        Output("assoc-rows", "data"), Output("assoc-rows", "page_count"),
        Output("assoc-download", "href"),
        *filters,
        Input("assoc-rows", "page_current"), Input("assoc-rows", "page_size"),
        Input("assoc-rows", "sort_by"), prevent_initial_call=True)
    def rows(key, q, method, feature_class, x_search, y_search, page, page_size, sort_by):
        store_of(key)
        return rows_page(results, key, _filter(q, method, feature_class, x_search, y_search),
                         page, page_size, sort_by)

    @app.callback(
        Output("assoc-selected", "data"),
        Input("assoc-volcano", "clickData"), Input("assoc-rows", "active_cell"),
        State("assoc-rows", "data"), State("assoc-table", "value"),
        prevent_initial_call=True)
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
        Output("assoc-pair", "figure"), Output("assoc-pair-stats", "children"),
        Input("assoc-selected", "data"), prevent_initial_call=True)
    def show_pair(selected):
        if not selected:
            raise PreventUpdate
        store = store_of(selected.get("table"))
        rows = store.pair(selected["x"], selected["y"])
        if rows.empty:
            return empty_figure("Pair not found."), no_update
        row = rows.iloc[0]
        stats = html.Table(className="rg-kv", children=[html.Tbody([
            html.Tr([html.Th("pair"), html.Td(f"{row['x']} ~ {row['y']}", id="pair-name")]),
            *[html.Tr([html.Th(label), html.Td(value)]) for label, value in (
                ("method", row["method"]), ("patients", f"{int(row['n'])}"),
                ("estimate (95% CI)", f"{row['estimate']:.3g} ({row['ci_lower']:.3g} to "
                                      f"{row['ci_upper']:.3g})"),
                ("p-value", f"{row['p_value']:.3g}"), ("q-value", f"{row['q_value']:.3g}"),
                ("covariates", row["covariates"] or "none"))],
        ])])
        if results.mdata is None:
            return empty_figure("No cohort: the pair's values are not available."), stats
        try:
            fig = figures.pair(results.mdata, row["x_modality"], row["x"], row["y_modality"],
                               row["y"], method=row["method"], covariates=row["covariates"])
        except rg.errors.RadiogenomicsError:  # a table of another cohort: not in this one
            fig = empty_figure("This pair's values are not in the cohort.")
        return fig, stats
