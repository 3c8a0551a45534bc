"""`lifesign payments list --program P --month YYYY-MM --out FILE`."""

from __future__ import annotations

import getpass
from pathlib import Path

import click
from rich.console import Console
from rich.table import Table

console = Console(highlight=False)


@click.group("payments")
def payments() -> None:
    """Payment lists for the paying departments (docs/payment-lists.md)."""


@payments.command("list")
@click.option("--program", required=True, help="A program code of the catalog.")
@click.option("--month", required=True, help="The month paid, YYYY-MM.")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["csv", "xlsx"]),
    default=None,
    help="Default: from the file's suffix (.xlsx, else csv).",
)
@click.option("--lang", type=click.Choice(["zh", "en"]), default="zh", show_default=True)
@click.option(
    "--full-id",
    is_flag=True,
    help="Write full ID numbers (the paying department needs them to pay). Audited.",
)
@click.option(
    "--by",
    "exported_by",
    default=None,
    help="Who exports the list (kept in the exports audit). Default: the login name.",
)
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), required=True)
@click.pass_context
def list_command(
    ctx: click.Context,
    program: str,
    month: str,
    fmt: str | None,
    lang: str,
    full_id: bool,
    exported_by: str | None,
    out: Path,
) -> None:
    """Write the payment list of PROGRAM for MONTH: payable, suspended, resumed with back
    pay, terminated with the overpayment to recover; totals per status."""
    from lifesign.catalog import load_catalog
    from lifesign.cli import settings_of
    from lifesign.payments.export import STATUS_NAMES, export_payment_list
    from lifesign.payments.lines import payment_list, totals_by_status
    from lifesign.store import open_database

    settings = settings_of(ctx)
    engine = open_database(settings)
    catalog = load_catalog(settings.catalog_dir)
    lines = payment_list(engine, catalog, program, month)
    chosen = fmt or ("xlsx" if out.suffix.lower() == ".xlsx" else "csv")
    who = exported_by or getpass.getuser()
    export_id = export_payment_list(
        engine,
        lines,
        out,
        program=program,
        month=month,
        exported_by=who,
        fmt=chosen,  # type: ignore[arg-type]
        lang=lang,  # type: ignore[arg-type]
        full_id=full_id,
    )
    table = Table("status", "lines", "amount", "back pay", "overpayment")
    for t in totals_by_status(lines):
        table.add_row(
            STATUS_NAMES[t.status][0 if lang == "zh" else 1],
            f"{t.lines:,}",
            f"{t.amount:,.2f}",
            f"{t.back_pay_amount:,.2f} ({t.back_pay_months} months)",
            f"{t.overpayment:,.2f}",
        )
    console.print(f"{program} {month}: {len(lines):,} line(s) written to {out} ({chosen})")
    console.print(table)
    ids = "FULL ID numbers" if full_id else "masked ID numbers"
    console.print(f"{ids}; export {export_id} recorded for {who}")
