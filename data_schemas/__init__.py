"""Schemas of every table radiogenomics reads and writes.

Each ``<name>.json`` file in this folder is a Frictionless Table Schema
(https://specs.frictionlessdata.io/table-schema/) with a few documented
``x-radiogenomics`` extensions for wide matrices. The library reads them at run time
(``radiogenomics.io.schema``); other languages can read them as plain JSON.
"""

from pathlib import Path

SCHEMA_DIR = Path(__file__).resolve().parent


def schema_path(name: str) -> Path:
    """Path of the schema file ``<name>.json``."""
    return SCHEMA_DIR / f"{name}.json"
