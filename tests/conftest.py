"""Shared fixtures: the reference data folder and a demo cohort built once per session."""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest
from helpers import PYRADIOMICS_CASES

# fixtures of the dashboard tests (a results folder, a running server)
pytest_plugins = ["dashboard_support"]

warnings.filterwarnings("ignore", category=FutureWarning, module="mudata")


@pytest.fixture(scope="session")
def shared_cases() -> Path:
    """The real MR cases of ../shared/data/pyradiomics_cases (skips when absent)."""
    if not PYRADIOMICS_CASES.is_dir():
        pytest.skip(f"reference data not found at {PYRADIOMICS_CASES} (the shared reference cases beside the repository)")
    return PYRADIOMICS_CASES


@pytest.fixture(scope="session")
def demo_build(tmp_path_factory):
    """The demo study (120 simulated patients, seed 0), built once: (folder, cohort)."""
    from radiogenomics.datasets import assemble_demo, write_demo_files
    from radiogenomics.extract import features

    folder = tmp_path_factory.mktemp("demo")
    paths = write_demo_files(folder, n_patients=120, seed=0)
    radiomics = features(paths["manifest"], params="demo", n_jobs=2)
    return folder, paths, assemble_demo(paths, radiomics)


@pytest.fixture
def demo_cohort(demo_build):
    """A private copy of the demo cohort that a test may change."""
    return demo_build[2].copy()
