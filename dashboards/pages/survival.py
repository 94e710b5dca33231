"""Survival explorer: Kaplan-Meier curves of patients split by any feature, gene or
clinical column (categories by level, numbers by a threshold in their physical units),
k-group log-rank test, per-group counts and adjusted Cox hazard ratios; the survival
screens. Its state is in the address (``QUERY``)."""

from __future__ import annotations

import math

from dash import ClientsideFunction, Input, Output, State, dcc, html
from dash.exceptions import PreventUpdate

from .. import survival as analysis
from ..components import card, empty_figure, graph, notice, options, records, table
from ..results import Results
from ..store import TableFilter
from ..units import feature_unit, human_label, time_label

PATH = "/survival"
TITLE = "Survival"

SPLITS = [
    ("median", "median"),
    ("tertiles", "tertiles"),
    ("cutoff", "cut-off"),
    ("optimal", "optimal cut-point (corrected)"),
]
#: The query string of the page: ``?variable=stage``,
#: ``?variable=radiomics:<feature>&split=optimal|median|tertiles|<cut-off>&adjust=age,sex``.
QUERY = ("variable", "split", "adjust")
SCREEN_COLUMNS = [
    "modality",
    "feature",
    "n",
    "n_events",
    "hazard_ratio",
    "hr_ci_lower",
    "hr_ci_upper",
    "p_value",
    "q_value",
    "concordance",
]
MAX_OPTIONS = 50


def variable_value(source: str, name: str) -> str:
    """The variable as the page and its address name it: a clinical column by its name,
    a feature as ``modality:feature``."""
    return name if source in ("obs", "clinical") else f"{source}:{name}"


def parse_variable(results: Results, value: str | None) -> tuple[str, str] | None:
    if not value or results.mdata is None:
        return None
    return analysis.resolve(results.mdata, value)


def variable_label(results: Results, value: str) -> str:
    parsed = parse_variable(results, value)
    if parsed is None:
        return str(value)
    source, name = parsed
    if source == "obs":
        kind = "by level" if analysis.is_categorical(results.mdata, source, name) else "number"
        return f"clinical: {human_label(name)} ({kind})"
    if source == "mutation":
        return f"mutation status: {name}"
    unit = feature_unit(results.mdata[source], name)
    return f"{source}: {name}" + (f" ({unit})" if unit else "")


def variable_choices(results: Results, search: str = "", limit: int = MAX_OPTIONS) -> list[dict]:
    """Up to ``limit`` variables (clinical columns, then features of each modality) whose
    name contains ``search``."""
    mdata = results.mdata
    needle = (search or "").lower()
    out = []
    for column in mdata.obs.columns:
        if column in (results.time, results.event):
            continue
        if needle in str(column).lower() or needle in human_label(column).lower():
            value = variable_value("obs", column)
            out.append({"label": variable_label(results, value), "value": value})
    for mod_name, mod in mdata.mod.items():
        for name in mod.var_names:
            if len(out) >= limit:
                return out
            if needle in name.lower():
                value = variable_value(mod_name, name)
                out.append({"label": variable_label(results, value), "value": value})
    return out[:limit]


def default_variable(results: Results) -> str | None:
    for store in results.survival.values():
        top = store.top(TableFilter(), 1, ["modality", "feature"])
        if len(top):
            value = variable_value(top["modality"].iloc[0], top["feature"].iloc[0])
            if parse_variable(results, value):
                return value
    mdata = results.mdata
    if "radiomics" in mdata.mod and "original_shape_VoxelVolume" in mdata["radiomics"].var_names:
        return variable_value("radiomics", "original_shape_VoxelVolume")
    choices = variable_choices(results, limit=1)
    return choices[0]["value"] if choices else None


def read_query(results: Results, params: dict | None) -> dict:
    """The page's state from its query string (``variable``, ``split``: optimal, median,
    tertiles or a cut-off value; ``adjust``: covariates), unknown values left out."""
    params = params or {}
    state = {"variable": None, "split": "median", "cutoff": None, "covariates": ()}
    if parse_variable(results, params.get("variable")):
        state["variable"] = params["variable"]
    split = (params.get("split") or "").strip()
    if split in ("optimal", "median", "tertiles"):
        state["split"] = split
    elif split:
        try:
            value = float(split)
        except ValueError:
            value = None
        if value is not None and math.isfinite(value):
            state["split"], state["cutoff"] = "cutoff", value
    columns = set(map(str, results.mdata.obs.columns)) - {results.time, results.event}
    state["covariates"] = tuple(c for c in (params.get("adjust") or "").split(",") if c in columns)
    return state


