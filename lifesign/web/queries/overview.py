"""The overview's figures: recipients, how they are certified, who is due, suspended or
terminated, by region, program and department, and the silent-certification trend.

Everything is computed by a handful of GROUP BY queries over the state database (no row per
person ever reaches Python: at Bozhou scale 1.36 M persons fold into a few thousand groups,
one per grid and category) and cached in process per (scope, data version): the figures are
recomputed only when a run, a decision, a status change or a batch has landed
(`common.data_version`). The cached computation takes about a second at Bozhou scale; a cache
hit costs the version query (four primary-key maxima).

A *recipient* is a person with at least one active or suspended enrollment (in the scope's
programs). *Certified* means alive and `valid_until` on or after the data date, counted by the
channel of the latest certification; *not yet* is every other recipient. *Terminated* counts
persons all of whose enrollments (in scope) have ended.
"""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections import OrderedDict, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, cast

from sqlalchemy import (
    Connection,
    Select,
    Table,
    and_,
    case,
    func,
    literal,
    null,
    or_,
    select,
)
from sqlalchemy.sql.elements import ColumnElement

from lifesign.catalog import Catalog
from lifesign.certify.models import Decision, EvidenceSummary, PersonStateRow
from lifesign.store.models import Enrollment, Person
from lifesign.web.queries.common import (
    DataVersion,
    as_date,
    data_date,
    data_version,
    month_start,
    source_department,
)
from lifesign.web.queries.parameters import page_parameters

people_t = cast(Table, Person.__table__)
enrollments_t = cast(Table, Enrollment.__table__)
state_t = cast(Table, PersonStateRow.__table__)
summary_t = cast(Table, EvidenceSummary.__table__)
decisions_t = cast(Table, Decision.__table__)

# How a recipient's current certification is counted (`other`: certified before go-live with
# no channel recorded). `none` is "not yet".
CERTIFICATION_KINDS = ("auto", "self_service", "counter", "home_visit", "other", "none")
CERTIFIED_KINDS = CERTIFICATION_KINDS[:-1]
CHANNELS = ("auto", "self_service", "counter", "home_visit")


@dataclass(frozen=True)
class Scope:
    """Which persons the figures count: programs (None: all) and grids (None: all)."""

    programs: frozenset[str] | None = None
    grids: frozenset[str] | None = None

    @property
    def key(self) -> tuple[tuple[str, ...] | None, tuple[str, ...] | None]:
        return (
            None if self.programs is None else tuple(sorted(self.programs)),
            None if self.grids is None else tuple(sorted(self.grids)),
        )


@dataclass
class Counts:
    """The figures of one group of recipients (the city, a region, ...)."""

    recipients: int = 0
    certified: dict[str, int] = field(default_factory=lambda: dict.fromkeys(CERTIFICATION_KINDS, 0))
    due: dict[int, int] = field(default_factory=dict)  # horizon days → recipients due within
    suspended: int = 0
    terminated: int = 0
    deceased: int = 0

    @property
    def certified_total(self) -> int:
        return sum(self.certified[kind] for kind in CERTIFIED_KINDS)

    @property
    def not_yet(self) -> int:
        return self.certified["none"]

    @property
    def silent(self) -> int:
        return self.certified["auto"]

    def share(self, value: int) -> float | None:
        return value / self.recipients if self.recipients else None

    @property
    def certified_share(self) -> float | None:
        return self.share(self.certified_total)

    @property
    def silent_share(self) -> float | None:
        """Share of the certified who were certified silently (the platform's headline)."""
        total = self.certified_total
        return self.certified["auto"] / total if total else None

    def add(self, other: Counts) -> None:
        self.recipients += other.recipients
        for kind, n in other.certified.items():
            self.certified[kind] = self.certified.get(kind, 0) + n
        for days, n in other.due.items():
            self.due[days] = self.due.get(days, 0) + n
        self.suspended += other.suspended
        self.terminated += other.terminated
        self.deceased += other.deceased


@dataclass(frozen=True)
class RegionCounts:
    code: str
    name: str
    level: str
    counts: Counts
    has_children: bool


@dataclass(frozen=True)
class ProgramCounts:
    code: str
    active: int
    suspended: int
    terminated: int
    certified: int  # live enrollments whose person is certified
    silent: int  # ... certified silently

    @property
    def live(self) -> int:
        return self.active + self.suspended

    @property
    def certified_share(self) -> float | None:
        return self.certified / self.live if self.live else None


