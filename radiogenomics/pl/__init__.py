"""Plotly figures from the cohort or from result tables."""
