"""How ``associate`` computes a table beyond one in-memory pass: threshold mode (the kept
pairs with exact q-values), the permutation FDR, and streaming a table to Parquet chunk by
chunk."""

from __future__ import annotations

import inspect
import json
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd

from .._data import Block
from .._files import atomic_path, atomic_write
from ..stats.association import FIELDS, associate_arrays
from ..stats.multitest import METHODS as MULTITEST_METHODS
from ..stats.multitest import adjust_pvalues, adjust_smallest, empirical_fdr
from ._association_frames import _smallest, association_frame

# the kernel's name for its worker count (n_threads in older versions of the kernel)
_JOBS = "n_jobs" if "n_jobs" in inspect.signature(associate_arrays).parameters else "n_threads"


def run_kernel(x, y, z, method: str, *, n_jobs: int | None = None, **options):
    """:func:`radiogenomics.stats.association.associate_arrays` with ``n_jobs`` workers."""
    return associate_arrays(x, y, z, method, **{_JOBS: n_jobs}, **options)


#: Threshold mode first collects the p-values up to this bound (or 100 times the
#: threshold when larger) for exact step-up q-values; a second pass runs when they need more.
TAIL_BOUND = 0.01


def _threshold_run(x, y, z, method, alpha, n_jobs, client, threshold, multitest):
    """Threshold mode: the kept pairs with exact q-values over all tests (one pass, or
    two when the step-up q-values need p-values above the first pass's bound)."""
    kind = MULTITEST_METHODS[multitest.lower()]
    bound = (
        threshold
        if kind in ("bonferroni", "holm")
        else min(1.0, max(TAIL_BOUND, 100.0 * threshold))
    )
    passes = 0
    while True:
        passes += 1
        kept = run_kernel(
            x,
            y,
            z,
            method,
            alpha=alpha,
            n_jobs=n_jobs,
            client=client,
            p_threshold=threshold,
            p_bound=bound,
        )
        q, needed = adjust_smallest(
            kept["p_value"], kept.n_tests, kind, others=kept.tail, bound=kept.bound
        )
        if needed <= kept.bound or passes > 1:
            break
        bound = needed
    kept.values[FIELDS.index("q_value")] = q
    kept.info["passes"] = passes
    kept.info["p_bound"] = kept.bound
    return kept


def _permutation_fdr(p, x, y, z, method, alpha, n_jobs, client, n_permutations, random_state):
    """Empirical FDR of the observed p-values from ``n_permutations`` joint permutations
    of the patients of y (one permuted table's p-values in memory at a time)."""
    rng = np.random.default_rng(random_state)

    def null_tables():
        for _ in range(n_permutations):
            rows = rng.permutation(y.shape[0])
            yield run_kernel(x, y[rows], z, method, alpha=alpha, n_jobs=n_jobs, client=client)[
                "p_value"
            ]

    q, _ = empirical_fdr(p, null_tables())
    return q


#: The summary of a streamed table kept in the cohort: rows with q <= this ...
SUMMARY_Q = 0.05
#: ... at most this many (the smallest p-values), in the table's order.
SUMMARY_ROWS = 100_000


def _stream(
    bx: Block,
    by: Block,
    z,
    method,
    alpha,
    n_jobs,
    client,
    multitest,
    family,
    out: Path,
    labels: dict,
    x_names,
    y_names,
    pairs: int,
):
    """Write the full table to Parquet ``out`` chunk by chunk (x-major row groups), never
    holding it whole, by chunks of about ``pairs`` pairs.

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
    step = max(1, -(-pairs // max(n_y, 1)))
    starts = list(range(0, n_x, step))
    info: dict = {"chunks": len(starts)}

    def chunk(start):
        xs = slice(start, min(n_x, start + step))
        part = run_kernel(x[:, xs], y, z, method, alpha=alpha, n_jobs=n_jobs, client=client)
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
                frame = association_frame(
                    part.values, part.n, x_names, y_names, **labels, x_offset=xs.start
                )
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
        head = association_frame(
            np.empty((len(FIELDS), 0, n_y)),
            np.zeros((0, n_y), np.int32),
            x_names,
            y_names,
            **labels,
        )
    if n_constant not in (None, -1):
        info["n"] = n_constant
    return head.reset_index(drop=True), n_tests, info


def _write_sidecar(out: Path, params: dict, rows: int) -> None:
    """``<out>.meta.json``: what the streamed table holds and how it was computed."""
    meta = {
        "file": out.name,
        "format": "parquet",
        "schema": "association_table",
        "rows": rows,
        "rows_total": rows,
        "filter": None,
        "note": "Rows in the order of the table (x-major), written as computed.",
        "method": params.get("method"),
        "covariates": params.get("covariates"),
        "multiple_testing": params.get("multitest"),
        "n_patients": params.get("n_patients"),
        "input_hash": params.get("input_hash"),
        "parameters": params,
    }
    atomic_write(out.with_name(out.name + ".meta.json"), json.dumps(meta, indent=2, default=str))


def _write_kept(out: Path, frame: pd.DataFrame) -> None:
    """The kept rows of threshold mode as Parquet ``out``."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    with atomic_path(out) as tmp:
        pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), tmp)
