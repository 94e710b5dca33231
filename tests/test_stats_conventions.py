"""Old argument names and values of the statistics kernels and survival tools keep working
for one release, with a FutureWarning."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

import radiogenomics as rg
from radiogenomics.stats import maxstat as ms
from radiogenomics.stats.association import associate_arrays
from radiogenomics.stats.cox import cox_batch, prepare_survival
from radiogenomics.stats.survival import concordance_index


def _data():
    rng = np.random.default_rng(0)
    time = rng.exponential(5.0, 40)
    event = (rng.random(40) < 0.7).astype(float)
    x = rng.normal(size=(40, 3))
    return time, event, x


def test_n_threads_is_n_jobs_with_a_warning():
    time, event, x = _data()
    with pytest.warns(FutureWarning, match="n_threads"):
        old = concordance_index(time, event, x, n_threads=1)
    np.testing.assert_array_equal(old, concordance_index(time, event, x, n_jobs=1))
    with pytest.warns(FutureWarning, match="n_threads"):
        old = associate_arrays(x, x[:, :1], n_threads=1)
    np.testing.assert_array_equal(old.values, associate_arrays(x, x[:, :1], n_jobs=1).values)
    design = prepare_survival(time, event)
    with pytest.warns(FutureWarning, match="n_threads"):
        old = cox_batch(design, x, n_threads=1)
    np.testing.assert_array_equal(old.coef, cox_batch(design, x, n_jobs=1).coef)


def test_seed_is_random_state_with_a_warning():
    time, event, x = _data()
    with pytest.warns(FutureWarning, match="seed"):
        old = ms.maxstat(x[:, 0], time, event, pmethod="condMC", n_permutations=200, seed=3)
    new = ms.maxstat(x[:, 0], time, event, pmethod="condMC", n_permutations=200, random_state=3)
    assert old.p_value == new.p_value


def test_missing_raise_is_missing_error_with_a_warning():
    mdata = rg.datasets.toy_cohort(n_patients=40)
    mdata.obs.loc[mdata.obs.index[0], "os_months"] = np.nan
    with pytest.raises(Exception, match="no time"):
        rg.tl.kaplan_meier(mdata, time="os_months", event="os_event", missing="error")
    with (
        pytest.warns(FutureWarning, match="missing='raise'"),
        pytest.raises(Exception, match="no time"),
    ):
        rg.tl.kaplan_meier(mdata, time="os_months", event="os_event", missing="raise")


def _small_cohort():
    import mudata as md
    import pandas as pd
    from anndata import AnnData

    rng = np.random.default_rng(1)
    x = rng.lognormal(size=(25, 4))
    x[:, 3] = 1.0  # a constant feature, dropped by quality control
    radiomics = AnnData(
        x,
        obs=pd.DataFrame(index=[f"P{i:02d}" for i in range(25)]),
        var=pd.DataFrame(index=["a", "b", "c", "flat"]),
    )
    return md.MuData({"radiomics": radiomics})


@pytest.mark.parametrize("tool", ["filter_features", "transform", "scale"])
def test_copy_true_leaves_the_cohort_and_returns_the_changed_copy(tool):
    mdata = _small_cohort()
    before = mdata["radiomics"].X.copy()
    changed = getattr(rg.pp, tool)(mdata, mod="radiomics", copy=True)
    np.testing.assert_array_equal(mdata["radiomics"].X, before)
    assert "radiogenomics" not in mdata.uns or not mdata.uns["radiogenomics"]
    in_place = _small_cohort()
    getattr(rg.pp, tool)(in_place, mod="radiomics")
    np.testing.assert_array_equal(changed["radiomics"].X, in_place["radiomics"].X)
    assert list(changed["radiomics"].var_names) == list(in_place["radiomics"].var_names)


def test_filter_features_stores_under_key_added():
    mdata = _small_cohort()
    table = rg.pp.filter_features(mdata, mod="radiomics", key_added="first_pass")
    stored = rg.get_result(mdata, "feature_qc", "first_pass")
    assert stored.equals(table) and table.set_index("feature").loc["flat", "dropped"]


def test_positional_modality_and_survival_columns_still_work_and_warn():
    """Old calls that pass ``mod`` or ``time``/``event`` by position give the same result
    for one release, with a FutureWarning naming the keywords."""
    mdata = rg.datasets.toy_cohort(n_patients=40)
    new = rg.tl.kaplan_meier(mdata, time="os_months", event="os_event", groupby="stage")
    with pytest.warns(FutureWarning, match=r"kaplan_meier\(\): pass time=, event=, groupby="):
        old = rg.tl.kaplan_meier(mdata, "os_months", "os_event", "stage")
    pd.testing.assert_frame_equal(old, new)
    with pytest.warns(FutureWarning, match=r"pass mod= by keyword") as caught:
        kept = rg.pp.filter_features(mdata, "radiomics", copy=True)
    assert caught[0].filename == __file__  # the warning points at the caller's line
    assert (
        kept["radiomics"].n_vars
        == rg.pp.filter_features(mdata, mod="radiomics", copy=True)["radiomics"].n_vars
    )
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the keyword form is silent
        rg.tl.logrank(mdata, time="os_months", event="os_event", groupby="stage")
