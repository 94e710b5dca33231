"""The ``radiogenomics`` command. Each subcommand is one library call.

Errors in the input are printed in one or two lines, without a traceback, and the
command exits with status 2.
"""

from __future__ import annotations

import sys
import warnings
from pathlib import Path

import click

from .errors import RadiogenomicsError

CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 100,
           "terminal_width": 100}


@click.group(context_settings=CONTEXT)
@click.version_option(package_name="radiogenomics", message="radiogenomics %(version)s")
def cli() -> None:
    """Radiogenomics: radiomic features, molecular tables, association and survival
    statistics, and dashboards for tumor boards."""


@cli.command(context_settings=CONTEXT)
@click.option("--out", "out", type=click.Path(file_okay=False, path_type=Path),
              default=Path("radiogenomics-demo"), show_default=True,
              help="Output folder for the demo study and its results.")
@click.option("--patients", "n_patients", type=click.IntRange(12, None), default=150,
              show_default=True, help="Number of simulated patients.")
@click.option("--seed", type=int, default=0, show_default=True, help="Random seed.")
@click.option("--jobs", "n_jobs", type=int, default=None,
              help="Worker processes for feature extraction [default: every core].")
@click.option("--serve/--no-serve", "serve", default=True, show_default=True,
              help="End by serving the dashboards on the results (--no-serve only writes).")
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address the dashboards listen on.")
@click.option("--port", type=click.IntRange(0, 65535), default=8050, show_default=True,
              help="Port of the dashboards.")
@click.option("--dicom", is_flag=True,
              help="Write the images as DICOM series with RTSTRUCT contours and extract "
                   "from those (scan, RTSTRUCT rasterisation, conversion report).")
def demo(out: Path, n_patients: int, seed: int, n_jobs: int | None, serve: bool, host: str,
         port: int, dicom: bool) -> None:
    """Run the demo study on the built-in synthetic cohort.

    Simulates images, masks and molecular and clinical tables, extracts radiomic features
    with pyradiomics, builds the cohort and writes OUT/cohort.h5mu, then serves the
    dashboards on OUT (unless --no-serve).
    """
    from .workflow import run_demo

    if serve:  # refuse an unprotected address before the study runs, not after
        from dashboards.app import check_listen

        check_listen(host, None, hint=f"Run the demo with --no-serve, then serve it with "
                     f"'radiogenomics serve {out} --host {host} --auth-file FILE'")
    run_demo(out, n_patients=n_patients, seed=seed, n_jobs=n_jobs, echo=click.echo,
             dicom=dicom)
    if serve:
        from dashboards import serve as serve_dashboards

        serve_dashboards(out, host=host, port=port, echo=click.echo)


@cli.command(context_settings=CONTEXT)
@click.argument("path", type=click.Path(path_type=Path))
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to listen on; other than this machine needs --auth-file.")
@click.option("--port", type=click.IntRange(0, 65535), default=8050, show_default=True,
              help="Port to listen on.")
@click.option("--auth-file", type=click.Path(path_type=Path), default=None,
              help="Password file (radiogenomics passwd): require HTTP basic authentication.")
@click.option("--pseudonymize", is_flag=True,
              help="Show patients as PT-001, ... instead of their IDs.")
@click.option("--pseudonym-key", envvar="RADIOGENOMICS_PSEUDONYM_KEY", default=None,
              help="Secret ordering the pseudonyms [env RADIOGENOMICS_PSEUDONYM_KEY].")
@click.option("--time", "time_column", default=None,
              help="Survival time column [default: as recorded when reading the clinical table].")
@click.option("--event", "event_column", default=None, help="Survival event column.")
@click.option("--cache-dir", type=click.Path(path_type=Path), default=None,
              help="Where serving copies of large tables go [default: ~/.cache/radiogenomics].")
def serve(path: Path, host: str, port: int, auth_file: Path | None, pseudonymize: bool,
          pseudonym_key: str | None, time_column: str | None, event_column: str | None,
          cache_dir: Path | None) -> None:
    """Serve the dashboards of a results folder or a cohort file (.h5mu).

    PATH is a folder holding cohort.h5mu and result tables (as written by 'radiogenomics
    demo') or a cohort file. Listens on 127.0.0.1 unless told otherwise.
    """
    from dashboards import serve as serve_dashboards

    serve_dashboards(path, host=host, port=port, auth_file=auth_file, echo=click.echo,
                     pseudonymize=pseudonymize, pseudonym_key=pseudonym_key,
                     time=time_column, event=event_column, cache_dir=cache_dir)


