"""``study``: one self-contained HTML study report (and the same as PDF) from stored results.

Every number and figure comes from what the tools stored in the cohort
(``uns["radiogenomics"]``) or wrote into the results folder; nothing is recomputed.
"""

from __future__ import annotations

import datetime as _dt
import html
import json
import os
import warnings
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .._files import atomic_path
from ..errors import InputError
from .checklist import checklist_rows
from .render import html_to_pdf, render_figures

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

#: DICOM header attributes summarised when the radiomics obs (or the clinical table) has them.
ACQUISITION_COLUMNS = {
    "scanner": ("Manufacturer", "manufacturer", "ManufacturerModelName", "scanner", "Scanner"),
    "modality": ("Modality", "modality"),
    "kVp": ("KVP", "kvp", "kVp"),
    "slice thickness (mm)": ("SliceThickness", "slice_thickness"),
    "reconstruction kernel": ("ConvolutionKernel", "convolution_kernel",
                              "reconstruction_kernel"),
    "site": ("site",),
}


# --------------------------------------------------------------------------- data


def _root(mdata) -> dict:
    return mdata.uns.get("radiogenomics", {}) if mdata is not None else {}


def _frame(value) -> pd.DataFrame | None:
    return value if isinstance(value, pd.DataFrame) else None


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
    """
    from ..cohort import read_cohort
    from ..export import detect_schema

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
                raise InputError("the results folder has no cohort", file=cohort,
                                 expected="cohort.h5mu (as radiogenomics demo writes it)")
            mdata = read_cohort(cohort)
        else:
            mdata = read_cohort(path)
    root = _root(mdata)
    associations = {k: v for k, v in root.get("associations", {}).items()
                    if _frame(v) is not None}
    survival = {k: v for k, v in root.get("survival_screen", {}).items()
                if _frame(v) is not None}
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
    return {"mdata": mdata, "folder": folder, "associations": associations,
            "survival": survival, "summary": summary}


# --------------------------------------------------------------------------- formatting


def _list(value) -> list:
    """A stored list (h5mu gives numpy arrays back) as a list of strings."""
    if value is None:
        return []
    if isinstance(value, str):
        return [value] if value else []
    return [str(v) for v in np.asarray(value).ravel().tolist()]


def _esc(value) -> str:
    return html.escape(str(value))


def _num(value, digits: int = 3) -> str:
    if value is None:
        return ""
    try:
        number = float(value)
    except (TypeError, ValueError):
        return _esc(value)
    if not np.isfinite(number):
        return ""
    if number.is_integer() and abs(number) < 1e15:
        return str(int(number))
    if abs(number) < 1e-3:
        return f"{number:.2e}"
    return f"{number:.{digits}f}"


def _table(frame: pd.DataFrame, formats: Mapping[str, Callable] | None = None,
           caption: str | None = None) -> str:
    formats = formats or {}
    head = "".join(f"<th>{_esc(c)}</th>" for c in frame.columns)
    rows = []
    for record in frame.itertuples(index=False):
        cells = []
        for column, value in zip(frame.columns, record):
            text = formats[column](value) if column in formats else (
                _num(value) if isinstance(value, (float, np.floating)) else _esc(value))
            cells.append(f"<td>{text}</td>")
        rows.append("<tr>" + "".join(cells) + "</tr>")
    cap = f"<caption>{_esc(caption)}</caption>" if caption else ""
    return f"<table>{cap}<thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"


def _facts(items: list[tuple[str, Any]]) -> str:
    rows = "".join(f"<tr><th>{_esc(k)}</th><td>{v if isinstance(v, Markup) else _esc(v)}</td>"
                   "</tr>" for k, v in items)
    return f'<table class="facts"><tbody>{rows}</tbody></table>'


class Markup(str):
    """HTML that is not escaped again."""


def _figure(uris: dict[str, str], name: str, caption: str) -> str:
    if name not in uris:
        return ""
    return (f'<figure><img alt="{_esc(caption)}" src="{uris[name]}">'
            f"<figcaption>{_esc(caption)}</figcaption></figure>")


def _pending(text: str = "Not in the stored results.") -> str:
    return f'<p class="pending">{_esc(text)}</p>'


# --------------------------------------------------------------------------- sections


def _cohort_section(data: dict, numbers: dict) -> str:
    mdata = data["mdata"]
    root = _root(mdata)
    join = root.get("join", {})
    parts = [_facts([
        ("patients in the cohort", mdata.n_obs),
        ("join", join.get("how", "")),
        ("patients dropped by the join", join.get("n_dropped", "")),
    ])]
    mods = pd.DataFrame([{"modality": name, "patients": mod.n_obs, "features": mod.n_vars}
                         for name, mod in mdata.mod.items()])
    parts.append(_table(mods, caption="Modalities"))
    report = _frame(root.get("join_report"))
    if report is not None and "kept" in report and (~report["kept"].astype(bool)).any():
        dropped = report[~report["kept"].astype(bool)]
        reason = next((c for c in ("reason", "dropped_reason", "why") if c in dropped), None)
        if reason is not None:
            counts = dropped[reason].astype(str).value_counts().rename_axis("reason")
            parts.append(_table(counts.reset_index(name="patients"),
                                caption="Patients dropped by the join, by reason"))
    numbers["n_patients"] = int(mdata.n_obs)
    numbers["n_dropped"] = int(join.get("n_dropped", 0) or 0)
    return "".join(parts)


def _radiomics(mdata):
    return mdata.mod.get("radiomics") if mdata is not None else None


def _extraction_section(data: dict, numbers: dict) -> str:
    mdata = data["mdata"]
    rad = _radiomics(mdata)
    if rad is None:
        return _pending("The cohort has no radiomics modality.")
    info = rad.uns.get("radiogenomics", {})
    items: list[tuple[str, Any]] = [
        ("features", rad.n_vars),
        ("cases extracted", info.get("n_cases", rad.n_obs)),
        ("cases failed", info.get("n_failed", "")),
        ("pyradiomics", info.get("pyradiomics_version", "")),
        ("SimpleITK", info.get("extraction", {}).get("simpleitk_version", "")
         if isinstance(info.get("extraction"), Mapping) else ""),
    ]
    settings = {}
    try:
        settings = json.loads(info.get("params", "{}")) if info.get("params") else {}
    except ValueError:
        settings = {}
    inner = settings.get("setting", {}) if isinstance(settings, dict) else {}
    for key, label in (("binWidth", "bin width"), ("binCount", "bin count"),
                       ("resampledPixelSpacing", "resampled voxel spacing (mm)"),
                       ("interpolator", "interpolator"), ("normalize", "intensity normalisation"),
                       ("resegmentRange", "re-segmentation range"), ("force2D", "2-D extraction"),
                       ("voxelArrayShift", "intensity shift")):
        if key in inner:
            items.append((label, inner[key]))
    if isinstance(settings, dict) and settings.get("imageType"):
        items.append(("image types", ", ".join(settings["imageType"])))
    if isinstance(settings, dict) and settings.get("featureClass"):
        items.append(("feature classes", ", ".join(settings["featureClass"])))
    parts = [_facts(items)]
    frames = [rad.obs, mdata.obs]
    acquisition = []
    for label, names in ACQUISITION_COLUMNS.items():
        for frame in frames:
            column = next((n for n in names if n in frame.columns), None)
            if column is not None:
                counts = frame[column].astype(str).value_counts()
                acquisition.append({"attribute": label, "source column": column,
                                    "values (patients)": "; ".join(
                                        f"{k} ({v})" for k, v in counts.head(8).items())})
                break
    if acquisition:
        numbers["acquisition"] = [row["attribute"] for row in acquisition]
        parts.append(_table(pd.DataFrame(acquisition),
                            caption="Acquisition (DICOM headers and clinical columns)"))
    else:
        parts.append(_pending("No acquisition attributes (scanner, kVp, slice thickness, "
                              "reconstruction kernel) in the stored data: to be completed by "
                              "the authors."))
    if "unit" in rad.var:
        units = rad.var["unit"].astype(str).replace("", "dimensionless").value_counts()
        parts.append(_table(units.rename_axis("unit").reset_index(name="features"),
                            caption="Units of the radiomic features (var['unit'])"))
    numbers["n_radiomic_features"] = int(rad.n_vars)
    return "".join(parts)


def _ibsi_section(data: dict, numbers: dict) -> str:
    rad = _radiomics(data["mdata"])
    stamp = None if rad is None else rad.uns.get("radiogenomics", {}).get("ibsi")
    source = "stamped at extraction"
    if not stamp:
        from ..extract.ibsi import ibsi_provenance

        stamp, source = ibsi_provenance(), "run when the report was written"
    if "error" in stamp:
        return _pending(str(stamp["error"]))
    versions = stamp.get("versions", {})
    numbers["ibsi"] = {k: stamp.get(k) for k in ("n_compared", "n_passed", "n_claimed",
                                                 "n_claimed_passed")}
    items = [
        ("benchmark", stamp.get("benchmark", "IBSI 1 digital phantom")),
        ("features compared", stamp.get("n_compared")),
        ("passed", stamp.get("n_passed")),
        ("claimed compliant", stamp.get("n_claimed")),
        ("claimed and passed", stamp.get("n_claimed_passed")),
        ("claims that failed", stamp.get("failed_claims") or "none"),
        ("versions", ", ".join(f"{k} {v}" for k, v in dict(versions).items())),
        ("source", source),
    ]
    ibsi_tagged = int((rad.var["ibsi_tag"] != "").sum()) if rad is not None and \
        "ibsi_tag" in rad.var else 0
    items.append(("features of this study with an IBSI tag", ibsi_tagged))
    parts = [_facts(items)]
    try:
        from ..extract.ibsi import ibsi_check

        check = ibsi_check()
    except Exception:  # the table of differences is a courtesy; the stamp above is the record
        check = None
    if check is not None:
        differ = check[~check["claimed"] | ~check["passed"]]
        if len(differ):
            parts.append(_table(differ[["feature", "ibsi_tag", "reference", "tolerance", "value",
                                        "passed", "note"]],
                                caption="Features whose definition differs from IBSI (not "
                                        "claimed compliant), with the installed pyradiomics"))
    parts.append("<p>Every compared feature: <code>radiogenomics ibsi-check</code>.</p>")
    return "".join(parts)


def _qc_section(data: dict, numbers: dict) -> str:
    root = _root(data["mdata"])
    qc = _frame(root.get("feature_qc", {}).get("radiomics"))
    parts = []
    if qc is not None and "dropped" in qc:
        dropped = qc["dropped"].astype(bool)
        numbers["qc_dropped"] = int(dropped.sum())
        parts.append(_facts([("features checked", len(qc)), ("dropped", int(dropped.sum()))]))
        if "reason" in qc and dropped.any():
            counts = qc.loc[dropped, "reason"].astype(str).value_counts()
            parts.append(_table(counts.rename_axis("reason").reset_index(name="features"),
                                caption="Features dropped, by reason"))
    else:
        parts.append(_pending("No feature QC was stored."))
    rad = _radiomics(data["mdata"])
    if rad is not None:
        failures = rad.uns.get("radiogenomics", {}).get("failures")
        if isinstance(failures, pd.DataFrame) and len(failures):
            parts.append(_table(failures[["patient_id", "stage", "error"]],
                                caption="Cases whose extraction failed"))
    return "".join(parts)


def _harmonisation_section(data: dict, numbers: dict, uris: dict) -> str:
    root = _root(data["mdata"])
    tables = root.get("harmonization", {})
    if not tables:
        return _pending("No harmonisation was stored.")
    parts = []
    params = root.get("params", {}).get("harmonization", {})
    for key, table in tables.items():
        p = params.get(key, {})
        parts.append(_facts([("modality", p.get("mod", key)), ("method", "ComBat"),
                             ("batch column", p.get("batch_key", "")),
                             ("covariates kept", ", ".join(_list(p.get("covariates"))) or "none"),
                             ("features adjusted", p.get("n_features_adjusted", ""))]))
        if _frame(table) is not None:
            parts.append(_table(table, caption="Batch separation before and after"))
    parts.append(_figure(uris, "harmonisation", "Patients on the first principal components "
                         "before and after harmonisation, by batch"))
    return "".join(parts)


def _robustness_section(data: dict, numbers: dict) -> str:
    rad = _radiomics(data["mdata"])
    if rad is None or "icc_2_1" not in rad.var:
        return _pending("No robustness analysis (mask perturbation ICC) was stored: to be "
                        "completed by the authors, or run rg.pp.robust_features.")
    icc = rad.var["icc_2_1"].astype(float)
    robust = rad.var["robust"].astype(bool) if "robust" in rad.var else icc >= 0.75
    numbers["n_robust"] = int(robust.sum())
    return _facts([("features assessed", int(icc.notna().sum())),
                   ("robust", int(robust.sum())),
                   ("median ICC(2,1)", _num(float(np.nanmedian(icc))))])


def _scale_note(mdata, modality: str) -> str:
    """How the values behind a table's estimates were preprocessed, for its caption."""
    from ..pp._modality import steps

    mods = mdata.mod if mdata is not None else {}
    if modality not in mods:
        return ""
    done = [entry.get("step", name) for name, entry in steps(mods[modality]).items()]
    if not done:
        return f"; {modality} values as extracted, in the units shown"
    return (f"; estimates on the {modality} values after {', '.join(map(str, done))} (the "
            "unit column gives the unit of the extracted values, layers['raw'])")


