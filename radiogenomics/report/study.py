"""``study``: one self-contained HTML study report (and the same as PDF) from stored results.

Every number and figure comes from what the tools stored in the cohort
(``uns["radiogenomics"]``) or wrote into the results folder; nothing is recomputed.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import warnings
from collections.abc import Callable
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import pandas as pd

from .. import pl
from .._files import atomic_path
from ..cohort import read_cohort
from ..errors import InputError
from ..export import detect_schema
from ._html import _esc, _frame, _root
from .render import html_to_pdf, render_figures
from .sections import (
    _association_section,
    _checklist_section,
    _cohort_section,
    _extraction_section,
    _harmonisation_section,
    _ibsi_section,
    _model_section,
    _qc_section,
    _robustness_section,
    _survival_section,
)

__all__ = ["SECTIONS", "collect", "study"]


#: The report's sections, in order (their headings).
SECTIONS = (
    "Cohort and join",
    "Acquisition and extraction settings",
    "IBSI self-test",
    "Quality control",
    "Harmonisation",
    "Robustness",
    "Radiogenomic associations",
    "Survival screen",
    "Predictive models",
    "Reporting checklist",
)


def collect(source) -> dict[str, Any]:
    """The cohort and the result tables of a results folder (or of a cohort).

    Parameters
    ----------
    source
        A ``MuData`` cohort, a cohort file (``.h5mu``), or a results folder as the demo
        writes it (``cohort.h5mu``, ``results/*.parquet``, ``models/``, ``summary.json``).

    Returns
    -------
    dict
        ``mdata``, ``folder`` (or None), ``associations`` and ``survival`` (dicts of
        tables by name), ``summary`` (summary.json, or {}).

    See Also
    --------
    study : the report written from what this collects.

    Examples
    --------
    A results folder with the cohort and an association table exported beside it:

    >>> import tempfile
    >>> from pathlib import Path
    >>> import radiogenomics as rg
    >>> folder = Path(tempfile.mkdtemp())
    >>> mdata = rg.datasets.toy_cohort(n_patients=20, n_genes=3)
    >>> _ = rg.write_cohort(mdata, folder / "cohort.h5mu")
    >>> table = rg.tl.associate(mdata, "radiomics", "rna")
    >>> _ = rg.export.write_table(table, folder / "results" / "radiomics_vs_rna.parquet")
    >>> data = rg.report.collect(folder)
    >>> sorted(data)
    ['associations', 'folder', 'mdata', 'summary', 'survival']
    >>> data["folder"] == folder, data["mdata"].n_obs, sorted(data["associations"])
    (True, 20, ['radiomics_vs_rna'])
    >>> sorted(rg.report.collect(mdata)["associations"])  # stored in the cohort too
    ['radiomics_vs_rna']
    """
    folder = None
    if hasattr(source, "mod"):
        mdata = source
    else:
        path = Path(source)
        if not path.exists():
            raise InputError("the results folder does not exist", file=path)
        if path.is_dir():
            folder = path
            cohort = path / "cohort.h5mu"
            if not cohort.exists():
                raise InputError(
                    "the results folder has no cohort",
                    file=cohort,
                    expected="cohort.h5mu (as radiogenomics demo writes it)",
                )
            mdata = read_cohort(cohort)
        else:
            mdata = read_cohort(path)
    root = _root(mdata)
    associations = {k: v for k, v in root.get("associations", {}).items() if _frame(v) is not None}
    survival = {k: v for k, v in root.get("survival_screen", {}).items() if _frame(v) is not None}
    summary: dict = {}
    if folder is not None:
        for file in sorted((folder / "results").glob("*.parquet")):
            try:
                table = pd.read_parquet(file)
            except Exception:  # not a table the report reads
                continue
            kind = detect_schema(table)
            if kind == "association_table" and file.stem not in associations:
                associations[file.stem] = table
            elif kind == "survival_screen" and file.stem not in survival:
                survival[file.stem] = table
        if (folder / "summary.json").exists():
            try:
                summary = json.loads((folder / "summary.json").read_text(encoding="utf-8"))
            except ValueError:
                summary = {}
    return {
        "mdata": mdata,
        "folder": folder,
        "associations": associations,
        "survival": survival,
        "summary": summary,
    }


def _figures(data: dict) -> dict[str, Any]:
    """The report's plotly figures, drawn by ``rg.pl`` from the stored results."""
    mdata = data["mdata"]
    figures: dict[str, Any] = {}

    def attempt(name: str, make: Callable[[], Any]) -> None:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                figures[name] = make()
        except Exception:  # a result the figure needs is not there: no figure
            pass

    if _root(mdata).get("harmonization"):
        attempt("harmonisation", lambda: pl.batch_before_after(mdata, mod="radiomics"))
    for key, table in list(data["associations"].items())[:4]:
        attempt(
            f"volcano:{key}",
            lambda table=table, key=key: pl.volcano(table, title=key, max_points=4000),
        )
    if data["survival"]:
        table = next(iter(data["survival"].values()))
        effect = "hazard_ratio_per_sd" if "hazard_ratio_per_sd" in table else "hazard_ratio"
        attempt("survival_volcano", lambda: pl.survival_volcano(table, effect=effect))
    for key, metrics in _root(mdata).get("models", {}).items():
        if _frame(metrics) is None:
            continue
        attempt(f"roc:{key}", lambda key=key: pl.roc(mdata, key))
        attempt(f"calibration:{key}", lambda key=key: pl.calibration(mdata, key))
        attempt(f"decision:{key}", lambda key=key: pl.decision_curve(mdata, key))
        attempt(f"td_auc:{key}", lambda key=key: pl.time_dependent_auc(mdata, key))
    return figures


_CSS = """
body { font-family: 'DejaVu Sans', Arial, sans-serif; font-size: 10.5pt; color: #222;
       max-width: 1000px; margin: 24px auto; padding: 0 16px; }
h1 { font-size: 20pt; margin-bottom: 4px; } h2 { font-size: 14pt; margin-top: 28px;
     border-bottom: 2px solid #1f77b4; padding-bottom: 3px; }
h3 { font-size: 11.5pt; margin-bottom: 4px; }
table { border-collapse: collapse; margin: 8px 0 14px; font-size: 9pt; }
th, td { border: 1px solid #ccc; padding: 3px 6px; text-align: left; vertical-align: top; }
thead th { background: #eef3f8; } table.facts th { background: #f6f6f6; font-weight: normal; }
caption { text-align: left; font-style: italic; padding-bottom: 3px; }
figure { margin: 10px 0; page-break-inside: avoid; } figure img { max-width: 100%; }
figcaption { font-size: 9pt; color: #555; } .pending { color: #8a5a00; }
.meta { color: #555; font-size: 9pt; } code { font-size: 9pt; }
@media print { h2 { page-break-after: avoid; } tr { page-break-inside: avoid; } }
"""


def _page(
    title: str, meta: str, sections: list[tuple[str, str]], numbers: dict, note: str | None
) -> str:
    body = []
    for i, (heading, content) in enumerate(sections, start=1):
        anchor = heading.lower().replace(" ", "-")
        body.append(f'<section id="{anchor}"><h2>{i}. {_esc(heading)}</h2>{content}</section>')
    toc = "".join(f"<li>{_esc(h)}</li>" for h, _ in sections)
    note_html = f'<p class="pending">{_esc(note)}</p>' if note else ""
    data = json.dumps(numbers, default=str).replace("</", "<\\/")
    return (
        f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        f"<title>{_esc(title)}</title><style>{_CSS}</style></head><body>"
        f'<h1>{_esc(title)}</h1><p class="meta">{meta}</p>{note_html}<ol>{toc}</ol>'
        f"{''.join(body)}"
        f'<script type="application/json" id="report-numbers">{data}</script>'
        "</body></html>"
    )


def _versions() -> str:
    found = []
    for name in (
        "radiogenomics",
        "pyradiomics-bhklab",
        "pyradiomics",
        "numpy",
        "scipy",
        "pandas",
        "scikit-learn",
        "anndata",
        "mudata",
    ):
        try:
            found.append(f"{name.replace('-bhklab', '')} {version(name)}")
        except PackageNotFoundError:
            continue
    return ", ".join(dict.fromkeys(found))


def study(
    source,
    out: str | os.PathLike,
    *,
    title: str | None = None,
    pdf: bool = True,
    figures: bool = True,
) -> dict[str, Path]:
    """Write the study report: one self-contained HTML file and the same as PDF.

    Sections: cohort and join; acquisition and extraction settings (DICOM header
    attributes where the data have them); the IBSI self-test; QC; harmonisation before
    and after; robustness; associations with their multiple-testing method; the survival
    screen; models with their nested cross-validation metrics, calibration and decision
    curves; and a checklist (CLEAR, TRIPOD+AI, RQS) filled with what the software knows,
    the rest marked "to be completed by the authors". Figures are drawn by ``rg.pl`` from
    the stored results and embedded as static PNG images (plotly + kaleido).

    Parameters
    ----------
    source
        A ``MuData`` cohort, a cohort file, or a results folder (``cohort.h5mu``,
        ``results/*.parquet``, ``summary.json``; as ``radiogenomics demo`` writes it).
    out
        Output folder; receives ``report.html`` and ``report.pdf``.
    title
        Title of the report.
    pdf
        Also print the PDF (headless Chromium, else WeasyPrint).
    figures
        Embed figures (needs kaleido and Chromium; without them the report says so).

    Returns
    -------
    dict
        ``{"html": path, "pdf": path}`` (``pdf`` only when written).

    See Also
    --------
    collect : what the report is written from.
    html_to_pdf, render_figures : the PDF and the figures (Chromium).

    Examples
    --------
    The HTML report alone (no figures, no PDF: no browser needed):

    >>> import json
    >>> import re
    >>> import tempfile
    >>> from pathlib import Path
    >>> import radiogenomics as rg
    >>> mdata = rg.datasets.toy_cohort(n_patients=20, n_genes=3)
    >>> _ = rg.tl.associate(mdata, "radiomics", "rna")
    >>> out = Path(tempfile.mkdtemp())
    >>> written = rg.report.study(mdata, out, pdf=False, figures=False)
    >>> {kind: path.name for kind, path in written.items()}
    {'html': 'report.html'}
    >>> html = written["html"].read_text(encoding="utf-8")
    >>> re.findall(r"<h2>(.*?)</h2>", html)[:3]
    ['1. Cohort and join', '2. Acquisition and extraction settings', '3. IBSI self-test']
    >>> script = re.search(r'id="report-numbers">(.*?)</script>', html).group(1)
    >>> numbers = json.loads(script)  # every number of the report, machine-readable
    >>> numbers["n_patients"], numbers["associations"]["radiomics_vs_rna"]["pairs"]
    (20, 36)

    With the figures and the PDF (needs kaleido and Chromium):

    >>> written = rg.report.study(mdata, out)  # doctest: +SKIP
    >>> sorted(written)  # doctest: +SKIP
    ['html', 'pdf']
    """
    data = collect(source)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    numbers: dict[str, Any] = {}
    uris: dict[str, str] = {}
    note = None
    if figures:
        uris, note = render_figures(_figures(data))
    sections = [
        ("Cohort and join", _cohort_section(data, numbers)),
        ("Acquisition and extraction settings", _extraction_section(data, numbers)),
        ("IBSI self-test", _ibsi_section(data, numbers)),
        ("Quality control", _qc_section(data, numbers)),
        ("Harmonisation", _harmonisation_section(data, numbers, uris)),
        ("Robustness", _robustness_section(data, numbers)),
        ("Radiogenomic associations", _association_section(data, numbers, uris)),
        ("Survival screen", _survival_section(data, numbers, uris)),
        ("Predictive models", _model_section(data, numbers, uris)),
    ]
    sections.append(("Reporting checklist", _checklist_section(data, numbers)))
    created = _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds")
    where = str(data["folder"]) if data["folder"] is not None else "a cohort in memory"
    meta = (
        f"Written {created} from the stored results of {_esc(where)}. "
        f"Software: {_esc(_versions())}."
    )
    page = _page(title or "Radiogenomics study report", meta, sections, numbers, note)
    html_path = out / "report.html"
    with atomic_path(html_path) as tmp:
        Path(tmp).write_text(page, encoding="utf-8")
        os.chmod(tmp, 0o644)
    written = {"html": html_path}
    if pdf:
        written["pdf"] = html_to_pdf(html_path, out / "report.pdf")
    return written
