"""ComBat for a batch unseen at fitting time, against a fixed reference.

A model trained on harmonised features meets patients of a new site (external
validation, a new scanner). The fitted ComBat model is kept as it is: its grand mean and
pooled variance (the training reference) are not refitted, and neither are the other
batches' effects. Only the new site's additive and multiplicative effects on the
reference's standardised scale are estimated, from the new patients' feature values alone
(never their outcomes), with the same empirical Bayes shrinkage across features as
ComBat (Johnson, Li and Rabinovic 2007) -- the idea of ``sva::ComBat(ref.batch=)`` with the
training cohort as the reference.

numpy only.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from .combat import CombatModel, _nonparametric, _posterior

__all__ = ["combat_add_batch"]


def combat_add_batch(
    values: np.ndarray,
    model: CombatModel,
    *,
    mean_only: bool | None = None,
    tolerance: float = 1e-4,
    max_iterations: int = 1000,
) -> CombatModel:
    """The fitted model extended by one batch estimated on ``values``.

    Parameters
    ----------
    values
        Samples of the new batch x the model's features (finite), at least two samples.
    model
        A model from :func:`radiogenomics.stats.combat.combat_fit` fitted without
        covariates (the case of a model's harmonisation step).
    mean_only
        Correct the new batch's means only (default: as the model).

    Returns
    -------
    CombatModel
        With ``n_batches + 1`` batches; the new batch has the last code. Every parameter
        of the existing batches and the reference are unchanged.
    """
    y = np.asarray(values, dtype=np.float64)
    if y.ndim != 2 or y.shape[1] != model.grand_mean.shape[0]:
        raise ValueError(
            f"values must be samples x {model.grand_mean.shape[0]} features, found shape {y.shape}"
        )
    if y.shape[0] < 2:
        raise ValueError("a new batch needs at least two samples")
    if not np.isfinite(y).all():
        raise ValueError("values must be finite (no NaN or infinity)")
    if model.covariate_coef.shape[0]:
        raise ValueError("the model protects covariates; a new batch cannot be added without them")
    mean_only = model.mean_only if mean_only is None else bool(mean_only)
    n, p = y.shape
    adjusted = model.adjusted.copy()
    sd = np.sqrt(np.where(adjusted, model.var_pooled, 1.0))
    s = np.where(adjusted[None, :], (y - model.grand_mean[None, :]) / sd, 0.0)
    g_hat = s.mean(axis=0)
    d_hat = s.var(axis=0, ddof=1)
    # a feature constant within the new batch cannot be rescaled: location only
    use = np.flatnonzero(adjusted)
    gamma_star = np.zeros(p)
    delta_star = np.ones(p)
    gamma_bar = tau2 = 0.0
    a_prior = b_prior = np.nan
    iterations = 0
    if use.size:
        gamma_bar = float(g_hat[use].mean())
        # the prior variance as the model defines it (sva: sample variance, scanpy: population)
        tau2 = float(g_hat[use].var(ddof=1 if model.convention == "sva" and use.size > 1 else 0))
        d_mean = float(d_hat[use].mean())
        d_var = float(d_hat[use].var(ddof=1)) if use.size > 1 else 0.0
        with np.errstate(divide="ignore", invalid="ignore"):
            a_prior = (2 * d_var + d_mean**2) / d_var
            b_prior = (d_mean * d_var + d_mean**3) / d_var
        scalable = d_hat[use] > 0
        if not model.parametric:  # sva's non-parametric prior, as combat_fit
            d_b = np.ones(use.size) if mean_only else d_hat[use]
            g, d = _nonparametric(s[:, use], g_hat[use], d_b)
            gamma_star[use] = g
            delta_star[use] = 1.0 if mean_only else d
        elif mean_only or not scalable.all() or not np.isfinite(a_prior):
            gamma_star[use] = (
                (tau2 * g_hat[use] + gamma_bar) / (tau2 + 1.0)
                if mean_only
                else (tau2 * n * g_hat[use] + gamma_bar) / (tau2 * n + 1.0)
            )
        else:
            g, d, iterations = _posterior(
                s[:, use],
                g_hat[use],
                d_hat[use],
                gamma_bar,
                tau2,
                a_prior,
                b_prior,
                tolerance,
                max_iterations,
            )
            gamma_star[use], delta_star[use] = g, d
    return replace(
        model,
        gamma_star=np.vstack([model.gamma_star, gamma_star]),
        delta_star=np.vstack([model.delta_star, delta_star]),
        gamma_hat=np.vstack([model.gamma_hat, g_hat]),
        delta_hat=np.vstack([model.delta_hat, d_hat]),
        gamma_bar=np.r_[model.gamma_bar, gamma_bar],
        tau2=np.r_[model.tau2, tau2],
        a_prior=np.r_[model.a_prior, a_prior],
        b_prior=np.r_[model.b_prior, b_prior],
        n_per_batch=np.r_[model.n_per_batch, n],
        n_iterations=np.r_[model.n_iterations, iterations]
        if model.n_iterations.size
        else model.n_iterations,
    )
