"""The cohort: modalities joined on patients in a MuData, with a join report.

``build_cohort`` harmonises sample IDs to patient IDs, combines several samples or lesions
of one patient only by an explicit rule, joins the modalities and the clinical table, and
records who was kept and who was dropped and why. ``write_cohort``/``read_cohort`` store
the cohort as ``.h5mu``, atomically.
"""

from __future__ import annotations

import os
import re
import warnings
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Literal

import mudata as md
import numpy as np
import pandas as pd
import scipy.sparse as sp
from anndata import AnnData

from ._files import atomic_path
from .errors import CohortError, InputError

__all__ = [
    "build_cohort",
    "write_cohort",
    "write_h5ad",
    "read_cohort",
    "harmonize_ids",
    "join_report",
    "add_modality",
    "store_result",
    "get_result",
    "working_copy",
    "ID_RULES",
    "SIZE_FEATURES",
]

IdRule = str | Callable[[str], str] | Mapping[str, str] | None
Combine = Literal["refuse", "first", "mean", "max", "largest_lesion"]

#: Named ID rules. ``tcga`` maps a TCGA sample barcode (``TCGA-02-0003-01A-01R``) to its
#: patient (``TCGA-02-0003``): the first three dash-separated fields.
ID_RULES: dict[str, str] = {
    "tcga": r"^([A-Za-z0-9]+-[A-Za-z0-9]+-[A-Za-z0-9]+)",
}

#: Radiomic features used, in this order, as lesion size by ``combine="largest_lesion"``.
SIZE_FEATURES = ("original_shape_VoxelVolume", "original_shape_MeshVolume")

_COMBINE_RULES = ("refuse", "first", "mean", "max", "largest_lesion")


def harmonize_ids(ids, rule: IdRule, *, where: str = "IDs") -> np.ndarray:
    """Map sample IDs to patient IDs.

    Parameters
    ----------
    ids
        Sample identifiers.
    rule
        ``None`` (identity), a named rule (``"tcga"``), a regular expression whose first
        group (or whole match) is the patient ID, a callable, or a mapping from sample ID
        to patient ID.
    where
        Name of the source, for error messages.

    Returns
    -------
    numpy.ndarray of str

    Examples
    --------
    >>> from radiogenomics.cohort import harmonize_ids
    >>> harmonize_ids(["TCGA-02-0003-01A-01R", "TCGA-02-0047-01A-01R"], "tcga")
    array(['TCGA-02-0003', 'TCGA-02-0047'], dtype=object)
    >>> harmonize_ids(["P1_baseline", "P2_week6"], r"^(P[0-9]+)_")
    array(['P1', 'P2'], dtype=object)
    >>> harmonize_ids(["s17", "s18"], {"s17": "P1", "s18": "P2"}).tolist()
    ['P1', 'P2']
    >>> harmonize_ids(["TCGA-02-0003-01A", "sample7"], "tcga", where="the RNA matrix")
    Traceback (most recent call last):
    ...
    radiogenomics.errors.CohortError: an ID of the RNA matrix does not match the ID rule ...
    """
    ids = [str(i) for i in ids]
    if rule is None:
        return np.asarray(ids, dtype=object)
    if isinstance(rule, Mapping):
        missing = [i for i in ids if i not in rule]
        if missing:
            raise CohortError(
                f"{len(missing)} ID(s) of {where} are not in the ID mapping",
                expected="every sample ID mapped to a patient",
                found=missing[:5],
            )
        return np.asarray([str(rule[i]) for i in ids], dtype=object)
    if callable(rule):
        return np.asarray([str(rule(i)) for i in ids], dtype=object)
    if isinstance(rule, str):
        pattern = re.compile(ID_RULES.get(rule, rule))
        out = []
        for i in ids:
            match = pattern.search(i)
            if match is None:
                raise CohortError(
                    f"an ID of {where} does not match the ID rule",
                    expected=f"IDs matching {pattern.pattern!r}",
                    found=i,
                )
            out.append(match.group(1) if match.groups() else match.group(0))
        return np.asarray(out, dtype=object)
    raise CohortError(
        "unknown ID rule",
        expected="None, a name, a regex, a callable or a mapping",
        found=type(rule).__name__,
    )


