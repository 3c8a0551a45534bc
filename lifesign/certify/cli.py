"""`lifesign certify pass`, `lifesign review list/show/resolve`, `lifesign person show`.

The manual channels (`lifesign certify self-service`, `lifesign certify counter`) are
lifecycle commands attached to the `certify` group: lifesign/lifecycle/cli.py lists them in
`MANUAL_COMMANDS` (a tuple of click commands) and this module adds each with
`certify.add_command`. That keeps one group while each package owns its commands.

Output shows masked ID numbers only (mask_id_number), never a full one.
"""

from __future__ import annotations

import datetime as dt
import importlib
from typing import Any, cast

import click
from rich.console import Console
from rich.table import Table as RichTable
from sqlalchemy import Table, func, select

from lifesign.certify.models import Decision, Review
from lifesign.errors import LifesignError, Location
from lifesign.store.models import Enrollment, Person

console = Console(highlight=False)

decisions_t = cast(Table, Decision.__table__)
reviews_t = cast(Table, Review.__table__)
people_t = cast(Table, Person.__table__)
enrollments_t = cast(Table, Enrollment.__table__)


def _date(value: str, name: str) -> dt.date:
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(f"{value!r} is not a date (YYYY-MM-DD)", param_hint=name) from None


@click.group()
def certify() -> None:
    """Certification: the pass over the evidence lake, and the manual channels."""


@certify.command("pass")
@click.option("--as-of", "as_of", required=True, metavar="DATE", help="Evidence up to this day.")
@click.option("--full", is_flag=True, help="Recompute from the whole lake (else: new batches).")
@click.pass_context
def pass_command(ctx: click.Context, as_of: str, full: bool) -> None:
    """Run the certification pass as of DATE and print what it decided."""
    from lifesign.catalog import load_catalog
    from lifesign.certify.passes import run_pass
    from lifesign.cli import settings_of
    from lifesign.store import open_database

    settings = settings_of(ctx)
    engine = open_database(settings)
    try:
        report = run_pass(
            settings,
            engine,
            load_catalog(settings.catalog_dir),
            _date(as_of, "--as-of"),
            "full" if full else "incremental",
        )
    finally:
        engine.dispose()
    table = RichTable(title=f"certification pass ({report.mode}) as of {report.as_of}")
    table.add_column("what")
    table.add_column("count", justify="right")
    for label, value in (
        ("batches applied", report.batches_applied),
        ("evidence records read", report.records),
        ("persons touched", report.persons_touched),
        ("certified (silent)", report.certified),
        ("deceased", report.deceased),
        ("benefits terminated", report.terminated),
        ("benefits suspended by a status record", report.suspended),
        ("other status changes", report.status_changes),
        ("reviews opened", report.reviews_opened),
    ):
        table.add_row(label, f"{value:,}")
    table.add_row("seconds", f"{report.seconds:.2f}")
    console.print(table)


def _attach_manual_commands() -> None:
    try:
        module = importlib.import_module("lifesign.lifecycle.cli")
    except ImportError:  # pragma: no cover - the lifecycle package is part of lifesign
        return
    for command in getattr(module, "MANUAL_COMMANDS", ()):
        certify.add_command(command)


_attach_manual_commands()


# ---------------------------------------------------------------------------------------------
# Reviews


@click.group()
def review() -> None:
    """The review queue: contradictions an officer decides."""


def _person_label(connection: Any, person_id: int) -> str:
    from lifesign.registry.ids import mask_id_number

    row = connection.execute(
        select(people_t.c.id_number, people_t.c.name).where(people_t.c.person_id == person_id)
    ).first()
    if row is None:
        return str(person_id)
    masked = mask_id_number(row.id_number) if row.id_number else "-"
    return f"{masked} {row.name or ''}".strip()


@review.command("list")
@click.option("--status", type=click.Choice(["open", "resolved", "all"]), default="open")
@click.pass_context
def review_list(ctx: click.Context, status: str) -> None:
    """List reviews (open ones by default)."""
    from lifesign.cli import settings_of
    from lifesign.store import open_database

    engine = open_database(settings_of(ctx))
    table = RichTable(title=f"reviews ({status})")
    for column in ("id", "person", "kind", "opened", "status", "resolution"):
        table.add_column(column)
    with engine.connect() as connection:
        query = select(reviews_t).order_by(reviews_t.c.review_id)
        if status != "all":
            query = query.where(reviews_t.c.status == status)
        rows = connection.execute(query).mappings().all()
        for row in rows:
            table.add_row(
                str(row["review_id"]),
                _person_label(connection, row["person_id"]),
                row["kind"],
                str(row["opened_on"]),
                row["status"],
                row["resolution"] or "",
            )
    engine.dispose()
    console.print(table)
    console.print(f"{len(rows)} review(s)")


def _evidence_lines(refs: list[dict[str, Any]]) -> list[str]:
    return [
        f"{ref.get('event_time', '')[:16].replace('T', ' ')}  {ref.get('evidence_type')}  "
        f"({ref.get('source')}, record {ref.get('record_id')})"
        for ref in refs
    ]


@review.command("show")
@click.argument("review_id", type=int)
@click.pass_context
def review_show(ctx: click.Context, review_id: int) -> None:
    """Show a review: the person and both sides of the contradiction."""
    from lifesign.certify.reviews import get_review
    from lifesign.cli import settings_of
    from lifesign.store import open_database

    engine = open_database(settings_of(ctx))
    with engine.connect() as connection:
        found = get_review(connection, review_id)
        console.print(f"review {found.review_id}: {found.kind} ({found.status})")
        console.print(f"person: {_person_label(connection, found.person_id)}")
        console.print(f"opened on: {found.opened_on}")
        for side, refs in found.sides.items():
            console.print(f"[bold]{side}[/]:")
            for line in _evidence_lines(list(refs)):
                console.print(f"  {line}", markup=False)
        if found.status == "resolved":
            console.print(
                f"resolved on {found.resolved_on} by {found.resolved_by}: "
                f"{found.resolution} — {found.reason}",
                markup=False,
            )
    engine.dispose()


