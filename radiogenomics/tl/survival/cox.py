"""Cox models: one multivariable model (``cox``) and the screen of every feature
(``cox_screen``)."""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence

import mudata as md
import numpy as np
import pandas as pd
from scipy import stats

from ..._compat import keyword_only
from ..._data import as_list, modality_block
from ...cohort import store_result
from ...errors import CohortError, InputError
from ...stats import cox as cox_kernel
from ...stats import survival as km_kernel
from ...stats.multitest import adjust_pvalues
from .._survival_data import (
    outcome,
)
from ._common import (
    ProportionalHazardsWarning,
    _default_key,
    _design,
    _strata_codes,
)


def cox(
    mdata: md.MuData,
    terms: str | Sequence[str],
    *,
    time: str,
    event: str,
    strata: str | Sequence[str] | None = None,
    ties: str = "efron",
    event_map: Mapping | None = None,
    alpha: float = 0.05,
    ph_transform: str = "km",
    ph_alpha: float = 0.05,
    ph_method: str = "zph",
    missing: str = "error",
    key_added: str | None = None,
) -> pd.DataFrame:
    """Multivariable Cox proportional hazards model.

    Parameters
    ----------
    mdata
        The cohort.
    terms
        Clinical columns (categorical ones expanded to indicators against their first
        level, named like ``stage[T.II]``) and features (``"modality:feature"``).
    time, event
        Follow-up time and event columns of ``mdata.obs``.
    strata
        Column(s) of ``mdata.obs``: a separate baseline hazard per stratum.
    ties
        ``"efron"`` (default, as R and lifelines) or ``"breslow"``.
    event_map, missing
        See :func:`kaplan_meier`. Patients missing a term are left out with a warning.
    alpha
        1 - confidence level of the hazard-ratio intervals.
    ph_transform, ph_alpha
        Time transform of the proportional-hazards test (``"km"``, ``"rank"``,
        ``"identity"``, ``"log"``) and the level below which a term is reported as
        breaking the assumption (with a :class:`ProportionalHazardsWarning`).
    ph_method
        ``"zph"`` (default): the score test of R ``survival::cox.zph`` (version 3.0 and
        later), one test per variable (the indicators of a categorical variable together,
        with as many degrees of freedom, as R's default ``terms=TRUE``) and a global test;
        see :func:`radiogenomics.stats.cox.cox_zph`. ``"schoenfeld"``: the earlier
        approximation from scaled Schoenfeld residuals (R before 3.0, lifelines'
        ``proportional_hazard_test``), one test per design column.
    key_added
        Key of the stored tables.

    Returns
    -------
    pandas.DataFrame
        One row per design column: ``term, variable, coef, hazard_ratio, std_error, z,
        p_value, hr_ci_lower, hr_ci_upper, ph_statistic, ph_df, ph_p_value, ph_note``
        (the rows of one categorical variable share its test). The model (``n, n_events,
        ties, strata, log_likelihood, lr_*, wald_*, score_*, concordance, ph_global_*,
        ph_transform, ph_method``) is stored under ``"cox_model"``. With ``strata`` the
        concordance compares pairs within a stratum only, as R ``coxph``.

    See Also
    --------
    cox_screen : one model per feature of a modality.
    radiogenomics.pl.forest : the hazard ratios as a forest plot.

    Examples
    --------
    >>> import radiogenomics as rg
    >>> mdata = rg.datasets.toy_cohort(n_patients=60)
    >>> table = rg.tl.cox(mdata, ["age", "stage", "radiomics:original_shape_VoxelVolume"],
    ...                   time="os_months", event="os_event", key_added="os_model")
    >>> table[["term", "hazard_ratio"]].round(3)
                                       term  hazard_ratio
    0                                   age         1.003
    1                           stage[T.II]         0.965
    2                          stage[T.III]         1.028
    3  radiomics:original_shape_VoxelVolume         1.027
    >>> bool(table["p_value"].iloc[3] < 0.001)
    True
    >>> model = rg.get_result(mdata, "cox_model", "os_model")
    >>> int(model["n"].iloc[0]), int(model["n_events"].iloc[0])
    (60, 38)
    >>> round(float(model["concordance"].iloc[0]), 2)
    0.7
    """
    terms = as_list(terms)
    _check_cox_options(terms, ph_method, ph_transform)
    out = outcome(mdata, time, event, event_map, missing)
    x, names, origin = _design(mdata, terms)
    strata_codes, strata_cols = _strata_codes(mdata, strata)
    complete, dropped = _complete_rows(out, x, strata_codes)
    if dropped.any():
        ids = ", ".join(map(str, mdata.obs_names[dropped][:3]))
        warnings.warn(
            f"{int(dropped.sum())} patient(s) miss a term or stratum and are left out (e.g. {ids})",
            UserWarning,
            stacklevel=2,
        )
    t, e, xs = out.time[complete], out.event[complete], x[complete]
    if e.sum() == 0:
        raise CohortError("no events among the patients analysed", column=event)
    _check_cox_terms(xs, e, names, origin)
    s = None if strata_codes is None else strata_codes[complete]
    design = cox_kernel.prepare_survival(t, e, s)
    fit = _fit_cox(design, xs, ties)
    summary = _cox_fit_summary(fit, t, e, s)
    ph, ph_columns, label, tested = _ph_test(
        design, xs, fit, names, origin, ties, ph_transform, ph_method
    )
    notes = _ph_notes(tested, ph_columns["ph_p_value"], label, ph_alpha)
    table = _cox_table(names, origin, fit, alpha, {**ph_columns, "ph_note": notes})
    model = pd.DataFrame(
        [
            {
                "n": int(complete.sum()),
                "n_events": int(e.sum()),
                "ties": ties,
                "strata": ",".join(strata_cols),
                **summary,
                "ph_global_statistic": ph["global_statistic"],
                "ph_global_df": ph["global_df"],
                "ph_global_p_value": ph["global_p_value"],
                "ph_transform": ph_transform,
                "ph_method": ph_method,
            }
        ]
    )
    key = key_added or _default_key(time, "+".join(terms))
    params = {
        "terms": terms,
        "time": time,
        "event": event,
        "strata": strata_cols,
        "ties": ties,
        "alpha": alpha,
        "ph_transform": ph_transform,
        "ph_method": ph_method,
        "missing": missing,
    }
    store_result(mdata, "cox", key, table, params)
    store_result(mdata, "cox_model", key, model, params)
    return table


