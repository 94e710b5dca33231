"""The reporting checklist: CLEAR, TRIPOD+AI and RQS items filled from what the software knows.

Items are paraphrased by topic (CLEAR: Kocak et al., Insights Imaging 2023; TRIPOD+AI:
Collins et al., BMJ 2024; RQS: Lambin et al., Nat Rev Clin Oncol 2017); the checklists
themselves define the wording and numbering the authors report against.
"""

from __future__ import annotations

import json

__all__ = ["AUTHORS", "FILLED", "PARTLY", "checklist_rows"]

AUTHORS = "to be completed by the authors"
FILLED = "filled by the software"
PARTLY = "partly filled; to be completed by the authors"

#: The checklist: (guideline, item, fact filling it or None, partly filled by the software).
#: A fact is one of the texts of :func:`_known_facts`; None leaves the item to the authors.
_CHECKLIST: tuple[tuple[str, str, str | None, bool], ...] = (
    ("CLEAR", "Study design, data source, eligibility, reference standard", None, False),
    ("CLEAR", "Imaging protocol (scanner, acquisition, reconstruction)", "protocol", True),
    ("CLEAR", "Segmentation method and source", "segmentation", True),
    (
        "CLEAR",
        "Image preprocessing (resampling, discretisation, normalisation)",
        "preprocessing",
        False,
    ),
    ("CLEAR", "Radiomics software and version", "software", False),
    ("CLEAR", "Feature extraction settings and image types", "extraction", False),
    ("CLEAR", "Compliance with IBSI feature definitions", "ibsi", False),
    ("CLEAR", "Harmonisation of batch / scanner effects", "harmonisation", False),
    ("CLEAR", "Feature robustness and reproducibility", "robustness", False),
    ("CLEAR", "Feature selection / dimensionality reduction", "selection", False),
    ("CLEAR", "Sample size and class balance", "sample", False),
    ("CLEAR", "Handling of missing data", "missing", False),
    ("CLEAR", "Multiple testing correction", "multiple", False),
    ("CLEAR", "Validation design", "validation", False),
    ("CLEAR", "Performance metrics with uncertainty", "discrimination", False),
    ("CLEAR", "Calibration", "calibration", False),
    ("CLEAR", "Clinical utility", "utility", False),
    ("CLEAR", "Code availability", "code", True),
    ("CLEAR", "Data availability", None, False),
    ("TRIPOD+AI", "Title, abstract, background and objectives", None, False),
    ("TRIPOD+AI", "Source of data, setting, dates, participants and eligibility", None, False),
    ("TRIPOD+AI", "Outcome definition and how it was assessed", "outcome", True),
    ("TRIPOD+AI", "Predictors (features used by the final models)", "predictors", False),
    ("TRIPOD+AI", "Sample size (participants and events)", "sample", False),
    ("TRIPOD+AI", "Missing data", "missing", False),
    (
        "TRIPOD+AI",
        "Analytical methods (model, tuning, internal validation)",
        "validation",
        False,
    ),
    ("TRIPOD+AI", "Discrimination with confidence intervals", "discrimination", False),
    ("TRIPOD+AI", "Calibration", "calibration", False),
    ("TRIPOD+AI", "Clinical utility (net benefit)", "utility", False),
    ("TRIPOD+AI", "Fairness across subgroups", None, False),
    ("TRIPOD+AI", "Model updating, external validation, intended use", None, False),
    ("TRIPOD+AI", "Code and software availability", "code", True),
    ("TRIPOD+AI", "Ethics, funding, conflicts of interest, registration", None, False),
    ("RQS", "Image protocol quality", None, False),
    ("RQS", "Multiple segmentations / robustness to segmentation", "robustness", False),
    ("RQS", "Phantom study", "phantom", True),
    ("RQS", "Imaging at multiple time points", None, False),
    ("RQS", "Feature reduction or adjustment for multiple testing", "reduction", False),
    ("RQS", "Multivariable analysis with non-radiomic features", "multivariable", False),
    ("RQS", "Detect and discuss biological correlates", "correlates", True),
    ("RQS", "Cut-off analyses", "cutoff", False),
    ("RQS", "Discrimination statistics", "discrimination", False),
    ("RQS", "Calibration statistics", "calibration", False),
    ("RQS", "Prospective study", None, False),
    ("RQS", "Validation", "validation", True),
    ("RQS", "Comparison to the gold standard", None, False),
    ("RQS", "Potential clinical utility", "utility", False),
    ("RQS", "Cost-effectiveness analysis", None, False),
    ("RQS", "Open science and data", "code", True),
)

