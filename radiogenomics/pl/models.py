"""Figures of predictive models: ROC and calibration curves with confidence bands,
decision curves, time-dependent AUC, feature importance and model comparisons.

Each function takes a fitted model (``rg.tl.fit_model``), or the cohort and the key the
model's results were stored under, and draws the tables the library computed.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from ..cohort import get_result
from ..errors import CohortError
from ..tl.models.api import MODEL_KINDS
from ..tl.models.fitted import register_figure_writer

__all__ = [
    "roc",
    "calibration",
    "decision_curve",
    "time_dependent_auc",
    "importance",
    "model_comparison",
    "write_model_figures",
]

_SET_COLOURS = {"cross-validation": "#1f77b4", "external": "#d62728", "new": "#2ca02c"}
_SOURCE_COLOURS = ["#1f77b4", "#ff7f0e", "#2ca02c", "#9467bd", "#8c564b", "#e377c2"]


def _tables(model, key: str | None) -> dict:
    """metrics, curves, importance, predictions and card of a model or a stored one."""
    if hasattr(model, "figure_tables"):  # an external validation (rg.tl.validate_model)
        return model.figure_tables()
    if hasattr(model, "metrics") and hasattr(model, "curves"):
        return {
            "metrics": model.metrics,
            "curves": model.curves,
            "importance": model.importance,
            "predictions": model.predictions,
            "card": model.card,
            "name": model.name,
        }

    mdata = model
    root = mdata.uns.get("radiogenomics", {})
    if key is None:
        keys = sorted(root.get(MODEL_KINDS["metrics"], {}))
        if len(keys) != 1:
            raise CohortError("name the model (key=)", expected=f"one of {keys}")
        key = keys[0]
    card = root.get(MODEL_KINDS["cards"], {}).get(key)
    return {
        "metrics": get_result(mdata, MODEL_KINDS["metrics"], key),
        "curves": get_result(mdata, MODEL_KINDS["curves"], key),
        "importance": get_result(mdata, MODEL_KINDS["importance"], key),
        "predictions": get_result(mdata, MODEL_KINDS["predictions"], key),
        "card": json.loads(card) if isinstance(card, str) else (card or {}),
        "name": key,
    }


def _metric(metrics: pd.DataFrame, where: str, name: str) -> str:
    row = metrics[(metrics["validation"] == where) & (metrics["metric"] == name)]
    if row.empty:
        return ""
    r = row.iloc[0]
    return f"{r['estimate']:.2f} ({r['ci_lower']:.2f}-{r['ci_upper']:.2f})"


def _rgba(colour: str, alpha: float) -> str:
    colour = colour.lstrip("#")
    r, g, b = (int(colour[i : i + 2], 16) for i in (0, 2, 4))
    return f"rgba({r},{g},{b},{alpha})"


def _band(
    fig: go.Figure,
    frame: pd.DataFrame,
    colour: str,
    name: str,
    legend: str,
    mode: str = "lines",
    show_band: bool = True,
) -> None:
    if show_band and frame["lower"].notna().any():
        fig.add_trace(
            go.Scatter(
                x=np.r_[frame["x"], frame["x"][::-1]],
                y=np.r_[frame["upper"], frame["lower"][::-1]],
                fill="toself",
                fillcolor=_rgba(colour, 0.18),
                line={"width": 0},
                hoverinfo="skip",
                showlegend=False,
                legendgroup=legend,
            )
        )
    fig.add_trace(
        go.Scatter(
            x=frame["x"],
            y=frame["y"],
            mode=mode,
            name=name,
            line={"color": colour, "width": 2},
            legendgroup=legend,
        )
    )


def _title(tables: dict, what: str) -> str:
    card = tables["card"]
    target = card.get("target", {}).get("column", tables["name"])
    features = card.get("features", {}).get("label", "")
    return f"{what}: {target}" + (f" from {features}" if features else "")


def roc(model, key: str | None = None) -> go.Figure:
    """ROC curves (cross-validated and, when present, external) with bootstrap 95% bands.

    Examples
    --------
    >>> import radiogenomics as rg
    >>> mdata = rg.datasets.toy_cohort(n_patients=60)
    >>> model = rg.tl.fit_model(mdata, "egfr_mutant", "radiomics", n_features=5, outer_folds=3,
    ...                         n_repeats=1, param_grid={}, n_bootstraps=50)
    >>> fig = rg.pl.roc(model)
    >>> fig.layout.title.text
    'ROC: egfr_mutant from radiomics'
    >>> [trace.name for trace in fig.data]  # the band has no name
    ['chance', None, 'cross-validation: AUC ... (...)']
    >>> rg.pl.roc(mdata, key="egfr_mutant").layout.xaxis.title.text  # from the stored tables
    '1 - specificity'
    """
    tables = _tables(model, key)
    curves = tables["curves"]
    fig = go.Figure()
    fig.add_trace(
        go.Scatter(
            x=[0, 1], y=[0, 1], mode="lines", name="chance", line={"color": "grey", "dash": "dash"}
        )
    )
    for where, frame in curves[curves["curve"] == "roc"].groupby("set", sort=False):
        auc = _metric(tables["metrics"], where, "auc")
        _band(fig, frame, _SET_COLOURS.get(where, "#444444"), f"{where}: AUC {auc}", where)
    if len(fig.data) == 1:
        raise CohortError("the model has no ROC curve", expected="a classification model")
    fig.update_layout(
        title=_title(tables, "ROC"),
        xaxis_title="1 - specificity",
        yaxis_title="sensitivity",
        template="plotly_white",
        xaxis={"range": [0, 1]},
        yaxis={"range": [0, 1.02]},
        legend={"x": 0.45, "y": 0.05},
    )
    return fig


def calibration(model, key: str | None = None) -> go.Figure:
    """Observed against predicted probability in bins, with 95% (Wilson) intervals, and
    the calibration intercept and slope in the legend.

    Examples
    --------
    >>> import radiogenomics as rg
    >>> mdata = rg.datasets.toy_cohort(n_patients=60)
    >>> model = rg.tl.fit_model(mdata, "egfr_mutant", "radiomics", n_features=5, outer_folds=3,
    ...                         n_repeats=1, param_grid={}, n_bootstraps=50)
    >>> fig = rg.pl.calibration(model)
    >>> fig.layout.title.text, fig.layout.xaxis.title.text, fig.layout.yaxis.title.text
    ('Calibration: egfr_mutant from radiomics', 'predicted probability', 'observed fraction')
    >>> fig.data[-1].name
    'cross-validation: slope ... (...), intercept ... (...)'
    """
    tables = _tables(model, key)
    curves = tables["curves"]
    fig = go.Figure()
    fig.add_trace(
        go.Scatter(
            x=[0, 1],
            y=[0, 1],
            mode="lines",
            name="perfect calibration",
            line={"color": "grey", "dash": "dash"},
        )
    )
    for where, frame in curves[curves["curve"] == "calibration"].groupby("set", sort=False):
        colour = _SET_COLOURS.get(where, "#444444")
        slope = _metric(tables["metrics"], where, "calibration_slope")
        intercept = _metric(tables["metrics"], where, "calibration_intercept")
        _band(
            fig,
            frame,
            colour,
            f"{where}: slope {slope}, intercept {intercept}",
            where,
            mode="lines+markers",
        )
    if len(fig.data) == 1:
        raise CohortError("the model has no calibration curve", expected="a classification model")
    fig.update_layout(
        title=_title(tables, "Calibration"),
        xaxis_title="predicted probability",
        yaxis_title="observed fraction",
        template="plotly_white",
        xaxis={"range": [0, 1]},
        yaxis={"range": [-0.02, 1.02]},
        legend={"x": 0.02, "y": 0.98},
    )
    return fig


def decision_curve(model, key: str | None = None, where: str = "cross-validation") -> go.Figure:
    """Net benefit of acting on the model's predictions across threshold probabilities,
    against treating everyone and no one (Vickers and Elkin 2006), with a bootstrap band.

    Examples
    --------
    >>> import radiogenomics as rg
    >>> mdata = rg.datasets.toy_cohort(n_patients=60)
    >>> model = rg.tl.fit_model(mdata, "egfr_mutant", "radiomics", n_features=5, outer_folds=3,
    ...                         n_repeats=1, param_grid={}, n_bootstraps=50)
    >>> fig = rg.pl.decision_curve(model)
    >>> fig.layout.title.text
    'Decision curve (cross-validation): egfr_mutant from radiomics'
    >>> [trace.name for trace in fig.data]
    [None, 'model', 'treat all', 'treat none']
    >>> fig.layout.xaxis.title.text, fig.layout.yaxis.title.text
    ('threshold probability', 'net benefit')
    """
    tables = _tables(model, key)
    curves = tables["curves"]
    curves = curves[curves["set"] == where]
    model_curve = curves[curves["curve"] == "decision"]
    if model_curve.empty:
        raise CohortError("the model has no decision curve", expected="a classification model")
    fig = go.Figure()
    _band(fig, model_curve, _SET_COLOURS.get(where, "#1f77b4"), "model", "model")
    treat_all = curves[curves["curve"] == "treat_all"]
    fig.add_trace(
        go.Scatter(
            x=treat_all["x"],
            y=treat_all["y"],
            mode="lines",
            name="treat all",
            line={"color": "#7f7f7f"},
        )
    )
    fig.add_trace(
        go.Scatter(
            x=treat_all["x"],
            y=np.zeros(len(treat_all)),
            mode="lines",
            name="treat none",
            line={"color": "black", "dash": "dot"},
        )
    )
    top = float(np.nanmax(model_curve["upper"].fillna(model_curve["y"])))
    fig.update_layout(
        title=_title(tables, f"Decision curve ({where})"),
        xaxis_title="threshold probability",
        yaxis_title="net benefit",
        template="plotly_white",
        yaxis={"range": [-0.05, max(top, float(treat_all["y"].max())) * 1.1]},
    )
    return fig


def time_dependent_auc(model, key: str | None = None) -> go.Figure:
    """Cumulative/dynamic AUC over follow-up with a bootstrap band (survival models).

    Examples
    --------
    >>> import radiogenomics as rg
    >>> mdata = rg.datasets.toy_cohort(n_patients=60)
    >>> model = rg.tl.fit_model(mdata, "os_months", "radiomics", event="os_event", n_features=5,
    ...                         outer_folds=3, n_repeats=1, param_grid={}, n_bootstraps=50)
    >>> model.task
    'survival'
    >>> fig = rg.pl.time_dependent_auc(model)
    >>> fig.layout.title.text, fig.layout.yaxis.title.text
    ('Time-dependent AUC: os_months from radiomics', 'AUC(t)')
    >>> fig.data[-1].name
    'cross-validation: C-index ... (...)'
    """
    tables = _tables(model, key)
    curves = tables["curves"]
    fig = go.Figure()
    for where, frame in curves[curves["curve"] == "time_dependent_auc"].groupby("set", sort=False):
        c_index = _metric(tables["metrics"], where, "concordance")
        _band(
            fig,
            frame,
            _SET_COLOURS.get(where, "#444444"),
            f"{where}: C-index {c_index}",
            where,
            mode="lines+markers",
        )
    if not fig.data:
        raise CohortError("the model has no time-dependent AUC", expected="a survival model")
    fig.add_hline(y=0.5, line_dash="dash", line_color="grey")
    fig.update_layout(
        title=_title(tables, "Time-dependent AUC"),
        xaxis_title="time",
        yaxis_title="AUC(t)",
        template="plotly_white",
        yaxis={"range": [0.3, 1.02]},
    )
    return fig


def importance(model, key: str | None = None, top: int = 20) -> go.Figure:
    """Permutation importance (mean and SD over the held-out folds) of the most often
    selected features, coloured by source, with how often each was selected across folds.

    Examples
    --------
    >>> import radiogenomics as rg
    >>> mdata = rg.datasets.toy_cohort(n_patients=60)
    >>> model = rg.tl.fit_model(mdata, "egfr_mutant", "radiomics", n_features=5, outer_folds=3,
    ...                         n_repeats=1, param_grid={}, n_bootstraps=50,
    ...                         importance_repeats=2)
    >>> fig = rg.pl.importance(model, top=3)
    >>> fig.layout.title.text, fig.layout.xaxis.title.text
    ('Feature importance: egfr_mutant from radiomics', 'drop in performance when permuted')
    >>> [trace.name for trace in fig.data], len(fig.data[0].y)
    (['radiomics'], 3)
    >>> fig.data[0].text[0]
    'selected ...%'
    """
    tables = _tables(model, key)
    table = tables["importance"].head(top).iloc[::-1]
    if table.empty:
        raise CohortError("the model has no feature importance")
    use_permutation = (
        "permutation_importance" in table and table["permutation_importance"].notna().any()
    )
    value = table["permutation_importance"] if use_permutation else table["selection_frequency"]
    error = table.get("permutation_importance_sd") if use_permutation else None
    sources = list(dict.fromkeys(tables["importance"]["source"]))
    fig = go.Figure()
    for i, source in enumerate(sources):
        part = table["source"] == source
        if not part.any():
            continue
        fig.add_trace(
            go.Bar(
                y=table.loc[part, "feature"],
                x=value[part],
                orientation="h",
                name=source,
                marker_color=_SOURCE_COLOURS[i % len(_SOURCE_COLOURS)],
                error_x=None if error is None else {"type": "data", "array": error[part].fillna(0)},
                text=[f"selected {f:.0%}" for f in table.loc[part, "selection_frequency"]],
                textposition="outside" if not use_permutation else "auto",
                hovertemplate="%{y}: %{x:.3f}<br>%{text}<extra></extra>",
            )
        )
    metric = tables["card"].get("validation", {}).get("permutation_test", {}) or {}
    label = (
        "drop in " + (metric.get("metric") or "performance") + " when permuted"
        if use_permutation
        else "selection frequency across folds"
    )
    fig.update_layout(
        title=_title(tables, "Feature importance"),
        xaxis_title=label,
        template="plotly_white",
        barmode="overlay",
        height=max(350, 24 * len(table) + 120),
        yaxis={"categoryorder": "array", "categoryarray": list(table["feature"])},
    )
    return fig


def model_comparison(comparison, key: str | None = None, metric: str | None = None) -> go.Figure:
    """Forest plot of candidates' performance with 95% intervals (``rg.tl.compare_models``).

    Examples
    --------
    >>> import radiogenomics as rg
    >>> mdata = rg.datasets.toy_cohort(n_patients=60)
    >>> comparison = rg.tl.compare_models(
    ...     mdata, "egfr_mutant", {"imaging": "radiomics", "clinical": {"clinical": ["age"]}},
    ...     n_features=5, outer_folds=3, n_repeats=1, n_bootstraps=50)
    >>> fig = rg.pl.model_comparison(comparison)
    >>> fig.layout.title.text
    'Cross-validated auc by candidate (95% bootstrap CI)'
    >>> list(fig.data[0].y)  # bottom to top
    ['clinical', 'imaging']
    >>> list(rg.pl.model_comparison(mdata, metric="balanced_accuracy").data[0].y)
    ['clinical', 'imaging']
    """
    if hasattr(comparison, "metrics") and hasattr(comparison, "tests"):
        metrics = comparison.metrics
    else:
        metrics = get_result(comparison, MODEL_KINDS["comparison"], key)
    if metric is None:
        metric = next(m for m in ("auc", "concordance", "r2") if m in set(metrics["metric"]))
    rows = metrics[metrics["metric"] == metric].iloc[::-1]
    fig = go.Figure(
        go.Scatter(
            x=rows["estimate"],
            y=rows["candidate"],
            mode="markers",
            marker={"size": 11, "color": "#1f77b4"},
            error_x={
                "type": "data",
                "symmetric": False,
                "array": rows["ci_upper"] - rows["estimate"],
                "arrayminus": rows["estimate"] - rows["ci_lower"],
            },
            text=rows["features"],
            hovertemplate="%{y} (%{text}): %{x:.3f}<extra></extra>",
        )
    )
    if metric in ("auc", "concordance"):
        fig.add_vline(x=0.5, line_dash="dash", line_color="grey")
    fig.update_layout(
        title=f"Cross-validated {metric} by candidate (95% bootstrap CI)",
        xaxis_title=metric,
        template="plotly_white",
        height=max(300, 60 * len(rows) + 120),
    )
    return fig


def write_model_figures(model, folder) -> dict[str, str]:
    """Write a fitted model's validation figures as Plotly JSON into ``folder``.

    Called by :meth:`radiogenomics.tl.models.FittedModel.save` (registered when
    ``radiogenomics.pl`` is imported): feature importance for every model; ROC,
    calibration and decision curve for a classifier; the time-dependent AUC for a
    survival model. Returns ``{name: "figures/<name>.json"}``; a figure that cannot be
    drawn is left out with a warning.

    Examples
    --------
    >>> import tempfile
    >>> import radiogenomics as rg
    >>> mdata = rg.datasets.toy_cohort(n_patients=60)
    >>> model = rg.tl.fit_model(mdata, "egfr_mutant", "radiomics", n_features=5, outer_folds=3,
    ...                         n_repeats=1, param_grid={}, n_bootstraps=50)
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     written = write_model_figures(model, folder)
    >>> sorted(written)
    ['calibration', 'decision_curve', 'importance', 'roc']
    >>> written["roc"]
    'figures/roc.json'
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    makers = {"importance": importance}
    if model.task == "classification":
        makers.update({"roc": roc, "calibration": calibration, "decision_curve": decision_curve})
    elif model.task == "survival":
        makers["time_dependent_auc"] = time_dependent_auc
    written = {}
    for name, maker in makers.items():
        try:
            figure = maker(model)
        except Exception as exc:  # a figure must not stop the model from being saved
            warnings.warn(f"figure {name!r} not written: {exc}", stacklevel=2)
            continue
        figure.write_json(folder / f"{name}.json")
        written[name] = f"figures/{name}.json"
    return written


register_figure_writer(write_model_figures)
