"""Cohort-aware tools built on ``radiogenomics.stats``."""

from .models import FittedModel, compare_models, fit_model, load_model, predict  # noqa: F401
from .differential import differential as differential
from .enrichment import enrichment as enrichment
from .enrichment import overrepresentation as overrepresentation
from .enrichment import read_gmt as read_gmt
from .patients import clinical_summary as clinical_summary
from .patients import modality_overlap as modality_overlap
from .patients import patient_percentiles as patient_percentiles
from .patients import similar_patients as similar_patients
from .phenotypes import phenotypes as phenotypes
