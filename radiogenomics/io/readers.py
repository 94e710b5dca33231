"""Readers for every input kind: radiomic features, expression, proteomics, mutations,
clinical tables and image manifests. Each enforces its schema in ``data_schemas/``."""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd
from anndata import AnnData

from ..errors import InputError, SchemaError
from .annotations import annotate_radiomics_var, extraction_flags
from .schema import (
    check_all_missing,
    load_schema,
    resolve_aliases,
    validate_fields,
    validate_numeric_block,
)
from .tables import Table, read_table

__all__ = [
    "read_radiomics",
    "read_expression",
    "read_proteomics",
    "read_mutations",
    "read_clinical",
    "read_manifest",
    "parse_feature_name",
    "NON_SYNONYMOUS",
]

PathLike = str | os.PathLike
Orientation = Literal["features_as_rows", "genes_as_rows", "patients_as_rows"]

NON_SYNONYMOUS: tuple[str, ...] = tuple(
    load_schema("mutations_maf")["x-radiogenomics"]["nonSynonymousClasses"]
)


def _aliases(schema: dict, name: str) -> list[str]:
    for f in schema["fields"]:
        if f["name"] == name:
            return [name, *f.get("x-aliases", [])]
    return [name]


def _provenance(path: PathLike, reader: str, **extra) -> dict:
    source = Path(path).resolve() if Path(path).exists() else path
    info = {"source": str(source), "reader": reader}
    info.update({k: v for k, v in extra.items() if v is not None})
    return info


# --------------------------------------------------------------------------- radiomics

_FEATURE_PATTERN = re.compile(load_schema("radiomic_features")["x-radiogenomics"]["featurePattern"])


def parse_feature_name(name: str) -> tuple[str, str, str]:
    """Split a pyradiomics feature name into (image_type, feature_class, feature).

    ``original_glcm_Contrast`` gives ``("original", "glcm", "Contrast")`` and
    ``wavelet-LLH_firstorder_Mean`` gives ``("wavelet-LLH", "firstorder", "Mean")``. Names
    that do not follow the pyradiomics pattern give ``("unknown", "unknown", name)``.
    """
    match = _FEATURE_PATTERN.match(name)
    if match is None:
        return "unknown", "unknown", name
    return match["image_type"], match["feature_class"], match["feature"]


def feature_var(names: Sequence[str]) -> pd.DataFrame:
    """The radiomics ``var`` table (image_type, feature_class, feature) for feature names."""
    parts = [parse_feature_name(n) for n in names]
    return pd.DataFrame(
        {
            "image_type": pd.Categorical([p[0] for p in parts]),
            "feature_class": pd.Categorical([p[1] for p in parts]),
            "feature": [p[2] for p in parts],
        },
        index=pd.Index([str(n) for n in names]),
    )


def _metadata_to_obs(frame: pd.DataFrame) -> tuple[pd.DataFrame, dict]:
    """Split metadata columns into per-row obs columns and table-wide constants."""
    columns: dict[str, object] = {}
    constants: dict[str, str] = {}
    distinct = frame.nunique(dropna=False)
    for column, values in frame.items():
        if column.startswith("diagnostics_") and distinct[column] == 1:
            constants[column] = "" if pd.isna(values.iloc[0]) else str(values.iloc[0])
            continue
        if pd.api.types.is_numeric_dtype(values.dtype):
            columns[column] = values.to_numpy()
        else:
            columns[column] = pd.Categorical(
                [v if pd.isna(v) else str(v) for v in values.to_numpy(dtype=object)])
    return pd.DataFrame(columns, index=frame.index), constants


