"""Honest validation: repeated nested cross-validation, the permutation test of the whole
pipeline, and permutation importance of the features each fold's model uses. The
performance measures (metrics with bootstrap confidence intervals, curves with confidence
bands) are in :mod:`.performance` and re-exported here.

Every preprocessing, selection and tuning step is refitted inside each outer training
fold (the inner cross-validation tunes the hyper-parameters on the outer training fold
only), so held-out patients never inform the model that predicts them.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from joblib import Parallel, delayed
from sklearn.base import clone
from sklearn.model_selection import KFold, ParameterGrid, StratifiedKFold

from ...stats.resampling import permutation_p_value
from .estimators import is_linear
from .performance import (
    PRIMARY_METRIC,
    bootstrap_replicates,
    curves,
    default_times,
    metric_functions,
    performance,
)

__all__ = [
    "CVResult",
    "EventStratifiedKFold",
    "outer_splits",
    "TunedPipeline",
    "tuned",
    "predict_scores",
    "used_features",
    "nested_cross_validation",
    "metric_functions",
    "PRIMARY_METRIC",
    "performance",
    "bootstrap_replicates",
    "default_times",
    "curves",
    "permutation_test",
]


class EventStratifiedKFold:
    """K-fold split stratified on the event indicator of a survival target (or on the
    class of a binary one), so that every fold holds events."""

    def __init__(self, n_splits: int = 5, shuffle: bool = True, random_state=None):
        self.n_splits = n_splits
        self.shuffle = shuffle
        self.random_state = random_state

    def _strata(self, y):
        y = np.asarray(y)
        if y.dtype.names and "event" in y.dtype.names:
            return y["event"].astype(int)
        return y.astype(int)

    def split(self, X, y, groups=None):
        inner = StratifiedKFold(self.n_splits, shuffle=self.shuffle, random_state=self.random_state)
        yield from inner.split(np.zeros(len(y)), self._strata(y))

    def get_n_splits(self, X=None, y=None, groups=None):
        return self.n_splits


def _splitter(task: str, n_splits: int, random_state):
    if task == "regression":
        return KFold(n_splits, shuffle=True, random_state=random_state)
    return EventStratifiedKFold(n_splits, shuffle=True, random_state=random_state)


def outer_splits(
    y, task: str, n_splits: int, n_repeats: int, random_state: int | None
) -> list[tuple[int, int, np.ndarray, np.ndarray]]:
    """``(repeat, fold, train, test)`` of repeated (stratified) K-fold cross-validation."""
    rng = np.random.default_rng(random_state)
    out = []
    for repeat in range(n_repeats):
        seed = int(rng.integers(0, 2**31 - 1))
        for fold, (train, test) in enumerate(
            _splitter(task, n_splits, seed).split(np.zeros(len(y)), y)
        ):
            out.append((repeat, fold, train, test))
    return out


class TunedPipeline:
    """A pipeline whose hyper-parameters are chosen by an inner cross-validation on the
    data it is fitted to (what ``GridSearchCV`` does), scored with the library's metric
    kernels. Within an inner split each step is fitted once per distinct setting of the
    steps up to it, so untuned preprocessing is fitted once, and a selection once per
    size, whatever the size of the learner's grid.

    Attributes (after ``fit``)
    --------------------------
    best_params_
        The grid point with the best mean inner-fold score (the first on ties).
    best_estimator_
        The pipeline with those parameters refitted on all the data.
    cv_results_
        DataFrame: one row per grid point, ``params``, ``mean_score``, ``std_score``.
    """

    def __init__(
        self,
        pipeline,
        grid: Mapping[str, Sequence],
        task: str,
        inner_folds: int = 3,
        random_state: int | None = 0,
    ):
        self.pipeline = pipeline
        self.grid = grid
        self.task = task
        self.inner_folds = inner_folds
        self.random_state = random_state

    def _score(
        self, steps, X_train, y_train, X_valid, y_valid, points, members, scores, fold
    ) -> None:
        name, estimator = steps[0]
        prefix = f"{name}__"
        groups: dict[tuple, list[int]] = {}
        for i in members:
            key = tuple(sorted((k, repr(v)) for k, v in points[i].items() if k.startswith(prefix)))
            groups.setdefault(key, []).append(i)
        for group in groups.values():
            params = {
                k[len(prefix) :]: v for k, v in points[group[0]].items() if k.startswith(prefix)
            }
            step = clone(estimator).set_params(**params)
            try:
                if len(steps) == 1:
                    step.fit(X_train, y_train)
                    scores[group, fold] = _primary(
                        self.task, y_valid, predict_scores(step, X_valid, self.task)
                    )
                    continue
                next_train = step.fit_transform(X_train, y_train)
                next_valid = step.transform(X_valid)
            except (ValueError, ArithmeticError, np.linalg.LinAlgError):
                continue  # this setting fails on this split: it scores NaN here
            self._score(
                steps[1:], next_train, y_train, next_valid, y_valid, points, group, scores, fold
            )

    def fit(self, X, y):
        points = list(ParameterGrid({k: list(v) for k, v in self.grid.items()}))
        scores = np.full((len(points), self.inner_folds), np.nan)
        splitter = _splitter(self.task, self.inner_folds, self.random_state)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            for fold, (train, valid) in enumerate(splitter.split(np.zeros(len(y)), y)):
                self._score(
                    list(self.pipeline.steps),
                    X.iloc[train],
                    y[train],
                    X.iloc[valid],
                    y[valid],
                    points,
                    list(range(len(points))),
                    scores,
                    fold,
                )
            mean = np.nanmean(scores, axis=1)
        mean = np.where(np.isnan(mean), -np.inf, mean)
        best = int(np.argmax(mean))
        self.best_params_ = points[best]
        self.cv_results_ = pd.DataFrame(
            {"params": points, "mean_score": mean, "std_score": np.nanstd(scores, axis=1)}
        )
        self.best_estimator_ = clone(self.pipeline).set_params(**self.best_params_).fit(X, y)
        return self

    def predict(self, X):
        return self.best_estimator_.predict(X)

    def predict_proba(self, X):
        return self.best_estimator_.predict_proba(X)


def tuned(
    pipeline, grid: Mapping[str, Sequence], task: str, inner_folds: int, random_state: int | None
):
    """The pipeline with its hyper-parameters tuned by an inner cross-validation
    (:class:`TunedPipeline`), or the pipeline itself when the grid has a single point."""
    grid = {k: list(v) for k, v in grid.items()}
    fixed = {k: v[0] for k, v in grid.items() if len(v) == 1}
    varying = {k: v for k, v in grid.items() if len(v) > 1}
    estimator = clone(pipeline).set_params(**fixed)
    if not varying:
        return estimator
    return TunedPipeline(estimator, varying, task, inner_folds, random_state)


def final_estimator(fitted):
    """The fitted pipeline inside a fitted :class:`TunedPipeline` (or the pipeline
    itself)."""
    return getattr(fitted, "best_estimator_", fitted)


def predict_scores(estimator, X, task: str) -> np.ndarray:
    """Probability of the positive class (classification), risk score (survival) or
    prediction (regression)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if task == "classification":
            probability = estimator.predict_proba(X)
            classes = list(getattr(estimator, "classes_", [0, 1]))
            return np.asarray(probability[:, classes.index(1)], dtype=float)
        return np.asarray(estimator.predict(X), dtype=float)


