"""What the report's sections share: the stored results they read, and small HTML builders
(escaped text, numbers, tables, key facts, figures)."""

from __future__ import annotations

import html
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import pandas as pd


def _list(value) -> list:
    """A stored list (h5mu gives numpy arrays back) as a list of strings."""
    if value is None:
        return []
    if isinstance(value, str):
        return [value] if value else []
    return [str(v) for v in np.asarray(value).ravel().tolist()]


def _esc(value) -> str:
    return html.escape(str(value))


def _num(value, digits: int = 3) -> str:
    if value is None:
        return ""
    try:
        number = float(value)
    except (TypeError, ValueError):
        return _esc(value)
    if not np.isfinite(number):
        return ""
    if number.is_integer() and abs(number) < 1e15:
        return str(int(number))
    if abs(number) < 1e-3:
        return f"{number:.2e}"
    return f"{number:.{digits}f}"


def _table(
    frame: pd.DataFrame, formats: Mapping[str, Callable] | None = None, caption: str | None = None
) -> str:
    formats = formats or {}
    head = "".join(f"<th>{_esc(c)}</th>" for c in frame.columns)
    rows = []
    for record in frame.itertuples(index=False):
        cells = []
        for column, value in zip(frame.columns, record):
            text = (
                formats[column](value)
                if column in formats
                else (_num(value) if isinstance(value, (float, np.floating)) else _esc(value))
            )
            cells.append(f"<td>{text}</td>")
        rows.append("<tr>" + "".join(cells) + "</tr>")
    cap = f"<caption>{_esc(caption)}</caption>" if caption else ""
    return f"<table>{cap}<thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"


def _facts(items: list[tuple[str, Any]]) -> str:
    rows = "".join(
        f"<tr><th>{_esc(k)}</th><td>{v if isinstance(v, Markup) else _esc(v)}</td></tr>"
        for k, v in items
    )
    return f'<table class="facts"><tbody>{rows}</tbody></table>'


class Markup(str):
    """HTML that is not escaped again."""


def _figure(uris: dict[str, str], name: str, caption: str) -> str:
    if name not in uris:
        return ""
    return (
        f'<figure><img alt="{_esc(caption)}" src="{uris[name]}">'
        f"<figcaption>{_esc(caption)}</figcaption></figure>"
    )


def _pending(text: str = "Not in the stored results.") -> str:
    return f'<p class="pending">{_esc(text)}</p>'


def _root(mdata) -> dict:
    return mdata.uns.get("radiogenomics", {}) if mdata is not None else {}


def _frame(value) -> pd.DataFrame | None:
    return value if isinstance(value, pd.DataFrame) else None
