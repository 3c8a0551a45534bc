"""`lifesign synth`: write a synthetic city."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

import click
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from lifesign.synth.city import STAGES, CityReport, build_city
from lifesign.synth.config import SynthConfig


@click.command("synth")
@click.option("--recipients", type=click.IntRange(min=10), default=5000, show_default=True,
              help="Number of benefit recipients (Bozhou: 1360000).")  # fmt: skip
@click.option("--seed", type=int, default=1, show_default=True, help="Same seed, same bytes.")
@click.option("--out", "out", type=click.Path(file_okay=False), required=True,
              help="Folder to write registry/, feeds/ and truth/ into.")  # fmt: skip
@click.option("--workers", type=click.IntRange(min=1), default=2, show_default=True,
              help="Processes to use.")  # fmt: skip
@click.option("--non-recipient-ratio", type=click.FloatRange(min=0), default=1.5,
              show_default=True, help="Non-recipients per recipient (in feeds too).")  # fmt: skip
@click.option("--no-feeds", is_flag=True, help="Write the registry and the truth only.")
@click.option("--timings", type=click.Path(dir_okay=False), default=None,
              help="Also write the counts and seconds per stage to this JSON file.")  # fmt: skip
@click.pass_context
def synth(
    ctx: click.Context,
    recipients: int,
    seed: int,
    out: str,
    workers: int,
    non_recipient_ratio: float,
    no_feeds: bool,
    timings: str | None,
) -> None:
    """Write a synthetic city: registry, department feeds and the ground truth."""
    from lifesign.catalog import load_catalog

    root = ctx.find_root().obj
    catalog = load_catalog(getattr(root, "catalog_dir", None))
    config = SynthConfig(
        recipients=recipients,
        seed=seed,
        out=Path(out),
        workers=workers,
        non_recipient_ratio=non_recipient_ratio,
    )
    console = Console(stderr=True)
    columns = (
        TextColumn("{task.description:<12}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("{task.fields[detail]}"),
    )
    with Progress(*columns, console=console, transient=False) as bar:
        tasks = {s: bar.add_task(s, total=None, start=False, detail="") for s in STAGES}
        if no_feeds:
            bar.update(tasks["feeds"], visible=False)

        def progress(stage: str, done: int, total: int, detail: str) -> None:
            task = tasks[stage]
            bar.start_task(task)
            bar.update(task, completed=done, total=total, detail=detail)

        report = build_city(config, catalog, progress, feeds=not no_feeds)
    _print_summary(Console(), config, report)
    if timings:
        Path(timings).write_text(json.dumps(asdict(report), indent=2), encoding="utf-8")


def _print_summary(console: Console, config: SynthConfig, report: CityReport) -> None:
    table = Table(title=f"synthetic city in {config.out} (seed {config.seed})", show_header=False)
    table.add_column(justify="left")
    table.add_column(justify="right")
    table.add_row("people (recipients + others)", f"{report.people:,}")
    table.add_row("recipients", f"{report.recipients:,}")
    table.add_row("enrollments", f"{report.enrollments:,}")
    table.add_row("payment rows", f"{report.payments:,}")
    table.add_row("evidence records", f"{report.evidence_records:,}")
    table.add_row("feed files", f"{report.feed_files:,}")
    for window, share in report.coverage.items():
        table.add_row(f"strong coverage {window}", f"{share:.1%}")
    table.add_row(
        "deaths in the window (recipients)", f"{report.deaths:,} ({report.deaths_of_recipients:,})"
    )
    table.add_row("deaths never recorded", f"{report.unrecorded_deaths:,}")
    for case, count in sorted(report.integrity_cases.items()):
        table.add_row(f"planted: {case}", f"{count:,}")
    for stage, seconds in report.seconds.items():
        table.add_row(f"time: {stage}", f"{seconds:.1f} s")
    if report.feeds_error:
        table.add_row("feeds", report.feeds_error)
    console.print(table)


if __name__ == "__main__":  # `python -m lifesign.synth.cli`, without the root group
    synth()
