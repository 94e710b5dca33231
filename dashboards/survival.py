"""The survival analyses the survival explorer shows, as calls to ``radiogenomics.tl``
and figures from ``radiogenomics.pl``."""

from __future__ import annotations

import radiogenomics as rg

__all__ = ["Unavailable", "split_survival"]

_TOOLS = ("kaplan_meier", "logrank", "cox")


class Unavailable(Exception):
    """The installed library lacks a survival tool the page needs."""


def split_survival(mdata, source: str, name: str, *, time: str, event: str, split: str,
                   cutoff=None, covariates=()) -> dict:
    """Kaplan-Meier curves of the patients split by one variable, the log-rank test and
    the Cox hazard ratio adjusted for ``covariates``.

    Returns
    -------
    dict
        ``figure`` (Kaplan-Meier with numbers at risk) and ``stats`` (label -> text).
    """
    missing = [t for t in _TOOLS if not callable(getattr(rg.tl, t, None))]
    if missing:
        raise Unavailable("Survival analysis needs rg.tl." + ", rg.tl.".join(missing)
                          + ", not in this installation.")
    raise Unavailable("Survival analysis is not wired to this version of the library.")
