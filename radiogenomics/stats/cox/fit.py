"""Cox fits vectorised over many features (the Cox screen) and multivariable models
(one \"feature\" and the covariates): Newton-Raphson over chunks of features."""

from __future__ import annotations

import os
from contextlib import nullcontext

import numpy as np

from ..._compat import renamed
from .._parallel import run as _run
from ._chunk import _Chunk, _structure, _to_blocks
from ._design import _CHUNK_FEATURES, _TIES, CoxBatch, SurvivalDesign


def _standardise(values: np.ndarray, present: np.ndarray | None):
    """Centre and scale columns over the patients present; returns (z, mean, sd).

    Values are first centred on one of their own (the first present), so that a constant
    column gives exact zeros (sd 0) whatever the rounding of its mean.
    """
    if present is None:
        pivot = values[0] if values.shape[0] else np.zeros(values.shape[1])
        centred = values - pivot
        shift = centred.mean(0)
        centred -= shift
        sd = np.sqrt((centred**2).mean(0))
    else:
        count = present.sum(0)
        pivot = values[present.argmax(0), np.arange(values.shape[1])]
        centred = np.where(present, values - pivot, 0.0)
        with np.errstate(invalid="ignore", divide="ignore"):
            shift = centred.sum(0) / np.maximum(count, 1)
        centred = np.where(present, centred - shift, 0.0)
        sd = np.sqrt((centred**2).sum(0) / np.maximum(count, 1))
    scale = np.where(sd > 0, sd, 1.0)
    return centred / scale, pivot + shift, sd


def _solve(info: np.ndarray, score: np.ndarray):
    """Newton steps info^-1 score for many small systems; singular -> NaN rows."""
    c, d, _ = info.shape
    if d == 1:
        with np.errstate(divide="ignore", invalid="ignore"):
            step = score / info[:, :, 0]
        step[~(info[:, 0, 0] > 1e-300)] = np.nan
        return step
    step = np.full((c, d), np.nan)
    try:
        step = np.linalg.solve(info, score[..., None])[..., 0]
    except np.linalg.LinAlgError:
        for i in range(c):
            try:
                step[i] = np.linalg.solve(info[i], score[i])
            except np.linalg.LinAlgError:
                pass
    return step


