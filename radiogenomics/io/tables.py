"""Reading tabular files (CSV, TSV, Parquet, Excel) with errors that name the file and line."""

from __future__ import annotations

import bz2
import csv
import io
import lzma
import os
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import InputError

__all__ = ["Table", "read_table", "read_text", "table_format"]

_TEXT_SEPARATORS = {
    ".csv": ",",
    ".tsv": "\t",
    ".tab": "\t",
    ".txt": "\t",
    ".maf": "\t",
}


@dataclass
class Table:
    """A table read from a file, with what is needed to point back into the file.

    Attributes
    ----------
    data
        All cells, as read. Columns listed in ``string_columns`` hold strings.
    path
        The file it came from.
    first_line
        File line number of ``data``'s first row (1-based; the header is the line above),
        or ``None`` for formats without lines (Parquet).
    """

    data: pd.DataFrame
    path: Path
    first_line: int | None
    row_lines: list[int] | None = None

    def line(self, position: int) -> int | str:
        """Location of row ``position`` (0-based) in the file: a line number, else a record label."""
        if self.row_lines is not None:
            return self.row_lines[int(position)]
        if self.first_line is None:
            return f"record {int(position) + 1}"
        return self.first_line + int(position)


def table_format(path: str | os.PathLike) -> str:
    """'csv', 'tsv', 'parquet' or 'excel' from the file name (compression suffixes allowed)."""
    name = Path(path).name.lower()
    for compression in (".gz", ".bz2", ".xz", ".zip"):
        if name.endswith(compression):
            name = name[: -len(compression)]
    suffix = Path(name).suffix
    if suffix in (".parquet", ".pq"):
        return "parquet"
    if suffix in (".xlsx", ".xlsm", ".xls"):
        return "excel"
    if suffix in _TEXT_SEPARATORS:
        return "csv" if _TEXT_SEPARATORS[suffix] == "," else "tsv"
    raise InputError(
        "cannot tell the table format from the file name",
        file=path,
        expected="a .csv, .tsv, .txt, .maf, .parquet or .xlsx file (optionally .gz)",
        found=suffix or "no suffix",
    )


def _decompress(path: Path, data: bytes, kind: str) -> bytes:
    """Decompress whole streams, refusing truncated or corrupt data (never a silent prefix)."""
    out = []
    try:
        while data:
            if kind == "gz":
                engine = zlib.decompressobj(wbits=31)
            elif kind == "bz2":
                engine = bz2.BZ2Decompressor()
            else:
                engine = lzma.LZMADecompressor()
            out.append(engine.decompress(data))
            if not engine.eof:
                raise EOFError("the compressed stream ends early")
            data = engine.unused_data.lstrip(b"\x00")
    except (EOFError, OSError, zlib.error, lzma.LZMAError, ValueError) as exc:
        raise InputError(
            f"the {kind} file is truncated or corrupt",
            file=path,
            expected=f"a complete {kind} stream",
            found=str(exc) or type(exc).__name__,
            hint="Copy or download the file again",
        ) from None
    return b"".join(out)


def _read_bytes(path: Path) -> bytes:
    name = path.name.lower()
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise InputError(
            "cannot read the file", file=path, found=exc.strerror or str(exc)
        ) from None
    for suffix, kind in ((".gz", "gz"), (".bz2", "bz2"), (".xz", "xz")):
        if name.endswith(suffix):
            return _decompress(path, raw, kind)
    return raw


_BOM = "\ufeff"
_WIDE = 500  # columns: above this, string columns are parsed apart (see read_table)

# first bytes of file kinds that are often saved under a table's name by mistake
_SIGNATURES: tuple[tuple[bytes, str, str], ...] = (
    (
        b"PK\x03\x04",
        "an Excel workbook (.xlsx) or another zip archive",
        "Rename it to .xlsx to read its first sheet, or export the sheet as CSV",
    ),
    (b"\xd0\xcf\x11\xe0", "an old Excel workbook (.xls)", "Rename it to .xls, or save it as CSV"),
    (b"\x1f\x8b", "gzip-compressed data", "Add .gz to its name (for example table.csv.gz)"),
    (b"\xfd7zXZ", "xz-compressed data", "Add .xz to its name"),
    (b"%PDF", "a PDF document", "Export the table itself as CSV"),
    (
        b"\x89HDF",
        "an HDF5 file (perhaps a .h5ad or .h5mu)",
        "Read a cohort with rg.read_cohort, features with anndata.read_h5ad",
    ),
)


