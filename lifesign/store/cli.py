"""`lifesign db`: the state database's schema (upgrade, current, downgrade) and its move from
the embedded SQLite to PostgreSQL (copy)."""

from __future__ import annotations

import click
from rich.console import Console

from lifesign.store.database import (
    current_revision,
    downgrade,
    head_revision,
    make_engine,
    migrate,
    redacted_url,
)

console = Console(highlight=False)


@click.group()
def db() -> None:
    """The state database: migrations and where it is."""


@db.command()
@click.option("--revision", default="head", show_default=True, help="Migration to upgrade to.")
@click.pass_context
def upgrade(ctx: click.Context, revision: str) -> None:
    """Create or upgrade the schema (SQLite in the home, or $LIFESIGN_DATABASE_URL)."""
    from lifesign.cli import settings_of

    settings = settings_of(ctx)
    if settings.database_url.startswith("sqlite"):
        settings.ensure_home()
    engine = make_engine(settings.database_url)
    migrate(engine, revision)
    console.print(
        f"database {redacted_url(settings.database_url)} at revision {current_revision(engine)}"
    )


@db.command()
@click.pass_context
def current(ctx: click.Context) -> None:
    """Print the database's URL (password hidden), its revision and the newest one."""
    from lifesign.cli import settings_of

    settings = settings_of(ctx)
    engine = make_engine(settings.database_url)
    revision = current_revision(engine)
    head = head_revision()
    state = "up to date" if revision == head else "needs `lifesign db upgrade`"
    console.print(f"database: {redacted_url(settings.database_url)}")
    console.print(f"revision: {revision or '(empty)'}   newest: {head}   {state}")


@db.command(name="downgrade")
@click.argument("revision")
@click.confirmation_option(prompt="Downgrading can drop tables and their data. Continue?")
@click.pass_context
def downgrade_command(ctx: click.Context, revision: str) -> None:
    """Downgrade the schema to REVISION (`base` drops every table)."""
    from lifesign.cli import settings_of

    settings = settings_of(ctx)
    engine = make_engine(settings.database_url)
    downgrade(engine, revision)
    console.print(f"database at revision {current_revision(engine) or '(empty)'}")


@db.command(name="copy")
@click.option(
    "--to",
    "target_url",
    required=True,
    metavar="POSTGRESQL_URL",
    help="The PostgreSQL database to copy into (postgresql+psycopg://user:password@host/db); "
    "upgraded to the newest migration first.",
)
@click.option(
    "--replace",
    is_flag=True,
    help="Empty every table of a target that already holds rows (else it is refused).",
)
@click.pass_context
def copy_command(ctx: click.Context, target_url: str, replace: bool) -> None:
    """Copy every table of the current database (the home's SQLite) into PostgreSQL."""
    from lifesign.cli import settings_of
    from lifesign.store.copy import TableCopied, copy_database

    settings = settings_of(ctx)
    # soft_wrap: a URL is printed whole, not broken at the terminal's width
    console.print(
        f"copying {redacted_url(settings.database_url)} -> {redacted_url(target_url)}",
        soft_wrap=True,
    )

    def show(table: TableCopied) -> None:
        rate = table.rows / table.seconds if table.seconds > 0 else 0.0
        console.print(
            f"  {table.table:<24} {table.rows:>12,} rows {table.seconds:>8.1f} s"
            f" {rate:>10,.0f} rows/s"
        )

    result = copy_database(
        settings.database_url,
        target_url,
        replace=replace,
        progress=lambda line: console.print(f"  {line}"),
        on_table=show,
    )
    console.print(
        f"copied {result.rows:,} rows in {len(result.tables)} tables in {result.seconds:.1f} s;"
        f" the target is at revision {result.revision}. To use it: "
        f"LIFESIGN_DATABASE_URL={redacted_url(target_url)} (with its password)",
        soft_wrap=True,
    )
