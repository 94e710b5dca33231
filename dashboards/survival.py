"""The survival analyses the survival explorer shows, as calls to ``radiogenomics.tl``
and figures from ``radiogenomics.pl``."""

from __future__ import annotations

import mudata as md
import numpy as np
import pandas as pd

import radiogenomics as rg

from .units import feature_unit, format_value, human_label, raw_layer, with_unit

__all__ = [
    "Unavailable",
    "split_survival",
    "resolve",
    "is_categorical",
    "km_figure",
    "clinical_cohort",
    "MAX_LEVELS",
]

_TOOLS = ("kaplan_meier", "logrank", "cox", "marker_groups", "maxstat")
_GROUP = "dashboard_group"
#: A numeric clinical column with at most this many distinct values is split by level.
MAX_LEVELS = 6


class Unavailable(Exception):
    """The installed library lacks a survival tool the page needs."""


def clinical_cohort(obs: pd.DataFrame, required, optional=()) -> md.MuData:
    """A cohort of a few clinical columns and no modality: the patients with a value in
    every ``required`` column, with the ``optional`` columns as they are. Survival tools
    run on it store their results there, and nothing else of the served cohort is copied."""
    columns = list(dict.fromkeys([*required, *optional]))
    frame = obs.loc[obs[list(required)].notna().all(axis=1).to_numpy(), columns].copy()
    return md.MuData({}, obs=frame, uns={})


def km_figure(cohort: md.MuData, time: str, event: str, group: str, **figure_args):
    """Kaplan-Meier figure of the groups in ``cohort.obs[group]`` (a cohort of
    :func:`clinical_cohort`): ``rg.tl`` computes the curves and the log-rank test and
    stores them in ``cohort``, ``rg.pl.km`` draws them."""
    rg.tl.kaplan_meier(cohort, time=time, event=event, groupby=group, key_added=_GROUP)
    if cohort.obs[group].nunique() > 1:
        rg.tl.logrank(cohort, time=time, event=event, groupby=group, key_added=_GROUP)
    return rg.pl.km(cohort, key=_GROUP, **figure_args)


def _format_p(p: float) -> str:
    return f"{p:.2e}" if p < 1e-3 else f"{p:.3f}"


def resolve(mdata, variable: str) -> tuple[str, str] | None:
    """``(source, name)`` of a variable as the page names it: a clinical column
    (``stage``), or ``modality:feature`` (``radiomics:original_shape_VoxelVolume``,
    ``mutation:TP53``); ``None`` when the cohort has no such variable."""
    if not variable:
        return None
    if variable in mdata.obs.columns:
        return "obs", variable
    source, sep, name = variable.partition(":")
    if sep and source in mdata.mod and name in mdata[source].var_names:
        return source, name
    return None


def is_categorical(mdata, source: str, name: str) -> bool:
    """Whether the variable splits patients by its levels (a category, text, a mutation
    status, or a number with few distinct values) rather than by a threshold."""
    if source == "mutation":
        return True
    if source != "obs":
        return False
    series = mdata.obs[name]
    if isinstance(series.dtype, pd.CategoricalDtype) or not (
        pd.api.types.is_numeric_dtype(series.dtype)
    ):
        return True
    return series.dropna().nunique() <= MAX_LEVELS


def _levels(mdata, source: str, name: str) -> pd.Categorical:
    """The groups of a variable split by level (mutation status: wild-type / mutant)."""
    if source == "mutation":
        adata = mdata["mutation"]
        values = np.asarray(
            adata[:, name].X.toarray() if hasattr(adata.X, "toarray") else adata[:, name].X,
            dtype=float,
        ).ravel()
        status = pd.Series(
            np.where(np.isnan(values), None, np.where(values > 0, "mutant", "wild-type")),
            index=adata.obs_names,
        ).reindex(mdata.obs_names)
        return pd.Categorical(status, categories=["wild-type", "mutant"])
    series = mdata.obs[name]
    if isinstance(series.dtype, pd.CategoricalDtype):
        return pd.Categorical(
            series.astype(object)
            .where(series.notna(), None)
            .map(lambda v: v if v is None else str(v)),
            categories=[str(c) for c in series.cat.categories],
            ordered=series.cat.ordered,
        )
    if pd.api.types.is_numeric_dtype(series.dtype):
        levels = sorted(series.dropna().unique())
        if set(levels) <= {0, 1}:  # a flag
            text = series.map(lambda v: None if pd.isna(v) else ("yes" if v else "no"))
            return pd.Categorical(text, categories=["no", "yes"])
        text = series.map(lambda v: None if pd.isna(v) else format_value(v))
        return pd.Categorical(text, categories=[format_value(v) for v in levels], ordered=True)
    text = series.map(lambda v: None if pd.isna(v) else str(v))
    return pd.Categorical(text, categories=sorted({str(v) for v in series.dropna()}))


