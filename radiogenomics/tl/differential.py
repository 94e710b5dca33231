"""Which genes, proteins or features differ between groups of patients (for example
radiomic subtypes), one group against the rest."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import mudata as md
import numpy as np
import pandas as pd

from .._compat import keyword_only
from .._data import modality_block
from ..cohort import store_result
from ..errors import CohortError
from ..stats.groups import mann_whitney_one_vs_rest, welch_one_vs_rest
from ..stats.multitest import adjust_pvalues
from ..stats.ranks import EXACT_RULE
from .enrichment import enrichment

__all__ = ["differential", "DIFFERENTIAL_COLUMNS"]

DIFFERENTIAL_COLUMNS = [
    "groupby",
    "group",
    "reference",
    "modality",
    "feature",
    "method",
    "n_group",
    "n_reference",
    "mean_group",
    "mean_reference",
    "difference",
    "cohens_d",
    "auc",
    "statistic",
    "p_value",
    "q_value",
    "rank",
]


def _groups(mdata: md.MuData, mod: str, groupby: str) -> pd.Series:
    if groupby in mdata.obs.columns:
        return mdata.obs[groupby]
    adata = mdata.mod[mod]
    if groupby in adata.obs.columns:
        return adata.obs[groupby].reindex(mdata.obs_names)
    raise CohortError(
        f"no grouping column {groupby!r}",
        column=groupby,
        expected=f"a column of mdata.obs: {list(map(str, mdata.obs.columns))[:15]}",
        found="no such column",
        hint="Find radiomic subtypes first with rg.tl.phenotypes",
    )


@keyword_only("mod")
def differential(
    mdata: md.MuData,
    groupby: str = "radiomic_subtype",
    mod: str = "rna",
    *,
    method: Literal["t-test", "wilcoxon"] = "t-test",
    reference: str = "rest",
    groups: Sequence[str] | None = None,
    layer: str | None = None,
    min_patients: int = 3,
    genesets=None,
    q_threshold: float = 0.05,
    key_added: str | None = None,
) -> pd.DataFrame:
    """Test every feature of a modality between groups of patients, one group against
    the rest (or against a reference group), with q-values and, optionally, the
    over-representation of gene sets among the features that differ.

    Parameters
    ----------
    mdata
        The cohort.
    groupby
        Categorical column of ``mdata.obs`` (for example ``"radiomic_subtype"`` from
        ``rg.tl.phenotypes``). Patients without a group, or absent from the modality,
        are left out.
    mod
        Modality tested (``"rna"``, ``"protein"``, ``"radiomics"``, ...). Missing values
        (proteomics) are left out feature by feature.
    method
        ``"t-test"`` (Welch's unequal-variance t test) or ``"wilcoxon"`` (Mann-Whitney U:
        exact when both groups have fewer than 50 values and there are no ties, as R's
        ``wilcox.test``, otherwise with tie and continuity corrections; the rule is
        recorded in the stored parameters).
    reference
        ``"rest"`` (every other patient) or the name of one group.
    groups
        Only report these groups (default: all).
    layer
        Values of this layer instead of ``X``.
    min_patients
        Features with fewer values than this in a group or the reference are not tested.
    genesets
        A GMT file or a dict of name -> genes: runs :func:`rg.tl.enrichment` on the
        result (hits: ``q_value < q_threshold``, up and down separately).
    key_added
        Name of the stored result (default ``"<groupby>:<mod>"``).

    Returns
    -------
    pandas.DataFrame
        One row per group and feature (columns :data:`DIFFERENTIAL_COLUMNS`):
        ``difference`` is the mean in the group minus the mean in the reference (a log2
        fold change for log2 expression), ``cohens_d`` the standardised difference,
        ``auc`` the probability that a group value exceeds a reference value (Wilcoxon
        only), ``q_value`` Benjamini-Hochberg within each group, ``rank`` by p-value
        within each group. Stored as ``rg.get_result(mdata, "differential", key)``.

    Examples
    --------
    >>> import radiogenomics as rg
    >>> mdata = rg.datasets.toy_cohort(n_patients=40)
    >>> mdata.obs["group"] = mdata.obs["stage"].astype(str)
    >>> table = rg.tl.differential(mdata, "group", mod="rna")
    >>> sorted(table["group"].unique())
    ['I', 'II', 'III']
    >>> table[["feature", "p_value", "q_value"]].shape
    (120, 3)
    """
    if method not in ("t-test", "wilcoxon"):
        raise CohortError("unknown test", expected="'t-test' or 'wilcoxon'", found=method)
    if not isinstance(mdata, md.MuData):
        raise CohortError("differential needs the cohort (MuData)", found=type(mdata).__name__)
    labels = _groups(mdata, mod, groupby)
    block = modality_block(mdata, mod, layer=layer)
    levels, codes = _group_levels(labels, block, groupby, mod)
    ref_code = _reference_code(reference, levels, groupby)
    moments, statistic, p_value, auc = _tests(block.values, codes, ref_code, method, min_patients)

    wanted = levels if groups is None else [str(g) for g in groups]
    unknown = [g for g in wanted if g not in levels]
    if unknown:
        raise CohortError(
            "unknown group(s)", column=groupby, expected=f"some of {levels}", found=unknown
        )
    parts = []
    for g, level in enumerate(levels):
        if level not in wanted or g == ref_code:
            continue
        part = _group_table(block.names, moments, statistic, p_value, auc, g, level)
        parts.append(part.sort_values(["p_value", "feature"], na_position="last"))
    table = pd.concat(parts, ignore_index=True)
    table.insert(0, "groupby", groupby)
    table.insert(2, "reference", str(reference))
    table.insert(3, "modality", mod)
    table.insert(5, "method", method)
    table = table[DIFFERENTIAL_COLUMNS]
    for column in ("n_group", "n_reference"):
        table[column] = table[column].fillna(0).astype(np.int64)
    key = key_added or f"{groupby}:{mod}"
    params = {
        "groupby": groupby,
        "mod": mod,
        "method": method,
        "reference": reference,
        "layer": layer,
        "min_patients": min_patients,
        "groups": levels,
        "n_patients": int((codes >= 0).sum()),
    }
    if method == "wilcoxon":
        params["wilcoxon_p_value"] = EXACT_RULE
    store_result(mdata, "differential", key, table, params)
    if genesets is not None:
        enrichment(mdata, genesets, key, q_threshold=q_threshold)
    return table


def _group_levels(labels, block, groupby, mod):
    """Groups among the patients of the modality, and each patient's group code (-1: none)."""
    present = ~np.isnan(block.values).all(axis=1)
    labels = labels.where(pd.Series(present, index=labels.index))
    if isinstance(labels.dtype, pd.CategoricalDtype):
        levels = [str(c) for c in labels.cat.categories if (labels == c).any()]
    else:
        levels = sorted(labels.dropna().astype(str).unique())
    text = labels.astype(object).where(labels.notna(), None)
    codes = np.array([levels.index(str(v)) if v is not None else -1 for v in text])
    if len(levels) < 2:
        raise CohortError(
            f"{groupby!r} has fewer than two groups among the patients of {mod!r}",
            column=groupby,
            expected="two or more groups",
            found=levels,
        )
    return levels, codes