def read_radiomics(
    path: PathLike,
    *,
    id_column: str | None = None,
    lesion_column: str | None = None,
    obs_columns: Iterable[str] = (),
    sep: str | None = None,
    encoding: str | None = None,
    sheet: str | int | None = None,
    modality: str | None = None,
) -> AnnData:
    """Read radiomic features: a pyradiomics batch CSV or any wide feature table.

    Parameters
    ----------
    path
        CSV, TSV, Parquet or Excel file with one row per patient (or lesion).
    id_column
        Column of patient IDs; by default the first of ``patient_id``, ``ID``, ``Patient``,
        ... that the file has (see ``data_schemas/radiomic_features.json``).
    lesion_column
        Column of lesion IDs, when patients have several lesions (default ``lesion_id``).
    obs_columns
        Further non-feature columns to keep as annotations in ``obs``.
    modality
        Imaging modality (``CT``, ``PT``, ``MR``, ...) for the units of intensity
        features (HU, SUV, a.u.); default: the table's ``modality`` column, if any.

    Returns
    -------
    AnnData
        Patients (or lesions) by features. ``obs`` holds ``patient_id`` (and ``lesion_id``)
        plus per-case ``diagnostics_*`` and input columns; ``var`` holds ``image_type``,
        ``feature_class``, ``feature``, ``ibsi_tag`` (empty where IBSI has no
        counterpart) and ``unit`` (empty: dimensionless); table-wide diagnostics
        (versions, settings) go to ``uns["radiogenomics"]["diagnostics"]``.

    Raises
    ------
    SchemaError
        Missing ID column, duplicate patient IDs, non-numeric or infinite feature values,
        a feature with no value at all.
    """
    schema = load_schema("radiomic_features")
    strings = _aliases(schema, "patient_id") + _aliases(schema, "lesion_id")
    strings += [c for c in (id_column, lesion_column) if c]
    table = read_table(path, sep=sep, encoding=encoding, sheet=sheet, string_columns=strings)
    renames = resolve_aliases(
        table.data.columns, schema, {"patient_id": id_column, "lesion_id": lesion_column}
    )
    frame = validate_fields(table.data.rename(columns=renames), schema, table)
    return radiomics_anndata(frame, source=path, table=table, obs_columns=obs_columns,
                             reader="read_radiomics", modality=modality)


def radiomics_anndata(
    frame: pd.DataFrame,
    *,
    source: PathLike | str,
    table: Table | None = None,
    obs_columns: Iterable[str] = (),
    reader: str,
    modality: str | None = None,
) -> AnnData:
    """Radiomics AnnData from a validated wide table (ID, metadata and feature columns).

    Shared by :func:`read_radiomics` and the feature extractor, so that a pyradiomics
    batch CSV and an extraction give the same structure. ``var`` gets ``ibsi_tag`` and
    ``unit`` (intensity units from ``modality``, else from a ``modality`` column).
    """
    rules = load_schema("radiomic_features")["x-radiogenomics"]
    path = source
    meta_names = set(rules["metadataFields"]) | {"patient_id", "lesion_id"} | set(obs_columns)
    patterns = [re.compile(p) for p in rules["metadataPatterns"]]
    is_meta = [
        c in meta_names or any(p.search(c) for p in patterns) or c.startswith("Unnamed:")
        for c in frame.columns
    ]
    meta = frame.loc[:, is_meta]
    features = frame.loc[:, [not m for m in is_meta]]
    if features.shape[1] == 0:
        raise SchemaError(
            "the table has no feature columns",
            file=path,
            expected="numeric columns besides the ID and metadata columns",
            found=f"columns {list(frame.columns)[:10]}",
        )
    values = validate_numeric_block(features, rules["values"], table=table, what="feature")
    check_all_missing(
        values, features.columns, axis=0, file=str(path), what="feature",
        hint="Remove the column, or check the extraction settings that produced it",
    )

    patient = meta["patient_id"].astype(str)
    if "lesion_id" in meta and patient.duplicated().any():
        obs_names = patient + "|" + meta["lesion_id"].fillna("").astype(str)
    else:
        obs_names = patient
    obs, constants = _metadata_to_obs(meta.drop(columns=["patient_id"]))
    obs.insert(0, "patient_id", patient.to_numpy())
    obs.index = pd.Index(obs_names.to_numpy(), name=None)
    adata = AnnData(X=values, obs=obs, var=feature_var(list(features.columns)))
    for column in ("modality", "Modality"):
        if modality is None and column in obs:
            modality = "|".join(sorted({str(m) for m in obs[column].dropna()}))
    annotate_radiomics_var(adata.var, modality=modality, **extraction_flags(
        (constants or {}).get("diagnostics_Configuration_Settings")))
    adata.uns["radiogenomics"] = _provenance(
        path, reader, modality="radiomics", diagnostics=constants or None
    )
    return adata


# --------------------------------------------------------------------------- matrices


def _normalise_orientation(orientation: str, parameter: str = "orientation") -> str:
    allowed = {"features_as_rows": "features", "genes_as_rows": "features",
               "proteins_as_rows": "features", "patients_as_rows": "patients",
               "samples_as_rows": "patients"}
    if orientation not in allowed:
        raise InputError(
            f"unknown {parameter}",
            expected="'genes_as_rows' (features as rows) or 'patients_as_rows'",
            found=orientation,
        )
    return allowed[orientation]