def _threshold_labels(thresholds: list[float], unit: str) -> list[str]:
    cuts = [format_value(t, unit) for t in thresholds]
    if len(cuts) == 1:
        return [f"≤ {cuts[0]}", f"> {cuts[0]}"]
    low, high = format_value(thresholds[0]), cuts[1]
    return [f"≤ {cuts[0]}", f"{low}–{high}", f"> {cuts[1]}"]


def split_survival(
    mdata,
    variable: str,
    *,
    time: str,
    event: str,
    split: str = "median",
    cutoff=None,
    covariates=(),
    time_label: str | None = None,
) -> dict:
    """Kaplan-Meier curves of the patients split by one variable, the k-group log-rank
    test, the per-group counts and the Cox hazard ratios of the groups against the first,
    adjusted for ``covariates``.

    A categorical variable (clinical category, mutation status, a number with few levels)
    is split by its levels; a continuous one by ``split``, in the physical units of its
    raw values (a radiomic feature is read from ``layers["raw"]`` when the modality keeps
    it). The tools store what they compute in the cohort they are given; they run on a
    copy, so that the served cohort never changes.

    Parameters
    ----------
    variable
        A clinical column or ``modality:feature``.
    split
        ``"median"``, ``"tertiles"``, ``"cutoff"`` (with ``cutoff``, in the variable's
        units) or ``"optimal"`` (the maximally selected log-rank cut-point, its p-value
        corrected for the search). Ignored for a categorical variable.
    time_label
        Title of the time axis (with its unit).

    Returns
    -------
    dict
        ``figure`` (Kaplan-Meier with numbers at risk), ``stats`` (label -> text),
        ``groups`` (per group: patients, events, observed and expected events),
        ``forest`` (the Cox model's hazard ratios), ``p_value`` and ``statistic`` of the
        log-rank test, ``categorical``, ``unit`` and
        ``cutpoints`` (in the variable's units).
    """
    missing = [t for t in _TOOLS if not callable(getattr(rg.tl, t, None))]
    if missing or not callable(getattr(rg.pl, "km", None)):
        raise Unavailable(
            "Survival analysis needs rg.tl."
            + ", rg.tl.".join(missing or ["kaplan_meier"])
            + " and rg.pl.km, not in this installation."
        )
    parsed = resolve(mdata, variable)
    if parsed is None:
        raise rg.errors.InputError(
            "unknown variable", expected="a clinical column or modality:feature", found=variable
        )
    source, name = parsed
    work = rg.cohort.working_copy(mdata)  # the served cohort stays unchanged
    stats: dict[str, str] = {}
    categorical = is_categorical(mdata, source, name)
    unit = "" if source == "obs" else feature_unit(mdata[source], name)
    label = human_label(name) if source == "obs" else name
    cutpoints: list[float] = []
    if categorical:
        work.obs[_GROUP] = pd.Series(_levels(mdata, source, name), index=work.obs.index)
        stats["split"] = "by level" if source == "obs" else "by mutation status"
        title = f"{label} (by level)" if source == "obs" else f"{name} mutation status"
    else:
        marker = name if source == "obs" else f"{source}:{name}"
        layer = None if source == "obs" else raw_layer(mdata[source])
        if split == "optimal":
            best = rg.tl.maxstat(work, marker, time=time, event=event, layer=layer)
            cut = float(best["cutpoint"].iloc[0])
            groups = rg.tl.marker_groups(
                work, marker, method="cutoff", cutoff=cut, layer=layer, key_added=_GROUP
            )
            stats["optimal cut-point"] = format_value(cut, unit)
            stats["corrected p (maxstat)"] = _format_p(float(best["p_value"].iloc[0]))
        else:
            method = {"median": "median", "tertiles": "tertiles", "cutoff": "cutoff"}[split]
            groups = rg.tl.marker_groups(
                work,
                marker,
                method=method,
                layer=layer,
                cutoff=float(cutoff) if cutoff is not None else None,
                key_added=_GROUP,
            )
        cutpoints = list(work.uns["radiogenomics"]["marker_groups"][_GROUP]["thresholds"])
        if split != "optimal":
            stats["cut-point" + ("s" if len(cutpoints) > 1 else "")] = ", ".join(
                format_value(c, unit) for c in cutpoints
            )
        work.obs[_GROUP] = groups.cat.rename_categories(_threshold_labels(cutpoints, unit))
        if source != "obs":
            stats["values"] = ("raw (before preprocessing)" if layer else "as stored") + (
                f", in {unit}" if unit else ""
            )
        title = f"{with_unit(label, unit)}, {split if split != 'cutoff' else 'cut-off'}"
    clinical = clinical_cohort(work.obs, [_GROUP, time, event], covariates)
    figure = km_figure(clinical, time, event, _GROUP, title=title, time_label=time_label)
    test = rg.get_result(clinical, "logrank", _GROUP)
    figure.update_layout(
        height=520,
        legend=dict(title_text="", orientation="h", x=0, y=1.02, yanchor="bottom"),
        margin=dict(r=20, t=100),
        title=dict(y=0.98, yanchor="top"),
    )
    k = len(test)
    stats[
        f"log-rank p ({k} groups, {int(test['df'].iloc[0])} df)"
        + (", uncorrected" if split == "optimal" and not categorical else "")
    ] = _format_p(float(test["p_value"].iloc[0]))
    model = rg.tl.cox(clinical, [_GROUP, *covariates], time=time, event=event, missing="drop")
    rows = model[model["term"].astype(str).str.startswith(_GROUP)]
    reference = str(test["group"].iloc[0])
    for _, row in rows.iterrows():
        level = str(row["term"]).split("[T.", 1)[-1]
        level = level[:-1] if level.endswith("]") else level
        text = f"hazard ratio, {level} vs {reference}" + (
            f" (adjusted for {', '.join(covariates)})" if covariates else ""
        )
        stats[text] = (
            f"{row['hazard_ratio']:.2f} ({row['hr_ci_lower']:.2f} to "
            f"{row['hr_ci_upper']:.2f}), p {_format_p(float(row['p_value']))}"
        )
    terms = model.copy()
    terms["term"] = [
        (str(t).split("[T.", 1)[-1].rstrip("]") + f" vs {reference}")
        if str(t).startswith(_GROUP)
        else human_label(str(t).replace("[T.", " ").rstrip("]"))
        for t in terms["term"]
    ]
    forest = rg.pl.forest(
        terms,
        title="Cox model: hazard ratios (95% CI)"
        + (f", adjusted for {', '.join(covariates)}" if covariates else ""),
    )
    forest.update_layout(height=max(220, 34 * len(terms) + 110))
    stats["patients (events) per group"] = ", ".join(
        f"{row['group']}: {int(row['n'])} ({int(row['n_events'])})" for _, row in test.iterrows()
    )
    groups_table = pd.DataFrame(
        {
            "group": test["group"].astype(str),
            "patients": test["n"].astype(int),
            "events": test["n_events"].astype(int),
            "observed": test["observed"].astype(float).round(1),
            "expected": test["expected"].astype(float).round(1),
        }
    )
    return {
        "figure": figure,
        "stats": stats,
        "groups": groups_table,
        "forest": forest,
        "p_value": float(test["p_value"].iloc[0]),
        "statistic": float(test["statistic"].iloc[0]),
        "categorical": categorical,
        "unit": unit,
        "cutpoints": cutpoints,
    }
