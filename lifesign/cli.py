"""The `lifesign` command line: one root group, one sub-command module per package.

Each package exposes its own click command or group; this module only wires them together,
holds the `--home` option, and turns every `LifesignError` into a clear message.
"""

from __future__ import annotations

import importlib
import sys
from typing import Any

import click
from rich.console import Console

from lifesign.config import Settings, load_settings
from lifesign.errors import LifesignError

# "module:attribute" of each sub-command, in the order `--help` lists them.
SUBCOMMANDS = (
    "lifesign.demo:demo",
    "lifesign.catalog.cli:catalog",
    "lifesign.synth.cli:synth",
    "lifesign.registry.cli:registry",
    "lifesign.store.cli:db",
    "lifesign.ingest.cli:ingest",
    "lifesign.ingest.cli:batches",
    "lifesign.ingest.cli:lake_group",
    "lifesign.ingest.cli:quarantine",
    "lifesign.integrity.cli:integrity",
    "lifesign.integrity.cli:cases",
    "lifesign.payments.cli:payments",
    "lifesign.notify.cli:notify",
    "lifesign.plugins:plugins_command",
    "lifesign.lifecycle.cli:run",
    "lifesign.lifecycle.cli:visit",
    "lifesign.replay.cli:replay",
    "lifesign.replay.cli:score",
    "lifesign.certify.cli:certify",
    "lifesign.certify.cli:review",
    "lifesign.certify.cli:person",
)

err_console = Console(stderr=True)


class LifesignGroup(click.Group):
    """A group that renders platform errors as one readable line instead of a traceback."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except LifesignError as error:
            err_console.print(f"[bold red]error:[/] {error}", markup=True, highlight=False)
            sys.exit(2)


@click.group(cls=LifesignGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--home",
    type=click.Path(file_okay=False),
    envvar="LIFESIGN_HOME",
    default=None,
    help="Folder of the embedded default: SQLite file, evidence lake, secrets. "
    "Default: $LIFESIGN_HOME, else ./lifesign-data.",
)
@click.option(
    "--catalog",
    "catalog_dir",
    type=click.Path(file_okay=False, exists=True),
    envvar="LIFESIGN_CATALOG",
    default=None,
    help="Folder of the city's catalog files. Default: $LIFESIGN_CATALOG, else the packaged one.",
)
@click.version_option(package_name="lifesign")
@click.pass_context
def cli(ctx: click.Context, home: str | None, catalog_dir: str | None) -> None:
    """lifesign: certify benefit recipients without a visit, from departments' records."""
    ctx.obj = load_settings(home=home, catalog_dir=catalog_dir)


def settings_of(ctx: click.Context) -> Settings:
    """The settings resolved by the root group, for sub-commands."""
    settings = ctx.find_root().obj
    assert isinstance(settings, Settings)
    return settings


for _spec in SUBCOMMANDS:
    _module, _attr = _spec.split(":")
    cli.add_command(getattr(importlib.import_module(_module), _attr))


def main() -> None:
    cli()
