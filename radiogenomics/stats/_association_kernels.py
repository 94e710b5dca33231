"""The association kernels by method family: least squares and (partial) correlations over
blocks of columns that share a missingness pattern, and the two-group tests and logistic
regression of a binary y."""

from __future__ import annotations

import numpy as np

from ._association_base import (
    MIN_BLOCK,
    TABLE_PAIRS,
    TASK_PAIRS,
    _as_slice,
    _indices,
    _scratch,
    _Target,
)
from ._parallel import run as _run
from .linear import DEGENERATE, MomentFit, orthonormal_basis, unit_residuals
from .logistic import logistic_many
from .patterns import missing_patterns
from .ranks import column_ranks, mannwhitney_from_ranks, tie_terms
from .tails import r_table, t_quantile, t_two_sided


def _dense_block(x, y, z, kind, target: _Target, xs, ys, alpha, tasks) -> None:
    """Pairs of complete blocks ``x`` (rows x a) and ``y`` (rows x b) on the same rows.

    The narrower block is residualised on the covariates and scaled to unit length once;
    the wider one is only centred, chunk by chunk (the residual of the narrow side is
    orthogonal to the covariates, so x~'y = x~'y~), and its residual lengths come from
    the centred sums of squares less their part along the covariates.
    """
    rows = x.shape[0]
    if kind == "spearman":
        x = column_ranks(x)
        y = column_ranks(y)
        z = column_ranks(z) if z.shape[1] else z
    basis, rank = orthonormal_basis(np.column_stack([np.ones(rows), z]))
    centred_basis, _ = (
        orthonormal_basis(z - z.mean(axis=0)) if z.shape[1] else (np.empty((rows, 0)), 0)
    )
    df = rows - rank - 1
    n_cov = rank - 1
    target.set_n(xs, ys, rows)
    x_narrow = x.shape[1] <= y.shape[1]
    narrow, wide = (x, y) if x_narrow else (y, x)
    narrow_r, narrow_size = unit_residuals(narrow, basis)
    n_narrow, n_wide = narrow.shape[1], wide.shape[1]
    # a table of p-values pays off from about a million pairs sharing the df
    table = r_table(df) if df > 0 and n_narrow * n_wide >= TABLE_PAIRS else None
    narrow_t = np.ascontiguousarray(narrow_r.T)
    wide_index = _indices(ys if x_narrow else xs, target.n_y if x_narrow else target.n_x)
    wide_is_slice = isinstance(ys if x_narrow else xs, slice)
    step = max(1, TASK_PAIRS // max(n_narrow, 1))
    for start in range(0, n_wide, step):
        stop = min(n_wide, start + step)

        def task(start=start, stop=stop):
            width = stop - start
            block = wide[:, start:stop]
            centred = _scratch("centred", (rows, width))
            np.subtract(block, block.mean(axis=0), out=centred)
            squares = np.einsum("ij,ij->j", centred, centred)
            if centred_basis.shape[1]:
                along = centred_basis.T @ centred
                squares -= np.einsum("ij,ij->j", along, along)
            raw = np.sqrt(np.einsum("ij,ij->j", block, block))
            size = np.sqrt(np.maximum(squares, 0.0))
            degenerate = ~(size > DEGENERATE * raw)
            with np.errstate(divide="ignore"):
                inverse = 1.0 / size
            inverse[degenerate] = np.nan
            size[degenerate] = 0.0
            sub = _as_slice(wide_index[start:stop]) if wide_is_slice else wide_index[start:stop]
            if x_narrow:
                r = _scratch("r", (n_narrow, width))
                np.matmul(narrow_t, centred, out=r)
                r *= inverse[None, :]
                target.finish(
                    r,
                    xs,
                    sub,
                    narrow_size[:, None],
                    size[None, :],
                    df,
                    rows,
                    kind,
                    n_cov,
                    alpha,
                    table,
                )
            else:
                r = _scratch("r", (width, n_narrow))
                np.matmul(centred.T, narrow_r, out=r)
                r *= inverse[:, None]
                target.finish(
                    r,
                    sub,
                    ys,
                    size[:, None],
                    narrow_size[None, :],
                    df,
                    rows,
                    kind,
                    n_cov,
                    alpha,
                    table,
                )

        tasks.append(task)


def _moment_block(
    complete,
    partial,
    z,
    kind,
    target: _Target,
    cols_complete,
    cols_partial,
    complete_is_x: bool,
    alpha,
    tasks,
) -> None:
    """Pairs of a complete block and a block whose columns have scattered missing values,
    by per-pair sufficient statistics (linear and pearson only); appends the chunks to
    ``tasks``."""
    a = complete.shape[1]
    fit = MomentFit(complete, z)
    step = max(32, (1 << 21) // max(a * (fit.k + 6), 1))
    for start in range(0, partial.shape[1], step):
        stop = min(partial.shape[1], start + step)

        def task(start=start, stop=stop):
            m = fit.pairs(partial[:, start:stop])
            with np.errstate(invalid="ignore", divide="ignore"):
                s_aa = np.where(m["s_aa"] > DEGENERATE * m["size_a"], m["s_aa"], np.nan)
                s_bb = np.where(m["s_bb"] > DEGENERATE * m["size_b"], m["s_bb"], np.nan)[None, :]
                r = m["s_ab"] / np.sqrt(s_aa * s_bb)
            df = (m["n"] - m["rank"] - 1)[None, :] + np.zeros((a, 1))
            n = m["n"][None, :] + np.zeros((a, 1))
            n_cov = (m["rank"] - 1)[None, :]
            a_size, b_size = np.sqrt(s_aa), np.sqrt(s_bb)
            cols = cols_partial[start:stop]
            if complete_is_x:
                xs, ys, x_size, y_size = cols_complete, cols, a_size, b_size
            else:
                r, df, n, n_cov = r.T, df.T, n.T, n_cov.T
                xs, ys, x_size, y_size = cols, cols_complete, b_size.T, a_size.T
            r = np.ascontiguousarray(r)
            target.finish(r, xs, ys, x_size, y_size, df, n, kind, n_cov, alpha)
            target.set_n(xs, ys, np.ascontiguousarray(n).astype(np.int32))

        tasks.append(task)


def _t_family(x, y, z, kind, target, alpha, n_jobs) -> None:
    """linear / pearson / spearman over all missingness patterns."""
    observed_x, observed_y = ~np.isnan(x), ~np.isnan(y)
    px, py = missing_patterns(observed_x), missing_patterns(observed_y)
    x_outer = len(px) <= len(py)
    outer_values, inner_values = (x, y) if x_outer else (y, x)
    outer_patterns = px if x_outer else py
    observed_inner = observed_y if x_outer else observed_x
    tasks: list = []
    for group in outer_patterns:
        rows0 = group.rows
        if group.n_rows == 0:
            continue
        everything = rows0.all()
        outer = (
            outer_values[:, group.columns]
            if everything
            else outer_values[np.ix_(rows0, group.columns)]
        )
        inner = inner_values if everything else inner_values[rows0]
        inner_obs = observed_inner if everything else observed_inner[rows0]
        z0 = z if everything else z[rows0]
        scattered = []
        for pattern in missing_patterns(inner_obs):
            if pattern.n_rows == 0:
                continue
            if pattern.rows.all() or pattern.columns.size >= MIN_BLOCK or kind == "spearman":
                rows = pattern.rows
                whole = rows.all()
                inner_block = (
                    inner[:, pattern.columns] if whole else inner[np.ix_(rows, pattern.columns)]
                )
                outer_block = outer if whole else outer[rows]
                z_block = z0 if whole else z0[rows]
                outer_cols = _as_slice(group.columns)
                inner_cols = _as_slice(pattern.columns)
                if x_outer:
                    _dense_block(
                        outer_block,
                        inner_block,
                        z_block,
                        kind,
                        target,
                        outer_cols,
                        inner_cols,
                        alpha,
                        tasks,
                    )
                else:
                    _dense_block(
                        inner_block,
                        outer_block,
                        z_block,
                        kind,
                        target,
                        inner_cols,
                        outer_cols,
                        alpha,
                        tasks,
                    )
            else:
                scattered.append(pattern.columns)
        if scattered:
            columns = np.sort(np.concatenate(scattered))
            _moment_block(
                outer,
                inner[:, columns],
                z0,
                kind,
                target,
                group.columns,
                columns,
                x_outer,
                alpha,
                tasks,
            )
        _run(tasks, n_jobs)
        tasks = []


def _mannwhitney(x, y, target: _Target, exact: str) -> None:
    observed_x, observed_y = ~np.isnan(x), ~np.isnan(y)
    for gy in missing_patterns(observed_y):
        for gx in missing_patterns(observed_x[gy.rows] if not gy.rows.all() else observed_x):
            rows = (
                np.flatnonzero(gy.rows)[gx.rows] if not gy.rows.all() else np.flatnonzero(gx.rows)
            )
            if rows.size == 0:
                continue
            xb = x[np.ix_(rows, gx.columns)]
            yb = y[np.ix_(rows, gy.columns)]
            ranks = column_ranks(xb)
            ties = tie_terms(xb)
            n1 = yb.sum(axis=0)
            n0 = rows.size - n1
            rank_sum = ranks.T @ yb
            u1, p = mannwhitney_from_ranks(
                rank_sum, n1[None, :], n0[None, :], ties[:, None], method=exact
            )
            outs, commit = target.views(_as_slice(gx.columns), _as_slice(gy.columns))
            est, se, stat, pv, lo, hi = outs
            with np.errstate(invalid="ignore", divide="ignore"):
                est[...] = 2.0 * u1 / (n1 * n0)[None, :] - 1.0
            se[...] = np.nan
            stat[...] = u1
            pv[...] = p
            lo[...] = np.nan
            hi[...] = np.nan
            commit()
            target.set_n(_as_slice(gx.columns), _as_slice(gy.columns), rows.size)


def _welch(x, y, target: _Target, alpha: float) -> None:
    observed_x = ~np.isnan(x)
    mx = observed_x.astype(float)
    count = mx.sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        centre = np.where(count > 0, np.nansum(x, axis=0) / count, 0.0)
    x0 = np.where(observed_x, x - centre, 0.0)
    g1 = np.where(np.isnan(y), 0.0, y)
    g0 = np.where(np.isnan(y), 0.0, 1.0 - y)
    n1, n0 = mx.T @ g1, mx.T @ g0
    s1, s0 = x0.T @ g1, x0.T @ g0
    q1, q0 = (x0 * x0).T @ g1, (x0 * x0).T @ g0
    with np.errstate(invalid="ignore", divide="ignore"):
        m1, m0 = s1 / n1, s0 / n0
        v1 = np.maximum(q1 - s1 * m1, 0.0) / (n1 - 1)
        v0 = np.maximum(q0 - s0 * m0, 0.0) / (n0 - 1)
        vn1, vn0 = v1 / n1, v0 / n0
        se = np.sqrt(vn1 + vn0)
        diff = m1 - m0
        t = diff / se
        df = (vn1 + vn0) ** 2 / (vn1**2 / (n1 - 1) + vn0**2 / (n0 - 1))
    bad = (n1 < 2) | (n0 < 2) | ~(se > 0)
    for array in (diff, se, t, df):
        array[bad] = np.nan
    p = t_two_sided(t, df)
    q = np.full(df.shape, np.nan)
    ok = ~np.isnan(df)
    q[ok] = t_quantile(1 - alpha / 2, df[ok])
    outs, commit = target.views(slice(None), slice(None))
    est, se_out, stat, pv, lo, hi = outs
    est[...] = diff
    se_out[...] = se
    stat[...] = t
    pv[...] = p
    lo[...] = diff - q * se
    hi[...] = diff + q * se
    commit()
    target.set_n(slice(None), slice(None), (n1 + n0).astype(np.int32))


def _logistic(x, y, z, target: _Target, alpha: float, info: dict) -> None:
    failed = 0
    for j in range(y.shape[1]):
        fit = logistic_many(x, y[:, j], z, alpha=alpha)
        outs, commit = target.views(slice(None), slice(j, j + 1))
        for out, name in zip(
            outs, ("estimate", "std_error", "statistic", "p_value", "ci_lower", "ci_upper")
        ):
            out[:, 0] = fit[name]
        commit()
        target.set_n(slice(None), slice(j, j + 1), fit["n"].astype(np.int32)[:, None])
        failed += int(np.sum(~fit["converged"] & (fit["n"] > z.shape[1] + 2)))
    info["n_not_converged"] = failed


def _binary_check(y: np.ndarray) -> None:
    values = y[~np.isnan(y)]
    if values.size and not np.isin(values, (0.0, 1.0)).all():
        bad = values[~np.isin(values, (0.0, 1.0))][0]
        raise ValueError(f"y must be binary (0/1) for this method, found the value {bad}")
