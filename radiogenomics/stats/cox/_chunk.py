"""Cox models: a block of features in the risk-set layout, with its Newton-Raphson
sums (score, information, log-likelihood) by cumulative sums over the sorted patients."""

from __future__ import annotations

import numpy as np

from ._design import _BLOCK_ROWS, _CACHE_ELEMENTS, _EXP_SAFE, SurvivalDesign, _moment_pairs


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
    term_l = (
        np.concatenate([np.arange(1, k) for k in sizes]).astype(float) if tg.size else np.zeros(0)
    )
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

    def __init__(
        self,
        design: SurvivalDesign,
        x: np.ndarray,
        z: np.ndarray,
        present: np.ndarray | None,
        ties: str,
    ):
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
        self.term_position = s["term_position"][: self.n_terms]
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
            self.present_parts = [
                None if self.present is None else np.ascontiguousarray(self.present[:, p])
                for p in self.parts
            ]

    def moments(self, beta: np.ndarray, zero: bool, part: int = 0) -> tuple[np.ndarray, np.ndarray]:
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
                np.copyto(m[1 + a], z[:, a - 1 : a])
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
                np.multiply(w, z[:, a - 1 : a], out=m[1 + a])
        for i, (a, b) in enumerate(self.pairs):
            other = x if b == 0 else z[:, b - 1 : b]
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
            weight = None if self.efron or not self.design.tied_groups.size else s["group_size"]
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
            s0 = s["term_at_risk"][: risk.shape[1]]
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
