"""Synthetic association tables with the columns of the association-table contract.

Used by the dashboard's tests and load benchmark to exercise the explorer on tables of any
size (up to tens of millions of rows) without running an analysis first. The values are
made up: ``n_signal`` pairs get small p-values, every other pair is null.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

__all__ = ["radiomic_feature_names", "gene_names", "write_association_table"]

_IMAGE_TYPES = [
    "original",
    "wavelet-LLH",
    "wavelet-HHH",
    "log-sigma-2-0-mm",
    "log-sigma-4-0-mm",
    "square",
    "squareroot",
    "logarithm",
    "exponential",
    "gradient",
    "wavelet-LHL",
    "wavelet-HLL",
    "lbp-3D-m1",
    "wavelet-LLL",
]
_CLASSES = {
    "firstorder": [
        "Energy",
        "Entropy",
        "Kurtosis",
        "Maximum",
        "Mean",
        "Median",
        "Minimum",
        "Range",
        "Skewness",
        "Variance",
        "Uniformity",
        "InterquartileRange",
        "RobustMeanAbsoluteDeviation",
        "RootMeanSquared",
        "10Percentile",
        "90Percentile",
        "TotalEnergy",
        "MeanAbsoluteDeviation",
    ],
    "glcm": [
        "Autocorrelation",
        "ClusterProminence",
        "ClusterShade",
        "ClusterTendency",
        "Contrast",
        "Correlation",
        "DifferenceAverage",
        "DifferenceEntropy",
        "DifferenceVariance",
        "Id",
        "Idm",
        "Idmn",
        "Idn",
        "Imc1",
        "Imc2",
        "InverseVariance",
        "JointAverage",
        "JointEnergy",
        "JointEntropy",
        "MCC",
        "MaximumProbability",
        "SumAverage",
        "SumEntropy",
        "SumSquares",
    ],
    "glrlm": [
        "GrayLevelNonUniformity",
        "LongRunEmphasis",
        "RunEntropy",
        "RunPercentage",
        "RunVariance",
        "ShortRunEmphasis",
        "LowGrayLevelRunEmphasis",
        "HighGrayLevelRunEmphasis",
    ],
    "glszm": [
        "GrayLevelVariance",
        "LargeAreaEmphasis",
        "SizeZoneNonUniformity",
        "SmallAreaEmphasis",
        "ZoneEntropy",
        "ZonePercentage",
        "ZoneVariance",
    ],
    "gldm": [
        "DependenceEntropy",
        "DependenceVariance",
        "LargeDependenceEmphasis",
        "SmallDependenceEmphasis",
        "GrayLevelNonUniformity",
    ],
    "ngtdm": ["Busyness", "Coarseness", "Complexity", "Contrast", "Strength"],
}
_SHAPE = [
    "Elongation",
    "Flatness",
    "LeastAxisLength",
    "MajorAxisLength",
    "Maximum2DDiameterSlice",
    "Maximum3DDiameter",
    "MeshVolume",
    "MinorAxisLength",
    "Sphericity",
    "SurfaceArea",
    "SurfaceVolumeRatio",
    "VoxelVolume",
]

COLUMNS = [
    "x_modality",
    "x",
    "y_modality",
    "y",
    "method",
    "n",
    "estimate",
    "std_error",
    "statistic",
    "p_value",
    "q_value",
    "ci_lower",
    "ci_upper",
    "covariates",
]


def radiomic_feature_names(n: int) -> list[str]:
    """``n`` distinct pyradiomics-style feature names (``original_glcm_Contrast``, ...)."""
    names = [f"original_shape_{f}" for f in _SHAPE]
    for image_type in _IMAGE_TYPES:
        for feature_class, features in _CLASSES.items():
            names.extend(f"{image_type}_{feature_class}_{f}" for f in features)
    if n > len(names):
        extra = n - len(names)
        names.extend(f"original_firstorder_Extra{k:05d}" for k in range(extra))
    return names[:n]


def gene_names(n: int) -> list[str]:
    """``n`` distinct gene-like names (``G00001``, ...), with a few real symbols first."""
    real = ["MKI67", "TOP2A", "CA9", "VEGFA", "CD8A", "GZMB", "EGFR", "TP53", "KRAS", "MYC"]
    names = real + [f"G{k:05d}" for k in range(1, n + 1)]
    return names[:n]


def write_association_table(
    path: str | os.PathLike,
    n_x: int = 100,
    n_y: int = 200,
    *,
    seed: int = 0,
    n_signal: int = 200,
    n_patients: int = 120,
    x_modality: str = "radiomics",
    y_modality: str = "rna",
    method: str = "linear",
    x_names: list[str] | None = None,
    y_names: list[str] | None = None,
    row_group_size: int = 262_144,
) -> Path:
    """Write a synthetic association table (``n_x * n_y`` rows) to a Parquet file.

    Rows come x-major, as an association engine emits them (not sorted by p-value).
    q-values are Benjamini-Hochberg over the whole table (``radiogenomics.stats``).

    Parameters
    ----------
    path
        Parquet file to write (atomically).
    n_x, n_y
        Number of x features and y features; the table has every pair.
    seed
        Random seed.
    n_signal
        Pairs given a real effect (small p-values).
    n_patients
        The ``n`` column.
    x_names, y_names
        Names to use instead of generated ones (lengths ``n_x`` and ``n_y``).

    Returns
    -------
    pathlib.Path
    """
    from radiogenomics.stats.multitest import adjust_pvalues

    path = Path(path)
    rng = np.random.default_rng(seed)
    xs = np.asarray(x_names if x_names is not None else radiomic_feature_names(n_x), dtype=object)
    ys = np.asarray(y_names if y_names is not None else gene_names(n_y), dtype=object)
    if len(xs) != n_x or len(ys) != n_y:
        raise ValueError("x_names / y_names must have n_x / n_y names")
    total = n_x * n_y
    z = rng.standard_normal(total).astype(np.float64)
    signal = rng.choice(total, size=min(n_signal, total), replace=False)
    z[signal] += rng.choice([-1.0, 1.0], size=signal.size) * rng.uniform(4.0, 9.0, signal.size)
    from scipy.special import ndtr

    p = 2.0 * ndtr(-np.abs(z))
    q = adjust_pvalues(p, method="bh")
    std_error = rng.uniform(0.05, 0.2, total)
    estimate = z * std_error
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    x_dict = pa.array(xs.tolist(), type=pa.string())
    y_dict = pa.array(ys.tolist(), type=pa.string())
    schema = pa.schema(
        [
            ("x_modality", pa.string()),
            ("x", pa.string()),
            ("y_modality", pa.string()),
            ("y", pa.string()),
            ("method", pa.string()),
            ("n", pa.int64()),
            ("estimate", pa.float64()),
            ("std_error", pa.float64()),
            ("statistic", pa.float64()),
            ("p_value", pa.float64()),
            ("q_value", pa.float64()),
            ("ci_lower", pa.float64()),
            ("ci_upper", pa.float64()),
            ("covariates", pa.string()),
        ]
    )
    with pq.ParquetWriter(tmp, schema, compression="zstd") as writer:
        for start in range(0, total, row_group_size):
            stop = min(start + row_group_size, total)
            idx = np.arange(start, stop)
            xi = (idx // n_y).astype(np.int32)
            yi = (idx % n_y).astype(np.int32)
            count = stop - start
            est, se = estimate[start:stop], std_error[start:stop]
            table = pa.table(
                {
                    "x_modality": pa.array([x_modality] * count, pa.string()),
                    "x": x_dict.take(pa.array(xi)),
                    "y_modality": pa.array([y_modality] * count, pa.string()),
                    "y": y_dict.take(pa.array(yi)),
                    "method": pa.array([method] * count, pa.string()),
                    "n": pa.array(np.full(count, n_patients, dtype=np.int64)),
                    "estimate": est,
                    "std_error": se,
                    "statistic": z[start:stop],
                    "p_value": p[start:stop],
                    "q_value": q[start:stop],
                    "ci_lower": est - 1.959963984540054 * se,
                    "ci_upper": est + 1.959963984540054 * se,
                    "covariates": pa.array([""] * count, pa.string()),
                },
                schema=schema,
            )
            writer.write_table(table, row_group_size=row_group_size)
    os.replace(tmp, path)
    return path
