"""Association statistics for every pair of a column of ``x`` and a column of ``y``.

Methods (the estimate, its standard error, the test statistic, the two-sided p-value and
the confidence interval of each pair, as the reference implementation gives them):

- ``linear``: ``y ~ x + covariates`` by least squares; the coefficient of ``x``
  (statsmodels ``OLS``);
- ``pearson``: correlation (``scipy.stats.pearsonr``), partial correlation given the
  covariates when there are any (``pingouin.partial_corr``);
- ``spearman``: the same on ranks (``scipy.stats.spearmanr``; with covariates, ranks of
  every variable as ``pingouin.partial_corr(method="spearman")``);
- ``mannwhitney``: ``x`` between the groups ``y = 1`` and ``y = 0`` (``scipy.stats.
  mannwhitneyu``; the estimate is the rank-biserial correlation ``2 U1 / (n1 n0) - 1``);
- ``welch``: difference of means of ``x`` between ``y = 1`` and ``y = 0`` with Welch's
  t-test (``scipy.stats.ttest_ind(equal_var=False)``);
- ``logistic``: ``logit P(y = 1) ~ x + covariates`` (statsmodels ``Logit``).

Every pair uses its complete cases: the rows where ``x``, ``y`` and all covariates are
present; ``n`` says how many. Columns are grouped by missingness pattern so that the work
stays matrix algebra over blocks; pairs that share no pattern use per-pair sufficient
statistics. The wide axis is processed in chunks (bounded memory), in threads, or as Dask
tasks when a ``client`` is given. numpy/scipy only (threadpoolctl, when installed, keeps
the BLAS to one thread per worker thread).
"""

from __future__ import annotations

import os

import numpy as np

from .._compat import renamed
from ._association_base import (
    _F,
    BINARY_METHODS,
    FIELDS,
    METHODS,
    UNADJUSTED_METHODS,
    AssociationArrays,
    KeptPairs,
    _Kept,
    _Target,
)
from ._association_kernels import (
    _binary_check,
    _logistic,
    _mannwhitney,
    _t_family,
    _welch,
)

__all__ = [
    "METHODS",
    "BINARY_METHODS",
    "FIELDS",
    "AssociationArrays",
    "KeptPairs",
    "associate_arrays",
]


