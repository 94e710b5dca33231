"""Preprocessing of a modality of the cohort (QC, transforms, harmonisation, redundancy)."""

from .harmonize import batch_separation, harmonize
from .qc import filter_features
from .redundancy import feature_correlation, remove_redundant
from .robustness import perturb_masks, perturbation_features, robust_features
from .transform import apply_preprocessing, scale, transform

__all__ = [
    "apply_preprocessing",
    "batch_separation",
    "feature_correlation",
    "filter_features",
    "harmonize",
    "perturb_masks",
    "perturbation_features",
    "remove_redundant",
    "robust_features",
    "scale",
    "transform",
]
