"""Cox proportional hazards fits, vectorised over many models at once.

One model per feature: ``h(t) = h0(t) exp(b x_j + g'z)``, with the same covariates ``z``
for every feature. All models are fitted together by Newton-Raphson: each iteration
computes the risk-set sums of every feature with cumulative sums over patients sorted by
time, so the work is a few passes over a patients x features block, chunked over the
features. Efron (default) or Breslow handling of tied times; optional strata.

A multivariable model is the special case of one "feature" (the first design column) and
the remaining columns as covariates.

numpy/scipy only.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy import stats

__all__ = [
    "CoxBatch",
    "SurvivalDesign",
    "prepare_survival",
    "cox_batch",
    "STATUS",
    "schoenfeld_test",
]

#: Status codes of a fit, with their meaning.
STATUS = {
    "ok": "converged",
    "constant": "the feature has a single value in the patients analysed",
    "no_events": "no events among the patients with a value",
    "too_few_patients": "fewer patients with a value than coefficients to estimate plus two",
    "separation": (
        "monotone likelihood (perfect separation): the hazard ratio is infinite and cannot "
        "be estimated"
    ),
    "collinear": "the feature is collinear with the covariates",
    "not_converged": "Newton-Raphson did not converge",
}

_TIES = ("efron", "breslow")


@dataclass
class SurvivalDesign:
    """Patients sorted by stratum and descending time, with the risk-set structure.

    Built once by :func:`prepare_survival` and shared by every chunk of features.
    """

    order: np.ndarray  # original index of each sorted row
    time: np.ndarray  # sorted
    event: np.ndarray  # sorted, bool
    n: int
    # one entry per (stratum, distinct event time), ordered as the rows
    group_end: np.ndarray  # last sorted row of the risk set (inclusive)
    group_base: np.ndarray  # last row before the stratum starts (-1 for the first stratum)
    event_rows: np.ndarray  # sorted rows with an event
    event_group: np.ndarray  # group of each event row
    group_size: np.ndarray  # events per group (all patients present)
    tied_groups: np.ndarray  # groups with more than one event
    strata: np.ndarray | None = None
    extras: dict = field(default_factory=dict)


def prepare_survival(
    time: np.ndarray, event: np.ndarray, strata: np.ndarray | None = None
) -> SurvivalDesign:
    """Sort patients and index risk sets and tied event times.

    Parameters
    ----------
    time, event
        Follow-up times and event indicators of the patients used (no missing values).
    strata
        Optional integer stratum code per patient.
    """
    time = np.asarray(time, dtype=float)
    event = np.asarray(event).astype(bool)
    n = time.size
    codes = np.zeros(n, dtype=np.int64) if strata is None else np.asarray(strata, np.int64)
    order = np.lexsort((-time, codes))  # by stratum, then time descending
    t, e, s = time[order], event[order], codes[order]
    # rows sharing (stratum, time) form a block; a block with events is an event group
    new_block = np.ones(n, dtype=bool)
    new_block[1:] = (t[1:] != t[:-1]) | (s[1:] != s[:-1])
    block = np.cumsum(new_block) - 1
    block_last = np.r_[np.flatnonzero(new_block)[1:] - 1, n - 1]
    stratum_first = np.ones(n, dtype=bool)
    stratum_first[1:] = s[1:] != s[:-1]
    first_row_of_stratum = np.maximum.accumulate(np.where(stratum_first, np.arange(n), 0))
    event_rows = np.flatnonzero(e)
    event_blocks = block[event_rows]
    groups, event_group = np.unique(event_blocks, return_inverse=True)
    group_end = block_last[groups]
    group_base = first_row_of_stratum[group_end] - 1
    group_size = np.bincount(event_group, minlength=groups.size)
    return SurvivalDesign(
        order=order, time=t, event=e, n=n, group_end=group_end, group_base=group_base,
        event_rows=event_rows, event_group=event_group, group_size=group_size,
        tied_groups=np.flatnonzero(group_size > 1), strata=None if strata is None else s,
    )


@dataclass
class CoxBatch:
    """Fits of many Cox models with the same covariates (arrays over the models).

    ``coef`` and ``covariance`` are on the scale of the data given; column 0 is the feature,
    the next columns the covariates.
    """

    coef: np.ndarray  # (p, d)
    covariance: np.ndarray  # (p, d, d)
    log_likelihood: np.ndarray  # (p,)
    log_likelihood_null: np.ndarray  # (p,) at coefficients 0
    score_statistic: np.ndarray  # (p,) score test of all coefficients at 0
    n: np.ndarray  # (p,) patients with a value
    n_events: np.ndarray  # (p,)
    n_iter: np.ndarray  # (p,)
    status: np.ndarray  # (p,) str, keys of STATUS
    feature_sd: np.ndarray | None = None  # (p,) standard deviation of each feature
    linear_predictor: np.ndarray | None = None  # (n, p) in the original row order if asked

    @property
    def std_error(self) -> np.ndarray:
        with np.errstate(invalid="ignore"):
            return np.sqrt(np.diagonal(self.covariance, axis1=1, axis2=2))


def _moment_pairs(d: int) -> list[tuple[int, int]]:
    return [(a, b) for a in range(d) for b in range(a, d)]


class _Chunk:
    """Risk-set algebra for one chunk of features.

    Arrays are features x patients (patients sorted as in the design), so that the
    cumulative sums over the risk sets run along contiguous memory.
    """

    def __init__(self, design: SurvivalDesign, x: np.ndarray, z: np.ndarray,
                 present: np.ndarray | None, ties: str):
        self.design = design
        self.x = x  # (c, n) standardised, 0 where absent
        self.z = z  # (q, n) standardised
        self.present = present  # (c, n) bool or None
        self.ties = ties
        self.c = x.shape[0]
        self.q = z.shape[0]
        self.d = 1 + self.q
        self.pairs = _moment_pairs(self.d)
        self.stratified = bool((design.group_base >= 0).any())
        self.unit_groups = present is None and not design.tied_groups.size
        self.x_max = x.max(1)
        self.x_min = x.min(1)
        ev = design.event_rows
        pe = np.ones((self.c, ev.size)) if present is None else present[:, ev].astype(float)
        g = design.group_end.size
        if present is None:
            self.d_group = np.broadcast_to(design.group_size.astype(float), (self.c, g))
        else:
            self.d_group = np.zeros((self.c, g))
            np.add.at(self.d_group.T, design.event_group, pe.T)
        # sums over events of each design column (constant over iterations)
        sx = (x[:, ev] * pe).sum(1)
        sz = pe @ z[:, ev].T if self.q else np.zeros((self.c, 0))
        self.event_sum = np.concatenate([sx[:, None], sz], axis=1)  # (c, d)
        self.n_events = pe.sum(1)
        tg = design.tied_groups
        if ties == "efron" and tg.size:
            sizes = design.group_size[tg]
            self.efron_group = np.repeat(tg, sizes)
            self.efron_pos = np.repeat(np.arange(tg.size), sizes)
            self.efron_l = np.concatenate([np.arange(k) for k in sizes]).astype(float)
            tied_member = np.isin(design.event_group, tg)
            self.tied_rows = ev[tied_member]
            tied_group_of_row = design.event_group[tied_member]
            self.tied_starts = np.r_[0, np.flatnonzero(np.diff(tied_group_of_row)) + 1]
            self.single_groups = np.flatnonzero(design.group_size == 1)
        else:
            self.efron_group = None

    def moments(self, beta: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Weights w = exp(lp - shift) and products w v_a, w v_a v_b: (K, c, n), and shift."""
        x, z, d = self.x, self.z, self.d
        k = 1 + d + len(self.pairs)
        out = np.empty((k,) + x.shape)
        eta = out[0]
        if self.present is None and not beta.any():
            # at zero every weight is 1: no exponentials needed
            eta.fill(1.0)
            np.copyto(out[1], x)
            for a in range(1, d):
                out[1 + a] = z[a - 1]
            for i, (a, b) in enumerate(self.pairs):
                other = x if b == 0 else z[b - 1]
                np.multiply(out[1 + a], other, out=out[1 + d + i])
            return out, np.zeros(x.shape[0])
        np.multiply(x, beta[:, :1], out=eta)
        if self.q:
            eta += beta[:, 1:] @ z
        if self.present is None and not self.q:
            b = beta[:, 0]
            shift = np.where(b > 0, b * self.x_max, b * self.x_min)
        else:
            if self.present is not None:
                eta[~self.present] = -np.inf
            shift = eta.max(1)
            shift[~np.isfinite(shift)] = 0.0
        eta -= shift[:, None]
        np.exp(eta, out=eta)
        w = eta
        np.multiply(w, x, out=out[1])
        for a in range(1, d):
            np.multiply(w, z[a - 1], out=out[1 + a])
        for i, (a, b) in enumerate(self.pairs):
            other = x if b == 0 else z[b - 1]
            np.multiply(out[1 + a], other, out=out[1 + d + i])
        return out, shift

    def evaluate(self, beta: np.ndarray):
        """Log partial likelihood, score (c, d) and information (c, d, d) at ``beta``."""
        design = self.design
        m, shift = self.moments(beta)  # (K, c, n)
        tied = m[:, :, self.tied_rows] if self.efron_group is not None else None
        np.cumsum(m, axis=2, out=m)
        risk = m[:, :, design.group_end]  # (K, c, g)
        if self.stratified:
            base = design.group_base
            inside = (base >= 0).astype(float)
            risk -= m[:, :, np.maximum(base, 0)] * inside
        d = self.d
        k1 = 1 + d
        dg = self.d_group
        # groups without an event for a feature (its event patients absent) add nothing
        s0 = risk[0] if self.present is None else np.where(dg > 0, risk[0], 1.0)
        ll = (self.event_sum * beta).sum(1) - self.n_events * shift
        with np.errstate(divide="ignore", invalid="ignore"):
            if self.efron_group is None and self.unit_groups:
                # one event per distinct time, every patient present
                inv0 = 1.0 / s0
                ll -= np.log(s0).sum(1)
                a1 = risk[1:k1] * inv0
                score = self.event_sum - a1.sum(2).T
                info = self._information(None, a1, risk[k1:] * inv0)
            elif self.efron_group is None:
                inv0 = 1.0 / s0
                ll -= (dg * np.log(s0)).sum(1)
                a1 = risk[1:k1] * inv0
                score = self.event_sum - (a1 * dg).sum(2).T
                info = self._information(dg, a1, risk[k1:] * inv0)
            else:
                single = self.single_groups
                s0s = s0[:, single]
                inv0 = 1.0 / s0s
                a1 = risk[1:k1][:, :, single] * inv0
                if self.present is None:  # one event in each of these groups
                    ll -= np.log(s0s).sum(1)
                    score = self.event_sum - a1.sum(2).T
                    info = self._information(None, a1, risk[k1:][:, :, single] * inv0)
                else:
                    dgs = dg[:, single]
                    ll -= (dgs * np.log(s0s)).sum(1)
                    score = self.event_sum - (a1 * dgs).sum(2).T
                    info = self._information(dgs, a1, risk[k1:][:, :, single] * inv0)
                # tied groups: Efron's correction, one term per tied event
                t_sum = np.add.reduceat(tied, self.tied_starts, axis=2)  # (K, c, Gt)
                pos = self.efron_pos
                dgt = dg[:, self.efron_group]  # (c, R)
                frac = self.efron_l / np.where(dgt > 0, dgt, 1.0)
                live = (self.efron_l < dgt).astype(float)
                r0 = s0[:, self.efron_group] - frac * t_sum[0][:, pos]
                ll -= (live * np.log(np.where(live > 0, r0, 1.0))).sum(1)
                inv0 = 1.0 / r0
                r1 = (risk[1:k1][:, :, self.efron_group] - frac * t_sum[1:k1][:, :, pos]) * inv0
                score -= (live * r1).sum(2).T
                r2 = (risk[k1:][:, :, self.efron_group] - frac * t_sum[k1:][:, :, pos]) * inv0
                info += self._information(live, r1, r2)
        return ll, score, info

    def _information(self, weight, a1, a2):
        """Sum over groups of weight * (E[v v'] - E[v] E[v]') as (c, d, d)."""
        d = self.d
        info = np.empty((self.c, d, d))
        for k, (a, b) in enumerate(self.pairs):
            if weight is None:  # sums of products without temporaries
                val = a2[k].sum(1) - np.einsum("ij,ij->i", a1[a], a1[b])
                info[:, a, b] = val
                info[:, b, a] = val
                continue
            term = a2[k] - a1[a] * a1[b]
            val = (weight * term).sum(1)
            info[:, a, b] = val
            info[:, b, a] = val
        return info


