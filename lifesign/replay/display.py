"""What a replay and a score look like on the terminal (rich)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from lifesign.replay.runner import DayFigures, Period
from lifesign.replay.score import ScoreReport


@contextmanager
def day_progress(console: Console, period: Period) -> Iterator[ReplayProgress]:
    """A progress bar over the replayed days with the running figures beside it."""
    progress = Progress(
        TextColumn("[bold]{task.fields[day]}"),
        BarColumn(bar_width=30),
        MofNCompleteColumn(),
        TextColumn(
            "certified {task.fields[certified]:>7,}  suspended {task.fields[suspended]:>6,}  "
            "deaths {task.fields[deaths]:>5,}  SMS {task.fields[messages]:>7,}"
        ),
        TimeElapsedColumn(),
        console=console,
        transient=False,
    )
    with progress:
        task = progress.add_task(
            "replay", total=period.days, day=str(period.first), certified=0, suspended=0,
            deaths=0, messages=0,
        )  # fmt: skip
        yield ReplayProgress(progress, task, period)


class ReplayProgress:
    def __init__(self, progress: Progress, task: object, period: Period) -> None:
        self.progress = progress
        self.task = task
        self.period = period

    def stage(self, text: str) -> None:
        self.progress.console.print(f"[dim]{text}[/]")

    def day(self, figures: DayFigures) -> None:
        self.progress.update(
            self.task,  # type: ignore[arg-type]
            completed=(figures.day - self.period.first).days + 1,
            day=str(figures.day),
            certified=figures.certified,
            suspended=figures.suspended,
            deaths=figures.deaths,
            messages=figures.messages,
        )

    def skipped(self, days: int) -> None:
        self.progress.update(self.task, advance=days)  # type: ignore[arg-type]


def _days(value: float | None) -> str:
    return "—" if value is None else f"{value:.0f}"


def score_tables(report: ScoreReport) -> list[Table]:
    """The score as tables: the headline figures, then the listings (masked ID numbers)."""
    headline = Table(title=f"score against the ground truth, as of {report.as_of}")
    headline.add_column("check")
    headline.add_column("result", justify="right")
    headline.add_column("", style="dim")
    dead = len(report.dead_certified)
    headline.add_row(
        "dead people certified after their death",
        f"[bold {'green' if dead == 0 else 'red'}]{dead}[/]",
        "must be 0",
    )
    headline.add_row(
        "living people suspended",
        f"{report.living_suspended:,}",
        f"alive, not emigrated or imprisoned; {report.living_suspended_resumed:,} resumed later",
    )
    d = report.deaths
    headline.add_row(
        "deaths detected",
        f"{d.detected:,} of {d.dead:,}",
        f"{d.detected_before_replay:,} of them in the history",
    )
    headline.add_row(
        "days from death to decision",
        f"median {_days(d.lag_median)}",
        f"p90 {_days(d.lag_p90)}, max {_days(d.lag_max)} (deaths in the replayed period)",
    )
    headline.add_row(
        "deaths not detected",
        f"{d.undetected:,}",
        f"{d.undetected_unrecorded:,} never recorded by any department",
    )
    for planted in report.planted.values():
        headline.add_row(
            f"planted {planted.case_type} found", f"{planted.found} of {planted.planted}", ""
        )
    headline.add_row(
        "overpayments opened (recovery cases)",
        f"{report.recovery_cases:,}: {report.recovery_amount:,.2f} yuan",
        f"truth: {report.overpaid_people_recorded_truth:,} people, "
        f"{report.overpaid_amount_recorded_truth:,.2f} yuan after recorded deaths "
        f"({report.overpaid_people_truth:,}, {report.overpaid_amount_truth:,.2f} with unrecorded)",
    )
    tables = [headline]
    listings = [
        ("dead people certified", report.dead_certified),
        ("living people suspended (first 20)", report.living_suspended_listed),
    ] + [
        (f"planted {p.case_type} not found", p.missed) for p in report.planted.values() if p.missed
    ]
    for title, rows in listings:
        if not rows:
            continue
        table = Table(title=title)
        table.add_column("ID number")
        table.add_column("what")
        for row in rows:
            table.add_row(row.id_masked, row.detail)
        tables.append(table)
    return tables