def used_features(pipeline) -> pd.DataFrame:
    """The input features a fitted pipeline's learner uses, with its coefficient (linear
    learners; features with a zero coefficient are not used) or its impurity importance
    (tree ensembles)."""
    names = [str(n) for n in pipeline[:-1].get_feature_names_out()]
    learner = pipeline[-1]
    frame = pd.DataFrame({"feature": names})
    if is_linear(learner):
        coef = np.asarray(learner.coef_, dtype=float)
        coef = coef[:, -1] if coef.ndim == 2 and coef.shape[0] == len(names) else coef.ravel()
        frame["coefficient"] = coef
        frame = frame[frame["coefficient"] != 0]
    else:
        try:  # random survival forests have no impurity importance (they raise)
            frame["impurity_importance"] = np.asarray(learner.feature_importances_, float)
        except (AttributeError, NotImplementedError, ValueError):
            pass
    return frame.reset_index(drop=True)


@dataclass
class CVResult:
    """Out-of-fold predictions of a repeated nested cross-validation.

    Attributes
    ----------
    predictions
        ``(n_patients, n_repeats)``: each patient's prediction by the model of the fold
        that held it out, in each repeat.
    folds
        ``(n_patients, n_repeats)`` fold number of each patient.
    fold_results
        One dict per outer fold: ``repeat``, ``fold``, ``n_train``, ``n_test``,
        ``best_params``, ``used`` (features and coefficients, as :func:`used_features`)
        and ``importance`` (feature -> drop in the primary metric when permuted).
    """

    predictions: np.ndarray
    folds: np.ndarray
    fold_results: list[dict] = field(default_factory=list)
    n_splits: int = 5
    n_repeats: int = 1
    inner_folds: int = 3


