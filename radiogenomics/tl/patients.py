"""One patient against the cohort: feature percentiles and the most similar patients;
and summaries of the cohort for an overview (patients per modality, clinical columns)."""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import mudata as md
import numpy as np
import pandas as pd

from .._compat import keyword_only
from .._data import as_list, modality_block
from ..errors import CohortError
from ..stats.neighbors import percentile_of, standardized_distances

__all__ = [
    "patient_percentiles",
    "similar_patients",
    "modality_overlap",
    "clinical_summary",
    "patient_outliers",
    "patient_variants",
]


def _patient_index(mdata: md.MuData, patient: str) -> int:
    patient = str(patient)
    if patient not in mdata.obs_names:
        raise CohortError(
            "unknown patient",
            expected="a patient ID of the cohort",
            found="an ID that is not in mdata.obs_names",
        )
    return int(mdata.obs_names.get_loc(patient))


@keyword_only("mod")
def patient_percentiles(
    mdata: md.MuData,
    patient: str,
    mod: str = "radiomics",
    features: Sequence[str] | None = None,
    layer: str | None = None,
) -> pd.DataFrame:
    """Where a patient's values sit in the cohort, feature by feature.

    Parameters
    ----------
    mdata
        The cohort.
    patient
        A patient ID (``mdata.obs_names``).
    mod
        Modality (``radiomics``, ``rna``, ...).
    features
        Features to report (default: all of the modality).
    layer
        Layer of the modality instead of ``X``.

    Returns
    -------
    pandas.DataFrame
        One row per feature: ``feature``, ``value`` (the patient's), ``percentile``
        (0-100, ties counted half, as ``scipy.stats.percentileofscore(kind="mean")``),
        ``z_score`` (against the cohort mean and standard deviation), ``cohort_median``
        and ``n`` (patients with a value).

    Examples
    --------
    >>> import radiogenomics as rg
    >>> mdata = rg.datasets.toy_cohort(n_patients=40)
    >>> table = rg.tl.patient_percentiles(mdata, "P001")
    >>> table.shape[0], "percentile" in table
    (12, True)
    """
    index = _patient_index(mdata, patient)
    block = modality_block(mdata, mod, features=features, layer=layer)
    values = block.values
    point = values[index]
    with np.errstate(invalid="ignore", divide="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        mean = np.nanmean(values, axis=0)
        sd = np.nanstd(values, axis=0, ddof=1)
        median = np.nanmedian(values, axis=0)
        z = (point - mean) / sd
    z[~np.isfinite(z)] = np.nan
    return pd.DataFrame(
        {
            "feature": block.names,
            "value": point,
            "percentile": percentile_of(values, point),
            "z_score": z,
            "cohort_median": median,
            "n": (~np.isnan(values)).sum(axis=0).astype(np.int64),
        }
    )


@keyword_only("mod")
def similar_patients(
    mdata: md.MuData,
    patient: str,
    mod: str = "radiomics",
    n_neighbors: int = 5,
    features: Sequence[str] | None = None,
    obs_columns: Sequence[str] = (),
) -> pd.DataFrame:
    """The patients closest to one patient in the space of a modality's features.

    Features are z-scored over the cohort and patients compared by Euclidean distance
    (see :func:`radiogenomics.stats.neighbors.standardized_distances`).

    Parameters
    ----------
    n_neighbors
        How many patients to return (the patient themself excluded).
    features
        Features to use (default: all of the modality).
    obs_columns
        Clinical columns to add (outcome, stage, ...).

    Returns
    -------
    pandas.DataFrame
        ``patient_id``, ``rank`` (1 = closest), ``distance`` and the ``obs_columns``.

    Examples
    --------
    >>> import radiogenomics as rg
    >>> mdata = rg.datasets.toy_cohort(n_patients=40)
    >>> rg.tl.similar_patients(mdata, "P001", n_neighbors=3)["patient_id"].tolist()
    ['P022', 'P029', 'P034']
    """
    index = _patient_index(mdata, patient)
    block = modality_block(mdata, mod, features=features)
    present = ~np.isnan(block.values).all(axis=1)
    if not present[index]:
        raise CohortError(
            f"the patient has no values in modality {mod!r}",
            expected="a patient present in the modality",
        )
    own = int(present[:index].sum())
    distance = standardized_distances(block.values[present], own)
    ids = np.asarray(block.patients)[present]
    candidates = np.flatnonzero(np.isfinite(distance) & (np.arange(distance.size) != own))
    order = candidates[np.argsort(distance[candidates], kind="stable")][: int(n_neighbors)]
    out = pd.DataFrame(
        {
            "patient_id": ids[order].astype(str),
            "rank": np.arange(1, len(order) + 1),
            "distance": distance[order],
        }
    )
    for column in as_list(obs_columns):
        if column not in mdata.obs.columns:
            raise CohortError(
                f"the cohort has no clinical column {column!r}",
                column=column,
                expected=f"one of {list(map(str, mdata.obs.columns))[:15]}",
            )
        out[column] = mdata.obs[column].reindex(out["patient_id"]).to_numpy()
    return out


def modality_overlap(mdata: md.MuData) -> pd.DataFrame:
    """How many patients of the cohort have each combination of modalities.

    Returns
    -------
    pandas.DataFrame
        One row per combination seen: a boolean column per modality, ``n_patients``,
        sorted by decreasing count.

    Examples
    --------
    >>> import radiogenomics as rg
    >>> mdata = rg.datasets.toy_cohort(n_patients=40)
    >>> rg.tl.modality_overlap(mdata)["n_patients"].tolist()
    [40]
    """
    presence = pd.DataFrame(
        {name: mdata.obs_names.isin(mod.obs_names) for name, mod in mdata.mod.items()},
        index=mdata.obs_names,
    )
    counts = presence.value_counts().rename("n_patients").reset_index()
    return counts.sort_values("n_patients", ascending=False, kind="stable").reset_index(drop=True)


def clinical_summary(mdata: md.MuData, columns: Sequence[str] | None = None) -> pd.DataFrame:
    """A one-line summary of each clinical column of the cohort.

    Numeric columns: median, quartiles, range; categorical, text and boolean columns:
    counts of each level.

    Returns
    -------
    pandas.DataFrame
        ``column``, ``kind`` (``numeric`` or ``categorical``), ``n`` (patients with a
        value), ``missing``, ``median``, ``q1``, ``q3``, ``min``, ``max`` (numeric
        columns) and ``levels`` (``"level: count"``, categorical columns).

    Examples
    --------
    >>> import radiogenomics as rg
    >>> mdata = rg.datasets.toy_cohort(n_patients=40)
    >>> rg.tl.clinical_summary(mdata)[["column", "kind"]].head(4).values.tolist()
    [['os_months', 'numeric'], ['os_event', 'numeric'], ['age', 'numeric'], ['stage', 'categorical']]
    """
    obs = mdata.obs
    names = list(map(str, obs.columns)) if columns is None else as_list(columns)
    rows = []
    for column in names:
        if column not in obs.columns:
            raise CohortError(f"the cohort has no clinical column {column!r}", column=column)
        series = obs[column]
        numeric = (
            pd.api.types.is_numeric_dtype(series.dtype)
            and not pd.api.types.is_bool_dtype(series.dtype)
            and not isinstance(series.dtype, pd.CategoricalDtype)
        )
        row = {
            "column": column,
            "kind": "numeric" if numeric else "categorical",
            "n": int(series.notna().sum()),
            "missing": int(series.isna().sum()),
        }
        if numeric:
            values = pd.to_numeric(series, errors="coerce").to_numpy(dtype=float, na_value=np.nan)
            values = values[~np.isnan(values)]
            if values.size:
                q1, median, q3 = np.percentile(values, [25, 50, 75])
                row.update(median=median, q1=q1, q3=q3, min=values.min(), max=values.max())
            row["levels"] = ""
        else:
            counts = series.astype(object).where(series.notna()).value_counts(sort=False)
            if isinstance(series.dtype, pd.CategoricalDtype):
                counts = counts.reindex([c for c in series.cat.categories if c in counts.index])
            else:
                counts = counts.sort_index()
            row["levels"] = ", ".join(f"{level}: {int(n)}" for level, n in counts.items())
        rows.append(row)
    columns_out = ["column", "kind", "n", "missing", "median", "q1", "q3", "min", "max", "levels"]
    return pd.DataFrame(rows).reindex(columns=columns_out)


@keyword_only("mod")
def patient_outliers(
    mdata: md.MuData,
    patient: str,
    mod: str = "rna",
    *,
    n: int = 10,
    min_abs_z: float = 2.0,
    layer: str | None = None,
) -> pd.DataFrame:
    """The features where a patient stands out most from the cohort.

    Parameters
    ----------
    mdata
        The cohort.
    patient
        A patient ID.
    mod
        Modality (``rna``, ``protein``, ...).
    n
        At most this many features, the largest ``|z|`` first.
    min_abs_z
        Keep features whose z-score (against the cohort mean and standard deviation) is
        at least this far from 0.
    layer
        Layer of the modality instead of ``X``.

    Returns
    -------
    pandas.DataFrame
        The rows of :func:`patient_percentiles` for those features, with ``direction``
        (``high`` or ``low``), ordered by decreasing ``|z_score|``.

    Examples
    --------
    >>> import radiogenomics as rg
    >>> mdata = rg.datasets.toy_cohort(n_patients=40)
    >>> table = rg.tl.patient_outliers(mdata, "P001", min_abs_z=1.0)
    >>> {"feature", "z_score", "direction"} <= set(table.columns)
    True
    """
    table = patient_percentiles(mdata, patient, mod=mod, layer=layer)
    strength = table["z_score"].abs()
    keep = strength >= float(min_abs_z)
    out = (
        table[keep.to_numpy()]
        .assign(_s=strength[keep])
        .sort_values("_s", ascending=False, kind="stable")
        .drop(columns="_s")
        .head(int(n))
    )
    out["direction"] = np.where(out["z_score"] > 0, "high", "low")
    return out.reset_index(drop=True)


#: How a MAF's variant classifications read.
_CLASS_LABELS = {
    "Missense_Mutation": "missense",
    "Nonsense_Mutation": "nonsense",
    "Frame_Shift_Del": "frameshift deletion",
    "Frame_Shift_Ins": "frameshift insertion",
    "In_Frame_Del": "in-frame deletion",
    "In_Frame_Ins": "in-frame insertion",
    "Splice_Site": "splice site",
    "Nonstop_Mutation": "nonstop",
    "Translation_Start_Site": "start codon",
    "Silent": "silent",
}


@keyword_only("mod")
def patient_variants(mdata: md.MuData, patient: str, mod: str = "mutation") -> pd.DataFrame:
    """The patient's counted variants, from the MAF rows the reader kept
    (``mdata[mod].uns["variants"]``, matched by the patient's sample); without them, the
    mutated genes of the binary matrix.

    Returns
    -------
    pandas.DataFrame
        One row per variant: ``gene``, ``protein_change``, ``classification`` (in words),
        ``variant_type``, ``vaf`` (variant allele fraction, NaN when the MAF has no read
        counts); empty when the patient has none or was not sequenced.

    Examples
    --------
    >>> import radiogenomics as rg
    >>> mdata = rg.datasets.toy_cohort(n_patients=40)
    >>> rg.tl.patient_variants(mdata, "P001")["gene"].tolist()
    ['EGFR', 'TP53']
    """
    columns = ["gene", "protein_change", "classification", "variant_type", "vaf"]
    if mod not in mdata.mod or str(patient) not in mdata[mod].obs_names:
        return pd.DataFrame(columns=columns)
    adata = mdata[mod]
    variants = adata.uns.get("variants")
    if isinstance(variants, pd.DataFrame) and "Tumor_Sample_Barcode" in variants:
        samples = {str(patient)}
        if "sample_id" in adata.obs:
            samples |= {str(s) for s in str(adata.obs.loc[str(patient), "sample_id"]).split(",")}
        rows = variants[variants["Tumor_Sample_Barcode"].astype(str).isin(samples)]
        protein = next(
            (c for c in ("HGVSp_Short", "Protein_Change", "HGVSp") if c in rows.columns), None
        )
        return (
            pd.DataFrame(
                {
                    "gene": rows["Hugo_Symbol"].astype(str).to_numpy(),
                    "protein_change": rows[protein].astype(str).to_numpy() if protein else "",
                    "classification": rows["Variant_Classification"]
                    .astype(str)
                    .map(lambda c: _CLASS_LABELS.get(c, c.replace("_", " ").lower()))
                    .to_numpy(),
                    "variant_type": rows["Variant_Type"].astype(str).to_numpy()
                    if "Variant_Type" in rows
                    else "",
                    "vaf": rows["vaf"].to_numpy(dtype=float) if "vaf" in rows else np.nan,
                }
            )
            .sort_values("gene", kind="stable")
            .reset_index(drop=True)
        )
    values = np.asarray(
        adata[str(patient)].X.todense() if hasattr(adata.X, "todense") else adata[str(patient)].X,
        dtype=float,
    ).ravel()
    genes = sorted(str(g) for g, v in zip(adata.var_names, values) if v > 0)
    return pd.DataFrame(
        {
            "gene": genes,
            "protein_change": "",
            "classification": "",
            "variant_type": "",
            "vaf": np.nan,
        },
        columns=columns,
    )