@cli.command(context_settings=CONTEXT)
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.argument("username")
@click.option("--password-stdin", is_flag=True,
              help="Read the password from standard input instead of prompting.")
def passwd(file: Path, username: str, password_stdin: bool) -> None:
    """Add a dashboard user to a password file (or change their password).

    Stores a salted scrypt hash, never the password.
    """
    from dashboards.auth import add_user

    if password_stdin:
        password = sys.stdin.readline().rstrip("\n")
    else:
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    add_user(file, username, password)
    click.echo(f"{file}: user {username!r} saved")


@cli.command(context_settings=CONTEXT)
@click.argument("manifest", type=click.Path(path_type=Path))
@click.option("--params", "params", default="default", show_default=True,
              metavar="FILE|PRESET",
              help="pyradiomics parameter file (YAML or JSON) or preset: default, demo, ct, mr.")
@click.option("--out", "out", type=click.Path(dir_okay=False, path_type=Path), required=True,
              help="Output file (.h5ad).")
@click.option("--jobs", "n_jobs", type=int, default=-1,
              help="Worker processes on this machine [default: every core].")
@click.option("--scheduler", default=None, metavar="ADDRESS",
              help="Run the cases on the Dask cluster of this scheduler (tcp://host:8786).")
@click.option("--cache", "cache_dir", type=click.Path(file_okay=False, path_type=Path),
              default=None, help="Cache folder: finished cases are kept, a re-run skips them.")
@click.option("--cache-key", type=click.Choice(["stat", "content"]), default="stat",
              show_default=True,
              help="Identify input files by path, size and time (stat) or by content hash.")
@click.option("--image-types", default=None, metavar="NAMES",
              help="Image types instead of those of the settings, comma-separated: original, "
                   "wavelet, log, square, squareroot, logarithm, exponential, gradient, "
                   "lbp2d, lbp3d.")
@click.option("--progress/--no-progress", default=None,
              help="Show a progress bar [default: when in a terminal].")
@click.pass_context
def extract(ctx: click.Context, manifest: Path, params: str, out: Path, n_jobs: int,
            scheduler: str | None, cache_dir: Path | None, cache_key: str,
            image_types: str | None, progress: bool | None) -> None:
    """Extract radiomic features from the images of a manifest with pyradiomics.

    MANIFEST is a table (CSV, TSV, Parquet) with patient_id, image, mask and optionally
    label, lesion_id and roi; images and masks are NIfTI, NRRD or MHA files or DICOM series
    folders, and a mask may be an RTSTRUCT or DICOM SEG on the image's series (roi picks the
    ROI or segment; 'radiogenomics scan' writes such a manifest). Writes OUT (.h5ad; read it with anndata.read_h5ad and pass it to
    build_cohort). Prints a summary with every failed case and its reason; exits with
    status 1 when any case failed (after finishing the others), 2 on an input error.
    """
    from .errors import ExtractionError, InputError
    from .extract import features, summary
    from .extract.run import failure_lines
    from .workflow import write_h5ad

    if out.suffix != ".h5ad":
        raise InputError("the output file must end in .h5ad", file=out,
                         found=out.suffix or "no suffix")
    try:
        adata = features(manifest, params=params, n_jobs=n_jobs, cache_dir=cache_dir,
                         client=scheduler, image_types=image_types, cache_key=cache_key,
                         progress=progress)
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
@click.option("--out", "out", type=click.Path(dir_okay=False, path_type=Path), required=True,
              help="Manifest to write (.csv or .tsv); the lists of what was left out go to "
                   "OUT.scan.json.")
@click.option("--roi", default=None, metavar="REGEX",
              help="Keep ROIs (RTSTRUCT) or segments (SEG) whose name matches (anywhere, "
                   "any case).")
@click.option("--modality", default=None, metavar="CT|MR|PT",
              help="Keep image series of this modality only (PET is taken for PT).")