def _units(mdata, modality: str, names: pd.Series) -> list[str]:
    mods = mdata.mod if mdata is not None else {}
    if modality not in mods or "unit" not in mods[modality].var:
        return [""] * len(names)
    lookup = mods[modality].var["unit"]
    return [str(lookup.get(n, "")) for n in names]


def _association_section(data: dict, numbers: dict, uris: dict) -> str:
    tables = data["associations"]
    if not tables:
        return _pending("No association table was stored.")
    mdata = data["mdata"]
    params = _root(mdata).get("params", {}).get("associations", {})
    parts, counts = [], {}
    rows = []
    for key, table in tables.items():
        q = table["q_value"].to_numpy(dtype=float, na_value=np.nan)
        p = params.get(key, table.attrs.get("radiogenomics", {}))
        multitest = p.get("multitest", "bh") if isinstance(p, Mapping) else "bh"
        family = p.get("family", "") if isinstance(p, Mapping) else ""
        if isinstance(multitest, Mapping):
            family = multitest.get("family", family)
            multitest = multitest.get("method", "bh")
        multitest = {"bh": "Benjamini-Hochberg", "by": "Benjamini-Yekutieli",
                     "bonferroni": "Bonferroni", "holm": "Holm"}.get(str(multitest).lower(),
                                                                     str(multitest))
        methods = ", ".join(sorted(table["method"].astype(str).unique()))
        n_sig = int(np.sum(q < 0.05))
        counts[key] = {"pairs": int(len(table)), "q_below_0.05": n_sig,
                       "q_below_0.1": int(np.sum(q < 0.1))}
        rows.append({"table": key, "method": methods, "pairs": len(table),
                     "multiple testing": f"{multitest}" + (f" (family {family})" if family else ""),
                     "q < 0.05": n_sig, "q < 0.1": int(np.sum(q < 0.1))})
    numbers["associations"] = counts
    parts.append(_table(pd.DataFrame(rows), caption="Association tables"))
    for key, table in tables.items():
        top = table.sort_values("p_value").head(10)
        shown = pd.DataFrame({
            "x": top["x"].astype(str), "x unit": _units(mdata, str(top["x_modality"].iloc[0])
                                                        if len(top) else "", top["x"]),
            "y": top["y"].astype(str), "estimate": top["estimate"], "p": top["p_value"],
            "q": top["q_value"], "n": top["n"]})
        x_mod = str(top["x_modality"].iloc[0]) if len(top) else ""
        parts.append(_table(shown, caption=f"{key}: the 10 most significant pairs"
                            + _scale_note(mdata, x_mod)))
        parts.append(_figure(uris, f"volcano:{key}", f"{key}: volcano plot"))
    return "".join(parts)


