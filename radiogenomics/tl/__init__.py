"""Cohort-aware tools built on ``radiogenomics.stats``."""
