"""Cohort-aware tools built on ``radiogenomics.stats``."""

from .models import FittedModel, compare_models, fit_model, load_model, predict  # noqa: F401
