"""The architecture's rules (CONTRIBUTING.md), checked on the source: imports go downward
only, no module over 600 lines and no function over 80 lines of code, imports inside
functions only for optional or heavy dependencies, and the API conventions of the tools."""

from __future__ import annotations

import ast
import inspect
import io
import shutil
import subprocess
import sys
import tokenize
from pathlib import Path

import pytest

import radiogenomics as rg
from radiogenomics.workflow import run_demo

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "radiogenomics"
MAX_MODULE_LINES = 600
MAX_FUNCTION_LINES = 80

#: Dependencies that may be imported inside a function: optional extras, and heavy
#: libraries most calls never need (imaging, DICOM, Dash, Dask, model files, explainers).
LAZY_DEPENDENCIES = {
    "SimpleITK", "pydicom", "highdicom", "radiomics", "sksurv", "scanpy", "skops",
    "distributed", "dask", "threadpoolctl", "tqdm", "shap", "weasyprint", "kaleido",
    "playwright", "openpyxl", "xlsxwriter", "ipywidgets", "PIL", "pyarrow", "tensorqtl",
    "torch", "dash", "dashboards", "flask", "flask_limiter", "pypdf", "umap",
}  # fmt: skip

#: Modules that still import parts of the package inside functions; each entry is one
#: module's debt, to be hoisted (the command line, ``cli/``, loads the analysis layers
#: lazily on purpose: ``radiogenomics --help`` does not import scipy.stats or sklearn).
LAZY_IMPORT_PENDING: set[str] = set()

#: Functions longer than the limit that are still to be split, by ``module:function``.
LONG_FUNCTION_PENDING: set[str] = set()


def _sources():
    if not PACKAGE.is_dir():
        pytest.skip(f"the package source is not at {PACKAGE} (an installed copy only)")
    return sorted(PACKAGE.rglob("*.py"))


def _relative(path: Path) -> str:
    return path.relative_to(ROOT).as_posix()


def code_lines(source: str) -> set[int]:
    """Line numbers holding code: not blank, not a comment, not inside a docstring."""
    tree = ast.parse(source)
    docstrings: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            first = node.body[0] if node.body else None
            if (
                isinstance(first, ast.Expr)
                and isinstance(first.value, ast.Constant)
                and isinstance(first.value.value, str)
            ):
                docstrings.update(range(first.lineno, first.end_lineno + 1))
    skip = {tokenize.COMMENT, tokenize.NL, tokenize.NEWLINE, tokenize.INDENT, tokenize.DEDENT,
            tokenize.ENDMARKER}  # fmt: skip
    lines: set[int] = set()
    for token in tokenize.generate_tokens(io.StringIO(source).readline):
        if token.type not in skip:
            lines.update(n for n in range(token.start[0], token.end[0] + 1) if n not in docstrings)
    return lines


def test_code_lines_counts_code_only():
    source = '''"""Module docstring
over two lines."""

# a comment
def f(x):
    """Docstring."""
    y = (x +
         1)  # trailing comment

    return y
'''
    assert sorted(code_lines(source)) == [5, 7, 8, 10]


def test_imports_go_downward_only():
    """import-linter's contracts in pyproject.toml: the layers, and no circles inside a
    package."""
    lint = shutil.which("lint-imports", path=str(Path(sys.executable).parent)) or shutil.which(
        "lint-imports"
    )
    if lint is None:
        pytest.skip("import-linter is not installed (pip install '.[test]')")
    if not (ROOT / "pyproject.toml").is_file() or not PACKAGE.is_dir():
        pytest.skip("the source tree is not beside the tests")
    run = subprocess.run([lint], cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-2000:]
    assert "0 broken" in run.stdout


def test_no_module_over_600_lines_of_code():
    long = {
        _relative(path): n
        for path in _sources()
        if (n := len(code_lines(path.read_text(encoding="utf-8")))) > MAX_MODULE_LINES
    }
    assert not long, f"modules over {MAX_MODULE_LINES} lines of code: {long}"


def _function_sizes(path: Path):
    source = path.read_text(encoding="utf-8")
    lines = code_lines(source)
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            body = {n for n in lines if node.body[0].lineno <= n <= node.end_lineno}
            yield f"{_relative(path)}:{node.name}", len(body)


def test_no_function_over_80_lines_of_code():
    """The body of every function (its signature, docstring, comments and blank lines
    aside) has at most 80 lines; the pending list may only shrink."""
    sizes = dict(item for path in _sources() for item in _function_sizes(path))
    long = {name: n for name, n in sizes.items() if n > MAX_FUNCTION_LINES}
    new = {name: n for name, n in long.items() if name not in LONG_FUNCTION_PENDING}
    assert not new, f"functions over {MAX_FUNCTION_LINES} lines of code: {new}"
    done = sorted(name for name in LONG_FUNCTION_PENDING if name not in long)
    assert not done, f"split already, take them off LONG_FUNCTION_PENDING: {done}"


