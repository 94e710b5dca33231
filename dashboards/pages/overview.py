"""Cohort overview: patients per modality and their overlap, clinical summary, the join
report, extraction failures and DICOM conversion report, QC summaries and the result
tables available."""

from __future__ import annotations

import pandas as pd
from dash import ALL, ClientsideFunction, Input, Output, State, ctx, dcc, html
from dash.exceptions import PreventUpdate

import radiogenomics as rg

from ..components import card, graph, notice, records, stat, table
from ..results import Results
from ..units import human_label

#: Result kinds of the preprocessing and curation tools shown as QC summaries.
QC_KINDS = ("feature_qc", "harmonization", "robustness", "redundancy", "qc")

PATH = "/"
TITLE = "Cohort"


MAX_LEVELS = 12
SEPARATOR = ";"


def read_filters(results: Results, params: dict | None) -> tuple[str, ...]:
    """The cohort filters of the address (``?filter=stage:III;sex:male``), those the
    cohort can read."""
    text = (params or {}).get("filter") or ""
    kept = []
    for spec in text.split(SEPARATOR)[:12]:
        spec = spec.strip()
        if not spec or spec in kept:
            continue
        try:
            rg.tl.group_mask(results.mdata, spec)
        except rg.errors.RadiogenomicsError:
            continue
        kept.append(spec)
    return tuple(kept)


def chart(results: Results, column: str, mask):
    """Bars of a categorical column's levels, or a histogram of a numeric one, over the
    patients that pass the filters; a click filters by the level or the bin."""
    import numpy as np
    import plotly.graph_objects as go

    series = results.mdata.obs[column][mask]
    numeric = (
        pd.api.types.is_numeric_dtype(series.dtype)
        and not isinstance(series.dtype, pd.CategoricalDtype)
        and series.dropna().nunique() > 6
    )
    fig = go.Figure()
    if numeric:
        values = pd.to_numeric(series, errors="coerce").dropna().to_numpy(float)
        everything = pd.to_numeric(results.mdata.obs[column], errors="coerce").dropna()
        edges = np.histogram_bin_edges(everything.to_numpy(float), bins=10)
        counts, _ = np.histogram(values, bins=edges)
        fig.add_bar(
            x=(edges[:-1] + edges[1:]) / 2,
            y=counts,
            width=np.diff(edges) * 0.95,
            customdata=np.c_[edges[:-1], edges[1:]],
            marker_color="#2c6fbb",
            hovertemplate="%{customdata[0]:.4g} to %{customdata[1]:.4g}: %{y}<extra></extra>",
        )
    else:
        counts = series.astype(object).where(series.notna()).value_counts()
        if isinstance(series.dtype, pd.CategoricalDtype):
            counts = counts.reindex([c for c in series.cat.categories if c in counts.index])
        counts = counts.head(MAX_LEVELS)
        labels = [str(v) for v in counts.index]
        fig.add_bar(
            x=labels,
            y=counts.to_numpy(),
            marker_color="#2c6fbb",
            customdata=labels,
            hovertemplate="%{x}: %{y}<extra></extra>",
        )
    fig.update_layout(
        template="plotly_white",
        height=200,
        margin=dict(l=30, r=10, t=30, b=30),
        title=dict(text=human_label(column), font=dict(size=13)),
        showlegend=False,
        clickmode="event",
        yaxis_title=None,
    )
    return fig


def chart_columns(results: Results) -> list[str]:
    obs = results.mdata.obs
    skip = {results.event} | set(results.risk_columns().values())
    out = []
    for column in obs.columns:
        series = obs[column]
        if column in skip or series.dropna().empty:
            continue
        numeric = pd.api.types.is_numeric_dtype(series.dtype) and not isinstance(
            series.dtype, pd.CategoricalDtype
        )
        if numeric or series.dropna().nunique() <= MAX_LEVELS:
            out.append(str(column))
    return out[:12]


def explorer(results: Results, filters: tuple[str, ...]):
    """The cohort's charts, the filter chips and the count (kept for the next request)."""

    def compute():
        mask = rg.tl.patients_matching(results.mdata, filters)
        charts = [
            graph(
                {"type": "cohort-chart", "column": c},
                chart(results, c, mask),
                config={"displayModeBar": False},
            )
            for c in chart_columns(results)
        ]
        chips = [
            html.Button(
                [spec, html.Span(" ×", className="rg-chip-x")],
                id={"type": "cohort-chip", "index": spec},
                className="rg-chip",
                title="remove this filter",
            )
            for spec in filters
        ]
        count = f"{int(mask.sum())} of {results.mdata.n_obs} patients match"
        return html.Div(
            [
                html.Div(
                    className="rg-row",
                    children=[
                        html.Span(count, id="cohort-count", className="rg-count"),
                        html.Div(
                            chips
                            or html.Span(
                                "No filter: click a bar to filter the cohort.", className="rg-note"
                            ),
                            id="cohort-chips",
                            className="rg-chips",
                        ),
                    ],
                ),
                html.Div(charts, className="rg-charts"),
            ]
        )

    return results.memo("cohort-explorer", filters, compute, size=64)


