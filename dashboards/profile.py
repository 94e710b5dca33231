"""One patient's profile for the patient page: key radiomic features against the cohort,
linked genes, clinical facts, outcome, lesion view and radiomic risk."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

import radiogenomics as rg

from .results import Results
from .store import TableFilter
from .survival import clinical_cohort, km_figure
from .units import feature_unit, format_value, human_label, raw_layer, time_label, time_unit

#: pyradiomics feature classes, in the order the page takes one feature of each in turn
#: when no association table says which radiomic features matter.
FEATURE_CLASSES = ("shape", "firstorder", "glcm", "glrlm", "glszm", "gldm", "ngtdm")


N_KEY_FEATURES = 12
N_SIMILAR = 5


def key_features(results: Results, n: int = N_KEY_FEATURES) -> list[str]:
    """Radiomic features to show: those of the most significant radiomic associations,
    else a default set of shape, intensity and texture features."""
    mdata = results.mdata
    if mdata is None or "radiomics" not in mdata.mod:
        return []
    names = set(mdata["radiomics"].var_names)
    chosen: list[str] = []
    for store in results.associations.values():
        if "radiomics" not in store.distinct("x_modality", 10):
            continue
        top = store.top(_all(), limit=400, columns=["x", "x_modality"])
        for name in top.loc[top["x_modality"] == "radiomics", "x"]:
            if name in names and name not in chosen:
                chosen.append(name)
            if len(chosen) >= n:
                return chosen
    for name in curated_features(mdata["radiomics"]):
        if name not in chosen:
            chosen.append(name)
    return chosen[:n]


def _feature_class(name: str) -> str:
    parts = str(name).split("_")
    return parts[1] if len(parts) >= 3 else ""


def curated_features(radiomics) -> list[str]:
    """The cohort's radiomic features that curation kept (not dropped by QC, robust and
    non-redundant where those steps ran), one of each feature class in turn (shape,
    first order, then the texture classes), features of the original image first."""
    var = radiomics.var
    keep = np.ones(len(var), dtype=bool)
    for column, wanted in (("qc_dropped", False), ("robust", True), ("redundancy_kept", True)):
        if column in var.columns:
            keep &= var[column].fillna(not wanted).astype(bool).to_numpy() == wanted
    if not keep.any():
        keep[:] = True
    names = [str(name) for name, kept in zip(var.index, keep) if kept]
    names.sort(key=lambda name: not name.startswith("original_"))  # stable
    by_class: dict[str, list[str]] = {}
    for name in names:
        by_class.setdefault(_feature_class(name), []).append(name)
    classes = [c for c in FEATURE_CLASSES if c in by_class]
    classes += [c for c in by_class if c not in classes]
    queues = [list(reversed(by_class[c])) for c in classes]
    ordered: list[str] = []
    while any(queues):
        for queue in queues:
            if queue:
                ordered.append(queue.pop())
    return ordered


def _all():

    return TableFilter()


def linked_genes(results: Results, features: list[str], limit: int = 12) -> pd.DataFrame:
    """Genes associated (q <= 0.05) with the given radiomic features, most significant
    first, from the association tables whose other side is RNA."""
    frames = []
    for store in results.associations.values():
        if "rna" not in store.distinct("y_modality", 10):
            continue
        frames.append(store.linked(features, q_max=0.05, limit=limit * 4))
    if not frames:
        return pd.DataFrame(columns=["x", "y", "estimate", "q_value"])
    rows = pd.concat(frames).sort_values("p_value", kind="stable")
    rows = rows[rows["y_modality"] == "rna"].drop_duplicates("y").head(limit)
    return rows[["x", "y", "estimate", "q_value"]]


def _cell(value) -> str:
    """A clinical value as shown: numbers with fractions to 4 significant digits."""
    if pd.isna(value):
        return ""
    if isinstance(value, float) and not value.is_integer():
        return f"{value:.4g}"
    if isinstance(value, float):
        return str(int(value))
    return str(value)


#: Units of clinical columns a cohort names in the usual way.
_CLINICAL_UNITS = {
    "age": "years",
    "age_at_diagnosis": "years",
    "bmi": "kg/m²",
    "weight": "kg",
    "height": "cm",
}


def clinical_rows(results: Results, patient: str) -> pd.DataFrame:
    """The patient's clinical values as a person reads them: readable names, flags as
    yes/no, units; stored risk columns and identifiers left to their own panels."""
    obs = results.mdata.obs
    skip = set(results.risk_columns().values())
    labels, values = [], []
    for column in obs.columns:
        if column in skip:
            continue
        value = obs.at[patient, column]
        series = obs[column]
        text = _cell(value)
        numeric = pd.api.types.is_numeric_dtype(series.dtype) and not isinstance(
            series.dtype, pd.CategoricalDtype
        )
        if numeric and set(series.dropna().unique()) <= {0, 1} and text:
            text = "yes" if float(value) else "no"
            if column == results.event:
                text = "event" if float(value) else "censored"
        elif numeric and text:
            unit = _CLINICAL_UNITS.get(str(column).lower(), "")
            if column == results.time:
                unit = time_unit(results.time, results.uns("clinical", default={}) or {})
            label_unit = human_label(column)
            if unit and f"({unit})" not in label_unit:
                text = f"{text} {unit}"
        labels.append(human_label(column))
        values.append(text or "not recorded")
    return pd.DataFrame({"column": labels, "value": values})


def build_profile(results: Results, patient: str) -> dict:
    """Everything the patient view shows, from library calls: figures and tables."""
    mdata = results.mdata
    shown = results.display_id(patient)
    profile: dict = {"patient": shown}
    obs = mdata.obs.loc[patient]
    profile["clinical"] = clinical_rows(results, patient)
    features = key_features(results)
    profile["features"] = features
    if features:
        radiomics = mdata["radiomics"]
        percentiles = rg.tl.patient_percentiles(
            mdata, patient, mod="radiomics", features=features, layer=raw_layer(radiomics)
        )
        percentiles["unit"] = [feature_unit(radiomics, f) for f in percentiles["feature"]]
        profile["percentiles"] = percentiles
        figure = rg.pl.patient_percentiles(percentiles)
        figure.data[0].customdata = np.c_[
            [
                format_value(v, u)
                for v, u in zip(percentiles["value"][::-1], percentiles["unit"][::-1])
            ],
            [
                format_value(v, u)
                for v, u in zip(percentiles["cohort_median"][::-1], percentiles["unit"][::-1])
            ],
        ]
        figure.data[0].hovertemplate = (
            "%{y}<br>percentile %{x:.0f}<br>value "
            "%{customdata[0]}<br>cohort median %{customdata[1]}"
            "<extra></extra>"
        )
        profile["percentiles_figure"] = figure
    profile["image_view"] = None
    profile["image_files"] = None
    profile["image_note"] = "No image manifest in the cohort."
    manifest = results.manifest()
    if manifest is not None and "patient_id" in manifest:
        rows = manifest[manifest["patient_id"].astype(str) == patient]
        if rows.empty:
            profile["image_note"] = "No image of this patient in the manifest."
        else:
            row = rows.iloc[0]
            image, mask = Path(str(row["image"])), Path(str(row["mask"]))
            label = int(row["label"]) if "label" in row and pd.notna(row["label"]) else 1
            if image.is_file() and mask.is_file():
                try:
                    profile["image_view"] = lesion_view(results, patient, image, mask, label)
                    profile["image_files"] = (image, mask, label)
                    profile["image_note"] = (
                        "Axial slices through the lesion (the outline "
                        "in red); the slider moves through them."
                    )
                except rg.errors.RadiogenomicsError:
                    profile["image_note"] = "The image or mask of this patient is unreadable."
            else:
                profile["image_note"] = "The image files are not available on this server."
    if "mutation" in mdata.mod and patient in mdata["mutation"].obs_names:
        variants = rg.tl.patient_variants(mdata, patient)
        profile["variants"] = variants
        profile["mutations"] = [
            " ".join(p for p in (row.gene, row.protein_change) if p)
            + (
                f" ({row.classification}"
                + (f", VAF {row.vaf:.0%}" if pd.notna(row.vaf) else "")
                + ")"
                if row.classification
                else ""
            )
            for row in variants.itertuples()
        ]
    else:
        profile["variants"] = None
        profile["mutations"] = None
    profile["outliers"] = {}
    for mod in ("rna", "protein"):
        if mod in mdata.mod and patient in mdata[mod].obs_names:
            profile["outliers"][mod] = rg.tl.patient_outliers(mdata, patient, mod=mod, n=8)
    genes = linked_genes(results, features)
    profile["genes"] = None
    if "rna" in mdata.mod and len(genes):
        present = [g for g in genes["y"] if g in mdata["rna"].var_names]
        if present and patient in mdata["rna"].obs_names:
            expression = rg.tl.patient_percentiles(mdata, patient, mod="rna", features=present)
            expression = expression.merge(
                genes.rename(columns={"y": "feature", "x": "imaging_feature"}),
                on="feature",
                how="left",
            )
            profile["genes"] = expression
            profile["genes_figure"] = rg.pl.patient_percentiles(expression)
    outcome = [c for c in (results.time, results.event) if c]
    profile["similar"] = None
    if "radiomics" in mdata.mod and patient in mdata["radiomics"].obs_names:
        similar = rg.tl.similar_patients(
            mdata, patient, mod="radiomics", n_neighbors=N_SIMILAR, obs_columns=outcome
        )
        similar["patient_id"] = [results.display_id(p) for p in similar["patient_id"]]
        profile["similar"] = similar
    profile["outcome"] = {human_label(c): _cell(obs[c]) for c in outcome}
    profile["outcome_text"] = outcome_text(results, obs)
    predictions = results.patient_predictions(patient)
    keep = [
        c
        for c in ("model", "set", "prediction", "prediction_sd", "predicted_label")
        if c in predictions.columns
    ]
    profile["predictions"] = predictions[keep] if len(predictions) else None
    profile["risk"] = _risk(results, patient)
    profile["risk_figure"] = risk_km(results, patient) if profile["risk"] else None
    return profile


def outcome_text(results: Results, obs: pd.Series) -> str:
    """The patient's follow-up in words: ``event at 22.6 months`` or ``censored (alive at
    last follow-up) at 34.7 months``."""
    if not (results.time and results.event) or pd.isna(obs[results.time]):
        return "not recorded"
    unit = time_unit(results.time, results.uns("clinical", default={}) or {})
    when = f"{float(obs[results.time]):.1f} {unit}".strip()
    event = obs[results.event]
    if pd.isna(event):
        return f"follow-up {when}"
    return (
        f"event at {when}" if float(event) else f"censored at {when} (no event at last follow-up)"
    )


def lesion_view(results: Results, patient: str, image: Path, mask: Path, label: int) -> dict:
    """The image around the patient's lesion (kept for the slice viewer's requests)."""
    return results.memo(
        "lesion-volume", patient, lambda: rg.pl.read_lesion_volume(image, mask, label=label), size=8
    )


def _risk(results: Results, patient: str) -> dict | None:
    """The patient's risk score and group, when a risk signature stored them in obs, and
    whether the patient was among the signature's training patients."""
    columns = results.risk_columns()
    if not columns:
        return None
    obs = results.mdata.obs
    value = obs.loc[patient, columns["risk score"]]
    risk = {
        "score": "" if pd.isna(value) else f"{float(value):.3g}",
        "group": str(obs.loc[patient, columns["risk group"]]),
    }
    which = str(obs.loc[patient, columns["risk set"]]) if "risk set" in columns else ""
    if which == "training":
        risk["note"] = (
            "In the training data: the signature was fitted on this patient, "
            "so the score is in-sample and looks better than it would for a new "
            "patient."
        )
    elif which in ("held_out", "held-out", "test"):
        risk["note"] = (
            "Held out: the signature never saw this patient; the score is an honest prediction."
        )
    else:
        risk["note"] = (
            "Whether this patient was among the signature's training patients "
            "is not recorded: read the score as in-sample."
        )
    risk["in_training"] = (
        True
        if which == "training"
        else (False if which in ("held_out", "held-out", "test") else None)
    )
    return risk


def risk_km(results: Results, patient: str):
    """Kaplan-Meier curves of the risk groups with the patient's follow-up marked."""
    columns = results.risk_columns()
    if (
        not columns
        or not callable(getattr(rg.pl, "km", None))
        or not (results.time and results.event)
    ):
        return None

    group = columns["risk group"]
    clinical = clinical_cohort(results.mdata.obs, [group, results.time, results.event])
    fig = km_figure(
        clinical,
        results.time,
        results.event,
        group,
        title="Risk groups",
        time_label=time_label(results),
    )
    fig.update_layout(legend=dict(title_text="risk group"))
    follow_up = results.mdata.obs.loc[patient, results.time]
    if pd.notna(follow_up):
        marker = dict(
            x=float(follow_up),
            line_dash="dash",
            line_color="#17324f",
            annotation_text=f"this patient ({results.mdata.obs.loc[patient, group]})",
            annotation_position="top right",
        )
        try:  # the curves' panel only, when the figure has a numbers-at-risk panel
            fig.add_vline(**marker, row=1, col=1)
        except Exception:  # a figure without subplots
            fig.add_vline(**marker)
    fig.update_layout(height=420)
    return fig