def _read_matrix(
    path: PathLike,
    schema_name: str,
    *,
    orientation: str,
    id_column: str | None,
    annotation_columns: Iterable[str],
    duplicates: str,
    rules_override: dict | None,
    what: str,
    sep: str | None,
    encoding: str | None,
    sheet: str | int | None,
) -> tuple[np.ndarray, pd.DataFrame, pd.DataFrame, Table]:
    """Read a wide numeric matrix and return (patients x features values, obs, var, table)."""
    schema = load_schema(schema_name)
    rules = dict(schema["x-radiogenomics"]["values"])
    rules.update(rules_override or {})
    side = _normalise_orientation(orientation)
    annotation_columns = list(annotation_columns)
    patient_aliases = _aliases(load_schema("clinical"), "patient_id")
    strings = [c for c in [id_column, *annotation_columns] if c]
    if side == "patients":
        strings += patient_aliases
    table = read_table(
        path, sep=sep, encoding=encoding, sheet=sheet, string_columns=strings,
        first_column_string=id_column is None,
    )
    data = table.data
    if id_column is None:
        if side == "patients":
            id_column = next((c for c in patient_aliases if c in data.columns), data.columns[0])
        else:
            id_column = data.columns[0]
    if id_column not in data.columns:
        raise SchemaError(
            "the ID column is missing",
            file=path,
            column=id_column,
            expected=f"a column {id_column!r}",
            found=f"columns {list(data.columns)[:10]}",
        )
    missing_annotations = [c for c in annotation_columns if c not in data.columns]
    if missing_annotations:
        raise SchemaError(
            "annotation columns named but not in the file",
            file=path, column=missing_annotations[0], found="no such column",
        )
    id_rows = {"name": id_column, "type": "string",
               "constraints": {"required": True, "unique": duplicates == "error"}}
    checked = validate_fields(data, {"fields": [id_rows]}, table)
    ids = checked[id_column].astype(str)
    value_columns = [c for c in data.columns if c != id_column and c not in annotation_columns]
    if not value_columns:
        raise SchemaError(
            "the matrix has no value columns", file=path,
            expected="numeric columns besides the ID column",
        )
    col_what = "patient" if side == "features" else what
    block = data[value_columns]
    values = validate_numeric_block(block, rules, table=table, what=col_what)
    annotations = data[annotation_columns].copy()
    annotations.index = pd.Index(ids.to_numpy())

    if ids.duplicated().any():
        if duplicates not in ("first", "mean", "sum", "max"):
            raise InputError(f"unknown duplicates rule {duplicates!r}",
                             expected="'error', 'first', 'mean', 'sum' or 'max'")
        grouped = pd.DataFrame(values, index=ids.to_numpy()).groupby(level=0, sort=False)
        combined = getattr(grouped, duplicates)()
        annotations = annotations[~annotations.index.duplicated()].loc[combined.index]
        values = combined.to_numpy(dtype=float)
        ids = pd.Series(combined.index.astype(str))

    row_names = pd.Index(ids.to_numpy(), dtype=object)
    col_names = pd.Index([str(c) for c in value_columns], dtype=object)
    if side == "features":
        values = values.T
        var = annotations.set_axis(row_names)
        obs = pd.DataFrame(index=col_names)
        var_names, obs_names = row_names, col_names
    else:
        obs = annotations.set_axis(row_names)
        var = pd.DataFrame(index=col_names)
        var_names, obs_names = col_names, row_names
    for column in list(obs.columns) + list(var.columns):
        frame = obs if column in obs.columns else var
        if not pd.api.types.is_numeric_dtype(frame[column].dtype):
            frame[column] = pd.Categorical(frame[column])
    obs.index, var.index = obs_names, var_names
    return values, obs, var, table


