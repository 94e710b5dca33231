"""Association engine at scale: threshold mode against the full table filtered at the
threshold (rows, numbers and q-values over all tests, against statsmodels' corrections)."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pandas as pd
import pytest
from anndata import AnnData
from statsmodels.stats.multitest import multipletests

import radiogenomics as rg
from radiogenomics.stats.association import associate_arrays
from radiogenomics.stats.multitest import adjust_smallest

STATSMODELS = {"bh": "fdr_bh", "by": "fdr_by", "bonferroni": "bonferroni", "holm": "holm"}


def statsmodels_adjusted(p: np.ndarray, method: str) -> np.ndarray:
    """statsmodels' correction over the tests (NaN p-values are not tests)."""
    out = np.full(p.shape, np.nan)
    ok = ~np.isnan(p)
    out[ok] = multipletests(p[ok], method=STATSMODELS[method])[1]
    return out


def cohort(
    seed: int = 0,
    n: int = 90,
    n_x: int = 12,
    n_y: int = 300,
    signal: float = 0.45,
    missing: bool = True,
    scattered: float = 0.04,
):
    """Radiomics and rna with planted links, covariates (one categorical), missing values
    scattered, in a shared block, and in a covariate."""
    rng = np.random.default_rng(seed)
    patients = [f"P{i:03d}" for i in range(n)]
    x = rng.normal(size=(n, n_x)) * rng.uniform(0.1, 100, n_x)
    y = rng.normal(size=(n, n_y))
    y[:, : n_y // 3] += signal * (x[:, [0]] / x[:, 0].std())
    y[:, n_y // 3 : n_y // 2] += 0.8 * signal * (x[:, [1]] / x[:, 1].std())
    clinical = pd.DataFrame(
        {
            "age": rng.normal(60, 9, n),
            "stage": rng.choice(["I", "II", "III"], n),
            "score": rng.normal(size=n),
        },
        index=patients,
    )
    if missing:
        y[rng.random(y.shape) < scattered] = np.nan
        y[:7, 200:260] = np.nan  # a shared pattern
        x[rng.random(x.shape) < 0.03] = np.nan
        clinical.iloc[3, 0] = np.nan

    def adata(values, prefix):
        return AnnData(
            X=values,
            obs=pd.DataFrame(index=patients),
            var=pd.DataFrame(index=[f"{prefix}{k}" for k in range(values.shape[1])]),
        )

    return rg.build_cohort(
        {"radiomics": adata(x, "feature_"), "rna": adata(y, "GENE")}, clinical=clinical
    )


def full_and_threshold(mdata, threshold, **options):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        full = rg.tl.associate(mdata, "radiomics", "rna", key_added="full", **options)
        kept = rg.tl.associate(
            mdata, "radiomics", "rna", key_added="kept", p_threshold=threshold, **options
        )
    return full, kept


@pytest.mark.parametrize(
    "method,covariates,missing",
    [
        ("linear", ["age", "stage", "score"], True),
        ("linear", ["age", "score"], False),
        ("pearson", ["age", "stage"], True),
        ("spearman", ["score"], True),
        ("spearman", [], False),
    ],
)
@pytest.mark.parametrize("multitest", ["bh", "by", "holm", "bonferroni"])
def test_threshold_mode_equals_the_full_table_filtered(method, covariates, missing, multitest):
    # spearman ranks each missingness pattern on its own: fewer scattered holes
    mdata = cohort(
        seed=len(method) + missing,
        missing=missing,
        scattered=0.002 if method == "spearman" else 0.04,
    )
    threshold = 1e-4
    full, kept = full_and_threshold(
        mdata, threshold, method=method, covariates=covariates, multitest=multitest
    )
    expected = full[full["p_value"] <= threshold].reset_index(drop=True)
    assert 20 < len(expected) < len(full) // 2
    # the same rows, in the same order, with the same numbers to the last bit
    pd.testing.assert_frame_equal(kept, expected, check_exact=True)
    # q-values over all tests, as statsmodels corrects the full table's p-values
    reference = statsmodels_adjusted(full["p_value"].to_numpy(), multitest)
    reference = reference[full["p_value"].to_numpy() <= threshold]
    np.testing.assert_allclose(kept["q_value"], reference, rtol=1e-13)
    n_tests = int(full["p_value"].notna().sum())
    assert kept.attrs["radiogenomics"]["n_tests"] == n_tests
    params = mdata.uns["radiogenomics"]["params"]["associations"]["kept"]
    assert params["n_tests"] == n_tests and params["p_threshold"] == threshold
    assert params["n_kept"] == len(kept)


def test_threshold_mode_under_the_null_needs_and_takes_a_second_pass():
    # no signal: BH q-values of the few kept pairs depend on p-values far above the
    # threshold; the second pass collects them and the q-values stay exact
    mdata = cohort(seed=5, signal=0.0, n_y=600)
    threshold = 1e-3
    full, kept = full_and_threshold(mdata, threshold, covariates=["age"])
    expected = full[full["p_value"] <= threshold].reset_index(drop=True)
    assert len(expected) > 5
    pd.testing.assert_frame_equal(kept, expected, check_exact=True)
    reference = statsmodels_adjusted(full["p_value"].to_numpy(), "bh")
    np.testing.assert_allclose(kept["q_value"], reference[full["p_value"] <= threshold], rtol=1e-13)
    assert kept.attrs["radiogenomics"]["passes"] == 2


def test_threshold_mode_on_binary_methods_filters_every_pair():
    rng = np.random.default_rng(3)
    x = rng.normal(size=(80, 6))
    y = (rng.normal(size=(80, 50)) + x[:, [0]] > 0).astype(float)
    full = associate_arrays(x, y, None, "welch")
    kept = associate_arrays(x, y, None, "welch", p_threshold=0.01)
    ii, jj = np.nonzero(full["p_value"] <= 0.01)
    assert ii.size > 3
    np.testing.assert_array_equal(kept.x_index, ii)
    np.testing.assert_array_equal(kept.y_index, jj)
    np.testing.assert_array_equal(kept["p_value"], full["p_value"][ii, jj])
    assert kept.n_tests == 6 * 50


def test_smallest_p_values_need_the_tail_for_bh():
    # the kept value alone would give q = 1; the p-value just above the threshold
    # brings the BH q-value of the kept one down to 0.0100001 * 100 / 2
    rng = np.random.default_rng(0)
    p = np.concatenate(([0.01, 0.0100001], rng.uniform(0.5, 1.0, 98)))
    reference = multipletests(p, method="fdr_bh")[1]
    assert reference[0] == pytest.approx(0.500005, rel=1e-12)
    # knowing every p-value up to 0.0100001 is not enough: unknown ones above it could
    # still lower the q-value; the bound that settles it is reported
    q, needed = adjust_smallest(p[:1], 100, "bh", others=p[1:2], bound=0.0100001)
    assert needed == pytest.approx(0.500005, rel=1e-12)
    # with every p-value up to that bound the value is exact
    others = p[1:][p[1:] <= needed]
    q, settled = adjust_smallest(p[:1], 100, "bh", others=others, bound=needed)
    assert settled <= needed and q[0] == pytest.approx(reference[0], rel=1e-15)
    q_alone, needed = adjust_smallest(p[:1], 100, "bh", bound=0.01)
    assert q_alone[0] == 1.0 and needed == 1.0
    # Holm and Bonferroni need no tail
    for method in ("holm", "bonferroni"):
        q, _ = adjust_smallest(p[:2], 100, method)
        np.testing.assert_allclose(q, multipletests(p, method=method)[1][:2], rtol=1e-15)


def test_threshold_mode_refuses_what_it_cannot_do_exactly():
    mdata = cohort(seed=1, n_y=40)
    with pytest.raises(rg.errors.InputError, match="Storey"):
        rg.tl.associate(mdata, "radiomics", "rna", multitest="storey", p_threshold=1e-3)
    with pytest.raises(rg.errors.InputError, match="family"):
        rg.tl.associate(mdata, "radiomics", "rna", family="x", p_threshold=1e-3)
    with pytest.raises(rg.errors.InputError, match="p_threshold"):
        rg.tl.associate(mdata, "radiomics", "rna", p_threshold=2.0)
    with pytest.raises(ValueError, match="Storey"):
        adjust_smallest(np.array([0.01]), 10, "storey")


@pytest.mark.parametrize(
    "method,covariates,missing,family",
    [
        ("linear", ["age", "stage", "score"], True, "all"),
        ("linear", ["age"], False, "x"),
        ("spearman", ["score"], False, "all"),
        ("welch", [], True, "y"),
    ],
)
def test_streamed_table_equals_the_in_memory_table(
    tmp_path, monkeypatch, method, covariates, missing, family
):
    import pyarrow.parquet as pq

    from radiogenomics.tl import associations as module

    monkeypatch.setattr(module, "STREAM_PAIRS", 700)  # several chunks of x features
    mdata = cohort(seed=7, missing=missing, n_y=250)
    if method == "welch":
        mdata.mod["rna"].X = (np.nan_to_num(mdata.mod["rna"].X, nan=0.5) > 0.3).astype(float)
        mdata.mod["rna"].X[:4, :30] = np.nan
    options = dict(method=method, covariates=covariates, family=family)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        memory = rg.tl.associate(mdata, "radiomics", "rna", key_added="memory", **options)
        path = tmp_path / "table.parquet"
        summary = rg.tl.associate(
            mdata, "radiomics", "rna", key_added="streamed", out=path, **options
        )
    meta = pq.ParquetFile(path).metadata
    assert meta.num_row_groups >= 4  # written chunk by chunk
    streamed = pd.read_parquet(path)
    assert list(streamed.columns) == list(memory.columns)
    for column in ("x_modality", "x", "y_modality", "y", "method", "covariates"):
        assert streamed[column].astype(str).tolist() == memory[column].astype(str).tolist()
    np.testing.assert_array_equal(streamed["n"], memory["n"])
    for column in ("estimate", "std_error", "statistic", "p_value", "ci_lower", "ci_upper"):
        np.testing.assert_allclose(
            streamed[column], memory[column], rtol=1e-12, atol=0, equal_nan=True
        )
    # q-values over the whole table (or family), as statsmodels corrects the p-values
    p = memory["p_value"].to_numpy()
    if family == "all":
        reference = statsmodels_adjusted(p, "bh")
    else:
        reference = np.full(p.shape, np.nan)
        for _, rows in memory.groupby(family, observed=True).indices.items():
            reference[rows] = statsmodels_adjusted(p[rows], "bh")
    np.testing.assert_allclose(streamed["q_value"], reference, rtol=1e-12, equal_nan=True)
    # the cohort keeps the path and the summary (the significant rows)
    params = mdata.uns["radiogenomics"]["params"]["associations"]["streamed"]
    assert params["path"] == str(path.resolve()) and params["rows_written"] == len(memory)
    assert params["n_tests"] == int(memory["p_value"].notna().sum())
    expected = memory[memory["q_value"] <= 0.05].reset_index(drop=True)
    assert len(expected) > 0
    pd.testing.assert_frame_equal(
        summary.reset_index(drop=True), expected, check_exact=False, rtol=1e-12
    )
    assert rg.get_result(mdata, "associations", "streamed") is summary
    sidecar = path.with_name(path.name + ".meta.json")
    assert json.loads(sidecar.read_text())["rows"] == len(memory)


def test_threshold_mode_writes_the_kept_rows(tmp_path):
    mdata = cohort(seed=2, n_y=120)
    path = tmp_path / "kept.parquet"
    kept = rg.tl.associate(
        mdata, "radiomics", "rna", covariates=["age"], p_threshold=1e-4, out=path
    )
    written = pd.read_parquet(path)
    pd.testing.assert_frame_equal(written, kept, check_exact=True)
    with pytest.raises(rg.errors.InputError, match="Parquet"):
        rg.tl.associate(mdata, "radiomics", "rna", out=tmp_path / "table.csv")


def test_figures_and_dashboard_store_read_a_streamed_table_from_its_file(tmp_path):
    from dashboards.store import TableFilter, TableStore

    mdata = cohort(seed=4, n_y=200)
    path = tmp_path / "table.parquet"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        memory = rg.tl.associate(mdata, "radiomics", "rna", key_added="memory")
        rg.tl.associate(mdata, "radiomics", "rna", key_added="streamed", out=path)
    stored = rg.get_result(mdata, "associations", "streamed")
    assert len(stored) < len(memory)  # the cohort holds the summary only
    figure = rg.pl.volcano(mdata, "streamed", max_points=10**6, label_top=0)
    drawn = sum(len(trace.x) for trace in figure.data if trace.x is not None)
    assert drawn == int(memory["p_value"].notna().sum())  # every row of the file
    # a pair outside the summary: its stored statistics come from the file
    row = memory[memory["q_value"] > 0.5].iloc[3]
    assert not ((stored["x"] == row["x"]) & (stored["y"] == row["y"])).any()
    figure = rg.pl.pair(mdata, str(row["x"]), str(row["y"]), key="streamed")
    assert f"q = {row['q_value']:.3g}" in str(figure.to_dict())
    store = TableStore(path, kind="associations")
    assert store.n_rows == len(memory)
    best = memory.nsmallest(1, "p_value").iloc[0]
    top = store.top(TableFilter(q_max=0.05), limit=1)
    assert top.iloc[0]["x"] == best["x"] and top.iloc[0]["y"] == best["y"]
    store.close()


def test_dashboard_serves_a_streamed_table_from_its_file(tmp_path):
    from dashboards.results import load_results

    mdata = cohort(seed=6, n_y=150)
    path = tmp_path / "elsewhere" / "table.parquet"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        rg.tl.associate(mdata, "radiomics", "rna", key_added="streamed", out=path)
    rg.write_cohort(mdata, tmp_path / "cohort.h5mu")
    results = load_results(tmp_path / "cohort.h5mu")
    assert results.associations["streamed"].n_rows == 12 * 150
    assert len(rg.get_result(mdata, "associations", "streamed")) < 12 * 150


def _null_cohort(seed: int, n: int = 60, n_x: int = 8, n_y: int = 50):
    """x and y independent; the genes share a factor (correlated, as genes are)."""
    rng = np.random.default_rng(seed)
    patients = [f"P{i:03d}" for i in range(n)]
    x = rng.normal(size=(n, n_x))
    y = rng.normal(size=(n, 1)) * 0.8 + rng.normal(size=(n, n_y))

    def adata(values, prefix):
        return AnnData(
            X=values,
            obs=pd.DataFrame(index=patients),
            var=pd.DataFrame(index=[f"{prefix}{k}" for k in range(values.shape[1])]),
        )

    return rg.build_cohort({"radiomics": adata(x, "feature_"), "rna": adata(y, "GENE")})


def test_permutation_fdr_matches_a_pair_by_pair_scipy_loop():
    from scipy import stats

    mdata = _null_cohort(3, n=30, n_x=3, n_y=5)
    mdata.mod["rna"].X[:, 0] += 0.9 * mdata.mod["radiomics"].X[:, 0]  # one real link
    table = rg.tl.associate(
        mdata,
        "radiomics",
        "rna",
        method="pearson",
        multitest="permutation",
        n_permutations=7,
        random_state=11,
    )
    x, y = mdata["radiomics"].X, mdata["rna"].X
    observed = np.array([stats.pearsonr(x[:, i], y[:, j])[1] for i in range(3) for j in range(5)])
    rng = np.random.default_rng(11)
    null = []
    for _ in range(7):
        rows = rng.permutation(30)
        null.extend(stats.pearsonr(x[:, i], y[rows, j])[1] for i in range(3) for j in range(5))
    null = np.array(null)
    expected = np.array([min(1.0, (null <= t).sum() / 7 / (observed <= t).sum()) for t in observed])
    # monotone in p: the running minimum from the largest p-value down
    order = np.argsort(observed)
    expected[order] = np.minimum.accumulate(expected[order][::-1])[::-1]
    np.testing.assert_allclose(table["p_value"], observed, rtol=1e-10)
    np.testing.assert_allclose(table["q_value"], expected, rtol=1e-12)
    assert table.attrs["radiogenomics"]["multitest"] == {
        "method": "permutation",
        "family": "all",
        "n_permutations": 7,
        "seed": 11,
    }


def test_permutation_fdr_is_calibrated_under_the_null_across_seeds():
    # under the complete null every discovery is false: the FDR is the chance of any
    # discovery, which must not exceed the level (20 data sets, 30 permutations each)
    level = 0.2
    any_discovery = 0
    estimated, observed = 0.0, 0
    for seed in range(20):
        mdata = _null_cohort(seed)
        table = rg.tl.associate(
            mdata,
            "radiomics",
            "rna",
            method="linear",
            multitest="permutation",
            n_permutations=30,
            random_state=seed,
        )
        any_discovery += bool((table["q_value"] <= level).any())
        p = table["p_value"].to_numpy()
        small = p <= 0.05
        observed += int(small.sum())
        # the estimate at t = 0.05: q there is (mean null count) / (observed count) at most
        if small.any():
            estimated += float(table["q_value"][small].max()) * int(small.sum())
    # Binomial(20, 0.2): P(X >= 9) is about 0.01
    assert any_discovery <= 8
    # with no signal the estimated false discoveries account for what is observed
    assert estimated >= 0.6 * observed


def test_associate_command_threshold_and_stream(tmp_path, capsys):
    from radiogenomics.cli import main

    mdata = cohort(seed=8, n_y=100)
    path = rg.write_cohort(mdata, tmp_path / "cohort.h5mu")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        full = rg.tl.associate(mdata, "radiomics", "rna", covariates=["age"])
    kept_path = tmp_path / "kept.tsv"
    assert (
        main(
            [
                "associate",
                str(path),
                "--covariates",
                "age",
                "--p-threshold",
                "1e-4",
                "--out",
                str(kept_path),
            ]
        )
        == 0
    )
    kept = pd.read_csv(kept_path, sep="\t")
    expected = full[full["p_value"] <= 1e-4]
    assert len(kept) == len(expected) > 0
    # (text keeps about 12 significant digits)
    np.testing.assert_allclose(np.sort(kept["q_value"]), np.sort(expected["q_value"]), rtol=1e-10)
    assert "with p <= 0.0001 kept" in capsys.readouterr().out
    streamed = tmp_path / "all.parquet"
    assert (
        main(["associate", str(path), "--covariates", "age", "--stream", "--out", str(streamed)])
        == 0
    )
    table = pd.read_parquet(streamed)
    np.testing.assert_allclose(table["q_value"], full["q_value"], rtol=1e-12)
    assert rg.export.read_sidecar(streamed)["rows"] == len(full)
    assert main(["associate", str(path), "--stream", "--top", "5", "--out", str(streamed)]) == 2


def test_threshold_mode_on_dask_gives_the_same_rows_and_q_values():
    distributed = pytest.importorskip("distributed")
    mdata = cohort(seed=9, n_y=200)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        local = rg.tl.associate(
            mdata,
            "radiomics",
            "rna",
            covariates=["age", "stage"],
            p_threshold=1e-4,
            key_added="local",
        )
        with (
            distributed.LocalCluster(
                n_workers=1, threads_per_worker=2, processes=False, dashboard_address=":0"
            ) as cluster,
            distributed.Client(cluster) as client,
        ):
            remote = rg.tl.associate(
                mdata,
                "radiomics",
                "rna",
                covariates=["age", "stage"],
                p_threshold=1e-4,
                key_added="remote",
                client=client,
            )
            x, y = mdata["radiomics"].X, mdata["rna"].X
            z = mdata.obs[["age", "score"]].to_numpy(float)
            chunked = associate_arrays(
                x, y, z, p_threshold=1e-3, p_bound=0.01, client=client, chunk_columns=37
            )
    full = associate_arrays(x, y, z)
    ii, jj = np.nonzero(full["p_value"] <= 1e-3)
    np.testing.assert_array_equal(chunked.x_index, ii)
    np.testing.assert_array_equal(chunked.y_index, jj)
    np.testing.assert_allclose(chunked["p_value"], full["p_value"][ii, jj], rtol=1e-10)
    p = full["p_value"]
    assert chunked.n_tests == int(np.count_nonzero(~np.isnan(p)))
    assert chunked.info["n_tasks"] == 6
    tail = np.sort(p[(p > 1e-3) & (p <= 0.01)])
    np.testing.assert_allclose(np.sort(chunked.tail), tail, rtol=1e-10)
    assert len(local) > 10
    for column in ("x", "y", "n"):
        assert remote[column].tolist() == local[column].tolist()
    # chunks of y may split a shared missingness pattern: the same numbers to rounding
    for column in ("estimate", "p_value", "q_value", "ci_lower", "ci_upper"):
        np.testing.assert_allclose(remote[column], local[column], rtol=1e-10)
    assert remote.attrs["radiogenomics"]["n_tests"] == local.attrs["radiogenomics"]["n_tests"]
