"""Radiogenomic associations: every x feature against every y feature, adjusted for
clinical covariates, with multiple-testing control.

``associate`` takes two blocks of the cohort (a modality, or clinical columns of
``mdata.obs``), aligns them on the cohort's patients, runs one of the vectorised kernels
of :mod:`radiogenomics.stats.association`, adjusts the p-values, and returns (and stores)
the tidy association table of DESIGN.md.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
import warnings
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import mudata as md
import numpy as np
import pandas as pd

from .._files import atomic_path
from ..cohort import store_result
from ..errors import CohortError, InputError
from ..stats.association import (
    BINARY_METHODS,
    FIELDS,
    METHODS,
    UNADJUSTED_METHODS,
    AssociationArrays,
    KeptPairs,
    associate_arrays,
)
from ..stats.multitest import METHODS as MULTITEST_METHODS
from ..stats.multitest import adjust_pvalues, adjust_smallest, empirical_fdr
from ._data import Block, as_list, design_matrix, modality_block, variables

__all__ = ["associate", "ASSOCIATION_COLUMNS", "FAMILIES", "association_frame", "kept_frame"]

#: Columns of the association table (data_schemas/association_table.json), in order.
ASSOCIATION_COLUMNS = ["x_modality", "x", "y_modality", "y", "method", "n", "estimate",
                       "std_error", "statistic", "p_value", "q_value", "ci_lower", "ci_upper",
                       "covariates"]

#: Multiple-testing families: all tests together, one per x feature, one per y feature.
FAMILIES = ("all", "x", "y")

RESULT_KIND = "associations"


def _block(mdata: md.MuData, spec, features, layer, side: str) -> Block:
    if isinstance(spec, str) and spec in mdata.mod:
        return modality_block(mdata, spec, features=features, layer=layer)
    if features is not None:
        raise InputError(f"{side}_features only applies to a modality",
                         expected=f"{side} naming a modality", found=spec)
    return variables(mdata, spec)


def _hash_inputs(*arrays: np.ndarray, names: Sequence[str] = ()) -> str:
    digest = hashlib.sha256()
    for array in arrays:
        contiguous = np.ascontiguousarray(array)
        digest.update(str(contiguous.shape).encode())
        digest.update(contiguous.view(np.uint8).reshape(-1))
    for name in names:
        digest.update(str(name).encode())
        digest.update(b"\0")
    return "sha256:" + digest.hexdigest()


def association_frame(
    values: np.ndarray,
    n: np.ndarray,
    x_names: Sequence[str],
    y_names: Sequence[str],
    *,
    x_modality: str,
    y_modality: str,
    method: str,
    covariates: str,
    x_offset: int = 0,
) -> pd.DataFrame:
    """The tidy association table (x-major rows) from the kernel's arrays, without copying
    the numbers: ``values`` is ``(7, n_x, n_y)`` in the order of ``FIELDS``.

    ``x``, ``y`` and the constant text columns are categorical. ``x_offset``: the arrays
    hold the x features ``x_names[x_offset:x_offset + n_x]`` (a chunk of the table).
    """
    n_x, n_y = n.shape
    total = n_x * n_y

    def constant(text: str) -> pd.Categorical:
        # np.zeros maps untouched zero pages: a constant column costs next to nothing
        return pd.Categorical.from_codes(np.zeros(total, dtype=np.int8), categories=[text])

    x_type = _code_type(len(x_names))
    x_codes = np.repeat(np.arange(x_offset, x_offset + n_x, dtype=x_type), n_y)
    y_codes = np.tile(np.arange(n_y, dtype=_code_type(n_y)), n_x)
    # three frames joined without copying (DataFrame.insert would copy every column)
    labels = pd.DataFrame({
        "x_modality": constant(x_modality),
        "x": pd.Categorical.from_codes(x_codes, categories=pd.Index(x_names)),
        "y_modality": constant(y_modality),
        "y": pd.Categorical.from_codes(y_codes, categories=pd.Index(y_names)),
        "method": constant(method),
        "n": n.reshape(total),
    }, copy=False)
    numbers = pd.DataFrame(values.reshape(len(FIELDS), total).T, columns=list(FIELDS),
                           copy=False)
    tail = pd.DataFrame({"covariates": constant(covariates)}, copy=False)
    return pd.concat([labels, numbers, tail], axis=1, copy=False)


def kept_frame(
    kept: KeptPairs,
    x_names: Sequence[str],
    y_names: Sequence[str],
    *,
    x_modality: str,
    y_modality: str,
    method: str,
    covariates: str,
) -> pd.DataFrame:
    """The association table of the kept pairs of threshold mode: the rows of the full
    table with ``p_value <= threshold``, in its order and with its categories."""
    total = kept.n.size

    def constant(text: str) -> pd.Categorical:
        return pd.Categorical.from_codes(np.zeros(total, dtype=np.int8), categories=[text])

    labels = pd.DataFrame({
        "x_modality": constant(x_modality),
        "x": pd.Categorical.from_codes(kept.x_index.astype(_code_type(len(x_names))),
                                       categories=pd.Index(x_names)),
        "y_modality": constant(y_modality),
        "y": pd.Categorical.from_codes(kept.y_index.astype(_code_type(len(y_names))),
                                       categories=pd.Index(y_names)),
        "method": constant(method),
        "n": kept.n,
    }, copy=False)
    numbers = pd.DataFrame(kept.values.T, columns=list(FIELDS), copy=False)
    tail = pd.DataFrame({"covariates": constant(covariates)}, copy=False)
    return pd.concat([labels, numbers, tail], axis=1, copy=False)


#: Threshold mode first collects the p-values up to this bound (or 100 times the
#: threshold when larger) for exact step-up q-values; a second pass runs when they need more.
TAIL_BOUND = 0.01


def _threshold_run(x, y, z, method, alpha, n_threads, client, threshold, multitest):
    """Threshold mode: the kept pairs with exact q-values over all tests (one pass, or
    two when the step-up q-values need p-values above the first pass's bound)."""
    kind = MULTITEST_METHODS[multitest.lower()]
    bound = threshold if kind in ("bonferroni", "holm") else \
        min(1.0, max(TAIL_BOUND, 100.0 * threshold))
    passes = 0
    while True:
        passes += 1
        kept = associate_arrays(x, y, z, method, alpha=alpha, n_threads=n_threads,
                                client=client, p_threshold=threshold, p_bound=bound)
        q, needed = adjust_smallest(kept["p_value"], kept.n_tests, kind, others=kept.tail,
                                    bound=kept.bound)
        if needed <= kept.bound or passes > 1:
            break
        bound = needed
    kept.values[FIELDS.index("q_value")] = q
    kept.info["passes"] = passes
    kept.info["p_bound"] = kept.bound
    return kept


def _permutation_fdr(p, x, y, z, method, alpha, n_threads, client, n_permutations, seed):
    """Empirical FDR of the observed p-values from ``n_permutations`` joint permutations
    of the patients of y (one permuted table's p-values in memory at a time)."""
    rng = np.random.default_rng(seed)

    def null_tables():
        for _ in range(n_permutations):
            rows = rng.permutation(y.shape[0])
            yield associate_arrays(x, y[rows], z, method, alpha=alpha, n_threads=n_threads,
                                   client=client)["p_value"]

    q, _ = empirical_fdr(p, null_tables())
    return q


#: Pairs per chunk of a streamed table (x features at a time; about 230 MB of fields).
STREAM_PAIRS = 1 << 22
#: The summary of a streamed table kept in the cohort: rows with q <= this ...
SUMMARY_Q = 0.05
#: ... at most this many (the smallest p-values), in the table's order.
SUMMARY_ROWS = 100_000


def _stream(bx: Block, by: Block, z, method, alpha, n_threads, client, multitest, family,
            out: Path, labels: dict, x_names, y_names):
    """Write the full table to Parquet ``out`` chunk by chunk (x-major row groups), never
    holding it whole.

    Pass 1 computes the pairs by chunks of x features and keeps only their p-values (8
    bytes a test); the q-values are the same correction over all of them as in memory
    (exact). Pass 2 computes the chunks again and writes each with its q-values.
    Returns the summary (rows with ``q <= SUMMARY_Q``, at most ``SUMMARY_ROWS``), the
    number of tests and the fit's notes.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    x, y = bx.values, by.values
    n_x, n_y = x.shape[1], y.shape[1]
    step = max(1, -(-STREAM_PAIRS // max(n_y, 1)))
    starts = list(range(0, n_x, step))
    info: dict = {"chunks": len(starts)}

    def chunk(start):
        xs = slice(start, min(n_x, start + step))
        part = associate_arrays(x[:, xs], y, z, method, alpha=alpha, n_threads=n_threads,
                                client=client)
        for key, value in part.info.items():
            if key.startswith("n_not") and value:
                info[key] = info.get(key, 0) + value
        return xs, part

    p = np.empty((n_x, n_y))
    for start in starts:
        xs, part = chunk(start)
        p[xs] = part["p_value"]
        del part
    info = {k: v for k, v in info.items() if not k.startswith("n_not")}  # counted in pass 2
    q = np.empty((n_x, n_y))
    if family == "all":
        adjust_pvalues(p, multitest, out=q)
    elif family == "x":
        adjust_pvalues(p, multitest, families="rows", out=q)
    else:
        adjust_pvalues(p.T, multitest, families="rows", out=q.T)
    n_tests = int(np.count_nonzero(~np.isnan(p)))
    del p
    summary: list[pd.DataFrame] = []
    summary_rows = 0
    n_constant = None
    writer = None
    # each chunk is written in a background thread while the next one is computed (at
    # most one chunk waits to be written)
    pool = ThreadPoolExecutor(1)
    pending = None
    with atomic_path(out) as tmp:
        try:
            for start in starts:
                xs, part = chunk(start)
                part.values[FIELDS.index("q_value")] = q[xs]
                frame = association_frame(part.values, part.n, x_names, y_names, **labels,
                                          x_offset=xs.start)
                n_chunk = part.info.get("n")
                n_constant = n_chunk if n_constant in (None, n_chunk) else -1
                table = pa.Table.from_pandas(frame, preserve_index=False)
                if writer is None:
                    # dictionaries for the text columns only (numbers rarely repeat)
                    text = [f.name for f in table.schema if pa.types.is_dictionary(f.type)]
                    writer = pq.ParquetWriter(tmp, table.schema, use_dictionary=text)
                if pending is not None:
                    pending.result()
                pending = pool.submit(writer.write_table, table)
                del table
                significant = frame[frame["q_value"].to_numpy() <= SUMMARY_Q]
                if len(significant):
                    summary.append(significant.copy())
                    summary_rows += len(significant)
                    if summary_rows > 2 * SUMMARY_ROWS:
                        summary = [_smallest(pd.concat(summary), SUMMARY_ROWS)]
                        summary_rows = len(summary[0])
                del frame, significant, part
            if pending is not None:
                pending.result()
        finally:
            pool.shutdown(wait=True)
            if writer is not None:
                writer.close()
    if summary:
        head = _smallest(pd.concat(summary), SUMMARY_ROWS)
    else:
        head = association_frame(np.empty((len(FIELDS), 0, n_y)),
                                 np.zeros((0, n_y), np.int32), x_names, y_names, **labels)
    if n_constant not in (None, -1):
        info["n"] = n_constant
    return head.reset_index(drop=True), n_tests, info


def _smallest(frame: pd.DataFrame, rows: int) -> pd.DataFrame:
    """The ``rows`` rows of smallest p-value, in the frame's order."""
    if len(frame) <= rows:
        return frame
    p = frame["p_value"].to_numpy()
    keep = np.sort(np.argpartition(p, rows - 1)[:rows])
    return frame.iloc[keep]


def _write_sidecar(out: Path, params: dict, rows: int) -> None:
    """``<out>.meta.json``: what the streamed table holds and how it was computed."""
    meta = {"file": out.name, "format": "parquet", "schema": "association_table",
            "rows": rows, "rows_total": rows, "filter": None,
            "note": "Rows in the order of the table (x-major), written as computed.",
            "method": params.get("method"), "covariates": params.get("covariates"),
            "multiple_testing": params.get("multitest"),
            "n_patients": params.get("n_patients"), "input_hash": params.get("input_hash"),
            "parameters": params}
    sidecar = out.with_name(out.name + ".meta.json")
    with atomic_path(sidecar) as tmp:
        tmp.write_text(json.dumps(meta, indent=2, default=str), encoding="utf-8")


def _code_type(size: int):
    return np.int16 if size < 2**15 else np.int32


def associate(
    mdata: md.MuData,
    x: str | Sequence[str] = "radiomics",
    y: str | Sequence[str] = "rna",
    covariates: str | Sequence[str] = (),
    method: str = "linear",
    *,
    key_added: str | None = None,
    multitest: str = "bh",
    family: str = "all",
    alpha: float = 0.05,
    x_features: Sequence[str] | None = None,
    y_features: Sequence[str] | None = None,
    x_layer: str | None = None,
    y_layer: str | None = None,
    n_threads: int | None = None,
    client=None,
    p_threshold: float | None = None,
    out: str | os.PathLike | None = None,
    n_permutations: int = 100,
    seed: int = 0,
) -> pd.DataFrame:
    """Test every x feature against every y feature, with covariates.

    Parameters
    ----------
    mdata
        The cohort.
    x, y
        A modality (``"radiomics"``, ``"rna"``, ``"protein"``, ``"mutation"``,
        ``"geneset"``, ...) or clinical columns of ``mdata.obs`` (a column name that is not
        a modality, or a list of names).
    covariates
        Clinical columns to adjust for (categorical ones become indicator columns).
    method
        ``"linear"`` (``y ~ x + covariates``, least squares; the default), ``"pearson"``,
        ``"spearman"`` (partial correlations given the covariates), ``"mannwhitney"``,
        ``"welch"`` (``x`` between the groups of a binary ``y``; no covariates) or
        ``"logistic"`` (``logit P(y = 1) ~ x + covariates``).
    key_added
        Key of the result in ``mdata.uns["radiogenomics"]["associations"]`` (default
        ``"<x>_vs_<y>"``).
    multitest
        ``"bh"`` (Benjamini-Hochberg), ``"by"``, ``"bonferroni"``, ``"holm"``,
        ``"storey"`` (q-values with Storey's pi0) or ``"permutation"`` (empirical FDR:
        the patients of y are permuted jointly, ``n_permutations`` times, keeping the
        correlation between y features as QTLtools does; at each observed p-value, the
        mean count of permuted p-values at or below it over the observed count, made
        monotone). Permuting y is exact under the null when y is exchangeable given the
        covariates (covariates without effect on y); family ``"all"`` only.
    family
        Over which tests the correction runs: ``"all"`` (every pair of the table),
        ``"x"`` (each x feature against all y, separately) or ``"y"``.
    alpha
        Confidence intervals are ``1 - alpha``.
    x_features, y_features
        Subsets of the modalities' features.
    x_layer, y_layer
        Layers of the modalities to use instead of ``X``.
    n_threads
        Worker threads (default: every core).
    client
        A ``dask.distributed.Client`` to run the chunks of y on (same results).
    p_threshold
        Threshold mode (Matrix eQTL's ``pvOutputThreshold``, tensorQTL's
        ``pval_threshold``): keep only the pairs with ``p_value <= p_threshold``. For
        linear, pearson and spearman only the pairs whose ``|t|`` reaches the threshold's
        critical value get their p-values and intervals computed. The rows and their
        q-values equal those of the full table filtered at the threshold exactly: the
        q-values are corrected over all ``n_tests`` tests (``bh``, ``by``, ``bonferroni``,
        ``holm``; family ``"all"``), using the p-values just above the threshold that
        step-up corrections need. ``attrs["radiogenomics"]["n_tests"]`` records the count.
    n_permutations, seed
        Permutations for ``multitest="permutation"`` and the seed that draws them.
    out
        Stream the table to this Parquet file (with ``<out>.meta.json``) as it is
        computed, by chunks of x features, never holding it whole: the q-values come from
        a first pass that keeps only the p-values (8 bytes a test; the same exact
        correction as in memory), a second pass writes the rows. The cohort then stores
        the summary (rows with ``q_value <= 0.05``, at most 100,000 of the smallest
        p-values) and the path (``params["path"]``), and the summary is returned. With
        ``p_threshold``, the kept rows are written.

    Returns
    -------
    pandas.DataFrame
        One row per pair (x-major): ``x_modality, x, y_modality, y, method, n, estimate,
        std_error, statistic, p_value, q_value, ci_lower, ci_upper, covariates``. ``n`` is
        the number of patients with x, y and every covariate. ``estimate`` is the
        coefficient of x (linear, logistic: log odds ratio), the (partial) correlation
        (pearson, spearman), the rank-biserial correlation (mannwhitney: positive when
        ``y = 1`` has larger x) or the difference of means ``y = 1`` minus ``y = 0``
        (welch). ``statistic`` is the t (linear, correlations, welch), Wald z (logistic)
        or U of the ``y = 1`` group (mannwhitney). The frame's ``attrs["radiogenomics"]``
        holds how it was computed (also stored with the result).
    """
    started = time.perf_counter()
    if method not in METHODS:
        raise InputError("unknown association method", expected=f"one of {list(METHODS)}",
                         found=method)
    permutation = multitest.lower() == "permutation"
    if multitest.lower() not in MULTITEST_METHODS and not permutation:
        raise InputError("unknown multiple-testing method",
                         expected=f"one of {sorted(set(MULTITEST_METHODS)) + ['permutation']}",
                         found=multitest)
    if permutation:
        if family != "all" or p_threshold is not None or out is not None:
            raise InputError("permutation FDR is computed over all tests of an in-memory "
                             "table", expected="family 'all', no p_threshold, no out",
                             found={"family": family, "p_threshold": p_threshold,
                                    "out": None if out is None else str(out)})
        if int(n_permutations) < 1:
            raise InputError("n_permutations must be at least 1", found=n_permutations)
    if family not in FAMILIES:
        raise InputError("unknown multiple-testing family", expected=f"one of {FAMILIES}",
                         found=family)
    if not 0 < alpha < 1:
        raise InputError("alpha must lie between 0 and 1", found=alpha)
    if p_threshold is not None:
        if not 0 <= p_threshold <= 1:
            raise InputError("p_threshold must lie between 0 and 1", found=p_threshold)
        if MULTITEST_METHODS[multitest.lower()] == "storey":
            raise InputError(
                "Storey q-values need every p-value (pi0) and cannot be computed in "
                "threshold mode", expected="multitest 'bh', 'by', 'bonferroni' or 'holm'",
                found=multitest, hint="Leave out p_threshold for Storey q-values")
        if family != "all":
            raise InputError("threshold mode corrects over all tests only",
                             expected="family 'all'", found=family)
    covariate_names = as_list(covariates)
    if method in UNADJUSTED_METHODS and covariate_names:
        raise InputError(
            f"method {method!r} compares two groups and cannot adjust for covariates",
            expected="no covariates", found=covariate_names,
            hint="Use method='logistic' (binary y) or 'linear' to adjust for covariates",
        )
    bx = _block(mdata, x, x_features, x_layer, "x")
    by = _block(mdata, y, y_features, y_layer, "y")
    z, z_names = design_matrix(mdata.obs, covariate_names)
    if method in BINARY_METHODS:
        _check_binary(by, method)
    _check_numbers(bx, "x")
    _check_numbers(by, "y")
    covariate_text = ",".join(covariate_names)
    x_modality = bx.source
    y_modality = by.source
    labels = dict(x_modality=x_modality, y_modality=y_modality, method=method,
                  covariates=covariate_text)
    if out is not None:
        out = Path(out)
        if out.suffix.lower() != ".parquet":
            raise InputError("a streamed association table is written as Parquet", file=out,
                             expected="a path ending in .parquet", found=out.suffix or "none")
    streamed = out is not None and p_threshold is None
    if streamed:
        frame, n_tests, info = _stream(bx, by, z, method, alpha, n_threads, client, multitest,
                                       family, out, labels, bx.names, by.names)
        n_pairs = len(bx.names) * len(by.names)
        n_untestable = n_pairs - n_tests
        result = AssociationArrays(values=np.empty((len(FIELDS), 0, 0)),
                                   n=np.empty((0, 0), np.int32), method=method, info=info)
    elif p_threshold is not None:
        result = _threshold_run(bx.values, by.values, z, method, alpha, n_threads, client,
                                p_threshold, multitest)
        frame = kept_frame(result, bx.names, by.names, **labels)
        n_pairs = len(bx.names) * len(by.names)
        n_untestable = n_pairs - result.n_tests
    else:
        result = associate_arrays(bx.values, by.values, z, method, alpha=alpha,
                                  n_threads=n_threads, client=client)
        p = result["p_value"]
        q = result["q_value"]
        if permutation:
            q[...] = _permutation_fdr(p, bx.values, by.values, z, method, alpha, n_threads,
                                      client, int(n_permutations), seed)
        elif family == "all":
            adjust_pvalues(p, multitest, out=q)
        elif family == "x":
            adjust_pvalues(p, multitest, families="rows", out=q)
        else:
            adjust_pvalues(p.T, multitest, families="rows", out=q.T)
        frame = association_frame(result.values, result.n, bx.names, by.names, **labels)
        n_pairs = p.size
        n_untestable = int(np.isnan(p).sum())
    complete = ~np.isnan(z).any(axis=1) if z.shape[1] else np.ones(len(bx.patients), bool)
    in_both = (~np.isnan(bx.values)).any(axis=1) & (~np.isnan(by.values)).any(axis=1)
    params = {
        "x": x if isinstance(x, str) else list(x),
        "y": y if isinstance(y, str) else list(y),
        "x_modality": x_modality,
        "y_modality": y_modality,
        "method": method,
        "covariates": covariate_names,
        "covariate_columns": z_names,
        "multitest": {"method": multitest.lower(), "family": family},
        "alpha": alpha,
        "n_x": len(bx.names),
        "n_y": len(by.names),
        "n_tests": int(n_pairs - n_untestable),
        "n_untestable": n_untestable,
        "n_patients": int((complete & in_both).sum()),
        "n_patients_cohort": int(mdata.n_obs),
        "input_hash": _hash_inputs(bx.values, by.values, z,
                                   names=[*bx.names, *by.names, *z_names]),
        "seconds": round(time.perf_counter() - started, 3),
    }
    if method == "mannwhitney":
        from ..stats.ranks import EXACT_RULE

        params["mannwhitney_p_value"] = EXACT_RULE
    if permutation:
        params["multitest"]["n_permutations"] = int(n_permutations)
        params["multitest"]["seed"] = int(seed)
    if p_threshold is not None:
        params["p_threshold"] = float(p_threshold)
        params["n_kept"] = len(frame)
        params["p_bound"] = result.info["p_bound"]
        params["passes"] = result.info["passes"]
    if out is not None:
        params["path"] = str(out.resolve())
        params["rows_written"] = n_pairs if streamed else len(frame)
        if streamed:
            params["summary"] = (f"rows with q_value <= {SUMMARY_Q} (at most {SUMMARY_ROWS} "
                                 f"of the smallest p-values); the whole table is in path")
            params["chunks"] = result.info["chunks"]
    if x_layer or y_layer:
        params["layers"] = {"x": x_layer, "y": y_layer}
    if "n" in result.info:
        params["n_per_pair"] = result.info["n"]
    if result.info.get("n_not_converged"):
        params["n_not_converged"] = result.info["n_not_converged"]
    if n_untestable:
        warnings.warn(
            f"{n_untestable} of {n_pairs} pairs could not be tested (a constant feature, a "
            "feature explained by the covariates, too few patients, or a logistic fit that "
            "did not converge); their statistics are NaN",
            stacklevel=2,
        )
    key = key_added or _default_key(x, y)
    if out is not None and not streamed:  # threshold mode: the kept rows
        import pyarrow as pa
        import pyarrow.parquet as pq

        with atomic_path(out) as tmp:
            pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), tmp)
    if out is not None:
        params["seconds"] = round(time.perf_counter() - started, 3)
        _write_sidecar(out, params, params["rows_written"])
    frame.attrs["radiogenomics"] = dict(params, key=key, kind=RESULT_KIND)
    store_result(mdata, RESULT_KIND, key, frame, params)
    return frame


def _default_key(x, y) -> str:
    def name(spec):
        return spec if isinstance(spec, str) else "clinical"

    return f"{name(x)}_vs_{name(y)}"


def _check_binary(block: Block, method: str) -> None:
    values = block.values
    present = ~np.isnan(values)
    bad = present & (values != 0) & (values != 1)
    if bad.any():
        row, column = np.argwhere(bad)[0]
        raise CohortError(
            f"method {method!r} needs a binary y (0/1)",
            row=str(block.patients[row]), column=block.names[column],
            expected=f"0 or 1 in every y column of {block.source!r}",
            found=values[row, column],
            hint="Swap x and y if x is the binary variable",
        )


def _check_numbers(block: Block, side: str) -> None:
    infinite = np.isinf(block.values)
    if infinite.any():
        row, column = np.argwhere(infinite)[0]
        raise CohortError(
            f"an infinite value in {side} ({block.source!r})",
            row=str(block.patients[row]), column=block.names[column],
            expected="finite numbers (or missing values)", found=block.values[row, column],
        )
