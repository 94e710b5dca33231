"""Plotly figures from the cohort or from result tables."""

from .models import (  # noqa: F401
    calibration,
    decision_curve,
    importance,
    model_comparison,
    roc,
    time_dependent_auc,
)
