"""Benchmark: ``rg.extract.features`` against a plain sequential pyradiomics loop.

Measured in one run on the same demo cases with the same settings (the ``default``
preset unless told otherwise):

- a plain sequential pyradiomics loop (what a user would write: one extractor, ``execute``
  per manifest row, the results gathered into a DataFrame);
- ``rg.extract.features`` with 1 worker (in-process) and with 2 worker processes;
- a cold run with a cache folder, and a re-run with the warm cache.

Targets (issue 3): 1-worker overhead within 5 % of the plain loop; 2 workers at least
1.8x faster than 1; a warm re-run at least 50x faster than cold.

The demo images are small (about 0.05 s a case), so fixed per-case costs weigh more than
in real studies; ``--scale 2`` simulates the same tumours on a grid twice as fine (8x
the voxels) to show the overheads on heavier cases. The machine may be shared: figures
are wall times, best of ``--repeat`` runs.

Run ``python benchmarks/bench_extract.py`` (``--quick`` for a small smoke run).
"""

from __future__ import annotations

import argparse
import logging
import os
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import radiogenomics as rg  # noqa: E402
from radiogenomics.datasets.simulate import SITES, simulate_image  # noqa: E402


def write_cases(folder: Path, n_cases: int, scale: int, seed: int = 0) -> Path:
    """Write ``n_cases`` demo images and masks (NIfTI) and their manifest; return it."""
    if scale == 1:
        return rg.datasets.write_demo_files(folder, n_patients=n_cases, random_state=seed)[
            "manifest"
        ]
    import SimpleITK as sitk

    rng = np.random.default_rng(seed)
    (folder / "images").mkdir(parents=True, exist_ok=True)
    shape = (28 * scale, 56 * scale, 56 * scale)
    spacing = (1.0 / scale, 1.0 / scale, 2.0 / scale)
    rows = []
    for i in range(n_cases):
        factors = rng.normal(0, 0.8, size=3)
        image, mask = simulate_image(
            rng,
            factors,
            bool(rng.random() < 0.3),
            str(rng.choice(list(SITES))),
            shape=shape,
            spacing=spacing,
        )
        patient = f"P{i:04d}"
        for array, kind in ((image, "image"), (mask, "mask")):
            itk = sitk.GetImageFromArray(array)
            itk.SetSpacing(spacing)
            sitk.WriteImage(
                itk, str(folder / "images" / f"{patient}_{kind}.nii.gz"), useCompression=True
            )
        rows.append(
            {
                "patient_id": patient,
                "image": f"images/{patient}_image.nii.gz",
                "mask": f"images/{patient}_mask.nii.gz",
                "label": 1,
            }
        )
    manifest = folder / "manifest.csv"
    pd.DataFrame(rows).to_csv(manifest, index=False)
    return manifest


