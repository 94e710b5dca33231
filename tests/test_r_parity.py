"""Statistics that must agree with R: the concordance of stratified Cox models, the
``cox.zph`` proportional-hazards test, sva's ComBat and ``wilcox.test``'s choice of the
exact Mann-Whitney test. R values are kept as constants with the R code that gives them."""

from __future__ import annotations

import warnings

import anndata as ad
import numpy as np
import pandas as pd
import pytest
from lifelines.datasets import load_rossi
from lifelines.utils import concordance_index as lifelines_concordance
from sksurv.metrics import concordance_index_censored

import radiogenomics as rg
from radiogenomics.stats.concordance import concordance_counts
from radiogenomics.stats.survival import concordance_index


@pytest.fixture(scope="module")
def rossi() -> pd.DataFrame:
    return load_rossi()


def rossi_cohort(rossi: pd.DataFrame, extra: np.ndarray | None = None):
    patients = [f"R{i:03d}" for i in range(len(rossi))]
    clinical = rossi.set_axis(pd.Index(patients, name="patient_id"))
    values = np.c_[rossi[["age", "prio"]].to_numpy(float),
                   np.zeros((len(rossi), 0)) if extra is None else extra]
    feats = ad.AnnData(values, obs=pd.DataFrame(index=patients),
                       var=pd.DataFrame(index=[f"f{j}" for j in range(values.shape[1])]))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return rg.build_cohort({"radiomics": feats}, clinical=clinical)


def per_stratum(time, event, risk, strata, function):
    """Pooled concordant and comparable pairs of an outside implementation, per stratum."""
    concordant = comparable = 0.0
    for level in np.unique(strata):
        m = strata == level
        c, pairs = function(time[m], event[m], risk[m])
        concordant += c
        comparable += pairs
    return concordant / comparable


def sksurv_pairs(time, event, risk):
    _, concordant, discordant, tied_risk, _ = concordance_index_censored(
        event.astype(bool), time.astype(float), risk)
    return concordant + 0.5 * tied_risk, concordant + discordant + tied_risk


def lifelines_pairs(time, event, risk):
    from lifelines.utils.concordance import _concordance_summary_statistics

    concordant, tied, pairs = _concordance_summary_statistics(time, -risk, event)
    return concordant + 0.5 * tied, pairs


# ------------------------------------------------------------------ stratified concordance

# R 4.4, survival 3.7:
#   library(survival); fit <- coxph(Surv(week, arrest) ~ fin + age + prio + strata(wexp), rossi)
#   sprintf("%.6f", concordance(fit)$concordance)        # "0.602987"
R_ROSSI_STRATIFIED_CONCORDANCE = 0.602987


def test_stratified_cox_concordance_counts_pairs_within_strata_as_r(rossi):
    mdata = rossi_cohort(rossi)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        rg.tl.cox(mdata, ["fin", "age", "prio"], time="week", event="arrest", strata="wexp")
    model = rg.get_result(mdata, "cox_model").iloc[0]
    assert model["concordance"] == pytest.approx(R_ROSSI_STRATIFIED_CONCORDANCE, abs=5e-7)
    # the same from outside implementations run stratum by stratum, on our linear predictor
    table = rg.get_result(mdata, "cox")
    lp = rossi[["fin", "age", "prio"]].to_numpy(float) @ table["coef"].to_numpy()
    t, e, s = rossi["week"].to_numpy(float), rossi["arrest"].to_numpy(), rossi["wexp"].to_numpy()
    for outside in (sksurv_pairs, lifelines_pairs):
        assert model["concordance"] == pytest.approx(per_stratum(t, e, lp, s, outside),
                                                     abs=1e-12)
    # pooling the strata gives the old, wrong figure
    assert lifelines_concordance(t, -lp, e) == pytest.approx(0.628986, abs=5e-7)


def test_stratified_concordance_kernels_every_path():
    rng = np.random.default_rng(3)
    n = 240
    time = np.round(rng.exponential(10, n)) + 1
    event = (rng.random(n) < 0.7).astype(int)
    strata = rng.choice(["a", "b", "c"], n)
    risk = rng.normal(size=(n, 12))
    risk[:, :3] = np.round(risk[:, :3])  # tied risks: the tied-pair path
    present = rng.random(risk.shape) > 0.1
    present[:, :6] = True
    risk = np.where(present, risk, np.nan)  # missing values in half of the columns
    ours = concordance_index(time, event, risk, strata=strata)
    for j in range(risk.shape[1]):
        m = present[:, j]
        ref = per_stratum(time[m], event[m], risk[m, j], strata[m], sksurv_pairs)
        assert ours[j] == pytest.approx(ref, abs=1e-12)
        if m.all():  # one complete score: the block-comparison path
            assert concordance_index(time, event, risk[:, j], strata=strata) == \
                pytest.approx(ref, abs=1e-12)
            assert concordance_counts(time, event, risk[:, j], strata=strata)[
                "concordance"] == pytest.approx(ref, abs=1e-12)
    # one stratum is no stratum
    np.testing.assert_allclose(concordance_index(time, event, risk, strata=np.zeros(n)),
                               concordance_index(time, event, risk), atol=0)
    with pytest.raises(ValueError, match="one code per patient"):
        concordance_index(time, event, risk, strata=strata[:-1])


def test_stratified_cox_screen_concordance(rossi):
    rng = np.random.default_rng(0)
    mdata = rossi_cohort(rossi, extra=rng.normal(size=(len(rossi), 3)))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        plain = rg.tl.cox_screen(mdata, "radiomics", time="week", event="arrest",
                                 strata="wexp")
        adjusted = rg.tl.cox_screen(mdata, "radiomics", time="week", event="arrest",
                                    covariates=["fin"], strata="wexp", key_added="adj")
    t, e, s = rossi["week"].to_numpy(float), rossi["arrest"].to_numpy(), rossi["wexp"].to_numpy()
    x = mdata["radiomics"].X
    for _, row in plain.iterrows():
        j = list(mdata["radiomics"].var_names).index(row["feature"])
        ref = per_stratum(t, e, row["coef"] * x[:, j], s, sksurv_pairs)
        assert row["concordance"] == pytest.approx(ref, abs=1e-12)
    fin = rossi["fin"].to_numpy(float)
    for _, row in adjusted.iterrows():
        j = list(mdata["radiomics"].var_names).index(row["feature"])
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ref_fit = rg.tl.cox(mdata, ["fin", f"radiomics:{row['feature']}"], time="week",
                                event="arrest", strata="wexp", key_added="one")
        lp = np.c_[fin, x[:, j]] @ ref_fit["coef"].to_numpy()
        ref = per_stratum(t, e, lp, s, sksurv_pairs)
        assert row["concordance"] == pytest.approx(ref, abs=1e-9)
