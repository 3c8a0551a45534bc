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

# Each sub-command's name and "module:attribute". Modules are imported only when their
# command runs (or `--help` lists it), so `lifesign run` does not pay for the web of imports
# of every other package.
SUBCOMMANDS = {
    "demo": "lifesign.demo:demo",
    "catalog": "lifesign.catalog.cli:catalog",
    "synth": "lifesign.synth.cli:synth",
    "registry": "lifesign.registry.cli:registry",
    "db": "lifesign.store.cli:db",
    "ingest": "lifesign.ingest.cli:ingest",
    "batches": "lifesign.ingest.cli:batches",
    "lake": "lifesign.ingest.cli:lake_group",
    "quarantine": "lifesign.ingest.cli:quarantine",
    "certify": "lifesign.certify.cli:certify",
    "review": "lifesign.certify.cli:review",
    "person": "lifesign.certify.cli:person",
    "run": "lifesign.lifecycle.cli:run",
    "visit": "lifesign.lifecycle.cli:visit",
    "notify": "lifesign.notify.cli:notify",
    "integrity": "lifesign.integrity.cli:integrity",
    "cases": "lifesign.integrity.cli:cases",
    "payments": "lifesign.payments.cli:payments",
    "plugins": "lifesign.plugins:plugins_command",
    "replay": "lifesign.replay.cli:replay",
    "score": "lifesign.replay.cli:score",
    "api": "lifesign.web.api.cli:api",
    "serve": "lifesign.web.cli:serve",
    "users": "lifesign.web.cli:users",
}

err_console = Console(stderr=True)


class LifesignGroup(click.Group):
    """The root group: loads sub-commands lazily and renders platform errors as one line."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*SUBCOMMANDS, *self.commands})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in self.commands:
            return self.commands[cmd_name]
        spec = SUBCOMMANDS.get(cmd_name)
        if spec is None:
            return None
        module, attribute = spec.split(":")
        command = getattr(importlib.import_module(module), attribute)
        assert isinstance(command, click.Command), spec
        self.commands[cmd_name] = command
        return command

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


def main() -> None:
    cli()
