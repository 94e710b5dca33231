"""Group comparison: two groups of patients named by a clinical value, a subtype, a
mutation or a feature threshold (``/compare?a=stage:III&b=stage:I``); their sizes, their
survival, and the radiomic features, genes, proteins and mutations that differ, with
q-values, all computed by ``rg.tl.compare_groups``."""

from __future__ import annotations

import pandas as pd
from dash import ClientsideFunction, Input, Output, State, dcc, html

import radiogenomics as rg

from ..components import card, empty_figure, graph, notice, table
from ..results import Results
from ..survival import clinical_cohort, km_figure

PATH = "/compare"
TITLE = "Compare"
_KEY = "comparison"
EXAMPLES = [
    ("stage:III", "stage:I"),
    ("mutation:TP53", "mutation:TP53=wt"),
    ("radiomics:original_shape_VoxelVolume>2000", "rest"),
]
FEATURE_COLUMNS = [
    "modality",
    "feature",
    "n a",
    "n b",
    "mean a",
    "mean b",
    "difference",
    "p value",
    "q value",
]
MUTATION_COLUMNS = ["gene", "mutated a", "share a", "mutated b", "share b", "p value", "q value"]


def _g(value) -> str:
    return "" if pd.isna(value) else f"{value:.3g}"


def comparison(results: Results, a: str, b: str):
    """The comparison's view (kept for the next request)."""

    def compute():
        from .survival import time_label

        work = rg.cohort.working_copy(results.mdata)
        try:
            out = rg.tl.compare_groups(
                work, a, b, time=results.time, event=results.event, key_added=_KEY
            )
        except rg.errors.RadiogenomicsError as exc:
            return notice(f"Cannot compare these groups: {getattr(exc, 'message', exc)}", "warning")
        sizes = out["sizes"]
        figure = empty_figure("No follow-up to compare.")
        p_text = ""
        if "survival" in out:
            clinical = clinical_cohort(work.obs, [_KEY, results.time, results.event])
            figure = km_figure(
                clinical, results.time, results.event, _KEY, time_label=time_label(results)
            )
            figure.update_layout(
                height=460,
                legend=dict(title_text="", orientation="h", y=1.02, yanchor="bottom", x=0),
            )
            p_text = f"log-rank p {out['survival']['p_value'].iloc[0]:.3g}"
        features = out["features"]
        rows = [
            {
                "modality": r.modality,
                "feature": r.feature,
                "n a": str(int(r.n_a)),
                "n b": str(int(r.n_b)),
                "mean a": _g(r.mean_a),
                "mean b": _g(r.mean_b),
                "difference": _g(r.difference),
                "p value": f"{r.p_value:.2e}",
                "q value": f"{r.q_value:.2e}",
            }
            for r in features.head(300).itertuples()
        ]
        mutations = [
            {
                "gene": r.gene,
                "mutated a": str(int(r.mutated_a)),
                "share a": f"{r.share_a:.0%}",
                "mutated b": str(int(r.mutated_b)),
                "share b": f"{r.share_b:.0%}",
                "p value": _g(r.p_value),
                "q value": _g(r.q_value),
            }
            for r in out["mutations"].itertuples()
        ]
        n_q = int((features["q_value"] <= 0.05).sum()) if len(features) else 0
        return html.Div(
            [
                html.Div(
                    className="rg-grid-2",
                    children=[
                        card(
                            "Groups",
                            html.Table(
                                className="rg-kv",
                                id="compare-sizes",
                                children=[
                                    html.Tbody(
                                        [
                                            html.Tr(
                                                [
                                                    html.Th(f"{'A' if i == 0 else 'B'}: {r.group}"),
                                                    html.Td(
                                                        f"{r.patients} patients"
                                                        + (
                                                            f", {r.events} events"
                                                            if "events" in sizes
                                                            else ""
                                                        )
                                                    ),
                                                ]
                                            )
                                            for i, r in enumerate(sizes.itertuples())
                                        ]
                                    )
                                ],
                            ),
                            html.P(p_text, id="compare-logrank"),
                            html.P(
                                f"{n_q} features differ at q ≤ 0.05 (Welch's t test within each "
                                "modality; radiomic features in their raw units).",
                                className="rg-note",
                            ),
                            graph("compare-km", figure),
                        ),
                        card(
                            "Mutation frequencies (Fisher's exact test)",
                            table("compare-mutations", MUTATION_COLUMNS, mutations, page_size=12)
                            if mutations
                            else notice("No mutation data."),
                        ),
                    ],
                ),
                card(
                    "Features that differ (most significant first)",
                    table("compare-features", FEATURE_COLUMNS, rows, page_size=15),
                ),
            ]
        )

    return results.memo("compare", (a, b), compute, size=32)


def layout(results: Results, params: dict | None = None):
    if results.mdata is None:
        return card("Compare", notice("No cohort file was given."))
    params = params or {}
    a = (params.get("a") or EXAMPLES[0][0])[:200]
    b = (params.get("b") or "rest")[:200]
    return html.Div(
        [
            card(
                "Compare two groups of patients",
                html.Div(
                    className="rg-controls",
                    children=[
                        html.Label(
                            [
                                "Group A",
                                dcc.Input(id="compare-a", type="text", value=a, debounce=True),
                            ],
                            className="rg-wide",
                        ),
                        html.Label(
                            [
                                "Group B",
                                dcc.Input(id="compare-b", type="text", value=b, debounce=True),
                            ],
                            className="rg-wide",
                        ),
                    ],
                ),
                html.P(
                    [
                        "A group is column:value (stage:III), mutation:GENE (or =wt), a "
                        "feature or column with a threshold (radiomics:<feature>>2000, "
                        "age>=65), or rest. Examples: ",
                        *[
                            html.Span(
                                [dcc.Link(f"{x} vs {y}", href=f"/compare?a={x}&b={y}"), " · "]
                            )
                            for x, y in EXAMPLES
                        ],
                    ],
                    className="rg-note",
                ),
            ),
            html.Div(comparison(results, a, b), id="compare-body"),
            dcc.Store(id="compare-defaults", data={"a": EXAMPLES[0][0], "b": "rest"}),
        ]
    )


def register(app, results: Results) -> None:
    @app.callback(
        Output("compare-body", "children"),
        Input("compare-a", "value"),
        Input("compare-b", "value"),
        prevent_initial_call=True,
    )
    def compare(a, b):
        return comparison(results, (a or "").strip()[:200], (b or "rest").strip()[:200])

    app.clientside_callback(
        ClientsideFunction("rg", "compareSearch"),
        Output("url", "search", allow_duplicate=True),
        Input("compare-a", "value"),
        Input("compare-b", "value"),
        State("compare-defaults", "data"),
        prevent_initial_call=True,
    )
