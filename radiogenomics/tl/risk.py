"""Prognostic risk signatures: a penalised (elastic-net) Cox model over the features of a
modality, its penalty chosen by cross-validation on training patients, judged on held-out
patients, and a risk score and risk group per patient stored in the cohort.

The fitting is scikit-survival's ``CoxnetSurvivalAnalysis``; the split, the
cross-validation and the evaluation are here.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence

import mudata as md
import numpy as np
import pandas as pd

from .._compat import keyword_only, legacy_value, renamed
from .._data import as_list, modality_block
from ..cohort import store_result
from ..errors import CohortError, InputError
from ..stats import cox as cox_kernel
from ..stats import survival as km_kernel
from ._survival_data import MISSING, outcome
from .survival import _design

__all__ = ["risk_signature"]

#: Key of the stored tables and prefix of the ``obs`` columns by default.
DEFAULT_KEY = "risk_signature"

# the follow-up reader's spelling of missing="error" (older versions say "raise")
_OUTCOME_MISSING = {"error": "raise"} if "raise" in MISSING else {}


def _folds(event: np.ndarray, n_folds: int, rng: np.random.Generator) -> np.ndarray:
    """Fold number per patient, events and censorings spread evenly over the folds."""
    fold = np.empty(event.size, dtype=np.int64)
    for value in (0, 1):
        idx = np.flatnonzero(event == value)
        idx = rng.permutation(idx)
        fold[idx] = np.arange(idx.size) % n_folds
    return fold


def _split(event: np.ndarray, test_size: float, rng: np.random.Generator) -> np.ndarray:
    """True for held-out patients, stratified on the event indicator."""
    held = np.zeros(event.size, dtype=bool)
    for value in (0, 1):
        idx = rng.permutation(np.flatnonzero(event == value))
        held[idx[: int(round(test_size * idx.size))]] = True
    return held


def _structured(time, event):
    from sksurv.util import Surv

    return Surv.from_arrays(event=event.astype(bool), time=time)


def _coxnet(x, time, event, l1_ratio, alphas, penalty_factor, n_alphas, alpha_min_ratio):
    from sksurv.linear_model import CoxnetSurvivalAnalysis

    model = CoxnetSurvivalAnalysis(
        l1_ratio=l1_ratio,
        alphas=alphas,
        n_alphas=n_alphas,
        alpha_min_ratio=alpha_min_ratio,
        penalty_factor=penalty_factor,
        fit_baseline_model=False,
        max_iter=100000,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.fit(x, _structured(time, event))
    return model


@keyword_only("mod")
@renamed(seed="random_state")
def risk_signature(
    mdata: md.MuData,
    mod: str,
    *,
    time: str,
    event: str,
    features: Sequence[str] | None = None,
    covariates: str | Sequence[str] = (),
    event_map: Mapping | None = None,
    l1_ratio: float = 0.5,
    n_folds: int = 5,
    test_size: float = 0.3,
    n_preselect: int | None = None,
    horizons: Sequence[float] | None = None,
    alpha_rule: str = "max",
    n_alphas: int = 50,
    alpha_min_ratio: float = 0.01,
    random_state: int = 0,
    missing: str = "error",
    key_added: str | None = None,
) -> pd.DataFrame:
    """Elastic-net Cox risk signature, validated on held-out patients.

    Patients with follow-up and the modality are split into a training set and a held-out
    set (stratified on events). On the training set only: features are standardised
    (missing values set to the training median), optionally pre-selected by univariate Cox
    p-value, and the penalty is chosen by ``n_folds``-fold cross-validation of Harrell's
    C-index along the elastic-net path. The model refitted on the whole training set
    gives every patient a risk score (the linear predictor); the risk group is ``high``
    above the training median score, ``low`` otherwise. The held-out patients measure how
    well it generalises: Harrell's C-index, the time-dependent cumulative/dynamic AUC at
    ``horizons`` (Uno's estimator, scikit-survival) and the log-rank test of the groups.

    Parameters
    ----------
    mdata
        The cohort.
    mod
        Modality whose features are candidates.
    time, event, event_map, missing
        Follow-up columns, as :func:`radiogenomics.tl.kaplan_meier`.
    features
        Candidate features (default: all of the modality), e.g. the top of a
        :func:`radiogenomics.tl.cox_screen` run on the same training patients.
    covariates
        Clinical columns kept in the model without penalty (e.g. ``["age", "stage"]``).
    l1_ratio
        Elastic-net mixing: 1 = lasso, towards 0 = ridge.
    n_folds
        Cross-validation folds on the training patients.
    test_size
        Share of patients held out (0 < test_size < 1).
    n_preselect
        Keep only the ``n_preselect`` features with the smallest univariate Cox p-values on
        the training patients before the elastic net.
    horizons
        Times for the time-dependent AUC (default: the 25th, 50th and 75th percentiles of
        held-out event times within the training follow-up).
    alpha_rule
        ``"max"``: the penalty with the best mean cross-validated C-index; ``"1se"``: the
        largest penalty within one standard error of it (a sparser signature).
    n_alphas, alpha_min_ratio
        The penalty path.
    random_state
        Random seed of the split and the folds (``seed`` is its old name).
    key_added
        Key of the stored tables and prefix of the ``obs`` columns ``<key>_score``,
        ``<key>_group`` (low/high) and ``<key>_set`` (training/held_out); default
        ``"risk_signature"``.

    Returns
    -------
    pandas.DataFrame
        The signature: one row per selected feature (non-zero coefficient) with
        ``modality, feature, coef`` (per standard deviation on the training patients),
        ``hazard_ratio_per_sd``, ``coef_per_unit``, ``mean``, ``sd``; penalty-free
        covariates follow with ``modality == "clinical"``. The evaluation (``set, metric,
        horizon, value``) is stored under ``"risk_signature_evaluation"`` and the
        cross-validation curve under ``"risk_signature_cv"``.

    Raises
    ------
    InputError
        ``test_size`` outside (0, 1) or an unknown ``alpha_rule``.
    CohortError
        Fewer than 20 usable patients, too few events in either set, no usable feature,
        or a covariate constant in the training patients.

    See Also
    --------
    radiogenomics.tl.cox_screen : univariate Cox models of every feature.

    Examples
    --------
    >>> import radiogenomics as rg
    >>> mdata = rg.datasets.toy_cohort(n_patients=60)
    >>> signature = rg.tl.risk_signature(mdata, mod="radiomics", time="os_months",
    ...                                  event="os_event")
    >>> list(signature.columns)
    ['modality', 'feature', 'coef', 'hazard_ratio_per_sd', 'coef_per_unit', 'mean', 'sd']
    >>> mdata.obs["risk_signature_set"].value_counts().sort_index().tolist()
    [42, 18]
    """
    if not 0 < test_size < 1:
        raise InputError("test_size must be between 0 and 1", found=test_size)
    if alpha_rule not in ("max", "1se"):
        raise InputError("unknown alpha_rule", expected="'max' or '1se'", found=alpha_rule)
    missing = legacy_value("missing", missing, {"raise": "error"}, "risk_signature")
    key_added = key_added or DEFAULT_KEY
    covariates = as_list(covariates)
    rng = np.random.default_rng(random_state)
    d = _patients(
        mdata, mod, time, event, event_map, missing, features, covariates, test_size, n_folds, rng
    )
    train, held, t, e = d["train"], d["held"], d["time"], d["event"]
    cols, mean, sd = _candidates(d["x"], train, t, e, d["z"], n_preselect, d["share_missing"])
    if cols.size == 0:
        raise CohortError(f"no usable feature in {mod!r} (all constant or mostly missing)")
    xs = (d["x"][:, cols] - mean[cols]) / sd[cols]
    z_names = d["z_names"]
    zs, z_mean, z_sd = _standardised_covariates(d["z"], z_names, train, t.size)
    design_x = np.hstack([xs, zs])
    penalty = np.r_[np.ones(cols.size), np.zeros(len(z_names))]
    path = _penalty_path(
        design_x,
        t,
        e,
        train,
        penalty,
        rng,
        l1_ratio=l1_ratio,
        n_folds=n_folds,
        n_alphas=n_alphas,
        alpha_min_ratio=alpha_min_ratio,
        alpha_rule=alpha_rule,
    )
    best, alphas = path["best"], path["alphas"]
    coef = path["model"].coef_[:, best]
    n_nonzero = (np.abs(path["model"].coef_[: cols.size]) > 0).sum(0)
    selected = np.flatnonzero(np.abs(coef[: cols.size]) > 0)
    risk = design_x @ coef
    threshold = float(np.median(risk[train]))
    if selected.size == 0 and not z_names:
        warnings.warn(
            "the cross-validated penalty removes every feature: the features carry no "
            "prognostic information detectable in these patients; every patient gets the "
            "same score and no risk group",
            UserWarning,
            stacklevel=3,
        )
        group = np.full(t.size, -1)
    else:
        group = (risk > threshold).astype(np.int64)
    rows, horizons = _evaluation(t, e, train, held, risk, group, horizons)
    evaluation = _evaluation_table(rows, train, held, selected.size, float(alphas[best]))
    cv = _cv_table(path, n_nonzero)
    signature = _signature_table(
        mod, d["names"], cols, selected, coef, mean, sd, z_names, z_mean, z_sd
    )
    _store_patients(mdata, key_added, d["idx"], risk, group, held)
    params = {
        "modality": mod,
        "time": time,
        "event": event,
        "covariates": covariates,
        "l1_ratio": l1_ratio,
        "n_folds": n_folds,
        "test_size": test_size,
        "n_preselect": n_preselect,
        "alpha_rule": alpha_rule,
        "seed": random_state,
        "alpha": float(alphas[best]),
        "threshold": threshold,
        "n_candidates": int(cols.size),
        "horizons": horizons,
    }
    store_result(mdata, "risk_signature", key_added, signature, params)
    store_result(mdata, "risk_signature_evaluation", key_added, evaluation, params)
    store_result(mdata, "risk_signature_cv", key_added, cv, params)
    return signature


def _standardised_covariates(z, z_names, train, n_patients):
    """Covariates standardised on the training patients, with their means and deviations."""
    z_mean = z[train].mean(0) if z_names else np.empty(0)
    z_sd = z[train].std(0) if z_names else np.empty(0)
    if z_names and (z_sd <= 0).any():
        raise CohortError(
            "a covariate is constant in the training patients",
            found=[n for n, s in zip(z_names, z_sd) if s <= 0],
        )
    zs = (z - z_mean) / z_sd if z_names else np.empty((n_patients, 0))
    return zs, z_mean, z_sd


def _evaluation_table(rows, train, held, n_selected, alpha):
    """The evaluation rows followed by the sizes of the sets, of the signature, and the penalty."""
    rows = rows + [
        {"set": "training", "metric": "n_patients", "horizon": np.nan, "value": float(train.sum())},
        {"set": "held_out", "metric": "n_patients", "horizon": np.nan, "value": float(held.sum())},
        {
            "set": "training",
            "metric": "n_features_selected",
            "horizon": np.nan,
            "value": float(n_selected),
        },
        {"set": "training", "metric": "alpha", "horizon": np.nan, "value": alpha},
    ]
    return pd.DataFrame(rows)


def _cv_table(path, n_nonzero):
    """The cross-validation curve along the penalty path, the chosen penalty marked."""
    alphas = path["alphas"]
    return pd.DataFrame(
        {
            "alpha": alphas,
            "mean_concordance": path["mean"],
            "se_concordance": path["se"],
            "n_features": n_nonzero,
            "chosen": np.arange(alphas.size) == path["best"],
        }
    )


def _patients(
    mdata, mod, time, event, event_map, missing, features, covariates, test_size, n_folds, rng
) -> dict:
    """The patients with follow-up, the modality and the covariates, split into training
    and held-out (stratified on events); the modality's values (``x``) with gaps filled by
    the training medians, the covariates (``z``)."""
    out = outcome(mdata, time, event, event_map, _OUTCOME_MISSING.get(missing, missing))
    block = modality_block(mdata, mod, features=features)
    x_all = block.values
    in_mod = ~np.isnan(x_all).all(1)
    if covariates:
        z_all, z_names, _ = _design(mdata, covariates)
    else:
        z_all, z_names = np.empty((mdata.n_obs, 0)), []
    use = out.usable & in_mod & ~np.isnan(z_all).any(1)
    if use.sum() < 20:
        raise CohortError(
            f"too few patients with follow-up and {mod!r} for a signature",
            expected="at least 20",
            found=int(use.sum()),
        )
    idx = np.flatnonzero(use)
    t, e = out.time[idx], out.event[idx]
    held = _split(e, test_size, rng)
    train = ~held
    if e[train].sum() < n_folds or e[held].sum() < 2:
        raise CohortError(
            "too few events to train and validate a signature",
            expected=f">= {n_folds} training and 2 held-out events",
            found=f"{int(e[train].sum())} and {int(e[held].sum())}",
        )
    x = x_all[idx]
    # training statistics only
    share_missing = np.isnan(x[train]).mean(0)
    median = np.nanmedian(np.where(share_missing[None, :] < 1, x[train], 0.0), axis=0)
    x = np.where(np.isnan(x), median, x)
    return {
        "idx": idx,
        "time": t,
        "event": e,
        "held": held,
        "train": train,
        "x": x,
        "share_missing": share_missing,
        "names": list(block.names),
        "z": z_all[idx],
        "z_names": z_names,
    }


def _candidates(x, train, t, e, z, n_preselect, share_missing):
    """Columns of ``x`` that enter the elastic net (not constant, at most half missing in
    the training patients, optionally the ``n_preselect`` strongest by univariate Cox),
    and the training means and standard deviations."""
    mean = x[train].mean(0)
    sd = x[train].std(0)
    usable = (sd > 0) & (share_missing <= 0.5)
    if n_preselect is not None and usable.sum() > n_preselect:
        design = cox_kernel.prepare_survival(t[train], e[train])
        fit = cox_kernel.cox_batch(design, x[train][:, usable], z[train] if z.shape[1] else None)
        p = np.full(usable.sum(), np.inf)
        ok = fit.status == "ok"
        with np.errstate(invalid="ignore", divide="ignore"):
            zval = np.abs(fit.coef[:, 0] / fit.std_error[:, 0])
        p[ok] = -zval[ok]
        chosen = np.flatnonzero(usable)[np.argsort(p, kind="stable")[:n_preselect]]
        usable = np.zeros_like(usable)
        usable[chosen] = True
    return np.flatnonzero(usable), mean, sd


def _penalty_path(
    design_x, t, e, train, penalty, rng, *, l1_ratio, n_folds, n_alphas, alpha_min_ratio, alpha_rule
) -> dict:
    """The elastic-net path on all training patients, and the penalty chosen by
    cross-validation of Harrell's C-index along it."""
    path_model = _coxnet(
        design_x[train], t[train], e[train], l1_ratio, None, penalty, n_alphas, alpha_min_ratio
    )
    alphas = path_model.alphas_
    fold = _folds(e[train], n_folds, rng)
    train_idx = np.flatnonzero(train)
    scores = np.full((n_folds, alphas.size), np.nan)
    for k in range(n_folds):
        fit_rows = train_idx[fold != k]
        val_rows = train_idx[fold == k]
        model = _coxnet(
            design_x[fit_rows],
            t[fit_rows],
            e[fit_rows],
            l1_ratio,
            alphas,
            penalty,
            n_alphas,
            alpha_min_ratio,
        )
        predictions = design_x[val_rows] @ model.coef_  # (n_val, n_alphas)
        scores[k, : predictions.shape[1]] = km_kernel.concordance_index(
            t[val_rows], e[val_rows], predictions
        )
    mean_c = np.nanmean(scores, axis=0)
    se_c = np.nanstd(scores, axis=0, ddof=1) / np.sqrt(n_folds)
    best = int(np.nanargmax(mean_c))
    if alpha_rule == "1se":
        within = np.flatnonzero(mean_c >= mean_c[best] - se_c[best])
        best = int(within.min())  # alphas decrease along the path: smallest index = largest
    return {"model": path_model, "alphas": alphas, "best": best, "mean": mean_c, "se": se_c}


def _evaluation(t, e, train, held, risk, group, horizons) -> tuple[list[dict], list[float]]:
    """Concordance on both sets; on the held-out patients the time-dependent AUC at the
    horizons and the log-rank test of the risk groups."""
    rows = []
    for label, mask in (("training", train), ("held_out", held)):
        c = km_kernel.concordance_index(t[mask], e[mask], risk[mask])
        rows.append({"set": label, "metric": "concordance", "horizon": np.nan, "value": c})
    if horizons is None:
        max_train = t[train].max()
        event_times = t[held & (e == 1) & (t < max_train)]
        horizons = (
            np.unique(np.percentile(event_times, [25, 50, 75])) if event_times.size >= 3 else []
        )
    horizons = [float(h) for h in horizons]
    if horizons:
        rows += _time_dependent_auc(t, e, train, held, risk, horizons)
    if (group[held] >= 0).all() and np.unique(group[held]).size == 2:
        lr = km_kernel.logrank_test(t[held], e[held], group[held])
        rows.append(
            {"set": "held_out", "metric": "logrank_p_value", "horizon": np.nan, "value": lr.p_value}
        )
    return rows, horizons


def _time_dependent_auc(t, e, train, held, risk, horizons) -> list[dict]:
    """Uno's cumulative/dynamic AUC of the held-out patients (scikit-survival)."""
    from sksurv.metrics import cumulative_dynamic_auc

    rows = []
    valid = [h for h in horizons if t[held].min() <= h < t[held].max() and h < t[train].max()]
    skipped = sorted(set(horizons) - set(valid))
    if skipped:
        warnings.warn(
            f"horizons {skipped} lie outside the follow-up of the held-out "
            "patients and are skipped",
            UserWarning,
            stacklevel=5,
        )
    if valid and np.ptp(risk[held]) > 0:
        # the censoring distribution is known up to the last training time: held-out
        # follow-up is truncated just before it (administrative censoring)
        cap = np.nextafter(t[train].max(), -np.inf)
        t_held = np.minimum(t[held], cap)
        e_held = e[held] * (t[held] <= cap)
        auc, mean_auc = cumulative_dynamic_auc(
            _structured(t[train], e[train]),
            _structured(t_held, e_held),
            risk[held],
            np.asarray(valid),
        )
        for h, a in zip(valid, np.atleast_1d(auc)):
            rows.append(
                {"set": "held_out", "metric": "time_dependent_auc", "horizon": h, "value": float(a)}
            )
        rows.append(
            {
                "set": "held_out",
                "metric": "mean_time_dependent_auc",
                "horizon": np.nan,
                "value": float(mean_auc),
            }
        )
    return rows


def _signature_table(
    mod, names, cols, selected, coef, mean, sd, z_names, z_mean, z_sd
) -> pd.DataFrame:
    """The selected features (and the penalty-free covariates), largest |coef| first."""
    feature_idx = cols[selected]
    signature = pd.DataFrame(
        {
            "modality": mod,
            "feature": [names[i] for i in feature_idx],
            "coef": coef[selected],
            "hazard_ratio_per_sd": np.exp(coef[selected]),
            "coef_per_unit": coef[selected] / sd[feature_idx],
            "mean": mean[feature_idx],
            "sd": sd[feature_idx],
        }
    )
    if z_names:
        zc = coef[cols.size :]
        signature = pd.concat(
            [
                signature,
                pd.DataFrame(
                    {
                        "modality": "clinical",
                        "feature": z_names,
                        "coef": zc,
                        "hazard_ratio_per_sd": np.exp(zc),
                        "coef_per_unit": zc / z_sd,
                        "mean": z_mean,
                        "sd": z_sd,
                    }
                ),
            ],
            ignore_index=True,
        )
    return signature.reindex(
        signature["coef"].abs().sort_values(ascending=False).index
    ).reset_index(drop=True)


def _store_patients(mdata, key_added, idx, risk, group, held) -> None:
    """``obs`` columns ``<key>_score``, ``<key>_group`` and ``<key>_set`` (for the
    dashboards; missing for patients outside the signature)."""
    patients = mdata.obs_names
    score_col = np.full(mdata.n_obs, np.nan)
    score_col[idx] = risk
    group_codes = np.full(mdata.n_obs, -1)
    group_codes[idx] = group
    set_codes = np.full(mdata.n_obs, -1)
    set_codes[idx] = held.astype(np.int64)
    mdata.obs[f"{key_added}_score"] = pd.Series(score_col, index=patients)
    mdata.obs[f"{key_added}_group"] = pd.Categorical.from_codes(
        group_codes, categories=["low", "high"], ordered=True
    )
    mdata.obs[f"{key_added}_set"] = pd.Categorical.from_codes(
        set_codes, categories=["training", "held_out"]
    )
