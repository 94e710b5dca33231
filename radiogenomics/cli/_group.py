"""The command group every subcommand registers with."""

from __future__ import annotations

import click

CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 100, "terminal_width": 100}


@click.group(context_settings=CONTEXT)
@click.version_option(package_name="radiogenomics", message="radiogenomics %(version)s")
def cli() -> None:
    """Radiogenomics: radiomic features, molecular tables, association and survival
    statistics, and dashboards for tumor boards."""