def layout(results: Results, params: dict | None = None):
    """The overview, with the cohort's charts filtered as the address says."""
    if results.mdata is None:
        return results.memo("overview", None, lambda: _layout(results))
    filters = read_filters(results, params)
    return html.Div(
        [
            card(
                "Cohort explorer (click a bar to filter; click a chip to remove it)",
                html.Div(explorer(results, filters), id="cohort-explorer"),
            ),
            dcc.Store(id="cohort-filters", data=list(filters)),
            results.memo("overview", None, lambda: _layout(results)),
        ]
    )


def _layout(results: Results):
    mdata = results.mdata
    if mdata is None:
        return html.Div(
            [
                card(
                    "Cohort",
                    notice(
                        "No cohort file was given: only the result "
                        "tables are shown (Associations, Survival)."
                    ),
                )
            ]
        )
    modalities = [
        stat(f"{name}: patients x features", f"{mod.n_obs} x {mod.n_vars}")
        for name, mod in mdata.mod.items()
    ]
    overlap = rg.tl.modality_overlap(mdata)
    summary = rg.tl.clinical_summary(mdata)
    summary = summary[
        ["column", "kind", "n", "missing", "levels", "median", "q1", "q3", "min", "max"]
    ]
    join = results.uns("join", default={}) or {}
    report = results.uns("join_report")
    children = [
        card(
            "Patients",
            html.Div(
                className="rg-stats",
                children=[
                    stat("patients in the cohort", f"{mdata.n_obs}", id="overview-n-patients"),
                    stat("join", f"{join.get('how', '?')}, {join.get('n_dropped', 0)} dropped"),
                    *modalities,
                ],
            ),
        ),
        html.Div(
            className="rg-grid-2",
            children=[
                card(
                    "Patients per combination of modalities",
                    graph("overview-overlap", rg.pl.modality_overlap(overlap)),
                ),
                card(
                    "Clinical summary",
                    table(
                        "overview-clinical", list(summary.columns), records(summary), page_size=12
                    ),
                ),
            ],
        ),
    ]
    if isinstance(report, pd.DataFrame) and len(report):
        dropped = report.loc[~report["kept"].astype(bool)].copy()
        dropped["patient_id"] = [results.display_id(p) for p in dropped["patient_id"]]
        columns = [c for c in ("patient_id", "missing_from", "reason") if c in dropped]
        children.append(
            card(
                f"Join report: {int(report['kept'].sum())} kept, {len(dropped)} dropped",
                table("overview-join", columns, records(dropped[columns]), page_size=8)
                if len(dropped)
                else notice("Every patient seen was kept."),
            )
        )
    children.append(_extraction(results))
    children.append(_qc(results))
    children.append(_tables(results))
    return html.Div(children)


def _extraction(results: Results):
    mdata = results.mdata
    if "radiomics" not in mdata.mod:
        return card("Radiomic extraction", notice("The cohort has no radiomics modality."))
    info = mdata["radiomics"].uns.get("radiogenomics", {})
    failures = info.get("failures")
    n_cases = info.get("n_cases")
    parts = [
        html.P(
            f"{n_cases if n_cases is not None else '?'} cases extracted, "
            f"{mdata['radiomics'].n_vars} features"
            + (
                f", pyradiomics {info['pyradiomics_version']}"
                if info.get("pyradiomics_version")
                else ""
            )
        )
    ]
    if isinstance(failures, pd.DataFrame) and len(failures):
        shown = failures.copy()
        if "patient_id" in shown:
            shown["patient_id"] = [results.display_id(p) for p in shown["patient_id"]]
        shown = shown[[c for c in shown.columns if c not in ("image", "mask")]]
        parts.append(table("overview-failures", list(shown.columns), records(shown), page_size=8))
    else:
        parts.append(notice("No extraction failure."))
    conversion = info.get("conversion")
    if isinstance(conversion, pd.DataFrame) and len(conversion):  # DICOM RTSTRUCT/SEG masks
        shown = conversion.copy()
        shown["patient_id"] = [results.display_id(p) for p in shown["patient_id"]]
        for column in ("n_contours", "n_slices", "n_voxels", "n_holes"):  # SEG: no contours
            if column in shown:
                shown[column] = [("" if pd.isna(v) else str(int(v))) for v in shown[column]]
        shown = shown[
            [
                c
                for c in (
                    "patient_id",
                    "lesion_id",
                    "source",
                    "roi",
                    "modality",
                    "n_contours",
                    "n_slices",
                    "n_voxels",
                    "volume_mm3",
                    "n_holes",
                    "warnings",
                )
                if c in shown.columns
            ]
        ]
        parts.append(
            html.H4(f"DICOM conversion: {len(shown)} masks from RTSTRUCT/SEG (volume in mm³)")
        )
        parts.append(table("overview-conversion", list(shown.columns), records(shown), page_size=8))
    return card("Radiomic extraction", *parts)


