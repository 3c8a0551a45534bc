"""`lifesign demo`: the README's main job — a year of the platform in a small city.

1. check the catalog;
2. make a synthetic city in HOME/city (registry, 26 departments' feeds, ground truth);
3. import its registry as it stood when the city's window opens;
4. load the first 12 months as history (one full pass), then replay the last 12 months day by
   day through the daily run, with the simulated people answering their SMS and the community
   workers visiting (`lifesign replay`);
5. print what the year did — how people were certified, suspended, terminated; deaths and the
   days to detect them; overpayments and fraud cases; messages sent — and the score against
   the ground truth (`lifesign score`): no dead person may have been certified;
6. create the demo accounts (one per role, fixed passwords, printed and given in the README)
   and serve the replayed city's web app at http://127.0.0.1:8000 until Ctrl-C (`--no-serve`
   stops after the report).

Run again on the same home, it continues where it stopped and prints the report.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import click
from rich.console import Console
from rich.table import Table

from lifesign.catalog import Catalog
from lifesign.config import Settings
from lifesign.replay.report import CHANNEL_LABELS, YearReport
from lifesign.replay.score import ScoreReport

# Default size: a year's replay in about 1-3 minutes on 2 cores (docs/replay-and-score.md).
DEFAULT_RECIPIENTS = 3000
CITY_DIR = "city"


@click.command()
@click.option("--recipients", type=click.IntRange(min=50), default=DEFAULT_RECIPIENTS,
              show_default=True, help="Size of the synthetic city (Bozhou: 1360000).")  # fmt: skip
@click.option("--seed", type=int, default=2023, show_default=True, help="Same seed, same city.")
@click.option("--days", type=click.IntRange(min=1, max=366), default=None,
              help="Replay only the first DAYS days of the last year (default: all).")  # fmt: skip
@click.option("--serve/--no-serve", "serve", default=True, show_default=True,
              help="After the report, serve the web app until Ctrl-C.")  # fmt: skip
@click.option("--host", default="127.0.0.1", show_default=True, help="Web app address.")
@click.option("--port", type=click.IntRange(1, 65535), default=8000, show_default=True)
@click.pass_context
def demo(
    ctx: click.Context,
    recipients: int,
    seed: int,
    days: int | None,
    serve: bool,
    host: str,
    port: int,
) -> None:
    """A year of silent certification in a synthetic city, scored against its ground truth;
    then the web app over it."""
    from lifesign.cli import settings_of

    settings = settings_of(ctx)
    settings.ensure_home()
    console = Console()
    status = run_demo(settings, recipients, seed, console, days=days)
    show_web_logins(settings, console, host, port, serve=serve)
    if serve:
        from lifesign.web.cli import serve_app

        serve_app(settings, host, port)
    sys.exit(status)


def show_web_logins(
    settings: Settings, console: Console, host: str, port: int, *, serve: bool
) -> None:
    """Create the demo accounts (one per role) and print the address and the logins."""
    from lifesign.catalog import load_catalog
    from lifesign.store import open_database
    from lifesign.web.demo_accounts import create_demo_accounts

    console.rule("[bold]the web app")
    engine = open_database(settings)
    try:
        logins = create_demo_accounts(engine, load_catalog(settings.catalog_dir))
    finally:
        engine.dispose()
    table = Table(title="demo logins (演示账号)")
    for column in ("role", "username", "password"):
        table.add_column(column)
    for login in logins.values():
        table.add_row(login.role, login.username, login.password)
    console.print(table)
    address = f"http://{host}:{port}/"
    if serve:
        console.print(f"[bold]open {address} in a browser[/] — Ctrl-C stops the web app")
    else:
        console.print(f"serve it with `lifesign --home {settings.home} serve` → {address}")


def run_demo(
    settings: Settings, recipients: int, seed: int, console: Console, *, days: int | None = None
) -> int:
    """The demo's steps; the exit status (1 if a dead person was certified)."""
    from lifesign.catalog import load_catalog
    from lifesign.registry.cli import print_report
    from lifesign.replay.cli import run_replay
    from lifesign.replay.runner import Replay, default_period
    from lifesign.replay.truth import read_window
    from lifesign.store import open_database

    started = time.perf_counter()
    city = settings.home / CITY_DIR
    console.rule("[bold]1/5 catalog")
    catalog = load_catalog(settings.catalog_dir)
    console.print(
        f"catalog {catalog.version}: {len(catalog.evidence_types)} evidence types, "
        f"{len(catalog.programs)} programs"
    )
    console.rule(f"[bold]2/5 synthetic city: {recipients:,} recipients, seed {seed}")
    _make_city(city, recipients, seed, catalog, console)
    window = read_window(city)
    period = default_period(window, days=days)

    console.rule("[bold]3/5 registry, as it stood on the window's first day")
    replay = Replay(settings, city, period, catalog=catalog)
    if replay.last_finished_day() is None and not replay.has_registry():
        print_report(replay.import_registry())
    else:
        console.print("already imported")

    console.rule(f"[bold]4/5 history to {period.history_last}, then {period.days} days replayed")
    run_replay(settings, city, first=period.first, last=period.last)

    console.rule("[bold]5/5 what the year did")
    from lifesign.replay.report import year_report
    from lifesign.replay.score import score

    engine = open_database(settings)
    report = year_report(engine, period.first, period.last)
    graded = score(engine, city / "truth", period.last)
    print_year(console, report, graded)
    from lifesign.replay.display import score_tables

    for table in score_tables(graded):
        console.print(table)
    dead = len(graded.dead_certified)
    console.print(
        f"[bold {'green' if dead == 0 else 'red'}]score: {dead} dead people certified after "
        "their death (must be 0)[/]"
    )
    console.print(
        f"demo finished in {time.perf_counter() - started:.0f} s. Home: {settings.home}; "
        f"SMS written to {settings.home / 'outbox'}; try `lifesign person show`, "
        "`lifesign cases list`, `lifesign payments list`."
    )
    return 0 if graded.ok else 1