def _standardise(values: np.ndarray, present: np.ndarray | None):
    """Centre and scale columns over the patients present; returns (z, mean, sd)."""
    if present is None:
        mean = values.mean(0)
        centred = values - mean
        sd = np.sqrt((centred**2).mean(0))
    else:
        count = present.sum(0)
        safe = np.where(present, values, 0.0)
        with np.errstate(invalid="ignore", divide="ignore"):
            mean = safe.sum(0) / np.maximum(count, 1)
        centred = np.where(present, values - mean, 0.0)
        sd = np.sqrt((centred**2).sum(0) / np.maximum(count, 1))
    scale = np.where(sd > 0, sd, 1.0)
    return centred / scale, mean, sd


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
        Features per chunk (default: a size that keeps the working arrays in cache).
    return_linear_predictor
        Also return ``x b + z g`` per patient and model (original order, NaN if absent).

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
    k = 1 + d + d * (d + 1) // 2
    if chunk_size is None:
        chunk_size = int(np.clip(2**18 // max(k * n, 1), 16, 4096))

    out = CoxBatch(
        coef=np.full((p, d), np.nan), covariance=np.full((p, d, d), np.nan),
        log_likelihood=np.full(p, np.nan), log_likelihood_null=np.full(p, np.nan),
        score_statistic=np.full(p, np.nan), n=np.zeros(p, dtype=np.int64),
        n_events=np.zeros(p, dtype=np.int64), n_iter=np.zeros(p, dtype=np.int64),
        status=np.full(p, "ok", dtype=object), feature_sd=np.full(p, np.nan),
        linear_predictor=np.full((n, p), np.nan) if return_linear_predictor else None,
    )
    for start in range(0, p, chunk_size):
        stop = min(start + chunk_size, p)
        _fit_chunk(design, features[order, start:stop], zs, z_scale, ties, tol, max_iter,
                   out, slice(start, stop), z_all)
    return out


def _fit_chunk(design, raw, zs, z_scale, ties, tol, max_iter, out, where, z_all):
    n, c = raw.shape
    q = zs.shape[1]
    d = 1 + q
    present = ~np.isnan(raw)
    all_present = bool(present.all())
    xs, x_mean, x_sd = _standardise(raw, None if all_present else present)
    counts = present.sum(0)
    ev_counts = present[design.event_rows].sum(0)
    status = np.full(c, "ok", dtype=object)
    status[x_sd <= 0] = "constant"
    status[counts < d + 2] = "too_few_patients"
    status[ev_counts == 0] = "no_events"
    out.n[where] = counts
    out.n_events[where] = ev_counts
    out.feature_sd[where] = x_sd
    fit = np.flatnonzero(status == "ok")
    if fit.size:
        mask = None if all_present else np.ascontiguousarray(present[:, fit].T)
        chunk = _Chunk(design, np.ascontiguousarray(xs[:, fit].T), zs.T.copy(), mask, ties)
        beta, cov, ll, ll0, score_stat, n_iter, st = _newton(chunk, tol, max_iter)
        status[fit] = st
        scale = np.concatenate([x_sd[fit][:, None], np.broadcast_to(z_scale, (fit.size, q))],
                               axis=1)
        coef = beta / scale
        covariance = cov / (scale[:, :, None] * scale[:, None, :])
        bad = st != "ok"
        coef[bad] = np.nan
        covariance[bad] = np.nan
        idx = np.arange(where.start, where.stop)[fit]
        out.coef[idx] = coef
        out.covariance[idx] = covariance
        out.log_likelihood[idx] = np.where(bad, np.nan, ll)
        out.log_likelihood_null[idx] = ll0
        out.score_statistic[idx] = score_stat
        out.n_iter[idx] = n_iter
        if out.linear_predictor is not None:
            lp = raw[:, fit] * coef[:, 0]
            if q:
                lp = lp + z_all[design.order] @ coef[:, 1:].T
            lp[:, bad] = np.nan
            rows = np.empty(n, dtype=np.int64)
            rows[design.order] = np.arange(n)
            out.linear_predictor[:, idx] = lp[rows]
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
    sub = chunk
    for it in range(max_iter + 1):
        ll, score, info = sub.evaluate(beta[active])
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
            _record(active[keep], ll[keep], score[keep], info[keep], beta, prev_beta,
                    prev_ll, final_beta, final_cov, final_ll, status, tol)
        else:
            _record(active, ll, score, info, beta, prev_beta, prev_ll, final_beta, final_cov,
                    final_ll, status, tol)
        active = np.flatnonzero(status == "not_converged")
        if not active.size:
            break
        if it == max_iter:
            break
        sub = _subset(chunk, active)
    return final_beta, final_cov, final_ll, ll0, score_stat, n_iter, status


_SEPARATION_BOUND = 25.0  # |log hazard ratio| per standard deviation (HR ~ 7e10)


def _record(idx, ll, score, info, beta, prev_beta, prev_ll, final_beta, final_cov,
            final_ll, status, tol):
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
    sub.x = chunk.x[keep]
    sub.x_max = chunk.x_max[keep]
    sub.x_min = chunk.x_min[keep]
    sub.present = None if chunk.present is None else chunk.present[keep]
    sub.c = keep.size
    sub.d_group = chunk.d_group[keep]
    sub.event_sum = chunk.event_sum[keep]
    sub.n_events = chunk.n_events[keep]
    return sub


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
            mean[g] = ((s1[g][None, :] - ls[:, None] * t1[g]) /
                       (s0[g] - ls * t0[g])[:, None]).mean(0)
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
        from .survival import kaplan_meier

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