#: Extraction settings named in the preprocessing item, in this order.
_PREPROCESSING_SETTINGS = (
    "resampledPixelSpacing",
    "interpolator",
    "normalize",
    "binWidth",
    "binCount",
    "resegmentRange",
    "voxelArrayShift",
    "force2D",
)
_CODE = (
    "radiogenomics (BSD-3-Clause), settings and versions in this report and the "
    "sidecars; the analysis scripts: to be completed"
)


def _root(mdata) -> dict:
    return mdata.uns.get("radiogenomics", {})


def _extraction(mdata) -> tuple[dict, dict]:
    rad = mdata.mod.get("radiomics")
    if rad is None:
        return {}, {}
    info = rad.uns.get("radiogenomics", {})
    try:
        params = json.loads(info.get("params", "{}")) if info.get("params") else {}
    except ValueError:
        params = {}
    return info, params if isinstance(params, dict) else {}


def _models(mdata) -> dict[str, dict]:
    cards = {}
    for key, card in _root(mdata).get("model_cards", {}).items():
        try:
            cards[key] = json.loads(card) if isinstance(card, str) else dict(card)
        except (TypeError, ValueError):
            continue
    return cards


def _software(info: dict) -> str | None:
    """The radiomics software and versions the extraction recorded."""
    return (
        ", ".join(
            filter(
                None,
                [
                    f"radiogenomics {info.get('ibsi', {}).get('versions', {}).get('radiogenomics', '')}"
                    if isinstance(info.get("ibsi"), dict)
                    else "",
                    f"pyradiomics {info.get('pyradiomics_version', '')}"
                    if info.get("pyradiomics_version")
                    else "",
                ],
            )
        )
        or None
    )


def _extraction_facts(mdata, info: dict, params: dict) -> dict[str, str | None]:
    """Software, preprocessing, extraction settings and segmentation of the radiomics."""
    setting = params.get("setting", {}) if isinstance(params.get("setting"), dict) else {}
    preprocessing = None
    if setting:
        preprocessing = "; ".join(
            f"{k} = {setting[k]}" for k in _PREPROCESSING_SETTINGS if k in setting
        )
    image_types = ", ".join(params.get("imageType", {})) if params.get("imageType") else None
    segmentation = None
    rad = mdata.mod.get("radiomics")
    if rad is not None and "mask" in rad.obs:
        segmentation = (
            f"masks from the image manifest ({int(rad.obs['mask'].notna().sum())} "
            "cases); who drew them, how and with which tool: to be completed"
        )
    return {
        "software": _software(info),
        "preprocessing": preprocessing,
        "extraction": f"image types {image_types}; all settings in the extraction provenance"
        if image_types
        else None,
        "segmentation": segmentation,
    }


