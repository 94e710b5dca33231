"""Gene sets in GMT format."""

from __future__ import annotations

import os
from pathlib import Path

from ..errors import InputError
from .tables import read_text

__all__ = ["read_gmt"]


def read_gmt(
    path: str | os.PathLike, *, descriptions: bool = False, encoding: str | None = None
) -> dict[str, list[str]] | tuple[dict[str, list[str]], dict[str, str]]:
    """Read gene sets from a GMT file (one set per line: name, description, genes; tabs).

    Blank lines and lines starting with ``#`` are skipped; a gene listed twice in a set is
    kept once, in its first place.

    Parameters
    ----------
    path
        The GMT file.
    descriptions
        Also return each set's description.
    encoding
        Text encoding; by default UTF-8 (a byte-order mark is dropped).

    Returns
    -------
    dict
        Set name -> genes; with ``descriptions=True`` a pair (sets, descriptions).

    Raises
    ------
    InputError
        A missing file, a line with fewer than three fields, a set without a name, a set
        named twice, or a file without any set (the message names the line).

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> import radiogenomics as rg
    >>> rows = [
    ...     ["HYPOXIA", "hypoxia genes", "VEGFA", "CA9", "SLC2A1"],
    ...     ["PROLIFERATION", "cell cycle", "MKI67", "TOP2A", "MKI67"],
    ... ]
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     path = Path(folder) / "sets.gmt"
    ...     _ = path.write_text("".join("\\t".join(r) + "\\n" for r in rows), encoding="utf-8")
    ...     sets, notes = rg.io.read_gmt(path, descriptions=True)
    >>> sets
    {'HYPOXIA': ['VEGFA', 'CA9', 'SLC2A1'], 'PROLIFERATION': ['MKI67', 'TOP2A']}
    >>> notes["PROLIFERATION"]
    'cell cycle'
    """
    path = Path(path)
    content = read_text(path, encoding, what="gene set file")
    sets: dict[str, list[str]] = {}
    notes: dict[str, str] = {}
    for number, text in enumerate(content.splitlines(), start=1):
        if not text.strip() or text.startswith("#"):
            continue
        fields = text.split("\t")
        if len(fields) < 3:
            raise InputError(
                "a GMT line must hold a set name, a description and genes, separated by tabs",
                file=path,
                row=number,
                expected="at least 3 tab-separated fields",
                found=f"{len(fields)} field(s)",
            )
        name = fields[0].strip()
        if not name:
            raise InputError(
                "a gene set without a name",
                file=path,
                row=number,
                expected="a set name in the first field",
                found="an empty name",
            )
        if name in sets:
            raise InputError(
                f"the gene set {name!r} appears twice",
                file=path,
                row=number,
                expected="unique set names",
                found=name,
            )
        genes = list(dict.fromkeys(g.strip() for g in fields[2:] if g.strip()))
        if not genes:
            raise InputError(
                f"the gene set {name!r} lists no gene",
                file=path,
                row=number,
                expected="at least one gene after the description",
                found="empty fields",
            )
        sets[name] = genes
        notes[name] = fields[1].strip()
    if not sets:
        raise InputError(
            "the gene set file holds no gene set",
            file=path,
            expected="lines 'name<TAB>description<TAB>gene...'",
            found="none",
        )
    return (sets, notes) if descriptions else sets
