"""Cox diagnostics: Schoenfeld residual tests of proportional hazards (lifelines'
``proportional_hazard_test`` and R ``cox.zph``)."""

from __future__ import annotations

import numpy as np
from scipy import stats

from ..kaplan_meier import kaplan_meier
from ._design import _TIES, SurvivalDesign


def schoenfeld_test(
    design: SurvivalDesign,
    x: np.ndarray,
    coef: np.ndarray,
    covariance: np.ndarray,
    *,
    ties: str = "efron",
    transform: str = "km",
) -> dict:
    """Proportional-hazards test from scaled Schoenfeld residuals (Grambsch-Therneau).

    The approximation used by R ``cox.zph`` before survival 3.0 and by lifelines'
    ``proportional_hazard_test``: per covariate, the squared covariance of the scaled
    residuals with a transform of event time, and a global test.

    Parameters
    ----------
    design
        From :func:`prepare_survival` (patients of the fit).
    x
        ``(n, d)`` design matrix of the fitted model, original patient order.
    coef, covariance
        The fit (``d`` and ``d x d``).
    ties
        Ties method of the fit (the residuals use the same risk-set means).
    transform
        Function of time: ``"km"`` (1 - Kaplan-Meier, lifelines' definition), ``"rank"``
        (rank of the event time, ties averaged), ``"identity"`` or ``"log"``.

    Returns
    -------
    dict with ``statistic``, ``p_value`` (per covariate), ``global_statistic``,
    ``global_df``, ``global_p_value``, ``residuals`` (scaled, events x d) and ``times``.
    """
    x = np.asarray(x, dtype=float)
    if x.ndim == 1:
        x = x[:, None]
    coef = np.atleast_1d(np.asarray(coef, dtype=float))
    covariance = np.atleast_2d(np.asarray(covariance, dtype=float))
    xs = x[design.order]
    eta = xs @ coef
    w = np.exp(eta - eta.max())
    d = xs.shape[1]
    cum0 = np.cumsum(w)
    cum1 = np.cumsum(w[:, None] * xs, axis=0)
    g_end, base = design.group_end, design.group_base
    s0 = cum0[g_end] - np.where(base >= 0, cum0[np.maximum(base, 0)], 0.0)
    s1 = cum1[g_end] - np.where(base[:, None] >= 0, cum1[np.maximum(base, 0)], 0.0)
    mean = s1 / s0[:, None]  # Breslow mean per group
    if ties == "efron" and design.tied_groups.size:
        ev = design.event_rows
        t0 = np.bincount(design.event_group, weights=w[ev], minlength=g_end.size)
        t1 = np.zeros((g_end.size, d))
        np.add.at(t1, design.event_group, w[ev, None] * xs[ev])
        sizes = design.group_size
        for g in design.tied_groups:
            k = sizes[g]
            ls = np.arange(k) / k
            mean[g] = ((s1[g][None, :] - ls[:, None] * t1[g]) / (s0[g] - ls * t0[g])[:, None]).mean(
                0
            )
    ev = design.event_rows
    resid = xs[ev] - mean[design.event_group]
    n_dead = ev.size
    scaled = resid @ covariance * n_dead + coef
    times = design.time[ev]
    if transform == "identity":
        g = times
    elif transform == "log":
        g = np.log(times)
    elif transform == "rank":
        g = stats.rankdata(times)
    elif transform == "km":
        km = kaplan_meier(design.time, design.event)
        g = 1.0 - km.survival[np.searchsorted(km.time, times)]
    else:
        raise ValueError(f"unknown transform {transform!r}; expected km, rank, identity or log")
    centred = g - g.mean()
    ss = (centred**2).sum()
    variance = np.diag(covariance)
    statistic = (centred @ scaled) ** 2 / (n_dead * variance * ss)
    p_value = stats.chi2.sf(statistic, 1)
    u = centred @ resid
    global_statistic = float(u @ covariance @ u * n_dead / ss)
    return {
        "statistic": statistic,
        "p_value": p_value,
        "global_statistic": global_statistic,
        "global_df": d,
        "global_p_value": float(stats.chi2.sf(global_statistic, d)),
        "residuals": scaled,
        "times": times,
        "transform": transform,
    }


