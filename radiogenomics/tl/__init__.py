"""Cohort-aware tools built on ``radiogenomics.stats``."""

from .associations import associate as associate
from .compare import compare_groups as compare_groups
from .compare import group_mask as group_mask
from .differential import differential as differential
from .enrichment import enrichment as enrichment
from .enrichment import overrepresentation as overrepresentation
from .genesets import score_gene_sets as score_gene_sets
from .models import FittedModel as FittedModel
from .models import compare_models as compare_models
from .models import fit_model as fit_model
from .models import load_model as load_model
from .models import predict as predict
from .patients import clinical_summary as clinical_summary
from .patients import modality_overlap as modality_overlap
from .patients import patient_outliers as patient_outliers
from .patients import patient_percentiles as patient_percentiles
from .patients import patient_variants as patient_variants
from .patients import similar_patients as similar_patients
from .phenotypes import phenotypes as phenotypes
from .risk import risk_signature as risk_signature
from .survival import cox as cox
from .survival import cox_screen as cox_screen
from .survival import kaplan_meier as kaplan_meier
from .survival import logrank as logrank
from .survival import marker_groups as marker_groups
from .survival import maxstat as maxstat
