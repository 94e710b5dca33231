"""The Kaplan-Meier estimate: the one kernel of survival curves, of their medians and of
the censoring distribution (its reverse estimate). numpy/scipy only; lifelines'
``KaplanMeierFitter`` is the reference."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import stats

__all__ = ["KaplanMeier", "kaplan_meier", "kaplan_meier_counts", "median_time"]


@dataclass
class KaplanMeier:
    """A Kaplan-Meier curve at every distinct observed time (events and censorings).

    The first row is time 0 (survival 1) unless an observation has time 0, as in
    lifelines' ``KaplanMeierFitter``.
    """

    time: np.ndarray
    n_at_risk: np.ndarray
    n_events: np.ndarray
    n_censored: np.ndarray
    survival: np.ndarray
    std_error: np.ndarray
    ci_lower: np.ndarray
    ci_upper: np.ndarray
    alpha: float
    ci_method: str

    @property
    def median(self) -> float:
        """Median survival time (NaN when the curve never falls to 0.5)."""
        return median_time(self.time, self.survival)

    @property
    def median_ci(self) -> tuple[float, float]:
        """Confidence interval of the median: where the confidence band crosses 0.5."""
        return median_time(self.time, self.ci_lower), median_time(self.time, self.ci_upper)


def median_time(time: np.ndarray, curve: np.ndarray, q: float = 0.5) -> float:
    """The first time at which a survival curve is at or below ``q`` (NaN if never).

    This is lifelines' ``median_survival_times`` rule; R's ``survfit`` instead averages the
    two times when the curve is exactly ``q`` over an interval.

    Examples
    --------
    >>> import numpy as np
    >>> median_time(np.array([0.0, 1, 2, 3]), np.array([1.0, 0.8, 0.5, 0.2]))
    2.0
    """
    below = np.flatnonzero(np.asarray(curve) <= q)
    return float(time[below[0]]) if below.size else float("nan")


def checked_survival(time, event) -> tuple[np.ndarray, np.ndarray]:
    """``time`` as floats and ``event`` as booleans, vectors of one length without NaN."""
    time = np.asarray(time, dtype=float)
    event = np.asarray(event)
    if time.ndim != 1 or event.shape != time.shape:
        raise ValueError("time and event must be vectors of the same length")
    if np.isnan(time).any():
        raise ValueError("time has missing values")
    if event.dtype.kind == "f" and np.isnan(event).any():
        raise ValueError("event has missing values")
    return time, event.astype(bool)


def kaplan_meier_counts(
    time: np.ndarray, event: np.ndarray, reverse: bool = False
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The counts of the Kaplan-Meier estimate at each distinct observed time.

    The one counting kernel of the package: :func:`kaplan_meier` builds its curve on it,
    and the censoring distribution of the time-dependent AUC is its reverse estimate.

    Parameters
    ----------
    time, event
        Follow-up times and event indicators (1 = event, 0 = censored).
    reverse
        Count for the censoring distribution ``G(t) = P(C > t)``: censorings are the
        events, and at a time with both, the events leave the risk set first (as
        ``sksurv.nonparametric.kaplan_meier_estimator(reverse=True)``).

    Returns
    -------
    (times, n_at_risk, n_events, n_exit)
        Distinct times (ascending), patients at risk just before each, events there, and
        patients leaving there; the estimate is ``cumprod(1 - n_events / n_at_risk)``.

    Examples
    --------
    >>> import numpy as np
    >>> t, at_risk, events, exits = kaplan_meier_counts(np.array([2.0, 1, 2, 3]),
    ...                                                 np.array([1, 1, 0, 0]))
    >>> t.tolist(), at_risk.tolist(), events.tolist(), exits.tolist()
    ([1.0, 2.0, 3.0], [4.0, 3.0, 1.0], [1.0, 1.0, 0.0], [1.0, 2.0, 1.0])
    >>> kaplan_meier_counts(np.array([2.0, 1, 2, 3]), np.array([1, 1, 0, 0]),
    ...                     reverse=True)[1:3]
    (array([3., 2., 1.]), array([0., 1., 1.]))
    """
    time = np.asarray(time, dtype=float)
    event = np.asarray(event, dtype=float)
    unique, inverse = np.unique(time, return_inverse=True)
    n_events = np.bincount(inverse, weights=event, minlength=unique.size)
    n_exit = np.bincount(inverse, minlength=unique.size).astype(float)
    n_at_risk = time.size - np.concatenate(([0.0], np.cumsum(n_exit)[:-1]))
    if reverse:
        n_at_risk = n_at_risk - n_events
        n_events = n_exit - n_events
    return unique, n_at_risk, n_events, n_exit


