"""The model pipelines: preprocessing steps, a selection step and a learner, with the
small hyper-parameter grids tuned by the inner cross-validation.

Learners by task (``model=``):

============== ======================== ============================== ===========================
name           classification           regression                     survival
============== ======================== ============================== ===========================
penalized      ridge logistic           elastic net                    elastic-net Cox (Coxnet)
logistic       ridge logistic           -                              -
elastic_net    elastic-net logistic     elastic net                    elastic-net Cox
cox            -                        -                              elastic-net Cox
random_forest  random forest            random forest                  random survival forest
gradient_...   gradient boosting        gradient boosting              Cox gradient boosting
============== ======================== ============================== ===========================
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
from sklearn.base import BaseEstimator, clone
from sklearn.ensemble import (
    GradientBoostingClassifier,
    GradientBoostingRegressor,
    RandomForestClassifier,
    RandomForestRegressor,
)
from sklearn.linear_model import ElasticNet
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from ...errors import InputError
from .linear import logistic
from .transformers import (
    SELECTORS,
    CorrelationFilter,
    Harmonizer,
    MissingValueImputer,
    VarianceFilter,
)

__all__ = [
    "MODELS",
    "SELECTIONS",
    "logistic",
    "make_learner",
    "build_pipeline",
    "learner_name",
    "is_linear",
]

#: Learner names accepted by ``model=`` for each task.
MODELS = {
    "classification": (
        "penalized",
        "logistic",
        "elastic_net",
        "random_forest",
        "gradient_boosting",
    ),
    "regression": ("penalized", "elastic_net", "random_forest", "gradient_boosting"),
    "survival": ("penalized", "cox", "elastic_net", "random_forest", "gradient_boosting"),
}
#: Selection names accepted by ``selection=`` (``None`` keeps every feature).
SELECTIONS = tuple(SELECTORS)


def learner_name(task: str, model: str) -> str:
    """The canonical learner name for a task (``"penalized"`` -> ``"logistic"``...)."""
    if model not in MODELS[task]:
        raise InputError(
            f"unknown model {model!r} for {task}", expected=f"one of {MODELS[task]}", found=model
        )
    if model == "penalized":
        return {"classification": "logistic", "regression": "elastic_net", "survival": "cox"}[task]
    if task == "survival" and model == "elastic_net":
        return "cox"
    return model


def make_learner(
    task: str, model: str, random_state: int | None = 0
) -> tuple[BaseEstimator, dict[str, list]]:
    """A learner and its small default grid of hyper-parameters."""
    name = learner_name(task, model)
    if task == "classification":
        if name == "logistic":
            return logistic(C=1.0), {"C": [0.05, 0.5, 5.0]}
        if name == "elastic_net":
            return logistic(C=1.0, l1_ratio=0.5), {"C": [0.1, 1.0, 10.0]}
        if name == "random_forest":
            return (
                RandomForestClassifier(
                    n_estimators=300, min_samples_leaf=3, random_state=random_state
                ),
                {"min_samples_leaf": [2, 8]},
            )
        return (
            GradientBoostingClassifier(
                n_estimators=100,
                max_depth=2,
                learning_rate=0.05,
                subsample=0.8,
                random_state=random_state,
            ),
            {"learning_rate": [0.03, 0.1]},
        )
    if task == "regression":
        if name == "elastic_net":
            return ElasticNet(alpha=0.1, l1_ratio=0.5, max_iter=10000), {"alpha": [0.01, 0.1, 1.0]}
        if name == "random_forest":
            return (
                RandomForestRegressor(
                    n_estimators=300, min_samples_leaf=3, random_state=random_state
                ),
                {"min_samples_leaf": [2, 8]},
            )
        return (
            GradientBoostingRegressor(
                n_estimators=100,
                max_depth=2,
                learning_rate=0.05,
                subsample=0.8,
                random_state=random_state,
            ),
            {"learning_rate": [0.03, 0.1]},
        )
    from sksurv.ensemble import GradientBoostingSurvivalAnalysis, RandomSurvivalForest
    from sksurv.linear_model import CoxnetSurvivalAnalysis

    if name == "cox":
        return (
            CoxnetSurvivalAnalysis(
                l1_ratio=0.5, alphas=[0.1], max_iter=100000, fit_baseline_model=True
            ),
            {"alphas": [[0.3], [0.1], [0.03]]},
        )
    if name == "random_forest":
        return (
            RandomSurvivalForest(
                n_estimators=200, min_samples_leaf=8, max_features="sqrt", random_state=random_state
            ),
            {"min_samples_leaf": [5, 15]},
        )
    return (
        GradientBoostingSurvivalAnalysis(
            n_estimators=100,
            max_depth=2,
            learning_rate=0.05,
            subsample=0.8,
            random_state=random_state,
        ),
        {"learning_rate": [0.03, 0.1]},
    )


def is_linear(estimator) -> bool:
    """Whether the learner has one coefficient per feature (``coef_``)."""
    return hasattr(estimator, "coef_")


def build_pipeline(
    task: str,
    model: str | BaseEstimator = "penalized",
    selection: str | BaseEstimator | None = "univariate",
    n_features: int | Sequence[int] = (5, 10, 20),
    *,
    batch: str | None = None,
    harmonize_prefixes: Sequence[str] = ("radiomics:",),
    max_missing: float = 0.5,
    redundancy: float | None = None,
    param_grid: Mapping[str, Sequence] | None = None,
    random_state: int | None = 0,
) -> tuple[Pipeline, dict[str, list]]:
    """The model pipeline and the grid its inner cross-validation tunes.

    The first steps pass tables (column names, the batch column); from ``variance`` on,
    plain arrays (names follow through ``get_feature_names_out``). Steps (each fitted on
    the training patients only): ``impute`` (drop features with too
    many missing values, fill the rest with medians), ``harmonize`` (ComBat by ``batch``,
    then the batch column is dropped), ``variance`` (drop constant features), optionally
    ``redundancy`` (drop features correlated beyond the threshold), ``scale``
    (standardise), ``select`` and ``model``.

    Parameters
    ----------
    task
        ``"classification"``, ``"regression"`` or ``"survival"``.
    model
        A learner name (see the module docstring) or a scikit-learn estimator.
    selection
        ``"univariate"``, ``"lasso"``, ``"elastic_net"``, ``"mrmr"``, ``"stability"``, a
        selector, or ``None``.
    n_features
        Features kept by the selection; several values are tuned.
    batch
        Input column holding the batch (``"batch:<obs column>"``) to harmonise by.
    param_grid
        Grid for the learner (names without the ``model__`` prefix) replacing the default;
        ``{}`` tunes nothing.

    Returns
    -------
    (pipeline, grid)
        The grid uses pipeline parameter names (``model__C``, ``select__k``).
    """
    if isinstance(model, str):
        learner, grid = make_learner(task, model, random_state)
    else:
        learner, grid = clone(model), {}
    if param_grid is not None:
        grid = dict(param_grid)
    steps = [
        ("impute", MissingValueImputer(max_missing=max_missing)),
        ("harmonize", Harmonizer(batch=batch, prefixes=tuple(harmonize_prefixes))),
        ("variance", VarianceFilter()),
    ]
    if redundancy is not None:
        steps.append(("redundancy", CorrelationFilter(threshold=redundancy)))
    steps.append(("scale", StandardScaler()))
    full_grid = {f"model__{k}": list(v) for k, v in grid.items()}
    sizes = [int(n_features)] if np.isscalar(n_features) else [int(k) for k in n_features]
    if selection is not None and (not sizes or min(sizes) < 1):
        raise InputError(
            "the number of features to keep must be at least 1",
            expected="integers of 1 or more for n_features, e.g. 5,10,20",
            found=list(sizes),
        )
    if selection is not None:
        if isinstance(selection, str):
            if selection not in SELECTORS:
                raise InputError(
                    f"unknown selection {selection!r}",
                    expected=f"one of {SELECTIONS} or None",
                    found=selection,
                )
            selector = SELECTORS[selection](k=sizes[0])
            if selection == "stability":
                selector.set_params(random_state=random_state)
        else:
            selector = clone(selection)
        steps.append(("select", selector))
        if len(sizes) > 1 and "k" in selector.get_params():
            full_grid["select__k"] = sizes
    steps.append(("model", learner))
    return Pipeline(steps), full_grid
