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

from ._chunk import _Chunk, _structure, _to_blocks
from ._design import (
    _BLOCK_ROWS,
    _CACHE_ELEMENTS,
    _CHUNK_FEATURES,
    _EXP_SAFE,
    _TIES,
    STATUS,
    CoxBatch,
    SurvivalDesign,
    _moment_pairs,
    prepare_survival,
)
from .fit import (
    _SEPARATION_BOUND,
    _fit_chunk,
    _newton,
    _one_blas_thread,
    _record,
    _solve,
    _standardise,
    _subset,
    cox_batch,
)
from .zph import ZPH_TRANSFORMS, _zph_time, cox_zph, schoenfeld_test

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


_PRIVATE = (
    _BLOCK_ROWS,
    _CACHE_ELEMENTS,
    _CHUNK_FEATURES,
    _EXP_SAFE,
    _TIES,
    _SEPARATION_BOUND,
    _Chunk,
    _structure,
    _to_blocks,
    _moment_pairs,
    _fit_chunk,
    _newton,
    _one_blas_thread,
    _record,
    _solve,
    _standardise,
    _subset,
    _zph_time,
)
