"""One patient against the cohort (percentiles, similar patients) and cohort summaries,
checked against scipy, scikit-learn and pandas."""

from __future__ import annotations

import anndata as ad
import numpy as np
import pandas as pd
import pytest
from scipy import stats

import radiogenomics as rg
from radiogenomics.errors import CohortError
from radiogenomics.stats.neighbors import percentile_of, standardized_distances


@pytest.fixture
def small_cohort():
    rng = np.random.default_rng(3)
    patients = [f"P{i:02d}" for i in range(30)]
    radiomics = ad.AnnData(
        rng.normal(size=(30, 6)).round(1),
        obs=pd.DataFrame(index=patients),
        var=pd.DataFrame(index=[f"original_firstorder_F{j}" for j in range(6)]),
    )
    radiomics.X[4, 2] = np.nan
    rna = ad.AnnData(
        rng.normal(size=(25, 4)),
        obs=pd.DataFrame(index=patients[5:]),
        var=pd.DataFrame(index=["MKI67", "CA9", "CD8A", "EGFR"]),
    )
    clinical = pd.DataFrame(
        {
            "age": rng.integers(40, 80, 30).astype(float),
            "stage": pd.Categorical(
                rng.choice(["I", "II", "III"], 30), categories=["I", "II", "III"]
            ),
            "os_months": rng.uniform(1, 60, 30),
            "os_event": rng.integers(0, 2, 30),
        },
        index=pd.Index(patients, name="patient_id"),
    )
    clinical.loc["P03", "age"] = np.nan
    return rg.build_cohort({"radiomics": radiomics, "rna": rna}, clinical=clinical, join="outer")


def test_percentile_of_matches_scipy():
    rng = np.random.default_rng(0)
    values = rng.integers(0, 6, size=(40, 5)).astype(float)  # many ties
    values[3, 1] = np.nan
    point = values[7]
    ours = percentile_of(values, point)
    for j in range(5):
        column = values[:, j][~np.isnan(values[:, j])]
        assert ours[j] == pytest.approx(stats.percentileofscore(column, point[j], kind="mean"))


def test_patient_percentiles(small_cohort):
    table = rg.tl.patient_percentiles(small_cohort, "P04", mod="radiomics")
    values = small_cohort["radiomics"].to_df()
    assert list(table["feature"]) == list(values.columns)
    for _, row in table.iterrows():
        column = values[row["feature"]].dropna()
        own = values.loc["P04", row["feature"]]
        if np.isnan(own):
            assert np.isnan(row["percentile"]) and np.isnan(row["z_score"])
            continue
        assert row["percentile"] == pytest.approx(stats.percentileofscore(column, own, kind="mean"))
        assert row["z_score"] == pytest.approx((own - column.mean()) / column.std(ddof=1))
        assert row["cohort_median"] == pytest.approx(column.median())
        assert row["n"] == len(column)
    # a patient absent from a modality (outer join) gets missing values, not an error
    rna = rg.tl.patient_percentiles(small_cohort, "P01", mod="rna", features=["CA9"])
    assert np.isnan(rna["percentile"]).all() and rna["n"].iloc[0] == 25


def test_similar_patients_match_sklearn(small_cohort):
    from sklearn.neighbors import NearestNeighbors
    from sklearn.preprocessing import StandardScaler

    values = small_cohort["rna"].to_df()  # complete
    z = StandardScaler().fit_transform(values.to_numpy())
    model = NearestNeighbors(n_neighbors=5).fit(z)
    target = list(values.index).index("P10")
    distance, index = model.kneighbors(z[[target]], n_neighbors=5)
    ours = rg.tl.similar_patients(
        small_cohort, "P10", mod="rna", n_neighbors=4, obs_columns=["os_months", "os_event"]
    )
    assert list(ours["patient_id"]) == [values.index[i] for i in index[0][1:]]
    assert ours["distance"].to_numpy() == pytest.approx(distance[0][1:])
    assert list(ours["rank"]) == [1, 2, 3, 4]
    expected = small_cohort.obs.loc[ours["patient_id"], "os_months"].to_numpy()
    assert ours["os_months"].to_numpy() == pytest.approx(expected)


def test_standardized_distances_rescale_missing_values():
    values = np.array([[0.0, 0.0], [1.0, 1.0], [2.0, np.nan], [3.0, 3.0]])
    d = standardized_distances(values, 0)
    sd0 = np.std(values[:, 0])
    sd1 = np.nanstd(values[:, 1])
    assert d[0] == 0
    assert d[1] == pytest.approx(np.hypot(1 / sd0, 1 / sd1))
    assert d[2] == pytest.approx(np.sqrt((2 / sd0) ** 2 * 2))


def test_unknown_patient_is_a_cohort_error(small_cohort):
    with pytest.raises(CohortError, match="unknown patient"):
        rg.tl.patient_percentiles(small_cohort, "nobody")
    with pytest.raises(CohortError, match="no values in modality"):
        rg.tl.similar_patients(small_cohort, "P01", mod="rna")


def test_modality_overlap(small_cohort):
    table = rg.tl.modality_overlap(small_cohort)
    both = table[table["radiomics"] & table["rna"]]["n_patients"].sum()
    only = table[table["radiomics"] & ~table["rna"]]["n_patients"].sum()
    assert (both, only) == (25, 5)
    assert table["n_patients"].sum() == small_cohort.n_obs


def test_clinical_summary(small_cohort):
    table = rg.tl.clinical_summary(small_cohort).set_index("column")
    age = small_cohort.obs["age"]
    assert table.loc["age", "kind"] == "numeric"
    assert table.loc["age", "missing"] == 1 and table.loc["age", "n"] == 29
    assert table.loc["age", "median"] == pytest.approx(age.median())
    assert table.loc["age", "q1"] == pytest.approx(age.quantile(0.25))
    assert table.loc["age", "max"] == pytest.approx(age.max())
    counts = small_cohort.obs["stage"].value_counts()
    assert table.loc["stage", "levels"] == ", ".join(
        f"{level}: {counts[level]}" for level in ["I", "II", "III"] if counts[level]
    )
