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


def checklist_rows(data: dict, numbers: dict) -> list[dict[str, str]]:
    """One row per checklist item: ``guideline``, ``item``, ``status``, ``content``."""
    mdata = data["mdata"]
    root = _root(mdata)
    info, params = _extraction(mdata)
    setting = params.get("setting", {}) if isinstance(params.get("setting"), dict) else {}
    cards = _models(mdata)
    ibsi = numbers.get("ibsi") or {}
    rows: list[dict[str, str]] = []

    def add(guideline: str, item: str, content: str | None, partly: bool = False) -> None:
        status = AUTHORS if not content else (PARTLY if partly else FILLED)
        rows.append(
            {"guideline": guideline, "item": item, "status": status, "content": content or ""}
        )

    # ------------------------------------------------------------ knowledge of the run
    software = (
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
    preprocessing = None
    if setting:
        preprocessing = "; ".join(
            f"{k} = {setting[k]}"
            for k in (
                "resampledPixelSpacing",
                "interpolator",
                "normalize",
                "binWidth",
                "binCount",
                "resegmentRange",
                "voxelArrayShift",
                "force2D",
            )
            if k in setting
        )
    image_types = ", ".join(params.get("imageType", {})) if params.get("imageType") else None
    segmentation = None
    rad = mdata.mod.get("radiomics")
    if rad is not None and "mask" in rad.obs:
        segmentation = (
            f"masks from the image manifest ({int(rad.obs['mask'].notna().sum())} "
            "cases); who drew them, how and with which tool: to be completed"
        )
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
    harmonisation = None
    if root.get("harmonization"):
        p = root.get("params", {}).get("harmonization", {})
        harmonisation = "; ".join(
            f"ComBat on {k} across {v.get('batch_key')}" for k, v in p.items()
        )
    robustness = f"{numbers['n_robust']} robust features (ICC)" if "n_robust" in numbers else None
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
    code = (
        "radiogenomics (BSD-3-Clause), settings and versions in this report and the "
        "sidecars; the analysis scripts: to be completed"
    )

    # ------------------------------------------------------------ CLEAR
    add("CLEAR", "Study design, data source, eligibility, reference standard", None)
    known = [a for a in numbers.get("acquisition", []) if a != "site"]
    add(
        "CLEAR",
        "Imaging protocol (scanner, acquisition, reconstruction)",
        (
            "from the DICOM headers: " + ", ".join(known) + " (see 'Acquisition and extraction "
            "settings'); the rest of the protocol: to be completed"
        )
        if known
        else None,
        partly=True,
    )
    add("CLEAR", "Segmentation method and source", segmentation, partly=True)
    add("CLEAR", "Image preprocessing (resampling, discretisation, normalisation)", preprocessing)
    add("CLEAR", "Radiomics software and version", software)
    add(
        "CLEAR",
        "Feature extraction settings and image types",
        f"image types {image_types}; all settings in the extraction provenance"
        if image_types
        else None,
    )
    add("CLEAR", "Compliance with IBSI feature definitions", ibsi_text)
    add("CLEAR", "Harmonisation of batch / scanner effects", harmonisation)
    add("CLEAR", "Feature robustness and reproducibility", robustness)
    add("CLEAR", "Feature selection / dimensionality reduction", selection)
    add("CLEAR", "Sample size and class balance", sample)
    add("CLEAR", "Handling of missing data", missing)
    add("CLEAR", "Multiple testing correction", multiple)
    add("CLEAR", "Validation design", validation)
    add("CLEAR", "Performance metrics with uncertainty", discrimination)
    add("CLEAR", "Calibration", calibration)
    add("CLEAR", "Clinical utility", utility)
    add("CLEAR", "Code availability", code, partly=True)
    add("CLEAR", "Data availability", None)
    # ------------------------------------------------------------ TRIPOD+AI
    add("TRIPOD+AI", "Title, abstract, background and objectives", None)
    add("TRIPOD+AI", "Source of data, setting, dates, participants and eligibility", None)
    add(
        "TRIPOD+AI",
        "Outcome definition and how it was assessed",
        "; ".join(
            f"{k}: target column {c.get('target', {}).get('column')}"
            for k, c in cards.items()
            if isinstance(c.get("target"), dict)
        )
        or None,
        partly=True,
    )
    add(
        "TRIPOD+AI",
        "Predictors (features used by the final models)",
        "; ".join(
            f"{k}: {len(c.get('features', {}).get('used_by_final_model', []) or [])} features"
            for k, c in cards.items()
        )
        or None,
    )
    add("TRIPOD+AI", "Sample size (participants and events)", sample)
    add("TRIPOD+AI", "Missing data", missing)
    add("TRIPOD+AI", "Analytical methods (model, tuning, internal validation)", validation)
    add("TRIPOD+AI", "Discrimination with confidence intervals", discrimination)
    add("TRIPOD+AI", "Calibration", calibration)
    add("TRIPOD+AI", "Clinical utility (net benefit)", utility)
    add("TRIPOD+AI", "Fairness across subgroups", None)
    add("TRIPOD+AI", "Model updating, external validation, intended use", None)
    add("TRIPOD+AI", "Code and software availability", code, partly=True)
    add("TRIPOD+AI", "Ethics, funding, conflicts of interest, registration", None)
    # ------------------------------------------------------------ RQS
    add("RQS", "Image protocol quality", None)
    add("RQS", "Multiple segmentations / robustness to segmentation", robustness)
    add(
        "RQS",
        "Phantom study",
        (ibsi_text + " (software phantom; a scanner phantom study: to be completed)")
        if ibsi_text
        else None,
        partly=True,
    )
    add("RQS", "Imaging at multiple time points", None)
    add(
        "RQS",
        "Feature reduction or adjustment for multiple testing",
        "; ".join(filter(None, [selection, multiple])) or None,
    )
    add(
        "RQS",
        "Multivariable analysis with non-radiomic features",
        "; ".join(
            f"{k}: {c.get('features', {}).get('label')}"
            for k, c in cards.items()
            if "clinical" in str(c.get("features", {}).get("label", ""))
        )
        or None,
    )
    add(
        "RQS",
        "Detect and discuss biological correlates",
        ", ".join(f"{k} ({v['q_below_0.05']} pairs at q < 0.05)" for k, v in associations.items())
        or None,
        partly=True,
    )
    add(
        "RQS",
        "Cut-off analyses",
        "maximally selected rank statistics stored" if root.get("maxstat") else None,
    )
    add("RQS", "Discrimination statistics", discrimination)
    add("RQS", "Calibration statistics", calibration)
    add("RQS", "Prospective study", None)
    add("RQS", "Validation", validation, partly=bool(validation))
    add("RQS", "Comparison to the gold standard", None)
    add("RQS", "Potential clinical utility", utility)
    add("RQS", "Cost-effectiveness analysis", None)
    add("RQS", "Open science and data", code, partly=True)
    return rows
