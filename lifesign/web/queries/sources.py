"""The data sources page: per department feed, what arrived, what was rejected, how many
certifications it carries, and what the guard thinks of it.

- records per day: `source_arrivals` (the as-of day each committed batch was first seen by a
  run, so a replayed city shows its own calendar, not the replay's wall clock);
- last batch: the newest row of `batches` of the source (file, status, counts);
- reject rate by reason: the counts of the batches that arrived in the window, plus the open
  quarantine backlog by reason;
- coverage: recipients currently certified silently on the source's evidence (shared with the
  overview's cached figures);
- health: `lifesign.lifecycle.guard.assess_sources` (stale / collapsed / learning / ok).
"""

from __future__ import annotations

import datetime as dt
import json
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import PurePath
from typing import Any, cast

from sqlalchemy import Connection, Table, func, select

from lifesign.catalog import Catalog
from lifesign.ingest.pipeline import BATCH_KINDS
from lifesign.lifecycle.guard import SourceHealth, assess_sources
from lifesign.lifecycle.models import Run, SourceArrival
from lifesign.lifecycle.parameters import load_guard_parameters
from lifesign.store.models import Batch, Quarantine
from lifesign.web.queries.common import as_date, data_date, source_definitions
from lifesign.web.queries.overview import Scope, overview_if_ready
from lifesign.web.queries.parameters import page_parameters

arrivals_t = cast(Table, SourceArrival.__table__)
batches_t = cast(Table, Batch.__table__)
quarantine_t = cast(Table, Quarantine.__table__)
runs_t = cast(Table, Run.__table__)


@dataclass(frozen=True)
class LastBatch:
    batch_id: int
    kind: str
    file_name: str | None  # the file's name only (never the server's folders)
    started_at: dt.datetime | None
    finished_at: dt.datetime | None
    status: str
    read: int
    accepted: int
    rejected: int
    duplicate: int
    not_recipient: int
    message: str | None
    arrived_on: dt.date | None  # the data day a run first saw it (None: not yet)


@dataclass
class SourceRow:
    """One source: the figures of the sources table and of its own page."""

    code: str
    name: str
    department: str
    health: SourceHealth | None
    last_batch: LastBatch | None = None
    records_window: int = 0  # records arrived in the chart window
    daily: list[tuple[dt.date, int]] = field(default_factory=list)
    read_window: int = 0
    rejected_window: int = 0
    rejected_by_reason: list[tuple[str, int]] = field(default_factory=list)
    open_quarantine: int = 0
    quarantine_by_reason: list[tuple[str, int]] = field(default_factory=list)
    coverage: int | None = 0  # recipients certified silently on its evidence (None: counting)

    @property
    def reject_rate(self) -> float | None:
        return self.rejected_window / self.read_window if self.read_window else None

    @property
    def state(self) -> str:
        return self.health.state if self.health is not None else "silent"


@dataclass(frozen=True)
class SourcesReport:
    as_of: dt.date
    window_days: int
    chart_days: int
    sources: tuple[SourceRow, ...]
    warnings: tuple[str, ...]  # the latest run's guard warnings (in the run's words)
    silent_certified: int | None  # whole city, for the coverage shares (None: counting)

    def get(self, code: str) -> SourceRow | None:
        for row in self.sources:
            if row.code == code:
                return row
        return None


def _file_name(value: str | None) -> str | None:
    return PurePath(value).name if value else None


def _counts(value: Any) -> dict[str, Any]:
    if isinstance(value, dict):
        return value
    if isinstance(value, str) and value:
        loaded = json.loads(value)
        return loaded if isinstance(loaded, dict) else {}
    return {}


def _daily(
    connection: Connection, codes: Iterable[str], since: dt.date, as_of: dt.date
) -> dict[str, dict[dt.date, int]]:
    query = (
        select(arrivals_t.c.source, arrivals_t.c.arrived_on, func.sum(arrivals_t.c.records))
        .where(
            arrivals_t.c.source.in_(sorted(codes)),
            arrivals_t.c.arrived_on > since,
            arrivals_t.c.arrived_on <= as_of,
        )
        .group_by(arrivals_t.c.source, arrivals_t.c.arrived_on)
    )
    found: dict[str, dict[dt.date, int]] = defaultdict(dict)
    for source, day, records in connection.execute(query):
        date = as_date(day)
        if date is not None:
            found[str(source)][date] = int(records or 0)
    return found


def _last_batches(connection: Connection, codes: Iterable[str]) -> dict[str, LastBatch]:
    newest = (
        select(func.max(batches_t.c.batch_id))
        .where(batches_t.c.kind.in_(BATCH_KINDS), batches_t.c.source.in_(sorted(codes)))
        .group_by(batches_t.c.source)
    )
    query = (
        select(batches_t, arrivals_t.c.arrived_on)
        .select_from(batches_t.outerjoin(arrivals_t, arrivals_t.c.batch_id == batches_t.c.batch_id))
        .where(batches_t.c.batch_id.in_(newest))
    )
    found: dict[str, LastBatch] = {}
    for row in connection.execute(query).mappings():
        counts = _counts(row["counts"])
        found[str(row["source"])] = LastBatch(
            batch_id=int(row["batch_id"]),
            kind=str(row["kind"]),
            file_name=_file_name(row["file_name"]),
            started_at=row["started_at"],
            finished_at=row["finished_at"],
            status=str(row["status"]),
            read=int(counts.get("read", 0)),
            accepted=int(counts.get("accepted", 0)),
            rejected=int(counts.get("rejected", 0)),
            duplicate=int(counts.get("duplicate", 0)),
            not_recipient=int(counts.get("not_recipient", 0)),
            message=row["message"],
            arrived_on=as_date(row["arrived_on"]),
        )
    return found


