"""Benchmark: ``rg.tl.explain`` of a linear model against shap's own explainers.

A ridge logistic model of 20 selected radiomic features (of 200) fitted on 2,000 simulated
patients; every patient explained. Printed side by side in one run:

- ours: ``rg.tl.explain`` end to end (the model's inputs from the cohort, the pipeline's
  transform, the exact linear SHAP values, the tidy table stored in the cohort);
- ``shap.LinearExplainer`` on the same learner and transformed inputs (the training
  patients as background);
- ``shap.explainers.Permutation`` on the learner's decision function (100-patient
  background), on 200 patients, extrapolated to all (the model-agnostic route; exact for
  an additive model);

with the largest difference between our values and each of shap's.

Run ``python benchmarks/bench_explain.py`` (``--quick`` for a small smoke run).
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from pathlib import Path

import anndata as ad
import mudata as md
import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import radiogenomics as rg  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a small smoke run")
    args = parser.parse_args()
    n, p = (300, 50) if args.quick else (2000, 200)
    import shap

    rng = np.random.default_rng(0)
    X = rng.normal(size=(n, p)) * 10 + 100
    y = (rng.random(n) < 1 / (1 + np.exp(-(X[:, 0] - X[:, 1]) / 10))).astype(float)
    ids = [f"P{i:05d}" for i in range(n)]
    mdata = md.MuData(
        {
            "radiomics": ad.AnnData(
                X, obs=pd.DataFrame(index=ids), var=pd.DataFrame(index=[f"f{j}" for j in range(p)])
            )
        }
    )
    mdata.obs["label"] = y
    warnings.simplefilter("ignore")
    model = rg.tl.fit_model(
        mdata,
        "label",
        "radiomics",
        model="logistic",
        n_features=20,
        param_grid={},
        outer_folds=3,
        n_repeats=1,
        n_bootstraps=20,
        importance_repeats=0,
    )
    start = time.perf_counter()
    ours = rg.tl.explain(model, mdata)
    t_ours = time.perf_counter() - start

    inputs, _ = model.inputs(mdata)
    Z = np.asarray(model.pipeline[:-1].transform(inputs), dtype=float)
    learner = model.pipeline[-1]
    start = time.perf_counter()
    linear = shap.LinearExplainer(learner, shap.maskers.Independent(Z, max_samples=n))
    values_linear = linear.shap_values(Z)
    t_linear = time.perf_counter() - start

    m = min(200, n)
    start = time.perf_counter()
    background = shap.maskers.Independent(Z, max_samples=100)
    permutation = shap.explainers.Permutation(learner.decision_function, background, seed=0)
    values_exact = permutation(Z[:m], silent=True).values
    t_exact = (time.perf_counter() - start) * n / m

    print(f"{n} patients, {Z.shape[1]} features in the final model")
    print(f"  rg.tl.explain (end to end)      {t_ours:8.3f} s")
    print(
        f"  shap.LinearExplainer            {t_linear:8.3f} s   max |difference| "
        f"{np.abs(ours.values - values_linear).max():.2e}"
    )
    print(
        f"  shap Permutation (extrapolated) {t_exact:8.3f} s   max |difference| "
        f"{np.abs(ours.values[:m] - values_exact).max():.2e} (100-patient background)"
    )


if __name__ == "__main__":
    main()
