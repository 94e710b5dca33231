"""Readers of radiomic feature tables, expression and proteomics matrices, each enforcing
its schema in ``data_schemas/``. The readers of clinical tables (:mod:`.clinical`), MAFs
(:mod:`.mutations`) and image manifests (:mod:`.manifest`) live beside them and are
re-exported here."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from typing import Literal

import numpy as np
import pandas as pd
from anndata import AnnData

from ..errors import InputError, SchemaError
from ._common import PathLike, _aliases, _provenance
from .annotations import annotate_radiomics_var, extraction_flags
from .clinical import read_clinical
from .manifest import read_manifest
from .mutations import NON_SYNONYMOUS, read_mutations
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


Orientation = Literal["features_as_rows", "genes_as_rows", "patients_as_rows"]


_FEATURE_PATTERN = re.compile(load_schema("radiomic_features")["x-radiogenomics"]["featurePattern"])


def parse_feature_name(name: str) -> tuple[str, str, str]:
    """Split a pyradiomics feature name into (image_type, feature_class, feature).

    ``original_glcm_Contrast`` gives ``("original", "glcm", "Contrast")`` and
    ``wavelet-LLH_firstorder_Mean`` gives ``("wavelet-LLH", "firstorder", "Mean")``. Names
    that do not follow the pyradiomics pattern give ``("unknown", "unknown", name)``.

    Examples
    --------
    >>> import radiogenomics as rg
    >>> rg.io.parse_feature_name("original_glcm_Contrast")
    ('original', 'glcm', 'Contrast')
    >>> rg.io.parse_feature_name("wavelet-LLH_firstorder_Mean")
    ('wavelet-LLH', 'firstorder', 'Mean')
    >>> rg.io.parse_feature_name("tumour_volume")
    ('unknown', 'unknown', 'tumour_volume')
    """
    match = _FEATURE_PATTERN.match(name)
    if match is None:
        return "unknown", "unknown", name
    return match["image_type"], match["feature_class"], match["feature"]


def feature_var(names: Sequence[str]) -> pd.DataFrame:
    """The radiomics ``var`` table (image_type, feature_class, feature) for feature names.

    Examples
    --------
    >>> import radiogenomics as rg
    >>> var = rg.io.feature_var(
    ...     ["original_shape_Sphericity", "log-sigma-1-0-mm-3D_glszm_ZonePercentage"]
    ... )
    >>> var.columns.tolist()
    ['image_type', 'feature_class', 'feature']
    >>> var.values.tolist()
    [['original', 'shape', 'Sphericity'], ['log-sigma-1-0-mm-3D', 'glszm', 'ZonePercentage']]
    >>> str(var["feature_class"].dtype)
    'category'
    """
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
                [v if pd.isna(v) else str(v) for v in values.to_numpy(dtype=object)]
            )
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

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> import pandas as pd
    >>> import radiogenomics as rg
    >>> batch = pd.DataFrame(
    ...     {
    ...         "Patient": ["P1", "P2", "P3"],
    ...         "diagnostics_Versions_PyRadiomics": ["v3.1.0"] * 3,
    ...         "original_shape_VoxelVolume": [5230.0, 812.5, 20411.0],
    ...         "original_firstorder_Mean": [41.2, 18.9, 55.0],
    ...         "original_glcm_Contrast": [3.1, 7.4, 1.9],
    ...     }
    ... )
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     batch.to_csv(Path(folder) / "features.csv", index=False)
    ...     adata = rg.io.read_radiomics(Path(folder) / "features.csv", modality="CT")
    >>> adata.shape, adata.obs_names.tolist()
    ((3, 3), ['P1', 'P2', 'P3'])
    >>> adata.var[["feature_class", "ibsi_tag", "unit"]].values.tolist()
    [['shape', 'morph_vol_approx', 'mm³'], ['firstorder', 'stat_mean', 'HU'],
     ['glcm', 'cm_contrast_3D_avg', '']]
    >>> adata.uns["radiogenomics"]["diagnostics"]
    {'diagnostics_Versions_PyRadiomics': 'v3.1.0'}
    """
    schema = load_schema("radiomic_features")
    strings = _aliases(schema, "patient_id") + _aliases(schema, "lesion_id")
    strings += [c for c in (id_column, lesion_column) if c]
    table = read_table(path, sep=sep, encoding=encoding, sheet=sheet, string_columns=strings)
    renames = resolve_aliases(
        table.data.columns, schema, {"patient_id": id_column, "lesion_id": lesion_column}
    )
    frame = validate_fields(table.data.rename(columns=renames), schema, table)
    return radiomics_anndata(
        frame,
        source=path,
        table=table,
        obs_columns=obs_columns,
        reader="read_radiomics",
        modality=modality,
    )


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
        values,
        features.columns,
        axis=0,
        file=str(path),
        what="feature",
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
    annotate_radiomics_var(
        adata.var,
        modality=modality,
        **extraction_flags((constants or {}).get("diagnostics_Configuration_Settings")),
    )
    adata.uns["radiogenomics"] = _provenance(
        path, reader, modality="radiomics", diagnostics=constants or None
    )
    return adata


