"""What the readers share: path types, a schema field's names, the provenance record of a
read."""

from __future__ import annotations

import os
from pathlib import Path

PathLike = str | os.PathLike


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
