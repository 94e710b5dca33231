"""One imaging-molecular pair: its values, its statistics and its added-variable values.

What :func:`radiogenomics.pl.pair` draws, computed here so that the figure computes
nothing: the statistics are those of a stored association row when given, else one call
of the association kernel on the pair.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import mudata as md
import numpy as np

from .._data import as_list, design_matrix, modality_block, obs_block
from ..errors import CohortError
from ..stats.association import associate_arrays
from ..stats.linear import orthonormal_basis

__all__ = ["PairData", "pair_data"]

_STATISTICS = ("estimate", "std_error", "statistic", "p_value", "ci_lower", "ci_upper")


@dataclass
class PairData:
    """The values and statistics of one pair (patients with all values present).

    See Also
    --------
    pair_data : makes one.
    radiogenomics.pl.pair : draws one.

    Examples
    --------
    >>> import radiogenomics as rg
    >>> mdata = rg.datasets.toy_cohort(n_patients=40)
    >>> pair = rg.tl.pair_data(mdata, "original_firstorder_Mean", "GENE001")
    >>> type(pair).__name__, pair.x.shape, pair.y.shape, pair.binary
    ('PairData', (40,), (40,), False)
    >>> sorted(pair.statistics)
    ['ci_lower', 'ci_upper', 'estimate', 'n', 'p_value', 'q_value', 'statistic', 'std_error']
    """

    x_feature: str
    y_feature: str
    method: str
    covariates: list[str]
    binary: bool
    patients: np.ndarray
    x: np.ndarray
    y: np.ndarray
    statistics: dict = field(default_factory=dict)
    x_adjusted: np.ndarray | None = None
    y_adjusted: np.ndarray | None = None


def _column(mdata: md.MuData, spec: str, name: str) -> np.ndarray:
    if spec in mdata.mod:
        return modality_block(mdata, spec, features=[name]).values[:, 0]
    if spec == "clinical":
        return obs_block(mdata, [name]).values[:, 0]
    raise CohortError(
        f"{spec!r} is neither a modality nor 'clinical'",
        expected=f"one of {list(mdata.mod)} or 'clinical'",
        found=spec,
    )


def pair_data(
    mdata: md.MuData,
    x_feature: str,
    y_feature: str,
    *,
    x: str = "radiomics",
    y: str = "rna",
    covariates: str | Sequence[str] = (),
    method: str | None = None,
    stored: Mapping | None = None,
) -> PairData:
    """The values of one pair and its statistics, for :func:`radiogenomics.pl.pair`.

    Parameters
    ----------
    mdata
        The cohort.
    x_feature, y_feature
        A feature of ``x`` and one of ``y`` (modalities, or ``"clinical"`` for columns of
        ``mdata.obs``).
    covariates, method
        As for :func:`radiogenomics.tl.associate`; by default those of ``stored``, else
        none and ``linear`` (``mannwhitney`` for a binary y).
    stored
        A row of a stored association table for this pair: its statistics are used as
        they are (q-value included) instead of testing the pair again.

    Returns
    -------
    PairData
        With covariates, ``x_adjusted``/``y_adjusted`` hold the added-variable values
        (residuals on the covariates plus the mean), whose least-squares slope is the
        adjusted estimate.

    Examples
    --------
    >>> import radiogenomics as rg
    >>> mdata = rg.datasets.toy_cohort(n_patients=40)
    >>> pair = rg.tl.pair_data(mdata, "original_firstorder_Mean", "GENE001")
    >>> pair.method, len(pair.patients), sorted(pair.statistics)[:3]
    ('linear', 40, ['ci_lower', 'ci_upper', 'estimate'])
    """
    xv, yv = _column(mdata, x, x_feature), _column(mdata, y, y_feature)
    if stored is not None:
        if method is None:
            method = str(stored["method"])
        if not as_list(covariates):
            covariates = [c for c in str(stored["covariates"]).split(",") if c]
    present = yv[~np.isnan(yv)]
    binary = bool(present.size > 0 and np.isin(present, (0.0, 1.0)).all())
    if method is None:
        method = "mannwhitney" if binary else "linear"
    names = as_list(covariates)
    z, _ = design_matrix(mdata.obs, names)
    if stored is None:
        result = associate_arrays(xv[:, None], yv[:, None], z if z.shape[1] else None, method)
        statistics = {name: float(result[name][0, 0]) for name in _STATISTICS}
        statistics["n"] = int(result.n[0, 0])
        statistics["q_value"] = np.nan
    else:
        statistics = {name: float(stored[name]) for name in (*_STATISTICS, "q_value")}
        statistics["n"] = int(stored["n"])
    keep = ~np.isnan(xv) & ~np.isnan(yv) & ~np.isnan(z).any(axis=1)
    data = PairData(
        x_feature,
        y_feature,
        method,
        names,
        binary,
        np.asarray(mdata.obs_names)[keep],
        xv[keep],
        yv[keep],
        statistics,
    )
    if names and keep.sum() > z.shape[1] + 1:
        basis, _ = orthonormal_basis(np.column_stack([np.ones(keep.sum()), z[keep]]))
        data.x_adjusted = data.x - basis @ (basis.T @ data.x) + data.x.mean()
        data.y_adjusted = data.y - basis @ (basis.T @ data.y) + data.y.mean()
    return data
