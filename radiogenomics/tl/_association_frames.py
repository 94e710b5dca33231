"""The tidy association table built from the kernel's arrays, without copying the
numbers (x-major rows; ``x``, ``y`` and the constant text columns categorical)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from ..stats.association import FIELDS, KeptPairs

__all__ = ["association_frame", "kept_frame"]


def association_frame(
    values: np.ndarray,
    n: np.ndarray,
    x_names: Sequence[str],
    y_names: Sequence[str],
    *,
    x_modality: str,
    y_modality: str,
    method: str,
    covariates: str,
    x_offset: int = 0,
) -> pd.DataFrame:
    """The tidy association table (x-major rows) from the kernel's arrays, without copying
    the numbers: ``values`` is ``(7, n_x, n_y)`` in the order of ``FIELDS``.

    ``x``, ``y`` and the constant text columns are categorical. ``x_offset``: the arrays
    hold the x features ``x_names[x_offset:x_offset + n_x]`` (a chunk of the table).
    """
    n_x, n_y = n.shape
    total = n_x * n_y

    def constant(text: str) -> pd.Categorical:
        # np.zeros maps untouched zero pages: a constant column costs next to nothing
        return pd.Categorical.from_codes(np.zeros(total, dtype=np.int8), categories=[text])

    x_type = _code_type(len(x_names))
    x_codes = np.repeat(np.arange(x_offset, x_offset + n_x, dtype=x_type), n_y)
    y_codes = np.tile(np.arange(n_y, dtype=_code_type(n_y)), n_x)
    # three frames joined without copying (DataFrame.insert would copy every column)
    labels = pd.DataFrame(
        {
            "x_modality": constant(x_modality),
            "x": pd.Categorical.from_codes(x_codes, categories=pd.Index(x_names)),
            "y_modality": constant(y_modality),
            "y": pd.Categorical.from_codes(y_codes, categories=pd.Index(y_names)),
            "method": constant(method),
            "n": n.reshape(total),
        },
        copy=False,
    )
    numbers = pd.DataFrame(values.reshape(len(FIELDS), total).T, columns=list(FIELDS), copy=False)
    tail = pd.DataFrame({"covariates": constant(covariates)}, copy=False)
    return pd.concat([labels, numbers, tail], axis=1, copy=False)


def kept_frame(
    kept: KeptPairs,
    x_names: Sequence[str],
    y_names: Sequence[str],
    *,
    x_modality: str,
    y_modality: str,
    method: str,
    covariates: str,
) -> pd.DataFrame:
    """The association table of the kept pairs of threshold mode: the rows of the full
    table with ``p_value <= threshold``, in its order and with its categories."""
    total = kept.n.size

    def constant(text: str) -> pd.Categorical:
        return pd.Categorical.from_codes(np.zeros(total, dtype=np.int8), categories=[text])

    labels = pd.DataFrame(
        {
            "x_modality": constant(x_modality),
            "x": pd.Categorical.from_codes(
                kept.x_index.astype(_code_type(len(x_names))), categories=pd.Index(x_names)
            ),
            "y_modality": constant(y_modality),
            "y": pd.Categorical.from_codes(
                kept.y_index.astype(_code_type(len(y_names))), categories=pd.Index(y_names)
            ),
            "method": constant(method),
            "n": kept.n,
        },
        copy=False,
    )
    numbers = pd.DataFrame(kept.values.T, columns=list(FIELDS), copy=False)
    tail = pd.DataFrame({"covariates": constant(covariates)}, copy=False)
    return pd.concat([labels, numbers, tail], axis=1, copy=False)


def _smallest(frame: pd.DataFrame, rows: int) -> pd.DataFrame:
    """The ``rows`` rows of smallest p-value, in the frame's order."""
    if len(frame) <= rows:
        return frame
    p = frame["p_value"].to_numpy()
    keep = np.sort(np.argpartition(p, rows - 1)[:rows])
    return frame.iloc[keep]


def _code_type(size: int):
    return np.int16 if size < 2**15 else np.int32