def _is_per_modality(value, names) -> bool:
    return isinstance(value, Mapping) and bool(set(value) & set(names))


def _combine(
    adata: AnnData, patients: np.ndarray, rule: str, name: str, size_feature: str | None
) -> AnnData:
    """One row per patient from a modality whose samples may share a patient."""
    samples = adata.obs_names.to_numpy().astype(str)
    codes, uniques = pd.factorize(pd.Index(patients))
    counts = np.bincount(codes, minlength=len(uniques))
    if (counts == 1).all():
        out = adata.copy()
        out.obs_names = pd.Index(patients.astype(str))
        out.obs["sample_id"] = samples
        out.obs["n_samples"] = np.ones(out.n_obs, dtype=np.int64)
        return out
    if rule not in _COMBINE_RULES:
        raise CohortError(f"unknown combine rule {rule!r}", expected=f"one of {_COMBINE_RULES}")
    if rule == "refuse":
        shared = [u for u, c in zip(uniques, counts) if c > 1]
        example = shared[0]
        raise CohortError(
            f"{len(shared)} patient(s) have several samples or lesions in {name!r}, "
            f"e.g. {example!r}: {[str(s) for s in samples[patients == example]]}",
            expected="one sample per patient",
            found=f"{int(counts.max())} samples for one patient",
            hint=(
                "Say how to combine them: combine='first', 'mean', 'max' or "
                "'largest_lesion' (or a dict per modality)"
            ),
        )
    order = []
    for k in range(len(uniques)):
        members = np.flatnonzero(codes == k)
        if rule == "largest_lesion" and members.size > 1:
            feature = size_feature or next((f for f in SIZE_FEATURES if f in adata.var_names), None)
            if feature is None or feature not in adata.var_names:
                raise CohortError(
                    f"combine='largest_lesion' needs a lesion size feature in {name!r}",
                    expected=f"one of {list(SIZE_FEATURES)} or size_feature=",
                    found="none in var_names",
                )
            sizes = np.asarray(adata[members, feature].X, dtype=float).ravel()
            members = members[[int(np.nanargmax(sizes))]]
        order.append(members)
    first = np.array([m[0] for m in order])
    out = adata[first].copy()
    if rule in ("mean", "max"):
        reducer = np.nanmean if rule == "mean" else np.nanmax

        def reduce(matrix):
            dense = np.asarray(matrix.toarray() if hasattr(matrix, "toarray") else matrix, float)
            with np.errstate(all="ignore"), warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN columns stay NaN
                return np.vstack([reducer(dense[m], axis=0) for m in order])

        out.X = reduce(adata.X)
        for layer in adata.layers:
            out.layers[layer] = reduce(adata.layers[layer])
    out.obs_names = pd.Index([str(u) for u in uniques])
    out.obs["sample_id"] = [
        ";".join(samples[m]) if rule in ("mean", "max") else samples[m[0]] for m in order
    ]
    out.obs["n_samples"] = counts.astype(np.int64)
    out.uns.setdefault("radiogenomics", {})
    out.uns["radiogenomics"] = {**out.uns["radiogenomics"], "combined_samples": rule}
    return out


