"""Radiomic subtypes: the patients' embedding coloured by subtype or any variable, the
subtypes' sizes and stability, the genes that differ in each subtype, and survival by
subtype. Everything from the stored result of ``rg.tl.phenotypes`` and library calls."""

from __future__ import annotations

from dash import ClientsideFunction, Input, Output, State, dcc, html
from dash.exceptions import PreventUpdate

import radiogenomics as rg

from .. import survival as analysis
from ..components import card, empty_figure, graph, notice, table
from ..results import Results
from ..units import human_label

PATH = "/subtypes"
TITLE = "Subtypes"
SIZE_COLUMNS = ["subtype", "patients", "share", "stability"]


def subtype_key(results: Results) -> str | None:
    """The obs column of the stored subtypes (``uns["radiogenomics"]["phenotypes"]``)."""
    stored = results.uns("phenotypes", default={}) or {}
    if results.mdata is None or not isinstance(stored, dict):
        return None
    return next((k for k in stored if k in results.mdata.obs.columns), None)


def color_choices(results: Results, key: str) -> list[dict]:
    obs = results.mdata.obs
    skip = {f"{key}_stability"}
    return [
        {"label": "subtype" if c == key else human_label(c), "value": c}
        for c in [key, *[c for c in obs.columns if c != key and c not in skip]]
    ]


def embedding_figure(results: Results, color: str):
    def compute():
        try:
            figure = rg.pl.embedding(results.mdata, color, mod="radiomics", basis="umap")
        except rg.errors.RadiogenomicsError as exc:
            return empty_figure(getattr(exc, "message", str(exc)))
        figure.update_layout(
            height=460, width=None, autosize=True, margin=dict(l=10, r=10, t=30, b=40)
        )
        return figure

    return results.memo("subtypes-embedding", color, compute, size=32)


def subtype_view(results: Results, key: str) -> dict:
    """Sizes and stability, differential genes and survival of the subtypes (made once)."""

    def compute():
        table_ = results.uns("phenotypes", key)
        sizes = [
            {
                "subtype": str(r.subtype),
                "patients": str(int(r.n_patients)),
                "share": f"{r.fraction:.0%}",
                "stability": f"{r.stability:.2f}",
            }
            for r in table_.itertuples()
        ]
        work = rg.cohort.working_copy(results.mdata)
        out = {"sizes": sizes, "differential": None, "survival": None, "genes": []}
        if "rna" in work.mod:
            found = rg.tl.differential(work, key, mod="rna")
            out["differential"] = rg.pl.differential_dotplot(found, n_top=5)
            out["differential"].update_layout(
                height=max(380, 60 * len(sizes) + 160), width=None, autosize=True
            )
            top = (
                found[found["q_value"] <= 0.05]
                .sort_values(["group", "rank"])
                .groupby("group", observed=True)
                .head(5)
            )
            out["genes"] = [
                {
                    "subtype": str(r.group),
                    "gene": r.feature,
                    "difference": f"{r.difference:+.2f}",
                    "q value": f"{r.q_value:.2e}",
                }
                for r in top.itertuples()
            ]
        if results.time and results.event:
            try:
                from .survival import time_label

                out["survival"] = analysis.split_survival(
                    results.mdata,
                    key,
                    time=results.time,
                    event=results.event,
                    time_label=time_label(results),
                )
            except Exception:  # noqa: BLE001 - a subtype without follow-up: shown as a note
                out["survival"] = None
        return out

    return results.memo("subtypes-view", key, compute, size=4)


def layout(results: Results, params: dict | None = None):
    key = subtype_key(results)
    if key is None:
        return card(
            "Subtypes", notice("No radiomic subtypes are stored in the cohort (rg.tl.phenotypes).")
        )
    choices = color_choices(results, key)
    wanted = (params or {}).get("color")
    color = wanted if wanted in {c["value"] for c in choices} else key
    view = subtype_view(results, key)
    survival = view["survival"]
    from .survival import _stats_view

    return html.Div(
        [
            html.Div(
                className="rg-grid-2",
                children=[
                    card(
                        "Embedding (UMAP of the radiomic features)",
                        html.Div(
                            className="rg-controls",
                            children=[
                                html.Label(
                                    [
                                        "Colour by",
                                        dcc.Dropdown(
                                            id="subtypes-color",
                                            clearable=False,
                                            value=color,
                                            options=choices,
                                        ),
                                    ],
                                    className="rg-wide",
                                )
                            ],
                        ),
                        graph("subtypes-embedding", embedding_figure(results, color)),
                    ),
                    card(
                        "Subtypes: sizes and stability",
                        table(
                            "subtypes-sizes",
                            SIZE_COLUMNS,
                            view["sizes"],
                            page_size=max(1, len(view["sizes"])),
                        ),
                        html.P(
                            "stability: how often the subtype's patients fall together when the "
                            "clustering is repeated on resamples of the cohort (1 = always).",
                            className="rg-note",
                        ),
                        html.P(
                            f"{len(view['sizes'])} subtypes of {results.mdata.n_obs} patients.",
                            className="rg-note",
                        ),
                    ),
                ],
            ),
            html.Div(
                className="rg-grid-2",
                children=[
                    card(
                        "Genes that differ in each subtype (against the rest)",
                        graph("subtypes-differential", view["differential"])
                        if view["differential"] is not None
                        else notice("No RNA in the cohort."),
                        table(
                            "subtypes-genes",
                            ["subtype", "gene", "difference", "q value"],
                            view["genes"],
                            page_size=10,
                        )
                        if view["genes"]
                        else None,
                    ),
                    card(
                        "Survival by subtype",
                        graph("subtypes-km", survival["figure"]),
                        _stats_view(survival),
                    )
                    if survival
                    else card("Survival by subtype", notice("No follow-up to compare.")),
                ],
            ),
            dcc.Store(id="subtypes-defaults", data={"color": key}),
        ]
    )


def register(app, results: Results) -> None:
    @app.callback(
        Output("subtypes-embedding", "figure"),
        Input("subtypes-color", "value"),
        prevent_initial_call=True,
    )
    def recolor(color):
        key = subtype_key(results)
        if key is None or color not in {c["value"] for c in color_choices(results, key)}:
            raise PreventUpdate
        return embedding_figure(results, color)

    app.clientside_callback(
        ClientsideFunction("rg", "subtypesSearch"),
        Output("url", "search", allow_duplicate=True),
        Input("subtypes-color", "value"),
        State("subtypes-defaults", "data"),
        prevent_initial_call=True,
    )
