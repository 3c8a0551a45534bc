"""A drop folder: files appear (an SFTP upload, a share), each is ingested once, moved aside.

A file is taken only when it is complete: its size and modification time are the same in two
looks at the folder, and its name neither ends in `.part`/`.tmp` nor starts with a dot (the
usual names of an upload in progress). It is matched to its source by the sources'
`file_pattern`, ingested as one batch, and moved aside:

    DIR/done/YYYY-MM-DD/NAME           with NAME.report.json beside it
    DIR/unmatched/NAME                 with NAME.error.txt: no source's file_pattern matches
    DIR/failed/NAME                    with NAME.error.txt: the file could not be ingested

Crash safety comes from the batch being the unit of idempotency: the report is written, then
the file is moved. After a crash between the commit of the batch and the move, the file is
still in DIR; ingesting it again is a no-op ("already ingested in batch N") and it is moved
then. After a crash between writing the report and the move, the report already in today's
folder (same sha256) is kept and the file joins it.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import signal
import threading
import traceback
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any, Literal

from lifesign.errors import ConfigurationError, LifesignError, Location

if TYPE_CHECKING:
    import click

    from lifesign.ingest.pipeline import BatchReport
    from lifesign.ingest.sources import SourceDefinition

log = logging.getLogger(__name__)

DONE_DIR = "done"
FAILED_DIR = "failed"
UNMATCHED_DIR = "unmatched"
REPORT_SUFFIX = ".report.json"
ERROR_SUFFIX = ".error.txt"
# Names an uploader gives a file it is still writing; such a file is never taken.
IN_PROGRESS_SUFFIXES = (".part", ".tmp")

Outcome = Literal["ingested", "already_ingested", "unmatched", "failed"]


# ----------------------------------------------------------------------------- the folder


@dataclass(frozen=True)
class FileSignature:
    """What two looks compare: a file that is still being written changes one of these."""

    size: int
    mtime_ns: int


def is_candidate_name(name: str) -> bool:
    """Whether a file of this name may be taken (hidden files and uploads in progress not)."""
    lowered = name.lower()
    return not name.startswith(".") and not lowered.endswith(IN_PROGRESS_SUFFIXES)


def candidate_files(directory: Path) -> dict[Path, FileSignature]:
    """The regular files directly in `directory` that may be taken, with their signatures."""
    found: dict[Path, FileSignature] = {}
    with os.scandir(directory) as entries:
        for entry in entries:
            if not is_candidate_name(entry.name):
                continue
            try:
                if not entry.is_file():
                    continue
                stat = entry.stat()
            except FileNotFoundError:  # removed between the listing and the stat
                continue
            found[Path(entry.path)] = FileSignature(stat.st_size, stat.st_mtime_ns)
    return found


class StabilityTracker:
    """Remembers the previous look at a folder; a file is complete when it did not change."""

    def __init__(self) -> None:
        self._previous: dict[Path, FileSignature] = {}

    def look(self, directory: Path) -> list[Path]:
        """Look again; return the files unchanged since the previous look, in name order."""
        current = candidate_files(directory)
        stable = [path for path, sig in current.items() if self._previous.get(path) == sig]
        self._previous = current
        return sorted(stable, key=lambda path: path.name)

    def forget(self, path: Path) -> None:
        self._previous.pop(path, None)


# ----------------------------------------------------------------------------- moving aside


def unique_destination(folder: Path, name: str) -> Path:
    """`folder/name`, or `folder/STEM.2.EXT`, `.3`… when a file or its report is there."""
    stem, dot, extension = name.partition(".")
    number = 1
    while True:
        candidate = name if number == 1 else f"{stem}.{number}{dot}{extension}"
        target = folder / candidate
        taken = (
            target.exists()
            or (folder / (candidate + REPORT_SUFFIX)).exists()
            or (folder / (candidate + ERROR_SUFFIX)).exists()
        )
        if not taken:
            return target
        number += 1


def write_atomically(path: Path, text: str) -> None:
    """Write `text` to `path` so that a reader (or a crash) never sees half of it."""
    temporary = path.with_name(f".{path.name}.tmp")
    with open(temporary, "w", encoding="utf-8") as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temporary, path)


def error_text(name: str, error: LifesignError, when: dt.datetime) -> str:
    """NAME.error.txt: what went wrong, why, where, and when, one per line."""
    lines = [f"file: {name}", f"what: {error.what}"]
    if error.why:
        lines.append(f"why: {error.why}")
    where = str(error.where)
    if where:
        lines.append(f"where: {where}")
    lines.append(f"when: {when.isoformat(timespec='seconds')}")
    return "\n".join(lines) + "\n"


# ----------------------------------------------------------------------------- one file


@dataclass(frozen=True)
class FileResult:
    """What happened to one dropped file."""

    name: str
    outcome: Outcome
    moved_to: Path
    source: str | None = None
    batch_id: int | None = None
    summary: str = ""

    def log_line(self) -> str:
        """One line for the log: the file name, where it went, and the counts (no records)."""
        done = self.outcome in ("ingested", "already_ingested")
        where = DONE_DIR if done else self.moved_to.parent.name
        text = f"{self.name}: {self.outcome.replace('_', ' ')} → {where}"
        if self.source:
            text += f" [{self.source}]"
        if self.summary:
            text += f" ({self.summary})"
        return text


class UnmatchedFile(LifesignError):
    """No source definition's file_pattern matches a dropped file's name."""


class UnexpectedIngestError(LifesignError):
    """Ingesting a file raised something that is not a LifesignError (kept for the report)."""


IngestFile = Callable[["SourceDefinition", Path], "BatchReport"]
MatchSource = Callable[[Path], "SourceDefinition | None"]


@dataclass
class DropFolder:
    """One drop folder: takes complete files, ingests each once, moves it aside."""

    directory: Path
    match: MatchSource
    ingest: IngestFile
    describe_patterns: Callable[[], str] = lambda: ""
    today: Callable[[], dt.date] = dt.date.today
    now: Callable[[], dt.datetime] = lambda: dt.datetime.now().astimezone()
    tracker: StabilityTracker = field(default_factory=StabilityTracker)

    def take(self, path: Path) -> FileResult:
        """Ingest one complete file and move it aside with its report or its error."""
        source = self.match(path)
        if source is None:
            patterns = self.describe_patterns()
            error = UnmatchedFile(
                "no source matches this file name",
                "no source definition's file_pattern matches it"
                + (f" (patterns: {patterns})" if patterns else ""),
                Location(file=path.name),
            )
            return self._set_aside(path, UNMATCHED_DIR, "unmatched", error, None)
        try:
            report = self.ingest(source, path)
        except ConfigurationError:
            raise  # the platform's own settings: no fault of the file, stop here
        except LifesignError as error:
            return self._set_aside(path, FAILED_DIR, "failed", error, source.code)
        except Exception as error:  # a file must never stop the folder; keep the why
            if _is_state_database_error(error):
                raise
            log.error("ingesting %s failed unexpectedly:\n%s", path.name, traceback.format_exc())
            wrapped = UnexpectedIngestError(
                "the file could not be ingested",
                f"{type(error).__name__}: {error}",
                Location(file=path.name),
            )
            return self._set_aside(path, FAILED_DIR, "failed", wrapped, source.code)
        return self._file_away(path, source, report)

    def _file_away(self, path: Path, source: SourceDefinition, report: BatchReport) -> FileResult:
        document = report_document(path.name, source.code, report, self.now())
        folder = self.directory / DONE_DIR / self.today().isoformat()
        folder.mkdir(parents=True, exist_ok=True)
        target = self._interrupted_move(folder, path.name, document) or unique_destination(
            folder, path.name
        )
        report_path = target.with_name(target.name + REPORT_SUFFIX)
        if not report_path.exists():
            write_atomically(report_path, json.dumps(document, ensure_ascii=False, indent=2) + "\n")
        os.replace(path, target)
        self.tracker.forget(path)
        outcome: Outcome = "already_ingested" if document["already_ingested"] else "ingested"
        return FileResult(
            name=path.name,
            outcome=outcome,
            moved_to=target,
            source=source.code,
            batch_id=document["batch_id"],
            summary=summary_of(document),
        )

    @staticmethod
    def _interrupted_move(folder: Path, name: str, document: dict[str, Any]) -> Path | None:
        """The target of a move a crash interrupted: its report is there, the file is not."""
        target = folder / name
        report_path = folder / (name + REPORT_SUFFIX)
        if target.exists() or not report_path.exists() or not document.get("sha256"):
            return None
        try:
            earlier = json.loads(report_path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        return target if earlier.get("sha256") == document["sha256"] else None

    def _set_aside(
        self,
        path: Path,
        subfolder: str,
        outcome: Outcome,
        error: LifesignError,
        source: str | None,
    ) -> FileResult:
        folder = self.directory / subfolder
        folder.mkdir(parents=True, exist_ok=True)
        target = unique_destination(folder, path.name)
        write_atomically(
            target.with_name(target.name + ERROR_SUFFIX), error_text(path.name, error, self.now())
        )
        os.replace(path, target)
        self.tracker.forget(path)
        return FileResult(
            name=path.name, outcome=outcome, moved_to=target, source=source, summary=error.what
        )

    def run(
        self,
        *,
        once: bool,
        interval: float,
        max_files: int | None = None,
        stop: threading.Event | None = None,
        on_result: Callable[[FileResult], None] | None = None,
    ) -> list[FileResult]:
        """Look, take the complete files, wait `interval`, look again… until told to stop.

        `once`: two looks `interval` apart, take what was complete, return. Otherwise loop
        until `stop` is set (the file being taken is finished first) or `max_files` taken.
        """
        stop = stop or threading.Event()
        results: list[FileResult] = []
        self.tracker.look(self.directory)  # the first look: nothing is known complete yet
        while not stop.is_set():
            if stop.wait(interval):
                break
            for path in self.tracker.look(self.directory):
                if stop.is_set() or (max_files is not None and len(results) >= max_files):
                    break
                if not path.exists():  # taken by another watcher, or removed
                    continue
                result = self.take(path)
                results.append(result)
                log.info("%s", result.log_line())
                if on_result is not None:
                    on_result(result)
            if once or (max_files is not None and len(results) >= max_files):
                break
        return results


def _is_state_database_error(error: Exception) -> bool:
    """An error of the state database (unreachable, locked): the file is not at fault."""
    from sqlalchemy.exc import InterfaceError, OperationalError

    return isinstance(error, (OperationalError, InterfaceError))


# ----------------------------------------------------------------------------- the report


def report_document(
    name: str, source: str, report: BatchReport, taken_at: dt.datetime
) -> dict[str, Any]:
    """NAME.report.json: the batch, the counts, rejections by reason and a few examples
    (row, field, masked value, reason) so the department can fix its file; never a record."""
    return {
        "file": name,
        "source": source,
        "sha256": report.sha256,
        "batch_id": report.batch_id,
        "already_ingested": report.already_ingested,
        "message": report.message,
        "read": report.read,
        "accepted": report.accepted,
        "rejected": report.rejected,
        "rejected_by_reason": dict(sorted(report.rejected_by_reason.items())),
        "duplicates": report.duplicate,
        "not_recipients": report.not_recipient,
        "kept_non_recipients": report.kept_non_recipient,
        "rejected_examples": [
            {
                "row": sample.row,
                "field": sample.field,
                "value": sample.value,
                "reason": sample.reason,
                "message": sample.message,
            }
            for sample in report.samples
        ],
        "taken_at": taken_at.isoformat(timespec="seconds"),
    }


def summary_of(document: Mapping[str, Any]) -> str:
    if document["already_ingested"]:
        return f"same bytes already ingested in batch {document['batch_id']}"
    text = (
        f"batch {document['batch_id']}: {document['read']:,} read, "
        f"{document['accepted']:,} accepted, {document['rejected']:,} rejected"
    )
    if document["duplicates"]:
        text += f", {document['duplicates']:,} duplicates"
    if document["not_recipients"]:
        text += f", {document['not_recipients']:,} not recipients"
    return text


# ----------------------------------------------------------------------------- the command


@contextmanager
def stop_on_interrupt(stop: threading.Event, notify: Callable[[str], None]) -> Iterator[None]:
    """Ctrl-C (or SIGTERM) sets `stop`, so the file being taken is finished; twice aborts."""

    def handle(signum: int, _frame: FrameType | None) -> None:
        if stop.is_set():
            raise KeyboardInterrupt
        notify("stopping after the current file (Ctrl-C again to abort it)")
        stop.set()

    previous = {sig: signal.signal(sig, handle) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def run_watch_command(
    ctx: click.Context,
    directory: Path,
    *,
    once: bool,
    interval: float,
    max_files: int | None,
    as_of: dt.date | None,
) -> None:
    """The body of `lifesign ingest watch`."""
    import click

    from lifesign.catalog import load_catalog
    from lifesign.cli import settings_of
    from lifesign.ingest.pipeline import Ingestor
    from lifesign.ingest.sources import load_sources, match_source

    settings = settings_of(ctx)
    catalog = load_catalog(settings.catalog_dir)
    sources = load_sources(None, catalog)
    ingestor = Ingestor(settings, catalog, sources, as_of)
    ingestor.recover()
    folder = DropFolder(
        directory=directory,
        match=lambda path: match_source(sources, path),
        ingest=ingestor.ingest_file,
        describe_patterns=lambda: ", ".join(
            sorted({s.file_pattern for s in sources.values() if s.file_pattern})
        ),
    )
    if once:
        click.echo(f"looking at {directory} once (two looks {interval:g} s apart)")
    else:
        click.echo(f"watching {directory} (a look every {interval:g} s; Ctrl-C to stop)")
    stop = threading.Event()
    with stop_on_interrupt(stop, lambda message: click.echo(message, err=True)):
        results = folder.run(
            once=once,
            interval=interval,
            max_files=max_files,
            stop=stop,
            on_result=lambda result: click.echo(result.log_line()),
        )
    click.echo(f"{len(results)} file(s) taken")
