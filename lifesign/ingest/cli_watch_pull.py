"""`lifesign ingest watch` (a drop folder) and `lifesign ingest pull` (a department database).

Engineer B's `lifesign/ingest/cli.py` owns the `ingest` group and calls `register(ingest)`;
the work itself is in `lifesign.ingest.watch` and `lifesign.ingest.pull`, imported when a
command runs so that `lifesign --help` stays fast.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import click


def register(group: click.Group) -> None:
    """Add `watch` and `pull` to the `ingest` group."""
    group.add_command(watch_command)
    group.add_command(pull_command)


@click.command(name="watch")
@click.argument("directory", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--once", is_flag=True, help="Take the files that are complete now, then stop.")
@click.option(
    "--interval",
    type=click.FloatRange(min=0.0),
    default=5.0,
    show_default=True,
    help="Seconds between two looks at the folder (a file is taken once it is unchanged "
    "across two looks).",
)
@click.option(
    "--max-files",
    type=click.IntRange(min=1),
    default=None,
    help="Stop after taking this many files.",
)
@click.option(
    "--as-of",
    type=click.DateTime(formats=["%Y-%m-%d"]),
    default=None,
    help="The date event times must not be after (default: today).",
)
@click.pass_context
def watch_command(
    ctx: click.Context,
    directory: Path,
    once: bool,
    interval: float,
    max_files: int | None,
    as_of: dt.datetime | None,
) -> None:
    """Ingest the files dropped into DIRECTORY, each once, and move them aside.

    A file is taken when it is complete (same size and time across two looks; names ending
    .part or .tmp, or starting with a dot, are never taken). It is matched to its source by
    the sources' file_pattern, ingested, and moved to DIRECTORY/done/YYYY-MM-DD/ beside its
    NAME.report.json — or to DIRECTORY/unmatched/ or DIRECTORY/failed/ beside NAME.error.txt.
    Runs until Ctrl-C (which finishes the current file) unless --once or --max-files.
    """
    from lifesign.ingest.watch import run_watch_command

    run_watch_command(
        ctx,
        directory,
        once=once,
        interval=interval,
        max_files=max_files,
        as_of=as_of.date() if as_of else None,
    )


@click.command(name="pull")
@click.argument("source")
@click.option(
    "--as-of",
    type=click.DateTime(formats=["%Y-%m-%d"]),
    default=None,
    help="The date event times must not be after (default: today).",
)
@click.option(
    "--limit",
    type=click.IntRange(min=1),
    default=None,
    help="Take at most this many rows now (the rest on the next pull).",
)
@click.pass_context
def pull_command(
    ctx: click.Context, source: str, as_of: dt.datetime | None, limit: int | None
) -> None:
    """Pull the rows of SOURCE's department database that are new since the last pull.

    SOURCE's definition has a `pull:` section (url, table or query, watermark_column). Rows
    are read in order of the watermark column, from where the last pull stopped, ingested as
    one batch, and the new watermark is saved in the same transaction as the batch.
    """
    from lifesign.ingest.pull import run_pull_command

    run_pull_command(ctx, source, as_of=as_of.date() if as_of else None, limit=limit)
