"""radiogenomics: radiomic features, molecular tables and their statistics, scanpy style.

>>> import radiogenomics as rg
>>> mdata = rg.datasets.demo(n_patients=60, random_state=0)      # doctest: +SKIP
>>> rg.tl.associate(mdata, x="radiomics", y="rna")        # doctest: +SKIP
"""

from __future__ import annotations

import importlib
import warnings
from importlib.metadata import PackageNotFoundError, version

import mudata as _mudata

from . import errors, io
from .cohort import build_cohort, get_result, join_report, read_cohort, store_result, write_cohort

try:
    __version__ = version("radiogenomics")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0+unknown"

# MuData's global obs holds the cohort's clinical columns only; modality columns stay in
# their modality (no copying of every modality's obs into the cohort's obs).
try:
    _mudata.set_options(pull_on_update=False)
except (AttributeError, ValueError, TypeError):  # newer mudata has no such option
    pass
# The same gene may be a feature of several modalities (rna, protein, mutation): MuData's
# warning about var_names shared between modalities is expected here.
warnings.filterwarnings("ignore", message="var_names are not unique", category=UserWarning)

_LAZY = ("datasets", "extract", "export", "pp", "pl", "report", "stats", "tl", "cli")

__all__ = [
    "__version__",
    "build_cohort",
    "errors",
    "get_result",
    "io",
    "join_report",
    "read_cohort",
    "store_result",
    "write_cohort",
    *_LAZY,
]


def __getattr__(name: str):
    # heavy subpackages (plotly, scanpy, pyradiomics) load on first use
    if name in _LAZY:
        module = importlib.import_module(f".{name}", __name__)
        globals()[name] = module
        if name == "tl":
            # the figures a saved model carries are drawn by pl, which registers its writer
            # with tl (tl never imports pl)
            globals()["pl"] = importlib.import_module(".pl", __name__)
        return module
    raise AttributeError(f"module 'radiogenomics' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(_LAZY))
