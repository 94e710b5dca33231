"""A fitted model on disk, in a format that runs no code when it is loaded.

``model.skops`` is a `skops <https://skops.readthedocs.io>`_ file: a zip archive of a JSON
schema and numpy arrays, from which objects are rebuilt attribute by attribute. Before
anything is built, the types the schema names are checked against :data:`TRUSTED_TYPES`
(plus the plain data and vetted scikit-learn, numpy and scipy types skops itself accepts):
a file naming any other type (``os.system``, ``builtins.eval``...) is refused unread. A
pickle (``model.joblib``, written by earlier versions) is refused unless the caller
explicitly trusts it.

The archive holds one dictionary of plain data: the fitted pipeline, the model's target,
feature set and clinical encoding, its validation tables (as columns of arrays) and its
model card (as JSON text).
"""

from __future__ import annotations

import json
import warnings
import zipfile
from pathlib import Path

import joblib
import numpy as np
import pandas as pd

from ...errors import InputError
from .card import LEGACY_MODEL_FILE, MODEL_FILE, TABLES, card_json
from .design import FeatureSet, Target

__all__ = ["TRUSTED_TYPES", "FORMAT", "write_model", "read_model", "untrusted_types"]

#: Format tag of the dictionary in ``model.skops``.
FORMAT = "radiogenomics.model"
FORMAT_VERSION = 1

#: Types beyond skops' own defaults that a saved pipeline of the library may hold: the
#: library's pipeline steps, its ComBat parameters, scikit-learn's tree structure and the
#: scikit-survival learners (see ``estimators.make_learner``). Nothing else is built.
TRUSTED_TYPES: tuple[str, ...] = (
    "radiogenomics.stats.combat.CombatModel",
    "radiogenomics.tl.models.transformers.CorrelationFilter",
    "radiogenomics.tl.models.transformers.Harmonizer",
    "radiogenomics.tl.models.transformers.LassoPathSelector",
    "radiogenomics.tl.models.transformers.MRMRSelector",
    "radiogenomics.tl.models.transformers.MissingValueImputer",
    "radiogenomics.tl.models.transformers.StabilitySelector",
    "radiogenomics.tl.models.transformers.UnivariateSelector",
    "radiogenomics.tl.models.transformers.VarianceFilter",
    "sklearn.tree._tree.Tree",
    "sksurv.ensemble.boosting.GradientBoostingSurvivalAnalysis",
    "sksurv.ensemble.forest.RandomSurvivalForest",
    "sksurv.ensemble.survival_loss.CoxPH",
    "sksurv.functions.StepFunction",
    "sksurv.linear_model.coxnet.CoxnetSurvivalAnalysis",
    "sksurv.linear_model.coxph.BreslowEstimator",
    "sksurv.tree.tree.SurvivalTree",
)


def _table_data(frame: pd.DataFrame) -> dict:
    """A table as plain data: column names and one array per column."""
    columns = [str(c) for c in frame.columns]
    return {"columns": columns, "values": [np.asarray(frame[c].to_numpy()) for c in frame.columns]}


def _table(data: dict, file: Path, name: str) -> pd.DataFrame:
    try:
        columns = list(data["columns"])
        values = list(data["values"])
        if len(columns) != len(values):
            raise ValueError("columns and values differ in number")
        return pd.DataFrame(dict(zip(columns, values)), columns=columns)
    except (KeyError, TypeError, ValueError) as exc:
        raise InputError(
            f"the saved model's {name} table is damaged",
            file=file,
            expected="columns of equal length",
            found=str(exc),
        ) from None


def write_model(model, file: Path) -> None:
    """Write ``model`` (a :class:`~radiogenomics.tl.models.FittedModel`) to ``file``."""
    import skops.io as sio

    target = model.target
    state = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "name": str(model.name),
        "target": {
            "task": target.task,
            "column": target.column,
            "event": target.event,
            "positive": target.positive,
            "negative": target.negative,
        },
        "feature_set": model.feature_set.to_dict(),
        "encoding": {str(k): list(v) for k, v in model.encoding.items()},
        "batch": model.batch,
        "required": [str(r) for r in model.required],
        "pipeline": model.pipeline,
        "tables": {name: _table_data(getattr(model, name)) for name in TABLES},
        "card": card_json(model.card),
    }
    sio.dump(state, file, compression=zipfile.ZIP_DEFLATED, compresslevel=6)
    untrusted = set(sio.get_untrusted_types(file=file)) - set(TRUSTED_TYPES)
    if untrusted:  # warn now rather than when someone loads it
        warnings.warn(
            f"the saved model holds types that load_model accepts only when "
            f"named in trusted=: {sorted(untrusted)}",
            stacklevel=3,
        )


