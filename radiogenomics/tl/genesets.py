"""Gene-set scores per patient from a GMT file, added to the cohort as a modality."""

from __future__ import annotations

import os
from pathlib import Path

import mudata as md
import numpy as np
import pandas as pd
from anndata import AnnData

from .._compat import keyword_only
from ..cohort import add_modality
from ..errors import CohortError, InputError
from ..io.genesets import read_gmt

__all__ = ["score_gene_sets"]

SCORE_METHODS = ("mean_z", "mean")


@keyword_only("mod")
def score_gene_sets(
    mdata: md.MuData,
    gmt_path: str | os.PathLike,
    mod: str = "rna",
    *,
    method: str = "mean_z",
    min_size: int = 5,
    max_size: int | None = None,
    layer: str | None = None,
    key_added: str | None = None,
) -> AnnData:
    """Score gene sets per patient and add the scores to the cohort as a modality.

    Parameters
    ----------
    mdata
        The cohort.
    gmt_path
        Gene sets in GMT format (one set per line: name, description, genes).
    mod
        The modality holding the genes (``var_names``).
    method
        ``"mean_z"`` (the default): the mean over the set's genes of each gene's z-score
        across the modality's patients, so that every gene weighs the same;
        ``"mean"``: the mean of the values themselves.
    min_size, max_size
        Sets with fewer (more) of their genes in the modality are left out (and listed in
        the modality's ``uns``).
    layer
        A layer of the modality instead of ``X``.
    key_added
        Name of the new modality (default ``"geneset"``).

    Returns
    -------
    anndata.AnnData
        The scores (the modality's patients x kept sets), also added to ``mdata`` as
        ``mdata[key_added]``; ``var`` holds ``description``, ``n_genes`` (in the file) and
        ``n_genes_scored`` (found in the modality). Missing values are skipped per patient.

    Examples
    --------
    >>> import radiogenomics as rg
    >>> mdata = rg.datasets.toy_cohort(n_patients=40)
    >>> import pathlib, tempfile
    >>> gmt = pathlib.Path(tempfile.mkdtemp()) / "sets.gmt"
    >>> genes = "\\t".join(f"GENE{i:03d}" for i in range(1, 11))
    >>> _ = gmt.write_text(f"FIRST\\tgenes 1-10\\t{genes}\\n")
    >>> scores = rg.tl.score_gene_sets(mdata, gmt)
    >>> scores.shape, "geneset" in mdata.mod
    ((40, 1), True)
    """
    key_added = key_added or "geneset"
    if method not in SCORE_METHODS:
        raise InputError("unknown gene set score", expected=f"one of {SCORE_METHODS}", found=method)
    if mod not in mdata.mod:
        raise CohortError(
            f"the cohort has no modality {mod!r}", expected=f"one of {list(mdata.mod)}", found=mod
        )
    sets, descriptions = read_gmt(gmt_path, descriptions=True)
    adata = mdata.mod[mod]
    if layer is not None and layer not in adata.layers:
        raise CohortError(
            f"modality {mod!r} has no layer {layer!r}", expected=f"one of {list(adata.layers)}"
        )
    matrix = adata.layers[layer] if layer else adata.X
    if hasattr(matrix, "toarray"):
        matrix = matrix.toarray()
    values = np.asarray(matrix, dtype=float)
    if method == "mean_z":
        with np.errstate(invalid="ignore", divide="ignore"):
            centre = np.nanmean(values, axis=0)
            spread = np.nanstd(values, axis=0, ddof=1)
            values = (values - centre) / np.where(spread > 0, spread, np.nan)
    position = pd.Index(adata.var_names).get_indexer
    kept, dropped, columns = [], {}, []
    rows = []
    for name, genes in sets.items():
        index = position(genes)
        index = index[index >= 0]
        if method == "mean_z" and index.size:
            index = index[~np.isnan(values[:, index]).all(axis=0)]  # constant genes
        size = int(index.size)
        if size < min_size:
            dropped[name] = f"{size} gene(s) in {mod!r}, fewer than min_size={min_size}"
            continue
        if max_size is not None and size > max_size:
            dropped[name] = f"{size} genes in {mod!r}, more than max_size={max_size}"
            continue
        kept.append(name)
        with np.errstate(invalid="ignore"):
            columns.append(
                np.nanmean(values[:, index], axis=1) if size else np.full(values.shape[0], np.nan)
            )
        rows.append(
            {"description": descriptions[name], "n_genes": len(genes), "n_genes_scored": size}
        )
    if not kept:
        raise CohortError(
            f"no gene set of {Path(gmt_path).name} has {min_size} or more genes in {mod!r}",
            file=gmt_path,
            expected=f"gene names of {mod!r} (e.g. {list(adata.var_names[:3])})",
            found=f"{len(sets)} set(s), e.g. {list(next(iter(sets.values()))[:3])}",
        )
    scores = AnnData(
        X=np.column_stack(columns),
        obs=pd.DataFrame(index=adata.obs_names.copy()),
        var=pd.DataFrame(rows, index=pd.Index(kept, name=None)),
    )
    scores.uns["radiogenomics"] = {
        "source": str(gmt_path),
        "modality": mod,
        "method": method,
        "layer": layer,
        "min_size": min_size,
        "max_size": max_size,
        "dropped": dropped,
    }
    add_modality(mdata, key_added, scores)
    return scores
