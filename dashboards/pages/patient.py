"""Patient view for tumor boards: one patient's imaging, molecular results and outcome
against the cohort, and a printable one-page summary."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from dash import Input, Output, State, dcc, html
from dash.exceptions import PreventUpdate

import radiogenomics as rg

from ..components import card, empty_figure, graph, notice, records, table
from ..results import Results

PATH = "/patient"
TITLE = "Patient"

#: Features shown when no association table says which radiomic features matter.
DEFAULT_FEATURES = [
    "original_shape_VoxelVolume", "original_shape_Sphericity", "original_shape_Elongation",
    "original_shape_Maximum3DDiameter", "original_firstorder_Mean",
    "original_firstorder_Entropy", "original_firstorder_Skewness",
    "original_glcm_Contrast", "original_glcm_Idm", "original_glrlm_RunEntropy",
    "original_glszm_ZoneEntropy", "original_ngtdm_Coarseness",
]
N_KEY_FEATURES = 12
N_SIMILAR = 5


def key_features(results: Results, n: int = N_KEY_FEATURES) -> list[str]:
    """Radiomic features to show: those of the most significant radiomic associations,
    else a default set of shape, intensity and texture features."""
    mdata = results.mdata
    if mdata is None or "radiomics" not in mdata.mod:
        return []
    names = set(mdata["radiomics"].var_names)
    chosen: list[str] = []
    for store in results.associations.values():
        if "radiomics" not in store.distinct("x_modality", 10):
            continue
        top = store.top(_all(), limit=400, columns=["x", "x_modality"])
        for name in top.loc[top["x_modality"] == "radiomics", "x"]:
            if name in names and name not in chosen:
                chosen.append(name)
            if len(chosen) >= n:
                return chosen
    for name in DEFAULT_FEATURES:
        if name in names and name not in chosen:
            chosen.append(name)
    if not chosen:
        chosen = list(mdata["radiomics"].var_names[:n])
    return chosen[:n]


def _all():
    from ..store import TableFilter

    return TableFilter()


def linked_genes(results: Results, features: list[str], limit: int = 12) -> pd.DataFrame:
    """Genes associated (q <= 0.05) with the given radiomic features, most significant
    first, from the association tables whose other side is RNA."""
    frames = []
    for store in results.associations.values():
        if "rna" not in store.distinct("y_modality", 10):
            continue
        frames.append(store.linked(features, q_max=0.05, limit=limit * 4))
    if not frames:
        return pd.DataFrame(columns=["x", "y", "estimate", "q_value"])
    rows = pd.concat(frames).sort_values("p_value", kind="stable")
    rows = rows[rows["y_modality"] == "rna"].drop_duplicates("y").head(limit)
    return rows[["x", "y", "estimate", "q_value"]]


def _cell(value) -> str:
    """A clinical value as shown: numbers with fractions to 4 significant digits."""
    if pd.isna(value):
        return ""
    if isinstance(value, float) and not value.is_integer():
        return f"{value:.4g}"
    return str(value)


def build_profile(results: Results, patient: str) -> dict:
    """Everything the patient view shows, from library calls: figures and tables."""
    mdata = results.mdata
    shown = results.display_id(patient)
    profile: dict = {"patient": shown}
    obs = mdata.obs.loc[patient]
    profile["clinical"] = pd.DataFrame({
        "column": [str(c) for c in obs.index],
        "value": [_cell(v) for v in obs.to_numpy()]})
    features = key_features(results)
    profile["features"] = features
    if features:
        percentiles = rg.tl.patient_percentiles(mdata, patient, mod="radiomics",
                                                features=features)
        profile["percentiles"] = percentiles
        profile["percentiles_figure"] = rg.pl.patient_percentiles(percentiles)
    manifest = results.manifest()
    profile["image_figure"] = None
    profile["image_files"] = None
    profile["image_note"] = "No image manifest in the cohort."
    if manifest is not None and "patient_id" in manifest:
        rows = manifest[manifest["patient_id"].astype(str) == patient]
        if rows.empty:
            profile["image_note"] = "No image of this patient in the manifest."
        else:
            row = rows.iloc[0]
            image, mask = Path(str(row["image"])), Path(str(row["mask"]))
            label = int(row["label"]) if "label" in row and pd.notna(row["label"]) else 1
            if image.is_file() and mask.is_file():
                try:
                    profile["image_figure"] = rg.pl.lesion_slice(image, mask, label=label)
                    profile["image_files"] = (image, mask, label)
                    profile["image_note"] = ("Axial slice through the largest cross-section "
                                             "of the lesion; the mask outline in red.")
                except rg.errors.RadiogenomicsError:
                    profile["image_note"] = "The image or mask of this patient is unreadable."
            else:
                profile["image_note"] = "The image files are not available on this server."
    if "mutation" in mdata.mod and patient in mdata["mutation"].obs_names:
        values = mdata["mutation"][patient].to_df().iloc[0]
        profile["mutations"] = sorted(values.index[values.to_numpy() > 0].astype(str))
    else:
        profile["mutations"] = None
    genes = linked_genes(results, features)
    profile["genes"] = None
    if "rna" in mdata.mod and len(genes):
        present = [g for g in genes["y"] if g in mdata["rna"].var_names]
        if present and patient in mdata["rna"].obs_names:
            expression = rg.tl.patient_percentiles(mdata, patient, mod="rna", features=present)
            expression = expression.merge(genes.rename(columns={"y": "feature",
                                                                "x": "imaging_feature"}),
                                          on="feature", how="left")
            profile["genes"] = expression
            profile["genes_figure"] = rg.pl.patient_percentiles(expression)
    outcome = [c for c in (results.time, results.event) if c]
    profile["similar"] = None
    if "radiomics" in mdata.mod and patient in mdata["radiomics"].obs_names:
        similar = rg.tl.similar_patients(mdata, patient, mod="radiomics",
                                         n_neighbors=N_SIMILAR, obs_columns=outcome)
        similar["patient_id"] = [results.display_id(p) for p in similar["patient_id"]]
        profile["similar"] = similar
    profile["outcome"] = {c: obs[c] for c in outcome}
    predictions = results.patient_predictions(patient)
    keep = [c for c in ("model", "set", "prediction", "prediction_sd", "predicted_label")
            if c in predictions.columns]
    profile["predictions"] = predictions[keep] if len(predictions) else None
    profile["risk"] = _risk(results, patient)
    profile["risk_figure"] = risk_km(results, patient) if profile["risk"] else None
    return profile


def _risk(results: Results, patient: str) -> dict | None:
    """The patient's risk score and group, when a risk signature stored them in obs."""
    columns = results.risk_columns()
    if not columns:
        return None
    obs = results.mdata.obs
    value = obs.loc[patient, columns["risk score"]]
    return {"score": "" if pd.isna(value) else f"{float(value):.3g}",
            "group": str(obs.loc[patient, columns["risk group"]])}


