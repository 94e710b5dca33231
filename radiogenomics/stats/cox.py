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

import os
from contextlib import nullcontext
from dataclasses import dataclass, field

import numpy as np
from scipy import stats

from .association import _run

__all__ = [
    "CoxBatch",
    "SurvivalDesign",
    "prepare_survival",
    "cox_batch",
    "STATUS",
    "schoenfeld_test",
    "cox_zph",
    "ZPH_TRANSFORMS",
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


#: Rows per block of the running sums over patients (see :func:`_structure`).
_BLOCK_ROWS = 16
#: Elements of the moment arrays of one evaluation (features x patients x moments), to
#: stay in the processor's cache.
_CACHE_ELEMENTS = 1 << 18
#: Largest |linear predictor| left unshifted: exp() of it, times the patients and the
#: squared features, stays far from overflow and underflow.
_EXP_SAFE = 300.0
#: Features per chunk of the Newton iterations (bookkeeping amortised over many).
_CHUNK_FEATURES = 1024


def _structure(design: SurvivalDesign) -> dict:
    """Index arrays of the risk-set sums shared by every chunk (computed once per design).

    The patients keep the design's order, except that within a run of equal (stratum,
    time) the events come first: the events of a tied time are then consecutive and their
    sums are differences of the running sums. Running sums over these rows are built in
    blocks of ``B`` consecutive rows: a prefix within every block at once, then the totals
    of the blocks before. Row ``r`` is stored at position ``(r % B) * n_blocks + r // B``,
    so that the ``j``-th rows of all blocks are one contiguous slab and each prefix step
    is a single long addition. The rows after the last patient (padding) are zeros.
    """
    cached = design.extras.get("risk_sets")
    if cached is not None:
        return cached
    n = design.n
    block = max(1, min(_BLOCK_ROWS, n))
    n_blocks = -(-n // block)
    n_pad = block * n_blocks
    rows = np.arange(n_pad)
    position = (rows % block) * n_blocks + rows // block  # storage row of row r
    # runs of equal (stratum, time) in the design's order, events first within each
    strata = np.zeros(n, dtype=np.int64) if design.strata is None else design.strata
    new_run = np.ones(n, dtype=bool)
    new_run[1:] = (design.time[1:] != design.time[:-1]) | (strata[1:] != strata[:-1])
    run = np.cumsum(new_run) - 1
    row_of = np.empty(n, dtype=np.int64)  # row of each design row
    row_of[np.lexsort((~design.event, run))] = np.arange(n)
    stored = position[row_of]  # storage position of each design row
    event_group = design.event_group
    tg = design.tied_groups
    sizes = design.group_size[tg]
    # Efron's terms l = 1 .. d - 1 of each tied group (its term l = 0 is the plain one)
    term_pos = np.repeat(np.arange(tg.size), sizes - 1)
    term_l = (np.concatenate([np.arange(1, k) for k in sizes]).astype(float)
              if tg.size else np.zeros(0))
    # a tied group's events: rows first .. first + d - 1 of its run (the run ends at the
    # group's end)
    run_first = np.flatnonzero(new_run)
    tied_first = run_first[run[design.group_end[tg]]]
    tied_top = tied_first + sizes - 1
    has_before = np.flatnonzero(tied_first > 0)
    base = design.group_base
    efron_group = tg[term_pos]
    # the terms of the likelihood: one per group, then Efron's terms l > 0 of tied groups
    term_group = np.r_[np.arange(design.group_end.size), efron_group]
    term_base = base[term_group]
    has_base = np.flatnonzero(term_base >= 0)
    at_risk = (design.group_end - base).astype(float)
    efron_frac = term_l / design.group_size[efron_group]
    source = np.full(n_pad, design.order[0] if n else 0)  # patient (input row) stored
    source[stored] = design.order
    real = np.zeros(n_pad)
    real[stored] = 1.0
    event_indicator = np.zeros(n_pad)
    event_indicator[stored[design.event_rows]] = 1.0
    cached = {
        "block": block,
        "n_blocks": n_blocks,
        "n_pad": n_pad,
        "stored": stored,
        "padding": position[n:],
        "source": source,
        "real": real,  # 1 for a patient, 0 for padding
        "event_position": stored[design.event_rows],
        "event_indicator": event_indicator,
        # standardised values (mean 0, variance 1 over n) are at most sqrt(n - 1) in size
        "z_bound": float(np.sqrt(max(n - 1, 1))),
        # the runs end at the same rows as in the design
        "term_position": position[design.group_end[term_group]],
        "has_base": has_base,
        "base_position": position[term_base[has_base]],
        "first_event": np.r_[0, np.flatnonzero(np.diff(event_group)) + 1],
        "n_groups": design.group_end.size,
        "n_terms": term_group.size,
        # at 0, Efron's term l of a group of d events has weight sum n_at_risk - l
        "term_at_risk": np.r_[at_risk, at_risk[efron_group] - term_l][:, None],
        "group_size": design.group_size.astype(float)[:, None],
        "efron_group": efron_group,
        "efron_pos": term_pos,
        "efron_l": term_l,
        "efron_frac": efron_frac[:, None],
        "tied_top": position[tied_top],
        "tied_has_before": has_before,
        "tied_before": position[tied_first[has_before] - 1],
    }
    design.extras["risk_sets"] = cached
    return cached


def _to_blocks(values: np.ndarray, s: dict, fill) -> np.ndarray:
    """Rows in the design's order (n, ...) in the storage order of :func:`_structure`."""
    out = np.empty((s["n_pad"],) + values.shape[1:], dtype=values.dtype)
    out[s["stored"]] = values
    out[s["padding"]] = fill
    return out


class _Chunk:
    """Risk-set algebra for one chunk of features.

    Arrays are patients x features (patients sorted as in the design, stored in blocks by
    :func:`_structure`): a running sum over the risk sets adds whole rows, so that it is
    vectorised over the features, and the sums over event times reduce whole rows too.
    """

    def __init__(self, design: SurvivalDesign, x: np.ndarray, z: np.ndarray,
                 present: np.ndarray | None, ties: str):
        """``x`` (n_pad, c), ``z`` (n_pad, q) and ``present`` in the storage order of
        :func:`_structure`, standardised, 0 where absent and in the padding rows."""
        self.design = design
        s = self.s = _structure(design)
        self.x, self.z, self.present = x, z, present
        self.ties = ties
        self.c = x.shape[1]
        self.q = z.shape[1]
        self.d = 1 + self.q
        self.pairs = _moment_pairs(self.d)
        self.k = 1 + self.d + len(self.pairs)
        self.x_range = None  # (max, min) of each feature, when needed
        self.efron = ties == "efron" and design.tied_groups.size > 0
        self.n_terms = s["n_terms"] if self.efron else s["n_groups"]
        self.ones = np.ones(self.n_terms)
        self.term_position = s["term_position"][:self.n_terms]
        has_base = s["has_base"] < self.n_terms
        self.has_base = s["has_base"][has_base]
        self.base_position = s["base_position"][has_base]
        self._split()
        ev = s["event_indicator"]
        if present is None:
            self.d_group = None  # every group has all its events: design.group_size
            self.n_events = np.full(self.c, float(design.event_rows.size))
            sz = np.broadcast_to(ev @ z, (self.c, self.q))
        else:
            pe = present[s["event_position"]].astype(float)  # (events, c)
            self.d_group = np.add.reduceat(pe, s["first_event"], axis=0)  # (g, c)
            self.n_events = pe.sum(0)
            sz = pe.T @ z[s["event_position"]]
        # sums over events of each design column (constant over iterations)
        self.event_sum = np.concatenate([(ev @ x)[:, None], sz], axis=1)  # (c, d)

    def _split(self) -> None:
        """Parts of the features small enough for the cache, each stored contiguously."""
        c = self.c
        widest = max(1, _CACHE_ELEMENTS // (self.k * self.s["n_pad"]))
        n_parts = -(-c // widest)
        width = -(-c // n_parts) if c else 1
        self.parts = [slice(a, min(a + width, c)) for a in range(0, c, width)]
        if len(self.parts) == 1:
            self.x_parts = [self.x]
            self.present_parts = [self.present]
        else:
            self.x_parts = [np.ascontiguousarray(self.x[:, p]) for p in self.parts]
            self.present_parts = [None if self.present is None
                                  else np.ascontiguousarray(self.present[:, p])
                                  for p in self.parts]

    def moments(self, beta: np.ndarray, zero: bool, part: int = 0
                ) -> tuple[np.ndarray, np.ndarray]:
        """Weights w = exp(lp - shift), w v_a and w v_a v_b: (K, n_pad, c), and the shift.

        For the features of ``part`` (``beta`` holds their coefficients). With ``zero``
        (coefficients 0, every patient present) the weights are 1 and ``m[0]`` is left
        unset.
        """
        x, z, d = self.x_parts[part], self.z, self.d
        present = self.present_parts[part]
        cols = self.parts[part]
        c = x.shape[1]
        m = np.empty((self.k,) + x.shape)
        w = m[0]
        if zero:
            np.copyto(m[1], x)
            shift = np.zeros(c)
            for a in range(1, d):
                np.copyto(m[1 + a], z[:, a - 1:a])
        else:
            b = beta[:, 0]
            np.multiply(x, b, out=w)
            if self.q:
                w += z @ beta[:, 1:].T
            if present is None and not self.q:
                # exp() needs no shift while the linear predictor stays in a safe range
                if np.abs(b).max() * self.s["z_bound"] <= _EXP_SAFE:
                    shift = np.zeros(c)
                else:  # the largest linear predictor is b * max(x) or b * min(x)
                    if self.x_range is None:
                        self.x_range = (self.x.max(0), self.x.min(0))
                    shift = np.maximum(b * self.x_range[0][cols], b * self.x_range[1][cols])
                    w -= shift
            else:
                if present is not None:
                    np.copyto(w, -np.inf, where=~present)
                shift = w.max(0)
                shift[~np.isfinite(shift)] = 0.0
                w -= shift
            np.exp(w, out=w)
            if present is None:
                w[self.s["padding"]] = 0.0
            np.multiply(w, x, out=m[1])
            for a in range(1, d):
                np.multiply(w, z[:, a - 1:a], out=m[1 + a])
        for i, (a, b) in enumerate(self.pairs):
            other = x if b == 0 else z[:, b - 1:b]
            np.multiply(m[1 + a], other, out=m[1 + d + i])
        return m, shift

    def _running_sums(self, m: np.ndarray) -> np.ndarray:
        """Risk-set sums (K, g, c) from :meth:`moments` (overwritten)."""
        s = self.s
        block, n_blocks = s["block"], s["n_blocks"]
        k, _, c = m.shape
        v = m.reshape(k, block, n_blocks * c)  # v[:, j]: the j-th row of every block
        for j in range(1, block):  # prefix within every block at once
            np.add(v[:, j - 1], v[:, j], out=v[:, j])
        if n_blocks > 1:  # add the totals of the blocks before each block
            carry = np.cumsum(v[:, block - 1].reshape(k, n_blocks, c)[:, :-1], axis=1)
            m.reshape(k, block, n_blocks, c)[:, :, 1:] += carry[:, None]
        risk = np.take(m, self.term_position, axis=1)
        if self.has_base.size:  # a stratum's risk set starts after the strata before it
            risk[:, self.has_base] -= np.take(m, self.base_position, axis=1)
        return risk

    def evaluate(self, beta: np.ndarray):
        """Log partial likelihood, score (c, d) and information (c, d, d) at ``beta``.

        The features are taken ``width`` at a time, so that the working arrays stay in
        the processor's cache.
        """
        c, d = self.c, self.d
        if len(self.parts) == 1:
            return self._evaluate(beta, 0)
        ll, score, info = np.empty(c), np.empty((c, d)), np.empty((c, d, d))
        for part, cols in enumerate(self.parts):
            ll[cols], score[cols], info[cols] = self._evaluate(beta[cols], part)
        return ll, score, info

    def _evaluate(self, beta: np.ndarray, part: int):
        s = self.s
        cols = self.parts[part]
        zero = self.present is None and not beta.any()
        m, shift = self.moments(beta, zero, part)  # (K, n_pad, c)
        if zero:
            m = m[1:]  # every weight is 1: the risk sets' sizes are known
        # sums over the risk set of each term: (K, terms, c), or (K - 1, terms, c) at zero;
        # m now holds the running sums
        risk = self._running_sums(m)
        o = 0 if zero else 1  # where w v_a starts in risk
        d = self.d
        g = s["n_groups"]
        dg = None if self.d_group is None else self.d_group[:, cols]
        event_sum = self.event_sum[cols]
        ones = self.ones
        # weights of the terms (None: one each)
        if dg is None:
            weight = None if self.efron or not self.design.tied_groups.size \
                else s["group_size"]
            frac = s["efron_frac"] if self.efron else None
        elif self.efron:
            dgt = dg[s["efron_group"]]  # events of the feature at the tied times (R, c)
            weight = np.concatenate([np.minimum(dg, 1.0), s["efron_l"][:, None] < dgt])
            frac = s["efron_l"][:, None] / np.where(dgt > 0, dgt, 1.0)
        else:
            weight = dg
        if self.efron:
            # Efron's term l of a tied group leaves l / d of the group's events out of its
            # risk set; the events of a tied time are consecutive rows
            tied = np.take(m, s["tied_top"], axis=1)
            if s["tied_has_before"].size == tied.shape[1]:
                tied -= np.take(m, s["tied_before"], axis=1)
            elif s["tied_has_before"].size:  # the first tied time starts the first row
                tied[:, s["tied_has_before"]] -= np.take(m, s["tied_before"], axis=1)
            tied = tied[:, s["efron_pos"]]
            tied *= frac
            risk[:, g:] -= tied
        if zero:
            s0 = s["term_at_risk"][:risk.shape[1]]
        elif dg is None:
            s0 = risk[0]
        else:
            # terms without an event of the feature (its event patients absent) add nothing
            s0 = np.where(weight > 0, risk[0], 1.0)
        ll = (event_sum * beta).sum(1) - self.n_events[cols] * shift
        with np.errstate(divide="ignore", invalid="ignore"):
            inv0 = 1.0 / s0
            log0 = np.log(s0)
            if weight is not None:
                log0 *= weight
            ll -= ones @ log0
            expected = risk[o:]
            expected *= inv0
            a1, a2 = expected[:d], expected[d:]  # E[v_a], E[v_a v_b] per term
            if weight is None:
                score = event_sum - (ones @ a1).T
            else:
                score = event_sum - (ones @ (a1 * weight)).T
            info = self._information(weight, a1, a2, ones)
        return ll, score, info

    def _information(self, weight, a1, a2, ones):
        """Sum over groups of weight * (E[v v'] - E[v] E[v']) as (c, d, d)."""
        d = self.d
        info = np.empty((a1.shape[2], d, d))
        for k, (a, b) in enumerate(self.pairs):
            if weight is None:  # sums of products without temporaries
                total = a2[k].sum(0) if ones is None else ones @ a2[k]
                val = total - np.einsum("gc,gc->c", a1[a], a1[b])
            else:
                term = a2[k] - a1[a] * a1[b]
                term *= weight
                val = term.sum(0) if ones is None else ones @ term
            info[:, a, b] = val
            info[:, b, a] = val
        return info


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
    n_threads: int | None = None,
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
    n_threads
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
    n_threads = max(1, int(n_threads or os.cpu_count() or 1))
    if chunk_size is None:
        chunk_size = int(np.clip(-(-p // n_threads), 64, _CHUNK_FEATURES))
    s = _structure(design)  # shared index arrays, built once before the threads start
    z_stored = _to_blocks(zs, s, 0.0)

    out = CoxBatch(
        coef=np.full((p, d), np.nan), covariance=np.full((p, d, d), np.nan),
        log_likelihood=np.full(p, np.nan), log_likelihood_null=np.full(p, np.nan),
        score_statistic=np.full(p, np.nan), n=np.zeros(p, dtype=np.int64),
        n_events=np.zeros(p, dtype=np.int64), n_iter=np.zeros(p, dtype=np.int64),
        status=np.full(p, "ok", dtype=object), feature_sd=np.full(p, np.nan),
        linear_predictor=np.full((n, p), np.nan) if return_linear_predictor else None,
    )

    def task(start: int, stop: int) -> None:
        _fit_chunk(design, features, z_stored, z_scale, ties, tol, max_iter, out,
                   slice(start, stop), z_all)

    tasks = [lambda a=start: task(a, min(a + chunk_size, p)) for start in range(0, p, chunk_size)]
    with _one_blas_thread():  # its matrix-vector products are too small to share
        _run(tasks, n_threads)
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
        scale = np.concatenate([x_sd[fit][:, None], np.broadcast_to(z_scale, (fit.size, q))],
                               axis=1)
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
        if active.size < 0.75 * held.size:  # else evaluating a few finished ones is cheaper
            sub, held = _subset(chunk, active), active
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
    sub.x = chunk.x[:, keep]
    sub.x_range = None
    sub.present = None if chunk.present is None else chunk.present[:, keep]
    sub.c = keep.size
    sub._split()
    sub.d_group = None if chunk.d_group is None else chunk.d_group[:, keep]
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
        before = np.where((base >= 0).reshape((-1,) + (1,) * (values.ndim - 1)),
                          cum[np.maximum(base, 0)], 0.0)
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
    u = gt @ (x_dead - mean_g)
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
