"""Harrell's concordance index: the one kernel, with two paths of the same count.

:func:`concordance_counts` compares the pairs of one score as whole blocks, chunked over
patients so that memory stays bounded; :func:`concordance_index` sweeps many scores at
once with bit sets (and takes the block path for one complete score). A higher risk
score means an earlier event. numpy only; lifelines, scikit-survival and R ``survival``
are the references. The time-dependent AUC and the censoring distribution are in
:mod:`radiogenomics.stats.td_auc` (also importable from here).
"""

from __future__ import annotations

import os

import numpy as np

from .._compat import renamed
from ._parallel import run as _run
from .kaplan_meier import checked_survival as _survival
from .td_auc import censoring_survival, cumulative_dynamic_auc

__all__ = [
    "concordance_counts",
    "concordance_index",
    "censoring_survival",
    "cumulative_dynamic_auc",
]

_CHUNK = 1024


def concordance_counts(
    time, event, risk, tied_tol: float = 0.0, *, strata=None
) -> dict[str, float]:
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
        i = cases[start : start + _CHUNK]
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
    return {
        "concordance": float(c),
        "concordant": concordant,
        "discordant": discordant,
        "tied_risk": tied,
        "comparable": comparable,
    }


@renamed(n_threads="n_jobs")
def concordance_index(
    time: np.ndarray,
    event: np.ndarray,
    risk: np.ndarray,
    present: np.ndarray | None = None,
    chunk_size: int = 8192,
    n_jobs: int | None = None,
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
    n_jobs
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
        part = _concordance_parts(
            time if whole else time[rows],
            event if whole else event[rows],
            risk if whole else risk[rows],
            chunk_size,
            n_jobs,
        )
        numerator += part[0]
        pairs += part[1]
    with np.errstate(invalid="ignore", divide="ignore"):
        out = np.where(pairs > 0, numerator / pairs, np.nan)
    return float(out[0]) if one else out


def _concordance_parts(time, event, risk, chunk_size, n_jobs) -> tuple[np.ndarray, np.ndarray]:
    """Concordant pairs (tied risks counted one half) and comparable pairs of each column
    of ``risk`` (patients x scores)."""
    n, p = risk.shape
    if n < 2:
        return np.zeros(p), np.zeros(p)
    if p == 1 and not np.isnan(risk).any():
        # one complete score: comparing blocks of pairs is faster than the bit-set sweep
        counts = concordance_counts(time, event, risk[:, 0])
        return (
            np.array([counts["concordant"] + 0.5 * counts["tied_risk"]], dtype=float),
            np.array([counts["comparable"]], dtype=float),
        )
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
    below[1 : n + 1] = np.bitwise_or.accumulate(bits[:n], axis=0)
    below[n + 1] = below[n]
    sweep = (order, ev, run_start, run_stop, bits, below)
    numerator = np.empty(p)
    pairs = np.empty(p)

    def task(start: int, stop: int) -> None:
        numerator[start:stop], pairs[start:stop] = _concordance_scores(risk[:, start:stop], sweep)

    n_jobs = max(1, int(n_jobs or os.cpu_count() or 1))
    chunk_size = int(min(chunk_size, max(64, -(-p // n_jobs))))
    _run(
        [lambda a=start: task(a, min(a + chunk_size, p)) for start in range(0, p, chunk_size)],
        n_jobs,
    )
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
        source = risk[:, first : first + width_slab]
        for row in range(0, n, 8):
            slab[:width_slab, row : row + 8] = source[row : row + 8].T
        for begin in range(0, width_slab, _RANK_BLOCK):
            keys = slab[begin : min(begin + _RANK_BLOCK, width_slab)]
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
            plain[at] &= ~(flip.view(np.uint64) <= np.uint64(low)).any(
                1
            )  # as unsigned: across zero the sign bit differs
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
            np.ascontiguousarray(rank[:, plain]), ev, run_start, below
        )
    other = ~plain
    values = np.ascontiguousarray(risk[order][:, other].T)
    numerator[other], pairs[other] = _concordance_chunk(
        values, ev, run_start, run_stop, bits, below
    )
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
