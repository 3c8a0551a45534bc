"""`lifesign api token create|list|revoke`: the department API's tokens.

A new token is printed once, on its own line (stdout), so a script can capture it; it is
stored only as its SHA-256 and cannot be shown again.
"""

from __future__ import annotations

import click


@click.group()
def api() -> None:
    """The REST API for departments and apps (docs/api.md)."""


@api.group()
def token() -> None:
    """API tokens: one per department system, revocable."""


@token.command("create")
@click.option("--department", required=True, help="The department the token acts for.")
@click.option("--name", default="default", show_default=True, help="Which system uses it.")
@click.option(
    "--scope",
    "scopes",
    multiple=True,
    type=click.Choice(["self_service", "visits"]),
    help="Extra rights: self_service (the face app), visits (the community system). Repeat.",
)
@click.pass_context
def token_create(ctx: click.Context, department: str, name: str, scopes: tuple[str, ...]) -> None:
    """Create a token and print it once."""
    from lifesign.catalog import load_catalog
    from lifesign.cli import settings_of
    from lifesign.store import open_database
    from lifesign.web.api.tokens import create_token

    settings = settings_of(ctx)
    settings.ensure_home()
    info, secret = create_token(
        open_database(settings),
        load_catalog(settings.catalog_dir),
        department=department,
        name=name,
        scopes=frozenset(scopes),
        created_by="cli",
    )
    click.echo(
        f"token {info.token_id} for {info.department}/{info.name}"
        f" (scopes: {', '.join(sorted(info.scopes)) or 'none'}) — shown once, keep it safe:",
        err=True,
    )
    click.echo(secret)


@token.command("list")
@click.option("--department", default=None, help="Only this department's tokens.")
@click.pass_context
def token_list(ctx: click.Context, department: str | None) -> None:
    """Every token: id, department, name, prefix, scopes, created, revoked."""
    from lifesign.cli import settings_of
    from lifesign.store import open_database
    from lifesign.web.api.tokens import list_tokens

    tokens = list_tokens(open_database(settings_of(ctx)), department=department)
    if not tokens:
        click.echo("no API tokens")
        return
    for info in tokens:
        created = info.created_at.strftime("%Y-%m-%d %H:%M") if info.created_at else "?"
        state = (
            f"revoked {info.revoked_at.strftime('%Y-%m-%d %H:%M')}" if info.revoked_at else "active"
        )
        click.echo(
            f"{info.token_id:>4}  {info.department:<20} {info.name:<24} {info.prefix}…  "
            f"scopes={','.join(sorted(info.scopes)) or '-'}  created {created}  {state}"
        )


@token.command("revoke")
@click.argument("token_id", type=int)
@click.pass_context
def token_revoke(ctx: click.Context, token_id: int) -> None:
    """Revoke a token (its next call is refused with 401)."""
    from lifesign.cli import settings_of
    from lifesign.store import open_database
    from lifesign.web.api.tokens import revoke_token

    info = revoke_token(open_database(settings_of(ctx)), token_id)
    click.echo(f"token {info.token_id} ({info.department}/{info.name}) revoked")