@dataclass(frozen=True)
class DepartmentCounts:
    """Recipients currently certified silently on a department's evidence (by source)."""

    department: str
    certified: int
    sources: tuple[tuple[str, int], ...]


@dataclass(frozen=True)
class TrendMonth:
    month: str  # YYYY-MM
    by_channel: dict[str, int]

    @property
    def total(self) -> int:
        return sum(self.by_channel.values())

    @property
    def silent_share(self) -> float | None:
        return self.by_channel.get("auto", 0) / self.total if self.total else None


@dataclass(frozen=True)
class Overview:
    as_of: dt.date
    version: DataVersion
    horizons: tuple[int, ...]
    total: Counts
    regions: dict[str, Counts]  # every region code (county, township, village, grid) → counts
    unplaced: Counts  # recipients whose grid is not in the catalog's region tree
    programs: tuple[ProgramCounts, ...]
    departments: tuple[DepartmentCounts, ...]
    trend: tuple[TrendMonth, ...]
    computed_seconds: float

    def children(self, catalog: Catalog, code: str | None) -> list[RegionCounts]:
        """The regions one level below `code` (None: the counties) that have recipients."""
        tree = catalog.regions
        below = tree.counties if code is None else tree.children(code)
        found = []
        for region in below:
            counts = self.regions.get(region.code)
            if counts is None:
                continue
            found.append(
                RegionCounts(
                    region.code,
                    region.name_zh,
                    region.level,
                    counts,
                    bool(tree.children(region.code)) and region.level != "village",
                )
            )
        return sorted(found, key=lambda r: r.code)

    def region(self, code: str) -> Counts:
        return self.regions.get(code) or Counts(due=dict.fromkeys(self.horizons, 0))


# --------------------------------------------------------------------------------- queries


def _recipients(scope: Scope) -> Select[Any]:
    """Per person in scope: whether any enrollment is active / suspended / terminated."""

    def flag(status: str) -> ColumnElement[Any]:
        return func.max(case((enrollments_t.c.status == status, 1), else_=0))

    query = select(
        enrollments_t.c.person_id,
        flag("active").label("has_active"),
        flag("suspended").label("has_suspended"),
    ).group_by(enrollments_t.c.person_id)
    if scope.programs is not None:
        query = query.where(enrollments_t.c.program.in_(sorted(scope.programs)))
    return query


def _certification(as_of: dt.date) -> ColumnElement[Any]:
    valid = and_(state_t.c.status == "alive", state_t.c.valid_until >= as_of)
    return case(
        (and_(valid, state_t.c.channel.in_(CHANNELS)), state_t.c.channel),
        (valid, literal("other")),
        else_=literal("none"),
    )


def _due_bucket(as_of: dt.date, horizons: tuple[int, ...]) -> ColumnElement[Any]:
    """The index of the shortest horizon the certification expires within, else 0."""
    alive = and_(state_t.c.status == "alive", state_t.c.valid_until >= as_of)
    whens = [
        (and_(alive, state_t.c.valid_until <= as_of + dt.timedelta(days=days)), index + 1)
        for index, days in enumerate(horizons)
    ]
    return case(*whens, else_=0)


def _per_grid(
    connection: Connection, scope: Scope, as_of: dt.date, horizons: tuple[int, ...]
) -> list[Any]:
    """One row per (grid, live, suspended, certification, due bucket, deceased, source of a
    silent certification) with its count.

    The per-person values are computed once in an inner query and grouped by plain columns
    outside: grouping by the CASE expressions themselves made SQLite evaluate each twice. The
    source of each silent certification rides along — every strong record pushes a
    certification forward, so the latest strong record (the evidence summary's) is the one a
    current silent certification rests on — and one pass over the persons gives the
    departments' figures too.
    """
    recipients = _recipients(scope).subquery("r")
    live = or_(recipients.c.has_active == 1, recipients.c.has_suspended == 1)
    certification = _certification(as_of)
    per_person = select(
        people_t.c.grid_code.label("grid_code"),
        case((live, 1), else_=0).label("live"),
        recipients.c.has_suspended.label("suspended"),
        certification.label("certification"),
        _due_bucket(as_of, horizons).label("due"),
        case((state_t.c.status == "deceased", 1), else_=0).label("deceased"),
        case((certification == "auto", _source_of_ref(connection)), else_=null()).label("source"),
    ).select_from(
        recipients.join(people_t, people_t.c.person_id == recipients.c.person_id)
        .outerjoin(state_t, state_t.c.person_id == recipients.c.person_id)
        .outerjoin(summary_t, summary_t.c.person_id == recipients.c.person_id)
    )
    if scope.grids is not None:
        per_person = per_person.where(people_t.c.grid_code.in_(sorted(scope.grids)))
    rows = per_person.subquery("per_person")
    keys = (
        rows.c.grid_code,
        rows.c.live,
        rows.c.suspended,
        rows.c.certification,
        rows.c.due,
        rows.c.deceased,
        rows.c.source,
    )
    return list(connection.execute(select(*keys, func.count()).group_by(*keys)))