def scan(root: Path, out: Path, roi: str | None, modality: str | None) -> None:
    """Scan a DICOM folder tree into an image manifest of series and their segmentations.

    ROOT may have any layout (TCIA, IDC, hashed names). Each RTSTRUCT or SEG is paired with
    the series it refers to; OUT gets one row per series and ROI (patient_id, image, mask,
    roi, modality, series_uid, study_date, series_description), ready for 'radiogenomics
    validate manifest' and 'radiogenomics extract'. Unreadable files, series without a
    segmentation and segmentations without their series are listed, not dropped.
    """
    from .errors import InputError
    from .io.dicom import scan_dicom

    if out.suffix.lower() not in (".csv", ".tsv"):
        raise InputError("the manifest must end in .csv or .tsv", file=out,
                         found=out.suffix or "no suffix")
    result = scan_dicom(root, roi=roi, modality=modality)
    click.echo(result.summary())
    if not len(result.manifest):
        raise InputError("no image series with a segmentation found; nothing written",
                         file=root, expected="RTSTRUCT or SEG files and the series they refer to")
    result.write(out)
    click.echo(f"Wrote {out} ({len(result.manifest)} rows) and {out.name}.scan.json")


@cli.command("ibsi-check", context_settings=CONTEXT)
@click.option("--all-rows/--failures-only", "all_rows", default=True, show_default=True,
              help="Print every compared feature, or only those that fail or are not claimed.")