def _sniff_text(raw: bytes, path: Path) -> None:
    """Refuse files that are not text tables, whatever their name says."""
    head = raw[:2048]
    if head.startswith(b"PAR1") and raw.endswith(b"PAR1"):  # text may start with "PAR1"
        raise InputError(
            "the file is a Parquet file, not a text table",
            file=path,
            expected="CSV or TSV text",
            found="a Parquet file",
            hint="Rename it to .parquet",
        )
    if head.startswith(b"BZh") and head[4:10] == b"1AY&SY":
        raise InputError(
            "the file is bzip2-compressed data, not a text table",
            file=path,
            expected="CSV or TSV text",
            found="bzip2-compressed data",
            hint="Add .bz2 to its name",
        )
    for magic, what, hint in _SIGNATURES:
        if head.startswith(magic):
            raise InputError(
                f"the file is {what}, not a text table",
                file=path,
                expected="CSV or TSV text",
                found=what,
                hint=hint,
            )
    start = head.lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    if start.startswith((b"<!doctype html", b"<html", b"<?xml", b"<head", b"<body")):
        raise InputError(
            "the file is an HTML or XML page, not a table",
            file=path,
            row=1,
            expected="CSV or TSV text",
            found=start[:30].decode("utf-8", "replace").strip(),
            hint="A download probably saved a web page (an error or login page): "
            "download the file itself",
        )
    if b"\x00" in head and not head.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise InputError(
            "the file holds binary data, not text",
            file=path,
            expected="CSV or TSV text",
            found="NUL bytes",
        )


def _decode(raw: bytes, path: Path, encoding: str | None) -> str:
    """Text of ``raw``: UTF-8 by default; a byte-order mark never becomes part of the text."""
    if encoding is not None:
        try:
            text = raw.decode(encoding)
        except (UnicodeDecodeError, LookupError) as exc:
            raise InputError(
                f"cannot decode the file as {encoding}", file=path, found=str(exc)
            ) from None
        return text[1:] if text.startswith(_BOM) else text
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            return raw.decode("utf-16")
        except UnicodeDecodeError:
            pass
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        raise InputError(
            "the file is not valid UTF-8 text",
            file=path,
            row=line,
            expected="UTF-8 text",
            found=f"byte 0x{raw[exc.start]:02x} at byte offset {exc.start}",
            hint="Save it as UTF-8, or pass encoding='latin-1' (or the file's encoding)",
        ) from None


def read_text(path: str | os.PathLike, encoding: str | None = None, *, what: str = "file") -> str:
    """The text of a (possibly compressed) text file, with errors that name the file.

    A missing file, a folder, an empty file, truncated or corrupt compressed data, a file of
    another kind (a workbook, a web page, binary data) and undecodable bytes are each an
    :class:`~radiogenomics.errors.InputError`.
    """
    path = Path(path)
    if not path.exists():
        raise InputError(f"the {what} does not exist", file=path)
    if path.is_dir():
        raise InputError("expected a file, found a folder", file=path)
    raw = _read_bytes(path)
    if not raw.strip():
        raise InputError(f"the {what} is empty", file=path)
    _sniff_text(raw, path)
    return _decode(raw, path, encoding)


def _check_header(names: list[str], path: Path, header_line: int) -> None:
    seen: dict[str, int] = {}
    for i, name in enumerate(names):
        if name == "" or name is None:
            if i == 0:
                continue  # an unnamed index column, as written by pandas or R
            raise InputError(
                f"column {i + 1} of the header has no name", file=path, row=header_line
            )
        if name in seen:
            raise InputError(
                f"the header names column {name!r} twice (columns {seen[name] + 1} and {i + 1})",
                file=path,
                row=header_line,
                column=name,
                expected="unique column names",
            )
        seen[name] = i


