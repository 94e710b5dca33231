"""Survival kernels: Kaplan-Meier, log-rank tests and Harrell's concordance.

numpy/scipy only. Times are non-negative floats, events 0/1 (validated by the callers in
``radiogenomics.tl``). The concordance is vectorised over many risk scores at once (one
column per feature or model), for the survival screen.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np
from scipy import stats

from .association import _run

__all__ = [
    "KaplanMeier",
    "kaplan_meier",
    "median_time",
    "LogrankResult",
    "logrank_test",
    "WEIGHTINGS",
    "concordance_index",
]


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
    """
    below = np.flatnonzero(np.asarray(curve) <= q)
    return float(time[below[0]]) if below.size else float("nan")


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
    """
    time = np.asarray(time, dtype=float)
    event = np.asarray(event, dtype=float)
    if time.size == 0:
        raise ValueError("no observations")
    unique, inverse = np.unique(time, return_inverse=True)
    n_events = np.bincount(inverse, weights=event, minlength=unique.size)
    n_exit = np.bincount(inverse, minlength=unique.size).astype(float)
    n_at_risk = time.size - np.concatenate(([0.0], np.cumsum(n_exit)[:-1]))
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
            raise ValueError(f"unknown ci_method {ci_method!r}; expected 'log-log', 'log' or 'plain'")
    at_one = survival >= 1.0
    at_zero = survival <= 0.0
    lower[at_one], upper[at_one] = 1.0, 1.0
    lower[at_zero], upper[at_zero] = 0.0, 0.0
    return KaplanMeier(
        time=unique, n_at_risk=n_at_risk, n_events=n_events, n_censored=n_censored,
        survival=survival, std_error=std_error, ci_lower=lower, ci_upper=upper,
        alpha=float(alpha), ci_method=ci_method,
    )


#: Weightings of the log-rank family (as lifelines' ``multivariate_logrank_test``).
WEIGHTINGS = ("logrank", "wilcoxon", "tarone-ware", "peto", "fleming-harrington")


@dataclass
class LogrankResult:
    """A (possibly stratified, weighted or trend) log-rank test."""

    groups: np.ndarray
    n: np.ndarray
    observed: np.ndarray
    expected: np.ndarray
    variance: np.ndarray  # k x k covariance of observed - expected (weighted)
    statistic: float
    df: int
    p_value: float
    test: str
    scores: np.ndarray | None = None


def _table(time, event, codes, k):
    """Per distinct time: deaths and at-risk counts per group (time ascending)."""
    unique, inverse = np.unique(time, return_inverse=True)
    m = unique.size
    flat = inverse * k + codes
    deaths = np.bincount(flat, weights=event, minlength=m * k).reshape(m, k)
    exits = np.bincount(flat, minlength=m * k).reshape(m, k).astype(float)
    at_risk = exits.sum(0) - np.vstack([np.zeros((1, k)), np.cumsum(exits, 0)[:-1]])
    return unique, deaths, at_risk


def _weights(kind, deaths_total, at_risk_total, p, q):
    if kind == "logrank":
        return np.ones_like(at_risk_total)
    if kind == "wilcoxon":
        return at_risk_total
    if kind == "tarone-ware":
        return np.sqrt(at_risk_total)
    if kind == "peto":
        return np.cumprod(1.0 - deaths_total / (at_risk_total + 1.0))
    if kind == "fleming-harrington":
        with np.errstate(divide="ignore", invalid="ignore"):
            km = np.cumprod(1.0 - deaths_total / at_risk_total)
        left = np.concatenate(([1.0], km[:-1]))  # left-continuous Kaplan-Meier
        return left**p * (1.0 - left) ** q
    raise ValueError(f"unknown weighting {kind!r}; expected one of {WEIGHTINGS}")


def _observed_expected(time, event, codes, k, weighting, p, q):
    _, deaths, at_risk = _table(time, event, codes, k)
    d = deaths.sum(1)
    n = at_risk.sum(1)
    keep = d > 0
    w_all = _weights(weighting, d, n, p, q)
    deaths, at_risk, d, n, w = deaths[keep], at_risk[keep], d[keep], n[keep], w_all[keep]
    share = at_risk / n[:, None]
    observed = (w[:, None] * deaths).sum(0)
    expected = (w[:, None] * d[:, None] * share).sum(0)
    with np.errstate(divide="ignore", invalid="ignore"):
        factor = np.where(n > 1, (n - d) / (n - 1), 1.0) * d
    a = (w**2 * factor)[:, None] * share
    variance = np.diag(a.sum(0)) - (a.T @ share)
    return observed, expected, variance


def logrank_test(
    time: np.ndarray,
    event: np.ndarray,
    groups: np.ndarray,
    strata: np.ndarray | None = None,
    weighting: str = "logrank",
    trend_scores: np.ndarray | None = None,
    p: float = 1.0,
    q: float = 0.0,
) -> LogrankResult:
    """k-sample log-rank test, optionally stratified, weighted, or for trend.

    Parameters
    ----------
    time, event
        Follow-up times and 0/1 events.
    groups
        Integer group codes ``0..k-1`` per patient.
    strata
        Optional integer stratum codes: observed, expected and variance are summed over
        strata (R ``survdiff(... + strata(s))``).
    weighting
        One of :data:`WEIGHTINGS`; ``"fleming-harrington"`` uses ``p`` and ``q``.
    trend_scores
        One score per group (``k`` values, for example 1..k for ordered groups): the
        1-degree-of-freedom test for trend ``(s'(O-E))^2 / s'Vs``.

    Returns
    -------
    LogrankResult
    """
    time = np.asarray(time, dtype=float)
    event = np.asarray(event, dtype=float)
    codes = np.asarray(groups, dtype=np.int64)
    k = int(codes.max()) + 1 if codes.size else 0
    if k < 2:
        raise ValueError("the log-rank test needs at least two groups")
    observed = np.zeros(k)
    expected = np.zeros(k)
    variance = np.zeros((k, k))
    if strata is None:
        observed, expected, variance = _observed_expected(time, event, codes, k, weighting, p, q)
    else:
        strata = np.asarray(strata)
        for s in np.unique(strata):
            inside = strata == s
            o, e, v = _observed_expected(time[inside], event[inside], codes[inside], k,
                                         weighting, p, q)
            observed += o
            expected += e
            variance += v
    diff = observed - expected
    if trend_scores is not None:
        scores = np.asarray(trend_scores, dtype=float)
        num = float(scores @ diff)
        den = float(scores @ variance @ scores)
        statistic = num**2 / den if den > 0 else float("nan")
        df = 1
        test = "trend"
    else:
        scores = None
        sub = np.arange(k - 1)  # the last group is implied (O - E sums to zero)
        statistic = float(diff[sub] @ np.linalg.pinv(variance[np.ix_(sub, sub)]) @ diff[sub])
        df = k - 1
        test = "k-sample"
    p_value = float(stats.chi2.sf(statistic, df)) if df > 0 and np.isfinite(statistic) else float("nan")
    n = np.bincount(codes, minlength=k)
    return LogrankResult(
        groups=np.arange(k), n=n, observed=observed, expected=expected, variance=variance,
        statistic=float(statistic), df=df, p_value=p_value, test=test, scores=scores,
    )


def concordance_index(
    time: np.ndarray,
    event: np.ndarray,
    risk: np.ndarray,
    present: np.ndarray | None = None,
    chunk_size: int = 8192,
    n_threads: int | None = None,
    *,
    strata: np.ndarray | None = None,
) -> np.ndarray | float:
    """Harrell's C-index of risk scores, for many scores at once.

    A pair is comparable when the patient with the shorter time had the event (a patient
    censored at the same time as an event counts as surviving longer; two events at the
    same time are not comparable). It is concordant when that patient has the higher risk;
    tied risks count one half. This is lifelines' ``concordance_index(time, -risk, event)``.

    Patients are swept from the longest time to the shortest while, for every score, a
    bit set of the risk ranks seen so far grows; an event's concordant pairs are the bits
    below its rank, counted with popcounts. The sweep order is the same for every score,
    so each step is one vectorised operation over the scores (about ``n**2 / 64`` word
    operations per score). Scores without missing values or tied risks take a shorter
    path (one sort per score gives the ranks); the others count tied pairs as well.

    Parameters
    ----------
    time, event
        Times and 0/1 events (n patients).
    risk
        ``(n,)`` or ``(n, p)``: higher = shorter expected survival. NaN = not available.
    present
        Optional ``(n, p)`` mask: patients left out of a column's comparisons.
    chunk_size
        Scores swept together.
    n_threads
        Chunks of scores swept at the same time (default: the number of processors);
        the result does not depend on it.
    strata
        Optional stratum code per patient (a stratified Cox model): only pairs within a
        stratum are compared, and the concordant and comparable pairs of all strata are
        added up before the ratio is taken (as R ``survival``'s ``concordance`` of a
        ``coxph`` fit with ``strata()``).

    Returns
    -------
    numpy.ndarray of shape ``(p,)`` (a float for a 1-D ``risk``); NaN where a column has
    no comparable pair.
    """
    time = np.asarray(time, dtype=float)
    event = np.asarray(event, dtype=bool)
    risk = np.asarray(risk, dtype=float)
    one = risk.ndim == 1
    if one:
        risk = risk[:, None]
    n, p = risk.shape
    if present is not None:
        risk = np.where(np.asarray(present, dtype=bool), risk, np.nan)
    if strata is None:
        groups = [np.arange(n)]
    else:
        strata = np.asarray(strata)
        if strata.shape != (n,):
            raise ValueError(f"strata must hold one code per patient ({n}), found {strata.shape}")
        _, codes = np.unique(strata, return_inverse=True)
        codes = codes.ravel()
        order = np.argsort(codes, kind="stable")
        groups = np.split(order, np.flatnonzero(np.diff(codes[order])) + 1)
    numerator = np.zeros(p)
    pairs = np.zeros(p)
    for rows in groups:
        whole = rows.size == n
        part = _concordance_parts(time if whole else time[rows], event if whole else event[rows],
                                  risk if whole else risk[rows], chunk_size, n_threads)
        numerator += part[0]
        pairs += part[1]
    with np.errstate(invalid="ignore", divide="ignore"):
        out = np.where(pairs > 0, numerator / pairs, np.nan)
    return float(out[0]) if one else out


def _concordance_parts(time, event, risk, chunk_size, n_threads) -> tuple[np.ndarray, np.ndarray]:
    """Concordant pairs (tied risks counted one half) and comparable pairs of each column
    of ``risk`` (patients x scores)."""
    n, p = risk.shape
    if n < 2:
        return np.zeros(p), np.zeros(p)
    if p == 1 and not np.isnan(risk).any():
        # one complete score: comparing blocks of pairs is faster than the bit-set sweep
        from .concordance import concordance_counts

        counts = concordance_counts(time, event, risk[:, 0])
        return (np.array([counts["concordant"] + 0.5 * counts["tied_risk"]], dtype=float),
                np.array([counts["comparable"]], dtype=float))
    # comparable pair (i event, j)  <=>  key_j > key_i
    _, time_rank = np.unique(time, return_inverse=True)
    key = 2 * time_rank + (~event).astype(np.int64)
    order = np.argsort(-key, kind="stable")  # decreasing key: longest follow-up first
    key, ev = key[order], event[order]
    # steps: runs of equal keys (their events are queried before any of them is inserted)
    run_start = np.r_[0, np.flatnonzero(np.diff(key)) + 1]
    run_stop = np.r_[run_start[1:], n]
    words = (n + 63) // 64
    # below[r]: bit set of the ranks < r
    below = np.zeros((n + 2, words), dtype=np.uint64)
    bits = np.zeros((n + 1, words), dtype=np.uint64)
    ranks = np.arange(n)
    bits[ranks, ranks // 64] = np.left_shift(np.uint64(1), (ranks % 64).astype(np.uint64))
    below[1:n + 1] = np.bitwise_or.accumulate(bits[:n], axis=0)
    below[n + 1] = below[n]
    sweep = (order, ev, run_start, run_stop, bits, below)
    numerator = np.empty(p)
    pairs = np.empty(p)

    def task(start: int, stop: int) -> None:
        numerator[start:stop], pairs[start:stop] = _concordance_scores(risk[:, start:stop],
                                                                       sweep)

    n_threads = max(1, int(n_threads or os.cpu_count() or 1))
    chunk_size = int(min(chunk_size, max(64, -(-p // n_threads))))
    _run([lambda a=start: task(a, min(a + chunk_size, p)) for start in range(0, p, chunk_size)],
         n_threads)
    return numerator, pairs


#: Scores ranked at a time (the arrays of a block stay in the processor's cache).
_RANK_BLOCK = 128
#: Scores copied out of the patients x scores matrix at a time.
_SLAB = 1024
_ONE_BIT = np.left_shift(np.uint64(1), np.arange(64, dtype=np.uint64))
_SIGN_FLIP = np.int64(0x7FFFFFFFFFFFFFFF)


def _concordance_scores(risk: np.ndarray, sweep) -> np.ndarray:
    """Concordant (ties one half) and comparable pairs of each column of ``risk``
    (patients in their original order).

    Each score's ranks come from one integer sort: the value's bits, ordered as the
    values, with the low bits replaced by the patient's sweep position. Two values that
    share the remaining high bits (a tie, or a difference in the last few bits) send the
    score to the path that counts tied pairs, which compares the values themselves; so do
    missing values.
    """
    order, ev, run_start, run_stop, bits, below = sweep
    n, c = risk.shape
    position = np.empty(n, dtype=np.int64)
    position[order] = np.arange(n)
    low_bits = max(1, int(n - 1).bit_length())
    low = np.int64((1 << low_bits) - 1)
    rank_type = np.int16 if n < 2**15 else np.int64
    steps = np.arange(n, dtype=rank_type)
    rank = np.empty((n, c), dtype=rank_type)  # rank of each patient (sweep order) per score
    plain = np.empty(c, dtype=bool)
    slab = np.empty((min(c, _SLAB), n))
    for first in range(0, c, _SLAB):
        # scores x patients, copied a few patients at a time (reading whole rows)
        width_slab = min(_SLAB, c - first)
        source = risk[:, first:first + width_slab]
        for row in range(0, n, 8):
            slab[:width_slab, row:row + 8] = source[row:row + 8].T
        for begin in range(0, width_slab, _RANK_BLOCK):
            keys = slab[begin:min(begin + _RANK_BLOCK, width_slab)]
            width = keys.shape[0]
            at = slice(first + begin, first + begin + width)
            plain[at] = ~np.isnan(keys.sum(1))
            keys += 0.0  # -0.0 -> +0.0
            keys = keys.view(np.int64)
            flip = keys >> 63  # negative values: reverse the order of their bits
            flip &= _SIGN_FLIP
            keys ^= flip
            keys &= ~low
            keys |= position
            keys.sort(axis=1)
            flip = keys[:, 1:] ^ keys[:, :-1]  # neighbours that share their high bits
            plain[at] &= ~(flip.view(np.uint64) <= np.uint64(low)).any(1)  # as unsigned: across zero the sign bit differs
            keys &= low  # sweep positions by increasing risk
            keys *= width
            keys += np.arange(width)[:, None]
            ranks = np.empty((n, width), dtype=rank_type)
            ranks.ravel()[keys] = steps
            rank[:, at] = ranks
    numerator = np.empty(c)
    pairs = np.empty(c)
    if plain.all():
        return _concordance_plain(rank, ev, run_start, below)
    if plain.any():
        numerator[plain], pairs[plain] = _concordance_plain(
            np.ascontiguousarray(rank[:, plain]), ev, run_start, below)
    other = ~plain
    values = np.ascontiguousarray(risk[order][:, other].T)
    numerator[other], pairs[other] = _concordance_chunk(values, ev, run_start, run_stop, bits,
                                                        below)
    return numerator, pairs


def _concordance_plain(rank, ev, run_start, below) -> np.ndarray:
    """Concordant and comparable pairs of scores without missing values or ties, from
    their ranks.

    ``rank`` (patients in sweep order x scores): the rank of each patient's risk.
    """
    n, c = rank.shape
    words = below.shape[1]
    offset = np.arange(c) * words
    seen = np.zeros(c * words, dtype=np.uint64)  # bit set of the ranks seen, per score
    seen_rows = seen.reshape(c, words)
    mask = np.empty((c, words), dtype=np.uint64)
    # popcounts (at most 64 a word) are added as bytes packed eight to an integer, and
    # moved to wider counters every third event, before a byte can overflow
    lanes = -(-words // 8) * 8
    counted = np.zeros((c, lanes), dtype=np.uint8)
    packed = counted.view(np.uint64)
    total = np.zeros_like(packed)
    less = np.zeros((c, lanes), dtype=np.uint32)
    slot = np.empty(c, dtype=np.intp)
    bit = np.empty(c, dtype=np.uint64)
    pending = 0
    for a, b in zip(run_start, np.r_[run_start[1:], n]):
        for k in range(a, b):
            if ev[k]:  # seen ranks below the event's: concordant pairs
                np.take(below, rank[k], axis=0, out=mask)
                np.bitwise_and(seen_rows, mask, out=mask)
                np.bitwise_count(mask, out=counted[:, :words])
                total += packed
                pending += 1
                if pending == 3:
                    less += total.view(np.uint8)
                    total.fill(0)
                    pending = 0
        for k in range(a, b):
            np.right_shift(rank[k], 6, out=slot, casting="unsafe")
            slot += offset
            np.take(_ONE_BIT, rank[k] & 63, out=bit)
            seen[slot] |= bit
    less += total.view(np.uint8)
    # comparable pairs: each event against the patients of the runs before it
    before = np.repeat(run_start, np.diff(np.r_[run_start, n])).astype(float)
    pairs = float(before[ev].sum())
    return less.sum(1, dtype=np.int64).astype(float), np.full(c, pairs)


def _concordance_chunk(values, ev, run_start, run_stop, bits, below):
    """Concordant (ties one half) and comparable pairs of each row of ``values`` (scores x
    patients in decreasing key order)."""
    c, n = values.shape
    words = bits.shape[1]
    live = ~np.isnan(values)
    # ordinal rank of each patient per score (absent: rank n, an empty bit), and the
    # range of ordinal ranks of its tied values
    order = np.argsort(values, axis=1)
    ordered = np.take_along_axis(values, order, axis=1)
    ordinal = np.empty((c, n), dtype=np.int64)
    np.put_along_axis(ordinal, order, np.broadcast_to(np.arange(n), (c, n)), axis=1)
    new_value = np.ones((c, n), dtype=bool)
    new_value[:, 1:] = ordered[:, 1:] != ordered[:, :-1]
    has_ties = bool((~new_value[:, 1:] & live[:, 1:]).any()) if n > 1 else False
    first = np.where(new_value, np.arange(n), 0)
    np.maximum.accumulate(first, axis=1, out=first)  # min ordinal of each value
    low_sorted = first
    ordinal = np.where(live, ordinal, n)  # bits[n] is empty: absent patients add nothing
    lowest = np.empty_like(ordinal)
    np.put_along_axis(lowest, order, low_sorted, axis=1)
    lowest = np.where(live, lowest, 0)  # below[0] is empty: absent patients count nothing
    if has_ties:
        ends = np.concatenate([new_value[:, 1:], np.ones((c, 1), bool)], axis=1)
        last = np.where(ends, np.arange(n), n)
        last = np.minimum.accumulate(last[:, ::-1], axis=1)[:, ::-1]  # max ordinal
        highest = np.empty_like(ordinal)
        np.put_along_axis(highest, order, last, axis=1)
        highest = np.where(live, highest, -1)
    steps_low = np.ascontiguousarray(lowest.T)  # (n, c), in sweep order
    steps_high = np.ascontiguousarray(highest.T) + 1 if has_ties else None
    word = np.minimum(ordinal // 64, words - 1).T.copy()
    bit = bits[ordinal, np.minimum(ordinal // 64, words - 1)].T.copy()  # 0 for absent
    seen = np.zeros((c, words), dtype=np.uint64)
    less = np.zeros((c, words), dtype=np.uint32)
    less_equal = np.zeros((c, words), dtype=np.uint32) if has_ties else None
    both = np.empty((c, words), dtype=np.uint64)
    counted = np.empty((c, words), dtype=np.uint8)
    cols = np.arange(c)
    for a, b in zip(run_start, run_stop):
        for k in range(a, b):
            if ev[k]:
                np.bitwise_and(seen, below[steps_low[k]], out=both)
                np.bitwise_count(both, out=counted)
                less += counted
                if has_ties:
                    np.bitwise_and(seen, below[steps_high[k]], out=both)
                    np.bitwise_count(both, out=counted)
                    less_equal += counted
        for k in range(a, b):
            seen[cols, word[k]] |= bit[k]
    # comparable pairs: each event with a value against those with a value in earlier runs
    live_t = live.T
    if live.all():
        before = np.repeat(run_start, run_stop - run_start).astype(float)
        pairs = np.full(c, float(before[ev].sum()))
    else:
        cum = np.cumsum(live_t, axis=0) - live_t  # live patients before each position
        starts = np.repeat(run_start, run_stop - run_start)
        pairs = (cum[starts] * (live_t & ev[:, None])).sum(0).astype(float)
    strictly_less = less.sum(1, dtype=np.int64)
    less_or_equal = less_equal.sum(1, dtype=np.int64) if has_ties else strictly_less
    return 0.5 * (strictly_less + less_or_equal).astype(float), pairs
