"""`lifesign ingest`, `lifesign batches`, `lifesign lake`, `lifesign quarantine`.

`lifesign ingest SOURCE FILE...` is short for `lifesign ingest files SOURCE FILE...`: the
`ingest` group falls back to its `files` command when its first argument is not the name of
one of its commands. `ingest watch` and `ingest pull` come from `cli_watch_pull.register`.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
import os
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from multiprocessing import get_context
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table

from lifesign.config import Settings
from lifesign.errors import LifesignError, Location

console = Console(highlight=False)
err_console = Console(stderr=True, highlight=False)

MANIFEST = "manifest.csv"


class IngestGroup(click.Group):
    """A group whose unknown first argument is a SOURCE for the `files` command."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        # `lifesign ingest --as-of D SOURCE FILE` : options of `files` before the source.
        if args and args[0].startswith("--") and args[0] not in ("--help",):
            args = ["files", *args]
        return super().parse_args(ctx, args)

    def resolve_command(
        self, ctx: click.Context, args: list[str]
    ) -> tuple[str | None, click.Command | None, list[str]]:
        if args and args[0] not in self.commands and not args[0].startswith("-"):
            files_command = self.commands["files"]
            return "files", files_command, args
        return super().resolve_command(ctx, args)


def _as_of_option(function: Callable[..., Any]) -> Callable[..., Any]:
    return click.option(
        "--as-of",
        "as_of",
        type=click.DateTime(formats=["%Y-%m-%d"]),
        default=None,
        help="The date records are checked against (future events, too old events, birth "
        "dates). Default: today. For a synthetic city use its window end (2026-10-31).",
    )(function)


def _sources_option(function: Callable[..., Any]) -> Callable[..., Any]:
    return click.option(
        "--sources",
        "sources_dir",
        type=click.Path(file_okay=False, exists=True, path_type=Path),
        default=None,
        help="Folder of source definitions. Default: $LIFESIGN_SOURCES, else the packaged ones.",
    )(function)


@click.group(cls=IngestGroup)
def ingest() -> None:
    """Ingest department feeds into the evidence lake (validated, pseudonymised, exactly once).

    lifesign ingest SOURCE FILE... is the same as lifesign ingest files SOURCE FILE...
    """


def _date(value: dt.datetime | None) -> dt.date | None:
    return value.date() if value is not None else None


def _context(settings: Settings, sources_dir: Path | None) -> tuple[Any, Any]:
    from lifesign.catalog import load_catalog
    from lifesign.ingest.sources import load_sources

    catalog = load_catalog(settings.catalog_dir)
    return catalog, load_sources(sources_dir, catalog)


def _unknown_source(code: str, sources: dict[str, Any]) -> LifesignError:
    return LifesignError(
        f"unknown source {code!r}",
        "known sources: " + ", ".join(sorted(sources)),
        Location(key=code),
    )


@ingest.command("files")
@click.argument("source")
@click.argument(
    "files", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path)
)
@_as_of_option
@_sources_option
@click.pass_context
def files_command(
    ctx: click.Context,
    source: str,
    files: tuple[Path, ...],
    as_of: dt.datetime | None,
    sources_dir: Path | None,
) -> None:
    """Ingest FILES of SOURCE, one batch each (a file already ingested is skipped and said so)."""
    from lifesign.cli import settings_of
    from lifesign.ingest.pipeline import Ingestor
    from lifesign.ingest.report import print_summary

    settings = settings_of(ctx)
    catalog, sources = _context(settings, sources_dir)
    if source not in sources:
        raise _unknown_source(source, sources)
    reports = []
    with _progress() as progress:
        task = progress.add_task("", total=len(files), detail="")
        ingestor = Ingestor(settings, catalog, sources, _date(as_of))
        ingestor.progress = lambda report: progress.update(
            task, detail=f"{Path(report.origin).name}: {report.read:,} records read"
        )
        for path in files:
            progress.update(task, description=path.name[:28])
            reports.append(ingestor.ingest_file(sources[source], path))
            progress.advance(task)
    print_summary(console, reports, by_source=False)


