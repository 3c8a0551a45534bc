"""`lifesign notify`: deliver the outbox, look at it, show the templates."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import click
from rich.console import Console
from rich.table import Table
from sqlalchemy import select

from lifesign.notify.models import MESSAGE_STATUSES
from lifesign.notify.templates import REASONS, available_languages

console = Console(highlight=False)


def _parse_time(value: str | None) -> dt.datetime:
    if value is None:
        return dt.datetime.now(dt.UTC)
    try:
        return dt.datetime.fromisoformat(value)
    except ValueError as error:
        raise click.BadParameter(f"expected a time like 2026-03-05T09:00, got {value!r}") from error


@click.group("notify")
def notify() -> None:
    """SMS outbox: send what is due, list messages, show the templates."""


@notify.command("send")
@click.option("--gateway", "gateway_name", default=None, help="Gateway (default: notify.yaml's).")
@click.option("--now", "now_text", default=None, help="Delivery time (default: now; naive=local).")
@click.option("--limit", type=int, default=None, help="At most this many messages this run.")
@click.pass_context
def send(
    ctx: click.Context, gateway_name: str | None, now_text: str | None, limit: int | None
) -> None:
    """Deliver the messages that are due through a gateway."""
    from lifesign.cli import settings_of
    from lifesign.notify.config import load_notify_config
    from lifesign.notify.gateways import open_gateway
    from lifesign.notify.outbox import deliver_due
    from lifesign.store import open_database

    settings = settings_of(ctx)
    engine = open_database(settings)
    try:
        gateway = open_gateway(settings, gateway_name)
        report = deliver_due(engine, gateway, _parse_time(now_text), limit=limit)
    finally:
        engine.dispose()
    if report.quiet_until is not None:
        local = report.quiet_until.astimezone(load_notify_config().timezone)
        console.print(
            f"quiet hours: nothing sent; {report.held_for_quiet_hours} message(s) wait until "
            f"{local:%Y-%m-%d %H:%M} ({local.tzname()})"
        )
        return
    console.print(
        f"gateway {report.gateway}: {report.sent} sent, {report.retry_scheduled} to retry, "
        f"{report.failed} failed"
        + (f", {report.recovered} recovered after a crash" if report.recovered else "")
        + (f" ({report.outcome_unknown} with unknown outcome)" if report.outcome_unknown else "")
    )
    for error, count in sorted(report.errors.items()):
        console.print(f"  {count} × {error}")


@notify.command("list")
@click.option("--status", type=click.Choice(MESSAGE_STATUSES), default=None)
@click.option("--reason", type=click.Choice(REASONS), default=None)
@click.option("--limit", type=int, default=50, show_default=True)
@click.pass_context
def list_messages(ctx: click.Context, status: str | None, reason: str | None, limit: int) -> None:
    """List outbox messages, newest first (phones masked)."""
    from lifesign.cli import settings_of
    from lifesign.notify.config import load_notify_config
    from lifesign.notify.outbox import from_db, outbox
    from lifesign.registry.ids import mask_phone
    from lifesign.store import open_database

    settings = settings_of(ctx)
    zone = load_notify_config().timezone
    engine = open_database(settings)
    query = select(outbox).order_by(outbox.c.message_id.desc()).limit(limit)
    if status:
        query = query.where(outbox.c.status == status)
    if reason:
        query = query.where(outbox.c.reason == reason)
    try:
        with engine.connect() as connection:
            rows = connection.execute(query).all()
    finally:
        engine.dispose()

    def local(moment: dt.datetime | None) -> str:
        aware = from_db(moment)
        return aware.astimezone(zone).strftime("%Y-%m-%d %H:%M") if aware else ""

    table = Table(
        "id", "person", "phone", "reason", "period", "status", "tries", "next/sent", "note"
    )
    for row in rows:
        when = local(row.sent_at) if row.sent_at else local(row.next_attempt_at)
        note = row.last_error or row.gateway_ref or ""
        table.add_row(
            str(row.message_id),
            str(row.person_id),
            mask_phone(row.phone),
            row.reason,
            row.period_key,
            row.status,
            str(row.attempts),
            when,
            note[:60],
        )
    console.print(table)
    console.print(f"{len(rows)} message(s) shown")


@notify.command("retry")
@click.argument("message_id", type=int)
@click.option("--now", "now_text", default=None)
@click.pass_context
def retry(ctx: click.Context, message_id: int, now_text: str | None) -> None:
    """Queue a failed message again (check first that it never arrived)."""
    from lifesign.cli import settings_of
    from lifesign.errors import LifesignError
    from lifesign.notify.outbox import retry_failed
    from lifesign.store import open_database

    engine = open_database(settings_of(ctx))
    try:
        if not retry_failed(engine, message_id, _parse_time(now_text)):
            raise LifesignError(f"message {message_id} cannot be retried", "it is not failed")
    finally:
        engine.dispose()
    console.print(f"message {message_id} queued again")


@notify.command("receipts")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--gateway",
    "gateway_name",
    default=None,
    help="Only messages sent through this gateway (when the file does not say).",
)
@click.pass_context
def receipts(ctx: click.Context, file: Path, gateway_name: str | None) -> None:
    """Apply a provider's delivery receipts (CSV or JSON lines) to the outbox."""
    from lifesign.cli import settings_of
    from lifesign.notify.receipts import apply_receipts
    from lifesign.store import open_database

    engine = open_database(settings_of(ctx))
    try:
        report = apply_receipts(engine, file, gateway=gateway_name)
    finally:
        engine.dispose()
    console.print(
        f"{file.name}: {report.applied} applied, {report.already} already recorded, "
        f"{report.unknown} unknown reference(s), {len(report.problems)} rejected"
    )
    for problem in report.problems:
        console.print(f"  [yellow]rejected[/] {problem}", soft_wrap=True)


@notify.command("templates")
@click.option("--lang", default="zh-CN", show_default=True, help="Language of the templates.")
def templates(lang: str) -> None:
    """Render every template with its sample parameters."""
    from lifesign.notify.config import load_notify_config
    from lifesign.notify.templates import load_templates

    limits = load_notify_config().sms
    template_set = load_templates(lang, sms=limits)
    console.print(f"[bold]{template_set.file}[/] (languages: {', '.join(available_languages())})")
    for reason, template in template_set.templates.items():
        body = template_set.render(reason, template.sample).body
        segments = limits.segments(body)
        console.print(f"\n[bold]{reason}[/]  {len(body)} characters, {segments} segment(s)")
        console.print(body, markup=False)
    for warning in template_set.warnings:
        console.print(f"[yellow]warning:[/] {warning}")
