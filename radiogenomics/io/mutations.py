"""The MAF reader: variants to a patients x genes mutation matrix (non-synonymous by
default), the variants themselves kept."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import numpy as np
import pandas as pd
from anndata import AnnData

from ..errors import InputError
from ._common import PathLike, _provenance
from .schema import (
    load_schema,
    validate_fields,
)
from .tables import read_table

NON_SYNONYMOUS: tuple[str, ...] = tuple(
    load_schema("mutations_maf")["x-radiogenomics"]["nonSynonymousClasses"]
)


def read_mutations(
    path: PathLike,
    *,
    classes: Iterable[str] | None = None,
    samples: Iterable[str] | None = None,
    genes: Iterable[str] | None = None,
    sample_column: str = "Tumor_Sample_Barcode",
    gene_column: str = "Hugo_Symbol",
    classification_column: str = "Variant_Classification",
    sep: str | None = None,
    encoding: str | None = None,
) -> AnnData:
    """Read a MAF into a binary patients x genes matrix.

    Parameters
    ----------
    path
        MAF file (tab-separated, ``#`` comment lines allowed), or CSV/Parquet with the
        same columns.
    classes
        Variant classifications that count as a mutation. Default: the non-synonymous
        classes (``radiogenomics.io.NON_SYNONYMOUS``).
    samples
        All sequenced samples. A sequenced sample without any counted mutation gets 0
        everywhere; a sample that was not sequenced is absent (never 0). By default the
        sequenced samples are those appearing in the MAF with any classification.
    genes
        Genes to report (columns of 0 when never mutated); by default every gene with a
        counted mutation.

    Returns
    -------
    AnnData
        ``X`` is 1 where the sample has at least one counted mutation in the gene;
        ``layers["n_variants"]`` counts them; ``var["n_mutated"]`` counts samples.
        ``uns["variants"]`` keeps the counted variants, one row each, with the MAF's
        columns that describe them when present (``Variant_Type``, ``HGVSp_Short``,
        ``HGVSc``, ``t_alt_count``, ``t_ref_count``, ...) and ``vaf``, the variant allele
        fraction ``t_alt_count / (t_alt_count + t_ref_count)``.

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> import pandas as pd
    >>> import radiogenomics as rg
    >>> maf = pd.DataFrame(
    ...     {
    ...         "Hugo_Symbol": ["EGFR", "TP53", "TP53", "KRAS"],
    ...         "Tumor_Sample_Barcode": ["S1", "S1", "S2", "S2"],
    ...         "Variant_Classification": [
    ...             "Missense_Mutation", "Nonsense_Mutation", "Missense_Mutation", "Silent"
    ...         ],
    ...         "t_alt_count": [12, 30, 8, 5],
    ...         "t_ref_count": [36, 30, 24, 40],
    ...     }
    ... )
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     maf.to_csv(Path(folder) / "calls.maf", sep="\\t", index=False)
    ...     mutations = rg.io.read_mutations(Path(folder) / "calls.maf", samples=["S1", "S2", "S3"])
    >>> mutations.to_df()  # the silent KRAS variant does not count; S3 has none
        EGFR  TP53
    S1   1.0   1.0
    S2   0.0   1.0
    S3   0.0   0.0
    >>> mutations.var["n_mutated"].tolist()
    [1, 2]
    >>> mutations.uns["variants"][["Hugo_Symbol", "vaf"]].values.tolist()
    [['EGFR', 0.25], ['TP53', 0.5], ['TP53', 0.25]]
    """
    schema = load_schema("mutations_maf")
    allowed_classes = set(
        next(f for f in schema["fields"] if f["name"] == "Variant_Classification")["constraints"][
            "enum"
        ]
    )
    if classes is None:
        classes = NON_SYNONYMOUS
    classes = list(classes)
    unknown = [c for c in classes if c not in allowed_classes]
    if unknown:
        raise InputError(
            "unknown variant classification in classes",
            expected=f"MAF classes such as {sorted(allowed_classes)[:6]}",
            found=unknown,
        )
    text_sep = sep
    if text_sep is None and Path(path).suffix.lower() in (".maf", ".txt", ".tsv"):
        text_sep = "\t"
    table = read_table(
        path,
        sep=text_sep,
        encoding=encoding,
        comment_prefix="#",
        string_columns=[sample_column, gene_column, classification_column],
        missing_values=schema["missingValues"],
    )
    renames = {
        sample_column: "Tumor_Sample_Barcode",
        gene_column: "Hugo_Symbol",
        classification_column: "Variant_Classification",
    }
    renames = {k: v for k, v in renames.items() if k != v and k in table.data.columns}
    frame = validate_fields(table.data.rename(columns=renames), schema, table)
    sequenced = pd.unique(frame["Tumor_Sample_Barcode"].astype(str))
    if samples is not None:
        samples = [str(s) for s in samples]
        outside = sorted(set(sequenced) - set(samples))
        if outside:
            raise InputError(
                f"{len(outside)} sample(s) in the MAF are not among the sequenced samples given",
                file=path,
                column="Tumor_Sample_Barcode",
                expected="every MAF sample listed in samples",
                found=outside[:5],
            )
        sequenced = pd.unique(np.asarray(samples, dtype=object))
    kept = frame[frame["Variant_Classification"].isin(classes)]
    gene_list = list(pd.unique(kept["Hugo_Symbol"])) if genes is None else list(genes)
    counts = (
        kept[kept["Hugo_Symbol"].isin(gene_list)]
        .groupby(["Tumor_Sample_Barcode", "Hugo_Symbol"])
        .size()
        .unstack(fill_value=0)
        .reindex(index=sequenced, columns=gene_list, fill_value=0)
    )
    n_variants = counts.to_numpy(dtype=np.float32)
    adata = AnnData(
        X=(n_variants > 0).astype(np.float32),
        obs=pd.DataFrame(index=pd.Index([str(s) for s in sequenced])),
        var=pd.DataFrame(index=pd.Index([str(g) for g in gene_list])),
    )
    adata.layers["n_variants"] = n_variants
    adata.var["n_mutated"] = (n_variants > 0).sum(axis=0).astype(np.int64)
    adata.uns["variants"] = _variant_rows(kept[kept["Hugo_Symbol"].isin(gene_list)])
    adata.uns["radiogenomics"] = _provenance(
        path,
        "read_mutations",
        modality="mutation",
        classes=classes,
        n_variants_read=int(frame.shape[0]),
        n_variants_counted=int(kept.shape[0]),
    )
    return adata


#: MAF columns kept with each counted variant (when the file has them).
VARIANT_COLUMNS = [
    "Tumor_Sample_Barcode",
    "Hugo_Symbol",
    "Variant_Classification",
    "Variant_Type",
    "HGVSp_Short",
    "HGVSp",
    "HGVSc",
    "Protein_Change",
    "Chromosome",
    "Start_Position",
    "Reference_Allele",
    "Tumor_Seq_Allele2",
    "t_alt_count",
    "t_ref_count",
    "t_depth",
]


def _variant_rows(kept: pd.DataFrame) -> pd.DataFrame:
    """The counted variants with their describing columns and allele fraction, as plain
    text and numbers (so that they are written to and read from a cohort file as they are)."""
    columns = [c for c in VARIANT_COLUMNS if c in kept.columns]
    out = kept[columns].reset_index(drop=True).copy()
    for column in out.columns:
        if column in ("t_alt_count", "t_ref_count", "t_depth", "Start_Position"):
            out[column] = pd.to_numeric(out[column], errors="coerce").astype(float)
        else:
            out[column] = out[column].astype(object).where(out[column].notna(), "").astype(str)
    if "t_alt_count" in out and ("t_ref_count" in out or "t_depth" in out):
        depth = out["t_depth"] if "t_depth" in out else out["t_alt_count"] + out["t_ref_count"]
        with np.errstate(divide="ignore", invalid="ignore"):
            out["vaf"] = np.where(depth > 0, out["t_alt_count"] / depth, np.nan)
    return out
