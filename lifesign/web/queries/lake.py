"""One person's evidence from the lake, read by DuckDB filtering on `person_id`.

The lake holds only the minimal evidence record (type, source, time, record id — nothing
clinical). A person's records are found by a filter on `person_id`: DuckDB skips the row groups
whose min/max statistics exclude the key, and the files sorted by person_id make that skip
nearly total. One DuckDB database per lake folder is kept for the process with its object
cache on, so the Parquet footers are read once, not at every page view; each call uses its
own cursor (DuckDB cursors are safe to use from one thread each).
"""

from __future__ import annotations

import datetime as dt
import threading
from dataclasses import dataclass
from pathlib import Path

import duckdb

from lifesign.config import Settings
from lifesign.ingest.lake import evidence_glob, has_evidence


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


def person_evidence(settings: Settings, person_id: int, limit: int) -> list[EvidenceRecord]:
    """The person's newest `limit` evidence records, newest first (none on an empty lake)."""
    if not has_evidence(settings.lake_dir):
        return []
    cursor = _database(settings.lake_dir).cursor()
    try:
        rows = cursor.execute(
            "SELECT event_time, evidence_type, source, record_id, batch_id "
            "FROM read_parquet(?, hive_partitioning = false, union_by_name = true) "
            "WHERE person_id = ? ORDER BY event_time DESC, record_id LIMIT ?",
            [evidence_glob(settings), person_id, limit],
        ).fetchall()
    finally:
        cursor.close()
    return [
        EvidenceRecord(row[0], str(row[1]), str(row[2]), str(row[3]), int(row[4])) for row in rows
    ]
