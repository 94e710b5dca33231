"""Survival kernels: Kaplan-Meier, log-rank tests and Harrell's concordance.

numpy/scipy only. Times are non-negative floats, events 0/1 (validated by the callers in
``radiogenomics.tl``). The kernels live in :mod:`~radiogenomics.stats.kaplan_meier`,
:mod:`~radiogenomics.stats.logrank` and :mod:`~radiogenomics.stats.concordance`; this
module gathers them under their historical names.
"""

from __future__ import annotations

from .concordance import (
    _concordance_chunk,
    _concordance_parts,
    _concordance_plain,
    _concordance_scores,
    concordance_index,
)
from .kaplan_meier import KaplanMeier, kaplan_meier, kaplan_meier_counts, median_time
from .logrank import WEIGHTINGS, LogrankResult, _observed_expected, _table, _weights, logrank_test

__all__ = [
    "KaplanMeier",
    "kaplan_meier",
    "kaplan_meier_counts",
    "median_time",
    "LogrankResult",
    "logrank_test",
    "WEIGHTINGS",
    "concordance_index",
]

_PRIVATE = (
    _concordance_chunk,
    _concordance_parts,
    _concordance_plain,
    _concordance_scores,
    _observed_expected,
    _table,
    _weights,
)