def _check_finite(adata: AnnData, name: str) -> None:
    """Refuse infinite values in a modality's ``X`` and layers (missing values may be NaN)."""
    for layer, matrix in [("X", adata.X), *((f"layer {k!r}", v) for k, v in adata.layers.items())]:
        if matrix is None:
            continue
        if sp.issparse(matrix):
            coo = sp.coo_matrix(matrix)
            rows, cols, data = coo.row, coo.col, coo.data
        else:
            data = np.asarray(matrix)
        if not np.issubdtype(data.dtype, np.floating):
            continue
        infinite = np.isinf(data)
        if not infinite.any():
            continue
        if sp.issparse(matrix):
            k = int(np.flatnonzero(infinite)[0])
            i, j, value = int(rows[k]), int(cols[k]), data[k]
        else:
            i, j = (int(v) for v in np.argwhere(infinite)[0])
            value = data[i, j]
        raise CohortError(
            f"modality {name!r} holds {int(infinite.sum())} infinite value(s) in {layer}",
            row=str(adata.obs_names[i]),
            column=str(adata.var_names[j]),
            expected="finite numbers (missing values as NaN)",
            found=float(value),
            hint="Infinite values usually come from a log of zero or a division by zero "
            "upstream: fix them there, or set them to NaN",
        )


def build_cohort(
    modalities: Mapping[str, AnnData],
    clinical: pd.DataFrame | None = None,
    join: Literal["inner", "outer"] = "inner",
    *,
    id_rule: IdRule | Mapping[str, IdRule] = None,
    combine: Combine | Mapping[str, Combine] = "refuse",
    size_feature: str | None = None,
    return_report: bool = False,
) -> md.MuData | tuple[md.MuData, pd.DataFrame]:
    """Join modalities and a clinical table into a cohort of patients.

    Parameters
    ----------
    modalities
        ``{"radiomics": adata, "rna": adata, ...}``, each observations by features.
        A modality whose ``obs`` has a ``patient_id`` column (several lesions per patient)
        maps rows to patients through it; otherwise through ``obs_names``.
    clinical
        One row per patient, indexed by patient ID (as from ``rg.io.read_clinical``). Its
        columns become the cohort's ``obs``. It takes part in the join.
    join
        ``"inner"``: patients present in every modality (and the clinical table);
        ``"outer"``: patients present anywhere.
    id_rule
        How sample IDs map to patient IDs: ``None``, ``"tcga"``, a regular expression, a
        callable or a mapping; or a dict of these keyed by modality name (and
        ``"clinical"``).
    combine
        What to do when several samples or lesions map to one patient: ``"refuse"`` (the
        default: raise), ``"first"``, ``"mean"``, ``"max"`` (for mutations: mutated in any
        sample) or ``"largest_lesion"`` (by ``size_feature``, by default the voxel volume);
        or a dict of these keyed by modality name.
    size_feature
        Radiomic feature giving lesion size for ``"largest_lesion"``.
    return_report
        Also return the join report.

    Returns
    -------
    mudata.MuData
        ``obs`` = patients with the clinical columns; the join report is in
        ``mdata.uns["radiogenomics"]["join_report"]`` and a summary in
        ``mdata.uns["radiogenomics"]["join"]``.

    See Also
    --------
    harmonize_ids : the ID rules, applied to a list of sample IDs.
    radiogenomics.datasets.toy_cohort : a small cohort built with this function.

    Examples
    --------
    RNA sample IDs carry a suffix that ``id_rule`` removes; the inner join keeps the
    patients present everywhere and the report says why the others were left out.

    >>> import anndata as ad
    >>> import numpy as np
    >>> import pandas as pd
    >>> import radiogenomics as rg
    >>> rng = np.random.default_rng(0)
    >>> radiomics = ad.AnnData(rng.normal(size=(4, 3)),
    ...                        obs=pd.DataFrame(index=["P1", "P2", "P3", "P4"]),
    ...                        var=pd.DataFrame(index=["volume", "mean", "entropy"]))
    >>> rna = ad.AnnData(rng.normal(size=(3, 2)),
    ...                  obs=pd.DataFrame(index=["P1-01A", "P2-01A", "P5-01A"]),
    ...                  var=pd.DataFrame(index=["EGFR", "MKI67"]))
    >>> clinical = pd.DataFrame({"age": [61, 55, 70, 48]},
    ...                         index=pd.Index(["P1", "P2", "P3", "P4"], name="patient_id"))
    >>> mdata, report = rg.build_cohort({"radiomics": radiomics, "rna": rna}, clinical=clinical,
    ...                                 id_rule={"rna": r"^(P[0-9]+)-"}, return_report=True)
    >>> mdata.obs_names.tolist(), mdata.obs.columns.tolist()
    (['P1', 'P2'], ['age'])
    >>> report[["patient_id", "kept", "reason"]].values.tolist()
    [['P1', True, ''], ['P2', True, ''], ['P3', False, 'not in rna'], ['P4', False, 'not in rna'],
     ['P5', False, 'not in radiomics, clinical']]
    >>> rg.build_cohort({"radiomics": radiomics, "rna": rna}, clinical=clinical, join="outer",
    ...                 id_rule={"rna": r"^(P[0-9]+)-"}).n_obs
    5
    """
    if join not in ("inner", "outer"):
        raise CohortError("unknown join", expected="'inner' or 'outer'", found=join)
    if not modalities:
        raise CohortError("no modalities given", expected="at least one AnnData")
    names = list(modalities)
    rules_per_mod = _is_per_modality(id_rule, [*names, "clinical"])
    prepared, n_input = _prepare_modalities(
        modalities, id_rule, rules_per_mod, combine, size_feature
    )
    clin = None
    if clinical is not None:
        clin = _prepare_clinical(clinical, id_rule.get("clinical") if rules_per_mod else None)
    report, keep_ids = _join_report(prepared, clin, join)
    mods = {}
    for name, a in prepared.items():
        ids = [p for p in keep_ids if p in set(a.obs_names)]
        mods[name] = a[ids].copy()
    mdata = md.MuData(mods)
    if clin is not None:
        _add_clinical(mdata, clin)
    summary = {
        "how": join,
        "n_patients": int(mdata.n_obs),
        "n_dropped": int((~report["kept"]).sum()),
        "modalities": names,
        "n_input_samples": n_input,
        "n_patients_per_modality": {n: int(a.n_obs) for n, a in mods.items()},
        "combine": {
            n: prepared[n].uns.get("radiogenomics", {}).get("combined_samples", "none")
            for n in names
        },
    }
    mdata.uns["radiogenomics"] = {
        "join_report": report.reset_index(),
        "join": summary,
    }
    if clin is not None and clinical.attrs.get("radiogenomics"):
        mdata.uns["radiogenomics"]["clinical"] = _clean_uns(clinical.attrs["radiogenomics"])
    if return_report:
        return mdata, report.reset_index()
    return mdata