def _primary(task: str, y, prediction) -> float:
    function = metric_functions(task)[PRIMARY_METRIC[task]]
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        try:
            return float(function(y, prediction))
        except ValueError:
            return np.nan


def _fold_importance(estimator, X_test, y_test, task, columns, n_repeats, seed) -> dict:
    if n_repeats <= 0 or not columns or len(y_test) < 4:
        return {}
    rng = np.random.default_rng(seed)
    base = _primary(task, y_test, predict_scores(estimator, X_test, task))
    out = {}
    for column in columns:
        drops = []
        for _ in range(n_repeats):
            shuffled = X_test.copy()
            shuffled[column] = rng.permutation(shuffled[column].to_numpy())
            drops.append(base - _primary(task, y_test, predict_scores(estimator, shuffled, task)))
        out[column] = float(np.nanmean(drops))
    return out


def _importance_columns(used: pd.DataFrame, limit: int) -> list[str]:
    if "coefficient" in used:
        used = used.reindex(used["coefficient"].abs().sort_values(ascending=False).index)
    elif "impurity_importance" in used:
        used = used.sort_values("impurity_importance", ascending=False)
    return [c for c in used["feature"].head(limit) if not c.startswith("batch:")]


def _fit_fold(
    pipeline,
    grid,
    X,
    y,
    task,
    repeat,
    fold,
    train,
    test,
    inner_folds,
    seed,
    importance_repeats,
    importance_limit,
):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fitted = tuned(pipeline, grid, task, inner_folds, seed).fit(X.iloc[train], y[train])
    best = final_estimator(fitted)
    prediction = predict_scores(best, X.iloc[test], task)
    used = used_features(best)
    importance = {}
    if importance_repeats and repeat == 0:
        importance = _fold_importance(
            best,
            X.iloc[test],
            y[test],
            task,
            _importance_columns(used, importance_limit),
            importance_repeats,
            seed,
        )
    return {
        "repeat": repeat,
        "fold": fold,
        "test": test,
        "prediction": prediction,
        "n_train": int(len(train)),
        "n_test": int(len(test)),
        "best_params": {k: _plain(v) for k, v in getattr(fitted, "best_params_", {}).items()},
        "used": used,
        "importance": importance,
    }