def read_expression(
    path: PathLike,
    *,
    orientation: Orientation = "genes_as_rows",
    id_column: str | None = None,
    annotation_columns: Iterable[str] = (),
    counts: bool = False,
    normalization: Literal["median_of_ratios", "cpm"] = "median_of_ratios",
    duplicate_genes: Literal["error", "first", "mean", "sum", "max"] = "error",
    allow_missing: bool = False,
    sep: str | None = None,
    encoding: str | None = None,
    sheet: str | int | None = None,
) -> AnnData:
    """Read a gene expression matrix.

    Parameters
    ----------
    path
        CSV, TSV, Parquet or Excel file.
    orientation
        ``"genes_as_rows"`` (the default: one row per gene, one column per patient, as most
        expression files are) or ``"patients_as_rows"``.
    id_column
        Column holding gene IDs (genes as rows) or patient IDs (patients as rows); by
        default the first column, respectively the first patient-ID-like column.
    annotation_columns
        Non-numeric columns to keep as gene (or patient) annotations, such as a gene
        description.
    counts
        The values are raw read counts: they are checked to be non-negative and kept in
        ``layers["counts"]``; ``X`` holds log2(normalised counts + 1).
    normalization
        For counts: ``"median_of_ratios"`` (the default; DESeq2's size factors, robust to
        a few strongly expressed genes changing the library composition) or ``"cpm"``
        (counts per million). The size factors go to ``obs["size_factor"]``.
    duplicate_genes
        What to do with a gene ID that appears more than once: raise (``"error"``, the
        default) or combine the rows (``"first"``, ``"mean"``, ``"sum"``, ``"max"``).
    allow_missing
        Accept empty cells (kept as NaN). By default a missing value is an error.

    Returns
    -------
    AnnData
        Patients by genes.
    """
    override: dict = {"allowMissing": bool(allow_missing)}
    if counts:
        override.update(minimum=0, integer=True,
                        integerHint="Raw counts are whole numbers: for normalised or "
                                    "estimated values (TPM, FPKM, RSEM expected counts) "
                                    "pass counts=False")
    values, obs, var, table = _read_matrix(
        path, "expression_matrix", orientation=orientation, id_column=id_column,
        annotation_columns=annotation_columns, duplicates=duplicate_genes,
        rules_override=override, what="gene", sep=sep, encoding=encoding, sheet=sheet,
    )
    if allow_missing:
        check_all_missing(values, var.index, axis=0, file=str(path), what="gene")
    adata = AnnData(X=values, obs=obs, var=var)
    if counts:
        adata.layers["counts"] = values.copy()
        library = np.nansum(values, axis=1)
        zero = np.flatnonzero(library <= 0)
        if zero.size:
            raise SchemaError(
                "a patient has no counts at all",
                file=path,
                column=str(obs.index[zero[0]]),
                expected="a positive library size",
                found="all zero",
            )
        if normalization == "cpm":
            size_factor = library / 1e6
        elif normalization == "median_of_ratios":
            size_factor = median_of_ratios(values)
        else:
            raise InputError("unknown normalization", expected="'median_of_ratios' or 'cpm'",
                             found=normalization)
        adata.obs["size_factor"] = size_factor
        adata.X = np.log2(values / size_factor[:, None] + 1.0)
    adata.uns["radiogenomics"] = _provenance(
        path, "read_expression", modality="rna", orientation=orientation,
        values=f"log2({normalization} normalised counts + 1)" if counts else "as given",
    )
    return adata


def median_of_ratios(counts: np.ndarray) -> np.ndarray:
    """DESeq2's size factors (patients x genes counts): the median ratio of each patient's
    counts to the genes' geometric means, over genes counted in every patient.

    Genes with a zero anywhere are left out (DESeq2's default); when no gene is counted
    everywhere, geometric means over the positive counts are used (DESeq2's "poscounts").
    """
    with np.errstate(divide="ignore"):
        logs = np.log(counts)
    usable = np.isfinite(logs).all(axis=0)
    if usable.sum() >= 10:
        log_geomean = logs[:, usable].mean(axis=0)
        ratios = logs[:, usable] - log_geomean
        return np.exp(np.median(ratios, axis=1))
    positive = np.where(np.isfinite(logs), logs, 0.0)
    log_geomean = positive.sum(axis=0) / counts.shape[0]
    ratios = np.where(counts > 0, logs - log_geomean, np.nan)
    factors = np.exp(np.nanmedian(ratios, axis=1))
    return factors / np.exp(np.mean(np.log(factors)))


def read_proteomics(
    path: PathLike,
    *,
    orientation: Orientation = "features_as_rows",
    id_column: str | None = None,
    annotation_columns: Iterable[str] = (),
    duplicate_features: Literal["error", "first", "mean", "max"] = "error",
    drop_all_missing: bool = False,
    sep: str | None = None,
    encoding: str | None = None,
    sheet: str | int | None = None,
) -> AnnData:
    """Read a proteomics or phosphoproteomics matrix; missing values stay NaN.

    Parameters
    ----------
    orientation
        ``"features_as_rows"`` (default: one row per protein or phosphosite) or
        ``"patients_as_rows"``.
    annotation_columns
        Non-numeric columns kept as annotations (for example the gene of a phosphosite).
    duplicate_features
        Rule for a protein ID appearing twice (``"error"`` by default).
    drop_all_missing
        Drop proteins (and patients) with no value at all, recording them in
        ``uns["radiogenomics"]["dropped_all_missing"]``; by default they are an error.

    Returns
    -------
    AnnData
        Patients by proteins, with NaN where a protein was not quantified.
    """
    values, obs, var, _ = _read_matrix(
        path, "proteomics_matrix", orientation=orientation, id_column=id_column,
        annotation_columns=annotation_columns, duplicates=duplicate_features,
        rules_override=None, what="protein", sep=sep, encoding=encoding, sheet=sheet,
    )
    dropped: dict[str, list[str]] = {}
    if drop_all_missing:
        empty_features = np.isnan(values).all(axis=0)
        empty_patients = np.isnan(values).all(axis=1)
        dropped = {
            "features": [str(v) for v in var.index[empty_features]],
            "patients": [str(v) for v in obs.index[empty_patients]],
        }
        values = values[~empty_patients][:, ~empty_features]
        var, obs = var.loc[~empty_features], obs.loc[~empty_patients]
    hint = "Pass drop_all_missing=True to drop (and record) them"
    check_all_missing(values, var.index, axis=0, file=str(path), what="protein", hint=hint)
    check_all_missing(values, obs.index, axis=1, file=str(path), what="patient", hint=hint)
    adata = AnnData(X=values, obs=obs, var=var)
    adata.var["fraction_missing"] = np.isnan(values).mean(axis=0)
    adata.uns["radiogenomics"] = _provenance(
        path, "read_proteomics", modality="protein", orientation=orientation,
        dropped_all_missing=dropped or None,
    )
    return adata