def _normalise_orientation(orientation: str, parameter: str = "orientation") -> str:
    allowed = {
        "features_as_rows": "features",
        "genes_as_rows": "features",
        "proteins_as_rows": "features",
        "patients_as_rows": "patients",
        "samples_as_rows": "patients",
    }
    if orientation not in allowed:
        raise InputError(
            f"unknown {parameter}",
            expected="'genes_as_rows' (features as rows) or 'patients_as_rows'",
            found=orientation,
        )
    return allowed[orientation]


def _matrix_id_column(
    data: pd.DataFrame,
    id_column: str | None,
    side: str,
    patient_aliases: list[str],
    annotation_columns: list[str],
    path: PathLike,
) -> str:
    """The ID column of a matrix (given or found); refuse missing ID or annotation columns."""
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
            file=path,
            column=missing_annotations[0],
            found="no such column",
        )
    return id_column


def _combine_duplicates(
    values: np.ndarray, ids: pd.Series, annotations: pd.DataFrame, duplicates: str
) -> tuple[np.ndarray, pd.Series, pd.DataFrame]:
    """Rows of the same ID combined by the ``duplicates`` rule (when there are any)."""
    if not ids.duplicated().any():
        return values, ids, annotations
    if duplicates not in ("first", "mean", "sum", "max"):
        raise InputError(
            f"unknown duplicates rule {duplicates!r}",
            expected="'error', 'first', 'mean', 'sum' or 'max'",
        )
    grouped = pd.DataFrame(values, index=ids.to_numpy()).groupby(level=0, sort=False)
    combined = getattr(grouped, duplicates)()
    annotations = annotations[~annotations.index.duplicated()].loc[combined.index]
    values = combined.to_numpy(dtype=float)
    ids = pd.Series(combined.index.astype(str))
    return values, ids, annotations