def _check_cox_options(terms, ph_method, ph_transform):
    """Reject an empty term list and unknown proportional-hazards options."""
    if not terms:
        raise InputError("cox needs at least one term")
    if ph_method not in ("zph", "schoenfeld"):
        raise InputError(
            "unknown proportional-hazards test",
            column="ph_method",
            expected="'zph' or 'schoenfeld'",
            found=ph_method,
        )
    if ph_transform not in cox_kernel.ZPH_TRANSFORMS:
        raise InputError(
            "unknown time transform of the proportional-hazards test",
            column="ph_transform",
            expected=list(cox_kernel.ZPH_TRANSFORMS),
            found=ph_transform,
        )


def _complete_rows(out, x, strata_codes):
    """Usable patients with every design column and a stratum, and those dropped for it."""
    complete = out.usable & ~np.isnan(x).any(1)
    if strata_codes is not None:
        complete &= strata_codes >= 0
    return complete, out.usable & ~complete


def _check_cox_terms(xs, e, names, origin):
    """Reject constant terms and binary terms with no events on one side."""
    for j, name in enumerate(names):
        column = xs[:, j]
        if np.unique(column).size < 2:
            raise CohortError(
                f"term {name!r} is constant in the patients analysed",
                column=origin[j],
                found=float(column[0]),
            )
        levels = np.unique(column)
        if levels.size == 2 and set(levels) <= {0.0, 1.0}:
            for level, label in ((1.0, "with"), (0.0, "without")):
                if e[column == level].sum() == 0:
                    raise CohortError(
                        f"no events among the patients {label} {name!r}: its hazard ratio "
                        "is zero or infinite and cannot be estimated",
                        column=origin[j],
                        expected="events in every group",
                        hint="Merge sparse levels, or drop the term",
                    )


