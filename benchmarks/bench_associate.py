"""Benchmark: ``rg.tl.associate`` against a statsmodels OLS loop and the matrix-product floor.

For 500 patients, 1,000 radiomic features, 20,000 genes and 3 covariates (20 million
linear models ``gene ~ feature + covariates``), measured in one run:

- our end-to-end time: ``rg.tl.associate`` on a cohort (statistics, p-values, BH q-values
  and the tidy table), and tests per second; the first run in a fresh process (its memory
  never touched before) and the best of the next runs;
- the breakdown: the kernel (estimates, standard errors, t, p, intervals) and the q-values;
- the floor: the single matrix product at the core of it (features x patients times
  patients x genes), best of three;
- a statsmodels OLS loop on a sample of pairs, per test, extrapolated to all pairs;
- the peak memory (resident set size) of the process;
- the same with 10% of the gene columns holding missing values (each its own pattern);
- the same on a Dask LocalCluster (2 worker processes, chunks of genes);
- threshold mode (``p_threshold=1e-5``: only pairs with p <= 1e-5 kept, exact BH q-values
  over all tests), first call and best run;
- streaming the full table of 3x the genes (60 million tests by default) to Parquet with
  ``out=``: time and peak memory;
- tensorQTL's ``map_trans`` (CPU, torch) on the same matrices, sparse (``pval_threshold
  =1e-5``) and dense, when tensorqtl is installed (the optional ``bench`` extra); skipped
  with a message otherwise.

Targets (issues 4 and 17): at least 10 million tests per second end to end, the full
table's first call within 4x of the floor and under 3 GiB, threshold mode within 2x of
the floor, 60 million streamed tests under 4 GiB. Each scenario runs in its own process
so that its first call meets untouched memory and its peak memory is its own. The machine
may be shared: wall times then suffer (the load average is printed).

Run ``python benchmarks/bench_associate.py`` (``--quick`` for a small smoke run).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
import warnings
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def make_cohort(
    n_patients: int,
    n_features: int,
    n_genes: int,
    n_covariates: int,
    missing_fraction: float,
    seed: int = 0,
):
    """A cohort with a radiomics and an rna modality and numeric covariates.

    Hidden factors drive a third of the features and a tenth of the genes (a few percent
    of the pairs are truly associated); with ``missing_fraction``, that fraction of the
    gene columns loses 5 to 20% of its values at random (each column its own pattern).
    """
    import pandas as pd
    from anndata import AnnData

    import radiogenomics as rg

    rng = np.random.default_rng(seed)
    patients = [f"P{i:05d}" for i in range(n_patients)]
    covariates = rng.normal(size=(n_patients, n_covariates))
    covariates[:, 1 % n_covariates] = rng.integers(0, 2, n_patients)
    # hidden factors drive a third of the features and a tenth of the genes
    factors = rng.normal(size=(n_patients, 5))
    x_loadings = rng.normal(0, 0.6, (5, n_features)) * (rng.random(n_features) < 0.3)
    y_loadings = rng.normal(0, 0.5, (5, n_genes)) * (rng.random(n_genes) < 0.1)
    x = factors @ x_loadings + rng.normal(size=(n_patients, n_features))
    y = factors @ y_loadings + rng.normal(size=(n_patients, n_genes))
    y += 6.0  # log-expression-like level
    if missing_fraction:
        columns = rng.choice(n_genes, size=int(missing_fraction * n_genes), replace=False)
        holes = rng.random((n_patients, columns.size)) < rng.uniform(0.05, 0.2, columns.size)
        block = y[:, columns]
        block[holes] = np.nan
        y[:, columns] = block
    obs = pd.DataFrame(
        covariates, index=patients, columns=[f"covariate_{k}" for k in range(n_covariates)]
    )

    def adata(values, prefix):
        return AnnData(
            X=values,
            obs=pd.DataFrame(index=patients),
            var=pd.DataFrame(index=[f"{prefix}{k:05d}" for k in range(values.shape[1])]),
        )

    mdata = rg.build_cohort(
        {"radiomics": adata(x, "feature_"), "rna": adata(y, "GENE")}, clinical=obs
    )
    return mdata, list(obs.columns)


def floor_seconds(mdata, covariates) -> float:
    """The single matrix product at the core: residualised features' by genes (best of 3)."""
    x = np.asarray(mdata["radiomics"].X, dtype=float)
    y = np.asarray(mdata["rna"].X, dtype=float)
    best = np.inf
    for _ in range(3):
        start = time.perf_counter()
        product = x.T @ y
        best = min(best, time.perf_counter() - start)
        del product
    return best