def _cohort_facts(numbers: dict, cards: dict[str, dict]) -> dict[str, str | None]:
    """Sample size, missing data and multiple testing, from the report's numbers."""
    n_patients = numbers.get("n_patients")
    survival = numbers.get("survival") or {}
    events = ", ".join(
        f"{k}: {v['n']} patients, {v['n_events']} events" for k, v in survival.items()
    )
    sample = f"{n_patients} patients in the cohort" + (f"; survival {events}" if events else "")
    missing = f"{numbers.get('n_dropped', 0)} patient(s) dropped by the join (join report)"
    for key, card in cards.items():
        dropped = (
            card.get("data", {}).get("dropped") if isinstance(card.get("data"), dict) else None
        )
        if dropped:
            missing += f"; model {key}: " + ", ".join(
                f"{len(v)} {reason}" for reason, v in dict(dropped).items()
            )
    associations = numbers.get("associations") or {}
    multiple = None
    if associations or survival:
        multiple = "Benjamini-Hochberg q-values over every tested pair of each table: " + ", ".join(
            f"{k} {v['q_below_0.05']} of {v['pairs']} at q < 0.05" for k, v in associations.items()
        )
        if survival:
            multiple += "; survival screens: " + ", ".join(
                f"{k} {v['q_below_0.05']} of {v['features']}" for k, v in survival.items()
            )
    return {"sample": sample, "missing": missing, "multiple": multiple}


def _model_facts(root: dict, cards: dict[str, dict]) -> dict[str, str | None]:
    """Validation design, discrimination, calibration and clinical utility of the models."""
    validation = discrimination = calibration = utility = None
    if cards:
        parts = []
        for key, card in cards.items():
            v = card.get("validation", {})
            parts.append(
                f"{key}: {v.get('scheme', 'nested cross-validation')}, "
                f"{v.get('outer_folds')} outer folds x {v.get('n_repeats')} repeats, "
                f"{v.get('inner_folds')} inner folds"
            )
        validation = "; ".join(parts) + " (internal validation only)"
        metrics = root.get("models", {})
        d, c, u = [], [], []
        for key, table in metrics.items():
            if not hasattr(table, "columns"):
                continue
            cv = table[table["validation"] == "cross-validation"]
            for row in cv.itertuples():
                text = (
                    f"{key} {row.metric} {row.estimate:.3f} ({row.ci_lower:.3f}-{row.ci_upper:.3f})"
                )
                if row.metric in ("auc", "concordance", "balanced_accuracy", "td_auc"):
                    d.append(text)
                if row.metric.startswith("calibration") or row.metric == "brier":
                    c.append(text)
            curves = root.get("model_curves", {}).get(key)
            if curves is not None and "curve" in curves and (curves["curve"] == "decision").any():
                u.append(f"{key}: decision curve (net benefit) with bootstrap band")
        discrimination = "; ".join(d) or None
        calibration = "; ".join(c) or None
        utility = "; ".join(u) or None
    return {
        "validation": validation,
        "discrimination": discrimination,
        "calibration": calibration,
        "utility": utility,
    }


def _curation_facts(root: dict, numbers: dict, cards: dict[str, dict]) -> dict[str, str | None]:
    """Harmonisation, robustness, IBSI compliance and feature selection."""
    harmonisation = None
    if root.get("harmonization"):
        p = root.get("params", {}).get("harmonization", {})
        harmonisation = "; ".join(
            f"ComBat on {k} across {v.get('batch_key')}" for k, v in p.items()
        )
    robustness = f"{numbers['n_robust']} robust features (ICC)" if "n_robust" in numbers else None
    ibsi = numbers.get("ibsi") or {}
    ibsi_text = None
    if ibsi.get("n_compared"):
        ibsi_text = (
            f"IBSI 1 digital phantom: {ibsi['n_claimed_passed']} of {ibsi['n_claimed']} "
            f"features claimed compliant pass ({ibsi['n_compared']} compared)"
        )
    selection = None
    if root.get("redundancy") or cards:
        selection = "; ".join(
            filter(
                None,
                [
                    "redundancy flags (correlation clusters)" if root.get("redundancy") else "",
                    *[
                        f"{k}: {c.get('pipeline', {}).get('selection')} inside the cross-validation"
                        for k, c in cards.items()
                    ],
                ],
            )
        )
    return {
        "harmonisation": harmonisation,
        "robustness": robustness,
        "ibsi": ibsi_text,
        "selection": selection,
    }


