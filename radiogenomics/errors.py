"""The radiogenomics exception family.

Every error the library raises on purpose derives from :class:`RadiogenomicsError`.
A message names where the problem is (file, row, column), what was expected and what
was found, so that a user can fix the input without reading a traceback. The CLI prints
these messages in one or two lines and exits with status 2.
"""

from __future__ import annotations

from os import PathLike
from typing import Any

__all__ = [
    "RadiogenomicsError",
    "InputError",
    "SchemaError",
    "CohortError",
    "ExtractionError",
    "OutputError",
    "format_location",
]


def _short(value: Any, limit: int = 60) -> str:
    text = repr(value) if isinstance(value, str) else str(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def format_location(
    file: str | PathLike | None = None,
    row: int | str | None = None,
    column: str | None = None,
) -> str:
    """Human-readable location such as ``clinical.csv, line 12, column 'age'``.

    ``row`` is the 1-based line number in the file when it is an integer (the header
    is line 1), or a row label (patient ID) when it is a string.

    See Also
    --------
    RadiogenomicsError : its message starts with this location.

    Examples
    --------
    >>> from radiogenomics.errors import format_location
    >>> format_location("clinical.csv", 12, "age")
    "clinical.csv, line 12, column 'age'"
    >>> format_location(row="TCGA-02-0001", column="age")  # a row label, not a line
    "row 'TCGA-02-0001', column 'age'"
    >>> format_location()
    ''
    """
    parts = []
    if file is not None:
        parts.append(str(file))
    if row is not None:
        parts.append(f"line {row}" if isinstance(row, int) else f"row {row!r}")
    if column is not None:
        parts.append(f"column {column!r}")
    return ", ".join(parts)


class RadiogenomicsError(Exception):
    """Base class of all errors raised by radiogenomics on purpose.

    Parameters
    ----------
    message
        What is wrong, in plain words.
    file, row, column
        Where it is. ``row`` is a 1-based line number (int) or a row label (str).
    expected, found
        What the input should hold and what it holds instead.
    hint
        Optional advice on how to fix it.

    See Also
    --------
    format_location : the location at the start of the message.

    Examples
    --------
    >>> from radiogenomics.errors import RadiogenomicsError
    >>> error = RadiogenomicsError(
    ...     "value is not a number",
    ...     file="clinical.csv",
    ...     row=4,
    ...     column="age",
    ...     expected="a number",
    ...     found="51,5",
    ...     hint="Write numbers with a decimal point (51.5)",
    ... )
    >>> print(error)
    clinical.csv, line 4, column 'age': value is not a number (expected a number,
    found '51,5'). Write numbers with a decimal point (51.5)
    >>> error.message, error.row, error.column, error.found
    ('value is not a number', 4, 'age', '51,5')

    Every error the library raises on purpose is caught by the base class:

    >>> import radiogenomics as rg
    >>> try:
    ...     rg.io.read_table("no/such/table.csv")
    ... except RadiogenomicsError as exc:
    ...     print(type(exc).__name__, "-", exc)
    InputError - no/such/table.csv: the file does not exist
    """

    def __init__(
        self,
        message: str,
        *,
        file: str | PathLike | None = None,
        row: int | str | None = None,
        column: str | None = None,
        expected: str | None = None,
        found: Any = None,
        hint: str | None = None,
    ) -> None:
        self.message = message
        self.file = None if file is None else str(file)
        self.row = row
        self.column = column
        self.expected = expected
        self.found = found
        self.hint = hint
        super().__init__(self.__str__())

    def __str__(self) -> str:
        location = format_location(self.file, self.row, self.column)
        text = f"{location}: {self.message}" if location else self.message
        details = []
        if self.expected is not None:
            details.append(f"expected {self.expected}")
        if self.found is not None:
            details.append(f"found {_short(self.found)}")
        if details:
            text += " (" + ", ".join(details) + ")"
        if self.hint:
            text += f". {self.hint}"
        return text


class InputError(RadiogenomicsError, ValueError):
    """An input file or object cannot be used as given.

    It is also a ``ValueError``.

    Examples
    --------
    >>> import radiogenomics as rg
    >>> from radiogenomics.errors import InputError
    >>> try:
    ...     rg.extract.resolve_params("fast")
    ... except InputError as exc:
    ...     print(exc)
    unknown extraction preset (expected one of ['ct', 'default', 'demo', 'mr'] or a
    parameter file, found 'fast')
    >>> issubclass(InputError, ValueError)
    True
    """


class SchemaError(InputError):
    """A table does not follow its schema in ``data_schemas/``.

    A kind of :class:`InputError`; ``row`` is the line of the file where the problem is.

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> import radiogenomics as rg
    >>> from radiogenomics.errors import InputError, SchemaError
    >>> path = Path(tempfile.mkdtemp()) / "clinical.csv"
    >>> _ = path.write_text('patient_id,age\\nP1,63\\nP2,"51,5"\\nP3,70\\nP4,44\\n')
    >>> try:
    ...     rg.io.read_clinical(path)
    ... except SchemaError as exc:
    ...     error = exc
    >>> error.message
    "value is not a number, while 3 of the column's 4 values are numbers"
    >>> error.row, error.column, error.found  # line 3 of the file (the header is line 1)
    (3, 'age', '51,5')
    >>> error.hint
    'A decimal comma? Write numbers with a decimal point (51.5)'
    >>> isinstance(error, InputError)
    True
    """


class CohortError(RadiogenomicsError, ValueError):
    """Modalities cannot be joined into a cohort as asked.

    Also raised when a tool is asked for a modality, feature or clinical column the cohort
    does not have. It is also a ``ValueError``.

    Examples
    --------
    >>> import radiogenomics as rg
    >>> from radiogenomics.errors import CohortError
    >>> mdata = rg.datasets.toy_cohort(n_patients=20, n_genes=3)
    >>> try:
    ...     rg.tl.associate(mdata, "radiomics", "protein")
    ... except CohortError as exc:
    ...     print(exc)
    'protein' is neither a modality nor a clinical column of the cohort (expected a
    modality (['radiomics', 'rna', 'mutation']) or an obs column, found 'protein')
    """


class ExtractionError(RadiogenomicsError, RuntimeError):
    """Radiomic feature extraction failed for a case.

    :func:`~radiogenomics.extract.features` records failed cases instead of raising; it
    raises this error when every case fails, with the failures table as ``failures``. It is
    also a ``RuntimeError``.

    Examples
    --------
    >>> import pandas as pd
    >>> import radiogenomics as rg
    >>> from radiogenomics.errors import ExtractionError
    >>> manifest = pd.DataFrame(
    ...     {
    ...         "patient_id": ["P1", "P2"],
    ...         "image": ["no/such/P1_ct.nii.gz", "no/such/P2_ct.nii.gz"],
    ...         "mask": ["no/such/P1_seg.nii.gz", "no/such/P2_seg.nii.gz"],
    ...     }
    ... )
    >>> try:
    ...     rg.extract.features(manifest, progress=False)
    ... except ExtractionError as exc:
    ...     error = exc
    >>> print(error)
    every case failed (2); the first (P1) at stage 'read image': the image does not exist
    >>> error.failures[["patient_id", "stage"]].values.tolist()
    [['P1', 'read image'], ['P2', 'read image']]
    """


class OutputError(RadiogenomicsError, OSError):
    """A result cannot be written (full disk, no permission, a missing folder).

    It is also an ``OSError``; the message names the file and what the system said.

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> import pandas as pd
    >>> import radiogenomics as rg
    >>> from radiogenomics.errors import OutputError
    >>> folder = Path(tempfile.mkdtemp())
    >>> _ = (folder / "results").write_text("a file where the folder should be")
    >>> table = pd.DataFrame({"patient_id": ["P1", "P2"], "score": [0.3, 0.8]})
    >>> try:
    ...     rg.export.write_table(table, folder / "results" / "scores.csv", schema=False)
    ... except OutputError as exc:
    ...     error = exc
    >>> error.message, Path(error.file).name
    ('cannot write the file', 'scores.csv')
    >>> isinstance(error, OSError)
    True
    """