def untrusted_types(file: Path) -> list[str]:
    """The types named in a skops file that skops does not trust by default, read from its
    schema without building anything."""
    import skops.io as sio

    try:
        return list(sio.get_untrusted_types(file=file))
    except Exception as exc:  # a damaged archive, or a schema skops does not know
        raise InputError(
            "cannot read the saved model",
            file=file,
            expected="a model.skops file written by radiogenomics",
            found=f"{type(exc).__name__}: {exc}",
        ) from None


def _legacy(file: Path, trust: bool):
    if not trust:
        raise InputError(
            "the model is saved as a pickle, which can run any code when loaded, so it is not read",
            file=file,
            expected="model.skops (written by this version)",
            found=file.name,
            hint="Fit the model again (radiogenomics model COHORT OUT --target ...), or, "
            "only if you made this file yourself, load it once with "
            "load_model(path, trust=True) and save it again",
        )
    try:
        return joblib.load(file)
    except Exception as exc:  # joblib raises many kinds for foreign files
        raise InputError(
            "cannot read the saved model",
            file=file,
            expected="a model saved by radiogenomics",
            found=str(exc),
        ) from None


def _resolve(path: Path) -> Path:
    if path.is_dir():
        for name in (MODEL_FILE, LEGACY_MODEL_FILE):
            if (path / name).is_file():
                return path / name
        raise InputError(
            "no saved model here",
            file=path,
            expected=f"a folder holding {MODEL_FILE}",
            found="no such file",
        )
    if not path.is_file():
        raise InputError(
            "no saved model here",
            file=path,
            expected=f"a folder holding {MODEL_FILE}",
            found="no such file",
        )
    return path


def read_model(path: Path, model_type: type, *, trusted: tuple[str, ...] = (), trust: bool = False):
    """Read a model written by :func:`write_model` (see
    :func:`radiogenomics.tl.load_model`) as an instance of ``model_type`` (the
    :class:`~radiogenomics.tl.models.FittedModel` class, built from the saved fields; a
    trusted old pickle must hold one)."""
    import skops.io as sio

    file = _resolve(Path(path))
    with open(file, "rb") as handle:
        head = handle.read(4)
    if not head.startswith(b"PK"):  # not a zip: a pickle (joblib) or something else
        if not (file.suffix == ".joblib" or head[:1] in (b"\x80", b"x")):
            raise InputError(
                "not a saved model",
                file=file,
                expected="a model.skops file written by radiogenomics",
                found="neither a zip archive nor a pickle",
            )
        model = _legacy(file, trust)
        if not isinstance(model, model_type):
            raise InputError(
                "the file does not hold a radiogenomics model",
                file=file,
                found=type(model).__name__,
            )
        return model
    found = untrusted_types(file)
    refused = [t for t in found if t not in TRUSTED_TYPES and t not in trusted]
    if refused and not trust:
        raise InputError(
            f"the model file holds a type that is not trusted: {refused[0]}",
            file=file,
            expected="only plain data and the scikit-learn, scikit-survival, numpy, scipy "
            "and radiogenomics types of the library's pipelines",
            found=refused[:8],
            hint="The file was not read. For a model fitted with an estimator of your own, "
            "name its types in load_model(path, trusted=[...]) if you trust the file",
        )
    try:
        state = sio.load(file, trusted=found)
    except Exception as exc:  # a damaged archive or schema
        raise InputError(
            "cannot read the saved model",
            file=file,
            expected="a model.skops file written by radiogenomics",
            found=f"{type(exc).__name__}: {exc}",
        ) from None
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise InputError(
            "the file does not hold a radiogenomics model",
            file=file,
            expected=f"a dictionary tagged {FORMAT!r}",
            found=type(state).__name__,
        )
    if state.get("format_version", 0) > FORMAT_VERSION:
        raise InputError(
            "the model was saved by a newer version of radiogenomics",
            file=file,
            expected=f"format version {FORMAT_VERSION} or lower",
            found=state.get("format_version"),
            hint="Upgrade radiogenomics to load it",
        )
    try:
        target = Target(**state["target"])
        feature_set = FeatureSet(**state["feature_set"])
        card = json.loads(state["card"])
        tables = {name: _table(state["tables"][name], file, name) for name in TABLES}
        return model_type(
            name=state["name"],
            target=target,
            feature_set=feature_set,
            encoding=dict(state["encoding"]),
            batch=state["batch"],
            pipeline=state["pipeline"],
            required=list(state["required"]),
            card=card,
            **tables,
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise InputError(
            "the saved model is incomplete",
            file=file,
            expected="the fields written by radiogenomics",
            found=f"{type(exc).__name__}: {exc}",
        ) from None
