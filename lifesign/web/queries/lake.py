"""One person's evidence from the lake, read from a store of the lake's records sorted by person.

The lake holds only the minimal evidence record (type, source, time, record id — nothing
clinical), one file per batch and month and source: thousands of files after a year of daily
batches, and a filter on `person_id` would still open every one. The person page reads instead
a person-sorted copy of the lake's records (`LAKE/_person/evidence`, kept by
lifesign.ingest.person_store: a few Parquet parts and a manifest of the batches folded in), where
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
from dataclasses import dataclass
from pathlib import Path

from lifesign.config import Settings
from lifesign.ingest.lake import LakeListing, has_evidence, parquet_list
from lifesign.ingest.person_store import (
    batch_of,
    person_store,
    store_database,
    update_person_store,
)


@dataclass(frozen=True)
class EvidenceRecord:
    event_time: dt.datetime
    evidence_type: str
    source: str
    record_id: str
    batch_id: int


def _sources(settings: Settings) -> list[Path]:
    """The store's parts and the lake files of the batches not folded in (after folding them
    in, when nobody else is)."""
    lake_dir = settings.lake_dir
    store = person_store(lake_dir)
    files = LakeListing.of(lake_dir).files()
    manifest = store.manifest()
    behind = any(batch_of(p) not in manifest.batches for p in files)
    if behind and update_person_store(lake_dir, wait=False) is not None:
        manifest = store.manifest()
    unfolded = [p for p in files if batch_of(p) not in manifest.batches]
    return [store.root / name for name in manifest.parts] + unfolded


def person_evidence(settings: Settings, person_id: int, limit: int) -> list[EvidenceRecord]:
    """The person's newest `limit` evidence records, newest first (none on an empty lake)."""
    if not has_evidence(settings.lake_dir):
        return []
    sources = _sources(settings)
    if not sources:
        return []
    cursor = store_database(settings.lake_dir).cursor()
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
