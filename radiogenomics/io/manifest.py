"""The image manifest reader: one row per image and mask, paths resolved and checked
against the manifest schema."""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd

from ._common import PathLike, _aliases
from .schema import (
    load_schema,
    resolve_aliases,
    validate_fields,
)
from .tables import read_table


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

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> import pandas as pd
    >>> import radiogenomics as rg
    >>> manifest = pd.DataFrame(
    ...     {
    ...         "patient_id": ["P1", "P2"],
    ...         "Image": ["images/P1_ct.nii.gz", "images/P2_ct.nii.gz"],
    ...         "Mask": ["images/P1_seg.nii.gz", "images/P2_seg.nii.gz"],
    ...     }
    ... )
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     manifest.to_csv(Path(folder) / "manifest.csv", index=False)
    ...     cases = rg.io.read_manifest(Path(folder) / "manifest.csv")
    ...     inside = all(Path(p).parent.parent == Path(folder).resolve() for p in cases["image"])
    >>> cases.columns.tolist()
    ['patient_id', 'image', 'mask', 'label', 'lesion_id']
    >>> inside, [Path(p).name for p in cases["mask"]], cases["label"].tolist()
    (True, ['P1_seg.nii.gz', 'P2_seg.nii.gz'], [1, 1])
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
