"""Commands on images: feature extraction, DICOM scans, the IBSI check, robustness to
perturbations."""

from __future__ import annotations

from pathlib import Path

import click

from ..errors import ExtractionError, InputError
from ._group import CONTEXT, cli


@cli.command(context_settings=CONTEXT)
@click.argument("manifest", type=click.Path(path_type=Path))
@click.option(
    "--params",
    "params",
    default="default",
    show_default=True,
    metavar="FILE|PRESET",
    help="pyradiomics parameter file (YAML or JSON) or preset: default, demo, ct, mr.",
)
@click.option(
    "--out",
    "out",
    type=click.Path(dir_okay=False, path_type=Path),
    required=True,
    help="Output file (.h5ad).",
)
@click.option(
    "--jobs",
    "n_jobs",
    type=int,
    default=-1,
    help="Worker processes on this machine [default: every core].",
)
@click.option(
    "--scheduler",
    default=None,
    metavar="ADDRESS",
    help="Run the cases on the Dask cluster of this scheduler (tcp://host:8786).",
)
@click.option(
    "--cache",
    "cache_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Cache folder: finished cases are kept, a re-run skips them.",
)
@click.option(
    "--cache-key",
    type=click.Choice(["stat", "content"]),
    default="stat",
    show_default=True,
    help="Identify input files by path, size and time (stat) or by content hash.",
)
@click.option(
    "--image-types",
    default=None,
    metavar="NAMES",
    help="Image types instead of those of the settings, comma-separated: original, "
    "wavelet, log, square, squareroot, logarithm, exponential, gradient, "
    "lbp2d, lbp3d.",
)
@click.option(
    "--progress/--no-progress",
    default=None,
    help="Show a progress bar [default: when in a terminal].",
)
@click.pass_context
def extract(
    ctx: click.Context,
    manifest: Path,
    params: str,
    out: Path,
    n_jobs: int,
    scheduler: str | None,
    cache_dir: Path | None,
    cache_key: str,
    image_types: str | None,
    progress: bool | None,
) -> None:
    """Extract radiomic features from the images of a manifest with pyradiomics.

    MANIFEST is a table (CSV, TSV, Parquet) with patient_id, image, mask and optionally
    label, lesion_id and roi; images and masks are NIfTI, NRRD or MHA files or DICOM series
    folders, and a mask may be an RTSTRUCT or DICOM SEG on the image's series (roi picks the
    ROI or segment; 'radiogenomics scan' writes such a manifest). Writes OUT (.h5ad; read it with anndata.read_h5ad and pass it to
    build_cohort). Prints a summary with every failed case and its reason; exits with
    status 1 when any case failed (after finishing the others), 2 on an input error.
    """
    from ..cohort import write_h5ad
    from ..extract import features, summary
    from ..extract.run import failure_lines

    if out.suffix != ".h5ad":
        raise InputError(
            "the output file must end in .h5ad", file=out, found=out.suffix or "no suffix"
        )
    try:
        adata = features(
            manifest,
            params=params,
            n_jobs=n_jobs,
            cache_dir=cache_dir,
            client=scheduler,
            image_types=image_types,
            cache_key=cache_key,
            progress=progress,
        )
    except ExtractionError as exc:
        failures = getattr(exc, "failures", None)
        if failures is None:
            raise
        click.echo(f"Every case failed ({len(failures)}); nothing written:")
        click.echo("\n".join(failure_lines(failures)))
        ctx.exit(1)
    write_h5ad(adata, out)
    click.echo(summary(adata))
    click.echo(f"Wrote {out}")
    if adata.uns["radiogenomics"]["n_failed"]:
        ctx.exit(1)


@cli.command(context_settings=CONTEXT)
@click.argument("root", type=click.Path(path_type=Path))
@click.option(
    "--out",
    "out",
    type=click.Path(dir_okay=False, path_type=Path),
    required=True,
    help="Manifest to write (.csv or .tsv); the lists of what was left out go to OUT.scan.json.",
)
@click.option(
    "--roi",
    default=None,
    metavar="REGEX",
    help="Keep ROIs (RTSTRUCT) or segments (SEG) whose name matches (anywhere, any case).",
)
@click.option(
    "--modality",
    default=None,
    metavar="CT|MR|PT",
    help="Keep image series of this modality only (PET is taken for PT).",
)
def scan(root: Path, out: Path, roi: str | None, modality: str | None) -> None:
    """Scan a DICOM folder tree into an image manifest of series and their segmentations.

    ROOT may have any layout (TCIA, IDC, hashed names). Each RTSTRUCT or SEG is paired with
    the series it refers to; OUT gets one row per series and ROI (patient_id, image, mask,
    roi, modality, series_uid, study_date, series_description), ready for 'radiogenomics
    validate manifest' and 'radiogenomics extract'. Unreadable files, series without a
    segmentation and segmentations without their series are listed, not dropped.
    """
    from ..io.dicom import scan_dicom

    if out.suffix.lower() not in (".csv", ".tsv"):
        raise InputError(
            "the manifest must end in .csv or .tsv", file=out, found=out.suffix or "no suffix"
        )
    result = scan_dicom(root, roi=roi, modality=modality)
    click.echo(result.summary())
    if not len(result.manifest):
        raise InputError(
            "no image series with a segmentation found; nothing written",
            file=root,
            expected="RTSTRUCT or SEG files and the series they refer to",
        )
    result.write(out)
    click.echo(f"Wrote {out} ({len(result.manifest)} rows) and {out.name}.scan.json")


