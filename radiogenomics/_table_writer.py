"""Writing result tables with a provenance sidecar (``<path>.meta.json``), atomically.

The format follows the suffix: ``.csv``, ``.tsv``/``.txt``, ``.parquet``, ``.xlsx``. The
table is written to a temporary file in the target folder and renamed into place, the
sidecar likewise, so that a reader never sees half a file. An optional schema name from
``data_schemas/`` validates the table first.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import tempfile
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .errors import InputError

__all__ = ["write_table", "FORMATS", "file_digest"]

FORMATS = {".csv": "csv", ".tsv": "tsv", ".txt": "tsv", ".parquet": "parquet",
           ".xlsx": "xlsx"}


def file_digest(path: str | os.PathLike, chunk: int = 1 << 20) -> str:
    """SHA-256 of a file, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def _jsonable(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set)):
        return [_jsonable(v) for v in value]
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (np.floating,)):
        return None if not np.isfinite(value) else float(value)
    if isinstance(value, float) and not np.isfinite(value):
        return None
    if isinstance(value, (np.bool_,)):
        return bool(value)
    if isinstance(value, Path):
        return str(value)
    return value


def _write(table: pd.DataFrame, path: Path, kind: str) -> None:
    frame = table.copy()
    for column in frame.columns:  # categoricals as plain text in every format
        if isinstance(frame[column].dtype, pd.CategoricalDtype):
            frame[column] = frame[column].astype(object).where(frame[column].notna(), None)
    if kind == "csv":
        frame.to_csv(path, index=False)
    elif kind == "tsv":
        frame.to_csv(path, index=False, sep="\t")
    elif kind == "parquet":
        frame.to_parquet(path, index=False)
    else:
        frame.to_excel(path, index=False, engine="openpyxl")


def _default_mode() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return 0o666 & ~mask


def write_table(
    table: pd.DataFrame,
    path: str | os.PathLike,
    *,
    provenance: Mapping[str, Any] | None = None,
    schema: str | None = None,
) -> Path:
    """Write ``table`` to ``path`` and its provenance to ``<path>.meta.json``.

    Parameters
    ----------
    table
        The result table.
    path
        Target file; the suffix chooses the format (csv, tsv, txt, parquet, xlsx).
    provenance
        What produced the table (function, parameters, input files...), stored in the
        sidecar with the package version, the time and the table's shape.
    schema
        Name of a schema in ``data_schemas/`` to validate the table against first.

    Returns
    -------
    pathlib.Path
        The path written.
    """
    from . import __version__

    path = Path(path)
    kind = FORMATS.get(path.suffix.lower())
    if kind is None:
        raise InputError("unknown table format", file=path,
                         expected=f"a file ending in one of {sorted(FORMATS)}",
                         found=path.suffix or "no suffix")
    if schema is not None:
        from .io.schema import validate_frame

        validate_frame(table, schema, file=str(path))
    path.parent.mkdir(parents=True, exist_ok=True)
    meta = {
        "file": path.name,
        "format": kind,
        "schema": schema,
        "n_rows": int(len(table)),
        "columns": [str(c) for c in table.columns],
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "radiogenomics_version": __version__,
        "python": platform.python_version(),
        "numpy": np.__version__,
        "pandas": pd.__version__,
        **(dict(provenance) if provenance else {}),
    }
    sidecar = path.with_name(path.name + ".meta.json")
    written = []
    try:
        for target, writer in (
            (path, lambda tmp: _write(table, tmp, kind)),
            (sidecar, lambda tmp: tmp.write_text(json.dumps(_jsonable(meta), indent=2),
                                                 encoding="utf-8")),
        ):
            fd, name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=target.suffix,
                                        dir=target.parent)
            os.close(fd)
            tmp = Path(name)
            written.append(tmp)
            writer(tmp)
            os.chmod(tmp, _default_mode())  # as a plain open() would create it
        os.replace(written[0], path)
        os.replace(written[1], sidecar)
    finally:
        for tmp in written:
            if tmp.exists():
                tmp.unlink()
    return path
