"""The cumulative/dynamic time-dependent AUC with inverse probability of censoring weights
(Uno et al. 2007), and the Kaplan-Meier estimate of the censoring distribution it weights
with. numpy only; ``sksurv.metrics.cumulative_dynamic_auc`` is the reference.
"""

from __future__ import annotations

import numpy as np

from .kaplan_meier import checked_survival, kaplan_meier_counts

__all__ = ["censoring_survival", "cumulative_dynamic_auc"]


def _product_limit(at_risk: np.ndarray, events: np.ndarray) -> np.ndarray:
    """``cumprod(1 - events / at_risk)``, a factor of 1 where there is no event."""
    with np.errstate(invalid="ignore", divide="ignore"):
        factor = np.where(events > 0, 1 - events / at_risk, 1.0)
    return np.cumprod(factor)


def censoring_survival(train_time, train_event, at) -> np.ndarray:
    """``G(t)``, the Kaplan-Meier probability of remaining uncensored, at times ``at``
    (a step function; 1 before the first time). Times past the last training time raise
    ``ValueError`` unless ``G`` has fallen to zero there."""
    times, at_risk, events, _ = kaplan_meier_counts(
        *checked_survival(train_time, train_event), reverse=True
    )
    probability = _product_limit(at_risk, events)
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
    time, event = checked_survival(time, event)
    risk = np.asarray(risk, dtype=float)
    times = np.atleast_1d(np.asarray(times, dtype=float))
    if risk.shape != time.shape:
        raise ValueError("risk must have one value per patient")
    if (times >= time.max()).any() or (times < time.min()).any():
        raise ValueError(
            f"times must lie within the follow-up [{time.min()}, {time.max()}) of the test data"
        )
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
    km_times, at_risk, events, _ = kaplan_meier_counts(time, event)
    km = _product_limit(at_risk, events)
    index = np.searchsorted(km_times, times, side="right") - 1
    survival = np.where(index >= 0, km[np.maximum(index, 0)], 1.0)
    drop = -np.diff(np.r_[1.0, survival])
    mean_auc = float(np.nansum(auc * drop) / (1.0 - survival[-1]))
    return auc, mean_auc
