"""Delta radiomics: per-patient change of each feature between two time points.

Treatment response is a change over time. :func:`delta` pairs each patient's (and
lesion's) image at ``baseline`` with the one at ``follow_up`` and returns the change of
every feature as a modality (patients x features), on which association, survival and
models run like on any other modality.
"""

from __future__ import annotations

import mudata as md
import numpy as np
import pandas as pd
from anndata import AnnData

from ..cohort import _clean_uns, add_modality
from ..errors import CohortError, InputError

__all__ = ["delta", "DELTA_KINDS", "DELTA_SEPARATOR"]

#: The kinds of change :func:`delta` computes, with the unit of the result.
DELTA_KINDS = {
    "absolute": "follow-up minus baseline, in the feature's unit",
    "relative": "(follow-up - baseline) / baseline (a fraction: 0.1 = +10 %)",
    "log_ratio": "natural log of follow-up / baseline",
}
#: Separator of patient and time point in the names of a long modality (``P001@week6``).
DELTA_SEPARATOR = "@"


def _long_modality(
    data, mod: str, timepoint: str, baseline: str, follow_up: str
) -> tuple[AnnData | None, AnnData | None, AnnData | None]:
    """(long modality, baseline modality, follow-up modality): either the first or the
    other two are given."""
    if isinstance(data, AnnData):
        return data, None, None
    if not isinstance(data, md.MuData):
        raise InputError(
            "expected a cohort (MuData) or a modality (AnnData)", found=type(data).__name__
        )
    if mod in data.mod and timepoint in data.mod[mod].obs.columns:
        return data.mod[mod], None, None
    names = (f"{mod}_{baseline}", f"{mod}_{follow_up}")
    if all(n in data.mod for n in names):
        return None, data.mod[names[0]], data.mod[names[1]]
    raise CohortError(
        f"the cohort holds no time points of modality {mod!r}",
        expected=f"modality {mod!r} with an obs column {timepoint!r} (one row per image), or "
        f"modalities {names[0]!r} and {names[1]!r}",
        found=sorted(data.mod),
    )


def _matrix(adata: AnnData, layer: str | None) -> np.ndarray:
    if layer is None:
        layer = "raw" if "raw" in adata.layers else None
    source = adata.X if layer is None else adata.layers.get(layer)
    if source is None:
        raise CohortError(
            f"the modality has no layer {layer!r}",
            expected=f"one of {list(adata.layers)}",
            found=layer,
        )
    if hasattr(source, "toarray"):
        source = source.toarray()
    return np.asarray(source, dtype=np.float64)


def _keys(obs: pd.DataFrame, obs_names, patient_key: str) -> pd.Series:
    """Patient (and lesion, when there is one) of each row: ``P001`` or ``P001|L1``."""
    if patient_key in obs.columns:
        patient = obs[patient_key].astype(str).to_numpy()
    else:
        patient = np.array([str(n).split(DELTA_SEPARATOR)[0] for n in obs_names])
    if "lesion_id" in obs.columns:
        lesion = obs["lesion_id"].astype(object).where(obs["lesion_id"].notna(), "")
        lesion = lesion.astype(str).to_numpy()
        if (lesion != "").any():
            patient = np.array(
                [p if not les else f"{p}|{les}" for p, les in zip(patient, lesion)], dtype=object
            )
    return pd.Series(patient, index=obs_names)


