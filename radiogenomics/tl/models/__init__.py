"""Predictive models with honest validation: diagnosis, mutation status, treatment
response and survival from imaging, molecular and clinical features.

>>> import radiogenomics as rg
>>> model = rg.tl.fit_model(mdata, target="egfr_mutant", features="radiomics",
...                         n_permutations=100)                        # doctest: +SKIP
>>> model.summary(); model.save("egfr_model")                          # doctest: +SKIP
>>> rg.tl.predict(rg.tl.load_model("egfr_model"), new_cohort)          # doctest: +SKIP
"""

from .api import (
    MODEL_KINDS,
    ModelComparison,
    compare_models,
    fit_model,
    predict,
    run_model,
    store_model,
)
from .design import FeatureSet, Target, assemble, parse_features, parse_target
from .estimators import MODELS, SELECTIONS, build_pipeline
from .fitted import FittedModel, load_model
from .transformers import (
    CorrelationFilter,
    Harmonizer,
    LassoPathSelector,
    MissingValueImputer,
    MRMRSelector,
    StabilitySelector,
    UnivariateSelector,
    VarianceFilter,
)
from .validation import nested_cross_validation, performance, permutation_test

__all__ = [
    "MODELS",
    "MODEL_KINDS",
    "SELECTIONS",
    "CorrelationFilter",
    "FeatureSet",
    "FittedModel",
    "Harmonizer",
    "LassoPathSelector",
    "MRMRSelector",
    "MissingValueImputer",
    "ModelComparison",
    "StabilitySelector",
    "Target",
    "UnivariateSelector",
    "VarianceFilter",
    "assemble",
    "build_pipeline",
    "compare_models",
    "fit_model",
    "load_model",
    "nested_cross_validation",
    "parse_features",
    "parse_target",
    "performance",
    "permutation_test",
    "predict",
    "run_model",
    "store_model",
]
