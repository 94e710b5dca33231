"""A printable one-page HTML summary of a patient for the meeting record."""

from __future__ import annotations

import base64
import datetime as _dt
import html

import pandas as pd

import radiogenomics as rg

from .components import format_number

_STYLE = """
@page { size: A4; margin: 12mm; }
body { font-family: -apple-system, "Segoe UI", Helvetica, Arial, sans-serif; font-size: 9.5pt;
       color: #1d2733; margin: 8mm; }
h1 { font-size: 15pt; margin: 0 0 1mm 0; } h2 { font-size: 10.5pt; margin: 3mm 0 1mm 0; }
.meta { color: #56657a; font-size: 8.5pt; margin-bottom: 2mm; }
.grid { display: grid; grid-template-columns: 1fr 1fr; gap: 5mm; }
table { border-collapse: collapse; width: 100%; font-size: 8.5pt; }
td, th { border-bottom: 1px solid #dde3ea; padding: 1px 4px; text-align: left; }
img { max-width: 100%; image-rendering: pixelated; }
@media print { body { margin: 0; } }
"""


def _table(frame: pd.DataFrame | None, columns=None) -> str:
    if frame is None or len(frame) == 0:
        return "<p>none</p>"
    frame = frame[[c for c in columns if c in frame.columns]] if columns else frame
    head = "".join(f"<th>{html.escape(str(c).replace('_', ' '))}</th>" for c in frame.columns)
    body = "".join(
        "<tr>"
        + "".join(
            f"<td>{html.escape(format_number(v) if isinstance(v, float) else str(v))}</td>"
            for v in row
        )
        + "</tr>"
        for row in frame.itertuples(index=False)
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def patient_summary_html(profile: dict) -> str:
    """One page of HTML: the patient's clinical data, outcome, risk, mutations, lesion
    slice, radiomic percentiles, linked genes and similar patients. Self-contained (the
    image is embedded), so that it opens and prints without the server."""
    stamp = _dt.datetime.now().strftime("%Y-%m-%d %H:%M")
    outcome = ", ".join(f"{k} = {v}" for k, v in profile["outcome"].items()) or "not recorded"
    risk = profile.get("risk")
    if profile.get("image_files"):
        image, mask, label = profile["image_files"]
        png = base64.b64encode(rg.pl.lesion_slice_png(image, mask, label=label)).decode()
        lesion = (
            f'<img alt="lesion slice" src="data:image/png;base64,{png}">'
            f"<p>{html.escape(profile.get('image_note', ''))}</p>"
        )
    else:
        lesion = f"<p>{html.escape(profile.get('image_note', ''))}</p>"
    mutations = profile.get("mutations")
    parts = [
        f"<h1>Tumor board summary: {html.escape(str(profile['patient']))}</h1>",
        f'<div class="meta">Made {stamp} with radiogenomics {html.escape(str(getattr(rg, "__version__", "")))}. '
        f"Outcome: {html.escape(profile.get('outcome_text') or outcome)}."
        + (
            " Risk: "
            + html.escape(f"score {risk['score']}, group {risk['group']}. {risk.get('note', '')}")
            if risk
            else ""
        )
        + "</div>",
        '<div class="grid"><div>',
        "<h2>Clinical</h2>",
        _table(profile["clinical"]),
        *(
            ["<h2>Model predictions</h2>", _table(profile["predictions"])]
            if profile.get("predictions") is not None
            else []
        ),
        "<h2>Mutations</h2>",
        f"<p>{html.escape(', '.join(mutations) or 'none of the genes tested')}</p>"
        if mutations is not None
        else "<p>no mutation data</p>",
        "<h2>Most similar patients in radiomic space</h2>",
        _table(profile.get("similar")),
        "</div><div>",
        "<h2>Lesion</h2>",
        lesion,
        "<h2>Radiomic profile: percentile in the cohort</h2>",
        _table(profile.get("percentiles"), ["feature", "value", "percentile"]),
        "</div></div>",
        "<h2>Expression of the genes linked to the imaging features</h2>",
        _table(profile.get("genes"), ["feature", "imaging_feature", "value", "percentile"]),
    ]
    return (
        "<!DOCTYPE html><html><head><meta charset='utf-8'><title>Tumor board summary"
        f"</title><style>{_STYLE}</style></head><body>{''.join(parts)}</body></html>"
    )
