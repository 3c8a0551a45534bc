"""The ingestion pipeline: department records in, minimal evidence in the lake, exactly once.

One batch per file (or pull, push, quarantine retry):

1. `recover()` finishes or rolls back what a crashed run left (once per `Ingestor`).
2. Same content already committed for the source (file SHA-256) → nothing to do; the report
   says which batch holds it.
3. A `batches` row is inserted (status `running`) while an flock on `_staging/batch-N.lock` is
   held; the source's lock (`_staging/source-CODE.lock`) keeps one writer per source.
4. Chunks are read (engineer A's readers), validated (`validate.py`), joined with the registry
   (`recipients.py`): non-recipients dropped (or kept with an HMAC pseudonym and no
   person_id); records already in the lake or earlier in the batch dropped as duplicates (by a
   64-bit key of the record id, `lake.KeySet`). Good records are written as Parquet to
   `_staging/batch-N/`; rejected ones to a quarantine spill file beside them.
5. One transaction: quarantine rows inserted, the batch marked `committed` with its counts,
   `on_commit(connection)` run (a pull advances its watermark there).
6. The staged files are renamed into `evidence/`. A crash before 5 leaves an uncommitted batch
   whose staging `recover()` deletes; a crash after 5 leaves a committed batch whose files
   `recover()` renames into place. Either the whole batch is in the lake or none of it.

`LIFESIGN_FAULT_POINT=mid_write|after_staging|after_commit` makes the process kill itself
(SIGKILL) at that point: the crash tests use it.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import signal
import threading
import time
import weakref
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from sqlalchemy import Connection, Engine, Table, insert, select, update

from lifesign.catalog import Catalog
from lifesign.config import Settings
from lifesign.errors import LifesignError, Location
from lifesign.ingest import lake
from lifesign.ingest.lake import BatchLock, BatchWriter, KeySet
from lifesign.ingest.parsing import map_evidence_types, parse_event_times
from lifesign.ingest.readers import RawChunk, read_records
from lifesign.ingest.recipients import Recipients, pseudonyms_of
from lifesign.ingest.sources import SourceDefinition
from lifesign.ingest.validate import (
    IngestRules,
    id_keys,
    load_rules,
    mask_value,
    validate_chunk,
)
from lifesign.registry.csvfiles import file_digest
from lifesign.registry.pseudonym import Pseudonymizer
from lifesign.store import open_database
from lifesign.store.models import Batch, Quarantine

FAULT_ENV = "LIFESIGN_FAULT_POINT"
FAULT_POINTS = ("mid_write", "after_staging", "after_commit")

BATCH_KINDS = ("file", "pull", "push", "retry")
SAMPLE_PROBLEMS = 20
QUARANTINE_SPILL = "quarantine.jsonl"
INSERT_ROWS = 5_000

NOT_RECIPIENT = "not_recipient"
DUPLICATE = "duplicate"

batches_t = cast(Table, Batch.__table__)
quarantine_t = cast(Table, Quarantine.__table__)


def _fault(point: str) -> None:
    """Kill this process at `point` when the fault-injection variable names it (tests only)."""
    if os.environ.get(FAULT_ENV) == point:
        os.kill(os.getpid(), signal.SIGKILL)


@dataclass(frozen=True)
class QuarantineSample:
    """A rejected record as it may be shown: values masked."""

    row: int | None
    field: str | None
    value: str | None
    reason: str
    message: str


@dataclass
class BatchReport:
    """What happened to one batch (or why nothing happened: `already_ingested`)."""

    source: str
    kind: str
    origin: str
    sha256: str | None = None
    batch_id: int | None = None  # the new batch, or the batch that already holds the content
    already_ingested: bool = False
    read: int = 0
    accepted: int = 0
    duplicate: int = 0
    not_recipient: int = 0
    kept_non_recipient: int = 0
    rejected_by_reason: Counter[str] = field(default_factory=Counter)
    samples: list[QuarantineSample] = field(default_factory=list)
    encoding: str | None = None
    seconds: float = 0.0

    @property
    def rejected(self) -> int:
        return sum(self.rejected_by_reason.values())

    @property
    def counts(self) -> dict[str, Any]:
        return {
            "read": self.read,
            "accepted": self.accepted,
            "rejected": self.rejected,
            DUPLICATE: self.duplicate,
            NOT_RECIPIENT: self.not_recipient,
            "kept_non_recipient": self.kept_non_recipient,
            "rejected_by_reason": dict(sorted(self.rejected_by_reason.items())),
        }

    @property
    def message(self) -> str:
        if self.already_ingested:
            return f"already ingested in batch {self.batch_id} (same content); nothing changed"
        return (
            f"batch {self.batch_id}: {self.read:,} read, {self.accepted:,} accepted, "
            f"{self.rejected:,} rejected, {self.duplicate:,} duplicate, "
            f"{self.not_recipient:,} not recipients"
        )


@dataclass
class RowOutcomes:
    """Per-row outcome of a batch, collected only for quarantine retries."""

    accepted: set[int] = field(default_factory=set)
    dropped: dict[int, str] = field(default_factory=dict)  # row -> duplicate / not_recipient


ProgressCallback = Callable[[BatchReport], None]
OnCommit = Callable[[Connection], None]


@dataclass
class _SourceKeys:
    keys: KeySet
    batches: set[int]


# The record keys each source has in a lake, shared by every Ingestor of this process on that
# lake and engine: a new Ingestor (the daily run makes one per day) starts from what earlier
# ones read or added, and reads only the batches committed since (by another process: the
# committed batch ids are checked in the database under the source lock on every batch, so
# exactly-once holds across processes). Keys are added only after their batch committed.
_SHARED_KEYS: weakref.WeakKeyDictionary[Engine, dict[Path, dict[str, _SourceKeys]]] = (
    weakref.WeakKeyDictionary()
)
_SHARED_KEYS_LOCK = threading.Lock()


def _shared_keys(lake_dir: Path, engine: Engine) -> dict[str, _SourceKeys]:
    """The keys of `lake_dir` known through `engine` (the same engine object: two in-memory
    databases may share a URL, never an engine)."""
    with _SHARED_KEYS_LOCK:
        lakes = _SHARED_KEYS.setdefault(engine, {})
        return lakes.setdefault(lake_dir.resolve(), {})


class Ingestor:
    """Ingests department records into the lake; one per process and as-of date.

    The registry's recipients are loaded once; the record keys of each source already in the
    lake are loaded on first use and kept across files, so `ingest all` reads them once.
    """

    def __init__(
        self,
        settings: Settings,
        catalog: Catalog,
        sources: Mapping[str, SourceDefinition],
        as_of: dt.date | None = None,
        *,
        progress: ProgressCallback | None = None,
        engine: Engine | None = None,
        rules_file: Path | None = None,
    ) -> None:
        self.settings = settings
        self.catalog = catalog
        self.sources = sources
        self.as_of = as_of or dt.date.today()
        self.progress = progress
        self.engine = engine or open_database(settings)
        self.rules_file = rules_file
        self.lake_dir = settings.lake_dir
        self.lake_dir.mkdir(parents=True, exist_ok=True)
        self._pseudonymizer: Pseudonymizer | None = None
        self._recipients: Recipients | None = None
        self._keys = _shared_keys(self.lake_dir, self.engine)
        self._rules: dict[str, IngestRules] = {}
        self._recovered = False

    # -- lazily loaded state ------------------------------------------------------------------

    @property
    def recipients(self) -> Recipients:
        if self._recipients is None:
            self._recipients = Recipients.load(self.engine)
        return self._recipients

    @property
    def pseudonymizer(self) -> Pseudonymizer:
        if self._pseudonymizer is None:
            self._pseudonymizer = Pseudonymizer.for_home(self.settings.secrets_dir)
        return self._pseudonymizer

    def rules_for(self, source: str) -> IngestRules:
        if source not in self._rules:
            self._rules[source] = load_rules(self.as_of, source, self.rules_file)
        return self._rules[source]

    def _source_keys(self, connection: Connection, source: str) -> KeySet:
        """The record keys of `source` in the lake, brought up to date with batches another
        process committed since they were loaded."""
        committed = set(
            connection.execute(
                select(batches_t.c.batch_id).where(
                    batches_t.c.source == source,
                    batches_t.c.status == "committed",
                    batches_t.c.kind.in_(BATCH_KINDS),
                )
            ).scalars()
        )
        known = self._keys.setdefault(source, _SourceKeys(KeySet(), set()))
        missing = committed - known.batches
        if missing:
            files = lake.batch_files(self.lake_dir, missing)
            files = [path for path in files if path.parent.name == f"source={source}"]
            if files:
                keys = np.concatenate(
                    [
                        pq.read_table(path, columns=["record_key"]).column(0).to_numpy()
                        for path in files
                    ]
                )
                known.keys.add(keys.astype(np.int64))
            known.batches |= missing
        return known.keys

    # -- recovery -----------------------------------------------------------------------------

    def recover(self) -> list[int]:
        """Finish or roll back the batches a crashed run left; the batch ids dealt with.

        A committed batch whose files are still staged has them renamed into place; a running
        (uncommitted) batch has its staging removed and is marked failed. A batch whose lock is
        held belongs to a live process and is left alone.
        """
        self._recovered = True
        with self.engine.connect() as connection:
            running = set(
                connection.execute(
                    select(batches_t.c.batch_id).where(
                        batches_t.c.status == "running", batches_t.c.kind.in_(BATCH_KINDS)
                    )
                ).scalars()
            )
        candidates = sorted(running | set(lake.staged_batches(self.lake_dir)))
        dealt: list[int] = []
        for batch_id in candidates:
            batch_lock = BatchLock(self.lake_dir, batch_id)
            if not batch_lock.acquire(wait=False):
                continue  # a live process is writing it
            try:
                with self.engine.begin() as connection:
                    status = connection.execute(
                        select(batches_t.c.status).where(batches_t.c.batch_id == batch_id)
                    ).scalar_one_or_none()
                    if status == "committed":
                        lake.publish(self.lake_dir, batch_id)
                    else:
                        lake.discard(self.lake_dir, batch_id)
                        if status == "running":
                            connection.execute(
                                update(batches_t)
                                .where(batches_t.c.batch_id == batch_id)
                                .values(
                                    status="failed",
                                    finished_at=dt.datetime.now(dt.UTC),
                                    message="interrupted; rolled back by recovery",
                                )
                            )
                dealt.append(batch_id)
            finally:
                batch_lock.release()
        return dealt

    # -- ingest -------------------------------------------------------------------------------

    def committed_batch_with(self, source: str, sha256: str) -> int | None:
        with self.engine.connect() as connection:
            found = connection.execute(
                select(batches_t.c.batch_id)
                .where(
                    batches_t.c.source == source,
                    batches_t.c.sha256 == sha256,
                    batches_t.c.status == "committed",
                    batches_t.c.kind.in_(BATCH_KINDS),
                )
                .order_by(batches_t.c.batch_id)
                .limit(1)
            ).scalar_one_or_none()
        return None if found is None else int(found)

    def ingest_file(self, source: SourceDefinition, path: Path) -> BatchReport:
        """Ingest one file of `source` as one batch (a no-op if its content was ingested)."""
        if not path.is_file():
            raise LifesignError("no such file", "give a department file to ingest", _where(path))
        sha256, size = file_digest(path)
        return self.ingest_chunks(
            source,
            _lazy(lambda: read_records(source, path)),
            kind="file",
            origin=str(path),
            content_hash=sha256,
            size_bytes=size,
        )

    def ingest_chunks(
        self,
        source: SourceDefinition,
        chunks: Iterable[RawChunk],
        *,
        kind: str,
        origin: str,
        content_hash: str | None,
        on_commit: OnCommit | None = None,
        size_bytes: int | None = None,
        quarantine_ids: Mapping[int, int] | None = None,
        outcomes: RowOutcomes | None = None,
    ) -> BatchReport:
        """Ingest `chunks` of `source` as one batch of `kind` (file, pull, push, retry).

        `content_hash` (a file's SHA-256) makes a re-sent content a no-op. `on_commit` runs
        inside the committing transaction. `quarantine_ids` (row → quarantine id, for a
        retry) updates those quarantine entries instead of adding new ones; `outcomes`
        collects what happened to each row.
        """
        if kind not in BATCH_KINDS:
            raise ValueError(f"unknown batch kind {kind!r}")
        if not self._recovered:
            self.recover()
        started = time.monotonic()
        report = BatchReport(source=source.code, kind=kind, origin=origin, sha256=content_hash)
        source_lock = _SourceLock(self.lake_dir, source.code)
        with source_lock:
            if content_hash is not None:  # checked under the lock: one writer per source
                previous = self.committed_batch_with(source.code, content_hash)
                if previous is not None:
                    report.already_ingested = True
                    report.batch_id = previous
                    self._fill_from_previous(report, previous)
                    return report
            batch_lock, batch_id = self._open_batch(source, kind, origin, content_hash, size_bytes)
            report.batch_id = batch_id
            writer = BatchWriter(self.lake_dir, batch_id, source.code)
            spill = _QuarantineBuffer(lake.staging_dir(self.lake_dir, batch_id) / QUARANTINE_SPILL)
            try:
                with self.engine.connect() as connection:
                    committed_keys = self._source_keys(connection, source.code)
                pending = KeySet()
                for number, chunk in enumerate(chunks):
                    self._ingest_chunk(
                        source,
                        chunk,
                        report,
                        writer,
                        committed_keys,
                        pending,
                        spill,
                        quarantine_ids,
                        outcomes,
                    )
                    if number == 0 and writer.rows and os.environ.get(FAULT_ENV) == "mid_write":
                        writer.flush()  # half-written Parquet files in staging, then the kill
                        _fault("mid_write")
                    if self.progress is not None:
                        self.progress(report)
                writer.close()
                _fault("after_staging")
                report.seconds = time.monotonic() - started
                with self.engine.begin() as connection:
                    self._commit(connection, report, spill, quarantine_ids, outcomes)
                    if on_commit is not None:
                        on_commit(connection)
                _fault("after_commit")
                lake.publish(self.lake_dir, batch_id)
                committed_keys.add(pending.keys())
                self._keys[source.code].batches.add(batch_id)
            except BaseException as error:
                writer.abort()
                self._fail(batch_id, error)
                raise
            finally:
                batch_lock.release()
        report.seconds = time.monotonic() - started
        return report

    def _fill_from_previous(self, report: BatchReport, batch_id: int) -> None:
        with self.engine.connect() as connection:
            counts = connection.execute(
                select(batches_t.c.counts).where(batches_t.c.batch_id == batch_id)
            ).scalar_one()
        counts = counts or {}
        report.read = int(counts.get("read", 0))
        # Nothing was accepted now; the counts of the earlier batch stay in the database.

    def _open_batch(
        self,
        source: SourceDefinition,
        kind: str,
        origin: str,
        content_hash: str | None,
        size_bytes: int | None,
    ) -> tuple[BatchLock, int]:
        """Insert the running batch and take its lock before the row becomes visible, so a
        concurrent `recover()` never mistakes it for a crashed one."""
        with self.engine.begin() as connection:
            batch_id = int(
                connection.execute(
                    insert(batches_t)
                    .values(
                        kind=kind,
                        source=source.code,
                        file_name=origin[:512],
                        sha256=content_hash,
                        size_bytes=size_bytes,
                        status="running",
                        counts={},
                    )
                    .returning(batches_t.c.batch_id)
                ).scalar_one()
            )
            batch_lock = BatchLock(self.lake_dir, batch_id)
            batch_lock.acquire()
        return batch_lock, batch_id

    def _fail(self, batch_id: int, error: BaseException) -> None:
        lake.discard(self.lake_dir, batch_id)
        message = str(error)[:2000] if isinstance(error, LifesignError) else type(error).__name__
        try:
            with self.engine.begin() as connection:
                connection.execute(
                    update(batches_t)
                    .where(batches_t.c.batch_id == batch_id, batches_t.c.status == "running")
                    .values(status="failed", finished_at=dt.datetime.now(dt.UTC), message=message)
                )
        except Exception:
            pass  # the original error matters more; the next recover() marks the batch failed

    # -- one chunk ----------------------------------------------------------------------------

    def _ingest_chunk(
        self,
        source: SourceDefinition,
        chunk: RawChunk,
        report: BatchReport,
        writer: BatchWriter,
        committed_keys: KeySet,
        pending: KeySet,
        spill: _QuarantineBuffer,
        quarantine_ids: Mapping[int, int] | None,
        outcomes: RowOutcomes | None,
    ) -> None:
        origin = report.origin
        for problem in chunk.problems:
            report.read += 1
            self._quarantine(
                report,
                spill,
                row=problem.row,
                field=problem.field,
                value=mask_value(problem.field, problem.value),
                reason=problem.reason,
                message=problem.message,
                raw=problem.raw,
                origin=origin,
                quarantine_ids=quarantine_ids,
            )
        table = chunk.table
        n = table.num_rows
        if n == 0:
            return
        report.read += n
        names = set(table.column_names)
        rows = np.asarray(table.column("row").to_numpy(), dtype=np.int64)
        raw_types = (
            table.column("evidence_type")
            if "evidence_type" in names
            else pa.chunked_array([pa.nulls(n, pa.string())])
        )
        evidence_types = _flat(map_evidence_types(source, raw_types))
        raw_times = (
            table.column("event_time")
            if "event_time" in names
            else pa.chunked_array([pa.nulls(n, pa.string())])
        )
        event_times = _flat(parse_event_times(raw_times, source.formats_for("event_time")))
        checked = validate_chunk(
            table,
            evidence_types=evidence_types,
            event_times=event_times,
            department=source.department,
            catalog=self.catalog,
            rules=self.rules_for(source.code),
            as_of=self.as_of,
        )
        if checked.problems:
            raw_column = table.column("raw") if "raw" in names else None
            indices = pa.array([p.index for p in checked.problems], pa.int64())
            raws = raw_column.take(indices).to_pylist() if raw_column is not None else None
            for position, bad in enumerate(checked.problems):
                self._quarantine(
                    report,
                    spill,
                    row=int(rows[bad.index]),
                    field=bad.field,
                    value=bad.value,
                    reason=bad.reason,
                    message=bad.message,
                    raw=raws[position] if raws is not None else None,
                    origin=origin,
                    quarantine_ids=quarantine_ids,
                )
        good = np.flatnonzero(checked.ok)
        if not good.size:
            return
        take = pa.array(good)
        canonical = checked.canonical_ids.take(take)
        found = self.recipients.lookup(id_keys(canonical))
        person_id = found.person_id
        pseudonym = found.pseudonym
        keep = found.found
        strangers = np.flatnonzero(~found.found)
        if strangers.size:
            if source.keep_non_recipients:
                keep = np.ones(good.size, dtype=bool)
                mask = np.zeros(good.size, dtype=bool)
                mask[strangers] = True
                hmacs = pseudonyms_of(self.pseudonymizer, canonical.take(pa.array(strangers)))
                pseudonym = pc.replace_with_mask(pseudonym, pa.array(mask), hmacs)
                report.kept_non_recipient += int(strangers.size)
            else:
                report.not_recipient += int(strangers.size)
                if outcomes is not None:
                    for row in rows[good[strangers]].tolist():
                        outcomes.dropped[int(row)] = NOT_RECIPIENT
        kept = np.flatnonzero(keep)
        if not kept.size:
            return
        record_ids = table.column("record_id").take(pa.array(good[kept]))
        record_ids = pc.utf8_trim_whitespace(record_ids)
        keys = lake.record_keys(record_ids)
        # Duplicates: earlier in this chunk, earlier in this batch, or already in the lake.
        _, first = np.unique(keys, return_index=True)
        fresh = np.zeros(keys.size, dtype=bool)
        fresh[first] = True
        fresh &= ~pending.contains(keys) & ~committed_keys.contains(keys)
        duplicates = int(keys.size - fresh.sum())
        report.duplicate += duplicates
        if outcomes is not None and duplicates:
            for row in rows[good[kept[~fresh]]].tolist():
                outcomes.dropped[int(row)] = DUPLICATE
        chosen = kept[fresh]
        if not chosen.size:
            return
        pending.add(keys[fresh])
        chosen_rows = good[chosen]
        chosen_take = pa.array(chosen)
        out = pa.table(
            {
                "person_id": person_id.take(chosen_take),
                "pseudonym": pseudonym.take(chosen_take),
                "evidence_type": evidence_types.take(pa.array(chosen_rows)),
                "event_time": event_times.take(pa.array(chosen_rows)),
                "source": pa.array([source.code] * chosen.size, pa.string()),
                "record_id": record_ids.take(pa.array(np.flatnonzero(fresh))),
                "record_key": pa.array(keys[fresh], pa.int64()),
                "batch_id": pa.array(np.full(chosen.size, report.batch_id, dtype=np.int64)),
                "row": pa.array(rows[chosen_rows], pa.int64()),
            }
        )
        writer.add(out)
        report.accepted += int(chosen.size)
        if outcomes is not None:
            outcomes.accepted.update(int(r) for r in rows[chosen_rows].tolist())

    def _quarantine(
        self,
        report: BatchReport,
        spill: _QuarantineBuffer,
        *,
        row: int | None,
        field: str | None,
        value: str | None,
        reason: str,
        message: str,
        raw: str | None,
        origin: str,
        quarantine_ids: Mapping[int, int] | None,
    ) -> None:
        report.rejected_by_reason[reason] += 1
        if len(report.samples) < SAMPLE_PROBLEMS:
            report.samples.append(QuarantineSample(row, field, value, reason, message))
        entry = {
            "row": row,
            "field": field,
            "value_masked": value[:256] if value is not None else None,
            "raw_record": raw,
            "reason": reason,
            "message": message,
            "file": origin[:512],
        }
        if quarantine_ids is not None and row is not None and row in quarantine_ids:
            entry["quarantine_id"] = quarantine_ids[row]
        spill.add(entry)

    # -- commit -------------------------------------------------------------------------------

    def _commit(
        self,
        connection: Connection,
        report: BatchReport,
        spill: _QuarantineBuffer,
        quarantine_ids: Mapping[int, int] | None,
        outcomes: RowOutcomes | None,
    ) -> None:
        now = dt.datetime.now(dt.UTC)
        buffer: list[dict[str, Any]] = []
        retried_again: list[dict[str, Any]] = []
        for entry in spill.entries():
            if "quarantine_id" in entry:
                retried_again.append(entry)
                continue
            entry.update(batch_id=report.batch_id, source=report.source, status="open", note=None)
            buffer.append(entry)
            if len(buffer) >= INSERT_ROWS:
                connection.execute(insert(quarantine_t), buffer)
                buffer.clear()
        if buffer:
            connection.execute(insert(quarantine_t), buffer)
        for entry in retried_again:  # still bad after a retry: stays open with the new reason
            connection.execute(
                update(quarantine_t)
                .where(quarantine_t.c.quarantine_id == entry["quarantine_id"])
                .values(
                    field=entry["field"],
                    value_masked=entry["value_masked"],
                    raw_record=entry["raw_record"],
                    reason=entry["reason"],
                    message=entry["message"],
                    note=f"still rejected by retry batch {report.batch_id}",
                    updated_at=now,
                )
            )
        if quarantine_ids is not None and outcomes is not None:
            resolved = [
                (quarantine_ids[row], "accepted")
                for row in outcomes.accepted
                if row in quarantine_ids
            ] + [
                (quarantine_ids[row], why)
                for row, why in outcomes.dropped.items()
                if row in quarantine_ids
            ]
            for quarantine_id, why in resolved:
                connection.execute(
                    update(quarantine_t)
                    .where(quarantine_t.c.quarantine_id == quarantine_id)
                    .values(
                        status="resolved",
                        resolved_batch_id=report.batch_id,
                        note=f"retry batch {report.batch_id}: {why}",
                        updated_at=now,
                    )
                )
        connection.execute(
            update(batches_t)
            .where(batches_t.c.batch_id == report.batch_id)
            .values(status="committed", finished_at=now, counts=report.counts)
        )
        spill.close()


def _where(path: Path) -> Location:
    return Location(file=str(path))


def _flat(values: pa.Array | pa.ChunkedArray) -> pa.Array:
    if isinstance(values, pa.ChunkedArray):
        return values.combine_chunks() if values.num_chunks != 1 else values.chunk(0)
    return values


def _lazy(make: Callable[[], Iterator[RawChunk]]) -> Iterator[RawChunk]:
    """Open the reader only when the first chunk is wanted (not for an already-ingested file)."""
    yield from make()


class _SourceLock:
    """One writer per source at a time (across processes): the duplicate check relies on it."""

    def __init__(self, lake_dir: Path, source: str) -> None:
        self._lock = BatchLock(lake_dir, 0)
        self._lock.path = lake_dir / lake.STAGING_DIR / f"source-{source}.lock"

    def __enter__(self) -> _SourceLock:
        self._lock.acquire()
        return self

    def __exit__(self, *_: Any) -> None:
        self._lock.release(remove=False)


class _QuarantineBuffer:
    """A batch's rejected records: in memory, spilled to a JSON-lines file in the batch's
    staging folder past `SPILL_ROWS`, so a file full of bad records needs bounded memory."""

    SPILL_ROWS = 20_000

    def __init__(self, path: Path) -> None:
        self.path = path
        self._memory: list[dict[str, Any]] = []
        self._spilled = False

    def add(self, entry: dict[str, Any]) -> None:
        self._memory.append(entry)
        if len(self._memory) >= self.SPILL_ROWS:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self.path.open("a", encoding="utf-8") as handle:
                for item in self._memory:
                    handle.write(json.dumps(item, ensure_ascii=False) + "\n")
            self._memory.clear()
            self._spilled = True

    def entries(self) -> Iterator[dict[str, Any]]:
        if self._spilled:
            with self.path.open(encoding="utf-8") as lines:
                for line in lines:
                    yield json.loads(line)
        yield from self._memory

    def close(self) -> None:
        self._memory.clear()
        if self._spilled:
            self.path.unlink(missing_ok=True)
