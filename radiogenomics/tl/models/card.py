"""The model card as JSON, the library versions it records, and the names of the files
of a saved model."""

from __future__ import annotations

import json
import platform
from datetime import UTC, datetime
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import numpy as np
import pandas as pd

__all__ = [
    "card_json",
    "versions",
    "now_utc",
    "MODEL_FILE",
    "LEGACY_MODEL_FILE",
    "CARD_FILE",
    "TABLES",
]

#: The fitted pipeline and what it needs (skops, runs no code when loaded).
MODEL_FILE = "model.skops"
#: A pickle written by earlier versions (read only when trusted).
LEGACY_MODEL_FILE = "model.joblib"
#: The model card.
CARD_FILE = "model_card.json"
#: The validation tables of a fitted model (attributes, and ``<name>.csv`` when saved).
TABLES = ("metrics", "predictions", "importance", "curves")


def versions() -> dict[str, str]:
    """Versions of Python and of the libraries a fitted model depends on.

    Examples
    --------
    >>> from radiogenomics.tl.models.card import versions
    >>> sorted(versions())[:3]
    ['anndata', 'mudata', 'numpy']
    """
    out = {"python": platform.python_version()}
    for name in (
        "radiogenomics",
        "numpy",
        "scipy",
        "pandas",
        "scikit-learn",
        "scikit-survival",
        "skops",
        "anndata",
        "mudata",
    ):
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            out[name] = "not installed"
    return out


def _json_default(value):
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, pd.Timestamp | datetime):
        return value.isoformat()
    if isinstance(value, Path):
        return str(value)
    return str(value)


def _finite(value):
    """JSON has no infinities or NaN: write them as strings / null."""
    if isinstance(value, dict):
        return {str(k): _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    if isinstance(value, float | np.floating):
        if np.isnan(value):
            return None
        if np.isinf(value):
            return "inf" if value > 0 else "-inf"
        return float(value)
    return value


def card_json(card: dict) -> str:
    """The model card as JSON text (NaN as null, infinities as strings).

    Examples
    --------
    >>> from radiogenomics.tl.models.card import card_json
    >>> print(card_json({"auc": float("nan"), "upper": float("inf"), "n": 3}))
    {
      "auc": null,
      "upper": "inf",
      "n": 3
    }
    """
    return json.dumps(_finite(card), indent=2, default=_json_default)


def now_utc() -> str:
    """The current time in UTC, to the second, in ISO 8601."""
    return datetime.now(UTC).isoformat(timespec="seconds")
