"""Quarantine: the rejected evidence records, and how a data manager fixes or dismisses them.

Every rejected record is a row of the `quarantine` table (written in the committing
transaction of its batch): file, row, field, the value masked for display, the reason and
message, and the department's raw record. The workflow:

1. `list` / `show`: see what was rejected and why (ID numbers, phones and names masked).
2. `export`: write the open entries of a source as CSV in the department's own columns plus a
   `quarantine_id` column: the one place the full values are needed, so they can be fixed.
3. `retry`: re-ingest the corrected CSV as a new batch of kind `retry`. An entry whose record
   now passes (or turns out to be a duplicate or a non-recipient, so there is nothing left to
   fix) is marked `resolved` with the new batch id; one still bad stays `open` with its new
   reason.
4. `dismiss`: close an entry that cannot or need not be fixed, with a reason.
"""

from __future__ import annotations

import csv
import dataclasses
import datetime as dt
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import pyarrow as pa
import pyarrow.compute as pc
from sqlalchemy import Engine, Table, func, select, update

from lifesign.errors import LifesignError, Location
from lifesign.ingest.pipeline import BatchReport, Ingestor, RowOutcomes
from lifesign.ingest.readers import RawChunk, read_records
from lifesign.ingest.sources import SourceDefinition
from lifesign.ingest.validate import mask_value
from lifesign.registry.csvfiles import file_digest
from lifesign.store.models import Quarantine

QUARANTINE_ID = "quarantine_id"
quarantine_t = cast(Table, Quarantine.__table__)


class QuarantineError(LifesignError):
    """A quarantine command cannot do what was asked."""


@dataclass(frozen=True)
class Entry:
    quarantine_id: int
    batch_id: int
    source: str
    file: str | None
    row: int | None
    field: str | None
    value_masked: str | None
    reason: str
    message: str | None
    status: str
    resolved_batch_id: int | None
    note: str | None
    raw_record: str | None
    created_at: dt.datetime | None


def _entry(row: Any) -> Entry:
    return Entry(**{name: getattr(row, name) for name in Entry.__dataclass_fields__})


def list_entries(
    engine: Engine,
    *,
    source: str | None = None,
    reason: str | None = None,
    status: str | None = "open",
    limit: int | None = None,
) -> list[Entry]:
    query = select(quarantine_t).order_by(quarantine_t.c.quarantine_id)
    if source:
        query = query.where(quarantine_t.c.source == source)
    if reason:
        query = query.where(quarantine_t.c.reason == reason)
    if status:
        query = query.where(quarantine_t.c.status == status)
    if limit:
        query = query.limit(limit)
    with engine.connect() as connection:
        return [_entry(row) for row in connection.execute(query)]


def count_by_reason(engine: Engine, *, status: str | None = "open") -> list[tuple[str, str, int]]:
    query = (
        select(quarantine_t.c.source, quarantine_t.c.reason, func.count())
        .group_by(quarantine_t.c.source, quarantine_t.c.reason)
        .order_by(quarantine_t.c.source, quarantine_t.c.reason)
    )
    if status:
        query = query.where(quarantine_t.c.status == status)
    with engine.connect() as connection:
        return [(s, r, int(n)) for s, r, n in connection.execute(query)]


def get_entry(engine: Engine, quarantine_id: int) -> Entry:
    with engine.connect() as connection:
        row = connection.execute(
            select(quarantine_t).where(quarantine_t.c.quarantine_id == quarantine_id)
        ).first()
    if row is None:
        raise QuarantineError(
            f"no quarantine entry {quarantine_id}",
            "lifesign quarantine list shows the entries",
            Location(key=str(quarantine_id)),
        )
    return _entry(row)


def masked_raw(raw: str | None, source: SourceDefinition | None) -> dict[str, Any] | None:
    """The raw record with the department's ID number, phone and name columns masked."""
    if raw is None:
        return None
    try:
        record = json.loads(raw)
    except json.JSONDecodeError:
        return {"raw": "(not JSON)"}
    if not isinstance(record, dict):
        return {"raw": "(not an object)"}
    personal = {}
    if source is not None:
        personal = {
            column: canonical
            for canonical, column in source.columns.items()
            if canonical in ("id_number", "phone", "name", "birth_date")
        }
    shown: dict[str, Any] = {}
    for column, value in record.items():
        canonical = personal.get(column)
        if canonical == "birth_date" and isinstance(value, str):
            shown[column] = value[:4] + "-**-**" if value else value
        elif canonical is not None and isinstance(value, str):
            shown[column] = mask_value(canonical, value)
        else:
            shown[column] = value
    return shown


def dismiss(engine: Engine, quarantine_id: int, reason: str) -> Entry:
    entry = get_entry(engine, quarantine_id)
    if entry.status != "open":
        raise QuarantineError(
            f"quarantine entry {quarantine_id} is {entry.status}, not open",
            "only open entries can be dismissed",
            Location(key=str(quarantine_id)),
        )
    with engine.begin() as connection:
        connection.execute(
            update(quarantine_t)
            .where(quarantine_t.c.quarantine_id == quarantine_id)
            .values(status="dismissed", note=reason, updated_at=dt.datetime.now(dt.UTC))
        )
    return get_entry(engine, quarantine_id)


# ---------------------------------------------------------------------------------------------
# Export for correction, and retry.


