"""Cohort overview: patients per modality and their overlap, clinical summary, the join
report, extraction failures, QC summaries and the result tables available."""

from __future__ import annotations

import pandas as pd
from dash import html

import radiogenomics as rg

from ..components import card, graph, notice, records, stat, table
from ..results import Results

#: Result kinds of the preprocessing and curation tools shown as QC summaries.
QC_KINDS = ("feature_qc", "harmonization", "robustness", "redundancy", "qc")

PATH = "/"
TITLE = "Cohort"


def layout(results: Results, params: dict | None = None):
    """The overview (made once: it has no control)."""
    return results.memo("overview", None, lambda: _layout(results))


def _layout(results: Results):
    mdata = results.mdata
    if mdata is None:
        return html.Div([card("Cohort", notice("No cohort file was given: only the result "
                                                "tables are shown (Associations, Survival)."))])
    modalities = [stat(f"{name}: patients x features",
                       f"{mod.n_obs} x {mod.n_vars}") for name, mod in mdata.mod.items()]
    overlap = rg.tl.modality_overlap(mdata)
    summary = rg.tl.clinical_summary(mdata)
    summary = summary[["column", "kind", "n", "missing", "levels", "median", "q1", "q3", "min",
                       "max"]]
    join = results.uns("join", default={}) or {}
    report = results.uns("join_report")
    children = [
        card("Patients", html.Div(className="rg-stats", children=[
            stat("patients in the cohort", f"{mdata.n_obs}", id="overview-n-patients"),
            stat("join", f"{join.get('how', '?')}, {join.get('n_dropped', 0)} dropped"),
            *modalities])),
        html.Div(className="rg-grid-2", children=[
            card("Patients per combination of modalities",
                 graph("overview-overlap", rg.pl.modality_overlap(overlap))),
            card("Clinical summary", table("overview-clinical", list(summary.columns),
                                           records(summary), page_size=12)),
        ]),
    ]
    if isinstance(report, pd.DataFrame) and len(report):
        dropped = report.loc[~report["kept"].astype(bool)].copy()
        dropped["patient_id"] = [results.display_id(p) for p in dropped["patient_id"]]
        columns = [c for c in ("patient_id", "missing_from", "reason") if c in dropped]
        children.append(card(
            f"Join report: {int(report['kept'].sum())} kept, {len(dropped)} dropped",
            table("overview-join", columns, records(dropped[columns]), page_size=8)
            if len(dropped) else notice("Every patient seen was kept.")))
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
    parts = [html.P(f"{n_cases if n_cases is not None else '?'} cases extracted, "
                    f"{mdata['radiomics'].n_vars} features"
                    + (f", pyradiomics {info['pyradiomics_version']}"
                       if info.get("pyradiomics_version") else ""))]
    if isinstance(failures, pd.DataFrame) and len(failures):
        shown = failures.copy()
        if "patient_id" in shown:
            shown["patient_id"] = [results.display_id(p) for p in shown["patient_id"]]
        shown = shown[[c for c in shown.columns if c not in ("image", "mask")]]
        parts.append(table("overview-failures", list(shown.columns), records(shown),
                           page_size=8))
    else:
        parts.append(notice("No extraction failure."))
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
        done = [f"{kind}/{key}" for kind, keys in params.items() if isinstance(keys, dict)
                for key in keys]
        text = ("Preprocessing recorded: " + ", ".join(done)) if done else (
            "No QC or harmonisation summary is stored in the cohort.")
        return card("QC and harmonisation", notice(text))
    parts = []
    for k, (name, value, recorded) in enumerate(tables[:6]):
        shown = value.reset_index() if value.index.name else value
        settings = ", ".join(f"{p}: {v}" for p, v in recorded.items()
                             if isinstance(v, str | int | float | bool))
        parts.extend([html.H4(name), html.P(settings, className="rg-note") if settings else None,
                      table(f"overview-qc-{k}", list(map(str, shown.columns)),
                            records(shown.rename(columns=str)), page_size=6)])
    return card("QC and harmonisation", *parts)


def _tables(results: Results):
    rows = [{"kind": "association table", "key": key, "rows": store.n_rows}
            for key, store in results.associations.items()]
    rows += [{"kind": "survival screen", "key": key, "rows": store.n_rows}
             for key, store in results.survival.items()]
    if not rows:
        return card("Result tables", notice("No association table or survival screen found."))
    frame = pd.DataFrame(rows)
    return card("Result tables", table("overview-results", list(frame.columns), records(frame)))


def register(app, results: Results) -> None:
    """The overview has no callbacks."""