def _check_modality(adata, name: str) -> None:
    """Refuse a modality that is not an AnnData, is empty, has duplicate names or infinities."""
    if not isinstance(adata, AnnData):
        raise CohortError(f"modality {name!r} is not an AnnData", found=type(adata).__name__)
    if adata.n_obs == 0:
        raise CohortError(f"modality {name!r} has no observations")
    if not adata.obs_names.is_unique:
        dup = adata.obs_names[adata.obs_names.duplicated()][0]
        raise CohortError(f"modality {name!r} has duplicate obs_names", found=dup)
    if not adata.var_names.is_unique:
        dup = adata.var_names[adata.var_names.duplicated()][0]
        raise CohortError(f"modality {name!r} has duplicate var_names", found=dup)
    _check_finite(adata, name)


def _prepare_modalities(
    modalities: Mapping[str, AnnData],
    id_rule: IdRule | Mapping[str, IdRule],
    rules_per_mod: bool,
    combine: Combine | Mapping[str, Combine],
    size_feature: str | None,
) -> tuple[dict[str, AnnData], dict[str, int]]:
    """Each modality checked, its rows mapped to patients and combined per patient."""
    combine_per_mod = isinstance(combine, Mapping)
    prepared: dict[str, AnnData] = {}
    n_input: dict[str, int] = {}
    for name in list(modalities):
        adata = modalities[name]
        _check_modality(adata, name)
        rule = id_rule.get(name) if rules_per_mod else id_rule
        source = (
            adata.obs["patient_id"].astype(str).to_numpy()
            if "patient_id" in adata.obs
            else adata.obs_names.to_numpy()
        )
        patients = harmonize_ids(source, rule, where=f"modality {name!r}")
        how = combine.get(name, "refuse") if combine_per_mod else combine
        prepared[name] = _combine(adata, patients, how, name, size_feature)
        n_input[name] = int(adata.n_obs)
    return prepared, n_input


