"""Two groups of patients compared: their sizes, survival, and the radiomic features,
genes, proteins and mutations that differ, with q-values.

A group is named by a short text: ``"stage:III"`` (patients whose clinical column has that
value), ``"mutation:TP53"`` (mutated in the gene; ``"mutation:TP53=wt"`` for wild-type),
``"radiomics:original_shape_VoxelVolume>2000"`` (a feature above or below a threshold,
``>``, ``>=``, ``<``, ``<=``; radiomic features in the units of ``layers["raw"]`` when the
modality keeps them), ``"age>=65"``, or ``"rest"`` (every patient not in the other group).
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Sequence

import mudata as md
import numpy as np
import pandas as pd
from scipy import stats

from ..cohort import store_result
from ..errors import CohortError, InputError
from ..stats.multitest import adjust_pvalues
from ._survival_data import resolve_variable
from .differential import differential
from .survival import logrank

__all__ = ["group_mask", "compare_groups", "patients_matching"]

_THRESHOLD = re.compile(r"^(?P<name>.+?)\s*(?P<op>>=|<=|>|<)\s*(?P<value>[-+0-9.eE]+)$")
_OPS = {">": np.greater, ">=": np.greater_equal, "<": np.less, "<=": np.less_equal}


def group_mask(mdata: md.MuData, spec: str, other: np.ndarray | None = None) -> np.ndarray:
    """The patients of a group named as in this module's description, as a boolean mask
    over ``mdata.obs_names``.

    Parameters
    ----------
    spec
        The group (``"stage:III"``, ``"mutation:TP53"``, ``"radiomics:<feature>>2000"``,
        ``"age>=65"``, ``"rest"``).
    other
        The other group's mask (for ``"rest"``).

    Examples
    --------
    >>> import radiogenomics as rg
    >>> mdata = rg.datasets.toy_cohort(n_patients=40)
    >>> int(rg.tl.group_mask(mdata, "stage:III").sum())
    9
    >>> int(rg.tl.group_mask(mdata, "mutation:EGFR").sum())
    13
    """
    spec = str(spec or "").strip()
    if not spec:
        raise InputError("a group needs a definition", expected="e.g. stage:III", found="")
    if spec == "rest":
        if other is None:
            raise InputError(
                "'rest' is the patients outside the other group; name that group first", found=spec
            )
        return ~other
    match = _THRESHOLD.match(spec)
    if match:
        name, op, value = match["name"], match["op"], float(match["value"])
        prefix = name.split(":", 1)[0]
        layer = "raw" if prefix in mdata.mod and "raw" in mdata[prefix].layers else None
        variable = resolve_variable(mdata, name, layer=layer)
        values = pd.to_numeric(variable.values, errors="coerce").to_numpy(dtype=float)
        with np.errstate(invalid="ignore"):
            return _OPS[op](values, value) & ~np.isnan(values)
    source, sep, level = spec.partition(":")
    if sep and source == "mutation" and "mutation" in mdata.mod:
        gene, _, status = level.partition("=")
        adata = mdata["mutation"]
        if gene not in adata.var_names:
            raise CohortError(
                f"no gene {gene!r} in the mutation data",
                column=gene,
                expected="a gene of mdata['mutation'].var_names",
                found=gene,
            )
        column = adata[:, gene].X
        values = np.asarray(
            column.toarray() if hasattr(column, "toarray") else column, dtype=float
        ).ravel()
        mutated = pd.Series(values > 0, index=adata.obs_names).reindex(mdata.obs_names)
        sequenced = mutated.notna().to_numpy()
        flag = mutated.fillna(False).to_numpy(dtype=bool)
        return (sequenced & ~flag) if status in ("wt", "wild-type", "0") else flag
    if sep and source in mdata.obs.columns:
        series = mdata.obs[source]
        return (series.astype(str) == level).to_numpy() & series.notna().to_numpy()
    raise InputError(
        "cannot read the group",
        found=spec,
        expected="column:value, mutation:GENE, feature>value or rest",
        hint="e.g. stage:III, mutation:TP53, radiomics:original_shape_VoxelVolume>2000",
    )


def compare_groups(
    mdata: md.MuData,
    a: str,
    b: str = "rest",
    *,
    time: str | None = None,
    event: str | None = None,
    modalities: Sequence[str] = ("radiomics", "rna", "protein"),
    method: str = "t-test",
    key_added: str | None = None,
) -> dict[str, pd.DataFrame]:
    """Compare two groups of patients.

    Parameters
    ----------
    mdata
        The cohort.
    a, b
        The groups (see :func:`group_mask`); ``b="rest"``: everyone not in ``a``.
        Patients in both groups are left out of both.
    time, event
        Follow-up columns: the groups' survival is compared by the log-rank test.
    modalities
        Modalities whose features are tested (Welch's t test or Wilcoxon, by
        :func:`radiogenomics.tl.differential`), those in the cohort; a modality's
        ``layers["raw"]`` (values before preprocessing) when it has one.
    key_added
        The obs column that receives the groups (``a``, ``b``, missing elsewhere), and
        the key of the stored table (default ``"comparison"``).

    Returns
    -------
    dict of pandas.DataFrame
        ``sizes`` (group, patients, and events when given), ``survival`` (the log-rank
        table, when ``time`` and ``event`` are given), ``features`` (per modality and
        feature: means of each group, difference ``a - b``, p- and q-values, the q-values
        within each modality) and ``mutations`` (mutated patients and share per group,
        Fisher's exact p-value, Benjamini-Hochberg q-value).

    Examples
    --------
    >>> import radiogenomics as rg
    >>> mdata = rg.datasets.toy_cohort(n_patients=40)
    >>> out = rg.tl.compare_groups(mdata, "stage:III", "rest", time="os_months",
    ...                             event="os_event", modalities=("radiomics",))
    >>> sorted(out)
    ['features', 'mutations', 'sizes', 'survival']
    >>> out["sizes"]["patients"].tolist()
    [9, 31]
    """
    key_added = key_added or "comparison"
    in_a = group_mask(mdata, a)
    in_b = group_mask(mdata, b, other=in_a)
    both = in_a & in_b
    in_a, in_b = in_a & ~both, in_b & ~both
    if in_a.sum() < 2 or in_b.sum() < 2:
        raise CohortError(
            "each group needs at least two patients", found={a: int(in_a.sum()), b: int(in_b.sum())}
        )
    labels = np.where(in_a, a, np.where(in_b, b, None))
    mdata.obs[key_added] = pd.Categorical(labels, categories=[a, b])
    sizes = pd.DataFrame({"group": [a, b], "patients": [int(in_a.sum()), int(in_b.sum())]})
    out: dict[str, pd.DataFrame] = {"sizes": sizes}
    if time and event:
        events = pd.to_numeric(mdata.obs[event], errors="coerce").to_numpy(dtype=float)
        sizes["events"] = [int(np.nansum(events[in_a])), int(np.nansum(events[in_b]))]
        with warnings.catch_warnings():  # patients in neither group are left out by design
            warnings.filterwarnings("ignore", message=".*have no value in", category=UserWarning)
            out["survival"] = logrank(
                mdata, time=time, event=event, groupby=key_added, missing="drop"
            )
    frames = []
    for mod in modalities:
        if mod not in mdata.mod:
            continue
        # values in their physical units when the modality keeps them before preprocessing
        layer = "raw" if "raw" in mdata[mod].layers else None
        found = differential(
            mdata,
            key_added,
            mod=mod,
            method=method,
            groups=[a],
            reference=b,
            min_patients=2,
            layer=layer,
        )
        frames.append(found)
    features = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
    if len(features):
        features = (
            features[
                [
                    "modality",
                    "feature",
                    "n_group",
                    "n_reference",
                    "mean_group",
                    "mean_reference",
                    "difference",
                    "p_value",
                    "q_value",
                ]
            ]
            .rename(
                columns={
                    "n_group": "n_a",
                    "n_reference": "n_b",
                    "mean_group": "mean_a",
                    "mean_reference": "mean_b",
                }
            )
            .sort_values("p_value", kind="stable")
        )
    out["features"] = features.reset_index(drop=True)
    out["mutations"] = _mutation_frequencies(mdata, in_a, in_b)
    store_result(
        mdata,
        "comparison",
        key_added,
        out["features"],
        {"a": a, "b": b, "time": time, "event": event, "method": method},
    )
    return out


def _mutation_frequencies(mdata, in_a, in_b) -> pd.DataFrame:
    columns = ["gene", "mutated_a", "share_a", "mutated_b", "share_b", "p_value", "q_value"]
    if "mutation" not in mdata.mod:
        return pd.DataFrame(columns=columns)
    adata = mdata["mutation"]
    x = adata.X.toarray() if hasattr(adata.X, "toarray") else np.asarray(adata.X)
    frame = pd.DataFrame(
        np.asarray(x, dtype=float) > 0, index=adata.obs_names, columns=adata.var_names
    )
    frame = frame.reindex(mdata.obs_names)
    sequenced = frame.notna().all(axis=1).to_numpy()
    mutated = frame.fillna(False).to_numpy(dtype=bool)
    a, b = in_a & sequenced, in_b & sequenced
    ka, kb = mutated[a].sum(0), mutated[b].sum(0)
    na, nb = int(a.sum()), int(b.sum())
    p = (
        np.array([stats.fisher_exact([[x1, na - x1], [x2, nb - x2]])[1] for x1, x2 in zip(ka, kb)])
        if na and nb
        else np.full(len(ka), np.nan)
    )
    table = pd.DataFrame(
        {
            "gene": [str(g) for g in adata.var_names],
            "mutated_a": ka,
            "share_a": ka / max(na, 1),
            "mutated_b": kb,
            "share_b": kb / max(nb, 1),
            "p_value": p,
        }
    )
    table["q_value"] = adjust_pvalues(table["p_value"].to_numpy())
    return table.sort_values("p_value", kind="stable").reset_index(drop=True)[columns]


def patients_matching(mdata: md.MuData, filters: Sequence[str]) -> np.ndarray:
    """The patients meeting every filter (each a group as :func:`group_mask` names it:
    ``stage:III``, ``age>=60``, ``mutation:TP53``), as a boolean mask over
    ``mdata.obs_names``; no filter: every patient.

    Examples
    --------
    >>> import radiogenomics as rg
    >>> mdata = rg.datasets.toy_cohort(n_patients=40)
    >>> mask = rg.tl.patients_matching(mdata, ["stage:III", "mutation:EGFR"])
    >>> mask.shape
    (40,)
    """
    mask = np.ones(mdata.n_obs, dtype=bool)
    for spec in filters:
        if str(spec).strip() and str(spec).strip() != "rest":
            mask &= group_mask(mdata, spec)
    return mask
