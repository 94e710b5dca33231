"""Commands over a whole study: the demo, the dashboards and their passwords, the report."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from ._group import CONTEXT, cli


@cli.command(context_settings=CONTEXT)
@click.option(
    "--out",
    "out",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("radiogenomics-demo"),
    show_default=True,
    help="Output folder for the demo study and its results.",
)
@click.option(
    "--patients",
    "n_patients",
    type=click.IntRange(12, None),
    default=150,
    show_default=True,
    help="Number of simulated patients.",
)
@click.option("--seed", type=int, default=0, show_default=True, help="Random seed.")
@click.option(
    "--jobs",
    "n_jobs",
    type=int,
    default=None,
    help="Worker processes for feature extraction [default: every core].",
)
@click.option(
    "--serve/--no-serve",
    "serve",
    default=True,
    show_default=True,
    help="End by serving the dashboards on the results (--no-serve only writes).",
)
@click.option(
    "--host", default="127.0.0.1", show_default=True, help="Address the dashboards listen on."
)
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    default=8050,
    show_default=True,
    help="Port of the dashboards.",
)
@click.option(
    "--dicom",
    is_flag=True,
    help="Write the images as DICOM series with RTSTRUCT contours and extract "
    "from those (scan, RTSTRUCT rasterisation, conversion report).",
)
def demo(
    out: Path,
    n_patients: int,
    seed: int,
    n_jobs: int | None,
    serve: bool,
    host: str,
    port: int,
    dicom: bool,
) -> None:
    """Run the demo study on the built-in synthetic cohort.

    Simulates images, masks and molecular and clinical tables, extracts radiomic features
    with pyradiomics, builds the cohort and writes OUT/cohort.h5mu, then serves the
    dashboards on OUT (unless --no-serve).
    """
    from ..workflow import run_demo

    if serve:  # refuse an unprotected address before the study runs, not after
        from dashboards.app import check_listen

        check_listen(
            host,
            None,
            hint=f"Run the demo with --no-serve, then serve it with "
            f"'radiogenomics serve {out} --host {host} --auth-file FILE'",
        )
    run_demo(
        out, n_patients=n_patients, random_state=seed, n_jobs=n_jobs, echo=click.echo, dicom=dicom
    )
    if serve:
        from dashboards import serve as serve_dashboards

        serve_dashboards(out, host=host, port=port, echo=click.echo)


@cli.command(context_settings=CONTEXT)
@click.argument("path", type=click.Path(path_type=Path))
@click.option(
    "--host",
    default="127.0.0.1",
    show_default=True,
    help="Address to listen on; other than this machine needs --auth-file.",
)
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    default=8050,
    show_default=True,
    help="Port to listen on.",
)
@click.option(
    "--auth-file",
    type=click.Path(path_type=Path),
    default=None,
    help="Password file (radiogenomics passwd): require HTTP basic authentication.",
)
@click.option(
    "--pseudonymize", is_flag=True, help="Show patients as PT-001, ... instead of their IDs."
)
@click.option(
    "--pseudonym-key",
    envvar="RADIOGENOMICS_PSEUDONYM_KEY",
    default=None,
    help="Secret ordering the pseudonyms [env RADIOGENOMICS_PSEUDONYM_KEY].",
)
@click.option(
    "--time",
    "time_column",
    default=None,
    help="Survival time column [default: as recorded when reading the clinical table].",
)
@click.option("--event", "event_column", default=None, help="Survival event column.")
@click.option(
    "--cache-dir",
    type=click.Path(path_type=Path),
    default=None,
    help="Where serving copies of large tables go [default: ~/.cache/radiogenomics].",
)
def serve(
    path: Path,
    host: str,
    port: int,
    auth_file: Path | None,
    pseudonymize: bool,
    pseudonym_key: str | None,
    time_column: str | None,
    event_column: str | None,
    cache_dir: Path | None,
) -> None:
    """Serve the dashboards of a results folder or a cohort file (.h5mu).

    PATH is a folder holding cohort.h5mu and result tables (as written by 'radiogenomics
    demo') or a cohort file. Listens on 127.0.0.1 unless told otherwise.
    """
    from dashboards import serve as serve_dashboards

    serve_dashboards(
        path,
        host=host,
        port=port,
        auth_file=auth_file,
        echo=click.echo,
        pseudonymize=pseudonymize,
        pseudonym_key=pseudonym_key,
        time=time_column,
        event=event_column,
        cache_dir=cache_dir,
    )


@cli.command(context_settings=CONTEXT)
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.argument("username")
@click.option(
    "--password-stdin",
    is_flag=True,
    help="Read the password from standard input instead of prompting.",
)
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
@click.argument("results", type=click.Path(path_type=Path))
@click.option(
    "--out",
    "out",
    type=click.Path(file_okay=False, path_type=Path),
    required=True,
    help="Output folder for report.html and report.pdf.",
)
@click.option("--title", default=None, help="Title of the report.")
@click.option(
    "--pdf/--no-pdf",
    "pdf",
    default=True,
    show_default=True,
    help="Also print the report to PDF (headless Chromium, else WeasyPrint).",
)
@click.option(
    "--figures/--no-figures",
    "figures",
    default=True,
    show_default=True,
    help="Embed static figures (plotly + kaleido with Chromium).",
)
def report(results: Path, out: Path, title: str | None, pdf: bool, figures: bool) -> None:
    """Write the study report of a results folder (or cohort file) as HTML and PDF.

    RESULTS is a folder as the demo writes it (cohort.h5mu, results/*.parquet, models/,
    summary.json) or a cohort file (.h5mu). The report holds the cohort and join,
    acquisition and extraction settings, the IBSI self-test, QC, harmonisation,
    robustness, associations, the survival screen, models, and a CLEAR / TRIPOD+AI / RQS
    checklist filled with what the software knows; every number comes from the stored
    results.
    """
    from ..report import study

    written = study(results, out, title=title, pdf=pdf, figures=figures)
    click.echo("Wrote " + " and ".join(str(p) for p in written.values()))