def _make_city(city: Path, recipients: int, seed: int, catalog: Catalog, console: Console) -> None:
    """Build the city unless the same one is already there."""
    from lifesign.synth.city import build_city
    from lifesign.synth.config import SynthConfig

    summary = city / "truth" / "summary.json"
    if summary.is_file():
        made = json.loads(summary.read_text("utf-8"))
        if made.get("recipients") == recipients and made.get("seed") == seed:
            console.print(f"already made in {city}")
            return
        raise click.ClickException(
            f"{city} holds another city ({made.get('recipients')} recipients, seed "
            f"{made.get('seed')}): give another --home for a new one"
        )
    started = time.perf_counter()
    with console.status("making the city…"):
        build_city(SynthConfig(recipients=recipients, seed=seed, out=city, workers=2), catalog)
    document = json.loads(summary.read_text("utf-8"))
    console.print(
        f"{recipients:,} recipients, {document.get('evidence_records', 0):,} evidence records in "
        f"{document.get('feed_files', 0):,} feed files of 26 departments, "
        f"{document.get('deaths_of_recipients', 0):,} recipients die in the 24 months — "
        f"in {time.perf_counter() - started:.0f} s ({city})"
    )


def print_year(console: Console, report: YearReport, graded: ScoreReport) -> None:
    table = Table(title=f"the year {report.first} .. {report.last}")
    table.add_column("")
    table.add_column("people", justify="right")
    table.add_column("share", justify="right")
    total = max(report.recipients, 1)
    table.add_row("recipients", f"{report.recipients:,}", "100 %")
    for channel, count in report.certified_by.items():
        table.add_row(
            f"certified {CHANNEL_LABELS[channel]}" if channel else CHANNEL_LABELS[None],
            f"{count:,}",
            f"{100 * count / total:.1f} %",
        )
    table.add_row("suspended at the end (暂停发放)", f"{report.suspended_people:,}",
                  f"{100 * report.suspended_people / total:.1f} %")  # fmt: skip
    table.add_row(
        "suspended during the year / resumed with back pay",
        f"{report.suspended_in_year:,} / {report.resumed_in_year:,}",
        f"back pay {report.back_pay_amount:,.2f} yuan",
    )
    table.add_row("died, benefits terminated (终止发放)", f"{report.deceased:,}",
                  f"{report.terminated_enrollments:,} enrollments")  # fmt: skip
    d = graded.deaths
    lag = (
        f"median {d.lag_median:.0f} days, p90 {d.lag_p90:.0f}, max {d.lag_max}"
        if d.lag_median is not None and d.lag_p90 is not None
        else "—"
    )
    table.add_row("deaths detected in the year: days to detection", f"{len(d.lags_days):,}", lag)
    table.add_row(
        "overpayments found (追回)", f"{report.recovery_cases:,} cases",
        f"{report.recovery_amount:,.2f} yuan",
    )  # fmt: skip
    fraud = sum(report.fraud_cases.values())
    table.add_row(
        "fraud cases (冒领 signals)", f"{fraud:,}",
        ", ".join(f"{rule} {n}" for rule, n in sorted(report.fraud_cases.items())) or "",
    )  # fmt: skip
    if report.other_cases:
        table.add_row(
            "duplicate / excess claims (重领 / 多领)", f"{sum(report.other_cases.values()):,}",
            ", ".join(f"{kind} {n}" for kind, n in sorted(report.other_cases.items())),
        )  # fmt: skip
    table.add_row("home-visit tasks", f"{report.visit_tasks:,}", "")
    sent = sum(report.messages.values())
    table.add_row(
        "messages sent (SMS)", f"{sent:,}",
        ", ".join(f"{reason} {n:,}" for reason, n in report.messages.items()),
    )  # fmt: skip
    if report.reviews_open:
        table.add_row("contradictions waiting for review", f"{report.reviews_open:,}", "")
    console.print(table)