# --------------------------------------------------------------------------- mutations


def read_mutations(
    path: PathLike,
    *,
    classes: Iterable[str] | None = None,
    samples: Iterable[str] | None = None,
    genes: Iterable[str] | None = None,
    sample_column: str = "Tumor_Sample_Barcode",
    gene_column: str = "Hugo_Symbol",
    classification_column: str = "Variant_Classification",
    sep: str | None = None,
    encoding: str | None = None,
) -> AnnData:
    """Read a MAF into a binary patients x genes matrix.

    Parameters
    ----------
    path
        MAF file (tab-separated, ``#`` comment lines allowed), or CSV/Parquet with the
        same columns.
    classes
        Variant classifications that count as a mutation. Default: the non-synonymous
        classes (``radiogenomics.io.NON_SYNONYMOUS``).
    samples
        All sequenced samples. A sequenced sample without any counted mutation gets 0
        everywhere; a sample that was not sequenced is absent (never 0). By default the
        sequenced samples are those appearing in the MAF with any classification.
    genes
        Genes to report (columns of 0 when never mutated); by default every gene with a
        counted mutation.

    Returns
    -------
    AnnData
        ``X`` is 1 where the sample has at least one counted mutation in the gene;
        ``layers["n_variants"]`` counts them; ``var["n_mutated"]`` counts samples.
        ``uns["variants"]`` keeps the counted variants, one row each, with the MAF's
        columns that describe them when present (``Variant_Type``, ``HGVSp_Short``,
        ``HGVSc``, ``t_alt_count``, ``t_ref_count``, ...) and ``vaf``, the variant allele
        fraction ``t_alt_count / (t_alt_count + t_ref_count)``.
    """
    schema = load_schema("mutations_maf")
    allowed_classes = set(next(f for f in schema["fields"]
                               if f["name"] == "Variant_Classification")["constraints"]["enum"])
    if classes is None:
        classes = NON_SYNONYMOUS
    classes = list(classes)
    unknown = [c for c in classes if c not in allowed_classes]
    if unknown:
        raise InputError(
            "unknown variant classification in classes",
            expected=f"MAF classes such as {sorted(allowed_classes)[:6]}",
            found=unknown,
        )
    text_sep = sep
    if text_sep is None and Path(path).suffix.lower() in (".maf", ".txt", ".tsv"):
        text_sep = "\t"
    table = read_table(
        path, sep=text_sep, encoding=encoding, comment_prefix="#",
        string_columns=[sample_column, gene_column, classification_column],
        missing_values=schema["missingValues"],
    )
    renames = {sample_column: "Tumor_Sample_Barcode", gene_column: "Hugo_Symbol",
               classification_column: "Variant_Classification"}
    renames = {k: v for k, v in renames.items() if k != v and k in table.data.columns}
    frame = validate_fields(table.data.rename(columns=renames), schema, table)
    sequenced = pd.unique(frame["Tumor_Sample_Barcode"].astype(str))
    if samples is not None:
        samples = [str(s) for s in samples]
        outside = sorted(set(sequenced) - set(samples))
        if outside:
            raise InputError(
                f"{len(outside)} sample(s) in the MAF are not among the sequenced samples given",
                file=path, column="Tumor_Sample_Barcode",
                expected="every MAF sample listed in samples", found=outside[:5],
            )
        sequenced = pd.unique(np.asarray(samples, dtype=object))
    kept = frame[frame["Variant_Classification"].isin(classes)]
    gene_list = list(pd.unique(kept["Hugo_Symbol"])) if genes is None else list(genes)
    counts = (
        kept[kept["Hugo_Symbol"].isin(gene_list)]
        .groupby(["Tumor_Sample_Barcode", "Hugo_Symbol"]).size()
        .unstack(fill_value=0)
        .reindex(index=sequenced, columns=gene_list, fill_value=0)
    )
    n_variants = counts.to_numpy(dtype=np.float32)
    adata = AnnData(
        X=(n_variants > 0).astype(np.float32),
        obs=pd.DataFrame(index=pd.Index([str(s) for s in sequenced])),
        var=pd.DataFrame(index=pd.Index([str(g) for g in gene_list])),
    )
    adata.layers["n_variants"] = n_variants
    adata.var["n_mutated"] = (n_variants > 0).sum(axis=0).astype(np.int64)
    adata.uns["variants"] = _variant_rows(kept[kept["Hugo_Symbol"].isin(gene_list)])
    adata.uns["radiogenomics"] = _provenance(
        path, "read_mutations", modality="mutation", classes=classes,
        n_variants_read=int(frame.shape[0]), n_variants_counted=int(kept.shape[0]),
    )
    return adata