@cli.command("ibsi-check", context_settings=CONTEXT)
@click.option(
    "--all-rows/--failures-only",
    "all_rows",
    default=True,
    show_default=True,
    help="Print every compared feature, or only those that fail or are not claimed.",
)
@click.option(
    "--out",
    "out",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Also write the table (.csv, .tsv or .parquet).",
)
@click.pass_context
def ibsi_check(ctx: click.Context, all_rows: bool, out: Path | None) -> None:
    """Check our extraction against the IBSI 1 digital phantom's consensus values.

    Runs pyradiomics (through the extraction code) on the phantom that ships with the
    package and prints one row per compared feature: our name, the IBSI tag, reference,
    tolerance, our value, passed, whether we claim compliance, and a note where the
    definitions differ. Exits with status 1 when a feature we claim compliant fails.
    """
    import pandas as pd

    from ..extract import ibsi_check as run_check

    table = run_check()
    summary = table.attrs["radiogenomics"]
    shown = table if all_rows else table[~table["passed"] | ~table["claimed"]]
    with pd.option_context(
        "display.max_rows", None, "display.width", 200, "display.max_colwidth", 70
    ):
        click.echo(shown.to_string(index=False))
    versions = ", ".join(f"{k} {v}" for k, v in summary["versions"].items())
    click.echo(
        f"{summary['n_compared']} IBSI features compared, {summary['n_passed']} "
        f"passed; {summary['n_claimed_passed']} of {summary['n_claimed']} claimed "
        f"compliant passed ({versions})"
    )
    if out is not None:
        suffix = out.suffix.lower()
        if suffix == ".parquet":
            table.to_parquet(out, index=False)
        elif suffix in (".csv", ".tsv"):
            table.to_csv(out, sep="," if suffix == ".csv" else "\t", index=False)
        else:
            raise InputError(
                "unknown table format",
                file=out,
                expected=".csv, .tsv or .parquet",
                found=out.suffix,
            )
        click.echo(f"Wrote {out}")
    if not summary["compliant"]:
        click.echo(
            f"claimed compliant but failed: {summary['failed_claims'] or 'discretisation'}",
            err=True,
        )
        ctx.exit(1)


@cli.command(context_settings=CONTEXT)
@click.argument("manifest", type=click.Path(path_type=Path))
@click.option(
    "--out",
    "out",
    type=click.Path(dir_okay=False, path_type=Path),
    required=True,
    help="Output table (.csv, .tsv, .parquet or .xlsx).",
)
@click.option(
    "--params",
    "params",
    default="default",
    show_default=True,
    metavar="FILE|PRESET",
    help="Extraction settings, as for extract.",
)
@click.option(
    "--perturbations",
    default="erode,dilate,contour",
    show_default=True,
    help="Mask perturbations, comma-separated: erode, dilate, contour.",
)
@click.option(
    "--n-perturbations",
    type=click.IntRange(1, None),
    default=3,
    show_default=True,
    help="Random contour displacements per lesion.",
)
@click.option(
    "--distance",
    type=float,
    default=None,
    help="Erosion/dilation in mm [default: one in-plane voxel].",
)
@click.option(
    "--displacement",
    type=float,
    default=None,
    help="SD of the random contour displacement in mm [default: one in-plane voxel].",
)
@click.option(
    "--icc",
    type=click.Choice(["icc_1_1", "icc_2_1"]),
    default="icc_1_1",
    show_default=True,
    help="The ICC that decides robustness.",
)
@click.option(
    "--threshold",
    type=float,
    default=0.75,
    show_default=True,
    help="A feature is robust when its ICC is at least this.",
)
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the random contours.")
@click.option(
    "--jobs",
    "n_jobs",
    type=int,
    default=-1,
    help="Worker processes on this machine [default: every core].",
)
@click.option(
    "--scheduler",
    default=None,
    metavar="ADDRESS",
    help="Run the cases on the Dask cluster of this scheduler (tcp://host:8786).",
)
@click.option(
    "--cache",
    "cache_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Cache folder (extracted cases and perturbed masks).",
)
def robustness(
    manifest: Path,
    out: Path,
    params: str,
    perturbations: str,
    n_perturbations: int,
    distance: float | None,
    displacement: float | None,
    icc: str,
    threshold: float,
    seed: int,
    n_jobs: int,
    scheduler: str | None,
    cache_dir: Path | None,
) -> None:
    """Robustness of every feature to the segmentation: features re-extracted with each
    mask eroded, dilated and its contour randomly displaced, and their intraclass
    correlation (ICC with its 95% interval, robust when at least the threshold).

    MANIFEST is an image manifest as for extract. Writes OUT with one row per feature:
    feature, image_type, feature_class, icc, ci_lower, ci_upper, robust, icc_kind,
    n_subjects, n_replicates.
    """
    from ..export import write_table
    from ..extract import robustness as run_robustness

    table = run_robustness(
        manifest,
        params=params,
        perturbations=tuple(p.strip() for p in perturbations.split(",") if p.strip()),
        n_perturbations=n_perturbations,
        random_state=seed,
        distance=distance,
        displacement=displacement,
        icc=icc,
        threshold=threshold,
        n_jobs=n_jobs,
        cache_dir=cache_dir,
        client=scheduler,
    )
    left_out = table.attrs.get("left_out", [])
    write_table(table, out, schema=False)
    click.echo(
        f"{int(table['robust'].sum())} of {len(table)} features robust "
        f"({table['icc_kind'].iloc[0]} >= {threshold}) over "
        f"{int(table['n_subjects'].iloc[0])} lesions"
        + (f"; left out (a perturbation failed): {', '.join(left_out)}" if left_out else "")
    )
    click.echo(f"Wrote {out}")