@click.option("--out", "out", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Also write the table (.csv, .tsv or .parquet).")
@click.pass_context
def ibsi_check(ctx: click.Context, all_rows: bool, out: Path | None) -> None:
    """Check our extraction against the IBSI 1 digital phantom's consensus values.

    Runs pyradiomics (through the extraction code) on the phantom that ships with the
    package and prints one row per compared feature: our name, the IBSI tag, reference,
    tolerance, our value, passed, whether we claim compliance, and a note where the
    definitions differ. Exits with status 1 when a feature we claim compliant fails.
    """
    import pandas as pd

    from .errors import InputError
    from .extract import ibsi_check as run_check

    table = run_check()
    summary = table.attrs["radiogenomics"]
    shown = table if all_rows else table[~table["passed"] | ~table["claimed"]]
    with pd.option_context("display.max_rows", None, "display.width", 200,
                           "display.max_colwidth", 70):
        click.echo(shown.to_string(index=False))
    versions = ", ".join(f"{k} {v}" for k, v in summary["versions"].items())
    click.echo(f"{summary['n_compared']} IBSI features compared, {summary['n_passed']} "
               f"passed; {summary['n_claimed_passed']} of {summary['n_claimed']} claimed "
               f"compliant passed ({versions})")
    if out is not None:
        suffix = out.suffix.lower()
        if suffix == ".parquet":
            table.to_parquet(out, index=False)
        elif suffix in (".csv", ".tsv"):
            table.to_csv(out, sep="," if suffix == ".csv" else "\t", index=False)
        else:
            raise InputError("unknown table format", file=out,
                             expected=".csv, .tsv or .parquet", found=out.suffix)
        click.echo(f"Wrote {out}")
    if not summary["compliant"]:
        click.echo(f"claimed compliant but failed: {summary['failed_claims'] or 'discretisation'}",
                   err=True)
        ctx.exit(1)


@cli.command(context_settings=CONTEXT)
@click.argument("results", type=click.Path(path_type=Path))
@click.option("--out", "out", type=click.Path(file_okay=False, path_type=Path), required=True,
              help="Output folder for report.html and report.pdf.")
@click.option("--title", default=None, help="Title of the report.")
@click.option("--pdf/--no-pdf", "pdf", default=True, show_default=True,
              help="Also print the report to PDF (headless Chromium, else WeasyPrint).")
@click.option("--figures/--no-figures", "figures", default=True, show_default=True,
              help="Embed static figures (plotly + kaleido with Chromium).")
def report(results: Path, out: Path, title: str | None, pdf: bool, figures: bool) -> None:
    """Write the study report of a results folder (or cohort file) as HTML and PDF.

    RESULTS is a folder as the demo writes it (cohort.h5mu, results/*.parquet, models/,
    summary.json) or a cohort file (.h5mu). The report holds the cohort and join,
    acquisition and extraction settings, the IBSI self-test, QC, harmonisation,
    robustness, associations, the survival screen, models, and a CLEAR / TRIPOD+AI / RQS
    checklist filled with what the software knows; every number comes from the stored
    results.
    """
    from .report import study

    written = study(results, out, title=title, pdf=pdf, figures=figures)
    click.echo("Wrote " + " and ".join(str(p) for p in written.values()))


@cli.command(context_settings=CONTEXT)
@click.argument("manifest", type=click.Path(path_type=Path))
@click.option("--out", "out", type=click.Path(dir_okay=False, path_type=Path), required=True,
              help="Output table (.csv, .tsv, .parquet or .xlsx).")
@click.option("--params", "params", default="default", show_default=True,
              metavar="FILE|PRESET", help="Extraction settings, as for extract.")
@click.option("--perturbations", default="erode,dilate,contour", show_default=True,
              help="Mask perturbations, comma-separated: erode, dilate, contour.")
@click.option("--n-perturbations", type=click.IntRange(1, None), default=3, show_default=True,
              help="Random contour displacements per lesion.")
@click.option("--distance", type=float, default=None,
              help="Erosion/dilation in mm [default: one in-plane voxel].")
@click.option("--displacement", type=float, default=None,
              help="SD of the random contour displacement in mm [default: one in-plane voxel].")
@click.option("--icc", type=click.Choice(["icc_1_1", "icc_2_1"]), default="icc_1_1",
              show_default=True, help="The ICC that decides robustness.")
@click.option("--threshold", type=float, default=0.75, show_default=True,
              help="A feature is robust when its ICC is at least this.")
@click.option("--seed", type=int, default=0, show_default=True,
              help="Seed of the random contours.")
@click.option("--jobs", "n_jobs", type=int, default=-1,
              help="Worker processes on this machine [default: every core].")
@click.option("--scheduler", default=None, metavar="ADDRESS",
              help="Run the cases on the Dask cluster of this scheduler (tcp://host:8786).")
@click.option("--cache", "cache_dir", type=click.Path(file_okay=False, path_type=Path),
              default=None, help="Cache folder (extracted cases and perturbed masks).")
def robustness(manifest: Path, out: Path, params: str, perturbations: str,
               n_perturbations: int, distance: float | None, displacement: float | None,
               icc: str, threshold: float, seed: int, n_jobs: int, scheduler: str | None,
               cache_dir: Path | None) -> None:
    """Robustness of every feature to the segmentation: features re-extracted with each
    mask eroded, dilated and its contour randomly displaced, and their intraclass
    correlation (ICC with its 95% interval, robust when at least the threshold).

    MANIFEST is an image manifest as for extract. Writes OUT with one row per feature:
    feature, image_type, feature_class, icc, ci_lower, ci_upper, robust, icc_kind,
    n_subjects, n_replicates.
    """
    from .export import write_table
    from .extract import robustness as run_robustness

    table = run_robustness(manifest, params=params,
                           perturbations=tuple(p.strip() for p in perturbations.split(",")
                                               if p.strip()),
                           n_perturbations=n_perturbations, random_state=seed,
                           distance=distance, displacement=displacement, icc=icc,
                           threshold=threshold, n_jobs=n_jobs, cache_dir=cache_dir,
                           client=scheduler)
    left_out = table.attrs.get("left_out", [])
    write_table(table, out, schema=False)
    click.echo(f"{int(table['robust'].sum())} of {len(table)} features robust "
               f"({table['icc_kind'].iloc[0]} >= {threshold}) over "
               f"{int(table['n_subjects'].iloc[0])} lesions"
               + (f"; left out (a perturbation failed): {', '.join(left_out)}" if left_out
                  else ""))
    click.echo(f"Wrote {out}")


_KINDS = ["radiomics", "expression", "proteomics", "mutations", "clinical", "manifest"]


@cli.command(context_settings=CONTEXT)
@click.argument("kind", type=click.Choice(_KINDS), metavar="KIND")
@click.argument("path", type=click.Path(path_type=Path))
@click.option("--orientation", type=click.Choice(["genes_as_rows", "features_as_rows",
                                                  "patients_as_rows"]),
              default=None, help="Matrix orientation (expression, proteomics).")
@click.option("--counts", is_flag=True, help="Expression values are raw counts.")
@click.option("--id-column", default=None, help="Column holding the IDs.")
@click.option("--time", "time_columns", default=None,
              help="Clinical time column(s), comma-separated.")
@click.option("--event", "event_columns", default=None,
              help="Clinical event column(s), comma-separated.")
@click.option("--event-map", default=None,
              help="Event coding, e.g. 'Dead=1,Alive=0'.")
def validate(kind: str, path: Path, orientation: str | None, counts: bool,
             id_column: str | None, time_columns: str | None, event_columns: str | None,
             event_map: str | None) -> None:
    """Check a table against its schema and print what was read.

    KIND is one of radiomics, expression, proteomics, mutations, clinical, manifest. For a
    manifest, the header of each RTSTRUCT or SEG mask is opened and checked to refer to its
    image series (or frame of reference) and to hold the row's roi.
    """
    from . import io

    def split(value):
        return [v.strip() for v in value.split(",") if v.strip()] if value else None

    if kind == "radiomics":
        result = io.read_radiomics(path, id_column=id_column)
    elif kind == "expression":
        result = io.read_expression(path, orientation=orientation or "genes_as_rows",
                                    id_column=id_column, counts=counts)
    elif kind == "proteomics":
        result = io.read_proteomics(path, orientation=orientation or "features_as_rows",
                                    id_column=id_column)
    elif kind == "mutations":
        result = io.read_mutations(path)
    elif kind == "clinical":
        mapping = None
        if event_map:
            mapping = {}
            for item in split(event_map):
                key, _, value = item.partition("=")
                if not _ or value.strip() not in ("0", "1"):
                    raise click.BadParameter(f"expected CODE=0 or CODE=1, found {item!r}",
                                             param_hint="--event-map")
                mapping[key.strip()] = int(value)
        result = io.read_clinical(path, id_column=id_column, time=split(time_columns),
                                  event=split(event_columns), event_map=mapping)
    else:
        from .io.dicom import check_manifest_masks

        result = io.read_manifest(path)
        n_dicom = check_manifest_masks(result, path)
        if n_dicom:
            click.echo(f"{path}: {n_dicom} RTSTRUCT/SEG mask(s) refer to their image series")
    if hasattr(result, "n_obs"):
        click.echo(f"{path}: valid {kind} table, {result.n_obs} patients x {result.n_vars} "
                   "features")
    else:
        click.echo(f"{path}: valid {kind} table, {len(result)} rows x "
                   f"{result.shape[1]} columns")


@cli.command(context_settings=CONTEXT)
@click.argument("cohort", type=click.Path(path_type=Path))
def info(cohort: Path) -> None:
    """Summarise a cohort file (.h5mu): modalities, clinical columns, join, results."""
    from .cohort import read_cohort

    mdata = read_cohort(cohort)
    click.echo(f"{cohort}: {mdata.n_obs} patients")
    for name, mod in mdata.mod.items():
        click.echo(f"  {name}: {mod.n_obs} patients x {mod.n_vars} features")
    click.echo(f"  clinical columns: {', '.join(map(str, mdata.obs.columns)) or 'none'}")
    root = mdata.uns.get("radiogenomics", {})
    join = root.get("join")
    if join is not None:
        click.echo(f"  join: {join['how']}, {join['n_dropped']} patient(s) dropped "
                   "(see the join report)")
    for kind, tables in root.items():
        if kind in ("join", "join_report", "params", "truth", "files", "manifest", "clinical"):
            continue
        if isinstance(tables, dict):
            for key, table in tables.items():
                if hasattr(table, "shape"):
                    click.echo(f"  {kind}/{key}: {table.shape[0]} rows")


def _csv(value: str | None) -> list[str]:
    return [v.strip() for v in value.split(",") if v.strip()] if value else []


@cli.command(context_settings=CONTEXT)
@click.argument("cohort", type=click.Path(path_type=Path))
@click.option("--target", required=True,
              help="Clinical column to predict (for survival: the follow-up time).")
@click.option("--features", default="radiomics", show_default=True,
              help="Comma-separated modalities and/or 'clinical' (or clinical column names).")
@click.option("--clinical", "clinical_columns", default=None,
              help="Clinical columns to use, comma-separated [default with 'clinical': every "
                   "column except the outcome, the batch and recodings of the outcome].")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), required=True,
              help="Folder for the model, its card, tables and figures.")