def _stats_view(outcome: dict):
    groups = outcome["groups"]
    return html.Div(
        [
            html.Table(
                className="rg-kv",
                children=[
                    html.Tbody(
                        [html.Tr([html.Th(k), html.Td(v)]) for k, v in outcome["stats"].items()]
                    )
                ],
            ),
            html.Table(
                className="rg-groups",
                id="surv-groups",
                children=[
                    html.Thead(
                        html.Tr(
                            [
                                html.Th(c)
                                for c in ("group", "patients", "events", "observed", "expected")
                            ]
                        )
                    ),
                    html.Tbody(
                        [
                            html.Tr(
                                [
                                    html.Td(str(row[c]))
                                    for c in ("group", "patients", "events", "observed", "expected")
                                ]
                            )
                            for _, row in groups.iterrows()
                        ]
                    ),
                ],
            ),
            graph("surv-forest", outcome["forest"]) if outcome.get("forest") is not None else None,
        ]
    )


def split_outputs(
    results: Results, value: str | None, split: str, cutoff=None, covariates=()
) -> tuple:
    """The Kaplan-Meier figure, the statistics of a split and the cut-off's hint (kept
    for the next request)."""
    parsed = parse_variable(results, value)
    if parsed is None or results.mdata is None:
        raise PreventUpdate
    unit = "" if parsed[0] == "obs" else feature_unit(results.mdata[parsed[0]], parsed[1])
    hint = f"value in {unit}" if unit else "value"
    categorical = analysis.is_categorical(results.mdata, *parsed)
    if split == "cutoff" and cutoff is None and not categorical:
        return empty_figure("Enter a cut-off value."), None, hint

    def compute():
        try:
            outcome = analysis.split_survival(
                results.mdata,
                value,
                time=results.time,
                event=results.event,
                split=split,
                cutoff=cutoff,
                covariates=list(covariates),
                time_label=time_label(results),
            )
        except analysis.Unavailable as exc:
            return empty_figure(str(exc)), notice(str(exc)), hint
        except Exception as exc:  # a bad choice of variable: say so, without patient data
            message = getattr(exc, "message", None) or type(exc).__name__
            return empty_figure(f"Cannot split on this variable: {message}"), None, hint
        text = "split by level" if outcome["categorical"] else hint
        return outcome["figure"], _stats_view(outcome), text

    key = (value, split, repr(cutoff), tuple(covariates))
    return results.memo("survival-split", key, compute, size=64)