def _read_parquet(path: Path) -> pd.DataFrame:
    """A Parquet file as a table, its index (if named) as a column."""
    try:
        data = pd.read_parquet(path)
    except Exception as exc:  # pyarrow raises several unrelated types
        raise InputError("cannot read the Parquet file", file=path, found=str(exc)) from None
    if data.index.name is not None or not isinstance(data.index, pd.RangeIndex):
        data = data.reset_index()
    names = [str(c).lstrip(_BOM) for c in data.columns]
    data.columns = names
    _check_header(names, path, 1)
    return data


def _read_excel(
    path: Path, sheet: str | int | None, string_columns: list[str], na_values: list[str]
) -> pd.DataFrame:
    """One sheet of an Excel workbook as a table."""
    try:
        data = pd.read_excel(
            path,
            sheet_name=0 if sheet is None else sheet,
            dtype=dict.fromkeys(string_columns, str) or None,
            na_values=na_values,
            keep_default_na=False,
        )
    except Exception as exc:
        raise InputError("cannot read the Excel file", file=path, found=str(exc)) from None
    names = [str(c).lstrip(_BOM).strip() for c in data.columns]
    _check_header(names, path, 1)
    data.columns = names
    return data


def _text_header(
    lines: list[str], path: Path, delimiter: str, comment_prefix: str | None
) -> tuple[int, list[str]]:
    """The number of lines before the header (comments, blank lines) and its column names."""
    skipped = 0
    if comment_prefix:
        while skipped < len(lines) and lines[skipped].startswith(comment_prefix):
            skipped += 1
    while skipped < len(lines) and not lines[skipped].strip():
        skipped += 1
    if skipped >= len(lines):
        raise InputError("the file is empty", file=path, expected="a header line and data rows")
    header = next(csv.reader([lines[skipped]], delimiter=delimiter))
    header = [h.strip() for h in header]
    header_line = skipped + 1
    if len(header) == 1 and delimiter not in lines[skipped] and len(lines) > skipped + 1:
        other = "\t" if delimiter == "," else ","
        if other in lines[skipped]:
            raise InputError(
                "the header has a single column",
                file=path,
                row=header_line,
                expected=f"columns separated by {delimiter!r}",
                found=f"{other!r} separators",
                hint="Rename the file to match its format or pass sep=",
            )
    _check_header(header, path, header_line)
    return skipped, header


def _parse_text(
    body: str, header: list[str], dtype: dict, delimiter: str, na_values: list[str], path: Path
) -> pd.DataFrame:
    """Parse the text of a table from its header line on, string columns as strings."""
    options = dict(
        sep=delimiter,
        na_values=na_values,
        keep_default_na=False,
        skip_blank_lines=False,
        low_memory=False,
    )
    try:
        if dtype and len(header) > _WIDE:
            # pandas' per-column dtypes cost far more than parsing on very wide tables:
            # parse once without, then the string columns alone
            data = pd.read_csv(io.StringIO(body), **options)
            positions = [i for i, name in enumerate(header) if name in dtype]
            if data.shape[1] == len(header):
                strings = pd.read_csv(io.StringIO(body), usecols=positions, dtype=str, **options)
                for i, column in zip(positions, strings.columns):
                    data.isetitem(i, strings[column])
        else:
            data = pd.read_csv(io.StringIO(body), dtype=dtype or None, **options)
    except pd.errors.ParserError as exc:
        raise InputError("the file is not a well-formed table", file=path, found=str(exc)) from None
    return data


def _read_text_table(
    path: Path,
    fmt: str,
    sep: str | None,
    encoding: str | None,
    string_columns: list[str],
    first_column_string: bool,
    comment_prefix: str | None,
    na_values: list[str],
) -> tuple[pd.DataFrame, int, list[int] | None]:
    """A delimited text table, the file line of its first row and of each row kept."""
    raw = _read_bytes(path)
    _sniff_text(raw, path)
    text = _decode(raw, path, encoding)
    delimiter = sep or ("\t" if fmt == "tsv" else ",")
    lines = text.splitlines(keepends=True)
    skipped, header = _text_header(lines, path, delimiter, comment_prefix)
    header_line = skipped + 1
    dtype = dict.fromkeys([c for c in string_columns if c in header], str)
    if first_column_string and header:
        dtype[header[0]] = str
    body = "".join(lines[skipped:])
    data = _parse_text(body, header, dtype, delimiter, na_values, path)
    data.columns = header if len(header) == data.shape[1] else data.columns
    # drop entirely blank lines (for example a trailing empty line)
    blank = data.isna().all(axis=1).to_numpy()
    first_line = header_line + 1
    row_lines = None
    if blank.any():
        row_lines = (np.flatnonzero(~blank) + first_line).tolist()
        data = data.loc[~blank].reset_index(drop=True)
    if header and header[0] == "" and data.shape[1] == len(header):
        data = data.rename(columns={"": "Unnamed: 0"})
    return data, first_line, row_lines