def _split(
    adata: AnnData,
    timepoint: str,
    baseline: str,
    follow_up: str,
    patient_key: str,
    layer: str | None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    if timepoint not in adata.obs.columns:
        raise CohortError(
            f"the modality has no time point column {timepoint!r}",
            column=timepoint,
            expected="an obs column naming each image's time point (the manifest's 'timepoint')",
            found=list(adata.obs.columns)[:10],
        )
    values = pd.DataFrame(
        _matrix(adata, layer),
        index=np.asarray(adata.obs_names),
        columns=np.asarray(adata.var_names),
    )
    keys = _keys(adata.obs, adata.obs_names, patient_key)
    points = adata.obs[timepoint].astype(str).to_numpy()
    present = sorted(set(points))
    for wanted in (baseline, follow_up):
        if wanted not in present:
            raise CohortError(
                f"no image at time point {wanted!r}",
                column=timepoint,
                expected=f"{baseline!r} and {follow_up!r}",
                found=present,
            )
    out = []
    for wanted in (baseline, follow_up):
        rows = points == wanted
        frame = values.loc[rows]
        frame.index = keys[rows].to_numpy()
        duplicated = frame.index[frame.index.duplicated()]
        if len(duplicated):
            raise CohortError(
                f"{len(set(duplicated))} patient(s) have several images at time point "
                f"{wanted!r}, e.g. {duplicated[0]!r}",
                row=str(duplicated[0]),
                column=timepoint,
                expected="one image per patient (and lesion) and time point",
                found=f"{int((frame.index == duplicated[0]).sum())} images",
                hint="Tell lesions apart with a lesion_id column",
            )
        out.append(frame)
    return out[0], out[1]


def _pair(adata: AnnData, patient_key: str, layer: str | None) -> pd.DataFrame:
    frame = pd.DataFrame(
        _matrix(adata, layer),
        index=np.asarray(adata.obs_names),
        columns=np.asarray(adata.var_names),
    )
    frame.index = _keys(adata.obs, adata.obs_names, patient_key).to_numpy()
    return frame


def _change(
    base: np.ndarray, follow: np.ndarray, kind: str
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The change and the cells where it is undefined, with their reason codes."""
    with np.errstate(divide="ignore", invalid="ignore"):
        if kind == "absolute":
            change = follow - base
            undefined = np.zeros(base.shape, dtype=bool)
            reason = np.full(base.shape, "", dtype=object)
        elif kind == "relative":
            change = (follow - base) / base
            zero = base == 0
            undefined = zero
            reason = np.where(zero, "zero baseline", "")
        else:
            ratio = follow / base
            zero = base == 0
            nonpositive = ~zero & (ratio <= 0)
            change = np.log(ratio)
            undefined = zero | nonpositive
            reason = np.where(
                zero,
                "zero baseline",
                np.where(
                    follow == 0,
                    "zero follow-up",
                    np.where(nonpositive, "baseline and follow-up of opposite signs", ""),
                ),
            )
    missing = np.isnan(base) | np.isnan(follow)
    reason = np.where(missing & ~undefined, "missing value", reason)
    change = np.where(undefined | missing, np.nan, change)
    return change, undefined & ~missing, reason


def delta(
    data: md.MuData | AnnData,
    baseline: str = "baseline",
    follow_up: str = "follow_up",
    *,
    kind: str = "relative",
    mod: str = "radiomics",
    timepoint: str = "timepoint",
    patient_key: str = "patient_id",
    layer: str | None = None,
    missing: str = "error",
    key_added: str | None = None,
) -> AnnData:
    """Per-patient change of every feature between two time points.

    Parameters
    ----------
    data
        A modality (AnnData) with one row per image and an ``obs`` column ``timepoint``
        (as extracted from a manifest with a ``timepoint`` column), or a cohort (MuData)
        holding such a modality under ``mod`` -- or two modalities ``<mod>_<baseline>``
        and ``<mod>_<follow_up>`` with patients as rows.
    baseline, follow_up
        The two time points (values of the ``timepoint`` column).
    kind
        ``"absolute"`` (follow-up - baseline, in the feature's unit), ``"relative"``
        ((follow-up - baseline) / baseline, a fraction) or ``"log_ratio"``
        (log(follow-up / baseline)).
    mod
        The modality of a cohort to read.
    timepoint
        ``obs`` column of the time point.
    patient_key
        ``obs`` column of the patient ID (default ``patient_id``; when absent, the part of
        the row name before ``@``). Rows with a ``lesion_id`` are paired per lesion.
    layer
        Layer to read; by default ``raw`` when the modality has it (extracted values in
        their units: a relative change of harmonised or scaled values means nothing),
        else ``X``.
    missing
        A patient (or lesion) imaged at only one of the two time points: ``"error"`` (the
        default) raises an error listing them; ``"drop"`` leaves them out and lists them
        in ``uns["radiogenomics"]["delta"]["dropped"]``. They are never dropped silently.
    key_added
        Name of the new modality when ``data`` is a cohort (default ``<mod>_delta``); the
        cohort gets it in place.

    Returns
    -------
    AnnData
        Patients (``patient`` or ``patient|lesion``) x features: the change. ``var``
        copies the source's and adds ``delta_kind`` (and ``unit``); ``layers["baseline"]``
        and ``layers["follow_up"]`` hold the paired values. A change that is undefined (a
        zero baseline with ``relative`` or ``log_ratio``; a zero follow-up or a change of
        sign with ``log_ratio``) is NaN, and every such cell is listed with its reason in
        ``uns["radiogenomics"]["delta"]["undefined"]`` (``patient, feature, reason``,
        also counted per feature in ``var["n_undefined"]``).

    Examples
    --------
    >>> import anndata, numpy as np, pandas as pd
    >>> import radiogenomics as rg
    >>> obs = pd.DataFrame({"patient_id": ["P1", "P1", "P2", "P2"],
    ...                     "timepoint": ["baseline", "week6"] * 2},
    ...                    index=["P1@baseline", "P1@week6", "P2@baseline", "P2@week6"])
    >>> volume = anndata.AnnData(np.array([[10.0], [8.0], [4.0], [5.0]]), obs=obs,
    ...                          var=pd.DataFrame(index=["volume"]))
    >>> change = rg.tl.delta(volume, "baseline", "week6", kind="relative")
    >>> change.obs_names.tolist(), change.X.ravel().round(2).tolist()
    (['P1', 'P2'], [-0.2, 0.25])
    """
    _check_delta_options(kind, missing, baseline, follow_up)
    base, follow, source = _paired_frames(
        data, mod, timepoint, baseline, follow_up, patient_key, layer
    )
    patients, only_base, only_follow = _paired_patients(
        base, follow, missing, timepoint, baseline, follow_up
    )
    b = base.loc[patients].to_numpy()
    f = follow.loc[patients, base.columns].to_numpy()
    change, undefined, reason = _change(b, f, kind)
    undefined_table = _undefined_table(patients, base.columns, reason, b, f)

    result = _change_modality(source, base.columns, patients, change, b, f, undefined, kind)
    dropped = pd.DataFrame(
        {
            "patient": [*only_base, *only_follow],
            "reason": [
                *(f"no image at {follow_up!r}" for _ in only_base),
                *(f"no image at {baseline!r}" for _ in only_follow),
            ],
        }
    )
    result.uns["radiogenomics"] = {
        "source": f"delta radiomics of modality {mod!r}",
        "delta": {
            "kind": kind,
            "definition": DELTA_KINDS[kind],
            "baseline": baseline,
            "follow_up": follow_up,
            "timepoint_column": timepoint,
            "n_patients": len(patients),
            "undefined": undefined_table,
            "dropped": dropped,
        },
    }
    if isinstance(data, md.MuData):
        _add_to_cohort(
            data,
            key_added or f"{mod}_delta",
            result,
            patients,
            {
                "kind": kind,
                "baseline": baseline,
                "follow_up": follow_up,
                "modality": mod,
                "n_patients": len(patients),
                "n_undefined": int(len(undefined_table)),
                "dropped": [str(p) for p in dropped["patient"]],
            },
        )
    return result


def _check_delta_options(kind, missing, baseline, follow_up):
    """Refuse an unknown kind or missing rule, and a baseline equal to the follow-up."""
    if kind not in DELTA_KINDS:
        raise InputError(
            f"unknown kind={kind!r}", expected=f"one of {list(DELTA_KINDS)}", found=kind
        )
    if missing not in ("error", "drop"):
        raise InputError(
            f"unknown missing={missing!r}", expected="'error' or 'drop'", found=missing
        )
    if baseline == follow_up:
        raise InputError("baseline and follow-up are the same time point", found=baseline)


def _paired_frames(data, mod, timepoint, baseline, follow_up, patient_key, layer):
    """Baseline and follow-up values (rows: patient keys) on shared features, and their source."""
    long, base_mod, follow_mod = _long_modality(data, mod, timepoint, baseline, follow_up)
    if long is not None:
        base, follow = _split(long, timepoint, baseline, follow_up, patient_key, layer)
        return base, follow, long
    base, follow = _pair(base_mod, patient_key, layer), _pair(follow_mod, patient_key, layer)
    if list(base.columns) != list(follow.columns):
        shared = base.columns.intersection(follow.columns, sort=False)
        if len(shared) == 0:
            raise CohortError(
                "the two time points share no feature",
                found=[list(base.columns[:3]), list(follow.columns[:3])],
            )
        base, follow = base[shared], follow[shared]
    return base, follow, base_mod


def _paired_patients(base, follow, missing, timepoint, baseline, follow_up):
    """Patients imaged at both time points, and those imaged at only one of them."""
    only_base = [p for p in base.index if p not in set(follow.index)]
    only_follow = [p for p in follow.index if p not in set(base.index)]
    if (only_base or only_follow) and missing == "error":
        lacking = [
            *(f"{p} (no {follow_up!r})" for p in only_base),
            *(f"{p} (no {baseline!r})" for p in only_follow),
        ]
        raise CohortError(
            f"{len(lacking)} patient(s) lack one of the two time points: "
            + ", ".join(lacking[:20])
            + (" ..." if len(lacking) > 20 else ""),
            column=timepoint,
            expected=f"an image at {baseline!r} and at {follow_up!r} for every patient",
            found=lacking,
            hint="Pass missing='drop' to leave them out (they are listed in the result)",
        )
    patients = [p for p in base.index if p in set(follow.index)]
    if not patients:
        raise CohortError(
            "no patient has both time points",
            expected=f"{baseline!r} and {follow_up!r}",
            found={"baseline": len(base), "follow_up": len(follow)},
        )
    return patients, only_base, only_follow


def _undefined_table(patients, columns, reason, b, f):
    """Every cell whose change is undefined or missing, with its reason and paired values."""
    rows, cols = np.nonzero(reason != "")
    return pd.DataFrame(
        {
            "patient": np.asarray(patients, dtype=object)[rows],
            "feature": np.asarray(columns, dtype=object)[cols],
            "reason": reason[rows, cols].astype(str),
            "baseline": b[rows, cols],
            "follow_up": f[rows, cols],
        }
    )


def _add_to_cohort(data, name, result, patients, record):
    """Add the change to the cohort as a modality, recording how it was made."""
    if any("|" in str(p) for p in patients):
        raise CohortError(
            "a cohort modality has one row per patient, and some patients have several lesions",
            expected="one lesion per patient",
            found=[p for p in patients if "|" in str(p)][:5],
            hint="Compute the change on the modality (AnnData) and summarise lesions "
            "per patient first",
        )
    add_modality(data, name, result)
    root = data.uns.setdefault("radiogenomics", {})
    root.setdefault("delta", {})[name] = _clean_uns(record)


def _change_modality(
    source: AnnData,
    columns: pd.Index,
    patients: list,
    change: np.ndarray,
    b: np.ndarray,
    f: np.ndarray,
    undefined: np.ndarray,
    kind: str,
) -> AnnData:
    """Patients x features of the change, ``var`` from the source with ``delta_kind``,
    ``unit`` and ``n_undefined``; the paired values as layers."""
    var_source = (
        source.var.loc[list(columns)]
        if set(columns) <= set(source.var_names)
        else pd.DataFrame(index=columns)
    )
    var = var_source.copy()
    var["delta_kind"] = kind
    if kind != "absolute":
        var["unit"] = "1" if kind == "relative" else "log ratio"
    var["n_undefined"] = undefined.sum(axis=0).astype(int)
    obs = pd.DataFrame(index=pd.Index([str(p) for p in patients]))
    obs["patient_id"] = [str(p).split("|")[0] for p in patients]
    if any("|" in str(p) for p in patients):
        obs["lesion_id"] = [str(p).split("|", 1)[1] if "|" in str(p) else "" for p in patients]
    result = AnnData(X=change, obs=obs, var=var)
    result.layers["baseline"] = b
    result.layers["follow_up"] = f
    return result
