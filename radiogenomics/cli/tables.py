"""Commands on input files and cohorts: validation against the schemas, a cohort's summary."""

from __future__ import annotations

from pathlib import Path

import click

from ._group import CONTEXT, cli

_KINDS = ["radiomics", "expression", "proteomics", "mutations", "clinical", "manifest"]


@cli.command(context_settings=CONTEXT)
@click.argument("kind", type=click.Choice(_KINDS), metavar="KIND")
@click.argument("path", type=click.Path(path_type=Path))
@click.option(
    "--orientation",
    type=click.Choice(["genes_as_rows", "features_as_rows", "patients_as_rows"]),
    default=None,
    help="Matrix orientation (expression, proteomics).",
)
@click.option("--counts", is_flag=True, help="Expression values are raw counts.")
@click.option("--id-column", default=None, help="Column holding the IDs.")
@click.option(
    "--time", "time_columns", default=None, help="Clinical time column(s), comma-separated."
)
@click.option(
    "--event", "event_columns", default=None, help="Clinical event column(s), comma-separated."
)
@click.option("--event-map", default=None, help="Event coding, e.g. 'Dead=1,Alive=0'.")
def validate(
    kind: str,
    path: Path,
    orientation: str | None,
    counts: bool,
    id_column: str | None,
    time_columns: str | None,
    event_columns: str | None,
    event_map: str | None,
) -> None:
    """Check a table against its schema and print what was read.

    KIND is one of radiomics, expression, proteomics, mutations, clinical, manifest. For a
    manifest, the header of each RTSTRUCT or SEG mask is opened and checked to refer to its
    image series (or frame of reference) and to hold the row's roi.
    """
    from .. import io

    def split(value):
        return [v.strip() for v in value.split(",") if v.strip()] if value else None

    if kind == "radiomics":
        result = io.read_radiomics(path, id_column=id_column)
    elif kind == "expression":
        result = io.read_expression(
            path, orientation=orientation or "genes_as_rows", id_column=id_column, counts=counts
        )
    elif kind == "proteomics":
        result = io.read_proteomics(
            path, orientation=orientation or "features_as_rows", id_column=id_column
        )
    elif kind == "mutations":
        result = io.read_mutations(path)
    elif kind == "clinical":
        mapping = None
        if event_map:
            mapping = {}
            for item in split(event_map):
                key, _, value = item.partition("=")
                if not _ or value.strip() not in ("0", "1"):
                    raise click.BadParameter(
                        f"expected CODE=0 or CODE=1, found {item!r}", param_hint="--event-map"
                    )
                mapping[key.strip()] = int(value)
        result = io.read_clinical(
            path,
            id_column=id_column,
            time=split(time_columns),
            event=split(event_columns),
            event_map=mapping,
        )
    else:
        from ..io.dicom import check_manifest_masks

        result = io.read_manifest(path)
        n_dicom = check_manifest_masks(result, path)
        if n_dicom:
            click.echo(f"{path}: {n_dicom} RTSTRUCT/SEG mask(s) refer to their image series")
    if hasattr(result, "n_obs"):
        click.echo(
            f"{path}: valid {kind} table, {result.n_obs} patients x {result.n_vars} features"
        )
    else:
        click.echo(f"{path}: valid {kind} table, {len(result)} rows x {result.shape[1]} columns")


@cli.command(context_settings=CONTEXT)
@click.argument("cohort", type=click.Path(path_type=Path))
def info(cohort: Path) -> None:
    """Summarise a cohort file (.h5mu): modalities, clinical columns, join, results."""
    from ..cohort import read_cohort

    mdata = read_cohort(cohort)
    click.echo(f"{cohort}: {mdata.n_obs} patients")
    for name, mod in mdata.mod.items():
        click.echo(f"  {name}: {mod.n_obs} patients x {mod.n_vars} features")
    click.echo(f"  clinical columns: {', '.join(map(str, mdata.obs.columns)) or 'none'}")
    root = mdata.uns.get("radiogenomics", {})
    join = root.get("join")
    if join is not None:
        click.echo(
            f"  join: {join['how']}, {join['n_dropped']} patient(s) dropped (see the join report)"
        )
    for kind, tables in root.items():
        if kind in ("join", "join_report", "params", "truth", "files", "manifest", "clinical"):
            continue
        if isinstance(tables, dict):
            for key, table in tables.items():
                if hasattr(table, "shape"):
                    click.echo(f"  {kind}/{key}: {table.shape[0]} rows")