@click.option("--event", default=None, help="Event column (makes it a survival model).")
@click.option("--task", type=click.Choice(["classification", "regression", "survival"]),
              default=None, help="Task [default: inferred from the target].")
@click.option("--positive", default=None, help="Label of the positive class.")
@click.option("--model", "learner", default="penalized", show_default=True,
              type=click.Choice(["penalized", "logistic", "elastic_net", "cox", "random_forest",
                                 "gradient_boosting"]), help="Learner.")
@click.option("--selection", default="univariate", show_default=True,
              type=click.Choice(["univariate", "lasso", "elastic_net", "mrmr", "stability",
                                 "none"]), help="Feature selection inside each training fold.")
@click.option("--n-features", default="5,10,20", show_default=True,
              help="Features kept by the selection (several values are tuned).")
@click.option("--harmonize", default=None,
              help="Batch column: ComBat on the imaging features inside each training fold.")
@click.option("--layers", default=None,
              help="Read a layer instead of X, e.g. 'radiomics=raw' when X was harmonised on "
                   "every patient (comma-separated MODALITY=LAYER).")
@click.option("--folds", type=click.IntRange(2, None), default=5, show_default=True,
              help="Outer cross-validation folds.")
@click.option("--repeats", type=click.IntRange(1, None), default=5, show_default=True,
              help="Repeats of the outer cross-validation.")
