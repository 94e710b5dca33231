"""Benchmark: reading wide and long tables with ``rg.io`` against pandas' own ``read_csv``.

Our readers parse with pandas and then check the table against its schema (IDs as
strings, numbers finite, categories, events). The checks must cost little beside the
parse: a 1 x 20,000 clinical table (one patient, many measurements) once took 54 s,
quadratic in the number of columns. Target (issue 15): within a few times pandas' time,
linear in the width.

Printed: for each shape, pandas' ``read_csv`` of the same file (plain, and with the ID
column as strings, as a user must to keep ``001``), ``rg.io.read_clinical``, and the ratio
to plain ``read_csv`` (best of ``--repeat`` runs, wall time; the machine may be shared).

Run ``python benchmarks/bench_readers.py`` (``--quick`` for a small smoke run).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import radiogenomics as rg  # noqa: E402


def best(call, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        call()
        times.append(time.perf_counter() - started)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    shapes = (
        [(1, 2_000), (1, 20_000)]
        if args.quick
        else [(1, 2_000), (1, 20_000), (1, 200_000), (2_000, 50), (200_000, 20)]
    )
    rng = np.random.default_rng(0)
    print(
        f"{'rows x columns':>18} {'read_csv':>10} {'read_csv, str ID':>17} "
        f"{'rg read_clinical':>17} {'ratio':>6}"
    )
    with tempfile.TemporaryDirectory() as folder:
        for n_rows, n_cols in shapes:
            frame = pd.DataFrame(
                rng.normal(size=(n_rows, n_cols)).round(4), columns=[f"m{i}" for i in range(n_cols)]
            )
            frame.insert(0, "patient_id", [f"{i:06d}" for i in range(n_rows)])
            path = Path(folder) / f"clinical_{n_rows}x{n_cols}.csv"
            frame.to_csv(path, index=False)
            ours = best(lambda p=path: rg.io.read_clinical(p), args.repeat)
            plain = best(lambda p=path: pd.read_csv(p), args.repeat)
            theirs = best(lambda p=path: pd.read_csv(p, dtype={"patient_id": str}), args.repeat)
            print(
                f"{n_rows:>8} x {n_cols:<7} {plain:>8.3f} s {theirs:>15.3f} s "
                f"{ours:>15.3f} s {ours / plain:>5.2f}x"
            )


if __name__ == "__main__":
    main()
