"""Plotly figures from the cohort or from result tables."""

from .models import (  # noqa: F401
    calibration,
    decision_curve,
    importance,
    model_comparison,
    roc,
    time_dependent_auc,
)
from .curation import batch_before_after as batch_before_after
from .curation import correlation_clustermap as correlation_clustermap
from .curation import differential_dotplot as differential_dotplot
from .curation import embedding as embedding
from .patient import lesion_slice as lesion_slice
from .patient import lesion_slice_png as lesion_slice_png
from .patient import modality_overlap as modality_overlap
from .patient import patient_percentiles as patient_percentiles