def kaplan_meier(
    time: np.ndarray, event: np.ndarray, alpha: float = 0.05, ci_method: str = "log-log"
) -> KaplanMeier:
    """Kaplan-Meier estimate with Greenwood variance and a pointwise confidence band.

    Parameters
    ----------
    time, event
        Follow-up times (>= 0) and event indicators (1 = event, 0 = censored).
    alpha
        1 - confidence level of the band.
    ci_method
        ``"log-log"`` (the default of lifelines and of Stata: exponential Greenwood,
        always inside [0, 1]), ``"log"`` (R ``survfit``'s default) or ``"plain"``.

    Returns
    -------
    KaplanMeier

    See Also
    --------
    kaplan_meier_counts : the counts (and the reverse estimate of the censoring
        distribution) that this curve is built on.

    Examples
    --------
    >>> import numpy as np
    >>> curve = kaplan_meier(np.array([1.0, 2, 2, 3, 4]), np.array([1, 1, 0, 1, 0]))
    >>> curve.time.tolist(), np.round(curve.survival, 3).tolist()
    ([0.0, 1.0, 2.0, 3.0, 4.0], [1.0, 0.8, 0.6, 0.3, 0.3])
    >>> curve.median
    3.0
    """
    time = np.asarray(time, dtype=float)
    if time.size == 0:
        raise ValueError("no observations")
    unique, n_at_risk, n_events, n_exit = kaplan_meier_counts(time, event)
    if unique[0] > 0:  # a row at time 0, as lifelines does
        unique = np.concatenate(([0.0], unique))
        n_events = np.concatenate(([0.0], n_events))
        n_exit = np.concatenate(([0.0], n_exit))
        n_at_risk = np.concatenate(([float(time.size)], n_at_risk))
    n_censored = n_exit - n_events
    with np.errstate(divide="ignore", invalid="ignore"):
        survival = np.cumprod(1.0 - n_events / n_at_risk)
        step = n_events / (n_at_risk * (n_at_risk - n_events))
    step[~np.isfinite(step)] = 0.0  # the last patient dies: Greenwood term undefined, as lifelines
    greenwood = np.cumsum(step)
    std_error = survival * np.sqrt(greenwood)
    z = stats.norm.ppf(1.0 - alpha / 2.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        if ci_method == "log-log":
            log_s = np.log(survival)
            half = z * np.sqrt(greenwood) / log_s
            lower = np.exp(-np.exp(np.log(-log_s) - half))
            upper = np.exp(-np.exp(np.log(-log_s) + half))
        elif ci_method == "log":
            half = z * np.sqrt(greenwood)
            lower = survival * np.exp(-half)
            upper = np.minimum(survival * np.exp(half), 1.0)
        elif ci_method == "plain":
            lower = np.clip(survival - z * std_error, 0.0, 1.0)
            upper = np.clip(survival + z * std_error, 0.0, 1.0)
        else:
            raise ValueError(
                f"unknown ci_method {ci_method!r}; expected 'log-log', 'log' or 'plain'"
            )
    at_one = survival >= 1.0
    at_zero = survival <= 0.0
    lower[at_one], upper[at_one] = 1.0, 1.0
    lower[at_zero], upper[at_zero] = 0.0, 0.0
    return KaplanMeier(
        time=unique,
        n_at_risk=n_at_risk,
        n_events=n_events,
        n_censored=n_censored,
        survival=survival,
        std_error=std_error,
        ci_lower=lower,
        ci_upper=upper,
        alpha=float(alpha),
        ci_method=ci_method,
    )
