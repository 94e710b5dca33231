"""Radiogenomic associations: every x feature against every y feature, adjusted for
clinical covariates, with multiple-testing control.

``associate`` takes two blocks of the cohort (a modality, or clinical columns of
``mdata.obs``), aligns them on the cohort's patients, runs one of the vectorised kernels
of :mod:`radiogenomics.stats.association`, adjusts the p-values, and returns (and stores)
the tidy association table of DESIGN.md.
"""

from __future__ import annotations

import hashlib
import time
import warnings
from collections.abc import Sequence

import mudata as md
import numpy as np
import pandas as pd

from ..cohort import store_result
from ..errors import CohortError, InputError
from ..stats.association import (
    BINARY_METHODS,
    FIELDS,
    METHODS,
    UNADJUSTED_METHODS,
    KeptPairs,
    associate_arrays,
)
from ..stats.multitest import METHODS as MULTITEST_METHODS
from ..stats.multitest import adjust_pvalues, adjust_smallest
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
) -> pd.DataFrame:
    """The tidy association table (x-major rows) from the kernel's arrays, without copying
    the numbers: ``values`` is ``(7, n_x, n_y)`` in the order of ``FIELDS``.

    ``x``, ``y`` and the constant text columns are categorical.
    """
    n_x, n_y = n.shape
    total = n_x * n_y

    def constant(text: str) -> pd.Categorical:
        # np.zeros maps untouched zero pages: a constant column costs next to nothing
        return pd.Categorical.from_codes(np.zeros(total, dtype=np.int8), categories=[text])

    x_codes = np.repeat(np.arange(n_x, dtype=_code_type(n_x)), n_y)
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
        ``"bh"`` (Benjamini-Hochberg), ``"by"``, ``"bonferroni"``, ``"holm"`` or
        ``"storey"`` (q-values with Storey's pi0).
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
    if multitest.lower() not in MULTITEST_METHODS:
        raise InputError("unknown multiple-testing method",
                         expected=f"one of {sorted(set(MULTITEST_METHODS))}", found=multitest)
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
    if p_threshold is not None:
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
        if family == "all":
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
    if p_threshold is not None:
        params["p_threshold"] = float(p_threshold)
        params["n_kept"] = len(frame)
        params["p_bound"] = result.info["p_bound"]
        params["passes"] = result.info["passes"]
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
