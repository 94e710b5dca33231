"""Preprocessing of a modality of the cohort (QC, transforms, harmonisation, redundancy)."""
