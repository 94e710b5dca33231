"""A small cohort made in memory in well under a second, for examples and doctests."""

from __future__ import annotations

import warnings

import anndata as ad
import mudata as md
import numpy as np
import pandas as pd

from ..cohort import build_cohort

__all__ = ["toy_cohort"]

_FEATURES = [
    "original_shape_VoxelVolume",
    "original_shape_Sphericity",
    "original_shape_SurfaceArea",
    "original_firstorder_Mean",
    "original_firstorder_Median",
    "original_firstorder_Variance",
    "original_firstorder_Entropy",
    "original_glcm_Contrast",
    "original_glcm_Imc2",
    "original_glcm_SumEntropy",
    "original_glrlm_RunEntropy",
    "original_gldm_DependenceEntropy",
]


def toy_cohort(n_patients: int = 60, n_genes: int = 40, random_state: int = 0) -> md.MuData:
    """A small random cohort: radiomics, RNA, mutation and clinical columns.

    Radiomic features (pyradiomics names) and RNA share two latent factors, one of which
    raises the hazard; ``obs`` holds ``os_months``, ``os_event``, ``age``, ``stage``, ``site``
    and ``egfr_mutant``. Made in memory, with no images, for examples and doctests; use
    :func:`radiogenomics.datasets.demo` for the full demo study.

    Examples
    --------
    >>> import radiogenomics as rg
    >>> mdata = rg.datasets.toy_cohort(n_patients=30)
    >>> mdata.n_obs, sorted(mdata.mod)
    (30, ['mutation', 'radiomics', 'rna'])
    >>> mdata["radiomics"].var["feature_class"].iloc[0]
    'shape'
    """
    rng = np.random.default_rng(random_state)
    patients = [f"P{i:03d}" for i in range(1, n_patients + 1)]
    factors = rng.normal(size=(n_patients, 2))
    load_x = rng.normal(size=(2, len(_FEATURES)))
    x = factors @ load_x + rng.normal(scale=0.8, size=(n_patients, len(_FEATURES)))
    x = x * rng.uniform(0.5, 50, len(_FEATURES)) + rng.uniform(0, 200, len(_FEATURES))
    parts = [name.split("_", 2) for name in _FEATURES]
    radiomics = ad.AnnData(
        x,
        obs=pd.DataFrame(index=patients),
        var=pd.DataFrame(
            {
                "image_type": [p[0] for p in parts],
                "feature_class": [p[1] for p in parts],
                "feature": [p[2] for p in parts],
            },
            index=_FEATURES,
        ),
    )
    genes = [f"GENE{j:03d}" for j in range(1, n_genes + 1)]
    rna = ad.AnnData(
        factors @ rng.normal(size=(2, n_genes)) + rng.normal(size=(n_patients, n_genes)) + 6.0,
        obs=pd.DataFrame(index=patients),
        var=pd.DataFrame(index=genes),
    )
    egfr = (rng.random(n_patients) < 0.3).astype(float)
    mutation = ad.AnnData(
        np.column_stack([egfr, rng.random(n_patients) < 0.4]).astype(float),
        obs=pd.DataFrame(index=patients),
        var=pd.DataFrame(index=["EGFR", "TP53"]),
    )
    hazard = np.exp(0.7 * factors[:, 0])
    time = rng.exponential(30.0 / hazard)
    censor = rng.uniform(5, 80, n_patients)
    clinical = pd.DataFrame(
        {
            "os_months": np.round(np.minimum(time, censor), 1) + 0.1,
            "os_event": (time <= censor).astype(int),
            "age": rng.normal(62, 9, n_patients).round(),
            "stage": pd.Categorical(
                rng.choice(["I", "II", "III"], n_patients),
                categories=["I", "II", "III"],
                ordered=True,
            ),
            "site": rng.choice(["site_A", "site_B"], n_patients),
            "egfr_mutant": egfr,
        },
        index=pd.Index(patients, name="patient_id"),
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return build_cohort(
            {"radiomics": radiomics, "rna": rna, "mutation": mutation}, clinical=clinical
        )