def plain_loop(manifest: Path, params: dict) -> pd.DataFrame:
    """The baseline: a sequential pyradiomics loop over the manifest."""
    from radiomics import featureextractor

    table = pd.read_csv(manifest, dtype={"patient_id": str})
    extractor = featureextractor.RadiomicsFeatureExtractor(params)
    rows = []
    for row in table.itertuples(index=False):
        image = str(manifest.parent / row.image)
        mask = str(manifest.parent / row.mask)
        result = extractor.execute(image, mask, label=int(row.label))
        rows.append({"patient_id": row.patient_id, **result})
    return pd.DataFrame(rows).set_index("patient_id")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cases", type=int, default=40, help="number of demo cases (40)")
    parser.add_argument(
        "--scale",
        type=int,
        default=1,
        help="image grid refinement: 2 = 8x the voxels of the demo (1)",
    )
    parser.add_argument("--params", default="default", help="preset or parameter file")
    parser.add_argument("--repeat", type=int, default=3, help="best of this many runs (3)")
    parser.add_argument("--jobs", type=int, default=2, help="workers of the parallel run (2)")
    parser.add_argument("--quick", action="store_true", help="a small smoke run (12 cases)")
    args = parser.parse_args(argv)
    if args.quick:
        args.cases, args.scale, args.repeat = 12, 1, 1
    import radiomics  # noqa: F401  (its import sets the log level; quiet it afterwards)

    logging.getLogger("radiomics").setLevel(logging.ERROR)

    work = Path(tempfile.mkdtemp(prefix="bench-extract-"))
    try:
        manifest = write_cases(work / "cases", args.cases, args.scale)
        params = rg.extract.resolve_params(args.params)
        # warm-up: imports and first-call costs out of the timings
        warmup = manifest.parent / "warmup.csv"
        pd.read_csv(manifest).head(2).to_csv(warmup, index=False)
        plain_loop(warmup, params)
        rg.extract.features(warmup, params=params, progress=False)

        wall: dict[str, list[float]] = {k: [] for k in ("plain", "ours1", "ours2", "cold", "warm")}
        cpu: dict[str, list[float]] = {k: [] for k in wall}
        outputs: dict = {}

        def cpu_seconds() -> float:  # this process and its finished worker processes
            own = resource.getrusage(resource.RUSAGE_SELF)
            children = resource.getrusage(resource.RUSAGE_CHILDREN)
            return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime

        def timed(kind, function, *a, **kw):
            start, start_cpu = time.perf_counter(), cpu_seconds()
            outputs[kind] = function(*a, **kw)
            wall[kind].append(time.perf_counter() - start)
            cpu[kind].append(cpu_seconds() - start_cpu)

        for r in range(args.repeat):  # interleaved, so that changes in load hit every run alike
            timed("plain", plain_loop, manifest, params)
            timed("ours1", rg.extract.features, manifest, params=params, n_jobs=1, progress=False)
            timed(
                "ours2",
                rg.extract.features,
                manifest,
                params=params,
                n_jobs=args.jobs,
                progress=False,
            )
            cache = work / f"cache{r}"
            timed(
                "cold",
                rg.extract.features,
                manifest,
                params=params,
                n_jobs=args.jobs,
                cache_dir=cache,
                progress=False,
            )
            timed(
                "warm",
                rg.extract.features,
                manifest,
                params=params,
                n_jobs=args.jobs,
                cache_dir=cache,
                progress=False,
            )
            assert outputs["warm"].uns["radiogenomics"]["n_from_cache"] == args.cases
        results = {k: min(v) for k, v in wall.items()}
        cpu_best = {k: min(v) for k, v in cpu.items()}
        plain, ours1, ours2, warm = (outputs[k] for k in ("plain", "ours1", "ours2", "warm"))

        # the same numbers from every path
        features = list(ours1.var_names)
        reference = plain.loc[list(ours1.obs_names), features].to_numpy(dtype=float)
        for adata in (ours1, ours2, warm):
            np.testing.assert_allclose(adata.X, reference, rtol=1e-12, atol=0)

        n, voxels = args.cases, int(np.prod((28, 56, 56))) * args.scale**3
        print(
            f"Feature extraction, {n} demo cases ({voxels:,} voxels each, preset "
            f"{args.params!r}, {ours1.n_vars} features), {os.cpu_count()} cores, "
            f"best of {args.repeat}"
        )
        print(f"{'run':<44}{'wall s':>9}{'s/case':>9}{'cpu s':>8}  vs")
        rows = [
            ("plain pyradiomics loop (sequential)", "plain", ""),
            (
                "rg.extract.features, 1 worker",
                "ours1",
                f"overhead {100 * (results['ours1'] / results['plain'] - 1):+.1f} % vs plain "
                f"(target within 5 %; cpu {100 * (cpu_best['ours1'] / cpu_best['plain'] - 1):+.1f} %)",
            ),
            (
                f"rg.extract.features, {args.jobs} workers",
                "ours2",
                f"{results['ours1'] / results['ours2']:.2f}x faster than 1 worker (target 1.8x)",
            ),
            (f"cold run with cache, {args.jobs} workers", "cold", ""),
            (
                "re-run with warm cache",
                "warm",
                f"{results['cold'] / results['warm']:.0f}x faster than cold (target 50x; "
                f"{results['ours1'] / results['warm']:.0f}x than 1 worker)",
            ),
        ]
        for name, kind, note in rows:
            seconds = results[kind]
            print(f"{name:<44}{seconds:>9.3f}{seconds / n:>9.4f}{cpu_best[kind]:>8.3f}  {note}")
        print(
            "wall s: best of the repeats; cpu s: processor time of this process and its "
            "worker processes."
        )
        available = cpu_best["ours1"] / results["ours1"]
        if available < 0.9:
            print(
                f"Note: the 1-worker run got {available:.0%} of a core (the machine is busy), "
                "so wall-time speed-ups understate what free cores give."
            )
        print("All runs gave the same feature values as the plain loop.")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
