"""Discrimination of survival predictions: Harrell's concordance index and the
cumulative/dynamic time-dependent AUC with inverse probability of censoring weights
(Uno et al. 2007), and the Kaplan-Meier estimate of the censoring distribution.

numpy only; pairs are compared as whole blocks, chunked over patients so that memory
stays bounded. A higher risk score means an earlier event.
"""

from __future__ import annotations

import numpy as np

__all__ = ["concordance_counts", "censoring_survival", "cumulative_dynamic_auc"]

_CHUNK = 1024


def _survival(time, event) -> tuple[np.ndarray, np.ndarray]:
    time = np.asarray(time, dtype=float)
    event = np.asarray(event)
    if time.ndim != 1 or event.shape != time.shape:
        raise ValueError("time and event must be vectors of the same length")
    if np.isnan(time).any():
        raise ValueError("time has missing values")
    if event.dtype.kind == "f" and np.isnan(event).any():
        raise ValueError("event has missing values")
    return time, event.astype(bool)


def concordance_counts(time, event, risk, tied_tol: float = 0.0, *,
                       strata=None) -> dict[str, float]:
    """Harrell's concordance index of one risk score, with its pair counts.

    Pairs are compared as whole blocks (fast for one score; for many scores at once use
    :func:`radiogenomics.stats.survival.concordance_index`, which gives the same values).

    A pair is comparable when the patient with the shorter time had an event (a patient
    with an event and one censored at the same time are comparable; two events at the
    same time are not). It is concordant when that patient has the higher risk; tied
    risks (within ``tied_tol``) count one half. With ``strata`` (one code per patient, a
    stratified Cox model) only pairs within a stratum are compared, as R ``survival``.

    Returns
    -------
    dict
        ``concordance``, ``concordant``, ``discordant``, ``tied_risk``, ``comparable``.
    """
    time, event = _survival(time, event)
    risk = np.asarray(risk, dtype=float)
    if risk.shape != time.shape:
        raise ValueError("risk must have one value per patient")
    if strata is not None:
        strata = np.asarray(strata)
        if strata.shape != time.shape:
            raise ValueError("strata must have one code per patient")
        strata = np.unique(strata, return_inverse=True)[1].ravel()
    concordant = discordant = tied = comparable = 0
    cases = np.flatnonzero(event)
    for start in range(0, cases.size, _CHUNK):
        i = cases[start:start + _CHUNK]
        ti, ri = time[i][:, None], risk[i][:, None]
        pair = (time[None, :] > ti) | ((time[None, :] == ti) & ~event[None, :])
        if strata is not None:
            pair &= strata[None, :] == strata[i][:, None]
        difference = ri - risk[None, :]
        tie = np.abs(difference) <= tied_tol
        comparable += int(pair.sum())
        tied += int((pair & tie).sum())
        concordant += int((pair & ~tie & (difference > 0)).sum())
        discordant += int((pair & ~tie & (difference < 0)).sum())
    c = (concordant + 0.5 * tied) / comparable if comparable else np.nan
    return {"concordance": float(c), "concordant": concordant, "discordant": discordant,
            "tied_risk": tied, "comparable": comparable}


def _kaplan_meier_steps(time, event, reverse: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Kaplan-Meier estimate at the distinct observed times.

    With ``reverse=True`` the censoring distribution ``G(t) = P(C > t)`` is estimated:
    censorings are the events, and at a time with both, events leave the risk set first.

    Returns
    -------
    (times, probability)
    """
    time, event = _survival(time, event)
    times, inverse = np.unique(time, return_inverse=True)
    n_events = np.bincount(inverse, weights=event, minlength=times.size)
    n_total = np.bincount(inverse, minlength=times.size).astype(float)
    at_risk = n_total[::-1].cumsum()[::-1]
    if reverse:
        at_risk = at_risk - n_events
        n_events = n_total - n_events
    with np.errstate(invalid="ignore", divide="ignore"):
        factor = np.where(n_events > 0, 1 - n_events / at_risk, 1.0)
    return times, np.cumprod(factor)


def censoring_survival(train_time, train_event, at) -> np.ndarray:
    """``G(t)``, the Kaplan-Meier probability of remaining uncensored, at times ``at``
    (a step function; 1 before the first time). Times past the last training time raise
    ``ValueError`` unless ``G`` has fallen to zero there."""
    times, probability = _kaplan_meier_steps(train_time, train_event, reverse=True)
    at = np.asarray(at, dtype=float)
    if np.all(np.asarray(train_event, bool)):
        return np.ones_like(at)
    if (at > times[-1]).any() and probability[-1] > 0:
        raise ValueError(f"time must not exceed the largest training time {times[-1]}")
    index = np.searchsorted(times, at, side="right") - 1
    return np.where(index >= 0, probability[np.maximum(index, 0)], 1.0)


def cumulative_dynamic_auc(
    train_time, train_event, time, event, risk, times, tied_tol: float = 1e-8
) -> tuple[np.ndarray, float]:
    """Cumulative/dynamic AUC at each of ``times`` (Uno et al. 2007; Hung and Chiang 2010).

    Cases at ``t`` are patients with an event at or before ``t``, weighted by the inverse of
    the censoring survival ``G`` at their event time (estimated on the training data);
    controls are patients still without event after ``t``. Tied risks count one half.

    Returns
    -------
    (auc, mean_auc)
        ``auc`` per time; ``mean_auc`` is their mean weighted by the Kaplan-Meier drop of
        the test data's survival between the times (as ``sksurv.metrics``).
    """
    time, event = _survival(time, event)
    risk = np.asarray(risk, dtype=float)
    times = np.atleast_1d(np.asarray(times, dtype=float))
    if risk.shape != time.shape:
        raise ValueError("risk must have one value per patient")
    if (times >= time.max()).any() or (times < time.min()).any():
        raise ValueError(
            f"times must lie within the follow-up [{time.min()}, {time.max()}) of the test data")
    weight = np.zeros_like(time)
    weight[event] = 1.0 / censoring_survival(train_time, train_event, time[event])
    auc = np.empty(times.size)
    for k, t in enumerate(times):
        case = event & (time <= t)
        control = time > t
        if not case.any() or not control.any():
            auc[k] = np.nan
            continue
        difference = risk[case][:, None] - risk[control][None, :]
        tie = np.abs(difference) <= tied_tol
        score = np.where(tie, 0.5, (difference > 0).astype(float))
        auc[k] = (weight[case] @ score.sum(axis=1)) / (weight[case].sum() * control.sum())
    if times.size == 1:
        return auc, float(auc[0])
    km_times, km = _kaplan_meier_steps(time, event)
    index = np.searchsorted(km_times, times, side="right") - 1
    survival = np.where(index >= 0, km[np.maximum(index, 0)], 1.0)
    drop = -np.diff(np.r_[1.0, survival])
    mean_auc = float(np.nansum(auc * drop) / (1.0 - survival[-1]))
    return auc, mean_auc
