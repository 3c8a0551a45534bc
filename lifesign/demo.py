"""`lifesign demo`: the README's main job on the embedded default.

Until the certification engine exists the main job is: check the catalog, make a synthetic
city in the home folder, import its registry into the state database, and print what was
built. Each step is the same command a user would run by hand, invoked in order.
"""

from __future__ import annotations

import click
from rich.console import Console
from rich.table import Table

from lifesign.catalog.cli import check as catalog_check
from lifesign.registry.cli import import_command as registry_import
from lifesign.registry.cli import stats as registry_stats
from lifesign.synth.cli import synth


@click.command()
@click.option("--recipients", type=click.IntRange(min=10), default=5000, show_default=True,
              help="Size of the synthetic city (Bozhou: 1360000).")  # fmt: skip
@click.option("--seed", type=int, default=2023, show_default=True, help="Same seed, same city.")
@click.pass_context
def demo(ctx: click.Context, recipients: int, seed: int) -> None:
    """Make a synthetic city in the home folder, import its registry, print what was built."""
    from lifesign.cli import settings_of

    settings = settings_of(ctx)
    settings.ensure_home()
    city = settings.home / "city"
    console = Console()

    console.rule("[bold]1/4 catalog")
    ctx.invoke(catalog_check, directory=None)
    console.rule(f"[bold]2/4 synthetic city: {recipients:,} recipients, seed {seed}")
    ctx.invoke(
        synth,
        recipients=recipients,
        seed=seed,
        out=str(city),
        workers=2,
        non_recipient_ratio=1.5,
        no_feeds=False,
    )
    console.rule("[bold]3/4 registry import")
    ctx.invoke(registry_import, directory=city / "registry", rejects=None, today=None)
    console.rule("[bold]4/4 what was built")
    ctx.invoke(registry_stats)

    places = Table(title="where it is", show_header=False)
    places.add_column(style="bold")
    places.add_column()
    places.add_row("home", str(settings.home))
    places.add_row("state database", _safe_url(settings.database_url))
    places.add_row("registry files", str(city / "registry"))
    places.add_row("department feeds", f"{city / 'feeds'} (manifest.csv lists them)")
    places.add_row("ground truth", str(city / "truth"))
    console.print(places)


def _safe_url(url: str) -> str:
    """The database URL without its password."""
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)
