"""The ``radiogenomics`` command. Each subcommand is one library call.

Errors in the input are printed in one or two lines, without a traceback, and the
command exits with status 2. The commands live by subject in this package's modules
(``study``, ``images``, ``tables``, ``analysis``); importing the package registers them
all with the ``cli`` group.
"""

from __future__ import annotations

from pathlib import Path

import click

from ..errors import RadiogenomicsError
from . import analysis, images, study, tables  # noqa: F401  (register the commands)
from ._group import CONTEXT, cli

__all__ = ["cli", "main", "cli_reference", "update_readme"]

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
    path.write_text(
        f"{head}{REFERENCE_START}\n{cli_reference()}\n{REFERENCE_END}{tail}", encoding="utf-8"
    )


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
