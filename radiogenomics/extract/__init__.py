"""Radiomic feature extraction with pyradiomics over an image manifest."""

from .case import extract_case, read_image
from .run import failures_table, features
from .settings import PRESETS, params_hash, resolve_params

__all__ = [
    "PRESETS",
    "extract_case",
    "failures_table",
    "features",
    "params_hash",
    "read_image",
    "resolve_params",
]