def _survival_section(data: dict, numbers: dict, uris: dict) -> str:
    tables = data["survival"]
    if not tables:
        return _pending("No survival screen was stored.")
    mdata = data["mdata"]
    params = _root(mdata).get("params", {}).get("survival_screen", {})
    rows, counts, parts = [], {}, []
    for key, table in tables.items():
        q = table["q_value"].to_numpy(dtype=float, na_value=np.nan)
        p = params.get(key, {})
        n = int(np.nanmax(table["n"])) if len(table) else 0
        events = int(np.nanmax(table["n_events"])) if len(table) else 0
        counts[key] = {"features": int(len(table)), "n": n, "n_events": events,
                       "q_below_0.05": int(np.sum(q < 0.05))}
        rows.append({"screen": key, "features": len(table), "patients": n, "events": events,
                     "covariates": ", ".join(_list(p.get("covariates"))) or "none",
                     "multiple testing": "BH", "q < 0.05": int(np.sum(q < 0.05))})
    numbers["survival"] = counts
    parts.append(_table(pd.DataFrame(rows), caption="Cox screens (one model per feature)"))
    first_key = next(iter(tables))
    top = tables[first_key].sort_values("p_value").head(10)
    shown = pd.DataFrame({
        "feature": top["feature"].astype(str),
        "unit": [u for m, f in zip(top["modality"].astype(str), top["feature"].astype(str))
                 for u in _units(mdata, m, pd.Series([f]))],
        "hazard ratio": top["hazard_ratio"], "95% CI": [
            f"{_num(lo)}-{_num(hi)}" for lo, hi in zip(top["hr_ci_lower"], top["hr_ci_upper"])],
        "p": top["p_value"], "q": top["q_value"], "C-index": top["concordance"]})
    mod = str(top["modality"].iloc[0]) if len(top) else ""
    parts.append(_table(shown, caption=f"{first_key}: the 10 most significant features "
                        "(hazard ratio per unit of the feature as the screen used it"
                        + _scale_note(mdata, mod) + ")"))
    parts.append(_figure(uris, "survival_volcano", f"{first_key}: survival volcano plot"))
    return "".join(parts)


