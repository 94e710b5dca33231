"""Cohort-aware tools built on ``radiogenomics.stats``."""

from .models import FittedModel, compare_models, fit_model, load_model, predict  # noqa: F401
from .patients import clinical_summary as clinical_summary
from .patients import modality_overlap as modality_overlap
from .patients import patient_percentiles as patient_percentiles
from .patients import similar_patients as similar_patients
