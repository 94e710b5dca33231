"""Physical units and human labels of what the pages show: radiomic features in the
units of their raw values, clinical columns by readable names, survival time by its unit."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

__all__ = [
    "time_label",
    "feature_unit",
    "raw_layer",
    "time_unit",
    "human_label",
    "with_unit",
    "format_value",
    "modality_scale",
    "estimate_label",
]

#: pyradiomics shape features by their unit (the mask's spacing is in mm).
_SHAPE_UNITS = {
    "VoxelVolume": "mm³",
    "MeshVolume": "mm³",
    "SurfaceArea": "mm²",
    "SurfaceVolumeRatio": "mm⁻¹",
    "Maximum3DDiameter": "mm",
    "Maximum2DDiameterSlice": "mm",
    "Maximum2DDiameterColumn": "mm",
    "Maximum2DDiameterRow": "mm",
    "MajorAxisLength": "mm",
    "MinorAxisLength": "mm",
    "LeastAxisLength": "mm",
    "PixelSurface": "mm²",
    "Perimeter": "mm",
    "MaximumDiameter": "mm",
    "PerimeterSurfaceRatio": "mm⁻¹",
}
_TIME_UNITS = (
    ("month", "months"),
    ("day", "days"),
    ("week", "weeks"),
    ("year", "years"),
    ("_mo", "months"),
    ("_d", "days"),
    ("_y", "years"),
)


def raw_layer(adata) -> str | None:
    """``"raw"`` when the modality keeps the values before preprocessing, else ``None``
    (``X`` then holds them)."""
    return "raw" if adata is not None and "raw" in adata.layers else None


def feature_unit(adata, name: str) -> str:
    """The unit of a feature's raw values: ``var["unit"]`` when the modality records it,
    else from the feature class (shape: mm, mm², mm³; other classes have no unit or the
    image's), else ``""``."""
    if adata is None or name not in adata.var_names:
        return ""
    var = adata.var
    if "unit" in var.columns:
        value = var.at[name, "unit"]
        if (
            isinstance(value, str)
            and value.strip()
            and value.strip().lower() not in ("nan", "none", "1", "dimensionless")
        ):
            return value.strip()
        if isinstance(value, str) or pd.isna(value):
            return ""
    feature = str(var.at[name, "feature"]) if "feature" in var.columns else name.rsplit("_", 1)[-1]
    klass = str(var.at[name, "feature_class"]) if "feature_class" in var.columns else ""
    if klass in ("shape", "shape2D") or "_shape_" in name:
        return _SHAPE_UNITS.get(feature, "")
    return ""


def time_unit(column: str | None, provenance: dict | None = None) -> str:
    """The unit of a survival time column: recorded in the clinical provenance
    (``time_unit``), else read from its name (``os_months`` -> months), else ``""``."""
    if provenance:
        recorded = provenance.get("time_unit")
        if isinstance(recorded, str) and recorded:
            return recorded
    name = (column or "").lower()
    for needle, unit in _TIME_UNITS:
        if needle in name and (not needle.startswith("_") or name.endswith(needle)):
            return unit
    return ""


def human_label(column: str) -> str:
    """A clinical column as a person reads it: ``os_months`` -> ``OS (months)``,
    ``egfr_mutant`` -> ``EGFR mutant``."""
    text = str(column)
    known = {
        "os": "OS",
        "pfs": "PFS",
        "dfs": "DFS",
        "egfr": "EGFR",
        "kras": "KRAS",
        "tp53": "TP53",
        "id": "ID",
        "hpv": "HPV",
        "bmi": "BMI",
        "ecog": "ECOG",
    }
    words = [w for w in re.split(r"[_\s]+", text) if w]
    if not words:
        return text
    unit = None
    if words[-1].lower() in ("months", "days", "years", "weeks", "mm", "cm", "kg"):
        unit = words.pop().lower()
    out = [known.get(w.lower(), w) for w in words]
    if out and out[0] == out[0].lower():
        out[0] = out[0][:1].upper() + out[0][1:]
    label = " ".join(out)
    return f"{label} ({unit})" if unit else label


def with_unit(label: str, unit: str) -> str:
    return f"{label} ({unit})" if unit else label


def format_value(value, unit: str = "") -> str:
    """A number for reading (4 significant digits, thousands separated) with its unit."""
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return ""
    try:
        number = float(value)
    except (TypeError, ValueError):
        return str(value)
    if number.is_integer() and abs(number) < 1e9:
        text = f"{int(number):,}"
    elif abs(number) >= 1000:
        text = f"{number:,.0f}"
    else:
        text = f"{number:.4g}"
    return f"{text} {unit}".strip()


def modality_scale(mdata, mod: str) -> str:
    """What one unit of a modality's values is, in words: ``SD`` for scaled features,
    the recorded value transform (``log2 expression``), else the modality's name."""
    if mdata is None or mod not in getattr(mdata, "mod", {}):
        return mod
    adata = mdata[mod]
    info = adata.uns.get("radiogenomics", {}) if hasattr(adata, "uns") else {}
    recorded = info.get("preprocessing", {}) if isinstance(info, dict) else {}
    if isinstance(recorded, dict) and any(
        isinstance(step, dict) and step.get("step") == "scale" for step in recorded.values()
    ):
        return f"SD of {mod}"
    values = str(info.get("values", "")) if isinstance(info, dict) else ""
    if values.startswith("log2"):
        return f"log2 {mod}"
    if mod == "mutation":
        return "mutated vs not"
    return f"{mod} unit"


def estimate_label(method: str | None, x_mod: str, y_mod: str, mdata=None) -> str:
    """The axis title of an association estimate, with what it measures and its unit."""
    x_unit, y_unit = modality_scale(mdata, x_mod), modality_scale(mdata, y_mod)
    labels = {
        "linear": f"slope ({y_unit} per {x_unit})",
        "logistic": f"log odds ratio of {y_mod} per {x_unit}",
        "pearson": "Pearson correlation r",
        "spearman": "Spearman correlation ρ",
        "mannwhitney": "rank-biserial correlation",
        "welch": f"difference of means of {x_mod} (y = 1 minus y = 0, {x_unit})",
    }
    return labels.get(str(method), "estimate")


def time_label(results) -> str:
    """The time axis of a results folder's survival figures: the time column by a
    readable name, with its unit."""
    label = human_label(results.time)
    unit = time_unit(results.time, results.uns("clinical", default={}) or {})
    return label if not unit or f"({unit})" in label else f"{label} ({unit})"
