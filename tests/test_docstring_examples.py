"""The Examples sections of the docstrings run, and print what they say they print.

The doctests are collected from the *installed* package (``import radiogenomics``), so they
run the same whether the package was installed editable or as a wheel; pytest's own
``--doctest-modules`` collects the source files instead and refuses a wheel install.
"""

from __future__ import annotations

import doctest
import importlib
import importlib.util
import inspect
import pkgutil
from pathlib import Path

import pytest

import radiogenomics

FLAGS = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE

MODULES = sorted(
    info.name
    for info in pkgutil.walk_packages(radiogenomics.__path__, prefix="radiogenomics.")
    if not info.name.endswith("__main__")
)


def _has_examples(name: str) -> bool:
    """Whether the module's source holds an interactive example (read, not imported)."""
    spec = importlib.util.find_spec(name)
    return spec.origin is not None and ">>> " in Path(spec.origin).read_text(encoding="utf-8")


WITH_EXAMPLES = [name for name in MODULES if _has_examples(name)]


def _examples(name: str) -> list[doctest.DocTest]:
    module = importlib.import_module(name)
    tests = doctest.DocTestFinder(exclude_empty=True).find(module, name)
    # a module re-exporting a name must not run that name's examples a second time
    return [t for t in tests if t.examples and _defined_in(t, module)]


def _defined_in(test: doctest.DocTest, module) -> bool:
    return test.filename is None or test.filename == getattr(module, "__file__", None)


def test_every_module_is_found():
    assert "radiogenomics.tl.associations" in MODULES
    assert "radiogenomics.stats.cox.fit" in MODULES
    assert len(MODULES) > 50
    assert "radiogenomics.tl.associations" in WITH_EXAMPLES


@pytest.mark.parametrize("name", WITH_EXAMPLES)
def test_docstring_examples(name):
    tests = _examples(name)
    assert tests, f"{name} has '>>> ' in its source but no example doctest can find"
    runner = doctest.DocTestRunner(optionflags=FLAGS)
    failures = []
    for test in tests:
        result = runner.run(test, out=failures.append, clear_globs=True)
        del result
    assert runner.failures == 0, "".join(failures)


#: The public namespaces whose functions and classes each show an example.
PUBLIC = ["radiogenomics", "radiogenomics.pp", "radiogenomics.tl", "radiogenomics.pl",
          "radiogenomics.io", "radiogenomics.extract", "radiogenomics.report",
          "radiogenomics.export", "radiogenomics.cohort", "radiogenomics.datasets",
          "radiogenomics.errors"]  # fmt: skip


def _public_names():
    for namespace in PUBLIC:
        module = importlib.import_module(namespace)
        names = getattr(module, "__all__", None) or [n for n in dir(module) if n[0] != "_"]
        for name in names:
            obj = getattr(module, name)
            if (inspect.isfunction(obj) or inspect.isclass(obj)) and obj.__module__.startswith(
                "radiogenomics"
            ):
                yield f"{namespace}.{name}", obj


def test_every_public_function_has_an_examples_section():
    names = dict(_public_names())
    assert len(names) > 100 and "radiogenomics.tl.associate" in names  # the check sees them
    lacking = sorted(
        name
        for name, obj in names.items()
        if "Examples\n--------" not in (inspect.getdoc(obj) or "")
        or ">>> " not in (inspect.getdoc(obj) or "")
    )
    assert not lacking, "public names without an Examples section: " + ", ".join(lacking)