def _prepare_clinical(clinical: pd.DataFrame, rule: IdRule) -> pd.DataFrame:
    """A copy of the clinical table indexed by unique patient IDs."""
    if not isinstance(clinical, pd.DataFrame):
        raise CohortError(
            "clinical must be a DataFrame indexed by patient ID", found=type(clinical).__name__
        )
    clin = clinical.copy()
    clin.index = pd.Index(
        harmonize_ids(clin.index, rule, where="the clinical table"), name="patient_id"
    )
    if not clin.index.is_unique:
        dup = clin.index[clin.index.duplicated()][0]
        raise CohortError(
            "the clinical table has several rows for one patient",
            found=dup,
            expected="one row per patient",
        )
    return clin


def _join_report(
    prepared: dict[str, AnnData], clin: pd.DataFrame | None, join: str
) -> tuple[pd.DataFrame, pd.Index]:
    """Who is where, who is kept by the join and why the others are dropped."""
    sources = {name: list(a.obs_names) for name, a in prepared.items()}
    if clin is not None:
        sources["clinical"] = list(clin.index)
    everyone: list[str] = []
    seen: set[str] = set()
    for ids in [*sources.values()] if clin is None else [sources["clinical"], *sources.values()]:
        for pid in ids:
            if pid not in seen:
                seen.add(pid)
                everyone.append(pid)
    report = pd.DataFrame(index=pd.Index(everyone, name="patient_id"))
    for name, ids in sources.items():
        report[f"in_{name}"] = report.index.isin(ids)
    for name, a in prepared.items():
        report[f"n_samples_{name}"] = (
            pd.Series(a.obs["n_samples"].to_numpy(), index=a.obs_names)
            .reindex(report.index)
            .fillna(0)
            .astype(np.int64)
        )
    presence = report[[f"in_{n}" for n in sources]].to_numpy()
    if join == "inner":
        kept = presence.all(axis=1)
    else:
        kept = presence[:, : len(sources)].any(axis=1)
        if clin is not None:
            # a patient known only from the clinical table has nothing to analyse
            kept = presence[:, [i for i, n in enumerate(sources) if n != "clinical"]].any(axis=1)
    missing = [", ".join(n for n, present in zip(sources, row) if not present) for row in presence]
    report["kept"] = kept
    report["missing_from"] = missing
    report["reason"] = [
        "" if k else (f"not in {m}" if join == "inner" else "in no modality")
        for k, m in zip(kept, missing)
    ]
    keep_ids = report.index[kept]
    if len(keep_ids) == 0:
        raise CohortError(
            f"no patient is left after the {join} join",
            expected="patient IDs shared between the inputs",
            found={n: ids[:3] for n, ids in sources.items()},
            hint="Check the ID rule (id_rule=) that maps sample IDs to patient IDs",
        )
    return report, keep_ids


def _add_clinical(mdata: md.MuData, clin: pd.DataFrame) -> None:
    """The clinical columns as the cohort's ``obs`` (categorical columns keep their type)."""
    aligned = clin.reindex(mdata.obs_names)
    for column in aligned.columns:
        mdata.obs[column] = (
            aligned[column].to_numpy()
            if not isinstance(aligned[column].dtype, pd.CategoricalDtype)
            else aligned[column].values
        )


