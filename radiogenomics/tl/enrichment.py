"""Gene sets: GMT files and over-representation of sets among differential features."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence

import mudata as md
import numpy as np
import pandas as pd

from ..cohort import get_result, store_result
from ..errors import CohortError, InputError
from ..io.genesets import read_gmt
from ..stats.groups import hypergeometric_overrepresentation
from ..stats.multitest import adjust_pvalues

__all__ = ["overrepresentation", "enrichment", "ENRICHMENT_COLUMNS"]

ENRICHMENT_COLUMNS = [
    "group",
    "direction",
    "gene_set",
    "description",
    "set_size",
    "n_hits",
    "universe",
    "overlap",
    "expected",
    "fold_enrichment",
    "p_value",
    "q_value",
    "genes",
]

GeneSets = Mapping[str, Sequence[str]] | str | os.PathLike


def _gene_sets(genesets: GeneSets) -> tuple[dict[str, list[str]], dict[str, str]]:
    if isinstance(genesets, (str, os.PathLike)):
        return read_gmt(genesets, descriptions=True)
    if isinstance(genesets, Mapping):
        sets = {str(k): [str(g) for g in v] for k, v in genesets.items()}
        return sets, {k: "" for k in sets}
    raise InputError(
        "gene sets must be a GMT file or a dict of name -> genes", found=type(genesets).__name__
    )


def overrepresentation(
    hits: Sequence[str],
    universe: Sequence[str],
    genesets: GeneSets,
    *,
    min_size: int = 3,
    max_size: int = 2000,
) -> pd.DataFrame:
    """Over-representation of gene sets among ``hits`` (one-sided hypergeometric test,
    the Fisher exact test of the hits x set table), against the tested ``universe``.

    Sets are restricted to the universe; sets with fewer than ``min_size`` or more than
    ``max_size`` genes there are not tested.

    Returns
    -------
    pandas.DataFrame
        Columns ``gene_set``, ``description``, ``set_size``, ``n_hits``, ``universe``,
        ``overlap``, ``expected``, ``fold_enrichment``, ``p_value``, ``q_value``
        (Benjamini-Hochberg over the sets tested), ``genes`` (the overlap, ``;``-joined),
        sorted by p-value.

    Examples
    --------
    >>> import radiogenomics as rg
    >>> universe = [f"G{i}" for i in range(100)]
    >>> sets = {"PATHWAY": [f"G{i}" for i in range(10)], "OTHER": [f"G{i}" for i in range(50, 70)]}
    >>> table = rg.tl.overrepresentation(["G1", "G2", "G3", "G4", "G90"], universe, sets)
    >>> table[["gene_set", "overlap"]].values.tolist()
    [['PATHWAY', 4], ['OTHER', 0]]
    """
    sets, descriptions = _gene_sets(genesets)
    universe_set = set(map(str, universe))
    hit_set = set(map(str, hits)) & universe_set
    rows = []
    for name, genes in sets.items():
        members = [g for g in genes if g in universe_set]
        if not min_size <= len(members) <= max_size:
            continue
        overlap = [g for g in members if g in hit_set]
        rows.append(
            (name, descriptions.get(name, ""), len(members), len(overlap), ";".join(overlap))
        )
    columns = [
        "gene_set",
        "description",
        "set_size",
        "n_hits",
        "universe",
        "overlap",
        "expected",
        "fold_enrichment",
        "p_value",
        "q_value",
        "genes",
    ]
    if not rows:
        return pd.DataFrame(columns=columns)
    frame = pd.DataFrame(rows, columns=["gene_set", "description", "set_size", "overlap", "genes"])
    n_universe, n_hits = len(universe_set), len(hit_set)
    frame["n_hits"] = n_hits
    frame["universe"] = n_universe
    frame["expected"] = frame["set_size"] * n_hits / n_universe
    with np.errstate(divide="ignore", invalid="ignore"):
        frame["fold_enrichment"] = frame["overlap"] / frame["expected"]
    frame["p_value"] = hypergeometric_overrepresentation(
        frame["overlap"].to_numpy(), frame["set_size"].to_numpy(), n_hits, n_universe
    )
    frame["q_value"] = adjust_pvalues(frame["p_value"].to_numpy(), "bh")
    return frame[columns].sort_values(["p_value", "gene_set"]).reset_index(drop=True)


def enrichment(
    mdata: md.MuData,
    genesets: GeneSets,
    key: str | None = None,
    *,
    q_threshold: float = 0.05,
    min_difference: float = 0.0,
    min_size: int = 3,
    max_size: int = 2000,
    key_added: str | None = None,
) -> pd.DataFrame:
    """Over-representation of gene sets among the features that differ between groups,
    from a stored ``rg.tl.differential`` result.

    For each group and direction (``up``: higher in the group, ``down``: lower), the hits
    are the features with ``q_value < q_threshold`` and ``|difference| >
    min_difference``; the universe is every feature tested.

    Returns
    -------
    pandas.DataFrame
        Columns :data:`ENRICHMENT_COLUMNS`; q-values within each group and direction.
        Stored as ``rg.get_result(mdata, "enrichment", key_added or key)``.

    Examples
    --------
    >>> import radiogenomics as rg
    >>> mdata = rg.datasets.toy_cohort(n_patients=40)
    >>> mdata.obs["group"] = mdata.obs["stage"].astype(str)
    >>> _ = rg.tl.differential(mdata, "group", mod="rna", key_added="by_stage")
    >>> sets = {"FIRST": [f"GENE{i:03d}" for i in range(1, 11)],
    ...         "SECOND": [f"GENE{i:03d}" for i in range(11, 21)]}
    >>> table = rg.tl.enrichment(mdata, sets, "by_stage", q_threshold=1.0)
    >>> {"group", "direction", "gene_set", "p_value"} <= set(table.columns)
    True
    """
    table = get_result(mdata, "differential", key)
    if key is None:
        key = next(iter(mdata.uns["radiogenomics"]["differential"]))
    tested = table[table["p_value"].notna()]
    universe = tested["feature"].astype(str).unique()
    parts = []
    for group, rows in tested.groupby("group", sort=False, observed=True):
        significant = rows["q_value"] < q_threshold
        for direction, sign in (("up", 1.0), ("down", -1.0)):
            hits = rows.loc[
                significant & (sign * rows["difference"] > min_difference), "feature"
            ].astype(str)
            result = overrepresentation(
                hits, universe, genesets, min_size=min_size, max_size=max_size
            )
            result.insert(0, "direction", direction)
            result.insert(0, "group", str(group))
            parts.append(result)
    if not parts:
        raise CohortError("the differential result holds no tested feature", found=key)
    out = pd.concat(parts, ignore_index=True)[ENRICHMENT_COLUMNS]
    params = {
        "differential": key,
        "q_threshold": q_threshold,
        "min_difference": min_difference,
        "min_size": min_size,
        "max_size": max_size,
        "genesets": str(genesets)
        if isinstance(genesets, (str, os.PathLike))
        else f"{len(genesets)} sets given",
    }
    store_result(mdata, "enrichment", key_added or key, out, params)
    return out
