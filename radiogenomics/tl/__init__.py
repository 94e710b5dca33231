"""Cohort-aware tools built on ``radiogenomics.stats``."""

from .differential import differential as differential
from .enrichment import enrichment as enrichment
from .enrichment import overrepresentation as overrepresentation
from .enrichment import read_gmt as read_gmt
from .phenotypes import phenotypes as phenotypes
