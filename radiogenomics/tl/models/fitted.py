"""A fitted model: its pipeline with the stored preprocessing, how it was validated, and
its model card; prediction on new patients; saving and loading."""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from ..._files import atomic_dir
from ...errors import InputError
from .card import (
    CARD_FILE,
    LEGACY_MODEL_FILE,
    MODEL_FILE,
    TABLES,
    card_json,
    now_utc,
    versions,
)
from .design import BATCH_PREFIX, FeatureSet, Target, assemble, label_text
from .persistence import read_model, write_model
from .validation import predict_scores

__all__ = [
    "FittedModel",
    "load_model",
    "versions",
    "MODEL_FILE",
    "LEGACY_MODEL_FILE",
    "CARD_FILE",
    "FIGURE_WRITERS",
    "register_figure_writer",
    "card_json",
    "now_utc",
]

#: Functions ``writer(model, folder) -> {name: file}`` that :meth:`FittedModel.save`
#: calls to write the validation figures of a model (see :func:`register_figure_writer`).
FIGURE_WRITERS: list[Callable[[FittedModel, Path], dict[str, str]]] = []


def register_figure_writer(
    func: Callable[[FittedModel, Path], dict[str, str]],
) -> Callable[[FittedModel, Path], dict[str, str]]:
    """Have :meth:`FittedModel.save` call ``func(model, folder)`` to write figures.

    ``folder`` is the ``figures/`` folder inside the model folder being written (it
    exists); ``func`` writes its figures there and returns ``{name: file}`` with each file
    relative to the model folder (``"figures/roc.json"``), which the model card lists
    under ``"figures"``. A writer that raises is reported with a warning and the model is
    saved without its figures. Registering the same function twice has no effect; the
    function is returned, so this works as a decorator. The plotting layer
    (``radiogenomics.pl``) registers its writer when it is imported.

    Examples
    --------
    >>> from radiogenomics.tl.models.fitted import FIGURE_WRITERS, register_figure_writer
    >>> @register_figure_writer
    ... def write_nothing(model, folder):
    ...     return {}
    >>> write_nothing in FIGURE_WRITERS
    True
    >>> FIGURE_WRITERS.remove(write_nothing)
    """
    if func not in FIGURE_WRITERS:
        FIGURE_WRITERS.append(func)
    return func


