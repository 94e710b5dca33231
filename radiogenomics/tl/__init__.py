"""Cohort-aware tools built on ``radiogenomics.stats``."""

from .risk import risk_signature  # noqa: F401
from .survival import cox, cox_screen, kaplan_meier, logrank, marker_groups, maxstat  # noqa: F401
