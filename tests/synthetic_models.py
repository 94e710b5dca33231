"""Small synthetic cohorts for the tests of model explanations and external validation."""

from __future__ import annotations

import anndata as ad
import mudata as md
import numpy as np
import pandas as pd


def cohort(
    seed: int = 0,
    n: int = 90,
    p: int = 12,
    signal: float = 1.5,
    sites=("site_A", "site_B"),
    noise: bool = False,
) -> md.MuData:
    """Radiomics-like features (around 100, SD 10, shifted by 5 per site) and a binary
    label whose log-odds rise with f0 and fall with f1 (none when ``noise``)."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, p)) * 10 + 100
    site = rng.choice(list(sites), size=n)
    shift = {s: 5.0 * i for i, s in enumerate(sites)}
    X = X + np.array([shift[s] for s in site])[:, None]
    linear = 0.0 if noise else signal * (X[:, 0] - 100) / 10 - signal * (X[:, 1] - 100) / 10
    y = (rng.random(n) < 1 / (1 + np.exp(-linear))).astype(float)
    ids = [f"P{seed}_{i:03d}" for i in range(n)]
    radiomics = ad.AnnData(
        X, obs=pd.DataFrame(index=ids), var=pd.DataFrame(index=[f"f{j}" for j in range(p)])
    )
    mdata = md.MuData({"radiomics": radiomics})
    mdata.obs["label"] = y
    mdata.obs["site"] = site
    mdata.obs["time"] = rng.exponential(10, n) * np.exp(-0.3 * linear)
    mdata.obs["event"] = (rng.random(n) < 0.7).astype(int)
    return mdata


QUICK = {
    "n_features": 4,
    "param_grid": {},
    "outer_folds": 3,
    "n_repeats": 1,
    "n_bootstraps": 50,
    "importance_repeats": 0,
}
