"""Models: each fitted model's card, its nested cross-validation metrics with confidence
intervals, and its validation figures (ROC or time-dependent AUC, calibration, decision
curve, feature importance), drawn from the tables the model tools stored in the cohort, or
read from the Plotly JSON files saved beside the model."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import plotly.io as pio
from dash import ClientsideFunction, Input, Output, State, dcc, html
from dash.exceptions import PreventUpdate

import radiogenomics as rg

from ..components import card, graph, notice, table
from ..results import Results

PATH = "/models"
TITLE = "Models"

#: Figures by task: (name in the saved files, title, library function).
FIGURES = {
    "classification": [
        ("roc", "ROC curve", "roc"),
        ("calibration", "Calibration", "calibration"),
        ("decision_curve", "Decision curve", "decision_curve"),
        ("importance", "Feature importance", "importance"),
    ],
    "survival": [
        ("time_dependent_auc", "Time-dependent AUC", "time_dependent_auc"),
        ("importance", "Feature importance", "importance"),
    ],
    "regression": [("importance", "Feature importance", "importance")],
}
METRIC_COLUMNS = ["validation", "metric", "estimate", "95% CI"]


def model_cards(results: Results) -> dict[str, dict]:
    """The stored model cards by key (``uns["radiogenomics"]["model_cards"]``)."""
    stored = results.uns("model_cards", default={}) or {}
    cards = {}
    if isinstance(stored, dict):
        for key, value in stored.items():
            try:
                cards[str(key)] = json.loads(value) if isinstance(value, str) else dict(value)
            except (TypeError, ValueError):
                continue
    return cards


def metrics_rows(results: Results, key: str) -> list[dict]:
    frame = results.uns("models", key, default=None)
    if not isinstance(frame, pd.DataFrame):
        return []
    out = []
    for row in frame.itertuples():
        ci = (
            ""
            if pd.isna(getattr(row, "ci_lower", float("nan")))
            else (f"{row.ci_lower:.3f} to {row.ci_upper:.3f}")
        )
        out.append(
            {
                "validation": row.validation,
                "metric": str(row.metric).replace("_", " "),
                "estimate": f"{row.estimate:.3f}",
                "95% CI": ci,
                "n": str(int(row.n)) if pd.notna(getattr(row, "n", None)) else "",
            }
        )
    return out


def model_figure(results: Results, key: str, card_: dict, name: str, function: str):
    """A validation figure from the stored tables, else from the saved Plotly JSON file,
    else ``None``."""
    try:
        return getattr(rg.pl, function)(results.mdata, key)
    except Exception:  # noqa: BLE001 - a model stored without the tables of this figure
        pass
    folder = card_.get("data", {}).get("folder")
    saved = (card_.get("figures") or {}).get(name)
    if folder and saved:
        path = Path(folder) / saved
        if path.is_file():
            try:
                return pio.read_json(path)
            except ValueError:
                return None
    return None


def _card_view(card_: dict) -> html.Table:
    data, pipeline = card_.get("data", {}), card_.get("pipeline", {})
    target = card_.get("target", {})
    features = card_.get("features", {})
    used = features.get("used_by_final_model") or []
    validation = card_.get("validation", {})
    permutation = validation.get("permutation_test") or {}
    items = [
        ("task", card_.get("task", "")),
        (
            "predicts",
            f"{target.get('column', '')}"
            + (
                f" (positive: {target.get('positive')})"
                if target.get("positive") is not None
                else ""
            )
            + (f", event {target.get('event')}" if target.get("event") else ""),
        ),
        ("patients", f"{data.get('n_patients', '')} of {data.get('n_patients_cohort', '')}"),
        (
            "features",
            f"{features.get('label', '')}: {features.get('n_input', '')} given, "
            f"{len(used)} used by the final model",
        ),
        ("pipeline", " → ".join(pipeline.get("steps", []))),
        (
            "model",
            f"{pipeline.get('model', '')} ({pipeline.get('learner', '')}), selection "
            f"{pipeline.get('selection', '')}",
        ),
        (
            "validation",
            ", ".join(
                f"{k} {v}" for k, v in validation.items() if isinstance(v, (int, float, str))
            ),
        ),
        (
            "permutation test p",
            f"{permutation['p_value']:.3g}"
            if isinstance(permutation.get("p_value"), (int, float))
            else "not run",
        ),
        ("intended use", card_.get("intended_use", "")),
        ("fitted", card_.get("created", "")),
        ("versions", ", ".join(f"{k} {v}" for k, v in (card_.get("versions") or {}).items())),
    ]
    return html.Table(
        className="rg-kv rg-clinical",
        id="models-card",
        children=[
            html.Tbody([html.Tr([html.Th(k), html.Td(v)]) for k, v in items if v not in ("", None)])
        ],
    )


def model_view(results: Results, key: str):
    """The card, metrics and figures of one model (kept for the next request)."""

    def compute():
        card_ = model_cards(results)[key]
        figures = []
        for name, title, function in FIGURES.get(card_.get("task", ""), FIGURES["regression"]):
            figure = model_figure(results, key, card_, name, function)
            if figure is not None:
                figure.update_layout(height=380, margin=dict(l=10, r=10, t=40, b=40))
                figures.append(card(title, graph(f"models-{name}", figure)))
        return html.Div(
            [
                html.Div(
                    className="rg-grid-2",
                    children=[
                        card("Model card", _card_view(card_)),
                        card(
                            "Nested cross-validation: metrics with bootstrap 95% intervals",
                            table(
                                "models-metrics",
                                METRIC_COLUMNS,
                                metrics_rows(results, key),
                                page_size=20,
                            ),
                        ),
                    ],
                ),
                html.Div(className="rg-grid-2", children=figures)
                if figures
                else notice("No validation figure is stored for this model."),
            ]
        )

    return results.memo("models-view", key, compute, size=16)


def layout(results: Results, params: dict | None = None):
    if results.mdata is None:
        return card("Models", notice("No cohort file was given."))
    cards = model_cards(results)
    if not cards:
        return card(
            "Models",
            notice(
                "No fitted model is stored in the cohort "
                "(rg.tl.fit_model stores its card, metrics and curves)."
            ),
        )
    keys = sorted(cards)
    wanted = (params or {}).get("model")
    key = wanted if wanted in cards else keys[0]
    return html.Div(
        [
            card(
                "Models",
                html.Div(
                    className="rg-controls",
                    children=[
                        html.Label(
                            [
                                "Model",
                                dcc.Dropdown(
                                    id="models-select",
                                    clearable=False,
                                    value=key,
                                    options=[
                                        {"label": f"{k} ({cards[k].get('task', '')})", "value": k}
                                        for k in keys
                                    ],
                                ),
                            ],
                            className="rg-wide",
                        )
                    ],
                ),
            ),
            html.Div(model_view(results, key), id="models-body"),
            dcc.Store(id="models-defaults", data={"model": keys[0]}),
        ]
    )


def register(app, results: Results) -> None:
    @app.callback(
        Output("models-body", "children"),
        Input("models-select", "value"),
        prevent_initial_call=True,
    )
    def show(key):
        if key not in model_cards(results):
            raise PreventUpdate
        return model_view(results, key)

    app.clientside_callback(
        ClientsideFunction("rg", "modelsSearch"),
        Output("url", "search", allow_duplicate=True),
        Input("models-select", "value"),
        State("models-defaults", "data"),
        prevent_initial_call=True,
    )