def _fit_cox(design, xs, ties):
    """Fit the multivariable model, raising when the partial likelihood has no maximum."""
    fit = cox_kernel.cox_batch(
        design,
        xs[:, :1],
        xs[:, 1:] if xs.shape[1] > 1 else None,
        ties=ties,
        tol=1e-10,
        return_linear_predictor=True,
    )
    status = fit.status[0]
    if status != "ok":
        raise CohortError(
            f"the Cox model cannot be fitted: {cox_kernel.STATUS[status]}",
            expected="a finite maximum of the partial likelihood",
            found=status,
            hint="Check for a term that separates patients with and without "
            "events, or collinear terms",
        )
    return fit


def _cox_fit_summary(fit, t, e, s):
    """Likelihood, global tests (likelihood ratio, Wald, score) and concordance of a fit."""
    coef = fit.coef[0]
    cov = fit.covariance[0]
    d = coef.size
    wald = float(coef @ np.linalg.solve(cov, coef))
    lr = float(2 * (fit.log_likelihood[0] - fit.log_likelihood_null[0]))
    score = float(fit.score_statistic[0])
    lp = fit.linear_predictor[:, 0]
    concordance = km_kernel.concordance_index(t, e, lp, strata=s)  # pairs within strata
    return {
        "log_likelihood": float(fit.log_likelihood[0]),
        "log_likelihood_null": float(fit.log_likelihood_null[0]),
        "lr_statistic": lr,
        "lr_df": d,
        "lr_p_value": float(stats.chi2.sf(lr, d)),
        "wald_statistic": wald,
        "wald_df": d,
        "wald_p_value": float(stats.chi2.sf(wald, d)),
        "score_statistic": score,
        "score_df": d,
        "score_p_value": float(stats.chi2.sf(score, d)),
        "concordance": concordance,
    }


def _ph_test(design, xs, fit, names, origin, ties, ph_transform, ph_method):
    """Proportional-hazards test: its result, per-row columns, label and tested variables."""
    coef = fit.coef[0]
    if ph_method == "zph":
        variables = list(dict.fromkeys(origin))
        groups = [[j for j, o in enumerate(origin) if o == v] for v in variables]
        ph = cox_kernel.cox_zph(design, xs, coef, ties=ties, transform=ph_transform, terms=groups)
        term_of = {j: k for k, group in enumerate(groups) for j in group}
        ph_statistic = np.array([ph["statistic"][term_of[j]] for j in range(len(names))])
        ph_df = np.array([ph["df"][term_of[j]] for j in range(len(names))])
        ph_p = np.array([ph["p_value"][term_of[j]] for j in range(len(names))])
        label, tested = "cox.zph score test", [variables[term_of[j]] for j in range(len(names))]
    else:
        cov = fit.covariance[0]
        ph = cox_kernel.schoenfeld_test(design, xs, coef, cov, ties=ties, transform=ph_transform)
        ph_statistic, ph_p = ph["statistic"], ph["p_value"]
        ph_df = np.ones(len(names), dtype=np.int64)
        label, tested = "scaled Schoenfeld residuals", list(names)
    columns = {"ph_statistic": ph_statistic, "ph_df": ph_df, "ph_p_value": ph_p}
    return ph, columns, label, tested


def _ph_notes(tested, ph_p, label, ph_alpha):
    """A note per row breaking proportional hazards, each distinct note warned once."""
    notes = []
    warned = set()
    for j in range(len(tested)):
        if ph_p[j] < ph_alpha:
            note = (
                f"The effect of {tested[j]!r} on the hazard seems to change over "
                f"follow-up ({label}, p = {ph_p[j]:.2g}): its hazard ratio is an "
                "average over time and may mislead. Consider stratifying on it or "
                "modelling a time-varying effect."
            )
            if note not in warned:
                warnings.warn(note, ProportionalHazardsWarning, stacklevel=3)
                warned.add(note)
        else:
            note = ""
        notes.append(note)
    return notes


def _cox_table(names, origin, fit, alpha, ph_columns):
    """One row per design column: estimates, Wald tests, hazard-ratio intervals, PH tests."""
    coef = fit.coef[0]
    se = np.sqrt(np.diag(fit.covariance[0]))
    z = coef / se
    p = 2 * stats.norm.sf(np.abs(z))
    zq = stats.norm.ppf(1 - alpha / 2)
    return pd.DataFrame(
        {
            "term": names,
            "variable": origin,
            "coef": coef,
            "hazard_ratio": np.exp(coef),
            "std_error": se,
            "z": z,
            "p_value": p,
            "hr_ci_lower": np.exp(coef - zq * se),
            "hr_ci_upper": np.exp(coef + zq * se),
            **ph_columns,
        }
    )


