"""`lifesign registry`: import the canonical registry files, and summarise what is there."""

from __future__ import annotations

import csv
import datetime as dt
from pathlib import Path

import click
from rich.console import Console
from rich.table import Table
from sqlalchemy import Engine, func, select

from lifesign.registry.importer import ImportReport, RegistryImporter, rules_from_catalog
from lifesign.registry.pseudonym import Pseudonymizer
from lifesign.store.models import Enrollment, ImportRejection, Payment, Person

console = Console(highlight=False)

SHOWN_REJECTIONS = 20


@click.group()
def registry() -> None:
    """The registry of recipients: people, enrollments, payments."""


@registry.command(name="import")
@click.argument("directory", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option(
    "--rejects",
    type=click.Path(dir_okay=False, writable=True, path_type=Path),
    default=None,
    help="Write every rejected row (file, line, field, masked value, reason) to this CSV.",
)
@click.option(
    "--today",
    type=click.DateTime(formats=["%Y-%m-%d"]),
    default=None,
    help="The date birth dates must not be after (default: today).",
)
@click.pass_context
def import_command(
    ctx: click.Context, directory: Path, rejects: Path | None, today: dt.datetime | None
) -> None:
    """Import people.csv, enrollments.csv and payments.csv from DIRECTORY.

    The format is docs/registry-format.md. Bad rows are rejected with file, line, field and
    reason; every other row is imported. Importing the same files again changes nothing.
    """
    from lifesign.cli import settings_of
    from lifesign.store import open_database

    settings = settings_of(ctx)
    engine = open_database(settings)
    rules = rules_from_catalog(settings.catalog_dir)
    importer = RegistryImporter(
        engine,
        Pseudonymizer.for_home(settings.secrets_dir),
        rules,
        today=today.date() if today else None,
    )
    with console.status("importing…") as status:
        importer.progress = lambda kind, rows: status.update(f"{kind}: {rows:,} rows read")
        report = importer.import_dir(directory)
    print_report(report)
    if rejects is not None:
        written = write_rejections(engine, report.batch_ids, rejects)
        console.print(f"{written:,} rejection(s) written to {rejects}")


def print_report(report: ImportReport) -> None:
    """The summary table, rejection reasons, and a sample of rejected rows."""
    table = Table(title="registry import")
    for header in ("file", "encoding", "batch", "read", "imported", "updated", "unchanged"):
        table.add_column(header, justify="right" if header not in ("file", "encoding") else "left")
    table.add_column("rejected", justify="right", style="red")
    for file in report.files:
        batch = (
            f"= {file.already_imported_in}"
            if file.already_imported_in is not None
            else str(file.batch_id)
        )
        table.add_row(
            file.file,
            file.encoding or "-",
            batch,
            f"{file.read:,}",
            f"{file.inserted:,}",
            f"{file.updated:,}",
            f"{file.unchanged:,}",
            f"{file.rejected:,}",
        )
    console.print(table)
    for file in report.files:
        if file.already_imported_in is not None:
            console.print(
                f"{file.file}: already imported in batch {file.already_imported_in} "
                "(same content); nothing changed"
            )
        for warning in file.warnings:
            console.print(f"[yellow]warning:[/] {warning}")
    reasons = [(f.file, reason, n) for f in report.files for reason, n in sorted(f.reasons.items())]
    if reasons:
        by_reason = Table(title="rejections by reason")
        by_reason.add_column("file")
        by_reason.add_column("reason")
        by_reason.add_column("count", justify="right")
        for file_name, reason, count in reasons:
            by_reason.add_row(file_name, reason, f"{count:,}")
        console.print(by_reason)
        samples = [s for f in report.files for s in f.samples][:SHOWN_REJECTIONS]
        shown = Table(title=f"rejected rows (first {len(samples)})")
        for header in ("file", "line", "field", "value", "reason"):
            shown.add_column(header)
        for sample in samples:
            shown.add_row(
                sample.file,
                str(sample.line),
                sample.field or "",
                sample.value or "",
                sample.reason,
            )
        console.print(shown)


def write_rejections(engine: Engine, batch_ids: list[int], path: Path) -> int:
    """Write the rejections of `batch_ids` (values masked) to a CSV file; return the count."""
    table = ImportRejection.__table__
    written = 0
    with path.open("w", encoding="utf-8", newline="") as handle, engine.connect() as connection:
        writer = csv.writer(handle)
        writer.writerow(["batch_id", "file", "line", "field", "value", "reason", "message"])
        if batch_ids:
            rows = connection.execute(
                select(
                    table.c.batch_id,
                    table.c.file,
                    table.c.line,
                    table.c.field,
                    table.c.value,
                    table.c.reason,
                    table.c.message,
                )
                .where(table.c.batch_id.in_(batch_ids))
                .order_by(table.c.batch_id, table.c.line, table.c.rejection_id)
                .execution_options(yield_per=10_000)
            )
            for row in rows:
                writer.writerow(row)
                written += 1
    return written


@registry.command()
@click.pass_context
def stats(ctx: click.Context) -> None:
    """Summarise the registry: people, enrollments per program, payments per month."""
    from lifesign.cli import settings_of
    from lifesign.store import open_database

    engine = open_database(settings_of(ctx))
    with engine.connect() as connection:
        people = connection.execute(select(func.count()).select_from(Person)).scalar_one()
        console.print(f"people: {people:,}")
        programs = Table(title="enrollments by program")
        for header in ("program", "active", "suspended", "terminated", "total"):
            programs.add_column(header, justify="left" if header == "program" else "right")
        counts: dict[str, dict[str, int]] = {}
        for program, status, count in connection.execute(
            select(Enrollment.program, Enrollment.status, func.count())
            .group_by(Enrollment.program, Enrollment.status)
            .order_by(Enrollment.program)
        ):
            counts.setdefault(program, {})[status] = count
        for program, by_status in counts.items():
            programs.add_row(
                program,
                *(f"{by_status.get(s, 0):,}" for s in ("active", "suspended", "terminated")),
                f"{sum(by_status.values()):,}",
            )
        console.print(programs)
        months = Table(title="payments by month")
        for header in ("period", "payments", "amount (yuan)"):
            months.add_column(header, justify="left" if header == "period" else "right")
        total_count, total_amount = 0, 0.0
        for period, count, amount in connection.execute(
            select(Payment.period, func.count(), func.sum(Payment.amount))
            .group_by(Payment.period)
            .order_by(Payment.period)
        ):
            months.add_row(period, f"{count:,}", f"{float(amount or 0):,.2f}")
            total_count += count
            total_amount += float(amount or 0)
        console.print(months)
        console.print(f"payments: {total_count:,}, total paid: {total_amount:,.2f} yuan")
