"""Performance of predictions: the metrics of each task, with bootstrap confidence
intervals, and ROC, calibration and time-dependent curves with confidence bands."""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import numpy as np
import pandas as pd

from ...stats import classification as cls
from ...stats import concordance as conc
from ...stats.resampling import bootstrap_indices, percentile_interval

#: The metric of the permutation test and of model comparisons, by task.
PRIMARY_METRIC = {"classification": "auc", "regression": "r2", "survival": "concordance"}


def metric_functions(task: str, *, threshold: float = 0.5, times=None, reference=None):
    """Metric name -> ``f(y, prediction)`` for a task.

    ``reference`` (survival) is the ``(time, event)`` of the patients whose censoring
    distribution weights the time-dependent AUC; by default the patients scored.
    """
    if task == "classification":

        def calibration(index):
            return lambda y, p: cls.calibration_intercept_slope(y, p)[index]

        return {
            "auc": cls.roc_auc,
            "balanced_accuracy": lambda y, p: cls.balanced_accuracy(y, p >= threshold),
            "brier": cls.brier_score,
            "calibration_intercept": calibration(0),
            "calibration_slope": calibration(1),
        }
    if task == "regression":

        def r2(y, p):
            total = ((y - y.mean()) ** 2).sum()
            return float(1 - ((y - p) ** 2).sum() / total) if total > 0 else np.nan

        return {
            "r2": r2,
            "rmse": lambda y, p: float(np.sqrt(np.mean((y - p) ** 2))),
            "mae": lambda y, p: float(np.mean(np.abs(y - p))),
        }
    times = [] if times is None else list(times)

    def concordance(y, risk):
        return conc.concordance_counts(y["time"], y["event"], risk)["concordance"]

    def td_auc(y, risk):
        ref = y if reference is None else reference
        usable = [t for t in times if y["time"].min() <= t < y["time"].max()]
        values = dict.fromkeys(times, np.nan)
        mean = np.nan
        if usable:
            try:
                auc, mean = conc.cumulative_dynamic_auc(
                    ref["time"], ref["event"], y["time"], y["event"], risk, usable
                )
                values.update(zip(usable, auc))
            except ValueError:
                pass
        return values, mean

    out = {"concordance": concordance}
    if times:
        out["time_dependent_auc"] = td_auc
    return out


def default_times(time, event, quantiles=(0.25, 0.5, 0.75)) -> list[float]:
    """Horizons for time-dependent AUC: quantiles of the event times, rounded."""
    time = np.asarray(time, float)
    event = np.asarray(event, bool)
    if event.sum() < 3:
        return []
    values = np.quantile(time[event], quantiles)
    values = values[values < time.max()]
    return sorted({float(np.round(v, 1)) for v in values})


def _evaluate(task: str, y, prediction: np.ndarray, functions) -> dict[str, float]:
    """Metrics of ``(n, R)`` predictions: each metric on each repeat, then averaged."""
    prediction = np.atleast_2d(prediction.T).T if prediction.ndim == 1 else prediction
    out: dict[str, list[float]] = {}
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        for r in range(prediction.shape[1]):
            column = prediction[:, r]
            for name, function in functions.items():
                if name == "time_dependent_auc":
                    values, mean = function(y, column)
                    for t, v in values.items():
                        out.setdefault(f"time_dependent_auc@{t:g}", []).append(v)
                    out.setdefault("mean_time_dependent_auc", []).append(mean)
                    continue
                try:
                    out.setdefault(name, []).append(function(y, column))
                except ValueError:
                    out.setdefault(name, []).append(np.nan)
    return {name: _mean(values) for name, values in out.items()}


def _mean(values) -> float:
    values = np.asarray(values, dtype=float)
    finite = values[~np.isnan(values)]
    if finite.size == 0:
        return np.nan
    if np.isinf(finite).any():
        return float(np.median(finite))  # infinite slopes: the mean would be meaningless
    return float(finite.mean())


def _strata(task: str, y):
    if task == "classification":
        return np.asarray(y).astype(int)
    if task == "survival":
        return y["event"].astype(int)
    return None