#: Time transforms of :func:`cox_zph`.
ZPH_TRANSFORMS = ("km", "rank", "identity", "log")


def _zph_time(design: SurvivalDesign, transform: str) -> np.ndarray:
    """``g(t)`` of every patient (design order) as R ``cox.zph`` defines it, centred by its
    mean over the events."""
    t = design.time
    if transform == "identity":
        g = t.astype(float)
    elif transform == "log":
        g = np.log(t)
    elif transform == "rank":
        g = stats.rankdata(t)  # over all patients, ties averaged, as R rank()
    elif transform == "km":
        # 1 - S(t-), the left-continuous Kaplan-Meier of all patients (strata ignored)
        times, inverse = np.unique(t, return_inverse=True)
        deaths = np.bincount(inverse, weights=design.event, minlength=times.size)
        leaving = np.bincount(inverse, minlength=times.size).astype(float)
        at_risk = leaving[::-1].cumsum()[::-1]
        survival = np.cumprod(1.0 - deaths / at_risk)
        before = np.r_[1.0, survival[:-1]]
        g = 1.0 - before[inverse.ravel()]
    else:
        raise ValueError(f"unknown transform {transform!r}; expected one of {ZPH_TRANSFORMS}")
    return g - g[design.event].mean()


def cox_zph(
    design: SurvivalDesign,
    x: np.ndarray,
    coef: np.ndarray,
    *,
    ties: str = "efron",
    transform: str = "km",
    terms: list[list[int]] | None = None,
) -> dict:
    """Proportional-hazards test of R ``survival::cox.zph`` (version 3.0 and later).

    For each term, the score test at the fitted coefficients of adding the interaction of
    the term with ``g(time)`` to the model (Therneau and Grambsch): the score of the
    ``g(t) x`` columns and the full ``2d x 2d`` information matrix of the model with both
    ``x`` and ``g(t) x``, evaluated at ``(coef, 0)``, with the same risk sets, strata and
    tie handling as the fit. The global test uses all ``g(t) x`` columns at once. This
    replaces the approximation of :func:`schoenfeld_test` (R before 3.0, lifelines), which
    treats the information as constant over time.

    Parameters
    ----------
    design
        From :func:`prepare_survival` (patients and strata of the fit).
    x
        ``(n, d)`` design matrix of the fitted model, original patient order.
    coef
        Fitted coefficients (``d``).
    ties
        ``"efron"`` or ``"breslow"``, as the fit.
    transform
        ``"km"`` (R's default: 1 minus the left-continuous Kaplan-Meier of all patients),
        ``"rank"`` (rank of the time among all patients, ties averaged), ``"identity"``
        or ``"log"``; ``g`` is centred by its mean over the events, as R.
    terms
        Columns of each term (e.g. the indicators of one categorical variable), tested
        together with as many degrees of freedom; default one term per column (R's
        ``terms=FALSE``).

    Returns
    -------
    dict with ``statistic``, ``df``, ``p_value`` (per term), ``global_statistic``,
    ``global_df``, ``global_p_value``, ``score`` (of the ``g(t) x`` columns), ``information``
    (``2d x 2d``) and ``transform``.
    """
    if ties not in _TIES:
        raise ValueError(f"unknown ties method {ties!r}; expected one of {_TIES}")
    x = np.asarray(x, dtype=float)
    if x.ndim == 1:
        x = x[:, None]
    coef = np.atleast_1d(np.asarray(coef, dtype=float))
    d = x.shape[1]
    if coef.shape != (d,) or x.shape[0] != design.n:
        raise ValueError("x must be n x d and coef of length d")
    terms = [[j] for j in range(d)] if terms is None else [list(map(int, t)) for t in terms]
    g_all = _zph_time(design, transform)
    xs = x[design.order]
    xs = xs - xs.mean(0)  # as R: less round-off in the variances
    eta = xs @ coef
    w = np.exp(eta - eta.max())
    outer = xs[:, :, None] * xs[:, None, :]
    g_end, base = design.group_end, design.group_base

    def risk_sums(values):
        cum = np.cumsum(values, axis=0)
        before = np.where(
            (base >= 0).reshape((-1,) + (1,) * (values.ndim - 1)), cum[np.maximum(base, 0)], 0.0
        )
        return cum[g_end] - before

    s0 = risk_sums(w)
    s1 = risk_sums(w[:, None] * xs)
    s2 = risk_sums(w[:, None, None] * outer)
    n_groups = g_end.size
    ev, group = design.event_rows, design.event_group
    size = design.group_size.astype(float)
    gt = g_all[design.group_end]  # g of each (stratum, event time)
    x_dead = np.zeros((n_groups, d))
    np.add.at(x_dead, group, xs[ev])
    if ties == "efron" and design.tied_groups.size:
        d0 = np.bincount(group, weights=w[ev], minlength=n_groups)
        d1 = np.zeros((n_groups, d))
        np.add.at(d1, group, w[ev, None] * xs[ev])
        d2 = np.zeros((n_groups, d, d))
        np.add.at(d2, group, w[ev, None, None] * outer[ev])
        # Efron's terms: the deaths of a tied time leave the risk set by 1/m steps
        term_group = np.repeat(np.arange(n_groups), design.group_size)
        step = np.concatenate([np.arange(k) for k in design.group_size]) / size[term_group]
        denom = s0[term_group] - step * d0[term_group]
        a = s1[term_group] - step[:, None] * d1[term_group]
        c = s2[term_group] - step[:, None, None] * d2[term_group]
    else:
        term_group = np.arange(n_groups)
        denom, a, c = s0, s1, s2
        size_term = size
    mean = a / denom[:, None]
    variance = c / denom[:, None, None] - mean[:, :, None] * mean[:, None, :]
    if ties == "breslow" or not design.tied_groups.size:
        mean_sum, variance_sum = mean * size_term[:, None], variance * size_term[:, None, None]
    else:
        mean_sum, variance_sum = mean, variance
    # sums over the terms of each group, weighted by g and g**2
    mean_g = np.zeros((n_groups, d))
    np.add.at(mean_g, term_group, mean_sum)
    var_g = np.zeros((n_groups, d, d))
    np.add.at(var_g, term_group, variance_sum)
    return _zph_score_tests(gt @ (x_dead - mean_g), gt, var_g, terms, d, transform)


