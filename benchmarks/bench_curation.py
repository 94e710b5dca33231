"""Speed of the curation kernels, side by side with the tools a user would otherwise use.

- ComBat: ``rg.pp.harmonize``'s kernel against ``scanpy.pp.combat`` (same estimates);
- ICC: the vectorised kernel over every feature against ``pingouin.intraclass_corr``
  called once per feature;
- one-vs-rest tests: the vectorised Welch and Mann-Whitney kernels against
  ``scipy.stats`` called per feature and group.

Run ``python benchmarks/bench_curation.py`` (``--quick`` for a small smoke run). Figures
measured on a shared machine may be pessimistic.
"""

from __future__ import annotations

import argparse
import time
import warnings

import numpy as np
import pandas as pd


def _timed(function, repeat: int = 1) -> float:
    best = np.inf
    for _ in range(repeat):
        start = time.perf_counter()
        function()
        best = min(best, time.perf_counter() - start)
    return best


def bench_combat(n: int, p: int) -> dict:
    import anndata as ad
    import scanpy as sc

    from radiogenomics.stats.combat import combat_apply, combat_fit

    rng = np.random.default_rng(0)
    batch = rng.integers(0, 4, n)
    x = rng.normal(size=(n, p)) + np.array([0, 1, -1, 0.5])[batch][:, None]
    x *= np.array([1, 1.5, 0.8, 1.2])[batch][:, None]
    age = rng.normal(60, 10, n)
    adata = ad.AnnData(x.copy())
    adata.obs["batch"] = pd.Categorical(batch.astype(str))
    adata.obs["age"] = age

    def ours():
        combat_apply(x, batch, combat_fit(x, batch, age[:, None]), age[:, None])

    def scanpy():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            sc.pp.combat(adata, key="batch", covariates=["age"], inplace=False)

    a = combat_apply(x, batch, combat_fit(x, batch, age[:, None]), age[:, None])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        b = sc.pp.combat(adata, key="batch", covariates=["age"], inplace=False)
    return {
        "task": f"ComBat {n} patients x {p} features, 4 batches",
        "radiogenomics_s": _timed(ours, 3),
        "reference": "scanpy.pp.combat",
        "reference_s": _timed(scanpy, 3),
        "max_abs_difference": float(np.abs(a - b).max()),
    }


def bench_icc(n: int, k: int, p: int, p_reference: int) -> dict:
    import pingouin as pg

    from radiogenomics.stats.icc import intraclass_correlation

    rng = np.random.default_rng(1)
    x = rng.normal(size=(n, 1, p)) * 2 + rng.normal(size=(n, k, p))
    ours_s = _timed(lambda: intraclass_correlation(x), 3)
    start = time.perf_counter()
    differences = []
    ours = intraclass_correlation(x)
    for j in range(p_reference):
        long = pd.DataFrame(
            {
                "target": np.repeat(np.arange(n), k),
                "rater": np.tile(np.arange(k), n),
                "rating": x[:, :, j].ravel(),
            }
        )
        table = pg.intraclass_corr(long, "target", "rater", "rating").set_index("Type")
        differences.append(abs(table.loc["ICC(C,1)", "ICC"] - ours["icc3"][j]))
    per_feature = (time.perf_counter() - start) / p_reference
    return {
        "task": f"ICC {n} subjects x {k} replicates x {p} features",
        "radiogenomics_s": ours_s,
        "reference": f"pingouin.intraclass_corr per feature (timed on {p_reference}, scaled)",
        "reference_s": per_feature * p,
        "max_abs_difference": float(max(differences)),
    }


def bench_groups(n: int, p: int, p_reference: int) -> dict:
    from scipy import stats

    from radiogenomics.stats.groups import mann_whitney_one_vs_rest, welch_one_vs_rest

    rng = np.random.default_rng(2)
    x = rng.normal(size=(n, p))
    codes = rng.integers(0, 3, n)

    def ours():
        welch_one_vs_rest(x, codes)
        mann_whitney_one_vs_rest(x, codes)

    start = time.perf_counter()
    for j in range(p_reference):
        for g in range(3):
            stats.ttest_ind(x[codes == g, j], x[codes != g, j], equal_var=False)
            stats.mannwhitneyu(x[codes == g, j], x[codes != g, j], method="asymptotic")
    per_feature = (time.perf_counter() - start) / p_reference
    reference = mann_whitney_one_vs_rest(x[:, :p_reference], codes)["p_value"]
    expected = np.array(
        [
            [
                stats.mannwhitneyu(x[codes == g, j], x[codes != g, j], method="asymptotic").pvalue
                for j in range(p_reference)
            ]
            for g in range(3)
        ]
    )
    return {
        "task": f"Welch + Mann-Whitney, 3 groups vs rest, {n} patients x {p} genes",
        "radiogenomics_s": _timed(ours, 3),
        "reference": f"scipy.stats per gene and group (timed on {p_reference}, scaled)",
        "reference_s": per_feature * p,
        "max_abs_difference": float(np.abs(reference - expected).max()),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small smoke run")
    args = parser.parse_args()
    if args.quick:
        rows = [bench_combat(120, 200), bench_icc(30, 3, 100, 10), bench_groups(100, 500, 20)]
    else:
        rows = [
            bench_combat(500, 2000),
            bench_combat(120, 1500),
            bench_icc(100, 3, 1500, 50),
            bench_groups(500, 20000, 200),
        ]
    table = pd.DataFrame(rows)
    table["speed_up"] = table["reference_s"] / table["radiogenomics_s"]
    with pd.option_context(
        "display.width", 200, "display.max_colwidth", 70, "display.float_format", "{:.4g}".format
    ):
        print(table.to_string(index=False))


if __name__ == "__main__":
    main()