def _fold(
    rows: Iterable[Any], horizons: tuple[int, ...]
) -> tuple[dict[str | None, Counts], dict[str, int]]:
    """The per-grid rows folded into one Counts per grid, and the silent certifications of
    live recipients by source."""
    grids: dict[str | None, Counts] = {}
    by_source: dict[str, int] = defaultdict(int)
    for grid, live, suspended, certification, due, deceased, source, n in rows:
        counts = grids.get(grid)
        if counts is None:
            counts = grids[grid] = Counts(due=dict.fromkeys(horizons, 0))
        n = int(n)
        if not live:
            counts.terminated += n
            counts.deceased += n if deceased else 0
            continue
        counts.recipients += n
        counts.certified[str(certification)] += n
        counts.suspended += n if suspended else 0
        counts.deceased += n if deceased else 0
        if source:
            by_source[str(source)] += n
        if due:  # due within the horizon of that index, hence within every longer one
            for days in horizons[int(due) - 1 :]:
                counts.due[days] += n
    return grids, dict(by_source)


def _roll_up(
    catalog: Catalog, grids: dict[str | None, Counts], horizons: tuple[int, ...]
) -> tuple[Counts, dict[str, Counts], Counts]:
    total = Counts(due=dict.fromkeys(horizons, 0))
    unplaced = Counts(due=dict.fromkeys(horizons, 0))
    regions: dict[str, Counts] = {}
    tree = catalog.regions
    for grid, counts in grids.items():
        total.add(counts)
        if grid is None or grid not in tree.by_code:
            unplaced.add(counts)
            continue
        for region in tree.ancestors(grid):
            regions.setdefault(region.code, Counts(due=dict.fromkeys(horizons, 0))).add(counts)
    return total, regions, unplaced


def _programs(
    connection: Connection, catalog: Catalog, scope: Scope, as_of: dt.date
) -> tuple[ProgramCounts, ...]:
    certification = _certification(as_of)
    query = (
        select(
            enrollments_t.c.program,
            enrollments_t.c.status,
            certification.label("certification"),
            func.count().label("n"),
        )
        .select_from(
            enrollments_t.outerjoin(state_t, state_t.c.person_id == enrollments_t.c.person_id)
        )
        .group_by(enrollments_t.c.program, enrollments_t.c.status, certification)
    )
    if scope.programs is not None:
        query = query.where(enrollments_t.c.program.in_(sorted(scope.programs)))
    if scope.grids is not None:
        query = query.where(
            enrollments_t.c.person_id.in_(
                select(people_t.c.person_id).where(people_t.c.grid_code.in_(sorted(scope.grids)))
            )
        )
    table: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for program, status, kind, n in connection.execute(query):
        row = table[str(program)]
        row[str(status)] += int(n)
        if status in ("active", "suspended") and kind != "none":
            row["certified"] += int(n)
            if kind == "auto":
                row["silent"] += int(n)
    order = {code: index for index, code in enumerate(catalog.programs)}
    return tuple(
        ProgramCounts(
            code,
            row["active"],
            row["suspended"],
            row["terminated"],
            row["certified"],
            row["silent"],
        )
        for code, row in sorted(table.items(), key=lambda item: (order.get(item[0], 999), item[0]))
    )