def statsmodels_seconds_per_test(mdata, covariates, pairs: int = 200, seed: int = 1) -> float:
    """Per test: one statsmodels OLS fit and the numbers of the table (what a loop does)."""
    import statsmodels.api as sm

    rng = np.random.default_rng(seed)
    x = np.asarray(mdata["radiomics"].X, dtype=float)
    y = np.asarray(mdata["rna"].X, dtype=float)
    z = mdata.obs[covariates].to_numpy(dtype=float)
    chosen = [(rng.integers(x.shape[1]), rng.integers(y.shape[1])) for _ in range(pairs)]
    start = time.perf_counter()
    for i, j in chosen:
        ok = ~(np.isnan(x[:, i]) | np.isnan(y[:, j]) | np.isnan(z).any(axis=1))
        design = sm.add_constant(np.column_stack([x[ok, i], z[ok]]), has_constant="add")
        fit = sm.OLS(y[ok, j], design).fit()
        _ = (fit.params[1], fit.bse[1], fit.tvalues[1], fit.pvalues[1], fit.conf_int()[1])
    return (time.perf_counter() - start) / pairs


def peak_rss_gib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20


def run_threshold(args) -> dict:
    """Threshold mode in this process: first call and best of the next runs."""
    import radiogenomics as rg

    warnings.simplefilter("ignore")
    mdata, covariates = make_cohort(args.patients, args.features, args.genes, args.covariates, 0.0)
    figures: dict = {"scenario": "threshold", "n_tests": args.features * args.genes}
    rg.tl.associate(
        mdata,
        "radiomics",
        "rna",
        covariates=covariates,
        x_features=list(mdata["radiomics"].var_names[:50]),
        y_features=list(mdata["rna"].var_names[:2000]),
        key_added="warm",
        p_threshold=args.p_threshold,
    )
    figures["floor_seconds"] = floor_seconds(mdata, covariates)
    runs = []
    for _ in range(args.repeat):
        mdata.uns["radiogenomics"].get("associations", {}).clear()
        start = time.perf_counter()
        table = rg.tl.associate(
            mdata, "radiomics", "rna", covariates=covariates, p_threshold=args.p_threshold
        )
        runs.append(time.perf_counter() - start)
        figures["kept"] = len(table)
        figures["passes"] = table.attrs["radiogenomics"]["passes"]
        del table
    figures["first_seconds"] = runs[0]
    figures["best_seconds"] = min(runs[1:]) if len(runs) > 1 else runs[0]
    figures["peak_rss_gib"] = peak_rss_gib()
    return figures


def run_stream(args) -> dict:
    """The full table of ``stream_genes`` genes streamed to Parquet in this process."""
    import tempfile

    import radiogenomics as rg

    warnings.simplefilter("ignore")
    mdata, covariates = make_cohort(
        args.patients, args.features, args.stream_genes, args.covariates, 0.0
    )
    figures: dict = {
        "scenario": "stream",
        "n_tests": args.features * args.stream_genes,
        "setup_rss_gib": peak_rss_gib(),
    }
    figures["floor_seconds"] = floor_seconds(mdata, covariates)
    with tempfile.TemporaryDirectory(dir=args.tmp) as folder:
        path = Path(folder) / "table.parquet"
        start = time.perf_counter()
        summary = rg.tl.associate(mdata, "radiomics", "rna", covariates=covariates, out=path)
        figures["seconds"] = time.perf_counter() - start
        figures["file_gib"] = path.stat().st_size / 2**30
        figures["summary_rows"] = len(summary)
    figures["peak_rss_gib"] = peak_rss_gib()
    return figures