def _zph_score_tests(u, gt, var_g, terms, d, transform) -> dict:
    """Score tests of the terms and the global test from the score ``u`` of the
    time-interaction columns and the per-group variances ``var_g`` (weighted by ``g``)."""
    i11 = var_g.sum(0)
    i12 = np.einsum("g,gij->ij", gt, var_g)
    i22 = np.einsum("g,gij->ij", gt**2, var_g)
    information = np.block([[i11, i12], [i12, i22]])
    statistic = np.empty(len(terms))
    df = np.empty(len(terms), dtype=np.int64)
    for k, columns in enumerate(terms):
        keep = np.r_[np.arange(d), d + np.asarray(columns)]
        score = np.r_[np.zeros(d), u[columns]]
        statistic[k] = float(score @ np.linalg.solve(information[np.ix_(keep, keep)], score))
        df[k] = len(columns)
    score = np.r_[np.zeros(d), u]
    global_statistic = float(score @ np.linalg.solve(information, score))
    return {
        "statistic": statistic,
        "df": df,
        "p_value": stats.chi2.sf(statistic, df),
        "global_statistic": global_statistic,
        "global_df": d,
        "global_p_value": float(stats.chi2.sf(global_statistic, d)),
        "score": u,
        "information": information,
        "transform": transform,
    }
