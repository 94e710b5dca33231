"""Linear models of many pairs at once: ``y ~ x + covariates`` for every column ``x`` of
one block and every column ``y`` of another, as matrix algebra (the Matrix eQTL idea).

The coefficient of ``x`` in the regression of ``y`` on ``x`` and covariates ``Z`` (with an
intercept) follows from the partial correlation ``r`` of ``x`` and ``y`` given ``Z``:
with ``x~`` and ``y~`` the residuals of ``x`` and ``y`` on ``Z``,

    r = x~'y~ / (|x~| |y~|),  estimate = r |y~| / |x~|,
    t = r sqrt(df / (1 - r^2)),  std_error = estimate / t,  df = n - rank(Z) - 1.

Residualising every column once and normalising it to unit length makes ``r`` for all
pairs one matrix product. Pairs whose complete cases differ (missing values) are handled
either by blocks of columns sharing a missingness pattern (the same algebra on those rows)
or by per-pair sufficient statistics (:func:`moment_statistics`). numpy/scipy only.
"""

from __future__ import annotations

import numpy as np

__all__ = ["orthonormal_basis", "unit_residuals", "moment_statistics"]

#: A column whose residual is below this fraction of its size is treated as constant.
DEGENERATE = 1e-10


def orthonormal_basis(z: np.ndarray) -> tuple[np.ndarray, int]:
    """An orthonormal basis of the column space of ``z`` (rows x k) and its rank.

    The rank is decided as ``numpy.linalg.matrix_rank`` (and statsmodels) decide it:
    singular values above ``max(sv) * max(z.shape) * eps``.
    """
    z = np.asarray(z, dtype=float)
    if z.shape[1] == 0 or z.shape[0] == 0:
        return np.empty((z.shape[0], 0)), 0
    u, sv, _ = np.linalg.svd(z, full_matrices=False)
    tol = sv.max() * max(z.shape) * np.finfo(float).eps
    rank = int(np.sum(sv > tol))
    return np.ascontiguousarray(u[:, :rank]), rank


def unit_residuals(values: np.ndarray, basis: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Residuals of each column of a complete ``values`` (rows x p) on ``basis``, scaled to
    unit length, and their lengths.

    ``basis`` must span the constant (an intercept). Columns explained by the basis (a
    constant, or a covariate itself) get length 0 and NaN residuals.
    """
    values = np.asarray(values, dtype=float)
    size = np.sqrt(np.einsum("ij,ij->j", values, values))
    resid = values - values.mean(axis=0)
    if basis.shape[1]:
        resid -= basis @ (basis.T @ resid)
    norm = np.sqrt(np.einsum("ij,ij->j", resid, resid))
    degenerate = ~(norm > DEGENERATE * size)
    norm[degenerate] = 0.0
    with np.errstate(divide="ignore", invalid="ignore"):
        resid /= norm
    if degenerate.any():
        resid[:, degenerate] = np.nan
    return resid, norm


def _whitening(gram: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For stacked Gram matrices (m x k x k): W with W G W' = I on the range of G, and the
    rank of each G (eigenvalues above 1e-12 of the largest)."""
    eigval, eigvec = np.linalg.eigh(gram)
    top = eigval.max(axis=1, keepdims=True)
    keep = eigval > 1e-12 * np.maximum(top, 0.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        scale = np.where(keep, 1.0 / np.sqrt(np.where(keep, eigval, 1.0)), 0.0)
    # W[j] = diag(scale_j) V_j'
    whitening = scale[:, :, None] * np.swapaxes(eigvec, 1, 2)
    return whitening, keep.sum(axis=1)


def moment_statistics(
    complete: np.ndarray,
    partial: np.ndarray,
    covariates: np.ndarray,
) -> dict[str, np.ndarray]:
    """Complete-case residual cross-products for every pair (a, b) of a column ``a`` of
    ``complete`` (rows x p, no missing values) and a column ``b`` of ``partial`` (rows x q,
    NaN where missing), adjusting for ``covariates`` (rows x k, complete, WITHOUT the
    intercept, which is added).

    For each pair the rows are those where ``b`` is observed, exactly as a per-pair
    complete-case fit would use.

    Returns
    -------
    dict
        ``s_aa``, ``s_ab``, ``s_bb``: residual sums of squares and cross-products (p x q,
        p x q, q), ``n``: rows used (q,), ``rank``: rank of the covariates with the
        intercept on those rows (q,), ``size_a``, ``size_b``: the centred sums of squares
        before adjustment (to recognise columns the covariates explain).
    """
    a = np.asarray(complete, dtype=float)
    b = np.asarray(partial, dtype=float)
    observed = ~np.isnan(b)
    mask = observed.astype(float)
    rows = a.shape[0]
    # centre (and scale the covariates) for well-conditioned sums
    a = a - a.mean(axis=0)
    count = mask.sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        b_mean = np.where(count > 0, np.nansum(b, axis=0) / count, 0.0)
    b0 = np.where(observed, b - b_mean, 0.0)
    z = np.asarray(covariates, dtype=float).reshape(rows, -1)
    if z.shape[1]:
        z = z - z.mean(axis=0)
        sd = z.std(axis=0)
        z = z / np.where(sd > 0, sd, 1.0)
    z = np.column_stack([np.ones(rows), z])
    k = z.shape[1]
    # per column b: Gram matrix of the covariates on its rows, covariates x b, b'b
    pairs = [(i, j) for i in range(k) for j in range(i, k)]
    products = np.column_stack([z[:, i] * z[:, j] for i, j in pairs])
    gram_entries = products.T @ mask  # (pairs, q)
    gram = np.empty((b.shape[1], k, k))
    for column, (i, j) in enumerate(pairs):
        gram[:, i, j] = gram[:, j, i] = gram_entries[column]
    whitening, rank = _whitening(gram)
    zb = z.T @ b0  # (k, q)
    v = np.einsum("qcd,dq->cq", whitening, zb)
    s_bb = np.einsum("ij,ij->j", b0, b0) - np.einsum("cq,cq->q", v, v)
    # per pair
    size_a = (a * a).T @ mask
    s_aa = size_a.copy()
    s_ab = a.T @ b0
    za = [(z[:, d:d + 1] * a).T @ mask for d in range(k)]  # sums over b's rows of z_d * a
    for c in range(k):
        u_c = za[0] * whitening[None, :, c, 0]
        for d in range(1, k):
            u_c += za[d] * whitening[None, :, c, d]
        s_aa -= u_c * u_c
        s_ab -= u_c * v[c][None, :]
    return {"s_aa": s_aa, "s_ab": s_ab, "s_bb": s_bb, "n": count, "rank": rank,
            "size_a": size_a, "size_b": np.einsum("ij,ij->j", b0, b0)}