def _plain(value):
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def nested_cross_validation(
    pipeline,
    grid: Mapping[str, Sequence],
    X: pd.DataFrame,
    y,
    task: str,
    *,
    n_splits: int = 5,
    n_repeats: int = 5,
    inner_folds: int = 3,
    random_state: int | None = 0,
    importance_repeats: int = 5,
    importance_limit: int = 30,
    n_jobs: int | None = None,
) -> CVResult:
    """Repeated (stratified) K-fold cross-validation of the whole pipeline, with the
    hyper-parameters tuned by an inner cross-validation inside each outer training fold.

    Permutation importance is computed on the held-out patients of the first repeat's
    folds (each patient once), for the features each fold's model uses (at most
    ``importance_limit``, the largest coefficients or impurity importances first).
    """
    splits = outer_splits(y, task, n_splits, n_repeats, random_state)
    seeds = np.random.default_rng(None if random_state is None else random_state + 1).integers(
        0, 2**31 - 1, size=len(splits)
    )
    results = Parallel(n_jobs=n_jobs)(
        delayed(_fit_fold)(
            pipeline,
            grid,
            X,
            y,
            task,
            repeat,
            fold,
            train,
            test,
            inner_folds,
            int(seed),
            importance_repeats,
            importance_limit,
        )
        for (repeat, fold, train, test), seed in zip(splits, seeds)
    )
    n = len(y)
    predictions = np.full((n, n_repeats), np.nan)
    folds = np.full((n, n_repeats), -1, dtype=np.int64)
    for result in results:
        predictions[result["test"], result["repeat"]] = result["prediction"]
        folds[result["test"], result["repeat"]] = result["fold"]
        del result["test"], result["prediction"]
    return CVResult(
        predictions=predictions,
        folds=folds,
        fold_results=results,
        n_splits=n_splits,
        n_repeats=n_repeats,
        inner_folds=inner_folds,
    )


def _permuted_score(pipeline, grid, X, y, task, n_splits, inner_folds, seed, n_jobs=None):
    rng = np.random.default_rng(seed)
    shuffled = y[rng.permutation(len(y))]
    result = nested_cross_validation(
        pipeline,
        grid,
        X,
        shuffled,
        task,
        n_splits=n_splits,
        n_repeats=1,
        inner_folds=inner_folds,
        random_state=int(rng.integers(0, 2**31 - 1)),
        importance_repeats=0,
        n_jobs=n_jobs,
    )
    return _primary(task, shuffled, result.predictions[:, 0])


def permutation_test(
    pipeline,
    grid: Mapping[str, Sequence],
    X: pd.DataFrame,
    y,
    task: str,
    *,
    observed: float,
    n_permutations: int = 100,
    n_splits: int = 5,
    inner_folds: int = 3,
    random_state: int | None = 0,
    n_jobs: int | None = None,
) -> dict:
    """Permutation test of the whole pipeline: the target is shuffled across patients
    (time and event together for survival), the nested cross-validation is rerun, and the
    observed performance is compared with this null distribution.

    Parameters
    ----------
    observed
        The primary metric (AUC, C-index or R^2) of one repeat of the same
        cross-validation on the real target (pooled out-of-fold predictions).

    Returns
    -------
    dict
        ``metric``, ``observed``, ``null`` (one value per permutation), ``null_mean``,
        ``p_value`` (``(1 + #{null >= observed}) / (1 + n_permutations)``),
        ``n_permutations``.
    """
    seeds = np.random.default_rng(None if random_state is None else random_state + 7).integers(
        0, 2**31 - 1, size=n_permutations
    )
    null = Parallel(n_jobs=n_jobs)(
        delayed(_permuted_score)(pipeline, grid, X, y, task, n_splits, inner_folds, int(s))
        for s in seeds
    )
    null = np.asarray(null, dtype=float)
    return {
        "metric": PRIMARY_METRIC[task],
        "observed": float(observed),
        "null": null.tolist(),
        "null_mean": float(np.nanmean(null)) if null.size else np.nan,
        "p_value": permutation_p_value(observed, null),
        "n_permutations": int(n_permutations),
    }