def run_tensorqtl(args) -> dict:
    """tensorQTL's map_trans on the same matrices (features as 'variants', genes as
    phenotypes), sparse and dense, CPU."""
    import pandas as pd

    warnings.simplefilter("ignore")
    try:
        import torch
        from tensorqtl import trans
    except ImportError as exc:
        return {"scenario": "tensorqtl", "skipped": f"tensorqtl is not installed ({exc})"}
    torch.set_num_threads(os.cpu_count() or 1)
    mdata, covariates = make_cohort(args.patients, args.features, args.genes, args.covariates, 0.0)
    samples = list(mdata.obs_names)
    x = np.asarray(mdata["radiomics"].X, dtype=np.float32)
    y = np.asarray(mdata["rna"].X, dtype=np.float32)
    genotype_df = pd.DataFrame(x.T, index=list(mdata["radiomics"].var_names), columns=samples)
    phenotype_df = pd.DataFrame(y.T, index=list(mdata["rna"].var_names), columns=samples)
    covariates_df = mdata.obs[covariates].astype(float)
    figures: dict = {"scenario": "tensorqtl", "n_tests": args.features * args.genes}
    figures["floor_seconds"] = floor_seconds(mdata, covariates)
    for label, options in (
        ("sparse", {"return_sparse": True, "pval_threshold": args.p_threshold}),
        ("dense", {"return_sparse": False}),
    ):
        start = time.perf_counter()
        result = trans.map_trans(
            genotype_df,
            phenotype_df,
            covariates_df,
            maf_threshold=0,
            batch_size=args.features,
            verbose=False,
            **options,
        )
        figures[f"{label}_seconds"] = time.perf_counter() - start
        figures[f"{label}_rows"] = int(len(result))
        del result
    figures["peak_rss_gib"] = peak_rss_gib()
    return figures