def _imports_in_functions(path: Path):
    tree = ast.parse(path.read_text(encoding="utf-8"))
    guarded = {
        id(child) for node in ast.walk(tree) if isinstance(node, ast.Try) for child in node.body
    }
    for function in ast.walk(tree):
        if not isinstance(function, (ast.FunctionDef, ast.AsyncFunctionDef)):
            continue
        for node in ast.walk(function):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                names = ["." * node.level + (node.module or "")]
            else:
                continue
            if id(node) in guarded:  # try: import x / except ImportError: an optional extra
                continue
            yield function.name, node.lineno, names


def test_imports_inside_functions_are_optional_or_heavy_dependencies():
    found = []
    for path in _sources():
        module = _relative(path)
        if module.startswith("radiogenomics/cli/") or module in LAZY_IMPORT_PENDING:
            continue
        for function, line, names in _imports_in_functions(path):
            bad = [n for n in names if n.split(".")[0] not in LAZY_DEPENDENCIES]
            if bad:
                found.append(f"{module}:{line} {function}: {', '.join(bad)}")
    assert not found, "imports to move to the top of their module:\n" + "\n".join(found)
    stale = sorted(
        m
        for m in LAZY_IMPORT_PENDING
        if not any(
            n.split(".")[0] not in LAZY_DEPENDENCIES
            for _, _, names in _imports_in_functions(ROOT / m)
            for n in names
        )
    )
    assert not stale, f"no in-function imports left, take them off LAZY_IMPORT_PENDING: {stale}"


def _public_tools():
    for namespace in (rg.pp, rg.tl):
        for name in sorted(getattr(namespace, "__all__", dir(namespace))):
            tool = getattr(namespace, name, None)
            if name.startswith("_") or not inspect.isfunction(tool):
                continue
            yield f"{namespace.__name__.split('.')[-1]}.{name}", inspect.signature(tool)


OLD_NAMES = {"seed": "random_state", "n_threads": "n_jobs", "n_workers": "n_jobs",
             "modality": "mod", "random_seed": "random_state"}  # fmt: skip


def _dataset_builders():
    for name in rg.datasets.__all__:
        builder = getattr(rg.datasets, name)
        if inspect.isfunction(builder):
            yield f"datasets.{name}", inspect.signature(builder)
    yield "workflow.run_demo", inspect.signature(run_demo)


def test_public_tools_use_the_conventional_argument_names():
    """The tools, plots and dataset builders speak one dialect (``random_state``, ...)."""
    tools = [*_public_tools(), *_plot_functions(), *_dataset_builders()]
    assert len(tools) > 60  # the check sees the tools
    wrong = [
        f"{tool}({name}=...) should be {OLD_NAMES[name]}="
        for tool, signature in tools
        for name in signature.parameters
        if name in OLD_NAMES
    ]
    assert not wrong, "\n".join(wrong)
    missing_default = {
        tool: signature.parameters["missing"].default
        for tool, signature in tools
        if "missing" in signature.parameters
        and signature.parameters["missing"].default not in ("error", "drop")
    }
    assert not missing_default, f"missing= defaults other than 'error'/'drop': {missing_default}"


def test_tools_that_store_take_key_added():
    """A tool that stores its result in the cohort lets the caller name it."""
    stores = []
    for tool, signature in _public_tools():
        namespace, name = tool.split(".")
        source = inspect.getsource(getattr(getattr(rg, namespace), name))
        if "store_result(" in source and "key_added" not in signature.parameters:
            stores.append(tool)
    assert not stores, f"tools that store without key_added=: {stores}"


def _plot_functions():
    for name in sorted(getattr(rg.pl, "__all__", dir(rg.pl))):
        tool = getattr(rg.pl, name, None)
        if not name.startswith("_") and inspect.isfunction(tool):
            yield f"pl.{name}", inspect.signature(tool)


def test_modality_and_survival_columns_are_keywords():
    """``mod=``, ``time=`` and ``event=`` are keyword-only on every public tool and plot
    (``pl.km``'s old ``time, event`` form is deprecated on its own and left out)."""
    positional = [
        f"{tool}({name})"
        for tool, signature in [*_public_tools(), *_plot_functions()]
        if tool != "pl.km"
        for name, parameter in signature.parameters.items()
        if name in ("mod", "time", "event") and parameter.kind is not inspect.Parameter.KEYWORD_ONLY
    ]
    assert not positional, "pass by keyword only: " + ", ".join(positional)