@renamed(n_threads="n_jobs")
def cox_batch(
    design: SurvivalDesign,
    features: np.ndarray,
    covariates: np.ndarray | None = None,
    *,
    ties: str = "efron",
    tol: float = 1e-8,
    max_iter: int = 50,
    chunk_size: int | None = None,
    return_linear_predictor: bool = False,
    n_jobs: int | None = None,
) -> CoxBatch:
    """Fit one Cox model per feature column, all at once.

    Parameters
    ----------
    design
        From :func:`prepare_survival` on the patients' times, events and strata.
    features
        ``(n, p)`` in the patients' original order; NaN marks a missing value (that patient
        is left out of that feature's model).
    covariates
        ``(n, q)`` shared covariates (no missing values), in the original order.
    ties
        ``"efron"`` (default, as R ``coxph`` and lifelines) or ``"breslow"``.
    tol
        Convergence: the largest Newton step on the standardised scale is below ``tol``.
        The returned coefficients include that last step (quadratic convergence makes
        them accurate to about ``tol**2``); the covariance is the inverse information at
        the last evaluation.
    max_iter
        Newton iterations before a fit is flagged ``not_converged``.
    chunk_size
        Features per chunk of the Newton iterations (default: up to 1024, fewer so that
        every thread gets work); each evaluation takes a chunk's features a few hundred at
        a time, so that the working arrays stay in the processor's cache.
    return_linear_predictor
        Also return ``x b + z g`` per patient and model (original order, NaN if absent).
    n_jobs
        Chunks fitted at the same time (default: the number of processors); numpy
        releases the interpreter lock in its array loops, and the BLAS is held to one
        thread per worker. The result does not depend on it.

    Returns
    -------
    CoxBatch
    """
    if ties not in _TIES:
        raise ValueError(f"unknown ties method {ties!r}; expected one of {_TIES}")
    features = np.asarray(features, dtype=float)
    if features.ndim == 1:
        features = features[:, None]
    n, p = features.shape
    if n != design.n:
        raise ValueError("features must have one row per patient of the design")
    z_all = np.empty((n, 0)) if covariates is None else np.asarray(covariates, dtype=float)
    if z_all.ndim == 1:
        z_all = z_all[:, None]
    q = z_all.shape[1]
    d = 1 + q
    order = design.order
    zs, z_mean, z_sd = _standardise(z_all[order], None)
    z_scale = np.where(z_sd > 0, z_sd, 1.0)
    if q and (z_sd <= 0).any():
        raise ValueError("a covariate is constant in the patients analysed")
    n_jobs = max(1, int(n_jobs or os.cpu_count() or 1))
    if chunk_size is None:
        chunk_size = int(np.clip(-(-p // n_jobs), 64, _CHUNK_FEATURES))
    s = _structure(design)  # shared index arrays, built once before the threads start
    z_stored = _to_blocks(zs, s, 0.0)

    out = CoxBatch(
        coef=np.full((p, d), np.nan),
        covariance=np.full((p, d, d), np.nan),
        log_likelihood=np.full(p, np.nan),
        log_likelihood_null=np.full(p, np.nan),
        score_statistic=np.full(p, np.nan),
        n=np.zeros(p, dtype=np.int64),
        n_events=np.zeros(p, dtype=np.int64),
        n_iter=np.zeros(p, dtype=np.int64),
        status=np.full(p, "ok", dtype=object),
        feature_sd=np.full(p, np.nan),
        linear_predictor=np.full((n, p), np.nan) if return_linear_predictor else None,
    )

    def task(start: int, stop: int) -> None:
        _fit_chunk(
            design, features, z_stored, z_scale, ties, tol, max_iter, out, slice(start, stop), z_all
        )

    tasks = [lambda a=start: task(a, min(a + chunk_size, p)) for start in range(0, p, chunk_size)]
    with _one_blas_thread():  # its matrix-vector products are too small to share
        _run(tasks, n_jobs)
    return out


def _one_blas_thread():
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover - threadpoolctl comes with scikit-learn
        return nullcontext()
    return threadpool_limits(limits=1, user_api="blas")


def _fit_chunk(design, features, z_stored, z_scale, ties, tol, max_iter, out, where, z_all):
    """Fit the features ``where``; complete features and those with missing values apart."""
    s = _structure(design)
    n, q = design.n, z_stored.shape[1]
    raw = features[s["source"], where]  # (n_pad, c) in storage order
    padding = s["padding"]
    raw[padding] = 0.0
    c = raw.shape[1]
    incomplete = np.isnan(s["real"] @ raw)
    x_sd = np.empty(c)
    counts = np.full(c, n)
    ev_counts = np.full(c, design.event_rows.size)
    status = np.full(c, "ok", dtype=object)
    parts = []
    complete = np.flatnonzero(~incomplete)
    if complete.size:
        x = raw if complete.size == c else raw[:, complete]
        # centre on the first patient first: a constant feature gives exact zeros
        x -= x[0].copy()
        x[padding] = 0.0
        x -= (s["real"] @ x) / n
        x[padding] = 0.0
        x_sd[complete] = np.sqrt(np.einsum("ij,ij->j", x, x) / n)
        x /= np.where(x_sd[complete] > 0, x_sd[complete], 1.0)
        parts.append((complete, x, None))
    partial = np.flatnonzero(incomplete)
    if partial.size:
        values = raw[:, partial]
        present = ~np.isnan(values)
        present[padding] = False
        xs, _, x_sd[partial] = _standardise(values, present)
        counts[partial] = present.sum(0)
        ev_counts[partial] = present[s["event_position"]].sum(0)
        parts.append((partial, xs, present))
    status[x_sd <= 0] = "constant"
    status[counts < q + 3] = "too_few_patients"
    status[ev_counts == 0] = "no_events"
    out.n[where] = counts
    out.n_events[where] = ev_counts
    out.feature_sd[where] = x_sd
    first = where.start
    for columns, xs, present in parts:
        ok = status[columns] == "ok"
        if not ok.any():
            continue
        fit = columns[ok]
        if not ok.all():
            xs = xs[:, ok]
            present = None if present is None else present[:, ok]
        chunk = _Chunk(design, xs, z_stored, present, ties)
        beta, cov, ll, ll0, score_stat, n_iter, st = _newton(chunk, tol, max_iter)
        status[fit] = st
        scale = np.concatenate(
            [x_sd[fit][:, None], np.broadcast_to(z_scale, (fit.size, q))], axis=1
        )
        coef = beta / scale
        covariance = cov / (scale[:, :, None] * scale[:, None, :])
        bad = st != "ok"
        coef[bad] = np.nan
        covariance[bad] = np.nan
        idx = first + fit
        out.coef[idx] = coef
        out.covariance[idx] = covariance
        out.log_likelihood[idx] = np.where(bad, np.nan, ll)
        out.log_likelihood_null[idx] = ll0
        out.score_statistic[idx] = score_stat
        out.n_iter[idx] = n_iter
        if out.linear_predictor is not None:
            lp = features[:, idx] * coef[:, 0]
            if q:
                lp += z_all @ coef[:, 1:].T
            out.linear_predictor[:, idx] = lp  # NaN where absent or without a fit
    out.status[where] = status


def _newton(chunk: _Chunk, tol: float, max_iter: int):
    c, d = chunk.c, chunk.d
    beta = np.zeros((c, d))
    active = np.arange(c)
    final_beta = np.zeros((c, d))
    final_cov = np.full((c, d, d), np.nan)
    final_ll = np.full(c, np.nan)
    ll0 = np.full(c, np.nan)
    score_stat = np.full(c, np.nan)
    n_iter = np.zeros(c, dtype=np.int64)
    status = np.full(c, "not_converged", dtype=object)
    prev_ll = np.full(c, -np.inf)
    prev_beta = beta.copy()
    sub, held = chunk, active  # the models evaluated (a superset of the active ones)
    for it in range(max_iter + 1):
        ll, score, info = sub.evaluate(beta[held])
        if held.size != active.size:
            at = np.searchsorted(held, active)
            ll, score, info = ll[at], score[at], info[at]
        if it == 0:
            step0 = _solve(info, score)
            ll0[active] = ll
            score_stat[active] = (score * step0).sum(1)
        n_iter[active] = it
        # step halving where the likelihood went down
        worse = ll < prev_ll[active] - 1e-9 * (1.0 + np.abs(prev_ll[active]))
        if worse.any() and it > 0:
            w = active[worse]
            beta[w] = 0.5 * (beta[w] + prev_beta[w])
            keep = ~worse
            _record(
                active[keep],
                ll[keep],
                score[keep],
                info[keep],
                beta,
                prev_beta,
                prev_ll,
                final_beta,
                final_cov,
                final_ll,
                status,
                tol,
            )
        else:
            _record(
                active,
                ll,
                score,
                info,
                beta,
                prev_beta,
                prev_ll,
                final_beta,
                final_cov,
                final_ll,
                status,
                tol,
            )
        active = np.flatnonzero(status == "not_converged")
        if not active.size:
            break
        if it == max_iter:
            break
        if active.size < 0.75 * held.size:  # else evaluating a few finished ones is cheaper
            sub, held = _subset(chunk, active), active
    return final_beta, final_cov, final_ll, ll0, score_stat, n_iter, status


_SEPARATION_BOUND = 25.0  # |log hazard ratio| per standard deviation (HR ~ 7e10)


def _record(
    idx, ll, score, info, beta, prev_beta, prev_ll, final_beta, final_cov, final_ll, status, tol
):
    """Newton step for the models ``idx``; finalise the converged ones."""
    if not idx.size:
        return
    step = _solve(info, score)
    singular = ~np.isfinite(step).all(1)
    size = np.where(singular, np.inf, np.abs(step).max(1))
    converged = size < tol
    current = beta[idx]
    # monotone likelihood: the log-likelihood no longer moves while the step stays large
    flat = np.abs(ll - prev_ll[idx]) < 1e-10 * (1.0 + np.abs(ll))
    huge = np.abs(current).max(1) > _SEPARATION_BOUND
    separated = ~converged & ((huge) | (flat & (size > 1e-3) & (np.abs(current).max(1) > 5.0)))
    done = idx[converged]
    if done.size:
        with np.errstate(invalid="ignore"):
            cov = np.linalg.inv(info[converged])
        final_beta[done] = current[converged] + step[converged]
        final_cov[done] = cov
        final_ll[done] = ll[converged]
        status[done] = "ok"
    if separated.any():
        status[idx[separated]] = "separation"
    collinear = singular & ~separated & ~converged
    if collinear.any():
        # a singular information matrix at a finite point: collinear design
        status[idx[collinear]] = "collinear"
    moving = ~converged & ~separated & ~collinear
    prev_beta[idx] = current
    prev_ll[idx] = ll
    mv = idx[moving]
    # cap a step at 5 standard deviations of log hazard ratio to stay in floating range
    st = step[moving]
    big = np.abs(st).max(1, keepdims=True)
    st = np.where(big > 5.0, st * (5.0 / np.maximum(big, 1e-300)), st)
    beta[mv] = current[moving] + st


def _subset(chunk: _Chunk, keep: np.ndarray) -> _Chunk:
    sub = object.__new__(_Chunk)
    sub.__dict__.update(chunk.__dict__)
    sub.x = chunk.x[:, keep]
    sub.x_range = None
    sub.present = None if chunk.present is None else chunk.present[:, keep]
    sub.c = keep.size
    sub._split()
    sub.d_group = None if chunk.d_group is None else chunk.d_group[:, keep]
    sub.event_sum = chunk.event_sum[keep]
    sub.n_events = chunk.n_events[keep]
    return sub
