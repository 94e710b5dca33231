"""Survival analysis on a cohort: Kaplan-Meier curves, log-rank tests, grouping of a
continuous marker (quantiles, a cut-off, maximally selected rank statistics), Cox models
with their proportional-hazards check, and a Cox screen of every feature of a modality.

Each tool takes the cohort first, names the time and event columns of ``mdata.obs``,
stores its table with :func:`radiogenomics.cohort.store_result` and returns it.
"""

from __future__ import annotations

from ._common import (
    SCREEN_COLUMNS,
    ProportionalHazardsWarning,
    _default_key,
    _design,
    _groups,
    _obs_column,
    _strata_codes,
)
from .cox import cox, cox_screen
from .curves import kaplan_meier, logrank
from .cutpoints import marker_groups, maxstat

__all__ = [
    "kaplan_meier",
    "logrank",
    "marker_groups",
    "maxstat",
    "cox",
    "cox_screen",
    "ProportionalHazardsWarning",
    "SCREEN_COLUMNS",
]

_PRIVATE = (_default_key, _design, _groups, _obs_column, _strata_codes)