def bootstrap_replicates(task: str, y, n_bootstraps: int, random_state) -> np.ndarray:
    """Bootstrap indices, stratified on the class (classification) or the event
    (survival) so that every replicate can be scored."""
    return bootstrap_indices(len(y), n_bootstraps, random_state, strata=_strata(task, y))


def performance(
    task: str,
    y,
    prediction: np.ndarray,
    *,
    n_bootstraps: int = 1000,
    confidence: float = 0.95,
    random_state: int | None = 0,
    threshold: float = 0.5,
    times: Sequence[float] | None = None,
    indices: np.ndarray | None = None,
) -> tuple[pd.DataFrame, dict[str, np.ndarray]]:
    """Metrics of predictions with percentile bootstrap confidence intervals.

    Parameters
    ----------
    prediction
        ``(n,)`` or ``(n, R)`` (one column per repeat of the cross-validation). Each
        metric is computed per repeat and averaged; each bootstrap replicate resamples
        patients and does the same, so the interval reflects the patients' sampling.
    indices
        Bootstrap indices to use (to pair replicates across models).

    Returns
    -------
    (table, replicates)
        ``table`` columns: ``metric, estimate, ci_lower, ci_upper, n_bootstraps``;
        ``replicates`` maps each metric to its bootstrap values.
    """
    prediction = np.asarray(prediction, dtype=float)
    if prediction.ndim == 1:
        prediction = prediction[:, None]
    functions = metric_functions(task, threshold=threshold, times=times)
    estimate = _evaluate(task, y, prediction, functions)
    if indices is None:
        indices = bootstrap_replicates(task, y, n_bootstraps, random_state)
    replicates = {name: np.empty(len(indices)) for name in estimate}
    for b, rows in enumerate(indices):
        values = _evaluate(task, y[rows], prediction[rows], functions)
        for name in estimate:
            replicates[name][b] = values.get(name, np.nan)
    rows = []
    for name, value in estimate.items():
        lower, upper = percentile_interval(replicates[name], confidence)
        rows.append(
            {
                "metric": name,
                "estimate": value,
                "ci_lower": float(lower),
                "ci_upper": float(upper),
                "n_bootstraps": len(indices),
            }
        )
    return pd.DataFrame(rows), replicates


def _curve_frame(curve: str, x, y, lower, upper, n) -> pd.DataFrame:
    """One curve as a tidy frame with columns ``curve, x, y, lower, upper, n``."""
    return pd.DataFrame({"curve": curve, "x": x, "y": y, "lower": lower, "upper": upper, "n": n})


def _banded(statistic, n: int, indices: np.ndarray, confidence: float):
    """A statistic on all patients and its percentile band over bootstrap replicates."""
    point = statistic(np.arange(n))
    band = np.array([statistic(rows) for rows in indices])
    lower, upper = percentile_interval(band, confidence)
    return point, lower, upper


def _roc_curve(y, prediction, indices, confidence) -> pd.DataFrame:
    """Repeat-averaged ROC curve on a grid of false positive rates, with its band."""
    grid = np.linspace(0, 1, 101)

    def roc(rows):
        return np.mean(
            [
                cls.roc_on_grid(y[rows], prediction[rows, r], grid)
                for r in range(prediction.shape[1])
            ],
            axis=0,
        )

    point, lower, upper = _banded(roc, len(y), indices, confidence)
    point[0] = 0.0
    return _curve_frame("roc", grid, point, lower, upper, len(y))


