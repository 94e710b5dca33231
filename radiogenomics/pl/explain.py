"""Figures of model explanations (SHAP values stored by ``rg.tl.explain``): the cohort
summary (one point per patient and feature) and one patient's waterfall."""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from ..errors import CohortError, InputError
from ..tl.explain import EXPLANATION_KIND, Explanation

__all__ = ["shap_summary", "shap_waterfall"]


def _explanation(explanation, key: str | None):
    """An :class:`~radiogenomics.tl.explain.Explanation`, or the one stored in a cohort."""

    if isinstance(explanation, Explanation):
        return explanation
    root = getattr(explanation, "uns", {}).get("radiogenomics", {})
    tables = root.get(EXPLANATION_KIND, {})
    if key is None:
        if len(tables) != 1:
            raise CohortError(
                "name the explanation (key=)",
                expected=f"one of {sorted(tables)}",
                found=len(tables),
            )
        key = next(iter(tables))
    if key not in tables:
        raise CohortError(f"no explanation named {key!r}", expected=f"one of {sorted(tables)}")
    params = root.get("params", {}).get(EXPLANATION_KIND, {}).get(key, {})
    return Explanation.from_frame(tables[key], **dict(params))


def _short(name: str) -> str:
    return name.partition(":")[2] or name


def shap_summary(explanation, key: str | None = None, top: int = 15) -> go.Figure:
    """SHAP summary: per feature (ordered by mean absolute SHAP value), one point per
    patient at its SHAP value, coloured by the patient's feature value (its rank within
    the cohort, low blue to high red; the value itself, in its unit, on hover).

    Parameters
    ----------
    explanation
        From :func:`radiogenomics.tl.explain`, or the cohort it was stored in.
    key
        Name of the stored explanation (when the cohort holds several).
    top
        Features shown.

    Examples
    --------
    >>> import radiogenomics as rg
    >>> mdata = rg.datasets.toy_cohort(n_patients=60)
    >>> model = rg.tl.fit_model(mdata, "egfr_mutant", "radiomics", n_features=5, outer_folds=3,
    ...                         n_repeats=1, param_grid={}, n_bootstraps=50)
    >>> explanation = rg.tl.explain(model, mdata)
    >>> explanation.values.shape
    (60, 5)
    >>> fig = rg.pl.shap_summary(explanation, top=3)
    >>> fig.layout.title.text, len(fig.data)  # one trace per feature shown
    ('SHAP values of egfr_mutant', 3)
    >>> fig.layout.xaxis.title.text
    'SHAP value (effect on log-odds of egfr_mutant = 1.0)'
    >>> len(rg.pl.shap_summary(mdata).data)  # the explanation stored in the cohort
    5
    """
    e = _explanation(explanation, key)
    values = np.asarray(e.values, dtype=float)
    order = np.argsort(-np.abs(values).mean(axis=0), kind="stable")[:top]
    fig = go.Figure()
    rng = np.random.default_rng(0)  # vertical jitter only, for legibility
    for rank, j in enumerate(order[::-1]):
        name = e.feature_names[j]
        data = e.data[name].to_numpy(dtype=float)
        colour = pd.Series(data).rank(pct=True).to_numpy()
        fig.add_trace(
            go.Scatter(
                x=values[:, j],
                y=rank + rng.uniform(-0.25, 0.25, size=values.shape[0]),
                mode="markers",
                name=_short(name),
                showlegend=False,
                marker={
                    "color": colour,
                    "colorscale": "RdBu_r",
                    "cmin": 0,
                    "cmax": 1,
                    "size": 6,
                    "showscale": rank == 0,
                    "colorbar": {
                        "title": "feature value<br>(rank)",
                        "tickvals": [0, 1],
                        "ticktext": ["low", "high"],
                    },
                },
                customdata=np.c_[np.asarray(e.patients, dtype=object), data],
                hovertemplate="%{customdata[0]}<br>"
                + _short(name)
                + " = %{customdata[1]:.4g}<br>SHAP %{x:.3f}<extra></extra>",
            )
        )
    fig.add_vline(x=0, line={"color": "grey", "width": 1})
    fig.update_layout(
        title=f"SHAP values of {e.model}",
        template="plotly_white",
        xaxis_title=f"SHAP value (effect on {e.output_name})",
        yaxis={
            "tickvals": list(range(len(order))),
            "ticktext": [_short(e.feature_names[j]) for j in order[::-1]],
        },
        height=max(300, 28 * len(order) + 140),
    )
    return fig


def shap_waterfall(
    explanation, patient: str | None = None, key: str | None = None, top: int = 10
) -> go.Figure:
    """One patient's explanation: from the base value (the cohort's expected output),
    each feature's contribution (with the patient's value in its unit) to the patient's
    output; features beyond ``top`` are grouped.

    Parameters
    ----------
    explanation
        From :func:`radiogenomics.tl.explain`, or the cohort it was stored in.
    patient
        The patient (default: the only or the first explained patient).
    key
        Name of the stored explanation.
    top
        Features shown one by one.

    Examples
    --------
    >>> import radiogenomics as rg
    >>> mdata = rg.datasets.toy_cohort(n_patients=60)
    >>> model = rg.tl.fit_model(mdata, "egfr_mutant", "radiomics", n_features=5, outer_folds=3,
    ...                         n_repeats=1, param_grid={}, n_bootstraps=50)
    >>> explanation = rg.tl.explain(model, mdata)
    >>> fig = rg.pl.shap_waterfall(explanation, "P001", top=3)
    >>> fig.layout.title.text
    'P001: log-odds of egfr_mutant = 1.0 ... (base ...)'
    >>> labels = list(fig.data[0].y)
    >>> labels[0], labels[-2:], len(labels)  # base, 3 features, the other 2, output
    ('base value', ['2 other features', 'output'], 6)
    """
    e = _explanation(explanation, key)
    if patient is None:
        patient = e.patients[0]
    if str(patient) not in e.patients:
        raise InputError(
            f"patient {patient!r} is not in the explanation",
            expected=f"one of {len(e.patients)} explained patients",
            found=str(patient),
        )
    row = e.patients.index(str(patient))
    values = np.asarray(e.values[row], dtype=float)
    order = np.argsort(-np.abs(values), kind="stable")
    shown, rest = order[:top], order[top:]
    labels = [f"{_short(e.feature_names[j])} = {e.data.iloc[row, j]:.4g}" for j in shown]
    measures = ["relative"] * len(shown)
    contributions = list(values[shown])
    if rest.size:
        labels.append(f"{rest.size} other features")
        measures.append("relative")
        contributions.append(float(values[rest].sum()))
    fig = go.Figure(
        go.Waterfall(
            orientation="h",
            measure=["absolute", *measures, "total"],
            y=["base value", *labels, "output"][::1],
            x=[e.base_value, *contributions, float(e.output[row])],
            increasing={"marker": {"color": "#d62728"}},
            decreasing={"marker": {"color": "#1f77b4"}},
            totals={"marker": {"color": "#7f7f7f"}},
        )
    )
    fig.update_layout(
        title=f"{patient}: {e.output_name} {float(e.output[row]):.3f} (base {e.base_value:.3f})",
        template="plotly_white",
        xaxis_title=e.output_name,
        yaxis={"autorange": "reversed"},
        height=max(300, 30 * (len(labels) + 2) + 120),
    )
    return fig
