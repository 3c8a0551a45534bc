"""`lifesign serve` (the web app and API) and `lifesign users …` (accounts)."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

import click
from rich.console import Console
from rich.table import Table

if TYPE_CHECKING:
    from sqlalchemy import Engine

console = Console()

DEFAULT_HOST = "127.0.0.1"  # only this machine: opening to a network is a decision to take
DEFAULT_PORT = 8000


def serve_app(settings: object, host: str, port: int) -> None:
    """Run the app with uvicorn until interrupted (Ctrl-C)."""
    import uvicorn

    from lifesign.config import Settings
    from lifesign.web.app import create_app

    assert isinstance(settings, Settings)
    app = create_app(settings)
    # access_log off: the query strings of person searches would put ID numbers in the log
    uvicorn.run(app, host=host, port=port, access_log=False, log_level="warning")


@click.command()
@click.option("--host", default=DEFAULT_HOST, show_default=True, help="Address to listen on.")
@click.option("--port", type=click.IntRange(1, 65535), default=DEFAULT_PORT, show_default=True)
@click.pass_context
def serve(ctx: click.Context, host: str, port: int) -> None:
    """Serve the web app and the API (open the printed address in a browser)."""
    from lifesign.cli import settings_of

    settings = settings_of(ctx)
    console.print(f"lifesign web app at http://{host}:{port}/ (API: /api/docs); Ctrl-C stops")
    serve_app(settings, host, port)


@click.group()
def users() -> None:
    """Accounts of the web app: add, list, disable, enable, reset a password."""


def _read_password(from_stdin: bool) -> str:
    if from_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = click.prompt("password", hide_input=True, confirmation_prompt=True)
    return str(password)


@contextmanager
def _database(ctx: click.Context) -> Iterator[Engine]:
    """The city's database for one command, its connections closed when the command is done."""
    from lifesign.cli import settings_of
    from lifesign.store import open_database

    engine = open_database(settings_of(ctx))
    try:
        yield engine
    finally:
        engine.dispose()


@users.command("add")
@click.argument("username")
@click.option("--role", required=True,
              type=click.Choice(["admin", "program_officer", "data_manager", "community_worker",
                                 "auditor"]))  # fmt: skip
@click.option("--program", "programs", multiple=True, help="A program code (program officers).")
@click.option("--source", "sources", multiple=True, help="A source code (data managers).")
@click.option("--grid", "grids", multiple=True, help="A grid code (community workers).")
@click.option("--department", default=None, help="A department code (data managers).")
@click.option("--name", "display_name", default=None, help="The person's name, shown in pages.")
@click.option("--lang", default="zh-CN", type=click.Choice(["zh-CN", "en"]), show_default=True)
@click.option("--password-stdin", is_flag=True, help="Read the password from the first line of "
              "standard input (for scripts) instead of asking.")  # fmt: skip
@click.pass_context
def add(
    ctx: click.Context,
    username: str,
    role: str,
    programs: tuple[str, ...],
    sources: tuple[str, ...],
    grids: tuple[str, ...],
    department: str | None,
    display_name: str | None,
    lang: str,
    password_stdin: bool,
) -> None:
    """Create an account."""
    from lifesign.catalog import load_catalog
    from lifesign.cli import settings_of
    from lifesign.web.accounts import Scopes, create_user

    catalog = load_catalog(settings_of(ctx).catalog_dir)
    password = _read_password(password_stdin)
    with _database(ctx) as engine, engine.begin() as conn:
        create_user(
            conn, username, password, role,
            Scopes(programs=programs, sources=sources, grids=grids, department=department),
            display_name=display_name, lang=lang, catalog=catalog,
        )  # fmt: skip
    console.print(f"user {username} created ({role})")


@users.command("list")
@click.pass_context
def list_users(ctx: click.Context) -> None:
    """List the accounts, their role, scopes and last login."""
    from lifesign.web.accounts import list_accounts

    with _database(ctx) as engine, engine.connect() as conn:
        accounts = list_accounts(conn)
    table = Table()
    for column in ("user", "role", "scopes", "status", "last login"):
        table.add_column(column)
    for a in accounts:
        scopes = ", ".join([*a.programs, *a.grids, *([a.department] if a.department else [])])
        if a.sources:
            scopes += f" ({len(a.sources)} sources)"
        table.add_row(
            a.username, a.role, scopes, "disabled" if a.disabled else "active",
            a.last_login.strftime("%Y-%m-%d %H:%M") if a.last_login else "—",
        )  # fmt: skip
    console.print(table)


def _set_disabled(ctx: click.Context, username: str, disabled: bool) -> None:
    from lifesign.web.accounts import set_disabled

    with _database(ctx) as engine, engine.begin() as conn:
        set_disabled(conn, username, disabled)
    console.print(f"user {username} {'disabled' if disabled else 'enabled'}")


@users.command("disable")
@click.argument("username")
@click.pass_context
def disable(ctx: click.Context, username: str) -> None:
    """Disable an account (its sessions end at once)."""
    _set_disabled(ctx, username, True)


@users.command("enable")
@click.argument("username")
@click.pass_context
def enable(ctx: click.Context, username: str) -> None:
    """Enable a disabled account again."""
    _set_disabled(ctx, username, False)


@users.command("password")
@click.argument("username")
@click.option("--password-stdin", is_flag=True, help="Read the new password from standard input.")
@click.pass_context
def password(ctx: click.Context, username: str, password_stdin: bool) -> None:
    """Set a new password (the user's sessions end)."""
    from lifesign.web.accounts import reset_password

    new = _read_password(password_stdin)
    with _database(ctx) as engine, engine.begin() as conn:
        reset_password(conn, username, new)
    console.print(f"password of {username} changed")