def _source_of_ref(connection: Connection) -> ColumnElement[Any]:
    """The source code inside an evidence_summary reference ("time|source|type|record")."""
    ref = summary_t.c.strong_ref
    if connection.dialect.name == "postgresql":
        return func.split_part(ref, "|", 2)
    # SQLite: the time is 19 characters and a bar, so the source starts at character 21.
    rest = func.substr(ref, 21)
    return func.substr(rest, 1, func.instr(rest, "|") - 1)


def _departments(catalog: Catalog, by_source: dict[str, int]) -> tuple[DepartmentCounts, ...]:
    per_department: dict[str, list[tuple[str, int]]] = defaultdict(list)
    for source, n in by_source.items():
        department = source_department(catalog, source) or "unknown"
        per_department[department].append((source, n))
    found = [
        DepartmentCounts(
            department,
            sum(n for _, n in sources),
            tuple(sorted(sources, key=lambda item: -item[1])),
        )
        for department, sources in per_department.items()
    ]
    return tuple(sorted(found, key=lambda d: (-d.certified, d.department)))


def _trend(
    connection: Connection, scope: Scope, as_of: dt.date, months: int
) -> tuple[TrendMonth, ...]:
    """Certifications per month of their effective date (the day the person was seen), by
    channel, from the decisions ledger: the effective date, not the day of the decision, so a
    first full pass over years of history does not pile every certification into one month."""
    first = month_start(as_of, months - 1)
    query = (
        select(decisions_t.c.effective_date, decisions_t.c.channel, func.count())
        .where(
            decisions_t.c.kind == "certified",
            decisions_t.c.effective_date >= first,
            decisions_t.c.effective_date <= as_of,
        )
        .group_by(decisions_t.c.effective_date, decisions_t.c.channel)
    )
    if scope.programs is not None:
        query = query.where(
            decisions_t.c.person_id.in_(
                select(enrollments_t.c.person_id).where(
                    enrollments_t.c.program.in_(sorted(scope.programs))
                )
            )
        )
    if scope.grids is not None:
        query = query.where(
            decisions_t.c.person_id.in_(
                select(people_t.c.person_id).where(people_t.c.grid_code.in_(sorted(scope.grids)))
            )
        )
    per_month: dict[str, dict[str, int]] = {
        month_start(as_of, back).strftime("%Y-%m"): dict.fromkeys(CHANNELS, 0)
        for back in range(months - 1, -1, -1)
    }
    for day, channel, n in connection.execute(query):
        decided = as_date(day)
        if decided is None:
            continue
        slot = per_month.get(decided.strftime("%Y-%m"))
        if slot is not None:
            key = str(channel) if channel in CHANNELS else "auto"
            slot[key] += int(n)
    # Months before the first certification (a young platform, a replayed window) say
    # nothing: the trend starts at the first month with certifications.
    items = list(per_month.items())
    while items and not sum(items[0][1].values()):
        items.pop(0)
    return tuple(TrendMonth(month, counts) for month, counts in items)


def compute_overview(
    connection: Connection,
    catalog: Catalog,
    scope: Scope,
    *,
    as_of: dt.date | None = None,
    version: DataVersion | None = None,
) -> Overview:
    """Every figure of the overview for `scope` (uncached; see `overview`)."""
    started = time.perf_counter()
    parameters = page_parameters().overview
    horizons = parameters.due_horizons_days
    version = version if version is not None else data_version(connection)
    as_of = as_of or data_date(connection)
    grids, by_source = _fold(_per_grid(connection, scope, as_of, horizons), horizons)
    total, regions, unplaced = _roll_up(catalog, grids, horizons)
    programs = _programs(connection, catalog, scope, as_of)
    departments = _departments(catalog, by_source)
    trend = _trend(connection, scope, as_of, parameters.trend_months)
    return Overview(
        as_of=as_of,
        version=version,
        horizons=horizons,
        total=total,
        regions=regions,
        unplaced=unplaced,
        programs=programs,
        departments=departments,
        trend=trend,
        computed_seconds=time.perf_counter() - started,
    )


# ----------------------------------------------------------------------------------- cache


@dataclass
class _Entry:
    value: Overview
    refreshing: bool = False
    refresh_started: float = 0.0