def _qc(results: Results):
    """Summaries stored by the preprocessing and curation tools, when any."""
    tables = []
    params = results.uns("params", default={}) or {}
    for kind in QC_KINDS:
        stored = results.uns(kind, default={}) or {}
        if isinstance(stored, dict):
            for key, value in stored.items():
                if isinstance(value, pd.DataFrame):
                    recorded = (params.get(kind) or {}).get(key) or {}
                    tables.append((f"{kind.replace('_', ' ')}: {key}", value, recorded))
    if not tables:
        params = results.uns("params", default={}) or {}
        done = [
            f"{kind}/{key}"
            for kind, keys in params.items()
            if isinstance(keys, dict)
            for key in keys
        ]
        text = (
            ("Preprocessing recorded: " + ", ".join(done))
            if done
            else ("No QC or harmonisation summary is stored in the cohort.")
        )
        return card("QC and harmonisation", notice(text))
    parts = []
    for k, (name, value, recorded) in enumerate(tables[:6]):
        shown = value.reset_index() if value.index.name else value
        settings = ", ".join(
            f"{p}: {v}" for p, v in recorded.items() if isinstance(v, str | int | float | bool)
        )
        parts.extend(
            [
                html.H4(name),
                html.P(settings, className="rg-note") if settings else None,
                table(
                    f"overview-qc-{k}",
                    list(map(str, shown.columns)),
                    records(shown.rename(columns=str)),
                    page_size=6,
                ),
            ]
        )
    return card("QC and harmonisation", *parts)


def _tables(results: Results):
    rows = [
        {"kind": "association table", "key": key, "rows": store.n_rows}
        for key, store in results.associations.items()
    ]
    rows += [
        {"kind": "survival screen", "key": key, "rows": store.n_rows}
        for key, store in results.survival.items()
    ]
    if not rows:
        return card("Result tables", notice("No association table or survival screen found."))
    frame = pd.DataFrame(rows)
    return card("Result tables", table("overview-results", list(frame.columns), records(frame)))


def register(app, results: Results) -> None:
    """A click on a chart adds a filter, a click on a chip removes it; the filters are
    kept in the address."""

    @app.callback(
        Output("cohort-filters", "data"),
        Input({"type": "cohort-chart", "column": ALL}, "clickData"),
        Input({"type": "cohort-chip", "index": ALL}, "n_clicks"),
        State("cohort-filters", "data"),
        prevent_initial_call=True,
    )
    def change(clicks, removals, current):
        trigger = ctx.triggered_id
        current = list(current or [])
        if not ctx.triggered or ctx.triggered[0]["value"] is None or trigger is None:
            raise PreventUpdate
        if trigger.get("type") == "cohort-chip":
            return [f for f in current if f != trigger["index"]]
        point = (ctx.triggered[0]["value"].get("points") or [{}])[0]
        column = trigger["column"]
        custom = point.get("customdata")
        if isinstance(custom, list) and len(custom) == 2:  # a histogram bin
            added = [f"{column}>={custom[0]:.6g}", f"{column}<{custom[1]:.6g}"]
        else:
            added = [f"{column}:{point.get('x')}"]
        return current + [f for f in added if f not in current]

    @app.callback(
        Output("cohort-explorer", "children"),
        Input("cohort-filters", "data"),
        prevent_initial_call=True,
    )
    def redraw(filters):
        return explorer(results, read_filters(results, {"filter": SEPARATOR.join(filters or [])}))

    app.clientside_callback(
        ClientsideFunction("rg", "cohortSearch"),
        Output("url", "search", allow_duplicate=True),
        Input("cohort-filters", "data"),
        prevent_initial_call=True,
    )
