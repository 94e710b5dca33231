"""Patient view for tumor boards: one patient's imaging, molecular results and outcome
against the cohort, and a printable one-page summary."""

from __future__ import annotations

from urllib.parse import quote

import pandas as pd
from dash import ClientsideFunction, Input, Output, State, dcc, html
from dash.exceptions import PreventUpdate

import radiogenomics as rg

from ..components import card, empty_figure, graph, notice, records, table
from ..profile import build_profile
from ..results import Results

PATH = "/patient"


TITLE = "Patient"


WINDOW_CHOICES = [
    ("auto", "auto"),
    ("ct-soft", "CT soft tissue"),
    ("ct-lung", "CT lung"),
    ("ct-bone", "CT bone"),
    ("mr", "MR"),
    ("pet", "PET (SUV)"),
]


SIMILAR_COLUMNS_FIRST = ["patient_id"]


def layout(results: Results, params: dict | None = None):
    """The view of the patient named by ``?patient=`` (else the first)."""
    if results.mdata is None:
        return card("Patient", notice("No cohort file was given."))
    choices = results.memo(
        "patient-choices",
        None,
        lambda: sorted(((results.display_id(p), p) for p in results.patients), key=lambda t: t[0]),
    )
    if not choices:
        return card("Patient", notice("The cohort has no patients."))
    wanted = results.patient_id((params or {}).get("patient"))
    patient = wanted if wanted is not None else choices[0][1]
    shown = results.display_id(patient)
    return html.Div(
        className="rg-patient",
        children=[
            card(
                "Patient",
                html.Div(
                    className="rg-controls rg-no-print",
                    children=[
                        html.Label(
                            [
                                "Patient",
                                dcc.Dropdown(
                                    id="patient-select",
                                    clearable=False,
                                    value=shown,
                                    options=[{"label": s, "value": s} for s, _ in choices],
                                ),
                            ],
                            className="rg-wide",
                        ),
                        html.Button("Print", id="patient-print-now", className="rg-button"),
                        html.Button(
                            "Printable summary (HTML)", id="patient-print", className="rg-button"
                        ),
                        dcc.Download(id="patient-summary"),
                    ],
                ),
            ),
            html.Div(patient_body(results, patient), id="patient-body"),
            dcc.Store(id="patient-defaults", data={"patient": choices[0][0]}),
        ],
    )


def patient_body(results: Results, patient: str):
    """The view of the patient a page opens on (kept for the next page load)."""
    return results.memo(
        "patient-body", patient, lambda: body(results, build_profile(results, patient)), size=16
    )


def _kv(frame: pd.DataFrame, id: str) -> html.Table:
    return html.Table(
        className="rg-kv rg-clinical",
        id=id,
        children=[
            html.Tbody(
                [html.Tr([html.Th(row.column), html.Td(row.value)]) for row in frame.itertuples()]
            )
        ],
    )


