"""`lifesign replay` and `lifesign score`."""

from __future__ import annotations

import datetime as dt
import sys
from pathlib import Path

import click
from rich.console import Console

from lifesign.config import Settings
from lifesign.replay.runner import ReplayResult

console = Console()


@click.command()
@click.option("--city", "city", type=click.Path(file_okay=False, exists=True, path_type=Path),
              required=True, help="A synthetic city made by `lifesign synth`.")  # fmt: skip
@click.option("--from", "first", type=click.DateTime(["%Y-%m-%d"]), default=None,
              help="First replayed day (default: 12 months before the window's end).")  # fmt: skip
@click.option("--to", "last", type=click.DateTime(["%Y-%m-%d"]), default=None,
              help="Last replayed day (default: the window's last day).")  # fmt: skip
@click.option("--days", type=click.IntRange(min=1), default=None,
              help="Replay this many days from --from (instead of --to).")  # fmt: skip
@click.pass_context
def replay(
    ctx: click.Context,
    city: Path,
    first: dt.datetime | None,
    last: dt.datetime | None,
    days: int | None,
) -> None:
    """Feed a synthetic city's files day by day through the daily run.

    The months before --from are history, loaded at once with a full pass. Each replayed day:
    the day's files are released into HOME/inbox, `lifesign run` runs, the simulated people
    answer their SMS and the community workers visit, the outbox is delivered (file gateway),
    and on the first of a month the integrity scan runs. Stopped, it continues where it was.
    The registry must be imported first (`lifesign registry import CITY/registry`).
    """
    from lifesign.cli import settings_of

    settings = settings_of(ctx)
    settings.ensure_home()
    run_replay(
        settings,
        city,
        first=first.date() if first else None,
        last=last.date() if last else None,
        days=days,
    )


def run_replay(
    settings: Settings,
    city: Path,
    *,
    first: dt.date | None = None,
    last: dt.date | None = None,
    days: int | None = None,
) -> ReplayResult:
    """The replay with its progress display (shared by `lifesign replay` and the demo)."""
    from lifesign.replay.display import day_progress
    from lifesign.replay.runner import Replay, default_period
    from lifesign.replay.truth import read_window

    period = default_period(read_window(city), first, last, days)
    console.print(
        f"replaying {city} from {period.first} to {period.last} ({period.days} days); "
        f"history up to {period.history_last}"
    )
    with day_progress(console, period) as progress:
        job = Replay(settings, city, period, on_day=progress.day, on_stage=progress.stage)
        done = job.last_finished_day()
        if done is not None and done >= period.first:
            skipped = (min(done, period.last) - period.first).days + 1
            progress.stage(f"continuing after {done} (already replayed)")
            progress.skipped(skipped)
        result = job.run()
    console.print(
        f"{result.days_run} day(s) replayed in {result.seconds:.1f} s"
        + (f" (history {result.history_seconds:.1f} s)" if result.history_seconds else "")
        + (f", {result.days_skipped} already done" if result.days_skipped else "")
    )
    return result


@click.command()
@click.option("--truth", "truth", type=click.Path(file_okay=False, exists=True, path_type=Path),
              required=True, help="The city's truth folder (CITY/truth).")  # fmt: skip
@click.option("--as-of", "as_of", type=click.DateTime(["%Y-%m-%d"]), default=None,
              help="Score the decisions taken up to this day (default: the last one).")  # fmt: skip
@click.pass_context
def score(ctx: click.Context, truth: Path, as_of: dt.datetime | None) -> None:
    """Compare the decisions with a synthetic city's ground truth.

    Exits with status 1 if any dead person was certified after their death.
    """
    from lifesign.cli import settings_of
    from lifesign.replay.display import score_tables
    from lifesign.replay.score import score as compute_score
    from lifesign.store import open_database

    settings = settings_of(ctx)
    report = compute_score(open_database(settings), truth, as_of.date() if as_of else None)
    for table in score_tables(report):
        console.print(table)
    if not report.ok:
        console.print("[bold red]dead people were certified: see the list above[/]")
        sys.exit(1)