def _calibration_curve(y, mean, confidence, n_bins) -> pd.DataFrame:
    """Observed fraction against mean predicted probability in quantile bins."""
    bins = n_bins or int(np.clip(len(y) // 15, 3, 10))
    table = cls.calibration_bins(y, mean, n_bins=bins, confidence=confidence)
    return _curve_frame(
        "calibration",
        table["predicted"],
        table["observed"],
        table["lower"],
        table["upper"],
        table["n"],
    )


def _decision_curves(y, prediction, mean, indices, confidence) -> list[pd.DataFrame]:
    """Net benefit of the model, with its band, and of treating all or none."""
    top = float(np.clip(np.quantile(mean, 0.99), 0.05, 0.95))
    thresholds = np.round(np.linspace(0.01, top, 50), 4)

    def benefit(rows):
        return cls.net_benefit(y[rows], prediction[rows], thresholds).mean(axis=1)

    point, lower, upper = _banded(benefit, len(y), indices, confidence)
    prevalence = y.mean()
    treat_all = prevalence - (1 - prevalence) * thresholds / (1 - thresholds)
    return [
        _curve_frame("decision", thresholds, point, lower, upper, len(y)),
        _curve_frame("treat_all", thresholds, treat_all, np.nan, np.nan, len(y)),
        _curve_frame("treat_none", thresholds, 0.0, np.nan, np.nan, len(y)),
    ]


def _classification_curves(y, prediction, indices, confidence, n_bins) -> list[pd.DataFrame]:
    """ROC, calibration and decision curves of a classifier."""
    y = np.asarray(y).astype(int)
    frames = [_roc_curve(y, prediction, indices, confidence)]
    mean = prediction.mean(axis=1)
    frames.append(_calibration_curve(y, mean, confidence, n_bins))
    frames.extend(_decision_curves(y, prediction, mean, indices, confidence))
    return frames


def _curve_times(y, times) -> np.ndarray:
    """Follow-up times of the time-dependent AUC curve: given, or event-time quantiles."""
    time, event = y["time"], y["event"]
    if times is None or len(times) < 2:
        grid_times = (
            np.quantile(time[event], np.linspace(0.1, 0.85, 12))
            if event.sum() >= 5
            else np.array([])
        )
    else:
        grid_times = np.asarray(times, float)
    return np.unique(np.round(grid_times[grid_times < time.max()], 2))


def _survival_curves(y, prediction, indices, confidence, times) -> list[pd.DataFrame]:
    """Time-dependent AUC over follow-up, with its band (none without usable times)."""
    grid_times = _curve_times(y, times)
    if not grid_times.size:
        return []

    def td(rows):
        yy = y[rows]
        ok = (grid_times >= yy["time"].min()) & (grid_times < yy["time"].max())
        out = np.full(grid_times.size, np.nan)
        if ok.any():
            values = [
                conc.cumulative_dynamic_auc(
                    yy["time"],
                    yy["event"],
                    yy["time"],
                    yy["event"],
                    prediction[rows, r],
                    grid_times[ok],
                )[0]
                for r in range(prediction.shape[1])
            ]
            out[ok] = np.nanmean(values, axis=0)
        return out

    point, lower, upper = _banded(td, len(y), indices, confidence)
    return [_curve_frame("time_dependent_auc", grid_times, point, lower, upper, len(y))]


def curves(
    task: str,
    y,
    prediction: np.ndarray,
    indices: np.ndarray,
    *,
    confidence: float = 0.95,
    times: Sequence[float] | None = None,
    n_bins: int | None = None,
) -> pd.DataFrame:
    """Curves with bootstrap confidence bands, as one tidy table.

    Classification: ``roc`` (true positive rate on a grid of false positive rates,
    averaged over repeats), ``calibration`` (observed fraction against mean predicted
    probability in quantile bins of the repeat-averaged prediction, with Wilson
    intervals), ``decision`` (net benefit of the model) with ``treat_all`` and
    ``treat_none``. Survival: ``time_dependent_auc`` over follow-up (at ``times``, or by
    default at 12 quantiles of the event times).

    Returns
    -------
    DataFrame with columns ``curve, x, y, lower, upper, n``.
    """
    prediction = np.asarray(prediction, dtype=float)
    if prediction.ndim == 1:
        prediction = prediction[:, None]
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        if task == "classification":
            frames = _classification_curves(y, prediction, indices, confidence, n_bins)
        elif task == "survival":
            frames = _survival_curves(y, prediction, indices, confidence, times)
        else:
            frames = [
                _curve_frame(
                    "observed_predicted",
                    prediction.mean(axis=1),
                    np.asarray(y, float),
                    np.nan,
                    np.nan,
                    1,
                )
            ]
    if not frames:
        return pd.DataFrame(columns=["curve", "x", "y", "lower", "upper", "n"])
    out = pd.concat(frames, ignore_index=True)
    out["n"] = out["n"].astype(np.int64)
    return out