#: MAF columns kept with each counted variant (when the file has them).
VARIANT_COLUMNS = ["Tumor_Sample_Barcode", "Hugo_Symbol", "Variant_Classification",
                   "Variant_Type", "HGVSp_Short", "HGVSp", "HGVSc", "Protein_Change",
                   "Chromosome", "Start_Position", "Reference_Allele", "Tumor_Seq_Allele2",
                   "t_alt_count", "t_ref_count", "t_depth"]


def _variant_rows(kept: pd.DataFrame) -> pd.DataFrame:
    """The counted variants with their describing columns and allele fraction, as plain
    text and numbers (so that they are written to and read from a cohort file as they are)."""
    columns = [c for c in VARIANT_COLUMNS if c in kept.columns]
    out = kept[columns].reset_index(drop=True).copy()
    for column in out.columns:
        if column in ("t_alt_count", "t_ref_count", "t_depth", "Start_Position"):
            out[column] = pd.to_numeric(out[column], errors="coerce").astype(float)
        else:
            out[column] = out[column].astype(object).where(out[column].notna(), "").astype(str)
    if "t_alt_count" in out and ("t_ref_count" in out or "t_depth" in out):
        depth = out["t_depth"] if "t_depth" in out else out["t_alt_count"] + out["t_ref_count"]
        with np.errstate(divide="ignore", invalid="ignore"):
            out["vaf"] = np.where(depth > 0, out["t_alt_count"] / depth, np.nan)
    return out


# --------------------------------------------------------------------------- clinical


def _as_list(value: str | Iterable[str] | None) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    return list(value)


