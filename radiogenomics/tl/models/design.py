"""From a cohort to a model's inputs: which features, the target, and the patients.

A model's input is one table, patients x columns, whose columns are named
``"<source>:<name>"``: ``radiomics:original_shape_Sphericity``, ``rna:EGFR``,
``clinical:age``, ``clinical:stage[T.II]`` (categorical clinical columns become indicator
columns with the first level as reference). When the model harmonises a batch, the batch
label rides along as a column ``batch:<obs column>`` and the harmonisation step consumes it.
The encoding (levels of categorical columns) is learnt once, on the training cohort, and
reused for new patients.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import mudata as md
import numpy as np
import pandas as pd

from ..._data import modality_block
from ...errors import CohortError, InputError

__all__ = [
    "FeatureSet",
    "Target",
    "parse_features",
    "parse_target",
    "ModelInputs",
    "assemble",
    "label_text",
    "BATCH_PREFIX",
    "CLINICAL",
]

BATCH_PREFIX = "batch:"
CLINICAL = "clinical"
TASKS = ("classification", "regression", "survival")


@dataclass
class FeatureSet:
    """The features a model takes.

    Attributes
    ----------
    modalities
        Modality name -> feature names, or ``None`` for every feature of the modality.
    clinical
        Clinical columns of ``mdata.obs``.
    excluded
        Clinical columns left out of a default selection, with the reason.
    layers
        Modality name -> layer to read instead of ``X`` (for example the raw extracted
        values when ``X`` holds values harmonised on the whole cohort).
    """

    modalities: dict[str, list[str] | None] = field(default_factory=dict)
    clinical: list[str] = field(default_factory=list)
    excluded: dict[str, str] = field(default_factory=dict)
    layers: dict[str, str] = field(default_factory=dict)

    @property
    def label(self) -> str:
        parts = list(self.modalities)
        if self.clinical:
            parts.append(CLINICAL)
        return "+".join(parts)

    def to_dict(self) -> dict:
        return {
            "modalities": {k: (None if v is None else list(v)) for k, v in self.modalities.items()},
            "clinical": list(self.clinical),
            "excluded": dict(self.excluded),
            "layers": dict(self.layers),
        }


@dataclass
class Target:
    """What a model predicts.

    Attributes
    ----------
    task
        ``"classification"`` (binary), ``"regression"`` or ``"survival"``.
    column
        The ``obs`` column of the label, the numeric outcome, or the follow-up time.
    event
        The ``obs`` column of the event indicator (survival).
    positive, negative
        Labels of the two classes as found in ``obs`` (classification).
    """

    task: str
    column: str
    event: str | None = None
    positive: object = None
    negative: object = None

    def to_dict(self) -> dict:
        out = {"task": self.task, "column": self.column}
        if self.event is not None:
            out["event"] = self.event
        if self.task == "classification":
            out["positive"] = _plain(self.positive)
            out["negative"] = _plain(self.negative)
        return out


def _plain(value):
    if isinstance(value, np.generic):
        return value.item()
    return value


def label_text(value) -> str:
    """A class label as text (``1.0`` -> ``"1"``)."""
    value = _plain(value)
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _split(spec: str) -> list[str]:
    return [part.strip() for part in spec.split(",") if part.strip()]


def _recodes(a: pd.Series, b: pd.Series) -> bool:
    """True when ``a`` and ``b`` determine each other (one is a relabelling of the other)."""
    both = a.notna() & b.notna()
    if both.sum() < 2:
        return False
    x = a[both].astype(str).to_numpy()
    y = b[both].astype(str).to_numpy()
    pairs = pd.DataFrame({"x": x, "y": y}).drop_duplicates()
    return bool(pairs["x"].is_unique and pairs["y"].is_unique and len(pairs) > 1)


def _declared_outcomes(mdata: md.MuData) -> list[str]:
    """Time and event columns named when the clinical table was read."""
    info = mdata.uns.get("radiogenomics", {}).get("clinical", {})
    out = []
    for kind in ("time", "event"):
        value = info.get(kind) if hasattr(info, "get") else None
        if value is None:
            continue
        out.extend([str(value)] if isinstance(value, str) else [str(v) for v in value])
    return [c for c in out if c in mdata.obs.columns]


def default_clinical(
    mdata: md.MuData, outcome: Sequence[str], batch: str | None
) -> tuple[list[str], dict[str, str]]:
    """Clinical columns usable as predictors: every ``obs`` column except the outcome
    columns, the follow-up time and event columns named when the clinical table was read,
    the batch, identifiers and any column that re-encodes an outcome column (such as a
    vital status beside an event indicator)."""
    chosen, excluded = [], {}
    declared = _declared_outcomes(mdata)
    outcome = list(dict.fromkeys([*outcome, *declared]))
    for column in map(str, mdata.obs.columns):
        series = mdata.obs[column]
        if column in declared and column not in excluded:
            excluded[column] = "follow-up time or event column (an outcome, not a predictor)"
            continue
        if column in outcome:
            continue
        if batch is not None and column == batch:
            excluded[column] = "batch column (harmonised, not a predictor)"
            continue
        numeric = pd.api.types.is_numeric_dtype(series.dtype) and not isinstance(
            series.dtype, pd.CategoricalDtype
        )
        if not numeric and not pd.api.types.is_bool_dtype(series.dtype):
            n_levels = series.dropna().nunique()
            if n_levels > max(20, 0.5 * series.notna().sum()):
                excluded[column] = f"text with {n_levels} distinct values (an identifier?)"
                continue
        recode = next(
            (o for o in outcome if o in mdata.obs.columns and _recodes(series, mdata.obs[o])), None
        )
        if recode is not None:
            excluded[column] = f"re-encodes the outcome column {recode!r}"
            continue
        chosen.append(column)
    return chosen, excluded


def parse_features(
    mdata: md.MuData,
    features: str | Sequence[str] | Mapping[str, Sequence[str] | None],
    outcome: Sequence[str] = (),
    batch: str | None = None,
    layers: Mapping[str, str] | None = None,
) -> FeatureSet:
    """Read a feature specification.

    Accepted forms: ``"radiomics"``; ``"radiomics,clinical"``; a list of modality names
    and ``obs`` columns (``["radiomics", "age", "stage"]``); or a mapping
    ``{"radiomics": None, "rna": ["EGFR", "MKI67"], "clinical": ["age", "stage"]}``
    (``None`` = every feature). ``"clinical"`` without columns means every usable clinical
    column (see :func:`default_clinical`).
    """
    spec: dict[str, list[str] | None] = {}
    if isinstance(features, str):
        items: list = _split(features)
    elif isinstance(features, Mapping):
        items = list(features.items())
    else:
        items = list(features)
    clinical: list[str] = []
    default = False
    for item in items:
        name, wanted = item if isinstance(item, tuple) else (item, None)
        name = str(name)
        if isinstance(wanted, str):
            wanted = [wanted]
        if name in mdata.mod:
            spec[name] = None if wanted is None else [str(f) for f in wanted]
        elif name == CLINICAL:
            if wanted is None:
                default = True
            else:
                clinical.extend(str(c) for c in wanted)
        elif name in mdata.obs.columns:
            clinical.append(name)
        else:
            raise CohortError(
                f"unknown feature source {name!r}",
                expected=f"a modality ({', '.join(mdata.mod)}), 'clinical' or an obs column",
                found=name,
            )
    excluded: dict[str, str] = {}
    if default:
        extra, excluded = default_clinical(mdata, outcome, batch)
        clinical.extend(c for c in extra if c not in clinical)
    bad = [c for c in clinical if c in outcome]
    if bad:
        raise CohortError(
            "an outcome column cannot be a predictor",
            column=bad[0],
            expected="clinical columns other than the target",
            found=bad,
        )
    missing = [c for c in clinical if c not in mdata.obs.columns]
    if missing:
        raise CohortError(
            "unknown clinical column(s)",
            column=missing[0],
            expected=f"columns of mdata.obs: {list(map(str, mdata.obs.columns))}",
            found=missing,
        )
    if not spec and not clinical:
        raise CohortError(
            "no features given", expected="a modality or clinical columns", found=features
        )
    for mod, names in spec.items():
        if names is not None:
            unknown = [f for f in names if f not in mdata.mod[mod].var_names]
            if unknown:
                raise CohortError(
                    f"{len(unknown)} feature(s) are not in modality {mod!r}",
                    expected="names from var_names",
                    found=unknown[:5],
                )
    layers = dict(layers or {})
    for mod, layer in layers.items():
        if mod not in spec:
            raise CohortError(
                f"a layer is given for {mod!r}, which is not among the features",
                expected=f"one of {list(spec)}",
                found=mod,
            )
        if layer not in mdata.mod[mod].layers:
            raise CohortError(
                f"modality {mod!r} has no layer {layer!r}",
                expected=f"one of {list(mdata.mod[mod].layers)}",
                found=layer,
            )
    return FeatureSet(
        modalities=spec, clinical=list(dict.fromkeys(clinical)), excluded=excluded, layers=layers
    )


def _infer_task(series: pd.Series) -> str:
    if isinstance(series.dtype, pd.CategoricalDtype) or pd.api.types.is_bool_dtype(series):
        return "classification"
    if pd.api.types.is_numeric_dtype(series.dtype):
        levels = series.dropna().unique()
        return "classification" if len(levels) <= 2 else "regression"
    return "classification"


def parse_target(
    mdata: md.MuData,
    target: str,
    task: str | None = None,
    event: str | None = None,
    positive=None,
) -> Target:
    """Check the target columns and settle the task and the positive class."""
    for column in (target, event):
        if column is not None and column not in mdata.obs.columns:
            raise CohortError(
                f"the cohort has no clinical column {column!r}",
                column=column,
                expected=f"one of {list(map(str, mdata.obs.columns))}",
                found="no such column",
            )
    if task is None:
        task = "survival" if event is not None else _infer_task(mdata.obs[target])
    if task not in TASKS:
        raise InputError(f"unknown task {task!r}", expected=f"one of {TASKS}", found=task)
    series = mdata.obs[target]
    if task == "survival":
        if event is None:
            raise InputError(
                "a survival model needs an event column",
                column=target,
                expected="event='<obs column with 1 = event, 0 = censored>'",
            )
        for column in (target, event):
            if not pd.api.types.is_numeric_dtype(
                mdata.obs[column].dtype
            ) and not pd.api.types.is_bool_dtype(mdata.obs[column].dtype):
                raise CohortError(
                    "survival columns must be numeric",
                    column=column,
                    expected="numbers",
                    found=str(mdata.obs[column].dtype),
                )
        values = pd.to_numeric(mdata.obs[event], errors="coerce").dropna().unique()
        if not np.isin(values, [0, 1]).all():
            raise CohortError(
                "the event column must hold 0 and 1",
                column=event,
                expected="0 (censored) or 1 (event)",
                found=sorted(values)[:5],
            )
        return Target(task=task, column=target, event=event)
    if task == "regression":
        if not pd.api.types.is_numeric_dtype(series.dtype) or isinstance(
            series.dtype, pd.CategoricalDtype
        ):
            raise CohortError(
                "a regression target must be numeric",
                column=target,
                expected="numbers",
                found=str(series.dtype),
            )
        return Target(task=task, column=target)
    levels = (
        list(series.cat.categories)
        if isinstance(series.dtype, pd.CategoricalDtype)
        else sorted(series.dropna().unique(), key=lambda v: (str(type(v)), v))
    )
    levels = [lv for lv in levels if (series == lv).any()]
    if len(levels) != 2:
        raise CohortError(
            "a classification target needs exactly two classes",
            column=target,
            expected="two distinct values",
            found=[_plain(v) for v in levels][:6],
        )
    if positive is None:
        positive = levels[1]
    else:
        match = [lv for lv in levels if lv == positive or str(lv) == str(positive)]
        if not match:
            raise CohortError(
                "the positive class is not a value of the target",
                column=target,
                expected=f"one of {[_plain(v) for v in levels]}",
                found=positive,
            )
        positive = match[0]
    negative = levels[0] if levels[1] == positive else levels[1]
    return Target(task=task, column=target, positive=positive, negative=negative)


@dataclass
class ModelInputs:
    """The model's inputs on the patients that can be used.

    Attributes
    ----------
    X
        Patients x input columns (see the module docstring).
    y
        The target: 0/1 (classification), numbers (regression) or a structured array of
        ``(event, time)`` (survival, as scikit-survival expects).
    patients
        Patient IDs (the index of ``X``).
    dropped
        Patients left out, with the reason.
    encoding
        Levels of the categorical clinical columns.
    """

    X: pd.DataFrame
    y: np.ndarray | None
    patients: pd.Index
    dropped: pd.Series
    encoding: dict[str, list]

    @property
    def time(self) -> np.ndarray:
        return self.y["time"]

    @property
    def event(self) -> np.ndarray:
        return self.y["event"]

    def take(self, index) -> ModelInputs:
        index = np.asarray(index)
        return ModelInputs(
            X=self.X.iloc[index],
            y=None if self.y is None else self.y[index],
            patients=self.patients[index],
            dropped=self.dropped,
            encoding=self.encoding,
        )


def survival_array(event, time) -> np.ndarray:
    """A structured array of ``(event, time)`` as scikit-survival expects."""
    out = np.empty(len(time), dtype=[("event", bool), ("time", float)])
    out["event"] = np.asarray(event).astype(bool)
    out["time"] = np.asarray(time, dtype=float)
    return out


def _encode_clinical(
    mdata: md.MuData, columns: Sequence[str], encoding: dict[str, list] | None
) -> tuple[pd.DataFrame, dict[str, list]]:
    learn = encoding is None
    encoding = {} if learn else encoding
    blocks = {}
    for column in columns:
        if column not in mdata.obs.columns:
            raise CohortError(
                f"the cohort has no clinical column {column!r}",
                column=column,
                expected="the clinical columns the model was fitted with",
                found="no such column",
            )
        series = mdata.obs[column]
        numeric = pd.api.types.is_numeric_dtype(series.dtype) and not isinstance(
            series.dtype, pd.CategoricalDtype
        )
        if learn:
            if numeric or pd.api.types.is_bool_dtype(series.dtype):
                encoding[column] = []
            else:
                levels = (
                    list(series.cat.categories)
                    if isinstance(series.dtype, pd.CategoricalDtype)
                    else sorted(series.dropna().astype(str).unique())
                )
                levels = [str(lv) for lv in levels if (series.astype(str) == str(lv)).any()]
                if len(levels) < 2:
                    raise CohortError(
                        f"clinical column {column!r} has a single level",
                        column=column,
                        expected="two or more levels",
                        found=levels,
                    )
                encoding[column] = levels
        levels = encoding[column]
        if not levels:
            if not (numeric or pd.api.types.is_bool_dtype(series.dtype)):
                raise CohortError(
                    "a clinical column the model reads as numbers is not numeric",
                    column=column,
                    expected="numbers",
                    found=str(series.dtype),
                )
            blocks[f"{CLINICAL}:{column}"] = pd.to_numeric(series, errors="coerce").astype(float)
            continue
        text = series.astype(object).where(series.isna(), series.astype(str))
        unknown = sorted(set(text.dropna()) - set(levels))
        if unknown:
            bad = text[text.isin(unknown)].index[0]
            raise CohortError(
                f"clinical column {column!r} has a level the model has not seen",
                column=column,
                row=str(bad),
                expected=f"one of {levels}",
                found=unknown[:5],
            )
        missing = text.isna().to_numpy()
        for level in levels[1:]:
            indicator = (text == level).to_numpy(dtype=float)
            indicator[missing] = np.nan
            blocks[f"{CLINICAL}:{column}[T.{level}]"] = indicator
    frame = pd.DataFrame(blocks, index=pd.Index(mdata.obs_names, name="patient_id"))
    return frame, encoding


def assemble(
    mdata: md.MuData,
    feature_set: FeatureSet,
    target: Target | None = None,
    *,
    batch: str | None = None,
    encoding: dict[str, list] | None = None,
    patients: Sequence[str] | None = None,
) -> ModelInputs:
    """The model's input table (and target) for the cohort's patients.

    Patients are left out, with a reason in ``dropped``, when their target is missing,
    when they are absent from a modality the model reads, or when their batch is missing.

    Parameters
    ----------
    encoding
        Levels learnt on the training cohort (``None``: learn them here).
    patients
        Restrict to these patients (in this order).
    """
    index = pd.Index(mdata.obs_names, name="patient_id")
    reasons = pd.Series("", index=index, dtype=object)
    parts = []
    for mod, names in feature_set.modalities.items():
        if mod not in mdata.mod:
            raise CohortError(
                f"the cohort has no modality {mod!r}",
                expected=f"the modalities the model reads: {list(feature_set.modalities)}",
                found=list(mdata.mod),
            )
        adata = mdata.mod[mod]
        if names is not None:
            absent = [f for f in names if f not in adata.var_names]
            if absent:
                raise CohortError(
                    f"{len(absent)} feature(s) the model reads are not in modality {mod!r}",
                    expected="the features the model was fitted with",
                    found=absent[:5],
                )
        layer = feature_set.layers.get(mod)
        if layer is not None and layer not in adata.layers:
            raise CohortError(
                f"modality {mod!r} has no layer {layer!r}",
                expected="the layer the model was fitted on",
                found=list(adata.layers),
            )
        block = modality_block(mdata, mod, names, layer=layer)
        present = index.isin(adata.obs_names)
        reasons[~present & (reasons == "")] = f"not in modality {mod!r}"
        parts.append(
            pd.DataFrame(block.values, index=index, columns=[f"{mod}:{n}" for n in block.names])
        )
    clinical, encoding = _encode_clinical(mdata, feature_set.clinical, encoding)
    parts.append(clinical)
    if batch is not None:
        if batch not in mdata.obs.columns:
            raise CohortError(
                f"the cohort has no batch column {batch!r}",
                column=batch,
                expected="an obs column naming the batch (e.g. scanner or site)",
                found="no such column",
            )
        labels = mdata.obs[batch]
        reasons[labels.isna().to_numpy() & (reasons == "")] = f"no {batch!r} (batch)"
        parts.append(
            pd.DataFrame(
                {
                    f"{BATCH_PREFIX}{batch}": labels.astype(object)
                    .where(labels.isna(), labels.astype(str))
                    .to_numpy()
                },
                index=index,
            )
        )
    X = pd.concat(parts, axis=1)
    y = None
    if target is not None:
        y, missing = _target_values(mdata, target)
        reasons[missing & (reasons == "")] = "target missing"
    if patients is not None:
        patients = pd.Index([str(p) for p in patients])
        unknown = patients.difference(index)
        if len(unknown):
            raise CohortError("patients are not in the cohort", found=list(unknown[:5]))
        order = index.get_indexer(patients)
    else:
        order = np.arange(index.size)
    keep = order[(reasons.to_numpy()[order] == "")]
    dropped = reasons[reasons != ""]
    if patients is not None:
        dropped = dropped[dropped.index.isin(patients)]
    return ModelInputs(
        X=X.iloc[keep],
        y=None if y is None else y[keep],
        patients=index[keep],
        dropped=dropped,
        encoding=encoding,
    )


def _target_values(mdata: md.MuData, target: Target) -> tuple[np.ndarray, np.ndarray]:
    series = mdata.obs[target.column]
    if target.task == "survival":
        time = pd.to_numeric(series, errors="coerce").to_numpy(dtype=float, na_value=np.nan)
        event = pd.to_numeric(mdata.obs[target.event], errors="coerce").to_numpy(
            dtype=float, na_value=np.nan
        )
        missing = np.isnan(time) | np.isnan(event)
        if (time[~missing] < 0).any():
            raise CohortError(
                "negative follow-up time",
                column=target.column,
                expected="times of at least 0",
                found=float(np.nanmin(time)),
            )
        return survival_array(np.nan_to_num(event), np.nan_to_num(time)), missing
    if target.task == "regression":
        values = pd.to_numeric(series, errors="coerce").to_numpy(dtype=float, na_value=np.nan)
        return values, np.isnan(values)
    missing = series.isna().to_numpy()
    positive = (series == target.positive) | (series.astype(str) == str(target.positive))
    values = np.where(missing, np.nan, positive.to_numpy(dtype=float))
    return values, missing