def run_scenario(args) -> dict:
    """One scenario in this process; returns its figures."""
    if args.scenario == "threshold":
        return run_threshold(args)
    if args.scenario == "stream":
        return run_stream(args)
    if args.scenario == "tensorqtl":
        return run_tensorqtl(args)
    import radiogenomics as rg
    from radiogenomics._data import design_matrix, modality_block
    from radiogenomics.stats.association import associate_arrays
    from radiogenomics.stats.multitest import adjust_pvalues

    warnings.simplefilter("ignore")
    missing = 0.10 if args.scenario == "missing" else 0.0
    mdata, covariates = make_cohort(
        args.patients, args.features, args.genes, args.covariates, missing
    )
    n_tests = args.features * args.genes
    figures: dict = {"scenario": args.scenario, "n_tests": n_tests, "setup_rss_gib": peak_rss_gib()}
    # warm up: imports, thread pool, p-value table of this df
    rg.tl.associate(
        mdata,
        "radiomics",
        "rna",
        covariates=covariates,
        x_features=list(mdata["radiomics"].var_names[:50]),
        y_features=list(mdata["rna"].var_names[:2000]),
        key_added="warm",
    )
    figures["floor_seconds"] = floor_seconds(mdata, covariates)
    client = cluster = None
    if args.scenario == "dask":
        from distributed import Client, LocalCluster

        cluster = LocalCluster(
            n_workers=2,
            threads_per_worker=1,
            processes=True,
            dashboard_address=None,
            memory_limit=None,
        )
        client = Client(cluster)
        figures["workers"] = 2
    runs = []
    for _ in range(args.repeat):
        mdata.uns["radiogenomics"].get("associations", {}).clear()
        start = time.perf_counter()
        table = rg.tl.associate(mdata, "radiomics", "rna", covariates=covariates, client=client)
        runs.append(time.perf_counter() - start)
        figures["q_below_0.05"] = int((table["q_value"] < 0.05).sum())
        del table
    mdata.uns["radiogenomics"].get("associations", {}).clear()
    figures["first_seconds"] = runs[0]
    figures["best_seconds"] = min(runs[1:]) if len(runs) > 1 else runs[0]
    if client is not None:
        workers = client.run(lambda: resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
        figures["worker_peak_rss_gib"] = max(workers.values()) / 2**20
        client.close()
        cluster.close()
    else:
        # the breakdown: kernel and q-values
        x = modality_block(mdata, "radiomics").values
        y = modality_block(mdata, "rna").values
        z, _ = design_matrix(mdata.obs, covariates)
        start = time.perf_counter()
        result = associate_arrays(x, y, z, "linear")
        figures["kernel_seconds"] = time.perf_counter() - start
        start = time.perf_counter()
        adjust_pvalues(result["p_value"], "bh", out=result["q_value"])
        figures["qvalue_seconds"] = time.perf_counter() - start
        del result
    figures["peak_rss_gib"] = peak_rss_gib()
    if args.scenario == "complete":
        figures["statsmodels_seconds_per_test"] = statsmodels_seconds_per_test(mdata, covariates)
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="a small smoke run")
    parser.add_argument("--patients", type=int, default=500)
    parser.add_argument("--features", type=int, default=1000)
    parser.add_argument("--genes", type=int, default=20000)
    parser.add_argument("--covariates", type=int, default=3)
    parser.add_argument(
        "--repeat",
        type=int,
        default=3,
        help="end-to-end runs per scenario (the first in untouched memory)",
    )
    parser.add_argument("--no-dask", action="store_true", help="skip the Dask scenario")
    parser.add_argument(
        "--p-threshold", type=float, default=1e-5, help="threshold of the threshold-mode scenario"
    )
    parser.add_argument(
        "--stream-genes",
        type=int,
        default=None,
        help="genes of the streamed table (default: 3x --genes)",
    )
    parser.add_argument("--no-stream", action="store_true", help="skip the streaming scenario")
    parser.add_argument("--tmp", default=None, help="folder for the streamed table")
    parser.add_argument(
        "--only",
        default=None,
        help="comma-separated scenarios to run (complete, missing, dask, "
        "threshold, stream, tensorqtl)",
    )
    parser.add_argument("--scenario", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.quick:
        args.patients, args.features, args.genes, args.repeat = 120, 100, 2000, 2
    if args.stream_genes is None:
        args.stream_genes = 3 * args.genes
    if args.scenario:
        print(json.dumps(run_scenario(args)))
        return

    scenarios = (
        ["complete", "missing"]
        + ([] if args.no_dask else ["dask"])
        + ["threshold"]
        + ([] if args.no_stream else ["stream"])
        + ["tensorqtl"]
    )
    if args.only:
        scenarios = [name for name in scenarios if name in args.only.split(",")]
    results = {}
    env = dict(
        os.environ,
        PYTHONPATH=os.pathsep.join([str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])]),
    )
    for scenario in scenarios:
        command = [
            sys.executable,
            __file__,
            "--scenario",
            scenario,
            "--patients",
            str(args.patients),
            "--features",
            str(args.features),
            "--genes",
            str(args.genes),
            "--covariates",
            str(args.covariates),
            "--repeat",
            str(args.repeat),
            "--p-threshold",
            str(args.p_threshold),
            "--stream-genes",
            str(args.stream_genes),
        ]
        if args.tmp:
            command += ["--tmp", args.tmp]
        done = subprocess.run(command, capture_output=True, text=True, env=env)
        if done.returncode != 0:
            print(done.stderr, file=sys.stderr)
            raise SystemExit(f"scenario {scenario} failed")
        results[scenario] = json.loads(done.stdout.strip().splitlines()[-1])

    n_tests = args.features * args.genes
    print(
        f"{args.patients} patients, {args.features} features x {args.genes} genes = "
        f"{n_tests:,} linear models with {args.covariates} covariates; "
        f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f} "
        f"(each scenario in a fresh process)"
    )
    print()
    header = f"{'':34s}{'seconds':>9s}{'tests/s':>14s}{'x floor':>9s}{'peak GiB':>10s}"
    print(header)
    print("-" * len(header))
    floor = next((r["floor_seconds"] for r in results.values() if "floor_seconds" in r), None)

    def line(label, seconds, floor_s, peak=None, tests=n_tests):
        rate = tests / seconds
        memory = f"{peak:10.2f}" if peak is not None else ""
        print(f"{label:34s}{seconds:9.2f}{rate:14,.0f}{seconds / floor_s:9.1f}{memory}")

    if floor is not None:
        line("matrix product (the floor)", floor, floor)
    for key, label in (
        ("complete", "complete data, full table"),
        ("missing", "10% of genes with NaN"),
        ("dask", "Dask LocalCluster, 2 processes"),
        ("threshold", f"threshold mode, p <= {args.p_threshold:g}"),
    ):
        if key not in results:
            continue
        r = results[key]
        print(
            label
            + (f" ({r['kept']:,} pairs kept, {r['passes']} pass(es))" if key == "threshold" else "")
        )
        line("  end to end, first run", r["first_seconds"], r["floor_seconds"], r["peak_rss_gib"])
        line("  end to end, best run", r["best_seconds"], r["floor_seconds"], r["peak_rss_gib"])
        if "kernel_seconds" in r:
            print(f"{'    kernel (estimates, t, p, CI)':34s}{r['kernel_seconds']:9.2f}")
            print(f"{'    BH q-values':34s}{r['qvalue_seconds']:9.2f}")
        if "worker_peak_rss_gib" in r:
            print(f"{'    peak memory of a worker (GiB)':34s}{r['worker_peak_rss_gib']:9.2f}")
        if key != "complete":
            print(f"{'    (its own floor, seconds)':34s}{r['floor_seconds']:9.2f}")
    if "stream" in results:
        r = results["stream"]
        print(
            f"streamed to Parquet, {r['n_tests']:,} tests ({r['file_gib']:.2f} GiB file, "
            f"{r['summary_rows']:,} summary rows in the cohort)"
        )
        line(
            "  end to end (two passes)",
            r["seconds"],
            r["floor_seconds"],
            r["peak_rss_gib"],
            tests=r["n_tests"],
        )
        print(f"{'    (its own floor, seconds)':34s}{r['floor_seconds']:9.2f}")
    if "tensorqtl" in results:
        r = results["tensorqtl"]
        if "skipped" in r:
            print(f"tensorQTL map_trans: skipped, {r['skipped']} (pip install .[bench] to compare)")
        else:
            print("tensorQTL map_trans (CPU, torch)")
            line(
                f"  sparse, p <= {args.p_threshold:g}",
                r["sparse_seconds"],
                r["floor_seconds"],
                r["peak_rss_gib"],
            )
            line("  dense", r["dense_seconds"], r["floor_seconds"], r["peak_rss_gib"])
            if "threshold" in results:
                ours = results["threshold"]["first_seconds"]
                print(
                    f"    threshold mode, first run, vs tensorQTL sparse: "
                    f"{r['sparse_seconds'] / ours:.2f}x faster"
                )
    if "complete" in results:
        complete = results["complete"]
        per_test = complete["statsmodels_seconds_per_test"]
        total = per_test * n_tests
        print(
            f"{'statsmodels OLS loop, extrapolated':34s}{total:9.0f}{1 / per_test:14,.0f}"
            f"{total / complete['floor_seconds']:9.0f}   ({per_test * 1e3:.2f} ms a test, "
            f"{total / 3600:.1f} h)"
        )
        print()
        print(f"speed-up over the statsmodels loop: {total / complete['best_seconds']:,.0f}x")
    print(
        "targets: full table first run <= 4x the floor and < 3 GiB; threshold mode first "
        "run <= 2x the floor; 60M streamed tests < 4 GiB"
    )


if __name__ == "__main__":
    main()