def _slice_controls(view: dict | None):
    if view is None:
        return None
    n = len(view["pixels"])
    step = max(1, n // 8)
    return html.Div(
        className="rg-controls rg-no-print",
        children=[
            html.Label(
                [
                    "Slice",
                    dcc.Slider(
                        id="patient-slice",
                        min=0,
                        max=n - 1,
                        step=1,
                        value=view["largest"],
                        marks={i: str(view["slices"][i]) for i in range(0, n, step)},
                        updatemode="drag",
                    ),
                ],
                className="rg-wide",
            ),
            html.Label(
                [
                    "Window",
                    dcc.Dropdown(
                        id="patient-window",
                        clearable=False,
                        value="auto",
                        options=[{"label": label, "value": key} for key, label in WINDOW_CHOICES],
                    ),
                ]
            ),
        ],
    )


def _outlier_table(frame: pd.DataFrame, id: str):
    if frame is None or frame.empty:
        return notice(
            "No value of this patient is 2 standard deviations or more from the cohort mean."
        )
    shown = pd.DataFrame(
        {
            "feature": frame["feature"],
            "value": frame["value"].map(lambda v: f"{v:.3g}"),
            "z": frame["z_score"].map(lambda v: f"{v:+.1f}"),
            "percentile": frame["percentile"].map(lambda v: f"{v:.0f}"),
            "cohort median": frame["cohort_median"].map(lambda v: f"{v:.3g}"),
            "": frame["direction"],
        }
    )
    return table(id, list(shown.columns), shown.to_dict("records"), page_size=len(shown))


def body(results: Results, profile: dict):
    outcome = profile.get("outcome_text", "not recorded")
    risk = profile["risk"]
    variants = profile.get("variants")
    if variants is None:
        mutations = notice("No mutation data.")
    elif variants.empty:
        mutations = html.P("none of the genes tested", id="patient-mutations")
    else:
        shown = pd.DataFrame(
            {
                "gene": variants["gene"],
                "protein change": variants["protein_change"],
                "classification": variants["classification"],
                "VAF": variants["vaf"].map(lambda v: "" if pd.isna(v) else f"{v:.0%}"),
            }
        )
        mutations = table(
            "patient-mutations",
            list(shown.columns),
            shown.to_dict("records"),
            page_size=max(len(shown), 1),
        )
    percentile_note = html.P(
        "Each bar: this patient's percentile in the cohort (red above "
        "the median, blue below); shaded: the middle half of the "
        "cohort (25th to 75th percentile). Hover for the value in its "
        "unit.",
        className="rg-note",
    )
    view = profile.get("image_view")
    left = [
        card(
            "Patient",
            html.A(
                "PDF for the record",
                id="patient-pdf",
                href=f"/patient/{quote(str(profile['patient']), safe='')}.pdf",
                className="rg-button rg-no-print rg-float-right",
                target="_blank",
            ),
            html.H2(profile["patient"], id="patient-shown"),
            html.P(f"Outcome: {outcome}", id="patient-outcome"),
            _kv(profile["clinical"], "patient-clinical"),
        ),
        card(
            "Risk",
            html.Div(
                className="rg-risk",
                children=[
                    html.P(f"Risk score {risk['score']}, group {risk['group']}", id="patient-risk"),
                    html.P(
                        risk["note"],
                        id="patient-risk-note",
                        className="rg-notice"
                        if risk.get("in_training") is False
                        else "rg-notice rg-notice-warning",
                    ),
                ],
            )
            if risk
            else notice("No risk score is stored in the cohort."),
            graph("patient-risk-km", profile["risk_figure"])
            if profile.get("risk_figure") is not None
            else None,
        ),
        card(
            "Model predictions",
            table(
                "patient-predictions",
                list(profile["predictions"].columns),
                records(profile["predictions"]),
            ),
            html.P(
                "out-of-fold: predicted by a model fitted without this patient.",
                className="rg-note",
            ),
        )
        if profile.get("predictions") is not None
        else None,
        card("Mutations", mutations),
    ]
    right = [
        card(
            "Lesion",
            graph("patient-image", rg.pl.lesion_slice_view(view)) if view is not None else None,
            _slice_controls(view),
            html.P(profile["image_note"], className="rg-note"),
        ),
        card(
            "Radiomic profile: percentile in the cohort",
            graph(
                "patient-percentiles",
                profile.get("percentiles_figure") or empty_figure("No radiomic features."),
            ),
            percentile_note,
        ),
        *[
            card(
                f"{'Expression' if mod == 'rna' else 'Protein'} outliers against the cohort",
                _outlier_table(frame, f"patient-outliers-{mod}"),
            )
            for mod, frame in profile.get("outliers", {}).items()
        ],
        card(
            "Expression of the genes linked to the imaging features",
            graph("patient-genes", profile["genes_figure"])
            if profile["genes"] is not None
            else notice("No gene is linked (q <= 0.05) to the imaging features shown."),
        ),
    ]
    similar = profile["similar"]
    return html.Div(
        [
            html.Div(className="rg-grid-2", children=[html.Div(left), html.Div(right)]),
            card(
                "Most similar patients in radiomic space (click one to open)",
                table("patient-similar", list(similar.columns), records(similar))
                if similar is not None
                else notice("The patient has no radiomic features."),
            ),
        ]
    )


def register(app, results: Results) -> None:
    """The view's callbacks; none runs when the page loads, whose layout already shows the
    patient of the address."""

    @app.callback(
        Output("patient-body", "children"),
        Input("patient-select", "value"),
        prevent_initial_call=True,
    )
    def show(shown):
        patient = results.patient_id(shown)
        if patient is None:
            raise PreventUpdate
        return body(results, build_profile(results, patient))

    @app.callback(
        Output("patient-image", "figure"),
        Input("patient-slice", "value"),
        Input("patient-window", "value"),
        State("patient-select", "value"),
        prevent_initial_call=True,
    )
    def slice_view(index, window, shown):
        patient = results.patient_id(shown)
        if patient is None:
            raise PreventUpdate
        profile = results.memo(
            "patient-profile", patient, lambda: build_profile(results, patient), size=8
        )
        if profile.get("image_view") is None:
            raise PreventUpdate
        return rg.pl.lesion_slice_view(profile["image_view"], index, window or "auto")

    @app.callback(
        Output("patient-select", "value"),
        Input("patient-similar", "active_cell"),
        State("patient-similar", "data"),
        prevent_initial_call=True,
    )
    def open_similar(active, data):
        if not active or not data:
            raise PreventUpdate
        return data[min(int(active["row"]), len(data) - 1)]["patient_id"]

    app.clientside_callback(
        ClientsideFunction("rg", "patientSearch"),
        Output("url", "search", allow_duplicate=True),
        Input("patient-select", "value"),
        State("patient-defaults", "data"),
        prevent_initial_call=True,
    )

    app.clientside_callback(
        ClientsideFunction("rg", "print"),
        Output("patient-print-now", "n_clicks"),
        Input("patient-print-now", "n_clicks"),
        prevent_initial_call=True,
    )

    def patient_pdf(shown: str):
        """``/patient/<id>.pdf``: the patient's printable summary as a PDF (versions and
        date in the footer of every page)."""
        from flask import Response, abort

        from ..pdf import PdfUnavailable, html_to_pdf
        from ..summary import patient_summary_html

        patient = results.patient_id(shown)
        if patient is None:
            abort(404)
        text = patient_summary_html(build_profile(results, patient))
        try:
            pdf = html_to_pdf(
                text,
                footer=f"radiogenomics {rg.__version__}: tumor board "
                f"summary of {results.display_id(patient)}",
            )
        except PdfUnavailable as exc:
            return Response(str(exc), status=503, mimetype="text/plain")
        return Response(
            pdf,
            mimetype="application/pdf",
            headers={
                "Content-Disposition": f'inline; filename="summary-{results.display_id(patient)}'
                '.pdf"',
                "Cache-Control": "no-store",
            },
        )

    app.server.add_url_rule("/patient/<shown>.pdf", "patient_pdf", patient_pdf)

    @app.callback(
        Output("patient-summary", "data"),
        Input("patient-print", "n_clicks"),
        State("patient-select", "value"),
        prevent_initial_call=True,
    )
    def summary(n_clicks, shown):
        from ..summary import patient_summary_html

        patient = results.patient_id(shown)
        if patient is None or not n_clicks:
            raise PreventUpdate
        html_text = patient_summary_html(build_profile(results, patient))
        return {
            "content": html_text,
            "filename": f"summary-{results.display_id(patient)}.html",
            "type": "text/html",
        }