def screen_page(
    results: Results, key, q=1.0, search_text="", page=0, page_size=12, sort_by=None
) -> tuple[list[dict], int]:
    """One page of a survival screen's filtered rows and the number of pages."""
    store = results.survival.get(key)
    if store is None:
        raise PreventUpdate
    flt = TableFilter(
        q_max=float(q) if q is not None else None, x_search=(search_text or "").strip()[:100]
    )
    size = int(page_size or 12)
    pages = max(1, -(-store.count(flt) // size))
    frame = store.page(flt, sort_by, min(int(page or 0), pages - 1), size, columns=SCREEN_COLUMNS)
    return records(frame), pages


def layout(results: Results, params: dict | None = None):
    if results.mdata is None:
        return card("Survival", notice("No cohort file was given."))
    if not (results.time and results.event):
        return card(
            "Survival",
            notice(
                "The cohort does not say which clinical columns hold "
                "survival time and event; serve it with --time and "
                "--event."
            ),
        )
    state = read_query(results, params)
    value = state["variable"] or results.memo(
        "survival-default", None, lambda: default_variable(results)
    )
    key = (value, state["split"], repr(state["cutoff"]), state["covariates"])
    return results.memo("survival-layout", key, lambda: _layout(results, value, state), size=32)


def _layout(results: Results, value: str | None, state: dict):
    covariate_choices = [
        c for c in results.mdata.obs.columns if c not in (results.time, results.event)
    ]
    screens = list(results.survival)
    split, cutoff, covariates = state["split"], state["cutoff"], state["covariates"]
    figure, stats, hint = (
        split_outputs(results, value, split, cutoff, covariates)
        if value
        else (empty_figure("No variable to split on."), None, "value")
    )
    rows, pages = screen_page(results, screens[0]) if screens else ([], 1)
    return html.Div(
        [
            card(
                "Split the patients",
                html.Div(
                    className="rg-controls",
                    children=[
                        html.Label(
                            [
                                "Variable (type to search)",
                                dcc.Dropdown(
                                    id="surv-variable",
                                    value=value,
                                    clearable=False,
                                    options=[
                                        {"label": variable_label(results, value), "value": value}
                                    ]
                                    if value
                                    else [],
                                ),
                            ],
                            className="rg-wide",
                        ),
                        html.Label(
                            [
                                "Split (numbers)",
                                dcc.Dropdown(
                                    id="surv-split",
                                    clearable=False,
                                    value=split,
                                    options=[
                                        {"label": label, "value": key} for key, label in SPLITS
                                    ],
                                ),
                            ]
                        ),
                        html.Label(
                            [
                                "Cut-off",
                                dcc.Input(
                                    id="surv-cutoff",
                                    type="number",
                                    value=cutoff,
                                    placeholder=hint,
                                    debounce=True,
                                ),
                            ]
                        ),
                        html.Label(
                            [
                                "Adjust the hazard ratio for",
                                dcc.Dropdown(
                                    id="surv-covariates",
                                    multi=True,
                                    value=list(covariates),
                                    options=[
                                        {"label": human_label(c), "value": c}
                                        for c in covariate_choices
                                    ],
                                ),
                            ],
                            className="rg-wide",
                        ),
                    ],
                ),
            ),
            card(
                "Kaplan-Meier",
                html.Div(
                    className="rg-grid-2",
                    children=[
                        graph("surv-km", figure),
                        html.Div(stats, id="surv-stats", className="rg-pair-stats"),
                    ],
                ),
            ),
            card(
                "Survival screen",
                html.Div(
                    className="rg-controls",
                    children=[
                        html.Label(
                            [
                                "Screen",
                                dcc.Dropdown(
                                    id="surv-screen",
                                    value=screens[0] if screens else None,
                                    options=options(screens),
                                    clearable=False,
                                ),
                            ],
                            className="rg-wide",
                        ),
                        html.Label(
                            [
                                "q-value at most",
                                dcc.Dropdown(
                                    id="surv-q",
                                    value=1.0,
                                    clearable=False,
                                    options=[
                                        {"label": "all" if q == 1 else f"{q:g}", "value": q}
                                        for q in (0.01, 0.05, 0.1, 0.25, 1.0)
                                    ],
                                ),
                            ]
                        ),
                        html.Label(
                            [
                                "Feature contains",
                                dcc.Input(id="surv-search", type="text", debounce=True),
                            ]
                        ),
                    ],
                )
                if screens
                else notice("No survival screen in the results (rg.tl.cox_screen)."),
                table(
                    "surv-rows",
                    SCREEN_COLUMNS,
                    rows,
                    page_size=12,
                    server_side=True,
                    page_count=pages,
                )
                if screens
                else html.Div(id="surv-rows"),
            ),
            dcc.Store(
                id="surv-defaults",
                data={
                    "variable": results.memo(
                        "survival-default", None, lambda: default_variable(results)
                    )
                },
            ),
        ]
    )


def register(app, results: Results) -> None:
    """The explorer's callbacks; none runs when a page loads, whose layout already holds
    what they would return for the controls' first values."""

    @app.callback(
        Output("surv-variable", "options"),
        Input("surv-variable", "search_value"),
        State("surv-variable", "value"),
        prevent_initial_call=True,
    )
    def search(text, current):
        if text is None:
            raise PreventUpdate
        found = variable_choices(results, text)
        if current and all(c["value"] != current for c in found):
            found.insert(0, {"label": variable_label(results, current), "value": current})
        return found

    @app.callback(
        Output("surv-km", "figure"),
        Output("surv-stats", "children"),
        Output("surv-cutoff", "placeholder"),
        Input("surv-variable", "value"),
        Input("surv-split", "value"),
        Input("surv-cutoff", "value"),
        Input("surv-covariates", "value"),
        prevent_initial_call=True,
    )
    def km(value, split, cutoff, covariates):
        return split_outputs(results, value, split, cutoff, tuple(covariates or ()))

    app.clientside_callback(
        ClientsideFunction("rg", "survivalSearch"),
        Output("url", "search", allow_duplicate=True),
        Input("surv-variable", "value"),
        Input("surv-split", "value"),
        Input("surv-cutoff", "value"),
        Input("surv-covariates", "value"),
        State("surv-defaults", "data"),
        prevent_initial_call=True,
    )

    if not results.survival:
        return

    @app.callback(
        Output("surv-rows", "data"),
        Output("surv-rows", "page_count"),
        Input("surv-screen", "value"),
        Input("surv-q", "value"),
        Input("surv-search", "value"),
        Input("surv-rows", "page_current"),
        Input("surv-rows", "page_size"),
        Input("surv-rows", "sort_by"),
        prevent_initial_call=True,
    )
    def screen(key, q, search_text, page, page_size, sort_by):
        return screen_page(results, key, q, search_text, page, page_size, sort_by)

    @app.callback(
        Output("surv-variable", "value"),
        Output("surv-variable", "options", allow_duplicate=True),
        Input("surv-rows", "active_cell"),
        State("surv-rows", "data"),
        prevent_initial_call=True,
    )
    def pick(active, data):
        if not active or not data:
            raise PreventUpdate
        row = data[min(int(active["row"]), len(data) - 1)]
        value = variable_value(row["modality"], row["feature"])
        return value, [{"label": variable_label(results, value), "value": value}]
