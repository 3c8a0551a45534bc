"""The certification pass: evidence lake → per-person summary → decisions (full or incremental).

One transaction per pass (the caller's state database):

1. Which records: *full* reads the whole lake; *incremental* only the committed batches not
   yet applied (and the later records of batches applied up to an earlier as-of date).
   Records dated after the as-of day are never read (as-of semantics).
2. `summary.scan` runs sql/summary.sql over them (DuckDB); the result is merged into the
   stored `evidence_summary` (full: replaces it). Only persons whose summary changed, or who
   have a new candidate certification, are *touched*.
3. `decide` applies the rules to each touched person: its summary, its current state, its
   candidate certifications (first strong alive record of each calendar year after the
   registry's last certification). Decisions go to the ledger, status changes through the
   transition tables, contradictions to the review queue.
4. `applied_batches` records the batches applied, in the same transaction: a crash never
   applies a batch twice nor skips one.

Full and incremental agree: a summary field is a max or min of records (merging batch by
batch is exact), and the rules look only at the summary, the state and the year's first
record; see docs/certification.md for the one condition (records reach the lake in time
order at the pace of the passes).

`LIFESIGN_CERTIFY_FAULT=before_commit|after_commit` kills the process at that point (SIGKILL)
for the crash tests.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import gc
import itertools
import json
import os
import re
import signal
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, cast

import duckdb
import pyarrow as pa
from sqlalchemy import Connection, Engine, Table, delete, func, insert, select, text, update

from lifesign.catalog import Catalog
from lifesign.certify import statedb, statewrite
from lifesign.certify.ledger import STATE_FIELDS, advance_state
from lifesign.certify.models import (
    AppliedBatch,
    Decision,
    EvidenceSummary,
    PersonStateRow,
    Review,
    StatusEvent,
)
from lifesign.certify.rules import Rule, RuleParameters, add_months, rule_parameters
from lifesign.certify.summary import (
    CERTIFIED_SQL,
    FACTS_SQL,
    FIELDS,
    MERGE_SQL,
    STATE_SQL,
    STATUS_FIELDS,
    Summary,
    parquet_relation,
    ref_date,
    ref_record,
    ref_time,
    run,
    scan,
)
from lifesign.certify.transitions import (
    EnrollmentChange,
    apply_enrollment_transitions,
    apply_person_transition,
    person_transition_allowed,
)
from lifesign.config import Settings
from lifesign.errors import LifesignError, Location
from lifesign.ingest import lake
from lifesign.store import bulk
from lifesign.store.database import is_sqlite
from lifesign.store.models import Batch, Enrollment, Person

Mode = Literal["full", "incremental"]
FAULT_ENV = "LIFESIGN_CERTIFY_FAULT"
EVIDENCE_BATCH_KINDS = ("file", "pull", "push", "retry")

decisions_t = cast(Table, Decision.__table__)
summary_t = cast(Table, EvidenceSummary.__table__)
applied_t = cast(Table, AppliedBatch.__table__)
state_t = cast(Table, PersonStateRow.__table__)
batches_t = cast(Table, Batch.__table__)
people_t = cast(Table, Person.__table__)
enrollments_t = cast(Table, Enrollment.__table__)
status_events_t = cast(Table, StatusEvent.__table__)
reviews_t = cast(Table, Review.__table__)

BATCH_FILE = re.compile(r"batch-(\d+)\.parquet$")
MONTH_DIR = re.compile(r"month=(\d{4}-\d{2})")


def _fault(point: str) -> None:
    if os.environ.get(FAULT_ENV) == point:
        os.kill(os.getpid(), signal.SIGKILL)


@dataclass
class PassReport:
    """What one pass did."""

    as_of: dt.date
    mode: Mode
    run_id: int | None = None
    batches_applied: int = 0  # batches whose records were merged (new or partly applied)
    records: int = 0  # evidence records read (of registry persons, dated by the as-of day)
    persons_touched: int = 0  # persons whose summary changed
    certified: int = 0
    deceased: int = 0
    terminated: int = 0  # enrollment terminations (death, emigration...)
    suspended: int = 0  # enrollment suspensions by status records (imprisonment...)
    status_changes: int = 0  # person status changes other than death (imprisoned...)
    reviews_opened: int = 0
    decisions: int = 0
    seconds: float = 0.0
    phases: dict[str, float] = field(default_factory=dict)  # seconds per phase
    # CPU seconds per phase (the process's, every thread: the steadier figure on a busy host)
    phases_cpu: dict[str, float] = field(default_factory=dict)


# ---------------------------------------------------------------------------------------------
# Deciding, per person (pure: no database).


@dataclass
class Planned:
    """A decision the rules took, before it is written."""

    kind: str
    effective_date: dt.date
    rule: str
    evidence: list[str]  # refs
    enrollment_id: int | None = None
    valid_until: dt.date | None = None
    details: dict[str, Any] | None = None
    person_status: str | None = None  # the person's new status, if the decision changes it
    enrollment_status: str | None = None  # the enrollment's new status
    review: tuple[str, dict[str, list[str]]] | None = None  # (kind, sides as refs)


@dataclass
class PersonFacts:
    person_id: int
    summary: Summary
    candidates: list[tuple[int, str]]  # (year, first strong ref after the last certification)
    state: dict[str, Any]
    period_months: int


def _relevant_deaths(summary: Summary, since: dt.date | None) -> tuple[str, str] | None:
    """(earliest, latest) death refs dated after `since` (a status change, e.g. a review that
    found an earlier death record wrong), or None."""
    first, last = summary.get("death_first"), summary.get("death_last")
    if first is None or last is None:
        return None
    if since is None or ref_date(first) > since:
        return first, last
    if ref_date(last) > since:
        return last, last
    return None


def decide(
    facts: PersonFacts,
    enrollments: Sequence[tuple[int, str, str]],
    catalog: Catalog,
    params: RuleParameters,
) -> tuple[list[Planned], dt.datetime | None]:
    """The decisions of the rules for one person, in order; and from when the person's status
    changed in this pass (strong records from then on do not certify)."""
    planned: list[Planned] = []
    status = str(facts.state["status"])
    since = cast(dt.date | None, facts.state.get("status_since"))
    summary = facts.summary
    strong = summary.get("strong")
    blocked: dt.datetime | None = None

    # a deceased person's own death records are relevant (their status dates from them)
    deaths = _relevant_deaths(summary, None if status == "deceased" else since)
    if deaths is not None and status not in ("review",):
        first, last = deaths
        death_refs = [first] if first == last else [first, last]
        far_apart = ref_time(last) - ref_time(first) > params.death_spread
        alive_after = (
            strong is not None and ref_time(strong) > ref_time(first) + params.alive_tolerance
        )
        if status == "deceased":
            if far_apart:
                planned.append(_review(Rule.DEATH_DATES_FAR_APART, first, {"death": death_refs}))
            elif alive_after:
                assert strong is not None
                planned.append(
                    _review(
                        Rule.ALIVE_AFTER_DEATH, strong, {"death": death_refs, "alive": [strong]}
                    )
                )
        elif far_apart:
            planned.append(_review(Rule.DEATH_DATES_FAR_APART, first, {"death": death_refs}))
            blocked = ref_time(first)
        elif alive_after:
            assert strong is not None
            planned.append(
                _review(Rule.DEATH_BUT_ALIVE_LATER, first, {"death": death_refs, "alive": [strong]})
            )
            blocked = ref_time(first)
        else:
            # the decision rests on the earliest record: later records of the same death
            # (which keep arriving for months) do not change it, so every pass agrees on it
            died = ref_date(first)
            death_refs = [first]
            planned.append(
                Planned("deceased", died, Rule.DEATH_RECORD, death_refs, person_status="deceased")
            )
            for enrollment_id, _program, enrollment_status in enrollments:
                if enrollment_status != "terminated":
                    planned.append(
                        Planned(
                            "terminated",
                            died,
                            Rule.DEATH_TERMINATES,
                            death_refs,
                            enrollment_id=enrollment_id,
                            enrollment_status="terminated",
                        )
                    )
            blocked = ref_time(first)

    if blocked is None and status == "alive":
        # another status (imprisonment, emigration, moving away): the earliest one recorded
        # after the person's last status change
        found = [
            (ref, name)
            for name in STATUS_FIELDS
            if (ref := summary.get(name)) is not None and (since is None or ref_date(ref) > since)
        ]
        if found:
            ref, name = min(found)
            on = ref_date(ref)
            planned.append(Planned(name, on, Rule.STATUS_RECORD, [ref], person_status=name))
            for enrollment_id, program_code, enrollment_status in enrollments:
                program = catalog.programs.get(program_code)
                action = program.on_status.get(name, "suspend") if program else "suspend"
                target = "terminated" if action == "terminate" else "suspended"
                allowed = ("active", "suspended") if target == "terminated" else ("active",)
                if enrollment_status in allowed:
                    planned.append(
                        Planned(
                            target,
                            on,
                            Rule.STATUS_ACTION,
                            [ref],
                            enrollment_id=enrollment_id,
                            enrollment_status=target,
                            details={"status": name, "on_status": action},
                        )
                    )
            blocked = ref_time(ref)

    if status == "alive":
        year_done = facts.state.get("certified_year")
        for year, ref in facts.candidates:
            if year_done is not None and year <= year_done:
                continue
            if blocked is not None and ref_time(ref) >= blocked:
                break
            if since is not None and ref_date(ref) <= since:
                continue
            on = ref_date(ref)
            planned.append(
                Planned(
                    "certified",
                    on,
                    Rule.STRONG_ALIVE_CERTIFIES,
                    [ref],
                    valid_until=add_months(on, facts.period_months),
                    details={"year": year},
                )
            )
            year_done = year
    return planned, blocked


def _review(rule: str, ref: str, sides: dict[str, list[str]]) -> Planned:
    return Planned(
        "review",
        ref_date(ref),
        rule,
        sorted({r for side in sides.values() for r in side}),
        person_status="review",
        review=(rule, sides),
    )


def deferred_state(
    facts: PersonFacts, state: dict[str, Any], blocked: dt.datetime | None
) -> dict[str, Any]:
    """Every strong record after the last certification certifies again (递延认证): the state's
    last certification and validity follow the latest strong record, when the person was alive
    at the start of the pass and the record is before any status change of this pass (as
    earlier passes would have seen it)."""
    after = dict(state)
    strong, weak = facts.summary.get("strong"), facts.summary.get("weak")
    if strong is not None:
        after["last_strong_event"] = ref_date(strong)
    if weak is not None:
        after["last_weak_event"] = ref_date(weak)
    since = facts.state.get("status_since")  # as at the start of the pass
    if (
        strong is not None
        and facts.state["status"] == "alive"
        and (blocked is None or ref_time(strong) < blocked)
        and (since is None or ref_date(strong) > since)
    ):
        on = ref_date(strong)
        last = after.get("last_certified_on")
        if last is None or on > last:
            after["last_certified_on"] = on
            after["channel"] = "auto"
        until = add_months(on, facts.period_months)
        if after.get("valid_until") is None or until > after["valid_until"]:
            after["valid_until"] = until
    return after


# ---------------------------------------------------------------------------------------------
# The pass.


def _lock(connection: Connection) -> None:
    """One pass at a time (PostgreSQL: an advisory lock; SQLite: the write lock, taken now)."""
    if is_sqlite(connection):
        connection.exec_driver_sql("UPDATE applied_batches SET run_id = run_id WHERE 1 = 0")
        return
    connection.execute(text("SELECT pg_advisory_xact_lock(4242004)"))


def _committed_batches(connection: Connection) -> dict[int, int]:
    """Committed evidence batches → the records they put in the lake (0: no file)."""
    rows = connection.execute(
        select(batches_t.c.batch_id, batches_t.c.counts).where(
            batches_t.c.kind.in_(EVIDENCE_BATCH_KINDS), batches_t.c.status == "committed"
        )
    ).all()
    found: dict[int, int] = {}
    for batch_id, counts in rows:
        counts = counts or {}
        found[int(batch_id)] = int(counts.get("accepted", 0)) + int(
            counts.get("kept_non_recipient", 0)
        )
    return found


def _unseeded_persons(connection: Connection) -> bool:
    """Whether some registry persons have no state row yet (the tables' row counts differ)."""
    people_count = connection.execute(select(func.count()).select_from(people_t)).scalar_one()
    state_count = connection.execute(select(func.count()).select_from(state_t)).scalar_one()
    return bool(people_count != state_count)


def _files_by_batch(lake_dir: Path) -> dict[int, list[Path]]:
    files: dict[int, list[Path]] = {}
    for path in lake.lake_files(lake_dir):
        match = BATCH_FILE.search(path.name)
        if match:
            files.setdefault(int(match.group(1)), []).append(path)
    return files


def _complete(files: Sequence[Path], as_of: dt.date, connection: Any) -> bool:
    """Whether every record of these files is dated on or before `as_of`."""
    month = f"{as_of:%Y-%m}"
    later = [p for p in files if (m := MONTH_DIR.search(str(p))) and m.group(1) >= month]
    if not later:
        return True
    quoted = "[" + ", ".join("'" + str(p).replace("'", "''") + "'" for p in later) + "]"
    latest = connection.execute(f"SELECT max(event_time) FROM read_parquet({quoted})").fetchall()[
        0
    ][0]
    return latest is None or latest < dt.datetime.combine(as_of + dt.timedelta(days=1), dt.time())


def run_pass(
    settings: Settings,
    engine: Engine,
    catalog: Catalog,
    as_of: dt.date,
    mode: Mode = "incremental",
    *,
    run_id: int | None = None,
) -> PassReport:
    """Run the pass as of `as_of` (evidence dated on or before that day only)."""
    if mode not in ("full", "incremental"):
        raise LifesignError(
            f"unknown pass mode {mode!r}", "a pass is 'full' or 'incremental'", Location(key="mode")
        )
    started = time.perf_counter()
    report = PassReport(as_of=as_of, mode=mode, run_id=run_id)
    params = rule_parameters()
    # The pass makes millions of short-lived objects (rows read and written) and no cycles:
    # the cyclic collector, run over and over on them, cost 15-20 % of a full pass.
    collecting = gc.isenabled()
    gc.disable()
    try:
        with engine.begin() as connection:
            _lock(connection)
            cache_mib = (
                params.engine.sqlite_cache_mib_incremental
                if mode == "incremental"
                else params.engine.sqlite_cache_mib
            )
            with statedb.sqlite_cache(connection, cache_mib):
                _apply(connection, settings, catalog, as_of, mode, params, report)
            _fault("before_commit")
            committing, committing_cpu = time.perf_counter(), time.process_time()
        # the commit writes the transaction's pages (SQLite: to the WAL, then checkpointed)
        report.phases["commit"] = time.perf_counter() - committing
        report.phases_cpu["commit"] = time.process_time() - committing_cpu
    finally:
        if collecting:
            gc.enable()
    _fault("after_commit")
    report.seconds = time.perf_counter() - started
    return report


def _open_duckdb(params: RuleParameters) -> duckdb.DuckDBPyConnection:
    engine = params.engine
    duck = duckdb.connect(
        config={
            "threads": engine.threads or max(1, os.cpu_count() or 1),
            "memory_limit": f"{engine.memory_limit_mib}MiB",
            "preserve_insertion_order": False,
        }
    )
    run(duck, "SET enable_progress_bar = false")
    # Spark has add_months (the 31st becomes the month's last day); DuckDB adds an interval of
    # months, which clamps the day the same way
    run(
        duck,
        "CREATE MACRO add_months(day, months) AS "
        "CAST(day + to_months(CAST(months AS INTEGER)) AS DATE)",
    )
    return duck


def _id_list(duck: duckdb.DuckDBPyConnection, sql: str) -> list[int]:
    table = duck.sql(sql).to_arrow_table()
    return [int(i) for i in table.column(0).to_pylist()]


def _apply(
    connection: Connection,
    settings: Settings,
    catalog: Catalog,
    as_of: dt.date,
    mode: Mode,
    params: RuleParameters,
    report: PassReport,
) -> None:
    clock, cpu_clock = time.perf_counter(), time.process_time()

    def phase(name: str) -> None:
        nonlocal clock, cpu_clock
        now, cpu_now = time.perf_counter(), time.process_time()
        report.phases[name] = report.phases.get(name, 0.0) + now - clock
        report.phases_cpu[name] = report.phases_cpu.get(name, 0.0) + cpu_now - cpu_clock
        clock, cpu_clock = now, cpu_now

    latest = connection.execute(
        select(applied_t.c.applied_on).order_by(applied_t.c.applied_on.desc()).limit(1)
    ).scalar_one_or_none()
    if mode == "incremental" and latest is not None and as_of < latest:
        raise LifesignError(
            f"an incremental pass as of {as_of} comes after one as of {latest}",
            "time only moves forward for the incremental pass; a full pass recomputes "
            "everything as of any date",
            Location(key="--as-of"),
        )
    committed = _committed_batches(connection)
    applied = {
        int(b): (d, bool(c))
        for b, d, c in connection.execute(
            select(applied_t.c.batch_id, applied_t.c.applied_on, applied_t.c.complete)
        ).all()
    }
    files = _files_by_batch(settings.lake_dir)
    # which batches, and from which date on
    lower_of: dict[int, dt.date | None] = {}
    for batch_id, records in committed.items():
        if records and batch_id not in files:
            continue  # committed but its files not yet renamed into the lake: next pass
        if mode == "full" or batch_id not in applied:
            lower_of[batch_id] = None
        else:
            applied_on, complete = applied[batch_id]
            if not complete and applied_on < as_of:
                lower_of[batch_id] = applied_on
    groups: dict[dt.date | None, list[Path]] = {}
    for batch_id, lower in lower_of.items():
        groups.setdefault(lower, []).extend(files.get(batch_id, []))
    parts = [(paths, lower) for lower, paths in groups.items() if paths]
    # every registry person has a state row (a new registry import adds persons: seed them)
    unseeded = _unseeded_persons(connection)
    phase("plan")
    if mode == "incremental" and not lower_of and not unseeded:
        # nothing to read, nobody to seed: no decision, no write (a day's run after its pass
        # or a day without records; DuckDB's start alone costs ~0.3 s)
        return

    duck = _open_duckdb(params)
    try:
        _decide_and_write(
            connection, duck, catalog, as_of, mode, params, report, parts, phase, unseeded
        )
        completeness = {
            batch_id: _complete(files.get(batch_id, []), as_of, duck) for batch_id in lower_of
        }
        phase("complete")
    finally:
        duck.close()

    # the watermark, in the same transaction
    if mode == "full":
        connection.execute(delete(applied_t))
    for batch_id in lower_of:
        values = {"run_id": report.run_id, "applied_on": as_of, "complete": completeness[batch_id]}
        if mode == "incremental" and batch_id in applied:
            connection.execute(
                update(applied_t).where(applied_t.c.batch_id == batch_id).values(values)
            )
        else:
            connection.execute(insert(applied_t).values(batch_id=batch_id, **values))
    report.batches_applied = len(lower_of)
    phase("watermark")


PEOPLE_SCHEMA = pa.schema(
    [
        ("person_id", pa.int64()),
        ("last_certified_on", pa.date32()),
        ("channel", pa.string()),
    ]
)
PEOPLE_SELECT = "SELECT person_id, last_certified_on, last_certification_channel FROM people"
STATE_COLUMNS = (
    "person_id",
    "status",
    "status_since",
    "last_certified_on",
    "channel",
    "valid_until",
    "certified_year",
    "last_strong_event",
    "last_weak_event",
    "death_date",
    "updated_on",
)
STATE_SCHEMA = pa.schema(
    [
        ("person_id", pa.int64()),
        ("status", pa.string()),
        ("status_since", pa.date32()),
        ("last_certified_on", pa.date32()),
        ("channel", pa.string()),
        ("valid_until", pa.date32()),
        ("certified_year", pa.int32()),
        ("last_strong_event", pa.date32()),
        ("last_weak_event", pa.date32()),
        ("death_date", pa.date32()),
        ("updated_on", pa.date32()),
    ]
)
REF_COLUMNS = tuple(f"{name}_ref" for name in FIELDS)
SUMMARY_SCHEMA = pa.schema(
    [("person_id", pa.int64()), *((column, pa.string()) for column in REF_COLUMNS)]
)
KEY_SCHEMA = pa.schema([("person_id", pa.int64())])
NARROW_SCHEMA = pa.schema(
    [("person_id", pa.int64()), ("status", pa.string()), ("certified_year", pa.int32())]
)
# Reading the rows of more ids than this many IN lists reads the whole table instead.
READ_ALL_AFTER_CHUNKS = 8


def _read_whole(wanted: int, table_rows: int) -> bool:
    """Whether to read a whole table rather than the rows of `wanted` keys by IN lists: many
    lists, or half the table's rows or more (an empty table: nothing to read either way)."""
    return wanted > statedb.IDS_PER_QUERY * READ_ALL_AFTER_CHUNKS or wanted * 2 >= table_rows


PROGRAMS_SCHEMA = pa.schema([("person_id", pa.int64()), ("program", pa.string())])
# The fields the pass writes for a person whose state row exists (status and status_since
# move through the transition table only).
MOVED_FIELDS = (*STATE_FIELDS, "last_strong_event", "last_weak_event")
# The columns state.sql's moved_fields names, bit by bit.
STATE_MOVES = (
    "last_certified_on",
    "channel",
    "valid_until",
    "certified_year",
    "last_strong_event",
    "last_weak_event",
)
DECISION_COLUMNS = (
    "run_id",
    "person_id",
    "enrollment_id",
    "kind",
    "effective_date",
    "decided_on",
    "channel",
    "valid_until",
    "evidence",
    "rule",
    "catalog_version",
    "details",
)
SUMMARY_COLUMNS = (
    *(column for name in FIELDS for column in (f"{name}_time", f"{name}_ref")),
    "as_of",
)


# The incremental pass's one read: registry, state and summary of each person concerned (a
# table's key is NULL where the person has no row in it).
TOGETHER_SCHEMA = pa.schema(
    [
        *PEOPLE_SCHEMA,
        *(column.with_name(f"state_{column.name}") for column in STATE_SCHEMA),
        *(column.with_name(f"summary_{column.name}") for column in SUMMARY_SCHEMA),
    ]
)
TOGETHER_SELECT = (
    "SELECT p.person_id, p.last_certified_on, p.last_certification_channel, "
    + ", ".join(f"s.{c}" for c in STATE_COLUMNS)
    + ", e.person_id, "
    + ", ".join(f"e.{c}" for c in REF_COLUMNS)
    + " FROM people AS p"
    " LEFT OUTER JOIN person_state AS s ON s.person_id = p.person_id"
    " LEFT OUTER JOIN evidence_summary AS e ON e.person_id = p.person_id"
)


def _stored_rows(
    duck: duckdb.DuckDBPyConnection,
    together: pa.Table,
    prefix: str,
    schema: pa.Schema,
    *,
    touched: bool = False,
) -> pa.Table:
    """The rows of one table (`schema`, its columns named `prefix`_column in the joined
    read), those of the persons touched in `merged` only if `touched`."""
    columns = ", ".join(f"t.{prefix}_{c.name} AS {c.name}" for c in schema)
    duck.register("together_rows", together)
    try:
        table = duck.sql(
            f"SELECT {columns} FROM together_rows AS t WHERE t.{prefix}_person_id IS NOT NULL"
            + (
                " AND EXISTS (SELECT 1 FROM merged AS m "
                f"WHERE m.person_id = t.{prefix}_person_id AND m.touched = 1)"
                if touched
                else ""
            )
        ).to_arrow_table()
    finally:
        duck.unregister("together_rows")
    return table.cast(schema)


def _field_sets(
    duck: duckdb.DuckDBPyConnection, sql: str, names: Sequence[str]
) -> list[tuple[int, list[str]]]:
    """Each distinct bit set `sql` answers (bit i: names[i] moved, as merge.sql's
    written_fields and state.sql's moved_fields count them), with the names it stands for."""
    return [
        (int(bits), [name for bit, name in enumerate(names) if int(bits) >> bit & 1])
        for (bits,) in duck.execute(sql).fetchall()
    ]


def _sql_literal(value: object) -> str:
    if value is None:
        return "NULL"
    if isinstance(value, dt.date):
        return f"DATE '{value.isoformat()}'"
    if isinstance(value, int):
        return str(value)
    return "'" + str(value).replace("'", "''") + "'"


def _decide_and_write(
    connection: Connection,
    duck: duckdb.DuckDBPyConnection,
    catalog: Catalog,
    as_of: dt.date,
    mode: Mode,
    params: RuleParameters,
    report: PassReport,
    parts: list[tuple[list[Path], dt.date | None]],
    phase: Any,
    unseeded: bool,
) -> None:
    full = mode == "full"
    # the registry persons concerned: every one (full), or those of the new records
    ids: list[int] | None = None
    if not full:
        new_files = [p for paths, _ in parts for p in paths]
        ids = (
            _id_list(
                duck,
                f"SELECT DISTINCT person_id FROM {parquet_relation(new_files)} "
                "WHERE person_id IS NOT NULL ORDER BY person_id",
            )
            if new_files
            else []
        )
    # Incremental: the persons' registry, state and summary rows in one read (one key lookup
    # per person and table, and one IN list, instead of three); full: the registry only.
    together = (
        None
        if ids is None
        else statedb.read_by_ids(connection, TOGETHER_SELECT, "p.person_id", ids, TOGETHER_SCHEMA)
    )
    people = (
        statedb.read_arrow(connection, PEOPLE_SELECT, PEOPLE_SCHEMA)
        if together is None
        else together.select(PEOPLE_SCHEMA.names)
    )
    missing = PEOPLE_SCHEMA.empty_table()
    if unseeded and not full:
        missing = statedb.read_arrow(
            connection,
            PEOPLE_SELECT + " AS p WHERE NOT EXISTS "
            "(SELECT 1 FROM person_state AS s WHERE s.person_id = p.person_id)",
            PEOPLE_SCHEMA,
        )
        people = pa.concat_tables([people, missing])
    duck.register("people_in", people)
    run(duck, "CREATE OR REPLACE TEMP TABLE people AS SELECT DISTINCT * FROM people_in")
    duck.unregister("people_in")
    run(
        duck,
        "CREATE OR REPLACE TEMP VIEW anchors AS SELECT person_id, "
        "CAST(last_certified_on + INTERVAL 1 DAY AS TIMESTAMP) AS after_time "
        "FROM people WHERE last_certified_on IS NOT NULL",
    )
    phase("registry")

    report.records = scan(duck, catalog, as_of, parts, phase)

    # merge with the stored summary
    summary_select = f"SELECT person_id, {', '.join(REF_COLUMNS)} FROM evidence_summary"
    rewrite_summary = False
    if full:
        stored_summary = SUMMARY_SCHEMA.empty_table()
        latest_summary = connection.execute(select(func.max(summary_t.c.as_of))).scalar()
        # rows stored as of a later day than this pass's are rewritten, all of them (as the
        # pass's date); otherwise only the rows that differ are (a second pass writes nothing)
        rewrite_summary = latest_summary is not None and latest_summary > as_of
        previous_summary = (
            SUMMARY_SCHEMA.empty_table()
            if rewrite_summary
            else statedb.read_arrow(connection, summary_select, SUMMARY_SCHEMA)
        )
    else:
        assert together is not None
        stored_summary = _stored_rows(duck, together, "summary", SUMMARY_SCHEMA)
        # records of persons not in the registry (none, normally): their rows read apart
        strangers = _id_list(
            duck,
            "SELECT person_id FROM found AS f WHERE NOT EXISTS "
            "(SELECT 1 FROM people AS p WHERE p.person_id = f.person_id) ORDER BY person_id",
        )
        if strangers:
            stored_summary = pa.concat_tables(
                [
                    stored_summary,
                    statedb.read_by_ids(
                        connection, summary_select, "person_id", strangers, SUMMARY_SCHEMA
                    ),
                ]
            )
        previous_summary = stored_summary
    duck.register("stored_summary", stored_summary)
    duck.register("previous_summary", previous_summary)
    run(duck, f"CREATE OR REPLACE TEMP TABLE merged AS {MERGE_SQL}")
    stale: list[int] = []
    if full and not rewrite_summary:
        stale = _id_list(
            duck,
            "SELECT person_id FROM previous_summary AS p WHERE NOT EXISTS "
            "(SELECT 1 FROM found AS f WHERE f.person_id = p.person_id)",
        )
    duck.unregister("previous_summary")
    duck.unregister("stored_summary")
    phase("summary")

    # the state of the persons concerned, seeds for those without one, periods
    if full:
        _full_pass_concerned(connection, duck, unseeded)
    else:
        duck.register("missing_in", missing.select(["person_id"]))
        run(duck, "CREATE OR REPLACE TEMP TABLE unseeded AS SELECT DISTINCT * FROM missing_in")
        duck.unregister("missing_in")
    touched_ids = _id_list(
        duck, "SELECT person_id FROM merged WHERE touched = 1 ORDER BY person_id"
    )
    state_select = f"SELECT {', '.join(STATE_COLUMNS)} FROM person_state"
    if together is not None:
        stored_state = _stored_rows(duck, together, "state", STATE_SCHEMA, touched=True)
    elif _read_whole(
        len(touched_ids), connection.execute(select(func.count()).select_from(state_t)).scalar_one()
    ):
        # most of the table (or an empty one: a first full pass): one read, then only the
        # rows wanted
        every_state = statedb.read_arrow(connection, state_select, STATE_SCHEMA)
        duck.register("every_state", every_state)
        stored_state = duck.sql(
            "SELECT s.* FROM every_state AS s WHERE EXISTS "
            "(SELECT 1 FROM merged AS m WHERE m.person_id = s.person_id AND m.touched = 1)"
        ).to_arrow_table()
        duck.unregister("every_state")
        del every_state
    else:
        stored_state = statedb.read_by_ids(
            connection, state_select, "person_id", touched_ids, STATE_SCHEMA
        )
    duck.register("stored_state", stored_state)
    _months(connection, duck, catalog, params, whole_registry=full)
    run(duck, f"CREATE OR REPLACE TEMP TABLE facts AS {FACTS_SQL}")
    duck.unregister("stored_state")
    report.persons_touched = int(_scalar(duck, "SELECT count(*) FROM facts WHERE touched = 1"))
    phase("state")

    run(duck, f"CREATE OR REPLACE TEMP TABLE certified AS {CERTIFIED_SQL}")
    run(
        duck,
        "CREATE OR REPLACE TEMP TABLE new_state AS " + STATE_SQL.format(as_of=_sql_literal(as_of)),
    )
    phase("decide")

    # Large loads (a first full pass: every person's seed and certifications into empty
    # tables) rebuild the tables' secondary indexes after them (statewrite), the rare
    # persons' writes included; the loads' sizes are known before: the certifications of
    # the common persons, at least one decision and one seed per rare person.
    certified_common = int(_scalar(duck, "SELECT count(*) FROM certified"))
    rare_count, rare_seeds = (
        int(v or 0)
        for v in duck.execute(
            "SELECT count(*), sum(CASE WHEN has_row = 0 THEN 1 ELSE 0 END) FROM facts "
            "WHERE rare = 1"
        ).fetchall()[0]
    )
    seeds = int(_scalar(duck, "SELECT count(*) FROM new_state WHERE has_row = 0")) + rare_seeds
    ledger_rows = connection.execute(select(func.max(decisions_t.c.decision_id))).scalar() or 0
    state_rows = connection.execute(select(func.count()).select_from(state_t)).scalar_one()
    percent = params.engine.index_rebuild_percent
    with contextlib.ExitStack() as rebuilt:
        rebuilt.enter_context(
            statewrite.indexes_rebuilt(
                connection,
                decisions_t,
                statewrite.rebuild_worthwhile(
                    certified_common + rare_count, int(ledger_rows), percent
                ),
            )
        )
        rebuilt.enter_context(
            statewrite.indexes_rebuilt(
                connection,
                state_t,
                statewrite.rebuild_worthwhile(seeds, int(state_rows), percent),
            )
        )
        certified_extra = _decide_rare(connection, duck, catalog, as_of, params, report)
        phase("rare")

        # The silent certifications: only what varies is fetched and bound (statewrite), the
        # rest are literals of the INSERT; the rare persons' ones (decided in Python) after them.
        report.certified += certified_common + len(certified_extra)
        written = statewrite.insert(
            connection,
            decisions_t,
            CERTIFIED_VARYING,
            itertools.chain(
                _fetched(
                    duck,
                    """
                    SELECT person_id, CAST(effective_date AS VARCHAR),
                           CAST(valid_until AS VARCHAR),
                           CAST(json_array(json_object(
                               'source', split_part(ref, '|', 2),
                               'record_id', substr(ref, 23 + length(split_part(ref, '|', 2))
                                                       + length(split_part(ref, '|', 3))),
                               'evidence_type', split_part(ref, '|', 3),
                               'event_time', replace(substr(ref, 1, 19), ' ', 'T'))) AS VARCHAR),
                           CAST(json_object('year', yr) AS VARCHAR)
                    FROM certified ORDER BY person_id, yr
                    """,
                ),
                certified_extra,
            ),
            fixed=_certified_fixed(as_of, catalog.version, report.run_id),
        )
        report.decisions += written
        phase("write decisions")

        date_columns = (
            "status_since",
            "last_certified_on",
            "valid_until",
            "last_strong_event",
            "last_weak_event",
            "death_date",
            "updated_on",
        )

        def as_text(column: str) -> str:
            return f"CAST({column} AS VARCHAR)" if column in date_columns else column

        # The seeds (persons without a state row): one INSERT per set of non-NULL columns.
        for columns in _non_null_sets(duck, "new_state", "has_row = 0", STATE_COLUMNS):
            statewrite.insert(
                connection,
                state_t,
                columns,
                _fetched(
                    duck,
                    f"SELECT {', '.join(as_text(c) for c in columns)} FROM new_state "
                    f"WHERE has_row = 0 AND {_non_null_mask(STATE_COLUMNS)} = "
                    f"{_mask_of(columns, STATE_COLUMNS)} ORDER BY person_id",
                ),
            )
        # A stored row is updated in the columns that moved only (state.sql: moved_fields), one
        # UPDATE per set of columns: most rows a day move their evidence dates only, and
        # valid_until left out of the SET leaves its index alone (96 k rows a Bozhou day).
        for bits, moved in _field_sets(
            duck,
            "SELECT DISTINCT moved_fields FROM new_state "
            "WHERE has_row = 1 AND changed = 1 ORDER BY 1",
            STATE_MOVES,
        ):
            statedb.update_rows(
                connection,
                "person_state",
                "person_id",
                (*moved, "updated_on"),
                duck.execute(
                    f"SELECT person_id, {', '.join(as_text(c) for c in (*moved, 'updated_on'))} "
                    f"FROM new_state WHERE has_row = 1 AND changed = 1 AND moved_fields = {bits} "
                    "ORDER BY person_id"
                ).fetchall(),
            )
        phase("write state")
    phase("indexes")

    def summary_rows(fields: Sequence[str], where: str) -> list[tuple[Any, ...]]:
        values = ", ".join(
            f"CAST(substr({name}_ref, 1, 19) AS VARCHAR) || '.000000', {name}_ref"
            for name in fields
        )
        return duck.execute(
            f"SELECT person_id, {values}, {_sql_literal(as_of.isoformat())} "
            f"FROM merged WHERE written = 1 AND {where} ORDER BY person_id"
        ).fetchall()

    def insert_summary(where: str) -> None:
        """The rows of `merged` to write that the table does not hold (`is_absent` is exact:
        the rows read are every row of the persons found), one INSERT per set of non-NULL
        refs; each `*_time` is computed from its ref by the database, as_of is a literal."""
        condition = f"written = 1 AND {where}"
        for columns in _non_null_sets(duck, "merged", condition, SUMMARY_KEYED):
            statewrite.insert(
                connection,
                summary_t,
                columns,
                _fetched(
                    duck,
                    f"SELECT {', '.join(columns)} FROM merged WHERE {condition} AND "
                    f"{_non_null_mask(SUMMARY_KEYED)} = {_mask_of(columns, SUMMARY_KEYED)} "
                    "ORDER BY person_id",
                ),
                fixed={"as_of": as_of},
                times_of={f"{c.removesuffix('_ref')}_time": c for c in columns[1:]},
            )

    if rewrite_summary:
        connection.execute(delete(summary_t))
        insert_summary("true")
    else:
        for start in range(0, len(stale), statedb.IDS_PER_QUERY):
            chunk = stale[start : start + statedb.IDS_PER_QUERY]
            connection.execute(delete(summary_t).where(summary_t.c.person_id.in_(chunk)))
        insert_summary("is_absent = 1")
        # A stored row is updated in the fields that moved only (most days: the latest weak
        # or strong record), one UPDATE per set of fields: a third of the binding and record
        # building of a whole row (96 k rows a Bozhou day: 1.4-1.7 -> 0.9 s CPU apart).
        for bits, moved in _field_sets(
            duck,
            "SELECT DISTINCT written_fields FROM merged WHERE written = 1 AND is_absent = 0 "
            "ORDER BY 1",
            tuple(FIELDS),
        ):
            statedb.update_rows(
                connection,
                "evidence_summary",
                "person_id",
                (*(f"{name}_{part}" for name in moved for part in ("time", "ref")), "as_of"),
                summary_rows(moved, f"is_absent = 0 AND written_fields = {bits}"),
            )
    phase("write summary")


# The silent certifications' columns that vary (statewrite.insert), and those that do not.
CERTIFIED_VARYING = ("person_id", "effective_date", "valid_until", "evidence", "details")
# The summary's key and refs, in merge.sql's order (each ref's time is derived from it).
SUMMARY_KEYED = ("person_id", *REF_COLUMNS)
# Rows per DuckDB fetch when streaming rows to the state database (bounded memory).
FETCH_ROWS = 100_000


def _certified_fixed(as_of: dt.date, catalog_version: str, run_id: int | None) -> dict[str, Any]:
    """The columns of a silent certification that are the same on every row of a pass."""
    return {
        "run_id": run_id,
        "kind": "certified",
        "decided_on": as_of,
        "channel": "auto",
        "rule": Rule.STRONG_ALIVE_CERTIFIES,
        "catalog_version": catalog_version,
    }


def _fetched(duck: duckdb.DuckDBPyConnection, sql: str) -> Iterator[tuple[Any, ...]]:
    """The rows of `sql`, fetched a batch at a time (the caller consumes them before its next
    DuckDB query)."""
    result = duck.execute(sql)
    while rows := result.fetchmany(FETCH_ROWS):
        yield from rows


def _non_null_mask(columns: Sequence[str]) -> str:
    """SQL: which of `columns` are not NULL, one bit each (bit i: columns[i])."""
    return (
        "("
        + " + ".join(
            f"CASE WHEN {column} IS NULL THEN 0 ELSE {1 << bit} END"
            for bit, column in enumerate(columns)
        )
        + ")"
    )


def _mask_of(present: Sequence[str], columns: Sequence[str]) -> int:
    return sum(1 << columns.index(column) for column in present)


def _non_null_sets(
    duck: duckdb.DuckDBPyConnection, table: str, where: str, columns: Sequence[str]
) -> list[tuple[str, ...]]:
    """Each distinct set of `columns` not NULL together in the rows of `table` that match
    `where` (a NULL bound by sqlite3 costs more than a value: each set is written apart,
    its NULL columns left out)."""
    return [
        tuple(column for bit, column in enumerate(columns) if int(bits) >> bit & 1)
        for (bits,) in duck.execute(
            f"SELECT DISTINCT {_non_null_mask(columns)} FROM {table} WHERE {where} ORDER BY 1"
        ).fetchall()
    ]


def _full_pass_concerned(
    connection: Connection, duck: duckdb.DuckDBPyConnection, unseeded: bool
) -> None:
    """A full pass recomputes every person's summary, but the rules need to look again only
    at the persons whose stored summary changes (`written`), who have no state row yet (they
    get a seed), or who have a candidate certification for a year after the one they were
    last certified silently in (alive): the others were decided on this same summary by an
    earlier pass, as an incremental pass leaves them. Sets `merged.touched` and makes the
    DuckDB table `unseeded`.

    Reads of the state rows only what can matter: every person_id when some registry
    persons have no state row (`unseeded`, from the tables' row counts), else none; and the
    alive persons certified silently before the latest candidate year (or never) — a second
    full pass in the same year reads almost nobody's."""
    latest_year = _scalar(duck, "SELECT max(yr) FROM found_candidates")
    narrow = statedb.read_arrow(
        connection,
        "SELECT person_id, status, certified_year FROM person_state WHERE status = 'alive' AND "
        f"(certified_year IS NULL OR certified_year < {int(latest_year or 0)})",
        NARROW_SCHEMA,
    )
    duck.register("narrow_state", narrow)
    if unseeded:
        having = statedb.read_arrow(connection, "SELECT person_id FROM person_state", KEY_SCHEMA)
        duck.register("state_keys", having)
        run(
            duck,
            "CREATE OR REPLACE TEMP TABLE unseeded AS SELECT person_id FROM people AS p "
            "WHERE NOT EXISTS (SELECT 1 FROM state_keys AS s WHERE s.person_id = p.person_id)",
        )
        duck.unregister("state_keys")
        del having
    else:
        run(duck, "CREATE OR REPLACE TEMP TABLE unseeded AS SELECT person_id FROM people LIMIT 0")
    run(
        duck,
        """
        CREATE OR REPLACE TEMP TABLE concerned AS
        SELECT m.person_id FROM merged AS m WHERE m.written = 1
        UNION
        SELECT person_id FROM unseeded
        UNION
        SELECT c.person_id
        FROM found_candidates AS c
        JOIN narrow_state AS s ON s.person_id = c.person_id
        WHERE s.status = 'alive' AND (s.certified_year IS NULL OR c.yr > s.certified_year)
        """,
    )
    run(
        duck,
        "UPDATE merged SET touched = CASE WHEN person_id IN (SELECT person_id FROM concerned) "
        "THEN 1 ELSE 0 END",
    )
    run(duck, "DROP TABLE concerned")
    duck.unregister("narrow_state")


def _scalar(duck: duckdb.DuckDBPyConnection, sql: str) -> Any:
    rows = duck.execute(sql).fetchall()
    return rows[0][0] if rows else None


def _months(
    connection: Connection,
    duck: duckdb.DuckDBPyConnection,
    catalog: Catalog,
    params: RuleParameters,
    *,
    whole_registry: bool,
) -> None:
    """DuckDB table `months` (person_id, seed_months, months) of the persons the rules look
    at (touched in `merged`, or in `unseeded`):
    seed_months, the shortest certification period of the person's programs (the fallback
    when none is listed: a seed's validity); months, the period the rules use — the same,
    except that a catalog with one period everywhere gives it to every person."""
    by_program = {code: p.certification_period_months for code, p in catalog.programs.items()}
    duck.register(
        "program_periods",
        pa.table(
            {
                "program": pa.array(list(by_program), pa.string()),
                "months": pa.array(list(by_program.values()), pa.int32()),
            }
        ),
    )
    distinct = set(by_program.values())
    single = distinct.pop() if len(distinct) == 1 else None
    # the persons the rules look at: those touched and those seeded now
    run(
        duck,
        "CREATE OR REPLACE TEMP TABLE concerned AS "
        "SELECT person_id FROM merged WHERE touched = 1 UNION SELECT person_id FROM unseeded",
    )
    # the programs are needed for the seeds (persons without a state row) and, with several
    # periods, for every person concerned
    wanted = _id_list(
        duck,
        "SELECT person_id FROM "
        + ("unseeded" if single is not None else "concerned")
        + " ORDER BY person_id",
    )
    if len(wanted) > statedb.IDS_PER_QUERY * READ_ALL_AFTER_CHUNKS or (
        whole_registry
        and _read_whole(
            len(wanted), connection.execute(select(func.count()).select_from(people_t)).scalar_one()
        )
    ):
        wanted_ids: list[int] | None = None  # most of the registry: one read of every enrollment
    else:
        wanted_ids = wanted
    programs = (
        statedb.read_by_ids(
            connection,
            "SELECT person_id, program FROM enrollments",
            "person_id",
            wanted_ids,
            PROGRAMS_SCHEMA,
        )
        if wanted_ids is None or wanted_ids
        else PROGRAMS_SCHEMA.empty_table()
    )
    duck.register("person_programs", programs)
    fallback = params.fallback_certification_period_months
    run(
        duck,
        f"""
        CREATE OR REPLACE TEMP TABLE months AS
        SELECT p.person_id,
               coalesce(min(pp.months), {fallback}) AS seed_months,
               {single if single is not None else f"coalesce(min(pp.months), {fallback})"}
                   AS months
        FROM concerned AS p
        LEFT JOIN person_programs AS e ON e.person_id = p.person_id
        LEFT JOIN program_periods AS pp ON pp.program = e.program
        GROUP BY p.person_id
        """,
    )
    duck.unregister("person_programs")
    run(duck, "DROP TABLE concerned")


def _evidence_json(refs: Sequence[str], cache: dict[tuple[str, ...], str]) -> str:
    """A decision's evidence as the JSON text stored (a death's refs are the evidence of the
    death and of each termination: encoded once)."""
    key = tuple(refs)
    text = cache.get(key)
    if text is None:
        text = cache[key] = json.dumps([dict(ref_record(ref)) for ref in refs])
    return text


def _decision_values(
    person_id: int,
    item: Planned,
    as_of: str,
    catalog_version: str,
    run_id: int | None,
    evidence_cache: dict[tuple[str, ...], str],
) -> tuple[Any, ...]:
    """A decision (`_decision_row`) as the DECISION_COLUMNS tuple written to SQLite: dates as
    ISO text and JSON as text, as SQLAlchemy stores them."""
    return (
        run_id,
        person_id,
        item.enrollment_id,
        item.kind,
        item.effective_date.isoformat(),
        as_of,
        "auto" if item.kind == "certified" else None,
        None if item.valid_until is None else item.valid_until.isoformat(),
        _evidence_json(item.evidence, evidence_cache),
        item.rule,
        catalog_version,
        None if item.details is None else json.dumps(item.details),
    )


def _decide_rare(
    connection: Connection,
    duck: duckdb.DuckDBPyConnection,
    catalog: Catalog,
    as_of: dt.date,
    params: RuleParameters,
    report: PassReport,
) -> list[tuple[Any, ...]]:
    """The persons with a death or status record, or not alive: `decide` one by one (a few
    thousand at Bozhou scale). Writes their status decisions, transitions, reviews and
    states; returns their certifications (written with the others, CERTIFIED_VARYING
    tuples)."""
    rare = duck.sql(
        f"SELECT {', '.join(STATE_COLUMNS)}, has_row, months, {', '.join(REF_COLUMNS)} "
        "FROM facts WHERE rare = 1 ORDER BY person_id"
    ).to_arrow_table()
    if rare.num_rows == 0:
        return []
    rows = rare.to_pylist()
    # seeds first: the transitions need a state row
    statedb.insert_rows(
        connection,
        "person_state",
        STATE_COLUMNS,
        [
            tuple(
                v.isoformat() if isinstance(v, dt.date) else v
                for v in (r[c] for c in STATE_COLUMNS)
            )
            for r in rows
            if not r["has_row"]
        ],
    )
    candidates: dict[int, list[tuple[int, str]]] = {}
    for person_id, year, ref in duck.execute(
        "SELECT c.person_id, c.yr, c.ref FROM found_candidates AS c "
        "JOIN facts AS f ON f.person_id = c.person_id WHERE f.rare = 1 ORDER BY 1, 2"
    ).fetchall():
        candidates.setdefault(int(person_id), []).append((int(year), str(ref)))
    needing = [
        int(r["person_id"])
        for r in rows
        if any(r[f"{name}_ref"] for name in ("death_first", *STATUS_FIELDS))
    ]
    enrollments: dict[int, list[tuple[int, str, str]]] = {}
    for start in range(0, len(needing), 5000):
        chunk = needing[start : start + 5000]
        for enrollment_id, person_id, program, status in connection.execute(
            select(
                enrollments_t.c.enrollment_id,
                enrollments_t.c.person_id,
                enrollments_t.c.program,
                enrollments_t.c.status,
            )
            .where(bulk.among(connection, enrollments_t.c.person_id, chunk))
            .order_by(enrollments_t.c.enrollment_id)
        ).all():
            enrollments.setdefault(int(person_id), []).append(
                (int(enrollment_id), str(program), str(status))
            )

    certified_rows: list[tuple[Any, ...]] = []
    evidence_cache: dict[tuple[str, ...], str] = {}
    status_items: list[tuple[int, Planned]] = []
    state_rows: list[tuple[Any, ...]] = []
    for row in rows:
        person_id = int(row["person_id"])
        state = {column: row[column] for column in STATE_COLUMNS}
        facts = PersonFacts(
            person_id,
            Summary(person_id, {name: row[f"{name}_ref"] for name in FIELDS}),
            candidates.get(person_id, []),
            state,
            int(row["months"]),
        )
        planned, blocked = decide(facts, enrollments.get(person_id, []), catalog, params)
        new_state = dict(state)
        for item in planned:
            if item.kind == "certified":
                certified_rows.append(
                    (
                        person_id,
                        item.effective_date.isoformat(),
                        None if item.valid_until is None else item.valid_until.isoformat(),
                        _evidence_json(item.evidence, evidence_cache),
                        None if item.details is None else json.dumps(item.details),
                    )
                )
            else:
                status_items.append((person_id, item))
                if item.person_status is not None:
                    new_state["status"] = item.person_status
                    new_state["status_since"] = item.effective_date
            new_state = advance_state(
                new_state,
                kind=item.kind,
                effective_date=item.effective_date,
                decided_on=as_of,
                channel="auto" if item.kind == "certified" else None,
                valid_until=item.valid_until,
            )
        new_state = deferred_state(facts, new_state, blocked)
        if new_state != state:
            new_state["updated_on"] = as_of
            state_rows.append(
                (
                    person_id,
                    *(
                        v.isoformat() if isinstance(v, dt.date) else v
                        for v in (new_state[name] for name in MOVED_FIELDS)
                    ),
                )
            )
    _write_status_decisions(connection, status_items, as_of, catalog.version, report)
    statedb.update_rows(connection, "person_state", "person_id", MOVED_FIELDS, state_rows)
    return certified_rows


def _decision_row(
    person_id: int, item: Planned, as_of: dt.date, catalog_version: str, run_id: int | None
) -> dict[str, Any]:
    return {
        "run_id": run_id,
        "person_id": person_id,
        "enrollment_id": item.enrollment_id,
        "kind": item.kind,
        "effective_date": item.effective_date,
        "decided_on": as_of,
        "channel": "auto" if item.kind == "certified" else None,
        "valid_until": item.valid_until,
        "evidence": [dict(ref_record(ref)) for ref in item.evidence],
        "rule": item.rule,
        "catalog_version": catalog_version,
        "details": item.details,
    }


def _write_status_decisions(
    connection: Connection,
    items: Sequence[tuple[int, Planned]],
    as_of: dt.date,
    catalog_version: str,
    report: PassReport,
) -> None:
    """The decisions that change a status (the rare ones): inserted together for their ids,
    then the transitions through the tables, then the reviews."""
    if not items:
        return
    if is_sqlite(connection):
        # one executemany; the ids follow on from the largest (the pass holds the write lock,
        # so nobody else inserts in between) — RETURNING in parameter order made SQLAlchemy
        # run one INSERT per decision
        before = connection.execute(select(func.max(decisions_t.c.decision_id))).scalar() or 0
        as_of_text = as_of.isoformat()
        evidence_cache: dict[tuple[str, ...], str] = {}
        statedb.insert_rows(
            connection,
            "decisions",
            DECISION_COLUMNS,
            [
                _decision_values(
                    person_id, item, as_of_text, catalog_version, report.run_id, evidence_cache
                )
                for person_id, item in items
            ],
        )
        decision_ids = [
            int(d)
            for d in connection.execute(
                select(decisions_t.c.decision_id)
                .where(decisions_t.c.decision_id > before)
                .order_by(decisions_t.c.decision_id)
            ).scalars()
        ]
    else:
        result = connection.execute(
            insert(decisions_t).returning(decisions_t.c.decision_id, sort_by_parameter_order=True),
            [
                _decision_row(person_id, item, as_of, catalog_version, report.run_id)
                for person_id, item in items
            ],
        )
        decision_ids = [int(d) for d in result.scalars().all()]
    report.decisions += len(decision_ids)
    person_changes: list[tuple[int, str, int, dt.date]] = []
    enrollment_changes: list[EnrollmentChange] = []
    for (person_id, item), decision_id in zip(items, decision_ids, strict=True):
        if item.person_status is not None:
            person_changes.append((person_id, item.person_status, decision_id, item.effective_date))
            if item.kind == "deceased":
                report.deceased += 1
            elif item.kind != "review":
                report.status_changes += 1
        if item.enrollment_id is not None and item.enrollment_status is not None:
            enrollment_changes.append(
                EnrollmentChange(
                    item.enrollment_id, item.enrollment_status, decision_id, item.effective_date
                )
            )
            if item.enrollment_status == "terminated":
                report.terminated += 1
            else:
                report.suspended += 1
    _apply_person_transitions(connection, person_changes)
    apply_enrollment_transitions(connection, enrollment_changes, skip_unchanged=True)
    reviews = [
        (person_id, item.review, decision_id)
        for (person_id, item), decision_id in zip(items, decision_ids, strict=True)
        if item.review is not None
    ]
    report.reviews_opened += _open_reviews(connection, reviews, as_of)


def _open_reviews(
    connection: Connection,
    reviews: Sequence[tuple[int, tuple[str, dict[str, list[str]]], int]],
    as_of: dt.date,
) -> int:
    """File the contradictions (person, (kind, sides as refs), decision id) in bulk, as
    `reviews.open_review` files one: one open review per person and kind (one already open is
    kept). Returns the reviews filed (the ones kept included, as before)."""
    if not reviews:
        return 0
    persons = sorted({person_id for person_id, _, _ in reviews})
    open_now: set[tuple[int, str]] = set()
    for start in range(0, len(persons), 5000):
        chunk = persons[start : start + 5000]
        open_now.update(
            (int(p), str(k))
            for p, k in connection.execute(
                select(reviews_t.c.person_id, reviews_t.c.kind).where(
                    bulk.among(connection, reviews_t.c.person_id, chunk),
                    reviews_t.c.status == "open",
                )
            ).all()
        )
    rows = []
    for person_id, (kind, sides), decision_id in reviews:
        if (person_id, kind) in open_now:
            continue
        open_now.add((person_id, kind))
        rows.append(
            {
                "person_id": person_id,
                "kind": kind,
                "sides": {
                    side: [dict(ref_record(r)) for r in refs] for side, refs in sides.items()
                },
                "status": "open",
                "opened_on": as_of,
                "decision_id": decision_id,
            }
        )
    bulk.insert_rows(connection, reviews_t, rows)
    return len(reviews)


def _apply_person_transitions(
    connection: Connection, changes: Sequence[tuple[int, str, int, dt.date]]
) -> None:
    """Person status changes (person, to, decision id, date) in bulk, each checked against
    THE transition table (`person_transition_allowed`) as `apply_person_transition` checks
    it, with the same `status_events` rows. (At most one change per person and pass.)"""
    if not changes:
        return
    ids = sorted({person_id for person_id, *_ in changes})
    current: dict[int, str] = {}
    for start in range(0, len(ids), 5000):
        chunk = ids[start : start + 5000]
        current.update(
            (int(p), str(s))
            for p, s in connection.execute(
                select(state_t.c.person_id, state_t.c.status).where(
                    bulk.among(connection, state_t.c.person_id, chunk)
                )
            ).all()
        )
    events: list[dict[str, Any]] = []
    for person_id, to_status, decision_id, on in changes:
        before = current[person_id]
        if not person_transition_allowed(before, to_status):
            apply_person_transition(connection, person_id, to_status, decision_id=decision_id)
            raise AssertionError("unreachable: the transition above is refused")
        current[person_id] = to_status
        events.append(
            {
                "target": "person",
                "person_id": person_id,
                "enrollment_id": None,
                "from_status": before,
                "to_status": to_status,
                "decision_id": decision_id,
                "at": on,
            }
        )
    statedb.update_rows(
        connection,
        "person_state",
        "person_id",
        ("status", "status_since"),
        [(e["person_id"], e["to_status"], e["at"].isoformat()) for e in events],
    )
    bulk.insert_rows(connection, status_events_t, events)