@click.option("--inner-folds", type=click.IntRange(2, None), default=3, show_default=True,
              help="Inner (tuning) cross-validation folds.")
@click.option("--bootstraps", type=click.IntRange(0, None), default=1000, show_default=True,
              help="Bootstrap replicates for confidence intervals.")
@click.option("--permutations", type=click.IntRange(0, None), default=100, show_default=True,
              help="Label permutations for the permutation test (0: none).")
@click.option("--test", "test_split", default=None,
              help="External test patients: an obs column (true = test) or COLUMN=VALUE.")
@click.option("--test-cohort", type=click.Path(path_type=Path), default=None,
              help="A second cohort file (.h5mu) for external validation.")
@click.option("--seed", type=int, default=0, show_default=True, help="Random seed.")
@click.option("--jobs", "n_jobs", type=int, default=None, help="Parallel workers.")
@click.option("--key", default=None, help="Name of the model [default: the target].")
@click.option("--update-cohort", is_flag=True,
              help="Also store the results (card, predictions) in the cohort file.")
def model(cohort: Path, target: str, features: str, clinical_columns: str | None, out: Path,
          event: str | None, task: str | None, positive: str | None, learner: str,
          selection: str, n_features: str, harmonize: str | None, layers: str | None,
          folds: int, repeats: int,
          inner_folds: int, bootstraps: int, permutations: int, test_split: str | None,
          test_cohort: Path | None, seed: int, n_jobs: int | None, key: str | None,
          update_cohort: bool) -> None:
    """Fit a predictive model with nested cross-validation and save it with its card.

    Selection, harmonisation and tuning are fitted inside each training fold; performance
    comes with bootstrap 95% intervals and a permutation test. Example:

    \b
    radiogenomics model cohort.h5mu --target egfr_mutant --features radiomics,clinical \\
        --out egfr_model
    """
    from .tl.models import run_model

    spec: dict = {}
    for name in _csv(features):
        if name == "clinical" and clinical_columns:
            spec["clinical"] = _csv(clinical_columns)
        else:
            spec[name] = None
    try:
        sizes = [int(v) for v in _csv(n_features)]
    except ValueError:
        raise click.BadParameter(f"expected integers, found {n_features!r}",
                                 param_hint="--n-features") from None
    if not sizes or min(sizes) < 1:
        from .errors import InputError

        raise InputError("--n-features must be whole numbers of 1 or more",
                         expected="e.g. 5 or 5,10,20", found=n_features)
    layer_map = {}
    for item in _csv(layers):
        mod, _, layer = item.partition("=")
        if not layer:
            raise click.BadParameter(f"expected MODALITY=LAYER, found {item!r}",
                                     param_hint="--layers")
        layer_map[mod.strip()] = layer.strip()
    test = None
    if test_split:
        column, _, value = test_split.partition("=")
        test = (column, value) if value else column
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", UserWarning)
        fitted = run_model(
            cohort, out, target, spec, event=event, task=task, positive=positive, model=learner,
            selection=None if selection == "none" else selection,
            n_features=sizes[0] if len(sizes) == 1 else sizes, harmonize=harmonize,
            layers=layer_map or None,
            outer_folds=folds, n_repeats=repeats, inner_folds=inner_folds,
            n_bootstraps=bootstraps, n_permutations=permutations, test=test,
            test_cohort=test_cohort, random_state=seed, n_jobs=n_jobs, key_added=key,
            update_cohort=update_cohort)
    for warning in caught:
        if issubclass(warning.category, UserWarning) and "radiogenomics" in warning.filename:
            click.echo(f"warning: {warning.message}", err=True)
    click.echo(fitted.summary())
    click.echo(f"Wrote the model, its card and figures to {out}")


