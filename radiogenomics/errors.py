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
    """Human-readable location such as ``clinical.csv, row 12, column 'age'``.

    ``row`` is the 1-based line number in the file when it is an integer (the header
    is line 1), or a row label (patient ID) when it is a string.
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
    """An input file or object cannot be used as given."""


class SchemaError(InputError):
    """A table does not follow its schema in ``data_schemas/``."""


class CohortError(RadiogenomicsError, ValueError):
    """Modalities cannot be joined into a cohort as asked."""


class ExtractionError(RadiogenomicsError, RuntimeError):
    """Radiomic feature extraction failed for a case."""


class OutputError(RadiogenomicsError, OSError):
    """A result cannot be written (full disk, no permission, a missing folder)."""