def _matrix_axes(
    values: np.ndarray,
    ids: pd.Series,
    value_columns: list,
    annotations: pd.DataFrame,
    side: str,
) -> tuple[np.ndarray, pd.DataFrame, pd.DataFrame]:
    """Values as patients x features with their obs and var (text annotations categorical)."""
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
    return values, obs, var


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
        path,
        sep=sep,
        encoding=encoding,
        sheet=sheet,
        string_columns=strings,
        first_column_string=id_column is None,
    )
    data = table.data
    id_column = _matrix_id_column(data, id_column, side, patient_aliases, annotation_columns, path)
    id_rows = {
        "name": id_column,
        "type": "string",
        "constraints": {"required": True, "unique": duplicates == "error"},
    }
    checked = validate_fields(data, {"fields": [id_rows]}, table)
    ids = checked[id_column].astype(str)
    value_columns = [c for c in data.columns if c != id_column and c not in annotation_columns]
    if not value_columns:
        raise SchemaError(
            "the matrix has no value columns",
            file=path,
            expected="numeric columns besides the ID column",
        )
    col_what = "patient" if side == "features" else what
    block = data[value_columns]
    values = validate_numeric_block(block, rules, table=table, what=col_what)
    annotations = data[annotation_columns].copy()
    annotations.index = pd.Index(ids.to_numpy())
    values, ids, annotations = _combine_duplicates(values, ids, annotations, duplicates)
    values, obs, var = _matrix_axes(values, ids, value_columns, annotations, side)
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

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> import pandas as pd
    >>> import radiogenomics as rg
    >>> counts = pd.DataFrame(
    ...     {
    ...         "gene": ["EGFR", "KRAS", "TP53", "MYC"],
    ...         "P1": [120, 30, 0, 400],
    ...         "P2": [80, 45, 12, 150],
    ...         "P3": [300, 10, 5, 90],
    ...     }
    ... )
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     counts.to_csv(Path(folder) / "counts.tsv", sep="\\t", index=False)
    ...     rna = rg.io.read_expression(Path(folder) / "counts.tsv", counts=True)
    >>> rna.shape, rna.obs_names.tolist(), rna.var_names.tolist()
    ((3, 4), ['P1', 'P2', 'P3'], ['EGFR', 'KRAS', 'TP53', 'MYC'])
    >>> rna.layers["counts"][0].tolist()  # raw counts kept; X is log2(normalised + 1)
    [120.0, 30.0, 0.0, 400.0]
    >>> rna.obs["size_factor"].round(3).tolist()
    [1.155, 1.166, 0.742]
    >>> rna.X.round(2)[0].tolist()
    [6.71, 4.75, 0.0, 8.44]
    """
    override: dict = {"allowMissing": bool(allow_missing)}
    if counts:
        override.update(
            minimum=0,
            integer=True,
            integerHint="Raw counts are whole numbers: for normalised or "
            "estimated values (TPM, FPKM, RSEM expected counts) "
            "pass counts=False",
        )
    values, obs, var, table = _read_matrix(
        path,
        "expression_matrix",
        orientation=orientation,
        id_column=id_column,
        annotation_columns=annotation_columns,
        duplicates=duplicate_genes,
        rules_override=override,
        what="gene",
        sep=sep,
        encoding=encoding,
        sheet=sheet,
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
            raise InputError(
                "unknown normalization", expected="'median_of_ratios' or 'cpm'", found=normalization
            )
        adata.obs["size_factor"] = size_factor
        adata.X = np.log2(values / size_factor[:, None] + 1.0)
    adata.uns["radiogenomics"] = _provenance(
        path,
        "read_expression",
        modality="rna",
        orientation=orientation,
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

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> import pandas as pd
    >>> import radiogenomics as rg
    >>> matrix = pd.DataFrame(
    ...     {
    ...         "protein": ["EGFR", "KRAS", "TP53"],
    ...         "P1": [1.2, None, 0.4],
    ...         "P2": [0.8, -0.3, None],
    ...         "P3": [None, 0.1, 0.9],
    ...     }
    ... )
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     matrix.to_csv(Path(folder) / "proteins.csv", index=False)
    ...     protein = rg.io.read_proteomics(Path(folder) / "proteins.csv")
    >>> protein.shape, protein.var_names.tolist()
    ((3, 3), ['EGFR', 'KRAS', 'TP53'])
    >>> protein.X[:, 0].tolist()  # EGFR in P1, P2, P3
    [1.2, 0.8, nan]
    >>> protein.var["fraction_missing"].round(2).tolist()
    [0.33, 0.33, 0.33]
    """
    values, obs, var, _ = _read_matrix(
        path,
        "proteomics_matrix",
        orientation=orientation,
        id_column=id_column,
        annotation_columns=annotation_columns,
        duplicates=duplicate_features,
        rules_override=None,
        what="protein",
        sep=sep,
        encoding=encoding,
        sheet=sheet,
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
        path,
        "read_proteomics",
        modality="protein",
        orientation=orientation,
        dropped_all_missing=dropped or None,
    )
    return adata