def _names(value: str | None) -> list[str]:
    return [v.strip() for v in value.split(",") if v.strip()] if value else []


def _block_spec(value: str) -> str | list[str]:
    """A modality name, or comma-separated clinical columns."""
    names = _names(value)
    return names[0] if len(names) == 1 else names


@cli.command(context_settings=CONTEXT)
@click.argument("cohort", type=click.Path(path_type=Path))
@click.option("--x", "x", default="radiomics", show_default=True,
              help="Modality, or comma-separated clinical columns, of the x features.")
@click.option("--y", "y", default="rna", show_default=True,
              help="Modality, or comma-separated clinical columns, of the y features.")
@click.option("--covariates", default=None,
              help="Comma-separated clinical columns to adjust for, e.g. age,sex.")
@click.option("--method", type=click.Choice(["linear", "pearson", "spearman", "mannwhitney",
                                             "welch", "logistic"]),
              default="linear", show_default=True, help="Association test.")
@click.option("--multitest", type=click.Choice(["bh", "by", "bonferroni", "holm", "storey",
                                                "permutation"]),
              default="bh", show_default=True,
              help="Multiple-testing correction (permutation: empirical FDR from joint "
                   "permutations of the y patients).")
@click.option("--permutations", "n_permutations", type=click.IntRange(1, None), default=100,
              show_default=True, help="Permutations for --multitest permutation.")
@click.option("--seed", type=int, default=0, show_default=True,
              help="Seed of the permutations.")
@click.option("--family", type=click.Choice(["all", "x", "y"]), default="all",
              show_default=True,
              help="Tests corrected together: all, or per x feature, or per y feature.")
@click.option("--p-threshold", "p_threshold", type=click.FloatRange(0, 1), default=None,
              help="Keep only the pairs with p-value at most this (threshold mode, e.g. "
                   "1e-5); q-values are still corrected over all tests.")
@click.option("--stream", is_flag=True,
              help="Write the table to OUT (.parquet) chunk by chunk as it is computed, "
                   "never holding it whole.")
@click.option("--out", "out", type=click.Path(dir_okay=False, path_type=Path), required=True,
              help="Output table: .csv, .tsv, .parquet or .xlsx (a .meta.json is written "
                   "beside it).")
@click.option("--q", "q", type=click.FloatRange(0, 1), default=None,
              help="Write only the pairs with q-value at most this.")
@click.option("--top", type=click.IntRange(1, None), default=None,
              help="Write only this many most significant pairs.")
def associate(cohort: Path, x: str, y: str, covariates: str | None, method: str,
              multitest: str, n_permutations: int, seed: int, family: str,
              p_threshold: float | None, stream: bool, out: Path, q: float | None,
              top: int | None) -> None:
    """Test every x feature against every y feature of a cohort (.h5mu) and write the
    association table with its provenance."""
    from .cohort import read_cohort
    from .errors import InputError
    from .export import write_table
    from .tl import associate as run

    if stream and (q is not None or top is not None):
        raise InputError("--stream writes every pair", expected="no --q or --top",
                         found={"q": q, "top": top})
    mdata = read_cohort(cohort)
    table = run(mdata, x=_block_spec(x), y=_block_spec(y), covariates=_names(covariates),
                method=method, multitest=multitest, family=family, p_threshold=p_threshold,
                n_permutations=n_permutations, seed=seed, out=out if stream else None)
    params = table.attrs.get("radiogenomics", {})
    if not stream:
        write_table(table, out, q=q, top=top, cohort=mdata)
    significant = int((table["q_value"] < 0.05).sum())
    tested = params.get("n_tests", len(table))
    kept = f", {len(table)} with p <= {p_threshold} kept" if p_threshold is not None else ""
    click.echo(f"{tested} pairs tested ({method}){kept}, {significant} with q < 0.05 "
               f"({multitest}, family {family}); wrote {out} and {out.name}.meta.json")


