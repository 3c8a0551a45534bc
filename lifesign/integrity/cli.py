"""`lifesign integrity scan` and `lifesign cases list/show/confirm/dismiss/recovered`.

ID numbers are shown masked: a case page is about what happened, the officer finds the person
by `lifesign person show` when they need to act.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import click
from rich.console import Console
from rich.table import Table
from sqlalchemy import Engine, select

from lifesign.integrity.cases import CaseStatus
from lifesign.integrity.models import CASE_KINDS, CASE_STATUSES

console = Console(highlight=False)


def _engine(ctx: click.Context) -> Engine:
    from lifesign.cli import settings_of
    from lifesign.store import open_database

    return open_database(settings_of(ctx))


def _date(value: dt.datetime | None) -> dt.date:
    return value.date() if value is not None else dt.date.today()


@click.group("integrity")
def integrity() -> None:
    """Integrity checks: 冒领 / 多领 / 重领 signals and overpayments (docs/integrity.md)."""


@integrity.command("scan")
@click.option(
    "--as-of",
    type=click.DateTime(formats=["%Y-%m-%d"]),
    default=None,
    help="The date the scan is computed as of (default: today).",
)
@click.pass_context
def scan_command(ctx: click.Context, as_of: dt.datetime | None) -> None:
    """Run every fraud rule (built-in and from plugins) and open a case per new finding."""
    from lifesign.catalog import load_catalog
    from lifesign.cli import settings_of
    from lifesign.integrity.scan import scan

    settings = settings_of(ctx)
    engine = _engine(ctx)
    day = _date(as_of)
    with console.status("scanning…"):
        report = scan(settings, engine, load_catalog(settings.catalog_dir), day)
    table = Table("rule", "found", "opened", "already open", "already handled", "amount opened")
    for rule in report.rules.values():
        table.add_row(
            rule.code,
            f"{rule.found:,}",
            f"{rule.opened:,}",
            f"{rule.already_open:,}",
            f"{rule.already_handled:,}",
            f"{rule.amount_opened:,.2f}",
        )
    console.print(f"integrity scan as of {day.isoformat()}")
    console.print(table)
    console.print(f"{report.opened:,} case(s) opened")


@integrity.command("rules")
def rules_command() -> None:
    """List the registered fraud rules."""
    from lifesign.integrity.scan import registered_rules

    table = Table("code", "kind", "描述", "description")
    for rule in registered_rules():
        table.add_row(rule.code, rule.kind, rule.description_zh, rule.description_en)
    console.print(table)


@click.group("cases")
def cases() -> None:
    """Integrity cases: list, show, and the officer's actions (confirm, dismiss, recovered)."""


def _people(engine: Engine, person_ids: set[int]) -> dict[int, tuple[str, str]]:
    """(masked ID number, name) of each person."""
    from lifesign.registry.ids import mask_id_number
    from lifesign.store.models import Person

    if not person_ids:
        return {}
    with engine.connect() as connection:
        rows = connection.execute(
            select(Person.person_id, Person.id_number, Person.name).where(
                Person.person_id.in_(sorted(person_ids))
            )
        )
        return {int(r.person_id): (mask_id_number(r.id_number), r.name or "") for r in rows}


@cases.command("list")
@click.option("--kind", type=click.Choice(CASE_KINDS), default=None)
@click.option("--status", type=click.Choice(CASE_STATUSES), default=None)
@click.option("--rule", default=None, help="A rule code, e.g. payments_after_death.")
@click.option("--limit", type=int, default=200, show_default=True)
@click.pass_context
def list_command(
    ctx: click.Context, kind: str | None, status: str | None, rule: str | None, limit: int
) -> None:
    """Cases, newest first."""
    from lifesign.integrity.cases import list_cases

    engine = _engine(ctx)
    with engine.connect() as connection:
        found = list_cases(connection, kind=kind, status=status, rule=rule, limit=limit)
    people = _people(engine, {c.person_id for c in found})
    table = Table(
        "case", "kind", "rule", "status", "person", "name", "enrollment", "amount", "opened"
    )
    for case in found:
        masked, name = people.get(case.person_id, ("", ""))
        table.add_row(
            str(case.case_id),
            case.kind,
            case.rule,
            case.status,
            masked,
            name,
            "" if case.enrollment_id is None else str(case.enrollment_id),
            "" if case.amount is None else f"{case.amount:,.2f}",
            case.opened_on.isoformat(),
        )
    console.print(table)
    console.print(f"{len(found):,} case(s)")