def join_report(mdata: md.MuData) -> pd.DataFrame:
    """The join report stored by :func:`build_cohort`.

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> from anndata import AnnData
    >>> import radiogenomics as rg
    >>> rna = AnnData(np.ones((3, 2)), obs=pd.DataFrame(index=["P1", "P2", "P3"]))
    >>> radiomics = AnnData(np.ones((2, 2)), obs=pd.DataFrame(index=["P1", "P2"]))
    >>> mdata = rg.build_cohort({"radiomics": radiomics, "rna": rna})
    >>> report = rg.join_report(mdata)
    >>> report.columns.tolist()
    ['patient_id', 'in_radiomics', 'in_rna', 'n_samples_radiomics', 'n_samples_rna', 'kept',
     'missing_from', 'reason']
    >>> report[["patient_id", "kept", "reason"]].values.tolist()
    [['P1', True, ''], ['P2', True, ''], ['P3', False, 'not in radiomics']]
    """
    try:
        return mdata.uns["radiogenomics"]["join_report"]
    except KeyError:
        raise CohortError(
            "the cohort has no join report", hint="Build it with radiogenomics.build_cohort"
        ) from None


def _clean_uns(value: Any) -> Any:
    """Make a value storable in .h5mu: drop None, turn tuples into lists, keep the rest."""
    if isinstance(value, Mapping):
        return {str(k): _clean_uns(v) for k, v in value.items() if v is not None}
    if isinstance(value, tuple):
        return [_clean_uns(v) for v in value]
    if isinstance(value, list):
        return [_clean_uns(v) for v in value if v is not None]
    if isinstance(value, Path):
        return str(value)
    return value


def write_cohort(mdata: md.MuData, path: str | os.PathLike) -> Path:
    """Write the cohort to ``.h5mu`` atomically (a temporary file renamed into place).

    Returns the path written.

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> import radiogenomics as rg
    >>> mdata = rg.datasets.toy_cohort(n_patients=20, n_genes=3)
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     path = rg.write_cohort(mdata, Path(folder) / "cohort.h5mu")
    ...     print(path.name, sorted(p.name for p in Path(folder).iterdir()))
    cohort.h5mu ['cohort.h5mu']
    """
    path = Path(path)
    if path.suffix != ".h5mu":
        raise InputError("a cohort file must end in .h5mu", file=path, found=path.suffix)
    mdata.uns.update(_clean_uns(dict(mdata.uns)))
    for mod in mdata.mod.values():
        mod.uns.update(_clean_uns(dict(mod.uns)))
    with atomic_path(path) as tmp:
        mdata.write(tmp)
    return path


def write_h5ad(adata: AnnData, path: str | os.PathLike) -> Path:
    """Write one modality (an AnnData, e.g. extracted features) to ``.h5ad`` atomically,
    with its provenance in ``uns`` made writable as :func:`write_cohort` does.

    Returns the path written.

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> import anndata
    >>> import radiogenomics as rg
    >>> adata = rg.datasets.toy_cohort(n_patients=20, n_genes=3).mod["rna"]
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     path = rg.cohort.write_h5ad(adata, Path(folder) / "rna.h5ad")
    ...     print(path.name, anndata.read_h5ad(path).shape)
    rna.h5ad (20, 3)
    """
    path = Path(path)
    adata.uns.update(_clean_uns(dict(adata.uns)))
    with atomic_path(path) as tmp:
        adata.write_h5ad(tmp)
    return path


