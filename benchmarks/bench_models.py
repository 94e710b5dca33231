"""Speed of model validation, side by side with what a user would otherwise write.

1. Nested cross-validation of the same pipeline (univariate selection of k features and a
   ridge logistic regression, k and C tuned in a 3-fold inner loop): ``rg.tl``'s
   ``nested_cross_validation`` against scikit-learn's ``GridSearchCV`` inside
   ``cross_val_predict``, on the same outer folds. Both give out-of-fold probabilities;
   their AUCs are printed (the inner folds differ, so they agree only roughly).
2. Bootstrap confidence intervals of the AUC and of Harrell's C-index: the library's
   kernels against ``sklearn.metrics.roc_auc_score`` and
   ``sksurv.metrics.concordance_index_censored`` called per replicate.

Run ``python benchmarks/bench_models.py`` (``--quick`` for a small smoke run).
"""

from __future__ import annotations

import argparse
import time
import warnings

import numpy as np
import pandas as pd


def _timed(function):
    start = time.perf_counter()
    value = function()
    return value, time.perf_counter() - start


def bench_nested_cv(n: int, p: int, folds: int) -> None:
    from sklearn.feature_selection import SelectKBest, f_classif
    from sklearn.metrics import roc_auc_score
    from sklearn.model_selection import GridSearchCV, StratifiedKFold, cross_val_predict
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler

    from radiogenomics.stats.classification import roc_auc
    from radiogenomics.tl.models.estimators import build_pipeline, logistic
    from radiogenomics.tl.models.validation import nested_cross_validation, outer_splits

    rng = np.random.default_rng(0)
    X = rng.normal(size=(n, p))
    y = (X[:, 0] - X[:, 1] + rng.normal(0, 1.0, n) > 0).astype(float)
    frame = pd.DataFrame(X, columns=[f"f{j}" for j in range(p)])
    grid = {"select__k": [5, 10, 20], "model__C": [0.05, 0.5, 5.0]}

    pipeline, _ = build_pipeline("classification", "logistic", "univariate", 5)
    ours, t_ours = _timed(
        lambda: nested_cross_validation(
            pipeline,
            grid,
            frame,
            y,
            "classification",
            n_splits=folds,
            n_repeats=1,
            inner_folds=3,
            random_state=0,
            importance_repeats=0,
        )
    )

    reference = Pipeline(
        [("scale", StandardScaler()), ("select", SelectKBest(f_classif)), ("model", logistic())]
    )
    search = GridSearchCV(
        reference, grid, scoring="roc_auc", cv=StratifiedKFold(3, shuffle=True, random_state=0)
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        theirs, t_theirs = _timed(
            lambda: cross_val_predict(
                search,
                X,
                y,
                method="predict_proba",
                cv=[
                    (train, test)
                    for _, _, train, test in outer_splits(y, "classification", folds, 1, 0)
                ],
            )[:, 1]
        )
    print(
        f"nested CV, {n} patients x {p} features, {folds} outer x 3 inner folds, "
        f"{len(grid['select__k']) * len(grid['model__C'])} grid points"
    )
    print(
        f"  rg nested_cross_validation         {t_ours:8.2f} s   "
        f"AUC {roc_auc(y, ours.predictions[:, 0]):.3f}"
    )
    print(
        f"  sklearn GridSearchCV + cv_predict  {t_theirs:8.2f} s   "
        f"AUC {roc_auc_score(y, theirs):.3f}"
    )


def bench_bootstrap(n: int, n_bootstraps: int) -> None:
    from sklearn.metrics import roc_auc_score
    from sksurv.metrics import concordance_index_censored

    from radiogenomics.stats.classification import roc_auc
    from radiogenomics.stats.concordance import concordance_counts
    from radiogenomics.stats.resampling import bootstrap_indices

    rng = np.random.default_rng(1)
    y = (rng.random(n) < 0.4).astype(int)
    score = y + rng.normal(size=n)
    idx = bootstrap_indices(n, n_bootstraps, 0, strata=y)
    ours, t_ours = _timed(lambda: [roc_auc(y[i], score[i]) for i in idx])
    theirs, t_theirs = _timed(lambda: [roc_auc_score(y[i], score[i]) for i in idx])
    print(
        f"bootstrap AUC, {n} patients, {n_bootstraps} replicates "
        f"(max difference {np.max(np.abs(np.subtract(ours, theirs))):.1e})"
    )
    print(f"  rg roc_auc                         {t_ours:8.2f} s")
    print(f"  sklearn roc_auc_score              {t_theirs:8.2f} s")

    time_ = rng.exponential(10, n)
    event = rng.random(n) < 0.7
    risk = -time_ + rng.normal(0, 5, n)
    idx = bootstrap_indices(n, n_bootstraps, 0, strata=event)
    ours, t_ours = _timed(
        lambda: [concordance_counts(time_[i], event[i], risk[i])["concordance"] for i in idx]
    )
    theirs, t_theirs = _timed(
        lambda: [concordance_index_censored(event[i], time_[i], risk[i])[0] for i in idx]
    )
    print(
        f"bootstrap C-index, {n} patients, {n_bootstraps} replicates "
        f"(max difference {np.max(np.abs(np.subtract(ours, theirs))):.1e})"
    )
    print(f"  rg concordance_counts              {t_ours:8.2f} s")
    print(f"  sksurv concordance_index_censored  {t_theirs:8.2f} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a small smoke run")
    args = parser.parse_args()
    if args.quick:
        bench_nested_cv(n=60, p=100, folds=3)
        bench_bootstrap(n=100, n_bootstraps=50)
    else:
        bench_nested_cv(n=150, p=1000, folds=5)
        bench_bootstrap(n=300, n_bootstraps=1000)
    print("(figures measured on a machine shared with other jobs may be pessimistic)")


if __name__ == "__main__":
    main()