def _item_facts(
    root: dict, numbers: dict, cards: dict[str, dict], facts: dict[str, str | None]
) -> dict[str, str | None]:
    """The facts that fill a single item: protocol, outcome, predictors and the RQS items."""
    known = [a for a in numbers.get("acquisition", []) if a != "site"]
    associations = numbers.get("associations") or {}
    ibsi_text, selection, multiple = facts["ibsi"], facts["selection"], facts["multiple"]
    return {
        "protocol": (
            "from the DICOM headers: " + ", ".join(known) + " (see 'Acquisition and extraction "
            "settings'); the rest of the protocol: to be completed"
        )
        if known
        else None,
        "outcome": "; ".join(
            f"{k}: target column {c.get('target', {}).get('column')}"
            for k, c in cards.items()
            if isinstance(c.get("target"), dict)
        )
        or None,
        "predictors": "; ".join(
            f"{k}: {len(c.get('features', {}).get('used_by_final_model', []) or [])} features"
            for k, c in cards.items()
        )
        or None,
        "phantom": (ibsi_text + " (software phantom; a scanner phantom study: to be completed)")
        if ibsi_text
        else None,
        "reduction": "; ".join(filter(None, [selection, multiple])) or None,
        "multivariable": "; ".join(
            f"{k}: {c.get('features', {}).get('label')}"
            for k, c in cards.items()
            if "clinical" in str(c.get("features", {}).get("label", ""))
        )
        or None,
        "correlates": ", ".join(
            f"{k} ({v['q_below_0.05']} pairs at q < 0.05)" for k, v in associations.items()
        )
        or None,
        "cutoff": "maximally selected rank statistics stored" if root.get("maxstat") else None,
    }


def _known_facts(mdata, numbers: dict) -> dict[str, str | None]:
    """Every text the software can fill an item with, by fact name (None when unknown)."""
    root = _root(mdata)
    info, params = _extraction(mdata)
    cards = _models(mdata)
    facts = {
        **_extraction_facts(mdata, info, params),
        **_cohort_facts(numbers, cards),
        **_model_facts(root, cards),
        **_curation_facts(root, numbers, cards),
        "code": _CODE,
    }
    facts.update(_item_facts(root, numbers, cards, facts))
    return facts


def checklist_rows(data: dict, numbers: dict) -> list[dict[str, str]]:
    """One row per checklist item: ``guideline``, ``item``, ``status``, ``content``.

    Parameters
    ----------
    data
        What :func:`~radiogenomics.report.collect` returns.
    numbers
        The report's numbers, as its sections collect them (``n_patients``, ``n_dropped``,
        ``survival``, ``associations``, ...).

    See Also
    --------
    radiogenomics.report.study : the report whose last section is this checklist.

    Examples
    --------
    >>> import radiogenomics as rg
    >>> mdata = rg.datasets.toy_cohort(n_patients=20, n_genes=3)
    >>> data = rg.report.collect(mdata)
    >>> rows = rg.report.checklist_rows(data, {"n_patients": mdata.n_obs, "n_dropped": 0})
    >>> sorted({row["guideline"] for row in rows})
    ['CLEAR', 'RQS', 'TRIPOD+AI']
    >>> sample = next(row for row in rows if row["item"] == "Sample size and class balance")
    >>> sample["status"], sample["content"]
    ('filled by the software', '20 patients in the cohort')
    >>> rows[0]["item"], rows[0]["status"]
    ('Study design, data source, eligibility, reference standard', 'to be completed by the authors')
    """
    facts = _known_facts(data["mdata"], numbers)
    rows: list[dict[str, str]] = []
    for guideline, item, fact, partly in _CHECKLIST:
        content = facts[fact] if fact is not None else None
        status = AUTHORS if not content else (PARTLY if partly else FILLED)
        rows.append(
            {"guideline": guideline, "item": item, "status": status, "content": content or ""}
        )
    return rows