def risk_km(results: Results, patient: str):
    """Kaplan-Meier curves of the risk groups with the patient's follow-up marked."""
    columns = results.risk_columns()
    if not columns or not callable(getattr(rg.pl, "km", None)) or not (
            results.time and results.event):
        return None
    from ..survival import _LOCK

    with _LOCK:
        work = results.mdata.copy()
    group = columns["risk group"]
    keep = work.obs[group].notna().to_numpy() & work.obs[results.time].notna().to_numpy()
    work = work[keep].copy()
    fig = rg.pl.km(work, results.time, results.event, group, title="Risk groups")
    follow_up = results.mdata.obs.loc[patient, results.time]
    if pd.notna(follow_up):
        marker = dict(x=float(follow_up), line_dash="dash", line_color="#17324f",
                      annotation_text=f"this patient ({results.mdata.obs.loc[patient, group]})",
                      annotation_position="top right")
        try:  # the curves' panel only, when the figure has a numbers-at-risk panel
            fig.add_vline(**marker, row=1, col=1)
        except Exception:  # a figure without subplots
            fig.add_vline(**marker)
    fig.update_layout(height=420)
    return fig


def layout(results: Results, params: dict | None = None):
    if results.mdata is None:
        return card("Patient", notice("No cohort file was given."))
    patients = results.patients
    choices = sorted(((results.display_id(p), p) for p in patients), key=lambda t: t[0])
    return html.Div([
        card("Patient", html.Div(className="rg-controls", children=[
            html.Label(["Patient", dcc.Dropdown(
                id="patient-select", clearable=False, value=choices[0][0],
                options=[{"label": shown, "value": shown} for shown, _ in choices])],
                className="rg-wide"),
            html.Button("Printable summary (HTML)", id="patient-print", className="rg-button"),
            dcc.Download(id="patient-summary"),
        ])),
        html.Div(patient_body(results, choices[0][1]) if choices else None,
                 id="patient-body"),
    ])