def read_cohort(path: str | os.PathLike) -> md.MuData:
    """Read a cohort written by :func:`write_cohort`, with the clinical columns' dtypes
    exactly as stored.

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> import radiogenomics as rg
    >>> mdata = rg.datasets.toy_cohort(n_patients=20, n_genes=3)
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     path = rg.write_cohort(mdata, Path(folder) / "cohort.h5mu")
    ...     back = rg.read_cohort(path)
    >>> back.n_obs, sorted(back.mod)
    (20, ['mutation', 'radiomics', 'rna'])
    >>> str(back.obs["egfr_mutant"].dtype)  # 0/1 stored as floats stay floats
    'float64'
    >>> back.obs["stage"].cat.categories.tolist(), back.obs["stage"].cat.ordered
    (['I', 'II', 'III'], True)
    >>> rg.join_report(back).shape
    (20, 11)
    """
    path = Path(path)
    if not path.exists():
        raise InputError("the cohort file does not exist", file=path)
    try:
        mdata = md.read_h5mu(path)
        import h5py
        from anndata.io import read_elem

        with h5py.File(path, "r") as handle:
            stored = read_elem(handle["obs"])
    except Exception as exc:  # h5py raises several types for foreign files
        raise InputError(
            "cannot read the cohort file", file=path, expected="an .h5mu file", found=str(exc)
        ) from None
    _restore_obs(mdata, stored)
    return mdata


def _restore_obs(mdata: md.MuData, reference: pd.DataFrame) -> None:
    """Put back the cohort's obs columns as in ``reference``.

    MuData's update (run when reading or adding a modality) passes the global ``obs``
    through ``DataFrame.convert_dtypes``, which turns float columns holding whole numbers
    into integers; this undoes that.
    """
    reference = reference.reindex(mdata.obs_names)
    for column in reference.columns:
        if column in mdata.obs.columns and mdata.obs[column].dtype != reference[column].dtype:
            mdata.obs[column] = (
                reference[column].to_numpy()
                if not isinstance(reference[column].dtype, pd.CategoricalDtype)
                else reference[column].values
            )


def add_modality(mdata: md.MuData, name: str, adata: AnnData) -> None:
    """Add (or replace) a modality of the cohort, keeping the clinical columns intact.

    ``adata.obs_names`` must be patients of the cohort.

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> from anndata import AnnData
    >>> import radiogenomics as rg
    >>> from radiogenomics.cohort import add_modality
    >>> mdata = rg.datasets.toy_cohort(n_patients=20, n_genes=3)
    >>> protein = AnnData(
    ...     np.zeros((5, 4)),
    ...     obs=pd.DataFrame(index=mdata.obs_names[:5]),
    ...     var=pd.DataFrame(index=["PROT1", "PROT2", "PROT3", "PROT4"]),
    ... )
    >>> add_modality(mdata, "protein", protein)
    >>> sorted(mdata.mod), mdata["protein"].shape, mdata.n_obs
    (['mutation', 'protein', 'radiomics', 'rna'], (5, 4), 20)
    >>> str(mdata.obs["egfr_mutant"].dtype)
    'float64'
    """
    unknown = pd.Index(adata.obs_names).difference(mdata.obs_names)
    if len(unknown):
        raise CohortError(
            f"modality {name!r} has patients that are not in the cohort", found=list(unknown[:5])
        )
    obs = mdata.obs.copy()
    mdata.mod[name] = adata
    mdata.update()
    _restore_obs(mdata, obs)


def store_result(
    mdata: md.MuData, kind: str, key: str, table: pd.DataFrame, params: Mapping | None = None
) -> None:
    """Store a result table under ``mdata.uns["radiogenomics"][kind][key]``.

    ``params`` (how it was computed) go to ``mdata.uns["radiogenomics"]["params"][kind][key]``.

    Examples
    --------
    >>> import pandas as pd
    >>> import radiogenomics as rg
    >>> mdata = rg.datasets.toy_cohort(n_patients=20, n_genes=3)
    >>> table = pd.DataFrame({"feature": ["original_glcm_Contrast"], "score": [0.42]})
    >>> rg.store_result(mdata, "rankings", "by_score", table, params={"method": "custom"})
    >>> mdata.uns["radiogenomics"]["rankings"]["by_score"] is table
    True
    >>> mdata.uns["radiogenomics"]["params"]["rankings"]
    {'by_score': {'method': 'custom'}}
    """
    root = mdata.uns.setdefault("radiogenomics", {})
    root.setdefault(kind, {})[key] = table
    if params is not None:
        root.setdefault("params", {}).setdefault(kind, {})[key] = _clean_uns(dict(params))