def read_table(
    path: str | os.PathLike,
    *,
    sep: str | None = None,
    encoding: str | None = None,
    sheet: str | int | None = None,
    string_columns: list[str] | None = None,
    first_column_string: bool = False,
    comment_prefix: str | None = None,
    missing_values: list[str] | None = None,
) -> Table:
    """Read a CSV, TSV, Parquet or Excel file.

    Parameters
    ----------
    path
        The file. The format comes from the suffix (``.csv``, ``.tsv``, ``.txt``, ``.maf``,
        ``.parquet``, ``.xlsx``, optionally compressed with ``.gz``).
    sep
        Separator for text files, overriding the suffix.
    encoding
        Text encoding; by default UTF-8 (with or without byte-order mark).
    sheet
        Excel sheet name or index (default the first).
    string_columns
        Columns read as strings, never as numbers (identifiers such as ``"001"``).
    first_column_string
        Read the first column as strings too.
    comment_prefix
        Lines starting with this prefix before the header are skipped (``"#"`` for MAF).
    missing_values
        Cell values read as missing.

    Raises
    ------
    InputError
        When the file is missing, empty, not decodable or has a malformed header.

    See Also
    --------
    read_clinical, read_radiomics : readers that check the table against its schema.

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> import radiogenomics as rg
    >>> folder = Path(tempfile.mkdtemp())
    >>> _ = (folder / "clinical.csv").write_text("patient_id,age,stage\\n001,63,II\\n002,NA,III\\n")
    >>> table = rg.io.read_table(folder / "clinical.csv", string_columns=["patient_id"])
    >>> table.data
      patient_id   age stage
    0        001  63.0    II
    1        002   NaN   III
    >>> table.first_line, table.line(1)  # file lines of the first and the second row
    (2, 3)

    Comment lines before the header, as in a MAF file:

    >>> _ = (folder / "calls.maf").write_text(
    ...     "#version 2.4\\nHugo_Symbol\\tTumor_Sample_Barcode\\nTP53\\tP1\\n"
    ... )
    >>> maf = rg.io.read_table(folder / "calls.maf", comment_prefix="#")
    >>> maf.data.columns.tolist(), maf.first_line
    (['Hugo_Symbol', 'Tumor_Sample_Barcode'], 3)
    """
    path = Path(path)
    if not path.exists():
        raise InputError("the file does not exist", file=path)
    if path.is_dir():
        raise InputError("expected a file, found a folder", file=path)
    if path.stat().st_size == 0:
        raise InputError("the file is empty", file=path, expected="a header line and data rows")
    fmt = table_format(path) if sep is None else "csv"
    na_values = missing_values if missing_values is not None else ["", "NA", "NaN", "nan"]
    string_columns = list(string_columns or [])

    row_lines = None
    if fmt == "parquet":
        data = _read_parquet(path)
        first_line = None
    elif fmt == "excel":
        data = _read_excel(path, sheet, string_columns, na_values)
        first_line = 2
    else:
        data, first_line, row_lines = _read_text_table(
            path,
            fmt,
            sep,
            encoding,
            string_columns,
            first_column_string,
            comment_prefix,
            na_values,
        )

    if data.shape[0] == 0:
        raise InputError(
            "the file has a header but no data rows", file=path, expected="at least one data row"
        )
    for column in string_columns:
        if column in data.columns:
            data[column] = data[column].map(lambda v: v if pd.isna(v) else str(v).strip())
    return Table(data=data, path=path, first_line=first_line, row_lines=row_lines)