def _reference_code(reference, levels, groupby):
    """Code of the reference group, or None for every other patient ("rest")."""
    if reference == "rest":
        return None
    if str(reference) not in levels:
        raise CohortError(
            "the reference group is not a group of the column",
            column=groupby,
            expected=f"'rest' or one of {levels}",
            found=reference,
        )
    return levels.index(str(reference))


def _tests(x, codes, ref_code, method, min_patients):
    """Moments, statistic, p-value (NaN with too few values) and AUC of each group and feature."""
    moments = welch_one_vs_rest(x, codes, reference=ref_code)
    if method == "wilcoxon":
        ranks = mann_whitney_one_vs_rest(x, codes, reference=ref_code)
        statistic, p_value, auc = ranks["statistic"], ranks["p_value"], ranks["auc"]
    else:
        statistic, p_value = moments["statistic"], moments["p_value"]
        auc = np.full_like(p_value, np.nan)
    too_few = (moments["n_group"] < min_patients) | (moments["n_reference"] < min_patients)
    p_value = np.where(too_few, np.nan, p_value)
    return moments, statistic, p_value, auc


def _group_table(names, moments, statistic, p_value, auc, g, level):
    """The rows of one group against its reference, with q-values and ranks."""
    part = pd.DataFrame(
        {
            "feature": names,
            "n_group": moments["n_group"][g],
            "n_reference": moments["n_reference"][g],
            "mean_group": moments["mean_group"][g],
            "mean_reference": moments["mean_reference"][g],
            "difference": moments["difference"][g],
            "cohens_d": moments["effect_size"][g],
            "auc": auc[g],
            "statistic": statistic[g],
            "p_value": p_value[g],
        }
    )
    part["q_value"] = adjust_pvalues(part["p_value"].to_numpy(), "bh")
    part["rank"] = part["p_value"].rank(method="first").astype("Int64")
    part.insert(0, "group", level)
    return part
