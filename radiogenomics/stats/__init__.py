"""Numerical kernels: numpy/scipy only, no pandas or AnnData, vectorised over features."""
