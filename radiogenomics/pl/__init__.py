"""Plotly figures from the cohort or from result tables."""

from .survival import forest, km, survival_volcano  # noqa: F401
