"""The survival analyses the survival explorer shows, as calls to ``radiogenomics.tl``
and figures from ``radiogenomics.pl``."""

from __future__ import annotations

import threading

import radiogenomics as rg

__all__ = ["Unavailable", "split_survival"]

_TOOLS = ("kaplan_meier", "logrank", "cox", "marker_groups", "maxstat")
_GROUP = "dashboard_group"
_LOCK = threading.Lock()


class Unavailable(Exception):
    """The installed library lacks a survival tool the page needs."""


def _format_p(p: float) -> str:
    return f"{p:.2e}" if p < 1e-3 else f"{p:.3f}"


def split_survival(mdata, source: str, name: str, *, time: str, event: str, split: str,
                   cutoff=None, covariates=()) -> dict:
    """Kaplan-Meier curves of the patients split by one variable, the log-rank test and
    the Cox hazard ratio of the groups adjusted for ``covariates``.

    The tools store what they compute in the cohort they are given; they run on a copy,
    so that the served cohort never changes.

    Parameters
    ----------
    source
        ``"obs"`` for a clinical column, else the modality of the feature.
    split
        ``"median"``, ``"tertiles"``, ``"cutoff"`` (with ``cutoff``) or ``"optimal"`` (the
        maximally selected log-rank cut-point, its p-value corrected for the search).

    Returns
    -------
    dict
        ``figure`` (Kaplan-Meier with numbers at risk) and ``stats`` (label -> text).
    """
    missing = [t for t in _TOOLS if not callable(getattr(rg.tl, t, None))]
    if missing or not callable(getattr(rg.pl, "km", None)):
        raise Unavailable("Survival analysis needs rg.tl." + ", rg.tl.".join(
            missing or ["kaplan_meier"]) + " and rg.pl.km, not in this installation.")
    marker = name if source == "obs" else f"{source}:{name}"
    with _LOCK:
        work = mdata.copy()
    stats: dict[str, str] = {}
    if split == "optimal":
        best = rg.tl.maxstat(work, marker, time=time, event=event)
        cut = float(best["cutpoint"].iloc[0])
        rg.tl.marker_groups(work, marker, method="cutoff", cutoff=cut, key_added=_GROUP)
        stats["optimal cut-point"] = f"{cut:.4g}"
        stats["corrected p (maxstat)"] = _format_p(float(best["p_value"].iloc[0]))
    else:
        method = {"median": "median", "tertiles": "tertiles", "cutoff": "cutoff"}[split]
        rg.tl.marker_groups(work, marker, method=method,
                            cutoff=float(cutoff) if cutoff is not None else None,
                            key_added=_GROUP)
    keep = work.obs[_GROUP].notna().to_numpy() & work.obs[time].notna().to_numpy() & \
        work.obs[event].notna().to_numpy()
    work = work[keep].copy() if not keep.all() else work
    test = rg.tl.logrank(work, time, event, _GROUP)
    figure = rg.pl.km(work, time, event, _GROUP, title=f"{name} ({split})")
    figure.update_layout(height=520)
    stats["log-rank p" + (" (uncorrected)" if split == "optimal" else "")] = _format_p(
        float(test["p_value"].iloc[0]))
    model = rg.tl.cox(work, [_GROUP, *covariates], time=time, event=event, missing="drop")
    rows = model[model["term"].astype(str).str.startswith(_GROUP)]
    reference = str(test["group"].iloc[0])
    for _, row in rows.iterrows():
        level = str(row["term"]).split("[T.")[-1].rstrip("]")
        label = f"hazard ratio, {level} vs {reference}" + (
            f" (adjusted for {', '.join(covariates)})" if covariates else "")
        stats[label] = (f"{row['hazard_ratio']:.2f} ({row['hr_ci_lower']:.2f} to "
                        f"{row['hr_ci_upper']:.2f}), p {_format_p(float(row['p_value']))}")
    stats["patients (events) per group"] = ", ".join(
        f"{row['group']}: {int(row['n'])} ({int(row['n_events'])})" for _, row in test.iterrows())
    return {"figure": figure, "stats": stats}
