"""Dash dashboards over a finished radiogenomics analysis."""