@renamed(n_threads="n_jobs")
def associate_arrays(
    x: np.ndarray,
    y: np.ndarray,
    covariates: np.ndarray | None = None,
    method: str = "linear",
    *,
    alpha: float = 0.05,
    n_jobs: int | None = None,
    client=None,
    chunk_columns: int | None = None,
    mannwhitney_method: str = "auto",
    p_threshold: float | None = None,
    p_bound: float | None = None,
) -> AssociationArrays | KeptPairs:
    """Statistics of every pair (column of ``x``, column of ``y``).

    Parameters
    ----------
    x, y
        Rows (patients) x columns, float, NaN where missing; the same rows in the same order.
    covariates
        Rows x k, numeric (categorical covariates already expanded to indicators); a row
        with any missing covariate is left out of every pair. An intercept is always added.
    method
        One of :data:`METHODS`.
    alpha
        Confidence intervals are ``1 - alpha``.
    n_jobs
        Worker threads (default ``None``: the machine's cores; ``1``: none). The old name
        ``n_threads`` still works, with a ``FutureWarning``.
    client
        A ``dask.distributed.Client``: the columns of ``y`` are sent as chunks to its
        workers; the result is the same.
    chunk_columns
        Columns of ``y`` per Dask task (default: about 2 million pairs per task).
    mannwhitney_method
        ``"auto"`` (exact when both groups have fewer than 50 patients and there are no
        ties, as R's ``wilcox.test``: :data:`radiogenomics.stats.ranks.EXACT_RULE`),
        ``"asymptotic"`` or ``"exact"``.
    p_threshold
        Threshold mode: return only the pairs with ``p <= p_threshold`` (a
        :class:`KeptPairs`). For linear, pearson and spearman, ``|r|`` is compared with
        the threshold's critical value first and the fields are computed for the pairs
        that reach it only; the other methods compute every pair and filter.
    p_bound
        Threshold mode: also collect the p-values in ``(p_threshold, p_bound]`` (default:
        none), which exact step-up q-values may need.

    Returns
    -------
    AssociationArrays, or KeptPairs in threshold mode (the same fields, same numbers).
    """
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; expected one of {METHODS}")
    x = np.asarray(x, dtype=float)
    y = np.asarray(y, dtype=float)
    if x.ndim != 2 or y.ndim != 2 or x.shape[0] != y.shape[0]:
        raise ValueError(f"x and y must be 2-D with the same rows, found {x.shape} and {y.shape}")
    rows = x.shape[0]
    z = (
        np.empty((rows, 0))
        if covariates is None
        else np.asarray(covariates, dtype=float).reshape(rows, -1)
    )
    if z.shape[0] != rows:
        raise ValueError("covariates must have the rows of x")
    if method in UNADJUSTED_METHODS and z.shape[1]:
        raise ValueError(f"method {method!r} does not adjust for covariates")
    if method in BINARY_METHODS:
        _binary_check(y)
    n_jobs = int(n_jobs or os.cpu_count() or 1)
    if p_threshold is not None:
        p_threshold = float(p_threshold)
        if not 0.0 <= p_threshold <= 1.0:
            raise ValueError(f"p_threshold must lie in [0, 1], found {p_threshold}")
        p_bound = p_threshold if p_bound is None else max(float(p_bound), p_threshold)
    if client is not None:
        return _associate_dask(
            x, y, z, method, alpha, client, chunk_columns, mannwhitney_method, p_threshold, p_bound
        )
    info: dict = {}
    n_x, n_y = x.shape[1], y.shape[1]
    if p_threshold is not None:
        kept = _Kept(n_x, n_y, p_threshold, p_bound)
        if n_x and n_y:
            keep = ~np.isnan(z).any(axis=1)
            if not keep.all():
                x, y, z = x[keep], y[keep], z[keep]
            if method in ("linear", "pearson", "spearman"):
                _t_family(x, y, z, method, kept, alpha, n_jobs)
            else:  # no shortcut: every pair, filtered by columns of y
                step = max(1, (1 << 22) // max(n_x, 1))
                for start in range(0, n_y, step):
                    ys = slice(start, min(n_y, start + step))
                    part = associate_arrays(
                        x,
                        y[:, ys],
                        z,
                        method,
                        alpha=alpha,
                        n_jobs=n_jobs,
                        mannwhitney_method=mannwhitney_method,
                    )
                    kept.add_dense(part.values, part.n, slice(None), ys)
                    for key, value in part.info.items():
                        if key.startswith("n_not"):
                            info[key] = info.get(key, 0) + value
        return kept.result(method, info)
    values = np.empty((len(FIELDS), n_x, n_y))
    values[_F["q_value"]] = np.nan
    n = np.zeros((n_x, n_y), dtype=np.int32)
    if n_x and n_y:
        keep = ~np.isnan(z).any(axis=1)
        if not keep.all():
            x, y, z = x[keep], y[keep], z[keep]
        target = _Target(values, n)
        if method in ("linear", "pearson", "spearman"):
            _t_family(x, y, z, method, target, alpha, n_jobs)
        elif method == "mannwhitney":
            _mannwhitney(x, y, target, mannwhitney_method)
        elif method == "welch":
            _welch(x, y, target, alpha)
        else:
            _logistic(x, y, z, target, alpha, info)
    if n.size and np.all(n == n.flat[0]):
        info["n"] = int(n.flat[0])
    return AssociationArrays(values=values, n=n, method=method, info=info)


def _associate_dask(
    x,
    y,
    z,
    method,
    alpha,
    client,
    chunk_columns,
    mannwhitney_method,
    p_threshold=None,
    p_bound=None,
):
    """The columns of ``y`` in chunks, one Dask task each."""
    n_x, n_y = x.shape[1], y.shape[1]
    if chunk_columns is None:
        chunk_columns = max(1, (2 << 20) // max(n_x, 1))
    # hash=False: keys of their own, so that an earlier call's release of the same data
    # (same content, same hashed key) cannot remove it under this call's tasks
    x_future = client.scatter(x, broadcast=True, hash=False)
    z_future = client.scatter(z, broadcast=True, hash=False)
    futures = []
    starts = list(range(0, n_y, chunk_columns))
    for start in starts:
        stop = min(n_y, start + chunk_columns)
        futures.append(
            client.submit(
                associate_arrays,
                x_future,
                y[:, start:stop],
                z_future,
                method,
                alpha=alpha,
                n_jobs=1,
                mannwhitney_method=mannwhitney_method,
                p_threshold=p_threshold,
                p_bound=p_bound,
                pure=False,
            )
        )
    if p_threshold is not None:
        return _gather_kept(futures, starts, n_x, n_y, method, p_threshold, p_bound)
    values = np.empty((len(FIELDS), n_x, n_y))
    n = np.zeros((n_x, n_y), dtype=np.int32)
    info: dict = {"n_tasks": len(futures)}
    start = 0
    for future in futures:
        part = future.result()
        stop = start + part.n.shape[1]
        values[:, :, start:stop] = part.values
        n[:, start:stop] = part.n
        for key, value in part.info.items():
            if key.startswith("n_not"):
                info[key] = info.get(key, 0) + value
        start = stop
        del part
    if n.size and np.all(n == n.flat[0]):
        info["n"] = int(n.flat[0])
    return AssociationArrays(values=values, n=n, method=method, info=info)


def _gather_kept(futures, starts, n_x, n_y, method, threshold, bound) -> KeptPairs:
    """The kept pairs of the chunks of y (threshold mode on Dask), in x-major order."""
    kept = _Kept(n_x, n_y, threshold, bound)
    info: dict = {"n_tasks": len(futures)}
    for start, future in zip(starts, futures):
        part = future.result()
        fields = part.values[[_F[f] for f in FIELDS if f != "q_value"]]
        kept.parts.append((part.x_index, part.y_index + start, part.n, fields))
        if part.tail.size:
            kept.tail.append(part.tail)
        kept.n_tests += part.n_tests
        for key, value in part.info.items():
            if key.startswith("n_not"):
                info[key] = info.get(key, 0) + value
        del part
    return kept.result(method, info)
