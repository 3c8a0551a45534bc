"""`lifesign run` (the daily run, its status, confirmation of held suspensions), `lifesign
visit` (home-visit tasks) and the manual certification commands `lifesign certify
self-service` / `lifesign certify counter` (attached to the certify group).

Output holds counts, masked ID numbers and masked phones only.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, cast

import click
from sqlalchemy import Table, func, select

from lifesign.lifecycle.models import HeldSuspension, Run, VisitTask


def _date(value: str | None, name: str) -> dt.date | None:
    if value is None:
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(f"{value!r} is not a date (YYYY-MM-DD)", param_hint=name) from None


def _datetime(value: str, name: str) -> dt.datetime:
    try:
        moment = dt.datetime.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(
            f"{value!r} is not a time (YYYY-MM-DDTHH:MM[:SS])", param_hint=name
        ) from None
    return moment if moment.tzinfo else moment.astimezone()


# ----------------------------------------------------------------------------- run


@click.group(invoke_without_command=True)
@click.option("--as-of", "as_of", metavar="DATE", help="The day to run (default: today).")
@click.option(
    "--settle-seconds",
    type=float,
    default=None,
    help="Seconds between the two looks at HOME/inbox (default: lifecycle.yaml).",
)
@click.pass_context
def run(ctx: click.Context, as_of: str | None, settle_seconds: float | None) -> None:
    """The daily run: ingest HOME/inbox, certify (incremental pass), reminders, visit tasks,
    suspensions (guarded), resumptions with back pay, deaths with recovery; print the report."""
    if ctx.invoked_subcommand is not None:
        if as_of is not None:
            raise click.UsageError("--as-of goes with `lifesign run`, not with its sub-commands")
        return
    from lifesign.cli import settings_of
    from lifesign.lifecycle.run import run_day

    settings = settings_of(ctx)
    day = _date(as_of, "--as-of") or dt.date.today()
    settings.ensure_home()
    report = run_day(
        settings,
        day,
        progress=lambda step: click.echo(f"… {step}", err=True),
        settle_seconds=settle_seconds,
    )
    for line in report.lines():
        click.echo(line)


@run.command("status")
@click.option("--last", default=7, show_default=True, help="How many recent runs to show.")
@click.pass_context
def run_status(ctx: click.Context, last: int) -> None:
    """Recent runs, their guard warnings, and the suspensions held waiting."""
    from lifesign.cli import settings_of
    from lifesign.store import open_database

    engine = open_database(settings_of(ctx))
    runs_t = cast(Table, Run.__table__)
    holds_t = cast(Table, HeldSuspension.__table__)
    with engine.connect() as connection:
        runs = connection.execute(select(runs_t).order_by(runs_t.c.as_of.desc()).limit(last)).all()
        held = connection.execute(
            select(holds_t.c.run_id, holds_t.c.rule, func.count(), func.min(holds_t.c.reason))
            .where(holds_t.c.status == "held")
            .group_by(holds_t.c.run_id, holds_t.c.rule)
            .order_by(holds_t.c.run_id, holds_t.c.rule)
        ).all()
    if not runs:
        click.echo("no run yet: `lifesign run --as-of DATE`")
        return
    for row in runs:
        counts: dict[str, Any] = row.counts or {}
        click.echo(
            f"run {row.run_id}  {row.as_of}  {row.status:<8}  attempts {row.attempts}  "
            f"suspended {counts.get('suspended', 0)}  held {counts.get('held', 0)}  "
            f"resumed {counts.get('resumed', 0)}  deaths {counts.get('deaths_settled', 0)}"
        )
        for warning in (row.guard or {}).get("warnings", []):
            click.echo(f"    ! {warning}")
    if held:
        click.echo("held suspensions waiting:")
        for run_id, rule, count, reason in held:
            click.echo(f"  run {run_id}: {count} {rule} — {reason}")
        click.echo("apply with: lifesign run confirm-suspensions RUN_ID --officer NAME")
    else:
        click.echo("no held suspension waiting")


@run.command("confirm-suspensions")
@click.argument("run_id", type=int)
@click.option("--officer", required=True, help="Who confirms (recorded with the decisions).")
@click.option("--on", "on", metavar="DATE", help="Decision date (default: today).")
@click.pass_context
def confirm(ctx: click.Context, run_id: int, officer: str, on: str | None) -> None:
    """Apply the suspensions RUN_ID held (those still due; the others are released)."""
    from lifesign.catalog import load_catalog
    from lifesign.cli import settings_of
    from lifesign.lifecycle.run import confirm_suspensions
    from lifesign.store import open_database

    settings = settings_of(ctx)
    result = confirm_suspensions(
        open_database(settings),
        load_catalog(settings.catalog_dir),
        run_id,
        officer=officer,
        on=_date(on, "--on"),
    )
    click.echo(
        f"run {result.run_id}: {result.applied} suspension(s) applied, "
        f"{result.released} released (no longer due)"
    )


# ----------------------------------------------------------------------------- certify


@click.command("self-service")
@click.argument("id_number")
@click.option("--at", "at", required=True, metavar="TIME", help="When the face was verified.")
@click.option("--outcome", type=click.Choice(["pass", "fail"]), required=True)
@click.option("--reference", required=True, help="The verification's reference (idempotency).")
@click.pass_context
def self_service_command(
    ctx: click.Context, id_number: str, at: str, outcome: str, reference: str
) -> None:
    """Record a face-recognition self-service result for the person with ID_NUMBER."""
    from lifesign.catalog import load_catalog
    from lifesign.cli import settings_of
    from lifesign.lifecycle.manual import certify_self_service
    from lifesign.registry.ids import mask_id_number
    from lifesign.store import open_database

    settings = settings_of(ctx)
    decision = certify_self_service(
        open_database(settings),
        load_catalog(settings.catalog_dir),
        id_number=id_number,
        at=_datetime(at, "--at"),
        outcome=cast(Any, outcome),
        reference=reference,
    )
    who = mask_id_number(id_number.strip().upper())
    if decision is None:
        click.echo(f"{who}: {outcome} recorded, not certified")
    else:
        click.echo(f"{who}: certified by self-service (decision {decision})")


@click.command("counter")
@click.argument("id_number")
@click.option("--at", "at", required=True, metavar="TIME", help="When the person was seen.")
@click.option("--officer", required=True, help="The officer at the counter.")
@click.option("--reference", default=None, help="The counter's receipt number, if any.")
@click.pass_context
def counter_command(
    ctx: click.Context, id_number: str, at: str, officer: str, reference: str | None
) -> None:
    """Certify the person with ID_NUMBER, seen in person at a service counter."""
    from lifesign.catalog import load_catalog
    from lifesign.cli import settings_of
    from lifesign.lifecycle.manual import certify_at_counter
    from lifesign.registry.ids import mask_id_number
    from lifesign.store import open_database

    settings = settings_of(ctx)
    decision = certify_at_counter(
        open_database(settings),
        load_catalog(settings.catalog_dir),
        id_number=id_number,
        at=_datetime(at, "--at"),
        officer=officer,
        reference=reference,
    )
    who = mask_id_number(id_number.strip().upper())
    if decision is None:
        click.echo(f"{who}: not certified (the person is not alive in the records: see reviews)")
    else:
        click.echo(f"{who}: certified at the counter by {officer} (decision {decision})")


MANUAL_COMMANDS = (self_service_command, counter_command)


# ----------------------------------------------------------------------------- visit


@click.group()
def visit() -> None:
    """Home-visit tasks for the community workers of each grid."""


@visit.command("list")
@click.option("--grid", default=None, help="Only this grid's tasks.")
@click.option("--due-before", default=None, metavar="DATE", help="Only tasks due before DATE.")
@click.option(
    "--status",
    type=click.Choice(["open", "done", "cancelled", "escalated", "all"]),
    default="open",
    show_default=True,
)
@click.option("--limit", default=200, show_default=True)
@click.pass_context
def visit_list(
    ctx: click.Context, grid: str | None, due_before: str | None, status: str, limit: int
) -> None:
    """List visit tasks: id, due date, grid, person (masked), attempts, status."""
    from lifesign.cli import settings_of
    from lifesign.registry.ids import mask_id_number, mask_phone
    from lifesign.store import open_database
    from lifesign.store.models import Person

    engine = open_database(settings_of(ctx))
    tasks_t = cast(Table, VisitTask.__table__)
    people_t = cast(Table, Person.__table__)
    query = (
        select(
            tasks_t.c.task_id,
            tasks_t.c.due_date,
            tasks_t.c.grid_code,
            tasks_t.c.status,
            tasks_t.c.attempts,
            tasks_t.c.outcome,
            people_t.c.name,
            people_t.c.id_number,
            people_t.c.phone,
            people_t.c.address,
        )
        .select_from(tasks_t.join(people_t, people_t.c.person_id == tasks_t.c.person_id))
        .order_by(tasks_t.c.due_date, tasks_t.c.task_id)
        .limit(limit)
    )
    if status != "all":
        query = query.where(tasks_t.c.status == status)
    if grid:
        query = query.where(tasks_t.c.grid_code == grid)
    before = _date(due_before, "--due-before")
    if before:
        query = query.where(tasks_t.c.due_date < before)
    with engine.connect() as connection:
        rows = connection.execute(query).all()
    if not rows:
        click.echo("no visit task")
        return
    for row in rows:
        click.echo(
            f"{row.task_id:>7}  due {row.due_date}  grid {row.grid_code or '-':<14} "
            f"{(row.name or '')[:1]}**  {mask_id_number(row.id_number)}  "
            f"{mask_phone(row.phone) if row.phone else '-'}  attempts {row.attempts}  "
            f"{row.status}{' (' + row.outcome + ')' if row.outcome else ''}"
        )
    click.echo(f"{len(rows)} task(s)")


@visit.command("record")
@click.argument("task_id", type=int)
@click.option(
    "--outcome",
    type=click.Choice(["seen_alive", "deceased", "moved_away", "not_found"]),
    required=True,
)
@click.option("--at", "at", required=True, metavar="TIME", help="When the visit took place.")
@click.option("--worker", required=True, help="The community worker who visited.")
@click.option("--death-date", default=None, metavar="DATE", help="With --outcome deceased.")
@click.option("--note", default=None)
@click.pass_context
def visit_record(
    ctx: click.Context,
    task_id: int,
    outcome: str,
    at: str,
    worker: str,
    death_date: str | None,
    note: str | None,
) -> None:
    """Record the outcome of a home visit for TASK_ID."""
    from lifesign.catalog import load_catalog
    from lifesign.cli import settings_of
    from lifesign.lifecycle.manual import record_visit
    from lifesign.store import open_database

    settings = settings_of(ctx)
    decision = record_visit(
        open_database(settings),
        load_catalog(settings.catalog_dir),
        task_id=task_id,
        outcome=cast(Any, outcome),
        at=_datetime(at, "--at"),
        worker=worker,
        death_date=_date(death_date, "--death-date"),
        note=note,
    )
    text = f"task {task_id}: {outcome.replace('_', ' ')} recorded"
    click.echo(text + (f" (decision {decision})" if decision is not None else ""))