def _explain(details: dict[str, Any] | None) -> str:
    return json.dumps(details or {}, ensure_ascii=False, indent=2)


@cases.command("show")
@click.argument("case_id", type=int)
@click.pass_context
def show_command(ctx: click.Context, case_id: int) -> None:
    """One case: who, what, how much, its evidence and its trail."""
    from lifesign.integrity.cases import case_events, get_case
    from lifesign.integrity.scan import registered_rules

    engine = _engine(ctx)
    with engine.connect() as connection:
        case = get_case(connection, case_id)
        trail = case_events(connection, case_id)
    masked, name = _people(engine, {case.person_id}).get(case.person_id, ("", ""))
    descriptions = {r.code: (r.description_zh, r.description_en) for r in registered_rules()}
    zh, en = descriptions.get(case.rule, ("", ""))
    console.print(f"[bold]case {case.case_id}[/] {case.kind} · {case.rule} · {case.status}")
    if zh:
        console.print(f"{zh}\n{en}")
    console.print(
        f"person {masked} {name}"
        + (f" · enrollment {case.enrollment_id}" if case.enrollment_id is not None else "")
    )
    if case.amount is not None:
        console.print(f"amount {case.amount:,.2f} yuan")
    console.print(f"opened {case.opened_on.isoformat()}")
    console.print("details " + _explain(case.details))
    if case.evidence:
        keys = sorted({k for item in case.evidence for k in item})
        table = Table(*keys, title="evidence")
        for item in case.evidence:
            table.add_row(*("" if item.get(k) is None else str(item.get(k)) for k in keys))
        console.print(table)
    trail_table = Table("on", "from", "to", "officer", "reason", title="trail")
    for event in trail:
        trail_table.add_row(
            event.on.isoformat(),
            event.from_status or "",
            event.to_status,
            event.officer or "",
            event.reason or "",
        )
    console.print(trail_table)


def _close(
    ctx: click.Context,
    case_id: int,
    status: CaseStatus,
    officer: str,
    reason: str,
    on: dt.datetime | None,
) -> None:
    from lifesign.integrity.cases import close_case

    engine = _engine(ctx)
    with engine.begin() as connection:
        close_case(
            connection, case_id, to_status=status, officer=officer, reason=reason, on=_date(on)
        )
    console.print(f"case {case_id} {status}")


def _officer_options(function: Any) -> Any:
    function = click.option(
        "--on",
        type=click.DateTime(formats=["%Y-%m-%d"]),
        default=None,
        help="The day of the decision (default: today).",
    )(function)
    function = click.option("--reason", required=True, help="Why: kept for the audit.")(function)
    function = click.option("--officer", required=True, help="Who decides.")(function)
    return click.argument("case_id", type=int)(function)


@cases.command("confirm")
@_officer_options
@click.pass_context
def confirm_command(
    ctx: click.Context, case_id: int, officer: str, reason: str, on: dt.datetime | None
) -> None:
    """An open case is real: payment stopped / repayment ordered."""
    _close(ctx, case_id, "confirmed", officer, reason, on)


@cases.command("dismiss")
@_officer_options
@click.pass_context
def dismiss_command(
    ctx: click.Context, case_id: int, officer: str, reason: str, on: dt.datetime | None
) -> None:
    """An open case is a false signal."""
    _close(ctx, case_id, "dismissed", officer, reason, on)


@cases.command("recovered")
@_officer_options
@click.pass_context
def recovered_command(
    ctx: click.Context, case_id: int, officer: str, reason: str, on: dt.datetime | None
) -> None:
    """A confirmed case's money is back."""
    _close(ctx, case_id, "recovered", officer, reason, on)
