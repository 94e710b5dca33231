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

__all__ = ["orthonormal_basis", "unit_residuals", "moment_statistics", "MomentFit"]

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


class MomentFit:
    """Complete-case residual cross-products between a complete block and blocks whose
    columns have scattered missing values, by per-pair sufficient statistics.

    Parameters
    ----------
    complete
        Rows x p, no missing values.
    covariates
        Rows x k, complete, WITHOUT the intercept (which is added).

    The products of the complete block with the covariates are computed once; each call
    of :meth:`pairs` then costs ``k + 2`` matrix products with the missingness mask.
    """

    def __init__(self, complete: np.ndarray, covariates: np.ndarray) -> None:
        a = np.asarray(complete, dtype=float)
        rows = a.shape[0]
        a = a - a.mean(axis=0)  # centred (and covariates scaled) for well-conditioned sums
        z = np.asarray(covariates, dtype=float).reshape(rows, -1)
        if z.shape[1]:
            z = z - z.mean(axis=0)
            sd = z.std(axis=0)
            z = z / np.where(sd > 0, sd, 1.0)
        self.z = np.column_stack([np.ones(rows), z])
        self.k = k = self.z.shape[1]
        self.p = a.shape[1]
        self.index = [(i, j) for i in range(k) for j in range(i, k)]
        self.products = np.column_stack([self.z[:, i] * self.z[:, j] for i, j in self.index])
        self.a_t = np.ascontiguousarray(a.T)
        self.squares_t = np.ascontiguousarray((a * a).T)
        self.za_t = [np.ascontiguousarray((self.z[:, d : d + 1] * a).T) for d in range(k)]

    def pairs(self, partial: np.ndarray) -> dict[str, np.ndarray]:
        """Residual cross-products of every (complete column, ``partial`` column) pair on
        the rows where the ``partial`` column is observed.

        Returns
        -------
        dict
            ``s_aa``, ``s_ab`` (p x q), ``s_bb`` (q,): residual sums of squares and
            cross-products; ``n`` (q,): rows used; ``rank`` (q,): rank of the intercept and
            covariates on those rows; ``size_a`` (p x q), ``size_b`` (q,): the centred sums
            of squares before adjustment (to recognise columns the covariates explain).
        """
        b = np.asarray(partial, dtype=float)
        observed = ~np.isnan(b)
        mask = observed.astype(float)
        k, z = self.k, self.z
        count = mask.sum(axis=0)
        with np.errstate(invalid="ignore", divide="ignore"):
            b_mean = np.where(count > 0, np.nansum(b, axis=0) / count, 0.0)
        b0 = np.where(observed, b - b_mean, 0.0)
        # per column b: Gram matrix of the covariates on its rows, covariates x b, b'b
        gram_entries = self.products.T @ mask
        gram = np.empty((b.shape[1], k, k))
        for column, (i, j) in enumerate(self.index):
            gram[:, i, j] = gram[:, j, i] = gram_entries[column]
        whitening, rank = _whitening(gram)
        v = np.einsum("qcd,dq->cq", whitening, z.T @ b0)
        size_b = np.einsum("ij,ij->j", b0, b0)
        s_bb = size_b - np.einsum("cq,cq->q", v, v)
        # per pair
        size_a = self.squares_t @ mask
        s_aa = size_a.copy()
        s_ab = self.a_t @ b0
        za = [self.za_t[d] @ mask for d in range(k)]  # sums over b's rows of z_d * a
        u_c = np.empty_like(s_aa)
        term = np.empty_like(s_aa)
        for c in range(k):
            np.multiply(za[0], whitening[None, :, c, 0], out=u_c)
            for d in range(1, k):
                np.multiply(za[d], whitening[None, :, c, d], out=term)
                u_c += term
            np.multiply(u_c, u_c, out=term)
            s_aa -= term
            np.multiply(u_c, v[c][None, :], out=term)
            s_ab -= term
        return {
            "s_aa": s_aa,
            "s_ab": s_ab,
            "s_bb": s_bb,
            "n": count,
            "rank": rank,
            "size_a": size_a,
            "size_b": size_b,
        }


def moment_statistics(
    complete: np.ndarray,
    partial: np.ndarray,
    covariates: np.ndarray,
) -> dict[str, np.ndarray]:
    """Complete-case residual cross-products for every pair of a column of ``complete``
    (rows x p, no missing values) and a column of ``partial`` (rows x q, NaN where
    missing), adjusting for ``covariates`` (rows x k, without the intercept). For each pair
    the rows are those where the ``partial`` column is observed, exactly as a per-pair
    complete-case fit would use. See :meth:`MomentFit.pairs` for what is returned."""
    return MomentFit(complete, covariates).pairs(partial)