@review.command("resolve")
@click.argument("review_id", type=int)
@click.option(
    "--decision",
    type=click.Choice(["alive", "deceased", "released", "dismissed"]),
    required=True,
    help="What the officer found.",
)
@click.option("--reason", required=True, help="Why (kept in the ledger).")
@click.option("--by", "resolved_by", default="officer", show_default=True)
@click.option("--on", "on", metavar="DATE", help="Date of the resolution (default: today).")
@click.option("--death-date", metavar="DATE", help="For --decision deceased.")
@click.pass_context
def review_resolve(
    ctx: click.Context,
    review_id: int,
    decision: str,
    reason: str,
    resolved_by: str,
    on: str | None,
    death_date: str | None,
) -> None:
    """Resolve a review; the resolution is a decision in the ledger."""
    from lifesign.catalog import load_catalog
    from lifesign.certify.reviews import resolve_review
    from lifesign.cli import settings_of
    from lifesign.store import open_database

    settings = settings_of(ctx)
    engine = open_database(settings)
    with engine.begin() as connection:
        decision_id = resolve_review(
            connection,
            review_id,
            decision=decision,
            reason=reason,
            resolved_by=resolved_by,
            on=_date(on, "--on") if on else dt.date.today(),
            catalog_version=load_catalog(settings.catalog_dir).version,
            death_date=_date(death_date, "--death-date") if death_date else None,
        )
    engine.dispose()
    suffix = f" (decision {decision_id})" if decision_id is not None else ""
    console.print(f"review {review_id} resolved: {decision}{suffix}")


# ---------------------------------------------------------------------------------------------
# Person


@click.group()
def person() -> None:
    """A person's certification: state, benefits, decisions and why."""


@person.command("show")
@click.argument("id_number")
@click.pass_context
def person_show(ctx: click.Context, id_number: str) -> None:
    """Show the person with ID_NUMBER (shown masked): state, benefits, decisions explained."""
    from lifesign.certify.ledger import current_state, decisions_of
    from lifesign.cli import settings_of
    from lifesign.registry.ids import mask_id_number, try_normalize_id_number
    from lifesign.store import open_database

    normalised, error = try_normalize_id_number(id_number)
    masked = mask_id_number(id_number)
    if normalised is None:
        raise LifesignError(
            f"{masked} is not a valid ID number",
            error.message if error is not None else "",
            Location(key="ID_NUMBER"),
        )
    engine = open_database(settings_of(ctx))
    with engine.begin() as connection:
        row = connection.execute(select(people_t).where(people_t.c.id_number == normalised)).first()
        if row is None:
            raise LifesignError(
                f"no recipient with ID number {mask_id_number(normalised)}",
                "the registry holds recipients only",
                Location(key="ID_NUMBER"),
            )
        state = current_state(connection, row.person_id)
        console.print(f"[bold]{mask_id_number(normalised)}[/] {row.name or ''}", markup=True)
        console.print(
            f"status: {state.status}"
            + (f" since {state.status_since}" if state.status_since else "")
            + (f"; died {state.death_date}" if state.death_date else "")
        )
        console.print(
            f"last certified: {state.last_certified_on or '-'} ({state.channel or '-'}); "
            f"valid until: {state.valid_until or '-'}"
        )
        console.print(
            f"latest strong evidence: {state.last_strong_event or '-'}; "
            f"latest weak activity: {state.last_weak_event or '-'}"
        )
        benefits = RichTable(title="benefits")
        for column in ("enrollment", "program", "status", "monthly"):
            benefits.add_column(column)
        for enrollment in connection.execute(
            select(enrollments_t)
            .where(enrollments_t.c.person_id == row.person_id)
            .order_by(enrollments_t.c.enrollment_id)
        ).mappings():
            benefits.add_row(
                enrollment["external_ref"],
                enrollment["program"],
                enrollment["status"],
                str(enrollment["monthly_amount"]),
            )
        console.print(benefits)
        refs = {
            e["enrollment_id"]: e["external_ref"]
            for e in connection.execute(
                select(enrollments_t.c.enrollment_id, enrollments_t.c.external_ref).where(
                    enrollments_t.c.person_id == row.person_id
                )
            ).mappings()
        }
        decisions = decisions_of(connection, row.person_id)
        count = connection.execute(
            select(func.count())
            .select_from(decisions_t)
            .where(decisions_t.c.person_id == row.person_id)
        ).scalar_one()
    engine.dispose()
    console.print(f"[bold]decisions[/] ({count})", markup=True)
    for decision in decisions:
        target = refs.get(decision["enrollment_id"], "every benefit")
        until = f", valid until {decision['valid_until']}" if decision["valid_until"] else ""
        channel = f" by {decision['channel']}" if decision["channel"] else ""
        console.print(
            f"{decision['effective_date']}  {decision['kind']}{channel} ({target}){until}",
            markup=False,
        )
        console.print(
            f"    rule {decision['rule']}, catalog {decision['catalog_version']}, "
            f"decided on {decision['decided_on']}",
            markup=False,
        )
        for line in _evidence_lines(list(decision["evidence"] or [])):
            console.print(f"    evidence: {line}", markup=False)
