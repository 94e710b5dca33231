"""Radiogenomic associations: every x feature against every y feature, adjusted for
clinical covariates, with multiple-testing control.

``associate`` takes two blocks of the cohort (a modality, or clinical columns of
``mdata.obs``), aligns them on the cohort's patients, runs one of the vectorised kernels
of :mod:`radiogenomics.stats.association`, adjusts the p-values, and returns (and stores)
the tidy association table of DESIGN.md.
"""

from __future__ import annotations

import hashlib
import os
import time
import warnings
from collections.abc import Sequence
from pathlib import Path

import mudata as md
import numpy as np
import pandas as pd

from .._compat import renamed
from .._data import Block, as_list, design_matrix, modality_block, variables
from ..cohort import store_result
from ..errors import CohortError, InputError
from ..stats.association import (
    BINARY_METHODS,
    FIELDS,
    METHODS,
    UNADJUSTED_METHODS,
    AssociationArrays,
)
from ..stats.multitest import METHODS as MULTITEST_METHODS
from ..stats.multitest import adjust_pvalues
from ..stats.ranks import EXACT_RULE
from ._association_frames import (  # noqa: F401 (_code_type, _smallest: as before)
    _code_type,
    _smallest,
    association_frame,
    kept_frame,
)
from ._association_passes import (
    SUMMARY_Q,
    SUMMARY_ROWS,
    TAIL_BOUND,
    _permutation_fdr,
    _stream,
    _threshold_run,
    _write_kept,
    _write_sidecar,
    run_kernel,
)

__all__ = [
    "associate",
    "ASSOCIATION_COLUMNS",
    "FAMILIES",
    "association_frame",
    "kept_frame",
    "STREAM_PAIRS",
    "SUMMARY_Q",
    "SUMMARY_ROWS",
    "TAIL_BOUND",
]

#: Columns of the association table (data_schemas/association_table.json), in order.
ASSOCIATION_COLUMNS = [
    "x_modality",
    "x",
    "y_modality",
    "y",
    "method",
    "n",
    "estimate",
    "std_error",
    "statistic",
    "p_value",
    "q_value",
    "ci_lower",
    "ci_upper",
    "covariates",
]

#: Multiple-testing families: all tests together, one per x feature, one per y feature.
FAMILIES = ("all", "x", "y")

RESULT_KIND = "associations"


def _block(mdata: md.MuData, spec, features, layer, side: str) -> Block:
    if isinstance(spec, str) and spec in mdata.mod:
        return modality_block(mdata, spec, features=features, layer=layer)
    if features is not None:
        raise InputError(
            f"{side}_features only applies to a modality",
            expected=f"{side} naming a modality",
            found=spec,
        )
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


#: Pairs per chunk of a streamed table (x features at a time; about 230 MB of fields).
STREAM_PAIRS = 1 << 22


