"""The report's sections, one function each, from what the tools stored; each returns its
HTML."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from ..extract.ibsi import ibsi_provenance
from ..pp._modality import steps
from ._html import _esc, _facts, _figure, _frame, _list, _num, _pending, _root, _table
from .checklist import checklist_rows

#: DICOM header attributes summarised when the radiomics obs (or the clinical table) has them.
ACQUISITION_COLUMNS = {
    "scanner": ("Manufacturer", "manufacturer", "ManufacturerModelName", "scanner", "Scanner"),
    "modality": ("Modality", "modality"),
    "kVp": ("KVP", "kvp", "kVp"),
    "slice thickness (mm)": ("SliceThickness", "slice_thickness"),
    "reconstruction kernel": ("ConvolutionKernel", "convolution_kernel", "reconstruction_kernel"),
    "site": ("site",),
}


def _cohort_section(data: dict, numbers: dict) -> str:
    mdata = data["mdata"]
    root = _root(mdata)
    join = root.get("join", {})
    parts = [
        _facts(
            [
                ("patients in the cohort", mdata.n_obs),
                ("join", join.get("how", "")),
                ("patients dropped by the join", join.get("n_dropped", "")),
            ]
        )
    ]
    mods = pd.DataFrame(
        [
            {"modality": name, "patients": mod.n_obs, "features": mod.n_vars}
            for name, mod in mdata.mod.items()
        ]
    )
    parts.append(_table(mods, caption="Modalities"))
    report = _frame(root.get("join_report"))
    if report is not None and "kept" in report and (~report["kept"].astype(bool)).any():
        dropped = report[~report["kept"].astype(bool)]
        reason = next((c for c in ("reason", "dropped_reason", "why") if c in dropped), None)
        if reason is not None:
            counts = dropped[reason].astype(str).value_counts().rename_axis("reason")
            parts.append(
                _table(
                    counts.reset_index(name="patients"),
                    caption="Patients dropped by the join, by reason",
                )
            )
    numbers["n_patients"] = int(mdata.n_obs)
    numbers["n_dropped"] = int(join.get("n_dropped", 0) or 0)
    return "".join(parts)


def _radiomics(mdata):
    return mdata.mod.get("radiomics") if mdata is not None else None


#: Extraction settings listed in the extraction section: (setting, label), in this order.
_EXTRACTION_SETTINGS = (
    ("binWidth", "bin width"),
    ("binCount", "bin count"),
    ("resampledPixelSpacing", "resampled voxel spacing (mm)"),
    ("interpolator", "interpolator"),
    ("normalize", "intensity normalisation"),
    ("resegmentRange", "re-segmentation range"),
    ("force2D", "2-D extraction"),
    ("voxelArrayShift", "intensity shift"),
)


def _extraction_facts(rad) -> list[tuple[str, Any]]:
    """Features, cases, versions and settings recorded by the extraction."""
    info = rad.uns.get("radiogenomics", {})
    items: list[tuple[str, Any]] = [
        ("features", rad.n_vars),
        ("cases extracted", info.get("n_cases", rad.n_obs)),
        ("cases failed", info.get("n_failed", "")),
        ("pyradiomics", info.get("pyradiomics_version", "")),
        (
            "SimpleITK",
            info.get("extraction", {}).get("simpleitk_version", "")
            if isinstance(info.get("extraction"), Mapping)
            else "",
        ),
    ]
    settings = {}
    try:
        settings = json.loads(info.get("params", "{}")) if info.get("params") else {}
    except ValueError:
        settings = {}
    inner = settings.get("setting", {}) if isinstance(settings, dict) else {}
    for key, label in _EXTRACTION_SETTINGS:
        if key in inner:
            items.append((label, inner[key]))
    if isinstance(settings, dict) and settings.get("imageType"):
        items.append(("image types", ", ".join(settings["imageType"])))
    if isinstance(settings, dict) and settings.get("featureClass"):
        items.append(("feature classes", ", ".join(settings["featureClass"])))
    return items


def _acquisition_rows(frames) -> list[dict[str, str]]:
    """One row per acquisition attribute found in the first frame that has it."""
    acquisition = []
    for label, names in ACQUISITION_COLUMNS.items():
        for frame in frames:
            column = next((n for n in names if n in frame.columns), None)
            if column is not None:
                counts = frame[column].astype(str).value_counts()
                acquisition.append(
                    {
                        "attribute": label,
                        "source column": column,
                        "values (patients)": "; ".join(
                            f"{k} ({v})" for k, v in counts.head(8).items()
                        ),
                    }
                )
                break
    return acquisition


def _acquisition_part(acquisition: list[dict[str, str]]) -> str:
    """The acquisition table, or the note that the authors must give it."""
    if acquisition:
        return _table(
            pd.DataFrame(acquisition),
            caption="Acquisition (DICOM headers and clinical columns)",
        )
    return _pending(
        "No acquisition attributes (scanner, kVp, slice thickness, "
        "reconstruction kernel) in the stored data: to be completed by "
        "the authors."
    )


def _extraction_section(data: dict, numbers: dict) -> str:
    mdata = data["mdata"]
    rad = _radiomics(mdata)
    if rad is None:
        return _pending("The cohort has no radiomics modality.")
    parts = [_facts(_extraction_facts(rad))]
    acquisition = _acquisition_rows([rad.obs, mdata.obs])
    if acquisition:
        numbers["acquisition"] = [row["attribute"] for row in acquisition]
    parts.append(_acquisition_part(acquisition))
    if "unit" in rad.var:
        units = rad.var["unit"].astype(str).replace("", "dimensionless").value_counts()
        parts.append(
            _table(
                units.rename_axis("unit").reset_index(name="features"),
                caption="Units of the radiomic features (var['unit'])",
            )
        )
    numbers["n_radiomic_features"] = int(rad.n_vars)
    return "".join(parts)


def _ibsi_section(data: dict, numbers: dict) -> str:
    rad = _radiomics(data["mdata"])
    stamp = None if rad is None else rad.uns.get("radiogenomics", {}).get("ibsi")
    source = "stamped at extraction"
    if not stamp:
        stamp, source = ibsi_provenance(), "run when the report was written"
    if "error" in stamp:
        return _pending(str(stamp["error"]))
    versions = stamp.get("versions", {})
    numbers["ibsi"] = {
        k: stamp.get(k) for k in ("n_compared", "n_passed", "n_claimed", "n_claimed_passed")
    }
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
    ibsi_tagged = (
        int((rad.var["ibsi_tag"] != "").sum()) if rad is not None and "ibsi_tag" in rad.var else 0
    )
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
            parts.append(
                _table(
                    differ[
                        ["feature", "ibsi_tag", "reference", "tolerance", "value", "passed", "note"]
                    ],
                    caption="Features whose definition differs from IBSI (not "
                    "claimed compliant), with the installed pyradiomics",
                )
            )
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
            parts.append(
                _table(
                    counts.rename_axis("reason").reset_index(name="features"),
                    caption="Features dropped, by reason",
                )
            )
    else:
        parts.append(_pending("No feature QC was stored."))
    rad = _radiomics(data["mdata"])
    if rad is not None:
        failures = rad.uns.get("radiogenomics", {}).get("failures")
        if isinstance(failures, pd.DataFrame) and len(failures):
            parts.append(
                _table(
                    failures[["patient_id", "stage", "error"]],
                    caption="Cases whose extraction failed",
                )
            )
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
        parts.append(
            _facts(
                [
                    ("modality", p.get("mod", key)),
                    ("method", "ComBat"),
                    ("batch column", p.get("batch_key", "")),
                    ("covariates kept", ", ".join(_list(p.get("covariates"))) or "none"),
                    ("features adjusted", p.get("n_features_adjusted", "")),
                ]
            )
        )
        if _frame(table) is not None:
            parts.append(_table(table, caption="Batch separation before and after"))
    parts.append(
        _figure(
            uris,
            "harmonisation",
            "Patients on the first principal components before and after harmonisation, by batch",
        )
    )
    return "".join(parts)


def _robustness_section(data: dict, numbers: dict) -> str:
    rad = _radiomics(data["mdata"])
    if rad is None or "icc_2_1" not in rad.var:
        return _pending(
            "No robustness analysis (mask perturbation ICC) was stored: to be "
            "completed by the authors, or run rg.pp.robust_features."
        )
    icc = rad.var["icc_2_1"].astype(float)
    robust = rad.var["robust"].astype(bool) if "robust" in rad.var else icc >= 0.75
    numbers["n_robust"] = int(robust.sum())
    return _facts(
        [
            ("features assessed", int(icc.notna().sum())),
            ("robust", int(robust.sum())),
            ("median ICC(2,1)", _num(float(np.nanmedian(icc)))),
        ]
    )


def _scale_note(mdata, modality: str) -> str:
    """How the values behind a table's estimates were preprocessed, for its caption."""
    mods = mdata.mod if mdata is not None else {}
    if modality not in mods:
        return ""
    done = [entry.get("step", name) for name, entry in steps(mods[modality]).items()]
    if not done:
        return f"; {modality} values as extracted, in the units shown"
    return (
        f"; estimates on the {modality} values after {', '.join(map(str, done))} (the "
        "unit column gives the unit of the extracted values, layers['raw'])"
    )


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
        multitest = {
            "bh": "Benjamini-Hochberg",
            "by": "Benjamini-Yekutieli",
            "bonferroni": "Bonferroni",
            "holm": "Holm",
        }.get(str(multitest).lower(), str(multitest))
        methods = ", ".join(sorted(table["method"].astype(str).unique()))
        n_sig = int(np.sum(q < 0.05))
        counts[key] = {
            "pairs": int(len(table)),
            "q_below_0.05": n_sig,
            "q_below_0.1": int(np.sum(q < 0.1)),
        }
        rows.append(
            {
                "table": key,
                "method": methods,
                "pairs": len(table),
                "multiple testing": f"{multitest}" + (f" (family {family})" if family else ""),
                "q < 0.05": n_sig,
                "q < 0.1": int(np.sum(q < 0.1)),
            }
        )
    numbers["associations"] = counts
    parts.append(_table(pd.DataFrame(rows), caption="Association tables"))
    for key, table in tables.items():
        top = table.sort_values("p_value").head(10)
        shown = pd.DataFrame(
            {
                "x": top["x"].astype(str),
                "x unit": _units(
                    mdata, str(top["x_modality"].iloc[0]) if len(top) else "", top["x"]
                ),
                "y": top["y"].astype(str),
                "estimate": top["estimate"],
                "p": top["p_value"],
                "q": top["q_value"],
                "n": top["n"],
            }
        )
        x_mod = str(top["x_modality"].iloc[0]) if len(top) else ""
        parts.append(
            _table(
                shown, caption=f"{key}: the 10 most significant pairs" + _scale_note(mdata, x_mod)
            )
        )
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
        counts[key] = {
            "features": int(len(table)),
            "n": n,
            "n_events": events,
            "q_below_0.05": int(np.sum(q < 0.05)),
        }
        rows.append(
            {
                "screen": key,
                "features": len(table),
                "patients": n,
                "events": events,
                "covariates": ", ".join(_list(p.get("covariates"))) or "none",
                "multiple testing": "BH",
                "q < 0.05": int(np.sum(q < 0.05)),
            }
        )
    numbers["survival"] = counts
    parts.append(_table(pd.DataFrame(rows), caption="Cox screens (one model per feature)"))
    first_key = next(iter(tables))
    top = tables[first_key].sort_values("p_value").head(10)
    shown = pd.DataFrame(
        {
            "feature": top["feature"].astype(str),
            "unit": [
                u
                for m, f in zip(top["modality"].astype(str), top["feature"].astype(str))
                for u in _units(mdata, m, pd.Series([f]))
            ],
            "hazard ratio": top["hazard_ratio"],
            "95% CI": [
                f"{_num(lo)}-{_num(hi)}" for lo, hi in zip(top["hr_ci_lower"], top["hr_ci_upper"])
            ],
            "p": top["p_value"],
            "q": top["q_value"],
            "C-index": top["concordance"],
        }
    )
    mod = str(top["modality"].iloc[0]) if len(top) else ""
    parts.append(
        _table(
            shown,
            caption=f"{first_key}: the 10 most significant features "
            "(hazard ratio per unit of the feature as the screen used it"
            + _scale_note(mdata, mod)
            + ")",
        )
    )
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
        cv = (
            metrics[metrics["validation"] == "cross-validation"]
            if "validation" in metrics
            else metrics
        )
        items = [
            ("task", card.get("task", "")),
            (
                "target",
                card.get("target", {}).get("column", "")
                if isinstance(card.get("target"), Mapping)
                else "",
            ),
            (
                "validation",
                f"{validation.get('scheme', 'nested cross-validation')}: "
                f"{validation.get('outer_folds', '?')} outer folds x "
                f"{validation.get('n_repeats', '?')} repeats, "
                f"{validation.get('inner_folds', '?')} inner folds",
            ),
            ("patients", _num(cv["n"].iloc[0]) if "n" in cv and len(cv) else ""),
        ]
        if "n_positive" in cv and len(cv):
            items.append(("positives", _num(cv["n_positive"].iloc[0])))
        if "n_events" in cv and len(cv):
            items.append(("events", _num(cv["n_events"].iloc[0])))
        permutation = validation.get("permutation_test") or {}
        if isinstance(permutation, Mapping) and "p_value" in permutation:
            items.append(("permutation test p", _num(permutation["p_value"])))
        parts.append(f"<h3>{_esc(key)}</h3>" + _facts(items))
        shown = cv[[c for c in ("metric", "estimate", "ci_lower", "ci_upper") if c in cv]]
        parts.append(
            _table(shown, caption=f"{key}: cross-validated metrics with 95% bootstrap intervals")
        )
        found[key] = {
            row.metric: float(row.estimate) for row in cv.itertuples() if hasattr(row, "metric")
        }
        for kind, caption in (
            ("roc", "ROC curve"),
            ("calibration", "calibration"),
            ("decision", "decision curve"),
            ("td_auc", "time-dependent AUC"),
        ):
            parts.append(_figure(uris, f"{kind}:{key}", f"{key}: {caption}"))
    numbers["models"] = found
    return "".join(parts)


def _checklist_section(data: dict, numbers: dict) -> str:
    rows = pd.DataFrame(checklist_rows(data, numbers))
    numbers["checklist"] = {
        "items": int(len(rows)),
        "to_be_completed": int((rows["status"] == "to be completed by the authors").sum()),
    }
    return (
        "<p>What the software knows is filled in; every other item is marked “to be "
        "completed by the authors”.</p>" + _table(rows)
    )
