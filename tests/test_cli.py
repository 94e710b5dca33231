"""The command line: errors as short messages with exit status 2, and the README's reference."""

from __future__ import annotations

import re

import pytest
from helpers import ROOT
from helpers import run_cli as radiogenomics


def test_input_error_is_one_short_message(tmp_path):
    clinical = tmp_path / "clinical.csv"
    clinical.write_text("patient_id,os_months\nP1,3\nP2,-1\n")
    result = radiogenomics("validate", "clinical", str(clinical), "--time", "os_months")
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert 0 < len(lines) <= 2
    assert lines[0] == (
        f"error: {clinical}, line 3, column 'os_months': value out of range "
        "(expected a number at least 0, found -1.0)"
    )


def test_validate_accepts_a_good_file(tmp_path):
    path = tmp_path / "rna.tsv"
    path.write_text("gene\tS1\tS2\nTP53\t1\t2\n")
    result = radiogenomics("validate", "expression", str(path))
    assert result.returncode == 0, result.stderr
    assert "valid expression table, 2 patients x 1 features" in result.stdout


def test_usage_error_exit_status(tmp_path):
    result = radiogenomics("validate", "nonsense", str(tmp_path))
    assert result.returncode == 2
    assert "Invalid value for 'KIND'" in result.stderr


def _readme_reference() -> dict[str, str]:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text.split("<!-- cli-reference:start -->")[1].split("<!-- cli-reference:end -->")[0]
    blocks = {}
    for match in re.finditer(r"```text\n(.*?)\n```", section, flags=re.S):
        body = match.group(1)
        if body.startswith("$ radiogenomics --help\n"):
            blocks[""] = body.split("\n", 1)[1]
        else:
            name = re.match(r"Usage: radiogenomics (\S+)", body).group(1)
            blocks[name] = body
    return blocks


def test_readme_reference_matches_help():
    blocks = _readme_reference()
    from click.testing import CliRunner

    from radiogenomics.cli import cli

    assert set(blocks) == {"", *cli.commands}, "README lists other commands than the CLI has"
    # the installed command once, in its own process; each command's --help in this one
    top = radiogenomics("--help")
    assert top.returncode == 0
    outputs = {"": top.stdout}
    runner = CliRunner()
    for name in cli.commands:
        result = runner.invoke(cli, [name, "--help"], prog_name="radiogenomics")
        assert result.exit_code == 0, result.output
        outputs[name] = result.output
    for name, expected in blocks.items():
        assert outputs[name].rstrip("\n") == expected.rstrip("\n"), (
            f"README reference of 'radiogenomics {name}' is out of date: run "
            "python -c 'from radiogenomics.cli import update_readme; update_readme()'"
        )


def test_readme_commands_and_ci_agree():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    commands = re.findall(r"```bash\n(.*?)\n```", readme, flags=re.S)
    demo = next(c for c in commands if "radiogenomics demo" in c)
    tests = next(c for c in commands if "pytest" in c)
    assert demo.startswith("python3 -m venv .venv") and "pip install ." in demo
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert tests in ci, ".ci/run must run the README's test command verbatim"
    assert "playwright install" not in ci


def test_version():
    result = radiogenomics("--version")
    assert result.returncode == 0 and result.stdout.startswith("radiogenomics ")


@pytest.mark.parametrize("missing", ["cohort.h5mu"])
def test_info_on_missing_cohort(tmp_path, missing):
    result = radiogenomics("info", str(tmp_path / missing))
    assert result.returncode == 2
    assert "the cohort file does not exist" in result.stderr