@renamed(n_threads="n_jobs", seed="random_state")
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
    n_jobs: int | None = None,
    client=None,
    p_threshold: float | None = None,
    out: str | os.PathLike | None = None,
    n_permutations: int = 100,
    random_state: int = 0,
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
    n_jobs
        Worker threads (default: every core); ``n_threads`` is its old name.
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
    n_permutations, random_state
        Permutations for ``multitest="permutation"`` and the seed that draws them
        (``seed`` is the old name of ``random_state``).
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

    Raises
    ------
    InputError
        An unknown method, multiple-testing method or family, or options that do not go
        together (covariates with a two-group method, Storey q-values in threshold mode).
    CohortError
        A non-binary y for a two-group method, or an infinite value.

    See Also
    --------
    radiogenomics.stats.association.associate_arrays : the kernel, on arrays.
    radiogenomics.pl.volcano : the table as a volcano plot.

    Examples
    --------
    >>> import radiogenomics as rg
    >>> mdata = rg.datasets.toy_cohort(n_patients=40)
    >>> table = rg.tl.associate(mdata, "radiomics", "rna", covariates=["age"])
    >>> table.shape
    (480, 14)
    >>> table.loc[0, ["x", "y", "covariates"]].tolist()
    ['original_shape_VoxelVolume', 'GENE001', 'age']
    >>> int(table["n"].min())
    40
    >>> sorted(mdata.uns["radiogenomics"]["associations"])
    ['radiomics_vs_rna']
    """
    started = time.perf_counter()
    covariate_names = as_list(covariates)
    permutation = _check_request(
        method, multitest, family, alpha, p_threshold, out, n_permutations, covariate_names
    )
    bx = _block(mdata, x, x_features, x_layer, "x")
    by = _block(mdata, y, y_features, y_layer, "y")
    z, z_names = design_matrix(mdata.obs, covariate_names)
    _check_blocks(bx, by, method)
    labels = dict(
        x_modality=bx.source,
        y_modality=by.source,
        method=method,
        covariates=",".join(covariate_names),
    )
    out = _stream_path(out)
    streamed = out is not None and p_threshold is None
    run = dict(method=method, alpha=alpha, n_jobs=n_jobs, client=client)
    frame, result, n_pairs, n_untestable = _compute_table(
        bx,
        by,
        z,
        labels,
        run,
        multitest=multitest,
        family=family,
        p_threshold=p_threshold,
        out=out,
        streamed=streamed,
        n_permutations=int(n_permutations) if permutation else 0,
        random_state=random_state,
    )
    params = _parameters(
        mdata,
        x,
        y,
        bx,
        by,
        z,
        z_names,
        covariate_names,
        method=method,
        multitest=multitest,
        family=family,
        alpha=alpha,
        n_tests=n_pairs - n_untestable,
        n_untestable=n_untestable,
    )
    params["seconds"] = round(time.perf_counter() - started, 3)
    _mode_parameters(
        params,
        result,
        frame,
        permutation=permutation,
        n_permutations=n_permutations,
        random_state=random_state,
        p_threshold=p_threshold,
        out=out,
        streamed=streamed,
        n_pairs=n_pairs,
        layers=(x_layer, y_layer),
    )
    if n_untestable:
        warnings.warn(
            f"{n_untestable} of {n_pairs} pairs could not be tested (a constant feature, a "
            "feature explained by the covariates, too few patients, or a logistic fit that "
            "did not converge); their statistics are NaN",
            stacklevel=3,
        )
    key = key_added or _default_key(x, y)
    if out is not None and not streamed:  # threshold mode: the kept rows
        _write_kept(out, frame)
    if out is not None:
        params["seconds"] = round(time.perf_counter() - started, 3)
        _write_sidecar(out, params, params["rows_written"])
    frame.attrs["radiogenomics"] = dict(params, key=key, kind=RESULT_KIND)
    store_result(mdata, RESULT_KIND, key, frame, params)
    return frame


def _stream_path(out) -> Path | None:
    """The Parquet path a table is written to, if any."""
    if out is not None:
        out = Path(out)
        if out.suffix.lower() != ".parquet":
            raise InputError(
                "a streamed association table is written as Parquet",
                file=out,
                expected="a path ending in .parquet",
                found=out.suffix or "none",
            )
    return out


def _compute_table(
    bx: Block,
    by: Block,
    z: np.ndarray,
    labels: dict,
    run: dict,
    *,
    multitest: str,
    family: str,
    p_threshold: float | None,
    out: Path | None,
    streamed: bool,
    n_permutations: int,
    random_state,
):
    """The table in its mode (streamed, threshold, in memory): frame, result, pairs, untestable."""
    if streamed:
        frame, n_tests, info = _stream(
            bx,
            by,
            z,
            run["method"],
            run["alpha"],
            run["n_jobs"],
            run["client"],
            multitest,
            family,
            out,
            labels,
            bx.names,
            by.names,
            STREAM_PAIRS,
        )
        n_pairs = len(bx.names) * len(by.names)
        result = AssociationArrays(
            values=np.empty((len(FIELDS), 0, 0)),
            n=np.empty((0, 0), np.int32),
            method=run["method"],
            info=info,
        )
        return frame, result, n_pairs, n_pairs - n_tests
    if p_threshold is not None:
        result = _threshold_run(
            bx.values,
            by.values,
            z,
            run["method"],
            run["alpha"],
            run["n_jobs"],
            run["client"],
            p_threshold,
            multitest,
        )
        frame = kept_frame(result, bx.names, by.names, **labels)
        n_pairs = len(bx.names) * len(by.names)
        return frame, result, n_pairs, n_pairs - result.n_tests
    result = _in_memory(bx, by, z, run, multitest, family, n_permutations, random_state)
    frame = association_frame(result.values, result.n, bx.names, by.names, **labels)
    return frame, result, result["p_value"].size, int(np.isnan(result["p_value"]).sum())


def _check_request(
    method: str,
    multitest: str,
    family: str,
    alpha: float,
    p_threshold: float | None,
    out,
    n_permutations: int,
    covariate_names: list[str],
) -> bool:
    """Refuse inconsistent options; whether the q-values are a permutation FDR."""
    if method not in METHODS:
        raise InputError(
            "unknown association method", expected=f"one of {list(METHODS)}", found=method
        )
    permutation = multitest.lower() == "permutation"
    if multitest.lower() not in MULTITEST_METHODS and not permutation:
        raise InputError(
            "unknown multiple-testing method",
            expected=f"one of {sorted(set(MULTITEST_METHODS)) + ['permutation']}",
            found=multitest,
        )
    if permutation:
        if family != "all" or p_threshold is not None or out is not None:
            raise InputError(
                "permutation FDR is computed over all tests of an in-memory table",
                expected="family 'all', no p_threshold, no out",
                found={
                    "family": family,
                    "p_threshold": p_threshold,
                    "out": None if out is None else str(out),
                },
            )
        if int(n_permutations) < 1:
            raise InputError("n_permutations must be at least 1", found=n_permutations)
    if family not in FAMILIES:
        raise InputError(
            "unknown multiple-testing family", expected=f"one of {FAMILIES}", found=family
        )
    if not 0 < alpha < 1:
        raise InputError("alpha must lie between 0 and 1", found=alpha)
    if p_threshold is not None:
        if not 0 <= p_threshold <= 1:
            raise InputError("p_threshold must lie between 0 and 1", found=p_threshold)
        if MULTITEST_METHODS[multitest.lower()] == "storey":
            raise InputError(
                "Storey q-values need every p-value (pi0) and cannot be computed in threshold mode",
                expected="multitest 'bh', 'by', 'bonferroni' or 'holm'",
                found=multitest,
                hint="Leave out p_threshold for Storey q-values",
            )
        if family != "all":
            raise InputError(
                "threshold mode corrects over all tests only", expected="family 'all'", found=family
            )
    if method in UNADJUSTED_METHODS and covariate_names:
        raise InputError(
            f"method {method!r} compares two groups and cannot adjust for covariates",
            expected="no covariates",
            found=covariate_names,
            hint="Use method='logistic' (binary y) or 'linear' to adjust for covariates",
        )
    return permutation


def _in_memory(
    bx: Block,
    by: Block,
    z: np.ndarray,
    run: dict,
    multitest: str,
    family: str,
    n_permutations: int,
    random_state,
) -> AssociationArrays:
    """The whole table in memory, with its q-values (``n_permutations > 0``: the
    permutation FDR)."""
    result = run_kernel(
        bx.values,
        by.values,
        z,
        run["method"],
        alpha=run["alpha"],
        n_jobs=run["n_jobs"],
        client=run["client"],
    )
    p = result["p_value"]
    q = result["q_value"]
    if n_permutations:
        q[...] = _permutation_fdr(
            p,
            bx.values,
            by.values,
            z,
            run["method"],
            run["alpha"],
            run["n_jobs"],
            run["client"],
            n_permutations,
            random_state,
        )
    elif family == "all":
        adjust_pvalues(p, multitest, out=q)
    elif family == "x":
        adjust_pvalues(p, multitest, families="rows", out=q)
    else:
        adjust_pvalues(p.T, multitest, families="rows", out=q.T)
    return result


def _parameters(
    mdata: md.MuData,
    x,
    y,
    bx: Block,
    by: Block,
    z: np.ndarray,
    z_names: list[str],
    covariate_names: list[str],
    *,
    method: str,
    multitest: str,
    family: str,
    alpha: float,
    n_tests: int,
    n_untestable: int,
) -> dict:
    """How the table was computed, stored with it."""
    complete = ~np.isnan(z).any(axis=1) if z.shape[1] else np.ones(len(bx.patients), bool)
    in_both = (~np.isnan(bx.values)).any(axis=1) & (~np.isnan(by.values)).any(axis=1)
    return {
        "x": x if isinstance(x, str) else list(x),
        "y": y if isinstance(y, str) else list(y),
        "x_modality": bx.source,
        "y_modality": by.source,
        "method": method,
        "covariates": covariate_names,
        "covariate_columns": z_names,
        "multitest": {"method": multitest.lower(), "family": family},
        "alpha": alpha,
        "n_x": len(bx.names),
        "n_y": len(by.names),
        "n_tests": int(n_tests),
        "n_untestable": n_untestable,
        "n_patients": int((complete & in_both).sum()),
        "n_patients_cohort": int(mdata.n_obs),
        "input_hash": _hash_inputs(bx.values, by.values, z, names=[*bx.names, *by.names, *z_names]),
    }


def _mode_parameters(
    params: dict,
    result,
    frame: pd.DataFrame,
    *,
    permutation: bool,
    n_permutations: int,
    random_state,
    p_threshold: float | None,
    out: Path | None,
    streamed: bool,
    n_pairs: int,
    layers,
) -> None:
    """Add what the mode of computation (permutation FDR, threshold, streaming) and the
    kernel's notes tell to ``params``."""
    if params["method"] == "mannwhitney":
        params["mannwhitney_p_value"] = EXACT_RULE
    if permutation:
        params["multitest"]["n_permutations"] = int(n_permutations)
        params["multitest"]["seed"] = int(random_state)  # the stored name stays
    if p_threshold is not None:
        params["p_threshold"] = float(p_threshold)
        params["n_kept"] = len(frame)
        params["p_bound"] = result.info["p_bound"]
        params["passes"] = result.info["passes"]
    if out is not None:
        params["path"] = str(out.resolve())
        params["rows_written"] = n_pairs if streamed else len(frame)
        if streamed:
            params["summary"] = (
                f"rows with q_value <= {SUMMARY_Q} (at most {SUMMARY_ROWS} "
                f"of the smallest p-values); the whole table is in path"
            )
            params["chunks"] = result.info["chunks"]
    if any(layers):
        params["layers"] = {"x": layers[0], "y": layers[1]}
    if "n" in result.info:
        params["n_per_pair"] = result.info["n"]
    if result.info.get("n_not_converged"):
        params["n_not_converged"] = result.info["n_not_converged"]


def _default_key(x, y) -> str:
    def name(spec):
        return spec if isinstance(spec, str) else "clinical"

    return f"{name(x)}_vs_{name(y)}"


def _check_blocks(bx: Block, by: Block, method: str) -> None:
    """Refuse a non-binary y for a two-group method and infinite values on either side."""
    if method in BINARY_METHODS:
        _check_binary(by, method)
    _check_numbers(bx, "x")
    _check_numbers(by, "y")


def _check_binary(block: Block, method: str) -> None:
    values = block.values
    present = ~np.isnan(values)
    bad = present & (values != 0) & (values != 1)
    if bad.any():
        row, column = np.argwhere(bad)[0]
        raise CohortError(
            f"method {method!r} needs a binary y (0/1)",
            row=str(block.patients[row]),
            column=block.names[column],
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
            row=str(block.patients[row]),
            column=block.names[column],
            expected="finite numbers (or missing values)",
            found=block.values[row, column],
        )
