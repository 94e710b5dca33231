"""Readers for every input kind, each enforcing its schema in ``data_schemas/``."""

from .dicom import (
    DicomScan,
    conversion_report,
    read_dicom_series,
    read_rtstruct,
    read_seg,
    scan_dicom,
)
from .genesets import read_gmt
from .readers import (
    NON_SYNONYMOUS,
    feature_var,
    parse_feature_name,
    read_clinical,
    read_expression,
    read_manifest,
    read_mutations,
    read_proteomics,
    read_radiomics,
)
from .schema import load_schema, schema_names, validate_frame
from .tables import read_table

__all__ = [
    "DicomScan",
    "NON_SYNONYMOUS",
    "conversion_report",
    "feature_var",
    "load_schema",
    "parse_feature_name",
    "read_clinical",
    "read_dicom_series",
    "read_expression",
    "read_gmt",
    "read_manifest",
    "read_mutations",
    "read_proteomics",
    "read_radiomics",
    "read_rtstruct",
    "read_seg",
    "read_table",
    "scan_dicom",
    "schema_names",
    "validate_frame",
]
