"""Cohort-aware tools built on ``radiogenomics.stats``."""

from .associations import associate as associate
from .genesets import score_gene_sets as score_gene_sets
