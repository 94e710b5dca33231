"""Helpers shared by the tests (imported as a plain module: tests/ is on sys.path)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("RADIOGENOMICS_SHARED_DATA", ROOT.parent / "shared" / "data"))
PYRADIOMICS_CASES = SHARED_DATA / "pyradiomics_cases"


def run_cli(
    *args: str, cwd: Path | None = None, timeout: float = 900
) -> subprocess.CompletedProcess:
    """Run the installed ``radiogenomics`` command (or the module when no script is found)."""
    script = shutil.which("radiogenomics", path=str(Path(sys.executable).parent))
    command = [script] if script else [sys.executable, "-m", "radiogenomics"]
    env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES")}
    return subprocess.run(
        [*command, *args], capture_output=True, text=True, cwd=cwd, env=env, timeout=timeout
    )