def _progress() -> Progress:
    return Progress(
        TextColumn("{task.description:<28}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("{task.fields[detail]}"),
        console=err_console,
        transient=False,
    )


def manifest_files(directory: Path) -> list[tuple[str, Path]]:
    """(source, path) of every file in a feeds manifest, in its order.

    `directory` is a synthetic city (its `feeds/manifest.csv`) or a feeds folder itself.
    """
    feeds = directory / "feeds" if (directory / "feeds" / MANIFEST).is_file() else directory
    manifest = feeds / MANIFEST
    if not manifest.is_file():
        raise LifesignError(
            "no feeds manifest found",
            f"expected {MANIFEST} in the folder or in its feeds/ folder "
            "(columns source and file, the file relative to the manifest)",
            Location(file=str(directory)),
        )
    found: list[tuple[str, Path]] = []
    with manifest.open(encoding="utf-8-sig", newline="") as handle:
        reader = csv.DictReader(handle)
        missing = {"source", "file"} - set(reader.fieldnames or ())
        if missing:
            raise LifesignError(
                f"the manifest lacks column(s) {', '.join(sorted(missing))}",
                "it needs source and file",
                Location(file=str(manifest), line=1),
            )
        for line, record in enumerate(reader, start=2):
            path = feeds / record["file"]
            if not path.is_file():
                raise LifesignError(
                    "a file of the manifest does not exist",
                    record["file"],
                    Location(file=str(manifest), line=line, field="file"),
                )
            found.append((record["source"], path))
    return found


def _ingest_group(
    settings: Settings,
    sources_dir: Path | None,
    as_of: dt.date | None,
    files: Sequence[tuple[str, Path]],
) -> list[Any]:
    """Worker: ingest the files of some sources with one Ingestor (its own process)."""
    from lifesign.ingest.pipeline import Ingestor

    catalog, sources = _context(settings, sources_dir)
    ingestor = Ingestor(settings, catalog, sources, as_of)
    return [ingestor.ingest_file(sources[code], path) for code, path in files]


@ingest.command("all")
@click.argument("directory", type=click.Path(exists=True, file_okay=False, path_type=Path))
@_as_of_option
@_sources_option
@click.option(
    "--workers",
    type=click.IntRange(min=1),
    default=1,
    show_default=True,
    help="Processes; each takes whole sources (a source's files stay in order in one process).",
)
@click.pass_context
def all_command(
    ctx: click.Context,
    directory: Path,
    as_of: dt.datetime | None,
    sources_dir: Path | None,
    workers: int,
) -> None:
    """Ingest every file listed in DIRECTORY/feeds/manifest.csv (or DIRECTORY/manifest.csv)."""
    from lifesign.cli import settings_of
    from lifesign.ingest.pipeline import Ingestor
    from lifesign.ingest.report import print_summary

    settings = settings_of(ctx)
    catalog, sources = _context(settings, sources_dir)
    files = manifest_files(directory)
    unknown = sorted({code for code, _ in files if code not in sources})
    if unknown:
        raise _unknown_source(unknown[0], sources)
    reports: list[Any] = []
    with _progress() as progress:
        task = progress.add_task("ingesting", total=len(files), detail="")
        if workers == 1:
            ingestor = Ingestor(settings, catalog, sources, _date(as_of))
            read_before = [0]

            def show(report: Any) -> None:
                progress.update(
                    task,
                    detail=f"{report.source}: {read_before[0] + report.read:,} records read",
                )

            ingestor.progress = show
            for code, path in files:
                report = ingestor.ingest_file(sources[code], path)
                read_before[0] += report.read
                reports.append(report)
                progress.update(task, description=code[:28])
                progress.advance(task)
        else:
            ingestor = Ingestor(settings, catalog, sources, _date(as_of))
            ingestor.recover()  # once, before the workers start
            groups = _split_by_source(files, workers)
            context = get_context("fork") if os.name == "posix" else None
            with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
                futures = [
                    pool.submit(_ingest_group, settings, sources_dir, _date(as_of), group)
                    for group in groups
                ]
                for future in as_completed(futures):
                    done = future.result()
                    reports.extend(done)
                    progress.advance(task, len(done))
    print_summary(console, reports, by_source=True)


def _split_by_source(
    files: Sequence[tuple[str, Path]], workers: int
) -> list[list[tuple[str, Path]]]:
    """Sources (all files of one source together) dealt to workers, biggest first."""
    by_source: dict[str, list[tuple[str, Path]]] = {}
    for code, path in files:
        by_source.setdefault(code, []).append((code, path))
    sizes = {code: sum(p.stat().st_size for _, p in group) for code, group in by_source.items()}
    groups: list[list[tuple[str, Path]]] = [[] for _ in range(workers)]
    loads = [0] * workers
    for code in sorted(by_source, key=lambda c: -sizes[c]):
        lightest = loads.index(min(loads))
        groups[lightest].extend(by_source[code])
        loads[lightest] += sizes[code]
    return [group for group in groups if group]


def _register_watch_pull() -> None:
    from lifesign.ingest.cli_watch_pull import register

    register(ingest)


_register_watch_pull()


# ---------------------------------------------------------------------------------------------
# lifesign batches


@click.command("batches")
@click.option("--source", default=None, help="Only the batches of this source.")
@click.option("--limit", type=click.IntRange(min=1), default=20, show_default=True)
@click.option("--all-kinds", is_flag=True, help="Also registry imports.")
@click.pass_context
def batches(ctx: click.Context, source: str | None, limit: int, all_kinds: bool) -> None:
    """List the newest batches: id, kind, source, file, sha256, time, status, counts."""
    from sqlalchemy import select

    from lifesign.cli import settings_of
    from lifesign.ingest.pipeline import BATCH_KINDS, batches_t
    from lifesign.store import open_database

    engine = open_database(settings_of(ctx))
    query = select(batches_t).order_by(batches_t.c.batch_id.desc()).limit(limit)
    if source:
        query = query.where(batches_t.c.source == source)
    if not all_kinds:
        query = query.where(batches_t.c.kind.in_(BATCH_KINDS))
    table = Table(title="batches (newest first)")
    for name in ("id", "kind", "source", "file", "sha256", "started", "status"):
        table.add_column(name, justify="right" if name == "id" else "left")
    for name in ("read", "accepted", "rejected", "dup", "not rec."):
        table.add_column(name, justify="right")
    with engine.connect() as connection:
        for row in connection.execute(query):
            counts = row.counts or {}
            table.add_row(
                str(row.batch_id),
                row.kind,
                row.source,
                Path(row.file_name).name if row.file_name else "",
                (row.sha256 or "")[:12],
                row.started_at.strftime("%Y-%m-%d %H:%M:%S") if row.started_at else "",
                row.status,
                *(
                    f"{int(counts.get(key, 0)):,}" if counts else ""
                    for key in ("read", "accepted", "rejected", "duplicate", "not_recipient")
                ),
            )
    console.print(table)


# ---------------------------------------------------------------------------------------------
# lifesign lake


@click.group("lake")
def lake_group() -> None:
    """The evidence lake: trace a record to its batch and file row."""


@lake_group.command("trace")
@click.argument("record_id")
@click.option("--source", default=None, help="The source (a record id is unique per source).")
@click.pass_context
def trace(ctx: click.Context, record_id: str, source: str | None) -> None:
    """Show the lake record RECORD_ID, its batch, file and row."""
    from sqlalchemy import select

    from lifesign.cli import settings_of
    from lifesign.ingest.pipeline import batches_t
    from lifesign.store import open_database

    settings = settings_of(ctx)
    found = trace_records(settings, record_id, source)
    if not found:
        raise LifesignError(
            f"no record {record_id!r} in the lake" + (f" for source {source}" if source else ""),
            "it may have been rejected (lifesign quarantine list) or not ingested yet",
            Location(key=record_id),
        )
    engine = open_database(settings)
    for record in found:
        with engine.connect() as connection:
            batch = connection.execute(
                select(batches_t).where(batches_t.c.batch_id == record["batch_id"])
            ).first()
        table = Table(title=f"record {record_id} of {record['source']}", show_header=False)
        table.add_column("what")
        table.add_column("value")
        for key in ("person_id", "pseudonym", "evidence_type", "event_time", "source"):
            table.add_row(key, "" if record[key] is None else str(record[key]))
        table.add_row("batch", str(record["batch_id"]))
        if batch is not None:
            table.add_row("batch kind", batch.kind)
            table.add_row("file", Path(batch.file_name).name if batch.file_name else "")
            table.add_row("path", batch.file_name or "")
            table.add_row("sha256", batch.sha256 or "")
            table.add_row("ingested", str(batch.finished_at or batch.started_at))
        table.add_row("row", str(record["row"]))
        console.print(table)


def trace_records(settings: Settings, record_id: str, source: str | None) -> list[dict[str, Any]]:
    """The lake records with `record_id` (of `source`), as dicts."""
    from lifesign.ingest.lake import open_lake

    connection = open_lake(settings)
    query = "SELECT * FROM evidence WHERE record_id = ?"
    parameters: list[Any] = [record_id]
    if source:
        query += " AND source = ?"
        parameters.append(source)
    cursor = connection.execute(query + " ORDER BY batch_id", parameters)
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


# ---------------------------------------------------------------------------------------------
# lifesign quarantine


@click.group("quarantine")
def quarantine() -> None:
    """Rejected evidence records: list, show, export to fix, retry, dismiss."""


@quarantine.command("list")
@click.option("--source", default=None)
@click.option("--reason", default=None)
@click.option(
    "--status",
    type=click.Choice(["open", "resolved", "dismissed", "any"]),
    default="open",
    show_default=True,
)
@click.option("--limit", type=click.IntRange(min=1), default=50, show_default=True)
@click.pass_context
def list_command(
    ctx: click.Context, source: str | None, reason: str | None, status: str, limit: int
) -> None:
    """List quarantine entries (values masked) and counts by source and reason."""
    from lifesign.cli import settings_of
    from lifesign.ingest import quarantine as q
    from lifesign.store import open_database

    engine = open_database(settings_of(ctx))
    wanted = None if status == "any" else status
    entries = q.list_entries(engine, source=source, reason=reason, status=wanted, limit=limit)
    table = Table(title=f"quarantine ({status}; first {limit})")
    for name in ("id", "batch", "source", "file", "row", "field", "value", "reason", "status"):
        table.add_column(name)
    for e in entries:
        table.add_row(
            str(e.quarantine_id),
            str(e.batch_id),
            e.source,
            Path(e.file).name if e.file else "",
            str(e.row or ""),
            e.field or "",
            e.value_masked or "",
            e.reason,
            e.status,
        )
    console.print(table)
    counts = [
        c
        for c in q.count_by_reason(engine, status=wanted)
        if (not source or c[0] == source) and (not reason or c[1] == reason)
    ]
    if counts:
        summary = Table(title="entries by source and reason")
        for name in ("source", "reason", "entries"):
            summary.add_column(name, justify="right" if name == "entries" else "left")
        for code, why, count in counts:
            summary.add_row(code, why, f"{count:,}")
        console.print(summary)


@quarantine.command("show")
@click.argument("quarantine_id", type=int)
@click.option("--sources", "sources_dir", type=click.Path(file_okay=False, path_type=Path))
@click.pass_context
def show_command(ctx: click.Context, quarantine_id: int, sources_dir: Path | None) -> None:
    """One entry: file, row, field, masked value, reason, message, the raw record (masked)."""
    from lifesign.cli import settings_of
    from lifesign.ingest import quarantine as q
    from lifesign.store import open_database

    settings = settings_of(ctx)
    engine = open_database(settings)
    entry = q.get_entry(engine, quarantine_id)
    _, sources = _context(settings, sources_dir)
    table = Table(title=f"quarantine entry {quarantine_id}", show_header=False)
    table.add_column("what")
    table.add_column("value")
    for key in ("batch_id", "source", "file", "row", "field", "value_masked", "reason"):
        value = getattr(entry, key)
        table.add_row(key, "" if value is None else str(value))
    table.add_row("message", entry.message or "")
    table.add_row("status", entry.status)
    if entry.resolved_batch_id is not None:
        table.add_row("resolved by batch", str(entry.resolved_batch_id))
    if entry.note:
        table.add_row("note", entry.note)
    raw = q.masked_raw(entry.raw_record, sources.get(entry.source))
    table.add_row(
        "raw record", json.dumps(raw, ensure_ascii=False, indent=1) if raw else "(unreadable)"
    )
    console.print(table)


@quarantine.command("export")
@click.option("--source", required=True, help="The source whose open entries to export.")
@click.option("--reason", default=None, help="Only entries with this reason.")
@click.option(
    "--out", required=True, type=click.Path(dir_okay=False, path_type=Path), help="CSV to write."
)
@click.pass_context
def export_command(ctx: click.Context, source: str, reason: str | None, out: Path) -> None:
    """Write open entries as CSV in the department's own columns + quarantine_id, to fix.

    This file holds the records' FULL values (ID numbers, names, phones): it is the one place
    they are needed, so that a data manager can correct them. Keep it as confidential as the
    department's own data, and delete it after `lifesign quarantine retry`.
    """
    from lifesign.cli import settings_of
    from lifesign.ingest import quarantine as q
    from lifesign.store import open_database

    engine = open_database(settings_of(ctx))
    written, skipped = q.export(engine, source, out, reason=reason)
    console.print(f"{written:,} record(s) written to {out} (full values: keep it confidential)")
    if skipped:
        console.print(
            f"{skipped:,} entr(y/ies) left out: their row could not be read at all "
            "(see lifesign quarantine show); ask the department to re-send them"
        )


@quarantine.command("retry")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--source", default=None, help="Default: the source of the file's entries.")
@_as_of_option
@_sources_option
@click.pass_context
def retry_command(
    ctx: click.Context,
    file: Path,
    source: str | None,
    as_of: dt.datetime | None,
    sources_dir: Path | None,
) -> None:
    """Re-ingest a corrected export FILE as a new batch (kind retry).

    Entries whose record now passes are resolved with the new batch id; those still bad stay
    open with their new reason.
    """
    from lifesign.cli import settings_of
    from lifesign.ingest import quarantine as q
    from lifesign.ingest.pipeline import Ingestor
    from lifesign.ingest.report import print_summary

    settings = settings_of(ctx)
    catalog, sources = _context(settings, sources_dir)
    ingestor = Ingestor(settings, catalog, sources, _date(as_of))
    result = q.retry(ingestor, file, sources, source_code=source)
    print_summary(console, [result.batch], by_source=False)
    console.print(
        f"{result.resolved:,} entr(y/ies) resolved, {result.still_open:,} still open"
        + (
            f", {result.skipped:,} row(s) skipped (entry unknown or not open)"
            if result.skipped
            else ""
        )
    )


@quarantine.command("dismiss")
@click.argument("quarantine_id", type=int)
@click.option("--reason", required=True, help="Why the entry is closed without a fix.")
@click.pass_context
def dismiss_command(ctx: click.Context, quarantine_id: int, reason: str) -> None:
    """Close an open entry without fixing it."""
    from lifesign.cli import settings_of
    from lifesign.ingest import quarantine as q
    from lifesign.store import open_database

    entry = q.dismiss(open_database(settings_of(ctx)), quarantine_id, reason)
    console.print(f"quarantine entry {entry.quarantine_id} dismissed: {reason}")
