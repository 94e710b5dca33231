"""Pipeline steps fitted on the training patients only: missing values, harmonisation,
filtering and feature selection.

Every step is a scikit-learn transformer that keeps column names (``get_feature_names_out``),
so that the features a fitted pipeline finally uses can be traced back to the cohort. Steps
take the ``y`` of their task: 0/1 (classification), numbers (regression) or a structured
``(event, time)`` array (survival).
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.feature_selection import SelectorMixin, f_classif, f_regression
from sklearn.linear_model import enet_path
from sklearn.svm import l1_min_c
from sklearn.utils.validation import check_is_fitted

from ...errors import InputError
from ...stats import combat
from ...stats.selection import (
    cox_score_test,
    mrmr_order,
    relevance_correlation,
    standardize_columns,
)
from .design import BATCH_PREFIX
from .linear import logistic

__all__ = [
    "MissingValueImputer",
    "Harmonizer",
    "VarianceFilter",
    "CorrelationFilter",
    "UnivariateSelector",
    "LassoPathSelector",
    "MRMRSelector",
    "StabilitySelector",
    "relevance_scores",
    "SELECTORS",
]


def _frame(X) -> pd.DataFrame:
    if isinstance(X, pd.DataFrame):
        return X
    X = np.asarray(X)
    return pd.DataFrame(X, columns=[f"x{i}" for i in range(X.shape[1])])


def _is_batch(columns) -> np.ndarray:
    return np.array([str(c).startswith(BATCH_PREFIX) for c in columns], dtype=bool)


class _NamedTransformer(TransformerMixin, BaseEstimator):
    """Common parts: the output columns are ``self.columns_out_``."""

    def get_feature_names_out(self, input_features=None):
        check_is_fitted(self, "columns_out_")
        return np.asarray(self.columns_out_, dtype=object)


class MissingValueImputer(_NamedTransformer):
    """Drop features missing in more than ``max_missing`` of the training patients and
    fill the remaining gaps with training medians. Batch columns pass through.

    Parameters
    ----------
    max_missing
        Largest fraction of missing values a feature may have in the training fold.
    """

    def __init__(self, max_missing: float = 0.5):
        self.max_missing = max_missing

    def fit(self, X, y=None):
        X = _frame(X)
        self.feature_names_in_ = np.asarray(X.columns, dtype=object)
        batch = _is_batch(X.columns)
        values = X.loc[:, ~batch].to_numpy(dtype=float)
        fraction = np.isnan(values).mean(axis=0) if values.size else np.zeros(0)
        keep = fraction <= self.max_missing
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            medians = np.nanmedian(values[:, keep], axis=0) if keep.any() else np.zeros(0)
        names = np.asarray(X.columns[~batch])
        self.fraction_missing_ = np.asarray(fraction, dtype=float)  # by column of names
        self.kept_ = list(names[keep])
        self.medians_ = medians
        self.batch_columns_ = list(X.columns[batch])
        self.columns_out_ = self.kept_ + self.batch_columns_
        return self

    def transform(self, X):
        check_is_fitted(self, "columns_out_")
        X = _frame(X)
        missing = [c for c in self.columns_out_ if c not in X.columns]
        if missing:
            raise InputError(
                f"{len(missing)} input column(s) are missing",
                expected="the columns the pipeline was fitted with",
                found=missing[:5],
            )
        values = X[self.kept_].to_numpy(dtype=float, copy=True)
        holes = np.isnan(values)
        if holes.any():
            values[holes] = np.take(self.medians_, np.nonzero(holes)[1])
        out = pd.DataFrame(values, index=X.index, columns=self.kept_)
        for column in self.batch_columns_:
            out[column] = X[column].to_numpy()
        return out


def _combat_backend():
    """ComBat of ``radiogenomics.stats.combat`` as ``(fit, apply)``:

    ``fit(values, codes) -> model`` estimates each feature's batch location and scale on
    training patients (``values`` patients x features, ``codes`` integer batch codes
    ``0..B-1``); ``apply(values, codes, model) -> values`` removes them from any patients
    of those batches.
    """
    return combat.combat_fit, combat.combat_apply


class Harmonizer(_NamedTransformer):
    """ComBat harmonisation of features by a batch (scanner, site), fitted on the training
    patients and applied to held-out ones; the batch column is dropped afterwards.

    No biological covariate is protected: the target is unknown for new patients, and
    protecting it inside a training fold would tie the correction to the outcome.

    Parameters
    ----------
    batch
        Name of the batch column in the input (``"batch:<obs column>"``), or ``None`` to do
        nothing but drop batch columns.
    prefixes
        Only columns starting with one of these are harmonised (by default the imaging
        features: batch effects of scanners are on images, not on clinical data).
    """

    def __init__(self, batch: str | None = None, prefixes: tuple[str, ...] = ("radiomics:",)):
        self.batch = batch
        self.prefixes = prefixes

    def _columns(self, X: pd.DataFrame) -> list[str]:
        return [
            c
            for c in X.columns
            if not str(c).startswith(BATCH_PREFIX) and str(c).startswith(tuple(self.prefixes))
        ]

    def fit(self, X, y=None):
        X = _frame(X)
        self.feature_names_in_ = np.asarray(X.columns, dtype=object)
        self.columns_out_ = [c for c in X.columns if not str(c).startswith(BATCH_PREFIX)]
        self.harmonised_ = []
        if self.batch is None:
            return self
        if self.batch not in X.columns:
            raise InputError(
                f"the input has no batch column {self.batch!r}",
                expected="a batch column added by the model's design",
            )
        self.harmonised_ = self._columns(X)
        if self.harmonised_:
            fit, _ = _combat_backend()
            labels = X[self.batch].astype(str).to_numpy()
            self.batches_, codes = np.unique(labels, return_inverse=True)
            counts = np.bincount(codes)
            if (counts < 2).any():
                small = self.batches_[counts < 2][0]
                raise InputError(
                    f"batch {small!r} has a single patient among the patients the "
                    "harmonisation is fitted on",
                    column=self.batch.removeprefix(BATCH_PREFIX),
                    expected="at least two patients per batch in every training fold",
                    found={str(b): int(c) for b, c in zip(self.batches_, counts)},
                    hint="Use fewer folds, or merge small batches",
                )
            self.batches_ = [str(b) for b in self.batches_]
            self.params_ = fit(X[self.harmonised_].to_numpy(dtype=float), codes)
        return self

    def transform(self, X):
        check_is_fitted(self, "columns_out_")
        X = _frame(X)
        out = X[self.columns_out_].copy()
        if self.batch is None or not self.harmonised_:
            return out
        _, apply = _combat_backend()
        labels = X[self.batch].astype(str).to_numpy()
        unseen = sorted(set(labels) - set(self.batches_))
        if unseen:
            raise InputError(
                f"batch {unseen[0]!r} was not among the training batches, so the model "
                "cannot harmonise its patients",
                column=self.batch.removeprefix(BATCH_PREFIX),
                expected=f"one of {self.batches_}",
                found=unseen,
            )
        codes = np.searchsorted(np.asarray(self.batches_), labels)
        harmonised = pd.DataFrame(
            apply(X[self.harmonised_].to_numpy(dtype=float), codes, self.params_),
            index=out.index,
            columns=self.harmonised_,
        )
        # one block, not a column-by-column assignment (which costs a copy per column)
        rest = out.drop(columns=self.harmonised_)
        return pd.concat([rest, harmonised], axis=1)[self.columns_out_]


class _MaskFilter(TransformerMixin, BaseEstimator):
    """Keeps the columns of ``self.keep_``; takes a DataFrame or an array and returns a
    float array (the names follow through ``get_feature_names_out``), so that the steps
    after it work on plain arrays."""

    def _start(self, X) -> np.ndarray:
        if isinstance(X, pd.DataFrame):
            self.feature_names_in_ = np.asarray(X.columns, dtype=object)
        self.n_features_in_ = X.shape[1]
        return np.asarray(X, dtype=float)

    def transform(self, X):
        check_is_fitted(self, "keep_")
        if isinstance(X, pd.DataFrame) and hasattr(self, "feature_names_in_"):
            X = X[list(self.feature_names_in_)]
        return np.asarray(X, dtype=float)[:, self.keep_]

    def get_feature_names_out(self, input_features=None):
        check_is_fitted(self, "keep_")
        if hasattr(self, "feature_names_in_"):
            names = self.feature_names_in_
        elif input_features is not None:
            names = np.asarray(input_features, dtype=object)
        else:
            names = np.asarray([f"x{i}" for i in range(self.n_features_in_)], dtype=object)
        return np.asarray(names, dtype=object)[self.keep_]


class VarianceFilter(_MaskFilter):
    """Drop features that are (nearly) constant in the training patients."""

    def __init__(self, tolerance: float = 1e-12):
        self.tolerance = tolerance

    def fit(self, X, y=None):
        values = self._start(X)
        self.variances_ = values.var(axis=0)
        self.keep_ = self.variances_ > self.tolerance
        return self


class CorrelationFilter(_MaskFilter):
    """Drop redundant features: of two features correlated beyond ``threshold`` in the
    training patients (absolute Pearson), keep the one seen first."""

    def __init__(self, threshold: float = 0.95):
        self.threshold = threshold

    def fit(self, X, y=None):
        Z = standardize_columns(self._start(X))
        n, p = Z.shape
        keep = np.ones(p, dtype=bool)
        for start in range(0, p, 512):
            block = np.abs(Z[:, start : start + 512].T @ Z) / max(n, 1)
            for offset, row in enumerate(block):
                j = start + offset
                if keep[j]:
                    later = np.flatnonzero(row[j + 1 :] > self.threshold) + j + 1
                    keep[later] = False
        self.keep_ = keep
        return self


def _task_of(y) -> str:
    y = np.asarray(y)
    if y.dtype.names and {"event", "time"} <= set(y.dtype.names):
        return "survival"
    values = np.unique(y[~np.isnan(y.astype(float))])
    return "classification" if np.isin(values, [0, 1]).all() else "regression"


def relevance_scores(X: np.ndarray, y) -> np.ndarray:
    """Univariate relevance of each column for ``y``: the F statistic (classification:
    ANOVA; regression: of the correlation) or the Cox score chi-square (survival)."""
    task = _task_of(y)
    X = np.asarray(X, dtype=float)
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        if task == "survival":
            scores = cox_score_test(y["time"], y["event"], X)["statistic"]
        elif task == "classification":
            scores = f_classif(X, np.asarray(y).astype(int))[0]
        else:
            scores = f_regression(X, np.asarray(y, float))[0]
    return np.nan_to_num(np.asarray(scores, float), nan=0.0, posinf=np.finfo(float).max)


class _Selector(SelectorMixin, BaseEstimator):
    """Keep ``k`` features (all when fewer are left)."""

    def _prepare(self, X):
        if isinstance(X, pd.DataFrame):
            self.feature_names_in_ = np.asarray(X.columns, dtype=object)
        self.n_features_in_ = X.shape[1]
        return np.asarray(X, dtype=float)

    def _finish(self, order: np.ndarray, scores: np.ndarray):
        k = int(min(self.k, self.n_features_in_))
        mask = np.zeros(self.n_features_in_, dtype=bool)
        mask[np.asarray(order[:k], dtype=np.int64)] = True
        self.support_ = mask
        self.scores_ = scores
        self.order_ = np.asarray(order[:k], dtype=np.int64)
        return self

    def _get_support_mask(self):
        check_is_fitted(self, "support_")
        return self.support_


class UnivariateSelector(_Selector):
    """The ``k`` features with the largest univariate relevance (see
    :func:`relevance_scores`)."""

    def __init__(self, k: int = 10):
        self.k = k

    def fit(self, X, y):
        values = self._prepare(X)
        scores = relevance_scores(values, y)
        return self._finish(np.argsort(-scores, kind="mergesort"), scores)


def _lasso_entry(values: np.ndarray, y, l1_ratio: float, n_steps: int, k: int) -> np.ndarray:
    """Entry step of each feature along an L1 (elastic-net) regularisation path (a large
    number for features that never enter), with |coefficient| at entry to break ties."""
    task = _task_of(y)
    Z = standardize_columns(values)
    p = Z.shape[1]
    entry = np.full(p, np.inf)
    size = np.zeros(p)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if task == "survival":
            from sksurv.linear_model import CoxnetSurvivalAnalysis

            model = CoxnetSurvivalAnalysis(
                l1_ratio=max(l1_ratio, 1e-3), n_alphas=n_steps, alpha_min_ratio=0.01, max_iter=20000
            )
            try:
                model.fit(Z, y)
                path = np.asarray(model.coef_)  # p x steps
            except (ArithmeticError, ValueError):
                path = np.zeros((p, 0))
        elif task == "classification":
            labels = np.asarray(y).astype(int)
            c_min = l1_min_c(Z, labels, loss="log")
            path_list = []
            for c in c_min * np.logspace(0.02, 2.5, n_steps):
                fit = logistic(C=c, l1_ratio=1.0).fit(Z, labels)
                coef = fit.coef_.ravel()
                path_list.append(coef)
                if (coef != 0).sum() >= k:
                    break
            path = np.column_stack(path_list)
        else:
            target = np.asarray(y, float) - np.mean(y)
            _, coefs, _ = enet_path(
                Z, target, l1_ratio=max(l1_ratio, 1e-3), n_alphas=n_steps, eps=1e-3
            )
            path = np.asarray(coefs)
    active = path != 0
    first = np.where(active.any(axis=1), active.argmax(axis=1), np.inf)
    entry[:] = first
    rows = np.flatnonzero(np.isfinite(first))
    size[rows] = np.abs(path[rows, first[rows].astype(int)])
    return entry, size


class LassoPathSelector(_Selector):
    """The first ``k`` features to enter the L1 (or elastic-net) regularisation path of
    the task's model: logistic (classification), Cox (survival, scikit-survival's Coxnet)
    or linear (regression). Features that never enter are ranked by univariate relevance.

    Parameters
    ----------
    k
        Features kept.
    l1_ratio
        1 for the LASSO, between 0 and 1 for the elastic net (Cox and linear only;
        the logistic path is L1).
    n_steps
        Penalties along the path.
    """

    def __init__(self, k: int = 10, l1_ratio: float = 1.0, n_steps: int = 30):
        self.k = k
        self.l1_ratio = l1_ratio
        self.n_steps = n_steps

    def fit(self, X, y):
        values = self._prepare(X)
        entry, size = _lasso_entry(values, y, self.l1_ratio, self.n_steps, int(self.k))
        relevance = relevance_scores(values, y)
        order = np.lexsort((-relevance, -size, entry))
        self.entry_step_ = entry
        return self._finish(order, -entry)


class MRMRSelector(_Selector):
    """Minimum-redundancy maximum-relevance selection of ``k`` features: relevance is the
    univariate statistic of :func:`relevance_scores` expressed as a correlation,
    redundancy the mean absolute correlation with the features already chosen.

    Parameters
    ----------
    k
        Features kept.
    scheme
        ``"difference"`` (relevance - redundancy) or ``"quotient"`` (relevance /
        redundancy).
    """

    def __init__(self, k: int = 10, scheme: str = "difference"):
        self.k = k
        self.scheme = scheme

    def fit(self, X, y):
        values = self._prepare(X)
        relevance = relevance_correlation(relevance_scores(values, y), values.shape[0])
        order = mrmr_order(values, relevance, int(self.k), scheme=self.scheme)
        return self._finish(order, relevance)


class StabilitySelector(_Selector):
    """Stability selection (Meinshausen and Buehlmann 2010): the features chosen most
    often by a base selection on random halves of the training patients.

    Parameters
    ----------
    k
        Features kept (the ``k`` most frequently chosen; ties by univariate relevance).
    n_subsamples
        Random halves drawn.
    fraction
        Fraction of patients in each subsample.
    base
        ``"lasso"`` (first ``k`` entering the L1 path) or ``"univariate"`` (top ``k``).
    threshold
        Optional minimum selection frequency; features below it are dropped even when
        fewer than ``k`` remain (at least one feature is always kept).
    random_state
        Seed of the subsampling.
    """

    def __init__(
        self,
        k: int = 10,
        n_subsamples: int = 50,
        fraction: float = 0.5,
        base: str = "lasso",
        threshold: float | None = None,
        random_state: int | None = 0,
    ):
        self.k = k
        self.n_subsamples = n_subsamples
        self.fraction = fraction
        self.base = base
        self.threshold = threshold
        self.random_state = random_state

    def fit(self, X, y):
        values = self._prepare(X)
        n, p = values.shape
        k = int(min(self.k, p))
        rng = np.random.default_rng(self.random_state)
        counts = np.zeros(p)
        task = _task_of(y)
        strata = (
            y["event"]
            if task == "survival"
            else np.asarray(y).astype(int)
            if task == "classification"
            else None
        )
        size = max(2, int(round(self.fraction * n)))
        for _ in range(self.n_subsamples):
            if strata is None:
                rows = rng.choice(n, size=size, replace=False)
            else:  # keep the class (or event) proportions in every half
                rows = np.concatenate(
                    [
                        rng.choice(
                            np.flatnonzero(strata == s),
                            size=max(1, int(round(self.fraction * (strata == s).sum()))),
                            replace=False,
                        )
                        for s in np.unique(strata)
                    ]
                )
            sub, ysub = values[rows], y[rows]
            if self.base == "lasso":
                entry, mag = _lasso_entry(sub, ysub, 1.0, 20, k)
                chosen = np.lexsort((-mag, entry))[:k]
                chosen = chosen[np.isfinite(entry[chosen])]
            elif self.base == "univariate":
                chosen = np.argsort(-relevance_scores(sub, ysub), kind="mergesort")[:k]
            else:
                raise InputError(
                    f"unknown base selection {self.base!r}", expected="'lasso' or 'univariate'"
                )
            counts[chosen] += 1
        frequency = counts / self.n_subsamples
        relevance = relevance_scores(values, y)
        order = np.lexsort((-relevance, -frequency))
        if self.threshold is not None:
            passing = order[frequency[order] >= self.threshold]
            order = passing if passing.size else order[:1]
        self.frequency_ = frequency
        self._finish(order, frequency)
        return self


#: Selection methods by name (``selection=`` of :func:`radiogenomics.tl.fit_model`).
SELECTORS = {
    "univariate": UnivariateSelector,
    "lasso": LassoPathSelector,
    "elastic_net": lambda k=10: LassoPathSelector(k=k, l1_ratio=0.5),
    "mrmr": MRMRSelector,
    "stability": StabilitySelector,
}