@dataclass
class FittedModel:
    """A model fitted by :func:`radiogenomics.tl.fit_model`.

    Attributes
    ----------
    name
        The key the model's results are stored under in the cohort.
    target
        What it predicts (task, columns, classes).
    feature_set
        The features it reads from a cohort.
    encoding
        Levels of categorical clinical columns (learnt on the training cohort).
    batch
        ``obs`` column it harmonises by, or ``None``.
    pipeline
        The scikit-learn pipeline fitted on every training patient (preprocessing,
        harmonisation, selection, learner), tuned by cross-validation.
    required
        Input columns its learner uses (a patient lacking one cannot be scored).
    metrics, predictions, importance, curves
        Validation results (tidy tables, also stored in the cohort).
    card
        The model card (a JSON-ready dict).

    See Also
    --------
    radiogenomics.tl.fit_model : makes one.
    radiogenomics.tl.load_model : reads one saved with :meth:`save`.

    Examples
    --------
    >>> import radiogenomics as rg
    >>> mdata = rg.datasets.toy_cohort(n_patients=60)
    >>> model = rg.tl.fit_model(mdata, "egfr_mutant", "radiomics", n_features=5, outer_folds=3,
    ...                         n_repeats=1, n_bootstraps=50, importance_repeats=0)
    >>> model
    FittedModel('egfr_mutant', task='classification', target='egfr_mutant',
                features='radiomics', learner=LogisticRegression, uses 5 features)
    >>> model.metrics["metric"].tolist()[:3]
    ['auc', 'balanced_accuracy', 'brier']
    >>> len(model.required), model.predict(mdata).shape
    (5, (60, 3))
    """

    name: str
    target: Target
    feature_set: FeatureSet
    encoding: dict[str, list]
    batch: str | None
    pipeline: object
    required: list[str]
    metrics: pd.DataFrame
    predictions: pd.DataFrame
    importance: pd.DataFrame
    curves: pd.DataFrame
    card: dict = field(default_factory=dict)

    @property
    def task(self) -> str:
        return self.target.task

    def __repr__(self) -> str:
        return (
            f"FittedModel({self.name!r}, task={self.task!r}, target={self.target.column!r}, "
            f"features={self.feature_set.label!r}, learner="
            f"{type(self.pipeline[-1]).__name__}, uses {len(self.required)} features)"
        )

    def summary(self) -> str:
        """Performance in a few lines (estimate and confidence interval per metric)."""
        lines = [repr(self)]
        for _, row in self.metrics.iterrows():
            lines.append(
                f"  [{row['validation']}] {row['metric']}: {row['estimate']:.3f} "
                f"({row['ci_lower']:.3f} to {row['ci_upper']:.3f})"
            )
        permutation = self.card.get("validation", {}).get("permutation_test")
        if permutation:
            lines.append(
                f"  permutation test ({permutation['n_permutations']} shuffles): "
                f"{permutation['metric']} {permutation['observed']:.3f} vs null mean "
                f"{permutation['null_mean']:.3f}, p = {permutation['p_value']:.4f}"
            )
        return "\n".join(lines)

    # ------------------------------------------------------------------ prediction
    def inputs(self, mdata, *, patients=None, missing: str = "error"):
        """The model's input table for the cohort's patients (see :meth:`predict`)."""
        if missing not in ("error", "impute", "skip"):
            raise InputError(f"unknown missing={missing!r}", expected="'error', 'impute' or 'skip'")
        self._check_modalities(mdata)
        modalities, filled = self._modality_features(mdata)
        mdata = self._with_clinical(mdata)
        data = self._assemble_inputs(mdata, modalities, patients, missing)
        X = data.X.copy()
        for mod, lacking in filled.items():
            for f in lacking:
                X[f"{mod}:{f}"] = np.nan
        X = X[self._columns]
        return self._complete_patients(X, data.dropped.copy(), missing)

    def _check_modalities(self, mdata) -> None:
        """Raise when the cohort lacks a modality the model reads."""
        needed_mods = {m for m in self.feature_set.modalities}
        absent = sorted(needed_mods - set(mdata.mod))
        if absent:
            raise InputError(
                f"the cohort lacks modality {absent[0]!r} that the model reads",
                expected=f"modalities {sorted(needed_mods)}",
                found=sorted(mdata.mod),
            )

    def _modality_features(self, mdata) -> tuple[dict, dict]:
        """Per modality, the features the model reads that the cohort has, and those it
        lacks (tolerated only when the learner does not use them)."""
        modalities = {}
        filled = {}
        for mod, names in self.feature_set.modalities.items():
            wanted = names if names is not None else self._input_names(mod)
            present = [f for f in wanted if f in mdata.mod[mod].var_names]
            lacking = [f for f in wanted if f not in mdata.mod[mod].var_names]
            lacking_required = [f for f in lacking if f"{mod}:{f}" in self.required]
            if lacking_required:
                raise InputError(
                    f"{len(lacking_required)} feature(s) the model needs are not in modality "
                    f"{mod!r} of the cohort",
                    expected="the features the model was fitted with",
                    found=lacking_required[:8],
                )
            modalities[mod] = present
            filled[mod] = lacking
        return modalities, filled

    def _with_clinical(self, mdata):
        """The cohort, on a copy with empty columns for clinical columns it lacks that the
        learner does not use; raise for those it uses."""
        clinical_absent = [c for c in self.feature_set.clinical if c not in mdata.obs.columns]
        needed_clinical = [
            c for c in clinical_absent if any(r.startswith(f"clinical:{c}") for r in self.required)
        ]
        if needed_clinical:
            raise InputError(
                "clinical column(s) the model needs are not in the cohort",
                column=needed_clinical[0],
                expected="the clinical columns the model was fitted with",
                found=needed_clinical,
            )
        if clinical_absent:
            mdata = mdata.copy()
            for column in clinical_absent:
                levels = self.encoding.get(column) or []
                mdata.obs[column] = (
                    np.nan
                    if not levels
                    else pd.Categorical([None] * mdata.n_obs, categories=levels)
                )
        return mdata

    def _assemble_inputs(self, mdata, modalities: dict, patients, missing: str):
        """The patients' inputs; with ``missing="error"``, raise for a patient dropped."""
        fs = self.feature_set
        data = assemble(
            mdata,
            FeatureSet(
                modalities=modalities,
                clinical=list(fs.clinical),
                layers=dict(getattr(fs, "layers", {}) or {}),
            ),
            None,
            batch=self.batch,
            encoding=self.encoding,
            patients=patients,
        )
        if len(data.dropped) and missing == "error":
            patient = data.dropped.index[0]
            raise InputError(
                f"{len(data.dropped)} patient(s) cannot be scored, e.g. {patient!r}: "
                f"{data.dropped.iloc[0]}",
                row=str(patient),
                expected="every modality (and batch) the model reads",
                found=data.dropped.iloc[0],
                hint="Pass missing='skip' to leave those patients out",
            )
        return data

    def _complete_patients(self, X: pd.DataFrame, dropped, missing: str):
        """Patients lacking values the model uses: an error, kept (to impute) or skipped."""
        required = [c for c in self.required if c in X.columns]
        if self.batch is not None:
            required.append(f"{BATCH_PREFIX}{self.batch}")
        holes = X[required].isna()
        incomplete = holes.any(axis=1)
        if incomplete.any():
            if missing == "error":
                patient = incomplete.index[incomplete.to_numpy()][0]
                lacking = list(holes.columns[holes.loc[patient].to_numpy()])
                raise InputError(
                    f"{int(incomplete.sum())} patient(s) lack values the model needs, e.g. "
                    f"{patient!r} lacks {len(lacking)}",
                    row=str(patient),
                    column=lacking[0],
                    expected=f"a value for every feature the model uses ({len(required)})",
                    found=lacking[:6],
                    hint="Pass missing='impute' to fill them with the training medians, or "
                    "missing='skip' to leave those patients out",
                )
            if missing == "skip":
                for patient in incomplete.index[incomplete.to_numpy()]:
                    dropped[patient] = "lacks features the model needs"
                X = X.loc[~incomplete]
        return X, dropped

    @property
    def _columns(self) -> list[str]:
        return [str(c) for c in self.pipeline[0].feature_names_in_]

    def _input_names(self, mod: str) -> list[str]:
        prefix = f"{mod}:"
        return [c[len(prefix) :] for c in self._columns if c.startswith(prefix)]

    def predict(self, mdata, *, patients=None, missing: str = "error") -> pd.DataFrame:
        """Apply the model, with its stored preprocessing, to the cohort's patients.

        Parameters
        ----------
        mdata
            A cohort with the modalities and clinical columns the model reads (it may be
            a different cohort from the training one).
        patients
            Restrict to these patients.
        missing
            A patient lacking a value the model uses: ``"error"`` (the default: raise an
            error that names the patient and the features), ``"impute"`` (fill with the
            training medians) or ``"skip"`` (leave the patient out).

        Returns
        -------
        DataFrame
            One row per patient: ``patient_id``, ``prediction`` (probability of the
            positive class, risk score or predicted value) and, for classification,
            ``predicted_label``.

        Examples
        --------
        >>> import radiogenomics as rg
        >>> mdata = rg.datasets.toy_cohort(n_patients=60)
        >>> model = rg.tl.fit_model(mdata, "egfr_mutant", "radiomics", n_features=5, outer_folds=3,
        ...                         n_repeats=1, n_bootstraps=50, importance_repeats=0)
        >>> model.predict(mdata).shape
        (60, 3)
        """
        X, _ = self.inputs(mdata, patients=patients, missing=missing)
        if X.empty:
            raise InputError(
                "no patient can be scored",
                expected="patients with the modalities and features the model reads",
                found="none",
            )
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            scores = predict_scores(self.pipeline, X, self.task)
        out = pd.DataFrame({"patient_id": X.index.astype(str), "prediction": scores})
        if self.task == "classification":
            threshold = self.card.get("validation", {}).get("threshold", 0.5)
            out["predicted_label"] = np.where(
                scores >= threshold,
                label_text(self.target.positive),
                label_text(self.target.negative),
            )
        return out

    # ------------------------------------------------------------------ persistence
    def save(self, path: str | os.PathLike, figures: bool = True) -> Path:
        """Write the model to a folder, whole or not at all.

        The folder holds ``model.skops`` (the fitted pipeline and what it needs, in a
        format that runs no code when loaded; see :func:`load_model`),
        ``model_card.json``, the validation tables as CSV and, with ``figures``, the
        validation figures that the registered writers make (Plotly JSON under
        ``figures/``; see :func:`register_figure_writer`). An existing folder is replaced.

        Parameters
        ----------
        path
            The model folder.
        figures
            Write the figures (listed in the card's ``"figures"``).

        Returns
        -------
        Path
            The folder.

        Examples
        --------
        >>> model.save("egfr_model")  # doctest: +SKIP
        PosixPath('egfr_model')
        """
        path = Path(path)
        with atomic_dir(path) as tmp:
            card = dict(self.card)
            if figures:
                card["figures"] = self._write_figures(tmp / "figures")
            card["files"] = {"model": MODEL_FILE, **{t: f"{t}.csv" for t in TABLES}}
            self.card = card
            for table in TABLES:
                getattr(self, table).to_csv(tmp / f"{table}.csv", index=False)
            (tmp / CARD_FILE).write_text(card_json(card), encoding="utf-8")
            write_model(self, tmp / MODEL_FILE)
        return path

    def _write_figures(self, folder: Path) -> dict[str, str]:
        folder.mkdir(parents=True, exist_ok=True)
        written: dict[str, str] = {}
        for writer in list(FIGURE_WRITERS):
            try:
                written.update(writer(self, folder) or {})
            except Exception as exc:  # a figure must not stop the model from being saved
                warnings.warn(
                    f"figures of {getattr(writer, '__name__', writer)!r} not written: {exc}",
                    stacklevel=3,
                )
        return written