@cli.command(context_settings=CONTEXT)
@click.argument("cohort", type=click.Path(path_type=Path))
@click.option("--time", "time_column", required=True, help="Clinical column of follow-up times.")
@click.option("--event", "event_column", required=True,
              help="Clinical column of events (0/1, or codes with --event-map).")
@click.option("--mod", "mods", default=None,
              help="Modality (or comma-separated modalities) to screen [default: every one].")
@click.option("--covariates", default=None,
              help="Comma-separated clinical columns adjusted for in every model, e.g. age,stage.")
@click.option("--strata", default=None, help="Comma-separated clinical columns to stratify on.")
@click.option("--ties", type=click.Choice(["efron", "breslow"]), default="efron",
              show_default=True, help="Handling of tied event times.")
@click.option("--event-map", default=None, help="Event coding, e.g. 'Dead=1,Alive=0'.")
@click.option("--drop-missing", is_flag=True,
              help="Leave out patients without time or event instead of stopping.")
@click.option("--out", "out", type=click.Path(dir_okay=False, path_type=Path), required=True,
              help="Output table (.parquet, .csv, .tsv or .xlsx); OUT.meta.json is written "
                   "beside it.")
def survival(cohort: Path, time_column: str, event_column: str, mods: str | None,
             covariates: str | None, strata: str | None, ties: str, event_map: str | None,
             drop_missing: bool, out: Path) -> None:
    """Cox screen of every feature of a cohort: one model per feature (adjusted for the
    covariates), hazard ratios, p-values, BH q-values and C-index, written to OUT."""
    from .workflow import survival_screen_file

    def split(value):
        return [v.strip() for v in value.split(",") if v.strip()] if value else None

    mapping = None
    if event_map:
        mapping = {}
        for item in split(event_map):
            key, sep, value = item.partition("=")
            if not sep or value.strip() not in ("0", "1"):
                raise click.BadParameter(f"expected CODE=0 or CODE=1, found {item!r}",
                                         param_hint="--event-map")
            mapping[key.strip()] = int(value)
    modalities = split(mods)
    written = survival_screen_file(
        cohort, out, time=time_column, event=event_column,
        mod=modalities[0] if modalities and len(modalities) == 1 else modalities,
        covariates=split(covariates), strata=split(strata), ties=ties, event_map=mapping,
        missing="drop" if drop_missing else "raise")
    click.echo(f"Wrote {written} and {written.name}.meta.json")


REFERENCE_START = "<!-- cli-reference:start -->"
REFERENCE_END = "<!-- cli-reference:end -->"


def cli_reference() -> str:
    """Markdown of ``radiogenomics <command> --help`` for every command (README section)."""
    parts = []
    root = click.Context(cli, info_name="radiogenomics", **CONTEXT)
    parts.append(f"```text\n$ radiogenomics --help\n{cli.get_help(root)}\n```")
    for name in sorted(cli.commands):
        command = cli.commands[name]
        ctx = click.Context(command, info_name=name, parent=root, **CONTEXT)
        parts.append(f"### `radiogenomics {name}`\n\n```text\n{command.get_help(ctx)}\n```")
    return "\n\n".join(parts)


def update_readme(path: str | Path = "README.md") -> None:
    """Rewrite the command-line reference section of the README from the commands' help."""
    path = Path(path)
    text = path.read_text(encoding="utf-8")
    head, _, rest = text.partition(REFERENCE_START)
    _, _, tail = rest.partition(REFERENCE_END)
    path.write_text(f"{head}{REFERENCE_START}\n{cli_reference()}\n{REFERENCE_END}{tail}",
                    encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    """Entry point: run the command, turning library errors into a short message."""
    try:
        result = cli.main(args=argv, prog_name="radiogenomics", standalone_mode=False)
    except RadiogenomicsError as exc:
        click.echo(f"error: {exc}", err=True)
        return 2
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        return 130
    except click.ClickException as exc:
        exc.show()
        return exc.exit_code
    except click.exceptions.Exit as exc:
        return exc.exit_code
    except KeyboardInterrupt:
        click.echo("interrupted", err=True)
        return 130
    except OSError as exc:  # a disk or permission problem outside the library's own writers
        where = f"{exc.filename}: " if exc.filename else ""
        click.echo(f"error: {where}{exc.strerror or exc}", err=True)
        return 2
    return result if isinstance(result, int) else 0


if __name__ == "__main__":
    sys.exit(main())