def export(engine: Engine, source: str, out: Path, *, reason: str | None = None) -> tuple[int, int]:
    """Write the open entries of `source` that have a raw record as CSV (UTF-8 with BOM, so a
    spreadsheet opens it): the department's own columns, then `quarantine_id`. Returns
    (entries written, entries left out because nothing of the record could be read)."""
    entries = list_entries(engine, source=source, reason=reason, status="open")
    records: list[tuple[int, dict[str, Any]]] = []
    columns: list[str] = []
    skipped = 0
    for entry in entries:
        try:
            record = json.loads(entry.raw_record) if entry.raw_record else None
        except json.JSONDecodeError:
            record = None
        if not isinstance(record, dict):
            skipped += 1
            continue
        for column in record:
            if column not in columns and column != QUARANTINE_ID:
                columns.append(column)
        records.append((entry.quarantine_id, record))
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("w", encoding="utf-8-sig", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow([*columns, QUARANTINE_ID])
        for quarantine_id, record in records:
            writer.writerow(
                [_cell(record.get(column)) for column in columns] + [str(quarantine_id)]
            )
    return len(records), skipped


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False)


def retry_source(source: SourceDefinition) -> SourceDefinition:
    """The definition that reads an exported CSV of `source`: same columns, types and date
    formats; CSV with the encoding detected."""
    return dataclasses.replace(source, format="csv", encoding="auto", sheet=None, pull=None)


@dataclass
class RetryReport:
    batch: BatchReport
    resolved: int
    still_open: int
    skipped: int  # rows whose quarantine_id is unknown or no longer open


def retry(
    ingestor: Ingestor,
    path: Path,
    sources: Mapping[str, SourceDefinition],
    *,
    source_code: str | None = None,
) -> RetryReport:
    """Re-ingest a corrected export as one batch of kind `retry`."""
    if not path.is_file():
        raise QuarantineError("no such file", "give the corrected export", Location(file=str(path)))
    with path.open(encoding="utf-8-sig", newline="") as handle:
        header = next(csv.reader(handle), [])
    if QUARANTINE_ID not in header:
        raise QuarantineError(
            f"the file has no {QUARANTINE_ID} column",
            "retry takes a file written by lifesign quarantine export, corrected",
            Location(file=path.name, line=1),
        )
    named = _named_entries(ingestor.engine, path)
    codes = {code for code, _ in named.values()}
    if source_code is None:
        if len(codes) != 1:
            raise QuarantineError(
                "cannot tell which source the file is of",
                "its entries are of "
                + (", ".join(sorted(codes)) if codes else "no source")
                + "; give --source",
                Location(file=path.name),
            )
        source_code = codes.pop()
    if source_code not in sources:
        raise QuarantineError(
            f"unknown source {source_code!r}", "see lifesign/ingest/data/sources/", Location()
        )
    source = sources[source_code]
    wanted = {
        qid for qid, (code, status) in named.items() if code == source_code and status == "open"
    }
    row_to_id: dict[int, int] = {}
    skipped = [0]
    sha256, size = file_digest(path)

    def chunks() -> Iterator[RawChunk]:
        for chunk in read_records(retry_source(source), path):
            yield _strip_quarantine_ids(chunk, wanted, row_to_id, skipped)

    outcomes = RowOutcomes()
    report = ingestor.ingest_chunks(
        source,
        chunks(),
        kind="retry",
        origin=str(path),
        content_hash=sha256,
        size_bytes=size,
        quarantine_ids=row_to_id,
        outcomes=outcomes,
    )
    resolved = sum(1 for row in outcomes.accepted if row in row_to_id) + sum(
        1 for row in outcomes.dropped if row in row_to_id
    )
    return RetryReport(
        batch=report,
        resolved=resolved,
        still_open=report.rejected,
        skipped=skipped[0],
    )


def _named_entries(engine: Engine, path: Path) -> dict[int, tuple[str, str]]:
    """quarantine_id -> (source, status) of the entries the file names."""
    ids: set[int] = set()
    with path.open(encoding="utf-8-sig", newline="") as handle:
        for record in csv.DictReader(handle):
            text = (record.get(QUARANTINE_ID) or "").strip()
            if text.isdigit():
                ids.add(int(text))
    found: dict[int, tuple[str, str]] = {}
    listed = sorted(ids)
    with engine.connect() as connection:
        for start in range(0, len(listed), 1000):
            part = listed[start : start + 1000]
            for qid, code, status in connection.execute(
                select(
                    quarantine_t.c.quarantine_id, quarantine_t.c.source, quarantine_t.c.status
                ).where(quarantine_t.c.quarantine_id.in_(part))
            ):
                found[int(qid)] = (code, status)
    return found


def _strip_quarantine_ids(
    chunk: RawChunk, wanted: set[int], row_to_id: dict[int, int], skipped: list[int]
) -> RawChunk:
    """Keep the rows whose quarantine_id is open, remember row -> id, drop the column from the
    raw record (it is ours, not the department's)."""
    table = chunk.table
    if not table.num_rows:
        return chunk
    raws = table.column("raw").to_pylist()
    rows = table.column("row").to_pylist()
    keep: list[bool] = []
    cleaned: list[str | None] = []
    for row, raw in zip(rows, raws, strict=True):
        record = json.loads(raw) if raw else {}
        text = str(record.pop(QUARANTINE_ID, "") or "").strip()
        qid = int(text) if text.isdigit() else None
        if qid is None or qid not in wanted:
            keep.append(False)
            skipped[0] += 1
        else:
            keep.append(True)
            row_to_id[int(row)] = qid
        cleaned.append(json.dumps(record, ensure_ascii=False, separators=(",", ":")))
    table = table.set_column(table.column_names.index("raw"), "raw", pa.array(cleaned, pa.string()))
    table = table.filter(pc.equal(pa.array(keep), True))
    return RawChunk(table=table, problems=chunk.problems)