@keyword_only("mod")
def cox_screen(
    mdata: md.MuData,
    mod: str | Sequence[str] | None,
    *,
    time: str,
    event: str,
    covariates: str | Sequence[str] = (),
    strata: str | Sequence[str] | None = None,
    ties: str = "efron",
    event_map: Mapping | None = None,
    features: Sequence[str] | None = None,
    layer: str | None = None,
    alpha: float = 0.05,
    concordance: bool = True,
    missing: str = "error",
    key_added: str | None = None,
) -> pd.DataFrame:
    """A Cox model for every feature of a modality, optionally adjusted for covariates.

    All features are fitted at once by a vectorised Newton-Raphson (see
    :func:`radiogenomics.stats.cox.cox_batch`); each model is ``feature + covariates``
    on the patients who have the feature (and every covariate).

    Parameters
    ----------
    mdata
        The cohort.
    mod
        Modality name, several names, or ``None`` for every modality. q-values are
        Benjamini-Hochberg within each modality.
    time, event
        Follow-up time and event columns of ``mdata.obs``.
    covariates
        Clinical columns (categorical ones expanded to indicators) or features
        (``"modality:feature"``) in every model.
    strata
        Column(s) of ``mdata.obs`` for a stratified baseline hazard.
    ties
        ``"efron"`` (default) or ``"breslow"``.
    event_map, missing
        See :func:`kaplan_meier`. Patients missing a covariate are left out of every
        model, with a warning.
    features
        Only these features (of a single modality).
    layer
        Modality layer instead of ``X``.
    alpha
        1 - confidence level of the hazard-ratio intervals.
    concordance
        Also compute Harrell's C of each model's linear predictor (with ``strata``, over
        pairs within a stratum only, as R ``coxph``).
    key_added
        Key of the stored table (default: the modality name(s)).

    Returns
    -------
    pandas.DataFrame
        The survival screen table (:data:`SCREEN_COLUMNS`) plus ``hazard_ratio_per_sd``
        (per standard deviation of the feature), ``status`` and ``note`` (why a row has no
        estimate: a constant feature, no events, too few patients, perfect separation with
        an infinite hazard ratio, collinearity, non-convergence) and ``covariates``; sorted
        by p-value, rows without an estimate last.

    See Also
    --------
    cox : one multivariable model.
    radiogenomics.pl.survival_volcano : the screen as a volcano plot.

    Examples
    --------
    >>> import radiogenomics as rg
    >>> mdata = rg.datasets.toy_cohort(n_patients=60)
    >>> screen = rg.tl.cox_screen(mdata, mod="radiomics", time="os_months", event="os_event",
    ...                           covariates=["age"])
    >>> screen.loc[:2, ["feature", "hazard_ratio_per_sd"]].round(2)
                          feature  hazard_ratio_per_sd
    0  original_shape_VoxelVolume                 2.09
    1   original_shape_Sphericity                 2.07
    2    original_glcm_SumEntropy                 0.57
    >>> len(screen), bool((screen["q_value"].iloc[:3] < 0.01).all()), screen["covariates"].iloc[0]
    (12, True, 'age')
    """
    mods = list(mdata.mod) if mod is None else as_list(mod)
    if features is not None and len(mods) != 1:
        raise InputError("features= needs a single modality", found=mods)
    out = outcome(mdata, time, event, event_map, missing)
    covariates = as_list(covariates)
    if covariates:
        z, z_names, _ = _design(mdata, covariates)
    else:
        z, z_names = np.empty((mdata.n_obs, 0)), []
    strata_codes, strata_cols = _strata_codes(mdata, strata)
    keep, dropped = _complete_rows(out, z, strata_codes)
    if dropped.any():
        warnings.warn(
            f"{int(dropped.sum())} patient(s) miss a covariate or stratum and are "
            "left out of every model",
            UserWarning,
            stacklevel=2,
        )
    t, e = out.time[keep], out.event[keep]
    if e.sum() == 0:
        raise CohortError("no events among the patients analysed", column=event)
    zk = z[keep]
    for j, name in enumerate(z_names):
        if np.unique(zk[:, j]).size < 2:
            raise CohortError(
                f"covariate {name!r} is constant in the patients analysed", column=name
            )
    screen_strata = None if strata_codes is None else strata_codes[keep]
    design = cox_kernel.prepare_survival(t, e, screen_strata)
    zq = stats.norm.ppf(1 - alpha / 2)
    tables = []
    for name in mods:
        block = modality_block(mdata, name, features=features, layer=layer)
        x = block.values if keep.all() else block.values[keep]
        fit = cox_kernel.cox_batch(
            design,
            x,
            zk if zk.shape[1] else None,
            ties=ties,
            return_linear_predictor=concordance and bool(z_names),
        )
        table = _screen_table(name, block.names, fit, zq)
        if concordance:
            _screen_concordance(table, fit, t, e, x, screen_strata, bool(z_names))
        table["covariates"] = ",".join(covariates)
        table["q_value"] = adjust_pvalues(table["p_value"].to_numpy(), method="bh")
        tables.append(table)
    table = _sorted_screen(tables)
    key = key_added or "+".join(mods)
    store_result(
        mdata,
        "survival_screen",
        key,
        table,
        {
            "modalities": mods,
            "time": time,
            "event": event,
            "covariates": covariates,
            "covariate_columns": z_names,
            "strata": strata_cols,
            "ties": ties,
            "alpha": alpha,
            "n_patients": int(keep.sum()),
            "missing": missing,
            "layer": layer,
        },
    )
    return table