def _model_cards(mdata) -> dict[str, dict]:
    cards = {}
    for key, card in _root(mdata).get("model_cards", {}).items():
        try:
            cards[key] = json.loads(card) if isinstance(card, str) else dict(card)
        except (TypeError, ValueError):
            cards[key] = {}
    return cards


def _model_section(data: dict, numbers: dict, uris: dict) -> str:
    mdata = data["mdata"]
    root = _root(mdata)
    models = {k: v for k, v in root.get("models", {}).items() if _frame(v) is not None}
    if not models:
        return _pending("No model was stored.")
    cards = _model_cards(mdata)
    parts, found = [], {}
    for key, metrics in models.items():
        card = cards.get(key, {})
        validation = card.get("validation", {})
        cv = metrics[metrics["validation"] == "cross-validation"] if "validation" in metrics \
            else metrics
        items = [("task", card.get("task", "")),
                 ("target", card.get("target", {}).get("column", "")
                  if isinstance(card.get("target"), Mapping) else ""),
                 ("validation", f"{validation.get('scheme', 'nested cross-validation')}: "
                                f"{validation.get('outer_folds', '?')} outer folds x "
                                f"{validation.get('n_repeats', '?')} repeats, "
                                f"{validation.get('inner_folds', '?')} inner folds"),
                 ("patients", _num(cv["n"].iloc[0]) if "n" in cv and len(cv) else "")]
        if "n_positive" in cv and len(cv):
            items.append(("positives", _num(cv["n_positive"].iloc[0])))
        if "n_events" in cv and len(cv):
            items.append(("events", _num(cv["n_events"].iloc[0])))
        permutation = validation.get("permutation_test") or {}
        if isinstance(permutation, Mapping) and "p_value" in permutation:
            items.append(("permutation test p", _num(permutation["p_value"])))
        parts.append(f"<h3>{_esc(key)}</h3>" + _facts(items))
        shown = cv[[c for c in ("metric", "estimate", "ci_lower", "ci_upper") if c in cv]]
        parts.append(_table(shown, caption=f"{key}: cross-validated metrics with 95% "
                            "bootstrap intervals"))
        found[key] = {row.metric: float(row.estimate) for row in cv.itertuples()
                      if hasattr(row, "metric")}
        for kind, caption in (("roc", "ROC curve"), ("calibration", "calibration"),
                              ("decision", "decision curve"), ("td_auc", "time-dependent AUC")):
            parts.append(_figure(uris, f"{kind}:{key}", f"{key}: {caption}"))
    numbers["models"] = found
    return "".join(parts)