def patient_body(results: Results, patient: str):
    """The view of the patient a page opens on (kept for the next page load)."""
    return results.memo("patient-body", patient,
                        lambda: body(results, build_profile(results, patient)), size=16)


def body(results: Results, profile: dict):
    clinical = profile["clinical"]
    outcome = ", ".join(f"{k} = {v}" for k, v in profile["outcome"].items()) or "not recorded"
    risk = profile["risk"]
    left = [
        card("Patient", html.H2(profile["patient"], id="patient-shown"),
             html.P(f"Outcome: {outcome}"),
             table("patient-clinical", ["column", "value"], records(clinical), page_size=12)),
        card("Risk", html.P(f"Risk score {risk['score']}, group {risk['group']}",
                            id="patient-risk") if risk else
             notice("No risk score is stored in the cohort."),
             graph("patient-risk-km", profile["risk_figure"])
             if profile.get("risk_figure") is not None else None),
        card("Model predictions", table("patient-predictions",
                                         list(profile["predictions"].columns),
                                         records(profile["predictions"])))
        if profile.get("predictions") is not None else None,
        card("Mutations", html.P(", ".join(profile["mutations"]) or "none of the genes tested",
                                 id="patient-mutations")
             if profile["mutations"] is not None else notice("No mutation data.")),
    ]
    right = [
        card("Lesion", graph("patient-image", profile["image_figure"])
             if profile["image_figure"] is not None else None,
             html.P(profile["image_note"], className="rg-note")),
        card("Radiomic profile: percentile in the cohort",
             graph("patient-percentiles", profile.get("percentiles_figure") or empty_figure(
                 "No radiomic features."))),
        card("Expression of the genes linked to the imaging features",
             graph("patient-genes", profile["genes_figure"]) if profile["genes"] is not None
             else notice("No gene is linked (q <= 0.05) to the imaging features shown.")),
    ]
    similar = profile["similar"]
    return html.Div([
        html.Div(className="rg-grid-2", children=[html.Div(left), html.Div(right)]),
        card("Most similar patients in radiomic space",
             table("patient-similar", list(similar.columns), records(similar))
             if similar is not None else notice("The patient has no radiomic features.")),
    ])


def register(app, results: Results) -> None:
    """The view's callbacks; none runs when the page loads, whose layout already shows the
    first patient."""

    @app.callback(Output("patient-body", "children"), Input("patient-select", "value"),
                  prevent_initial_call=True)
    def show(shown):
        patient = results.patient_id(shown)
        if patient is None:
            raise PreventUpdate
        return body(results, build_profile(results, patient))

    @app.callback(Output("patient-summary", "data"), Input("patient-print", "n_clicks"),
                  State("patient-select", "value"), prevent_initial_call=True)
    def summary(n_clicks, shown):
        from ..summary import patient_summary_html

        patient = results.patient_id(shown)
        if patient is None or not n_clicks:
            raise PreventUpdate
        html_text = patient_summary_html(build_profile(results, patient))
        return {"content": html_text, "filename": f"summary-{results.display_id(patient)}.html",
                "type": "text/html"}