class OverviewCache:
    """Computed overviews by (database, scope), recomputed when the data version changes.

    The first request of a scope computes its figures (one lock per key: concurrent first
    requests wait for that one computation instead of running the same heavy queries side by
    side). Afterwards a request never waits: when the data has changed it gets the figures it
    had (their own data date and version shown on the page) while one background thread
    recomputes them, at most once per `refresh_seconds` — certifications land all day long
    (visits, the face app) and each would otherwise start a full recount.
    """

    def __init__(self, entries: int, refresh_seconds: float = 0.0) -> None:
        self._entries = entries
        self._refresh_seconds = refresh_seconds
        self._values: OrderedDict[Any, _Entry] = OrderedDict()
        self._locks: dict[Any, threading.Lock] = {}
        self._first: set[Any] = set()  # keys whose first computation runs in the background
        self._guard = threading.Lock()

    def ready(self, connection: Connection, catalog: Catalog, scope: Scope) -> Overview | None:
        """The figures if this scope was ever computed (refreshed as `get` does); else None,
        and its first computation starts in the background — a page says "counting" rather
        than hang for the tens of seconds a first count of a big city takes."""
        key = (str(connection.engine.url), id(catalog), scope.key)
        with self._guard:
            known = key in self._values
            if not known and key not in self._first:
                self._first.add(key)
                engine = connection.engine

                def first() -> None:
                    try:
                        with engine.connect() as own:
                            self._store(key, compute_overview(own, catalog, scope))
                    finally:
                        with self._guard:
                            self._first.discard(key)

                threading.Thread(target=first, name="overview-first", daemon=True).start()
        return self.get(connection, catalog, scope) if known else None

    def get(
        self, connection: Connection, catalog: Catalog, scope: Scope, *, wait: bool = False
    ) -> Overview:
        """The figures of `scope`; `wait`: recompute now if the data changed (tests, CLI)."""
        key = (str(connection.engine.url), id(catalog), scope.key)
        version = data_version(connection)
        with self._guard:
            entry = self._values.get(key)
            if entry is not None:
                self._values.move_to_end(key)
                if entry.value.version == version:
                    return entry.value
                if not wait:
                    self._refresh_later(key, entry, connection, catalog, scope)
                    return entry.value
            lock = self._locks.setdefault(key, threading.Lock())
        with lock:
            with self._guard:
                entry = self._values.get(key)
            if entry is not None and entry.value.version == version:
                return entry.value
            computed = compute_overview(connection, catalog, scope, version=version)
            self._store(key, computed)
            return computed

    def _store(self, key: Any, value: Overview) -> None:
        with self._guard:
            self._values[key] = _Entry(value)
            self._values.move_to_end(key)
            while len(self._values) > self._entries:
                old, _ = self._values.popitem(last=False)
                self._locks.pop(old, None)

    def _refresh_later(
        self, key: Any, entry: _Entry, connection: Connection, catalog: Catalog, scope: Scope
    ) -> None:
        """Start one background recomputation of `key` (called holding the guard)."""
        now = time.monotonic()
        if entry.refreshing or now - entry.refresh_started < self._refresh_seconds:
            return
        entry.refreshing = True
        entry.refresh_started = now
        engine = connection.engine

        def refresh() -> None:
            try:
                with engine.connect() as own:
                    self._store(key, compute_overview(own, catalog, scope))
            finally:
                entry.refreshing = False

        threading.Thread(target=refresh, name="overview-refresh", daemon=True).start()

    def clear(self) -> None:
        with self._guard:
            self._values.clear()


_CACHE: OverviewCache | None = None


def _cache() -> OverviewCache:
    global _CACHE
    if _CACHE is None:
        parameters = page_parameters().overview
        _CACHE = OverviewCache(parameters.cache_entries, parameters.refresh_seconds)
    return _CACHE


def overview(connection: Connection, catalog: Catalog, scope: Scope) -> Overview:
    """The overview of `scope`, from the in-process cache (see OverviewCache); the first call
    of a scope waits for its computation."""
    return _cache().get(connection, catalog, scope)


def overview_if_ready(connection: Connection, catalog: Catalog, scope: Scope) -> Overview | None:
    """Like `overview`, but in a city too big to count while a page waits (more persons than
    `inline_below_persons`) the first call starts the count in the background and gives None."""
    largest = connection.execute(select(func.max(people_t.c.person_id))).scalar_one_or_none()
    if int(largest or 0) < page_parameters().overview.inline_below_persons:
        return overview(connection, catalog, scope)
    return _cache().ready(connection, catalog, scope)
