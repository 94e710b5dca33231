"""Radiomic feature extraction with pyradiomics over an image manifest.

``features(manifest, params, n_jobs, cache_dir, client)`` runs pyradiomics on every row of
an image manifest, in local worker processes or on a Dask cluster, with a resumable
per-case cache, and records the cases that fail instead of stopping. ``ibsi_check()``
runs the same extraction on the IBSI 1 digital phantom against the consensus values.
"""

from .cache import CaseCache, fingerprint
from .case import STAGES, CaseResult, check_geometry, extract_case, read_image
from .ibsi import IBSI_FEATURES, ibsi_check, ibsi_provenance, ibsi_summary, ibsi_tag, ibsi_tags
from .run import FAILURE_COLUMNS, failures_table, features, summary
from .settings import (
    IMAGE_TYPES,
    PRESET_DESCRIPTIONS,
    PRESETS,
    params_hash,
    resolve_params,
    validate_params,
)

__all__ = [
    "FAILURE_COLUMNS",
    "IBSI_FEATURES",
    "IMAGE_TYPES",
    "PRESETS",
    "PRESET_DESCRIPTIONS",
    "STAGES",
    "CaseCache",
    "CaseResult",
    "check_geometry",
    "extract_case",
    "failures_table",
    "features",
    "fingerprint",
    "ibsi_check",
    "ibsi_provenance",
    "ibsi_summary",
    "ibsi_tag",
    "ibsi_tags",
    "params_hash",
    "read_image",
    "resolve_params",
    "summary",
    "validate_params",
]
from .robustness import perturbed_manifest as perturbed_manifest
from .robustness import robustness as robustness
from .segment import segment as segment
from .timepoints import features_by_timepoint as features_by_timepoint
