"""Cox models: the survival design (patients sorted by stratum and time), the result
of a batch of fits and their status codes."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

__all__ = ["STATUS", "CoxBatch", "SurvivalDesign", "prepare_survival"]

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
        order=order,
        time=t,
        event=e,
        n=n,
        group_end=group_end,
        group_base=group_base,
        event_rows=event_rows,
        event_group=event_group,
        group_size=group_size,
        tied_groups=np.flatnonzero(group_size > 1),
        strata=None if strata is None else s,
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
