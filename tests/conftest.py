"""Shared fixtures: the reference data folder and a demo cohort built once per session."""

from __future__ import annotations

import os
import shutil
import tempfile
import warnings
from pathlib import Path

import pytest
from helpers import PYRADIOMICS_CASES

from radiogenomics.datasets.demo import CACHE_ENV

# fixtures of the dashboard tests (a results folder, a running server)
pytest_plugins = ["dashboard_support"]

warnings.filterwarnings("ignore", category=FutureWarning, module="mudata")

#: Test files that run the whole demo, notebooks, a browser or many extractions, and tests
#: on the demo study (built once, about 20 s): marked ``slow``, so that
#: ``pytest -m "not slow"`` gives a quick subset while working.
SLOW_FILES = {
    "test_notebooks.py",
    "test_demo.py",
    "test_dashboards_browser.py",
    "test_dicom_extract.py",
    "test_dicom_scan.py",
    "test_report.py",
    "test_segmentation_robustness.py",
    "test_models.py",
    "test_phenotypes.py",
    "test_curation.py",
    "test_explain.py",
}
SLOW_FIXTURES = {"demo_build", "results_folder", "live_app", "live_app_auth"}
SLOW_TESTS = {
    "test_multitest_families_match_statsmodels_per_family",
    "test_model_n_features_zero_is_a_one_line_error",
}


def pytest_configure(config):
    """One extraction cache for the whole run (the parallel workers and the notebooks'
    kernels inherit it): the demo cohort built by several tests and notebooks is
    extracted once. A new, empty folder every run, so a run never reads features that an
    earlier version of the code computed."""
    # the parallel workers already keep every core busy: one BLAS/OpenMP thread each
    # (inherited by the workers, notebook kernels and command-line subprocesses), not a
    # thread per core in every process
    for variable in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(variable, "1")

    if CACHE_ENV not in os.environ:
        folder = tempfile.mkdtemp(prefix="radiogenomics-test-cache-")
        os.environ[CACHE_ENV] = folder
        config._radiogenomics_cache = folder


def pytest_unconfigure(config):
    folder = getattr(config, "_radiogenomics_cache", None)
    if folder:
        shutil.rmtree(folder, ignore_errors=True)
        os.environ.pop(CACHE_ENV, None)


#: The longest tests (half a minute or more each, most of it in notebook kernels and
#: subprocesses): started first, so that the parallel workers finish together instead of
#: one of them running a notebook alone at the end.
LONGEST = ("test_notebooks.py", "test_demo_command_end_to_end")


def _longest_first(item) -> int:
    return 0 if item.path.name in LONGEST or item.name in LONGEST else 1


def pytest_collection_modifyitems(config, items):
    items.sort(key=_longest_first)  # stable: the order within each group stays
    for item in items:
        name = getattr(item, "originalname", item.name)  # doctests have no originalname
        if (
            item.path.name in SLOW_FILES
            or name in SLOW_TESTS
            or SLOW_FIXTURES & set(getattr(item, "fixturenames", ()))
        ):
            item.add_marker(pytest.mark.slow)


@pytest.fixture(scope="session")
def shared_cases() -> Path:
    """The real MR cases of ../shared/data/pyradiomics_cases (skips when absent)."""
    if not PYRADIOMICS_CASES.is_dir():
        pytest.skip(
            f"reference data not found at {PYRADIOMICS_CASES} (the shared reference cases beside the repository)"
        )
    return PYRADIOMICS_CASES


@pytest.fixture(scope="session")
def demo_build(tmp_path_factory):
    """The demo study (120 simulated patients, seed 0), built once: (folder, cohort)."""
    from radiogenomics.datasets import assemble_demo, write_demo_files
    from radiogenomics.extract import features

    folder = tmp_path_factory.mktemp("demo")
    paths = write_demo_files(folder, n_patients=120, random_state=0)
    radiomics = features(
        paths["manifest"],
        params="demo",
        n_jobs=2,
        cache_dir=os.environ.get(CACHE_ENV),
        cache_key="content",
    )
    return folder, paths, assemble_demo(paths, radiomics)


@pytest.fixture
def demo_cohort(demo_build):
    """A private copy of the demo cohort that a test may change."""
    return demo_build[2].copy()