def _rejects(
    connection: Connection, codes: Iterable[str], since: dt.date, as_of: dt.date
) -> dict[str, tuple[int, int, dict[str, int]]]:
    """Per source: records read, rejected, and rejected by reason, in the window's batches."""
    query = (
        select(batches_t.c.source, batches_t.c.counts)
        .select_from(batches_t.join(arrivals_t, arrivals_t.c.batch_id == batches_t.c.batch_id))
        .where(
            arrivals_t.c.source.in_(sorted(codes)),
            arrivals_t.c.arrived_on > since,
            arrivals_t.c.arrived_on <= as_of,
        )
    )
    found: dict[str, tuple[int, int, dict[str, int]]] = {}
    for source, raw in connection.execute(query):
        counts = _counts(raw)
        read, rejected, reasons = found.get(str(source), (0, 0, {}))
        for reason, n in _counts(counts.get("rejected_by_reason")).items():
            reasons[str(reason)] = reasons.get(str(reason), 0) + int(n)
        found[str(source)] = (
            read + int(counts.get("read", 0)),
            rejected + int(counts.get("rejected", 0)),
            reasons,
        )
    return found


def _quarantine(connection: Connection, codes: Iterable[str]) -> dict[str, dict[str, int]]:
    query = (
        select(quarantine_t.c.source, quarantine_t.c.reason, func.count())
        .where(quarantine_t.c.source.in_(sorted(codes)), quarantine_t.c.status == "open")
        .group_by(quarantine_t.c.source, quarantine_t.c.reason)
    )
    found: dict[str, dict[str, int]] = defaultdict(dict)
    for source, reason, n in connection.execute(query):
        found[str(source)][str(reason)] = int(n)
    return found


def _top(reasons: dict[str, int], limit: int) -> list[tuple[str, int]]:
    ordered = sorted(reasons.items(), key=lambda item: (-item[1], item[0]))
    if len(ordered) <= limit:
        return ordered
    return [*ordered[: limit - 1], ("other", sum(n for _, n in ordered[limit - 1 :]))]


def latest_guard_warnings(connection: Connection) -> tuple[str, ...]:
    guard = connection.execute(
        select(runs_t.c.guard)
        .where(runs_t.c.status == "finished")
        .order_by(runs_t.c.as_of.desc())
        .limit(1)
    ).scalar_one_or_none()
    warnings = _counts(guard).get("warnings") or []
    return tuple(str(w) for w in warnings)


def sources_report(
    connection: Connection,
    catalog: Catalog,
    sources: frozenset[str] | None,
    *,
    only: str | None = None,
) -> SourcesReport:
    """Every source in `sources` (None: all of the city's), or just `only`."""
    parameters = page_parameters().sources
    as_of = data_date(connection)
    definitions = source_definitions(catalog)
    codes = sorted(code for code in definitions if sources is None or code in sources)
    if only is not None:
        codes = [code for code in codes if code == only]
    health = {h.source: h for h in assess_sources(connection, as_of, load_guard_parameters())}
    chart_since = as_of - dt.timedelta(days=parameters.chart_days)
    window_since = as_of - dt.timedelta(days=parameters.reject_window_days)
    daily = _daily(connection, codes, chart_since, as_of)
    last = _last_batches(connection, codes)
    rejects = _rejects(connection, codes, window_since, as_of)
    backlog = _quarantine(connection, codes)
    figures = overview_if_ready(connection, catalog, Scope())
    coverage = (
        {} if figures is None else {code: n for d in figures.departments for code, n in d.sources}
    )
    rows = []
    for code in codes:
        definition = definitions[code]
        per_day = daily.get(code, {})
        days = [
            chart_since + dt.timedelta(days=offset)
            for offset in range(1, parameters.chart_days + 1)
        ]
        read, rejected, reasons = rejects.get(code, (0, 0, {}))
        queued = backlog.get(code, {})
        rows.append(
            SourceRow(
                code=code,
                name=definition.name_zh,
                department=definition.department,
                health=health.get(code),
                last_batch=last.get(code),
                records_window=sum(per_day.values()),
                daily=[(day, per_day.get(day, 0)) for day in days],
                read_window=read,
                rejected_window=rejected,
                rejected_by_reason=_top(reasons, parameters.top_reasons),
                open_quarantine=sum(queued.values()),
                quarantine_by_reason=_top(queued, parameters.top_reasons),
                coverage=None if figures is None else coverage.get(code, 0),
            )
        )
    return SourcesReport(
        as_of=as_of,
        window_days=parameters.reject_window_days,
        chart_days=parameters.chart_days,
        sources=tuple(rows),
        warnings=latest_guard_warnings(connection),
        silent_certified=None if figures is None else figures.total.certified["auto"],
    )
