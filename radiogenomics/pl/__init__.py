"""Plotly figures from the cohort or from result tables."""

from .associations import heatmap as heatmap
from .associations import pair as pair
from .associations import volcano as volcano
