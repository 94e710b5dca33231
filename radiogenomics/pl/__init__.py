"""Plotly figures from the cohort or from result tables."""

from .associations import heatmap as heatmap
from .associations import pair as pair
from .associations import volcano as volcano
from .curation import batch_before_after as batch_before_after
from .curation import correlation_clustermap as correlation_clustermap
from .curation import differential_dotplot as differential_dotplot
from .curation import embedding as embedding
from .explain import shap_summary as shap_summary
from .explain import shap_waterfall as shap_waterfall
from .models import calibration as calibration
from .models import decision_curve as decision_curve
from .models import importance as importance
from .models import model_comparison as model_comparison
from .models import roc as roc
from .models import time_dependent_auc as time_dependent_auc
from .patient import lesion_slice as lesion_slice
from .patient import lesion_slice_png as lesion_slice_png
from .patient import lesion_slice_view as lesion_slice_view
from .patient import modality_overlap as modality_overlap
from .patient import patient_percentiles as patient_percentiles
from .patient import read_lesion_volume as read_lesion_volume
from .patient import window_range as window_range
from .survival import forest as forest
from .survival import km as km
from .survival import survival_volcano as survival_volcano