def read_clinical(
    path: PathLike,
    *,
    id_column: str | None = None,
    time: str | Iterable[str] | None = None,
    event: str | Iterable[str] | None = None,
    event_map: Mapping[str, int] | None = None,
    categorical: Iterable[str] = (),
    ordered: Mapping[str, Sequence[str]] | None = None,
    sep: str | None = None,
    encoding: str | None = None,
    sheet: str | int | None = None,
) -> pd.DataFrame:
    """Read a clinical table, one row per patient.

    Parameters
    ----------
    id_column
        Column of patient IDs (default: ``patient_id`` or a usual alias such as ``ID``).
    time
        Survival or follow-up time column(s): numbers, non-negative; missing allowed.
    event
        Event indicator column(s): 0/1 (or true/false), or the keys of ``event_map``.
    event_map
        Mapping of event codes to 0/1, for example ``{"Dead": 1, "Alive": 0}``.
    categorical
        Columns to treat as categories even if they look numeric (a site code).
    ordered
        Ordered categories with their order, e.g. ``{"stage": ["I", "II", "III", "IV"]}``.

    Returns
    -------
    pandas.DataFrame
        Indexed by patient ID (strings, named ``patient_id``); numeric columns as numbers,
        text columns as categoricals, events as integers 0/1.
    """
    schema = load_schema("clinical")
    ordered = dict(ordered or {})
    categorical = list(categorical) + [c for c in ordered if c not in categorical]
    strings = _aliases(schema, "patient_id") + [c for c in [id_column] if c] + categorical
    table = read_table(
        path, sep=sep, encoding=encoding, sheet=sheet, string_columns=strings,
        missing_values=schema["missingValues"],
    )
    renames = resolve_aliases(table.data.columns, schema, {"patient_id": id_column})
    frame = table.data.rename(columns=renames)
    time_cols, event_cols = _as_list(time), _as_list(event)
    extra_fields = []
    for name in time_cols:
        extra_fields.append({"name": name, "type": "number",
                             "constraints": {"required": False, "minimum": 0}})
    for name in [*time_cols, *event_cols, *categorical]:
        if name not in frame.columns:
            raise SchemaError(
                "a column named in the call is not in the file",
                file=path, column=name, expected=f"a column {name!r}",
                found=f"columns {list(frame.columns)[:10]}",
            )
    checked = validate_fields(frame, {**schema, "fields": schema["fields"] + extra_fields}, table)
    special = {"patient_id", *event_cols, *categorical}
    numeric = [c for c, dtype in checked.dtypes.items() if c not in special
               and pd.api.types.is_numeric_dtype(dtype) and not pd.api.types.is_bool_dtype(dtype)]
    _check_finite(checked, numeric, table)
    plain = set(numeric)
    columns: dict[str, object] = {}
    for column in checked.columns:  # the few columns that are not plain numbers
        if column == "patient_id" or column in plain:
            continue
        values = checked[column]
        if column in event_cols:
            columns[column] = _events(values, column, event_map, table)
        elif column in ordered:
            columns[column] = _ordered(values, column, ordered[column], table)
        elif column in categorical:
            columns[column] = pd.Categorical(values.map(lambda v: v if pd.isna(v) else str(v)))
        elif pd.api.types.is_bool_dtype(values.dtype):
            columns[column] = values.to_numpy()
        else:
            columns[column] = _text_or_numbers(values, column, table)
    for column in [*time_cols, *event_cols]:
        if pd.isna(checked[column]).all():
            raise SchemaError(
                f"the {'time' if column in time_cols else 'event'} column has no value at all",
                file=path, column=column, expected="a value for at least one patient",
                found="only missing values",
            )
    index = pd.Index(checked["patient_id"].astype(str), name="patient_id")
    parts = [checked[numeric].set_axis(index)] if numeric else []
    if columns:
        parts.append(pd.DataFrame(columns, index=index))
    order = [c for c in checked.columns if c != "patient_id"]
    out = pd.concat(parts, axis=1)[order] if parts else pd.DataFrame(index=index)
    for column in time_cols:
        out[column] = out[column].astype(float)
    out.attrs["radiogenomics"] = _provenance(
        path, "read_clinical", time=time_cols or None, event=event_cols or None,
        event_map=dict(event_map) if event_map else None,
    )
    return out


def _check_finite(frame: pd.DataFrame, columns: list[str], table: Table) -> None:
    """Raise at the first infinite value among the numeric ``columns`` (checked as one block)."""
    if not columns:
        return
    block = frame[columns].to_numpy(dtype=float, na_value=np.nan)
    infinite = np.isinf(block)
    if infinite.any():
        i, j = np.argwhere(infinite)[0]
        raise SchemaError("an infinite value", file=table.path, row=table.line(int(i)),
                          column=columns[j], expected="a finite number", found=block[i, j])


def _text_or_numbers(values: pd.Series, column: str, table: Table):
    """A text column as categories, or as numbers when every value is one.

    A column whose values are mostly numbers but hold a few that are not (``abc``, ``.``,
    a decimal comma such as ``51,5``) is an error at the first such cell: reading it as
    categories would silently turn a measurement into labels.
    """
    present = values.notna().to_numpy()
    numeric = pd.to_numeric(values, errors="coerce")
    parsed = numeric.notna().to_numpy()
    if present.any() and (parsed == present).all():
        infinite = np.isinf(numeric.to_numpy(dtype=float))
        if infinite.any():
            pos = int(np.flatnonzero(infinite)[0])
            raise SchemaError("an infinite value", file=table.path, row=table.line(pos),
                              column=column, expected="a finite number", found=values.iloc[pos])
        return numeric.to_numpy()
    n_numbers = int(parsed.sum())
    if n_numbers and n_numbers >= (int(present.sum()) - n_numbers):
        pos = int(np.flatnonzero(present & ~parsed)[0])
        found = values.iloc[pos]
        text = str(found).strip()
        if re.fullmatch(r"[-+]?\d+,\d+", text):
            hint = "A decimal comma? Write numbers with a decimal point (51.5)"
        elif text in (".", "-", "?", "*", "n/a", "N/A", "NULL", "null", "none", "None"):
            hint = (f"If {text!r} means missing, leave the cell empty or write NA; if the "
                    f"column holds labels, pass categorical=[{column!r}]")
        else:
            hint = (f"Fix the value, leave the cell empty (missing), or pass "
                    f"categorical=[{column!r}] to read the column as labels")
        raise SchemaError(
            f"value is not a number, while {n_numbers} of the column's "
            f"{int(present.sum())} values are numbers",
            file=table.path, row=table.line(pos), column=column, expected="a number",
            found=found, hint=hint,
        )
    return pd.Categorical(values.map(lambda v: v if pd.isna(v) else str(v)))