def get_result(mdata: md.MuData, kind: str, key: str | None = None) -> pd.DataFrame:
    """A result table stored by a tool; the only one of its kind when ``key`` is None.

    Examples
    --------
    >>> import radiogenomics as rg
    >>> mdata = rg.datasets.toy_cohort(n_patients=20, n_genes=3)
    >>> table = rg.tl.associate(mdata, "radiomics", "rna")
    >>> rg.get_result(mdata, "associations").shape  # the only association table
    (36, 14)
    >>> rg.get_result(mdata, "associations", "radiomics_vs_rna") is table
    True
    >>> rg.get_result(mdata, "survival")
    Traceback (most recent call last):
    ...
    radiogenomics.errors.CohortError: the cohort has no 'survival' results
    """
    tables = mdata.uns.get("radiogenomics", {}).get(kind)
    if not tables:
        raise CohortError(f"the cohort has no {kind!r} results")
    if key is None:
        if len(tables) != 1:
            raise CohortError(f"several {kind!r} results; name one", found=sorted(tables))
        key = next(iter(tables))
    if key not in tables:
        raise CohortError(f"no {kind!r} result named {key!r}", expected=f"one of {sorted(tables)}")
    return tables[key]


def _copy_containers(value: Any) -> Any:
    """Dicts copied level by level; their leaves (tables, arrays) shared."""
    if isinstance(value, Mapping):
        return {k: _copy_containers(v) for k, v in value.items()}
    return value


def _shallow_modality(adata: AnnData) -> AnnData:
    return AnnData(
        X=adata.X,
        obs=adata.obs.copy(),
        var=adata.var.copy(),
        uns=_copy_containers(adata.uns),
        obsm=dict(adata.obsm),
        varm=dict(adata.varm),
        obsp=dict(adata.obsp),
        varp=dict(adata.varp),
        layers=dict(adata.layers),
    )


def working_copy(mdata: md.MuData) -> md.MuData:
    """A cohort that shares the matrices of ``mdata`` but owns its annotations.

    Tools run on the working copy store their results (``obs`` columns, ``uns`` tables,
    ``obsm``/``varm`` entries) in it and leave ``mdata`` unchanged, while the data
    matrices and layers are not copied. This is how a server answers many requests from
    one cohort: a full ``mdata.copy()`` per request would copy every matrix. Only tools
    that modify matrices in place (the ``pp`` tools with ``copy=False``) must not be run
    on it.

    Examples
    --------
    >>> import mudata as md, numpy as np
    >>> from anndata import AnnData
    >>> from radiogenomics.cohort import working_copy
    >>> rna = AnnData(np.ones((3, 2)), obs=dict(index=["p1", "p2", "p3"]))
    >>> mdata = md.MuData({"rna": rna})
    >>> work = working_copy(mdata)
    >>> work.obs["stage_group"] = "all"
    >>> "stage_group" in mdata.obs
    False
    >>> work["rna"].X is mdata["rna"].X
    True
    """
    mods = {name: _shallow_modality(adata) for name, adata in mdata.mod.items()}
    work = md.MuData(
        mods,
        obs=mdata.obs.copy(),
        var=mdata.var.copy(),
        obsm=dict(mdata.obsm),
        varm=dict(mdata.varm),
        obsp=dict(mdata.obsp),
        varp=dict(mdata.varp),
        obsmap=dict(mdata.obsmap),
        varmap=dict(mdata.varmap),
        uns=_copy_containers(mdata.uns),
    )
    return work