def load_model(
    path: str | os.PathLike, *, trusted: Sequence[str] = (), trust: bool = False
) -> FittedModel:
    """Load a model saved by :meth:`FittedModel.save` (a folder or its ``model.skops``).

    The file is checked before anything in it is built: it may hold only plain data
    (numbers, text, arrays) and the scikit-learn, scikit-survival, numpy, scipy and
    radiogenomics types of the library's pipelines
    (:data:`radiogenomics.tl.models.persistence.TRUSTED_TYPES`); any other
    type is refused, so that a crafted file cannot run code. Warns when the library
    versions differ from those the model was fitted with.

    Parameters
    ----------
    path
        The model folder, or its ``model.skops`` file.
    trusted
        Further types (``"module.Class"``) to accept, for a model fitted with an
        estimator of your own; name them only for a file you trust.
    trust
        Accept every type in the file, and read models that earlier versions of
        radiogenomics saved as a pickle (``model.joblib``), which can run any code when
        loaded. Only for files you made yourself; save the model again to convert it.

    Raises
    ------
    InputError
        The path holds no model, the file is not a model saved by radiogenomics, it
        holds an untrusted type, or it is an old pickle and ``trust`` is not given.

    Examples
    --------
    >>> import radiogenomics as rg
    >>> mdata = rg.datasets.toy_cohort(n_patients=60)
    >>> model = rg.tl.fit_model(mdata, "egfr_mutant", "radiomics", n_features=5, outer_folds=3,
    ...                         n_repeats=1, n_bootstraps=50, importance_repeats=0)
    >>> import pathlib, tempfile
    >>> folder = model.save(pathlib.Path(tempfile.mkdtemp()) / "egfr_model")
    >>> loaded = rg.tl.load_model(folder)
    >>> loaded.predict(mdata).equals(model.predict(mdata))
    True
    """
    model = read_model(Path(path), FittedModel, trusted=tuple(trusted), trust=trust)
    fitted_with = model.card.get("versions", {})
    now = versions()
    differ = {
        k: (v, now.get(k))
        for k, v in fitted_with.items()
        if k in ("scikit-learn", "scikit-survival", "numpy") and now.get(k) != v
    }
    if differ:
        warnings.warn(
            f"the model was fitted with other library versions: {differ}; predictions may differ",
            stacklevel=2,
        )
    return model