def _events(values: pd.Series, column: str, event_map, table: Table) -> np.ndarray:
    if event_map is not None:
        mapping = {str(k).strip(): int(v) for k, v in event_map.items()}
        bad_codes = [v for v in mapping.values() if v not in (0, 1)]
        if bad_codes:
            raise InputError("event_map must map to 0 or 1", found=bad_codes)
        keys = values.map(lambda v: v if pd.isna(v) else _event_key(v))
        mapped = keys.map(lambda v: mapping.get(v, -1) if not pd.isna(v) else np.nan)
        expected = f"one of {sorted(mapping)} (the event_map)"
    else:
        def to01(v):
            if pd.isna(v):
                return np.nan
            key = _event_key(v).lower()
            return {"0": 0, "1": 1, "true": 1, "false": 0}.get(key, -1)

        mapped = values.map(to01)
        expected = "0 or 1 (or pass event_map, e.g. {'Dead': 1, 'Alive': 0})"
    bad = (mapped == -1).to_numpy()
    if bad.any():
        pos = int(np.flatnonzero(bad)[0])
        raise SchemaError(
            "event value outside the stated coding",
            file=table.path, row=table.line(pos), column=column,
            expected=expected, found=values.iloc[pos],
        )
    arr = mapped.to_numpy(dtype=float)
    if np.isnan(arr).any():
        return pd.array([None if np.isnan(a) else int(a) for a in arr], dtype="Int64")
    return arr.astype(np.int64)


def _event_key(value) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


def _ordered(values: pd.Series, column: str, order: Sequence[str], table: Table) -> pd.Categorical:
    strings = values.map(lambda v: v if pd.isna(v) else str(v).strip())
    order = [str(o) for o in order]
    bad = strings.notna().to_numpy() & ~strings.isin(order).to_numpy()
    if bad.any():
        pos = int(np.flatnonzero(bad)[0])
        raise SchemaError(
            "value not among the stated ordered categories",
            file=table.path, row=table.line(pos), column=column,
            expected=f"one of {order}", found=values.iloc[pos],
        )
    return pd.Categorical(strings, categories=order, ordered=True)


# --------------------------------------------------------------------------- manifest


def read_manifest(
    manifest: PathLike | pd.DataFrame,
    *,
    base_dir: PathLike | None = None,
    sep: str | None = None,
    encoding: str | None = None,
) -> pd.DataFrame:
    """Read and validate an image manifest.

    Parameters
    ----------
    manifest
        File (CSV/TSV/Parquet/Excel) or DataFrame with columns ``patient_id``, ``image``,
        ``mask`` and optionally ``label``, ``lesion_id``, ``roi`` and ``series_uid``
        (pyradiomics' ``Image``/``Mask`` names are accepted too).
    base_dir
        Folder that relative paths are relative to; by default the manifest's folder
        (the working directory for a DataFrame).

    Returns
    -------
    pandas.DataFrame
        One row per case with absolute ``image`` and ``mask`` paths, ``label`` (default 1)
        and ``lesion_id`` (may be missing), plus any extra columns.
    """
    schema = load_schema("image_manifest")
    strings = _aliases(schema, "patient_id") + _aliases(schema, "lesion_id")
    strings += _aliases(schema, "image") + _aliases(schema, "mask")
    strings += _aliases(schema, "roi") + _aliases(schema, "series_uid")
    if isinstance(manifest, pd.DataFrame):
        table = None
        data = manifest.reset_index(drop=True).copy()
        base = Path(base_dir) if base_dir is not None else Path.cwd()
    else:
        table = read_table(manifest, sep=sep, encoding=encoding, string_columns=strings)
        data = table.data
        base = Path(base_dir) if base_dir is not None else Path(manifest).resolve().parent
    renames = resolve_aliases(data.columns, schema)
    frame = validate_fields(data.rename(columns=renames), schema, table)
    if "label" not in frame:
        frame["label"] = 1
    frame["label"] = frame["label"].fillna(1).astype(int)
    if "lesion_id" not in frame:
        frame["lesion_id"] = None
    base_text = os.path.abspath(base)
    for column in ("image", "mask"):  # absolute paths (symbolic links are kept as given)
        frame[column] = [os.path.normpath(os.path.join(base_text, p)) for p in frame[column]]
    frame["patient_id"] = frame["patient_id"].astype(str)
    return frame