def _screen_table(name, feature_names, fit, zq):
    """Screen rows of one modality: estimates, Wald tests, intervals, status and note."""
    coef = fit.coef[:, 0]
    se = fit.std_error[:, 0]
    with np.errstate(invalid="ignore", over="ignore"):
        zstat = coef / se
        p = 2 * stats.norm.sf(np.abs(zstat))
    sd = fit.feature_sd
    table = pd.DataFrame(
        {
            "modality": name,
            "feature": feature_names,
            "n": fit.n,
            "n_events": fit.n_events,
            "coef": coef,
            "hazard_ratio": np.exp(coef),
            "std_error": se,
            "z": zstat,
            "p_value": p,
            "q_value": np.nan,
            "hr_ci_lower": np.exp(coef - zq * se),
            "hr_ci_upper": np.exp(coef + zq * se),
            "concordance": np.nan,
        }
    )
    with np.errstate(over="ignore", invalid="ignore"):
        table["hazard_ratio_per_sd"] = np.exp(coef * sd)
    table["status"] = fit.status
    table["note"] = ["" if s == "ok" else cox_kernel.STATUS[s] for s in fit.status]
    return table


def _screen_concordance(table, fit, t, e, x, screen_strata, adjusted):
    """Fill Harrell's C of each fitted model's linear predictor into the screen rows."""
    coef = fit.coef[:, 0]
    ok = fit.status == "ok"
    if adjusted:
        c = km_kernel.concordance_index(t, e, fit.linear_predictor[:, ok], strata=screen_strata)
    else:  # the C-index of b * x is C(x) or 1 - C(x)
        c = km_kernel.concordance_index(t, e, x if ok.all() else x[:, ok], strata=screen_strata)
        c = np.where(coef[ok] >= 0, c, 1.0 - c)
    table.loc[ok, "concordance"] = c


def _sorted_screen(tables):
    """Join the modalities' rows by p-value, warning about rows without an estimate."""
    table = pd.concat(tables, ignore_index=True)
    table = table.sort_values(
        ["p_value", "modality", "feature"], na_position="last", kind="stable"
    ).reset_index(drop=True)
    flagged = table["status"] != "ok"
    if flagged.any():
        counts = table.loc[flagged, "status"].value_counts().to_dict()
        warnings.warn(
            f"{int(flagged.sum())} feature(s) have no estimate ({counts}); see the "
            "'status' and 'note' columns",
            UserWarning,
            stacklevel=3,
        )
    return table
