"""Fixtures of the dashboard tests: a results folder, live servers, a headless Chromium."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parents[1]
ARTIFACTS = Path(os.environ.get("RADIOGENOMICS_TEST_ARTIFACTS", ROOT / "test-artifacts"))
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
PASSWORD = "tumor-board-2024"


def survival_screen(features: list[str], modality: str = "radiomics", seed: int = 0):
    """A made-up survival screen with the contract's columns."""
    rng = np.random.default_rng(seed)
    n = len(features)
    coef = rng.normal(0, 0.3, n)
    se = rng.uniform(0.1, 0.3, n)
    from scipy.special import ndtr

    from radiogenomics.stats.multitest import adjust_pvalues

    p = 2 * ndtr(-np.abs(coef / se))
    return pd.DataFrame(
        {
            "modality": modality,
            "feature": features,
            "n": 100,
            "n_events": 60,
            "coef": coef,
            "hazard_ratio": np.exp(coef),
            "std_error": se,
            "z": coef / se,
            "p_value": p,
            "q_value": adjust_pvalues(p),
            "hr_ci_lower": np.exp(coef - 1.96 * se),
            "hr_ci_upper": np.exp(coef + 1.96 * se),
            "concordance": rng.uniform(0.5, 0.7, n),
        }
    )


def write_results_folder(folder: Path, mdata) -> Path:
    """A results folder as the demo writes it: the cohort (radiomic features scaled, their
    raw values in ``layers["raw"]``) and exported result tables."""
    import radiogenomics as rg
    from dashboards.synthetic import write_association_table

    folder.mkdir(parents=True, exist_ok=True)
    mdata = mdata.copy()
    # as a study stores it: radiomic features scaled, their raw values kept
    rg.pp.scale(mdata, mod="radiomics")
    add_stored_results(mdata)
    # a small nested cross-validation, so that the models page has a real model to show
    rg.tl.fit_model(
        mdata,
        "egfr_mutant",
        "radiomics",
        n_features=(5,),
        outer_folds=3,
        n_repeats=1,
        inner_folds=2,
        n_bootstraps=200,
        importance_repeats=1,
        n_jobs=1,
        layers={"radiomics": "raw"},
        key_added="egfr_mutant",
    )
    # radiomic subtypes with a short stability check, for the subtypes page
    rg.tl.phenotypes(mdata, mod="radiomics", resolution=(1.0,), n_resamples=5)
    rg.write_cohort(mdata, folder / "cohort.h5mu")
    radiomic = list(mdata["radiomics"].var_names)
    genes = list(mdata["rna"].var_names)
    write_association_table(
        folder / "results" / "associations_radiomics_rna.parquet",
        n_x=len(radiomic),
        n_y=len(genes),
        x_names=radiomic,
        y_names=genes,
        seed=1,
        n_signal=400,
        n_patients=int(mdata.n_obs),
    )
    survival_screen(radiomic).to_parquet(folder / "results" / "survival_radiomics.parquet")
    return folder


def add_stored_results(mdata) -> None:
    """Results the curation, survival and model tools store in a cohort, made up with
    their layout: a feature QC table, a risk signature's score and group, and per-patient
    model predictions."""
    from radiogenomics.cohort import store_result

    rng = np.random.default_rng(2)
    features = list(mdata["radiomics"].var_names)
    dropped = np.zeros(len(features), bool)
    dropped[:3] = True
    store_result(
        mdata,
        "feature_qc",
        "radiomics",
        pd.DataFrame(
            {
                "feature": features,
                "fraction_missing": 0.0,
                "dropped": dropped,
                "reason": np.where(dropped, "constant", ""),
            }
        ),
        {"mod": "radiomics", "n_features": len(features), "n_dropped": 3},
    )
    score = rng.normal(size=mdata.n_obs)
    mdata.obs["demo_risk_score"] = score
    mdata.obs["demo_risk_group"] = pd.Categorical(
        np.where(score > np.median(score), "high", "low"), categories=["low", "high"], ordered=True
    )
    # the signature's training patients and those held out to judge it
    mdata.obs["demo_risk_set"] = np.where(np.arange(mdata.n_obs) % 4 == 0, "held_out", "training")
    store_result(
        mdata,
        "risk_signature",
        "demo_risk",
        pd.DataFrame({"feature": features[:2], "coef": [0.5, -0.3]}),
    )
    store_result(
        mdata,
        "model_predictions",
        "response_model",
        pd.DataFrame(
            {
                "patient_id": list(mdata.obs_names),
                "set": "out-of-fold",
                "prediction": rng.uniform(size=mdata.n_obs),
                "predicted_label": rng.choice(["responder", "non-responder"], mdata.n_obs),
            }
        ),
    )


@pytest.fixture(scope="session")
def results_folder(demo_build, tmp_path_factory):
    return write_results_folder(
        tmp_path_factory.mktemp("dashboard") / "demo-results", demo_build[2]
    )


class LiveServer:
    """A dashboard served by waitress on a free loopback port, in a thread."""

    def __init__(self, app, threads: int = 8):
        from waitress import create_server

        self.app = app
        self.server = create_server(app.server, host="127.0.0.1", port=0, threads=threads)
        self.url = f"http://127.0.0.1:{self.server.effective_port}"
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.thread.start()

    def close(self):
        self.server.close()
        self.thread.join(timeout=10)


@pytest.fixture(scope="session")
def live_app(results_folder):
    from dashboards import create_app

    server = LiveServer(create_app(results_folder))
    yield server
    server.close()


@pytest.fixture(scope="session")
def password_file(tmp_path_factory):
    from dashboards import add_user

    return add_user(tmp_path_factory.mktemp("auth") / "users.txt", "board", PASSWORD)


@pytest.fixture(scope="session")
def live_app_auth(results_folder, password_file):
    from dashboards import create_app

    server = LiveServer(create_app(results_folder, auth_file=password_file, pseudonymize=True))
    yield server
    server.close()


@pytest.fixture(scope="session")
def browser():
    if not CHROMIUM.exists():
        pytest.skip(f"Chromium not found at {CHROMIUM} (install Debian's chromium package)")
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
        yield browser
        browser.close()


class PageWatch:
    """Console errors and failed requests of a page."""

    def __init__(self, page):
        self.errors: list[str] = []
        self.failed: list[str] = []
        page.on("console", lambda m: m.type == "error" and self.errors.append(m.text))
        page.on("pageerror", lambda e: self.errors.append(str(e)))
        page.on("response", lambda r: r.status >= 400 and self.failed.append(f"{r.status} {r.url}"))
        page.on("requestfailed", lambda r: self.failed.append(f"failed {r.url}"))

    def assert_clean(self):
        assert not self.errors, f"browser console errors: {self.errors}"
        assert not self.failed, f"failed requests: {self.failed}"


def screenshot(page, name: str) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def wait_for_callbacks(page, timeout: float = 30_000) -> None:
    """Until Dash has no callback in flight (the loading state is gone)."""
    page.wait_for_load_state("networkidle", timeout=timeout)
    page.wait_for_function(
        "() => !document.querySelector('[data-dash-is-loading=\"true\"]')", timeout=timeout
    )
