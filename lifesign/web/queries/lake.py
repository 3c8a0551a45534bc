"""One person's evidence from the lake, read from a store of the lake's records sorted by person.

The lake holds only the minimal evidence record (type, source, time, record id — nothing
clinical), one file per batch and month and source: thousands of files after a year of daily
batches, and a filter on `person_id` would still open every one. The person page reads instead
a person-sorted copy of the lake's records (`LAKE/_person/evidence`, the machinery of the
integrity scan's weak store: a few Parquet parts and a manifest of the batches folded in), where
Parquet's row-group statistics take DuckDB straight to one person's rows; plus the lake files of
the batches not yet folded in (a day's batches at most between two updates).

The store is derived data, brought up to date by the reads themselves: a read that finds
batches not yet folded in folds them in when no other process or thread is doing so (else it
reads their files directly). Deleting the store only makes the next read rebuild it.

One DuckDB database per lake folder is kept for the process with its object cache on, so the
Parquet footers are read once, not at every page view; each call uses its own cursor (DuckDB
cursors are safe to use from one thread each).
"""

from __future__ import annotations

import datetime as dt
import threading
from dataclasses import dataclass
from pathlib import Path

import duckdb

from lifesign.config import Settings
from lifesign.ingest.lake import LakeListing, has_evidence, parquet_list
from lifesign.integrity.thresholds import load_scan_parameters
from lifesign.integrity.weak_store import PersonSortedStore

PERSON_STORE_DIR = Path("_person") / "evidence"


@dataclass(frozen=True)
class EvidenceRecord:
    event_time: dt.datetime
    evidence_type: str
    source: str
    record_id: str
    batch_id: int


_databases: dict[Path, duckdb.DuckDBPyConnection] = {}
_lock = threading.Lock()


def _database(lake_dir: Path) -> duckdb.DuckDBPyConnection:
    with _lock:
        found = _databases.get(lake_dir)
        if found is None:
            found = duckdb.connect()
            found.execute("SET enable_object_cache = true")
            found.execute("SET enable_progress_bar = false")
            _databases[lake_dir] = found
        return found


def person_store(lake_dir: Path) -> PersonSortedStore:
    # The parts are merged past the weak store's bound: the same trade (few files to open per
    # read, against rewriting the store at a merge) on the same lake.
    return PersonSortedStore(
        lake_dir, load_scan_parameters().weak_store_max_parts, PERSON_STORE_DIR
    )


def _batch_of(path: Path) -> int:
    return int(path.stem.removeprefix("batch-"))


def update_person_store(settings: Settings, *, wait: bool = True) -> int | None:
    """Fold the lake's published batches not yet in the person store into it; the number of
    batches folded in (None: another process or thread is updating it and `wait` is off)."""
    lake_dir = settings.lake_dir
    store = person_store(lake_dir)
    # A published batch file is a committed batch's (the lake publishes after the commit); a
    # batch still staged is being published and waits (the store checks that too).
    published = {_batch_of(p): True for p in LakeListing.of(lake_dir).files()}
    cursor = _database(lake_dir).cursor()
    try:
        if wait:
            return store.update(cursor, published, None).batches
        update = store.try_update(cursor, published, None)
        return None if update is None else update.batches
    finally:
        cursor.close()


def _sources(settings: Settings) -> list[Path]:
    """The store's parts and the lake files of the batches not folded in (after folding them
    in, when nobody else is)."""
    lake_dir = settings.lake_dir
    store = person_store(lake_dir)
    files = LakeListing.of(lake_dir).files()
    manifest = store.manifest()
    behind = any(_batch_of(p) not in manifest.batches for p in files)
    if behind and update_person_store(settings, wait=False) is not None:
        manifest = store.manifest()
    unfolded = [p for p in files if _batch_of(p) not in manifest.batches]
    return [store.root / name for name in manifest.parts] + unfolded


def person_evidence(settings: Settings, person_id: int, limit: int) -> list[EvidenceRecord]:
    """The person's newest `limit` evidence records, newest first (none on an empty lake)."""
    if not has_evidence(settings.lake_dir):
        return []
    sources = _sources(settings)
    if not sources:
        return []
    cursor = _database(settings.lake_dir).cursor()
    try:
        rows = cursor.execute(
            "SELECT event_time, evidence_type, source, record_id, batch_id "
            f"FROM read_parquet({parquet_list(sources)}, hive_partitioning = false, "
            "union_by_name = true) "
            "WHERE person_id = ? ORDER BY event_time DESC, record_id LIMIT ?",
            [person_id, limit],
        ).fetchall()
    finally:
        cursor.close()
    return [
        EvidenceRecord(row[0], str(row[1]), str(row[2]), str(row[3]), int(row[4])) for row in rows
    ]
