"""The quarantine browser: rejected evidence records, for the data managers of their sources.

    page = quarantine_list(connection, principal, QuarantineFilter(source="yibao_settle"))
    counts = quarantine_counts(connection, principal, status="open")   # by source and reason
    entry = quarantine_entry(connection, principal, sources, 42)        # None when out of scope

Values are shown masked only: `value_masked` as ingestion stored it, and the raw record through
`lifesign.ingest.quarantine.masked_raw` (ID number, phone, name and birth date columns masked),
exactly as `lifesign quarantine show` prints them. Scope: `sources_scope` (a data manager sees
the entries of their department's sources; an admin or an auditor every source).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

from sqlalchemy import ColumnElement, Connection, Table, func, select

from lifesign.ingest.quarantine import masked_raw
from lifesign.ingest.sources import SourceDefinition
from lifesign.ingest.validate import ALL_REASONS
from lifesign.store.models import Quarantine
from lifesign.web.auth import Principal
from lifesign.web.permissions import sources_scope
from lifesign.web.queries.keyset import Page, newest_first, page_of, page_size

__all__ = [
    "QUARANTINE_STATUSES",
    "QuarantineFilter",
    "QuarantineRow",
    "ShownEntry",
    "quarantine_counts",
    "quarantine_entry",
    "quarantine_list",
    "visible_sources",
]

QUARANTINE_STATUSES = ("open", "resolved", "dismissed")
quarantine_t = cast(Table, Quarantine.__table__)


@dataclass(frozen=True)
class QuarantineFilter:
    source: str | None = None
    reason: str | None = None
    status: str | None = "open"  # None: every status
    batch_id: int | None = None
    since: dt.date | None = None  # rejected on or after
    until: dt.date | None = None  # rejected on or before


@dataclass(frozen=True)
class QuarantineRow:
    quarantine_id: int
    batch_id: int
    source: str
    file_name: str  # the file's name only, never the folder it came from
    row: int | None
    field: str | None
    value_masked: str | None
    reason: str
    status: str
    created_at: dt.datetime | None


@dataclass(frozen=True)
class ShownEntry(QuarantineRow):
    """A listed row and what its own page adds."""

    message: str | None
    resolved_batch_id: int | None
    note: str | None
    raw_masked: Mapping[str, Any] | None  # the department's record, personal columns masked
    field_column: str | None = None  # the department's column that holds `field`

    @property
    def is_open(self) -> bool:
        return self.status == "open"


def _scope(principal: Principal) -> ColumnElement[bool] | None:
    sources = sources_scope(principal)
    return None if sources is None else quarantine_t.c.source.in_(sorted(sources))


def visible_sources(principal: Principal, known: Mapping[str, SourceDefinition]) -> list[str]:
    """The source codes the principal may filter by, sorted."""
    sources = sources_scope(principal)
    return sorted(known if sources is None else (s for s in sources))


def _conditions(principal: Principal, wanted: QuarantineFilter) -> list[ColumnElement[bool]]:
    conditions: list[ColumnElement[bool]] = []
    scope = _scope(principal)
    if scope is not None:
        conditions.append(scope)
    if wanted.source:
        conditions.append(quarantine_t.c.source == wanted.source)
    if wanted.status in QUARANTINE_STATUSES:
        conditions.append(quarantine_t.c.status == wanted.status)
    if wanted.reason:
        conditions.append(quarantine_t.c.reason == wanted.reason)
    if wanted.batch_id is not None:
        conditions.append(quarantine_t.c.batch_id == wanted.batch_id)
    if wanted.since is not None:
        start = dt.datetime.combine(wanted.since, dt.time.min, tzinfo=dt.UTC)
        conditions.append(quarantine_t.c.created_at >= start)
    if wanted.until is not None:
        end = dt.datetime.combine(wanted.until + dt.timedelta(days=1), dt.time.min, tzinfo=dt.UTC)
        conditions.append(quarantine_t.c.created_at < end)
    return conditions


def _listed_fields(r: Any) -> dict[str, Any]:
    """A QuarantineRow's fields from a row of the table (the file's name only, never the
    folder it came from)."""
    return {
        "quarantine_id": int(r.quarantine_id),
        "batch_id": int(r.batch_id),
        "source": r.source,
        "file_name": Path(r.file).name if r.file else "",
        "row": None if r.row is None else int(r.row),
        "field": r.field,
        "value_masked": r.value_masked,
        "reason": r.reason,
        "status": r.status,
        "created_at": r.created_at,
    }


def quarantine_list(
    connection: Connection,
    principal: Principal,
    wanted: QuarantineFilter,
    *,
    before: int | None = None,
    size: int | None = None,
) -> Page[QuarantineRow]:
    """Entries newest first, filtered and scoped, one keyset page."""
    size = page_size(size)
    conditions = _conditions(principal, wanted)
    total = connection.execute(
        select(func.count()).select_from(quarantine_t).where(*conditions)
    ).scalar_one()
    query = newest_first(
        select(
            quarantine_t.c.quarantine_id,
            quarantine_t.c.batch_id,
            quarantine_t.c.source,
            quarantine_t.c.file,
            quarantine_t.c.row,
            quarantine_t.c.field,
            quarantine_t.c.value_masked,
            quarantine_t.c.reason,
            quarantine_t.c.status,
            quarantine_t.c.created_at,
        ).where(*conditions),
        quarantine_t.c.quarantine_id,
        before,
        size,
    )
    out = [QuarantineRow(**_listed_fields(r)) for r in connection.execute(query)]
    return page_of(out, lambda row: row.quarantine_id, int(total), size, before)


def quarantine_counts(
    connection: Connection, principal: Principal, *, status: str | None = "open"
) -> list[tuple[str, str, int]]:
    """(source, reason, entries) in the principal's scope — the same figures as
    `lifesign quarantine list` prints below its table."""
    query = (
        select(quarantine_t.c.source, quarantine_t.c.reason, func.count())
        .group_by(quarantine_t.c.source, quarantine_t.c.reason)
        .order_by(quarantine_t.c.source, quarantine_t.c.reason)
    )
    scope = _scope(principal)
    if scope is not None:
        query = query.where(scope)
    if status in QUARANTINE_STATUSES:
        query = query.where(quarantine_t.c.status == status)
    return [(str(s), str(r), int(n)) for s, r, n in connection.execute(query)]


def quarantine_reasons(counts: list[tuple[str, str, int]]) -> list[str]:
    """The reasons to filter by: every reason validation gives, and any other found among the
    open entries (a plugin's reason) — without a DISTINCT scan of a table that holds every
    rejected record of the city."""
    found = {reason for _, reason, _ in counts}
    return [*ALL_REASONS, *sorted(found - set(ALL_REASONS))]


def quarantine_entry(
    connection: Connection,
    principal: Principal,
    sources: Mapping[str, SourceDefinition],
    quarantine_id: int,
) -> ShownEntry | None:
    """One entry, masked; None when it does not exist or its source is out of scope."""
    query = select(quarantine_t).where(quarantine_t.c.quarantine_id == quarantine_id)
    scope = _scope(principal)
    if scope is not None:
        query = query.where(scope)
    row = connection.execute(query).first()
    if row is None:
        return None
    definition = sources.get(row.source)
    return ShownEntry(
        **_listed_fields(row),
        message=row.message,
        resolved_batch_id=None if row.resolved_batch_id is None else int(row.resolved_batch_id),
        note=row.note,
        raw_masked=masked_raw(row.raw_record, definition),
        field_column=definition.columns.get(row.field) if definition and row.field else None,
    )