def _checklist_section(data: dict, numbers: dict) -> str:
    rows = pd.DataFrame(checklist_rows(data, numbers))
    numbers["checklist"] = {"items": int(len(rows)),
                            "to_be_completed": int((rows["status"] ==
                                                    "to be completed by the authors").sum())}
    return ("<p>What the software knows is filled in; every other item is marked “to be "
            "completed by the authors”.</p>" + _table(rows))


# --------------------------------------------------------------------------- figures


def _figures(data: dict) -> dict[str, Any]:
    """The report's plotly figures, drawn by ``rg.pl`` from the stored results."""
    from .. import pl

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
        attempt("harmonisation", lambda: pl.batch_before_after(mdata, "radiomics"))
    for key, table in list(data["associations"].items())[:4]:
        attempt(f"volcano:{key}", lambda table=table, key=key: pl.volcano(table, title=key,
                                                                  max_points=4000))
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


# --------------------------------------------------------------------------- page

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


def _page(title: str, meta: str, sections: list[tuple[str, str]], numbers: dict,
          note: str | None) -> str:
    body = []
    for i, (heading, content) in enumerate(sections, start=1):
        anchor = heading.lower().replace(" ", "-")
        body.append(f'<section id="{anchor}"><h2>{i}. {_esc(heading)}</h2>{content}</section>')
    toc = "".join(f"<li>{_esc(h)}</li>" for h, _ in sections)
    note_html = f'<p class="pending">{_esc(note)}</p>' if note else ""
    data = json.dumps(numbers, default=str).replace("</", "<\\/")
    return (f"<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<title>{_esc(title)}</title><style>{_CSS}</style></head><body>"
            f"<h1>{_esc(title)}</h1><p class=\"meta\">{meta}</p>{note_html}<ol>{toc}</ol>"
            f"{''.join(body)}"
            f'<script type="application/json" id="report-numbers">{data}</script>'
            "</body></html>")


def _versions() -> str:
    from importlib.metadata import PackageNotFoundError, version

    found = []
    for name in ("radiogenomics", "pyradiomics-bhklab", "pyradiomics", "numpy", "scipy",
                 "pandas", "scikit-learn", "anndata", "mudata"):
        try:
            found.append(f"{name.replace('-bhklab', '')} {version(name)}")
        except PackageNotFoundError:
            continue
    return ", ".join(dict.fromkeys(found))


def study(source, out: str | os.PathLike, *, title: str | None = None, pdf: bool = True,
          figures: bool = True) -> dict[str, Path]:
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
    meta = (f"Written {created} from the stored results of {_esc(where)}. "
            f"Software: {_esc(_versions())}.")
    page = _page(title or "Radiogenomics study report", meta, sections, numbers, note)
    html_path = out / "report.html"
    with atomic_path(html_path) as tmp:
        Path(tmp).write_text(page, encoding="utf-8")
        os.chmod(tmp, 0o644)
    written = {"html": html_path}
    if pdf:
        written["pdf"] = html_to_pdf(html_path, out / "report.pdf")
    return written
