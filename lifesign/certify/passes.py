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

import datetime as dt
import os
import re
import signal
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, cast

from sqlalchemy import Connection, Engine, Table, delete, func, insert, select, text, update
from sqlalchemy.dialects import postgresql, sqlite

from lifesign.catalog import Catalog
from lifesign.certify.ledger import STATE_FIELDS, advance_state, seed_person_state
from lifesign.certify.models import (
    AppliedBatch,
    Decision,
    EvidenceSummary,
    PersonStateRow,
)
from lifesign.certify.reviews import open_review
from lifesign.certify.rules import Rule, RuleParameters, add_months, rule_parameters
from lifesign.certify.summary import (
    FIELDS,
    STATUS_FIELDS,
    Summary,
    ref_date,
    ref_record,
    ref_time,
    scan,
    summary_row,
)
from lifesign.certify.transitions import (
    EnrollmentChange,
    apply_enrollment_transitions,
    apply_person_transition,
)
from lifesign.config import Settings
from lifesign.errors import LifesignError, Location
from lifesign.ingest import lake
from lifesign.store.database import is_sqlite
from lifesign.store.models import Batch, Enrollment, Person

Mode = Literal["full", "incremental"]
FAULT_ENV = "LIFESIGN_CERTIFY_FAULT"
EVIDENCE_BATCH_KINDS = ("file", "pull", "push", "retry")
CHUNK = 20_000

decisions_t = cast(Table, Decision.__table__)
summary_t = cast(Table, EvidenceSummary.__table__)
applied_t = cast(Table, AppliedBatch.__table__)
state_t = cast(Table, PersonStateRow.__table__)
batches_t = cast(Table, Batch.__table__)
people_t = cast(Table, Person.__table__)
enrollments_t = cast(Table, Enrollment.__table__)

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
    latest = connection.execute(f"SELECT max(event_time) FROM read_parquet({quoted})").fetchone()[0]
    return latest is None or latest < dt.datetime.combine(as_of + dt.timedelta(days=1), dt.time())


def _chunks(values: Sequence[int], size: int = 5000) -> Iterable[Sequence[int]]:
    for start in range(0, len(values), size):
        yield values[start : start + size]


def _rows_by_person(
    connection: Connection, table: Table, persons: Sequence[int] | None
) -> dict[int, dict[str, Any]]:
    out: dict[int, dict[str, Any]] = {}
    if persons is None:
        for row in connection.execute(select(table)).mappings():
            out[int(row["person_id"])] = dict(row)
        return out
    for chunk in _chunks(sorted(persons)):
        for row in connection.execute(
            select(table).where(table.c.person_id.in_(list(chunk)))
        ).mappings():
            out[int(row["person_id"])] = dict(row)
    return out


def _anchors(connection: Connection, persons: Sequence[int] | None) -> dict[int, dt.date]:
    query = select(people_t.c.person_id, people_t.c.last_certified_on).where(
        people_t.c.last_certified_on.isnot(None)
    )
    out: dict[int, dt.date] = {}
    if persons is None:
        out.update((int(p), d) for p, d in connection.execute(query).all())
        return out
    for chunk in _chunks(sorted(persons)):
        rows = connection.execute(query.where(people_t.c.person_id.in_(list(chunk)))).all()
        out.update((int(p), d) for p, d in rows)
    return out


def _periods(
    connection: Connection, catalog: Catalog, persons: Sequence[int], fallback: int
) -> dict[int, int]:
    """The shortest certification period of each person's programs (months)."""
    by_program = {code: p.certification_period_months for code, p in catalog.programs.items()}
    distinct = set(by_program.values())
    if len(distinct) == 1:
        only = distinct.pop()
        # persons without enrollments get the fallback; a city with one period everywhere
        # needs no join (the common case, and the fast one)
        return dict.fromkeys(persons, only)
    out: dict[int, int] = {}
    for chunk in _chunks(sorted(persons)):
        rows = connection.execute(
            select(enrollments_t.c.person_id, enrollments_t.c.program).where(
                enrollments_t.c.person_id.in_(list(chunk))
            )
        ).all()
        for person_id, program in rows:
            months = by_program.get(program)
            if months is not None:
                out[person_id] = min(months, out.get(person_id, months))
    return {p: out.get(p, fallback) for p in persons}


def _bulk_insert(connection: Connection, table: Table, rows: Sequence[dict[str, Any]]) -> None:
    for start in range(0, len(rows), CHUNK):
        connection.execute(insert(table), list(rows[start : start + CHUNK]))


def _upsert_summaries(connection: Connection, rows: Sequence[dict[str, Any]]) -> None:
    if not rows:
        return
    dialect_insert = sqlite.insert if is_sqlite(connection) else postgresql.insert
    statement = dialect_insert(summary_t)
    statement = statement.on_conflict_do_update(
        index_elements=["person_id"],
        set_={
            c.name: statement.excluded[c.name] for c in summary_t.columns if c.name != "person_id"
        },
    )
    for start in range(0, len(rows), CHUNK):
        connection.execute(statement, list(rows[start : start + CHUNK]))


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
    with engine.begin() as connection:
        _lock(connection)
        _apply(connection, settings, catalog, as_of, mode, params, report)
        _fault("before_commit")
    _fault("after_commit")
    report.seconds = time.perf_counter() - started
    return report


def _apply(
    connection: Connection,
    settings: Settings,
    catalog: Catalog,
    as_of: dt.date,
    mode: Mode,
    params: RuleParameters,
    report: PassReport,
) -> None:
    clock = time.perf_counter()

    def phase(name: str) -> None:
        nonlocal clock
        now = time.perf_counter()
        report.phases[name] = report.phases.get(name, 0.0) + now - clock
        clock = now

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
    import duckdb

    lake_connection = duckdb.connect()
    try:
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
        phase("plan")
        if mode == "full":
            anchors = _anchors(connection, None)
        else:
            new_files = [p for paths in groups.values() for p in paths]
            persons_in: list[int] = []
            if new_files:
                quoted = (
                    "[" + ", ".join("'" + str(p).replace("'", "''") + "'" for p in new_files) + "]"
                )
                persons_in = [
                    int(r[0])
                    for r in lake_connection.execute(
                        f"SELECT DISTINCT person_id FROM read_parquet({quoted}) "
                        "WHERE person_id IS NOT NULL"
                    ).fetchall()
                ]
            anchors = _anchors(connection, persons_in)
        found = scan(
            lake_connection,
            catalog,
            anchors,
            as_of,
            [(paths, lower) for lower, paths in groups.items()],
        )
        report.records = found.records
        phase("scan")
        completeness = {
            batch_id: _complete(files.get(batch_id, []), as_of, lake_connection)
            for batch_id in lower_of
        }
        phase("complete")
    finally:
        lake_connection.close()

    # merge with the stored summary
    persons = sorted(set(found.summaries) | set(found.candidates))
    if mode == "full":
        connection.execute(delete(summary_t))
        stored: dict[int, dict[str, Any]] = {}
    else:
        stored = _rows_by_person(connection, summary_t, persons)
    touched: list[int] = []
    merged: dict[int, Summary] = {}
    for person_id in persons:
        row = stored.get(person_id)
        summary = Summary(person_id, {name: row[f"{name}_ref"] for name in FIELDS} if row else {})
        changed = summary.merge(found.summaries.get(person_id, {}))
        merged[person_id] = summary
        if changed or found.candidates.get(person_id) or row is None:
            touched.append(person_id)
    report.persons_touched = len(touched)
    summary_rows = [summary_row(p, merged[p].refs, as_of) for p in touched]
    if mode == "full":
        _bulk_insert(connection, summary_t, summary_rows)
    else:
        _upsert_summaries(connection, summary_rows)
    phase("summary")

    # states: seed what is missing, then read the touched persons'
    periods_by_program = {c: p.certification_period_months for c, p in catalog.programs.items()}
    # every registry person has a state row (a new registry import adds persons: seed them)
    people_count = connection.execute(select(func.count()).select_from(people_t)).scalar_one()
    state_count = connection.execute(select(func.count()).select_from(state_t)).scalar_one()
    if people_count != state_count:
        seed_person_state(connection, None, periods_by_program)
    states = _rows_by_person(
        connection, state_t, None if mode == "full" and len(touched) > 50_000 else touched
    )
    periods = _periods(connection, catalog, touched, params.fallback_certification_period_months)
    phase("state")

    certified_rows: list[dict[str, Any]] = []
    state_rows: list[dict[str, Any]] = []
    catalog_version = catalog.version
    for person_id in touched:
        state = states.get(person_id)
        if state is None:
            continue  # evidence of a person no longer in the registry
        facts = PersonFacts(
            person_id,
            merged[person_id],
            found.candidates.get(person_id, []),
            state,
            periods[person_id],
        )
        status_changing = _needs_enrollments(facts)
        enrollments = _enrollments_of(connection, person_id) if status_changing else []
        planned, blocked = decide(facts, enrollments, catalog, params)
        new_state = dict(state)
        for item in planned:
            if item.kind == "certified":
                certified_rows.append(
                    _decision_row(person_id, item, as_of, catalog_version, report.run_id)
                )
                report.certified += 1
            else:
                _write_status_decision(connection, person_id, item, as_of, catalog_version, report)
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
            state_rows.append(new_state)
    report.decisions += len(certified_rows)
    phase("decide")
    _bulk_insert(connection, decisions_t, certified_rows)
    fields = (*STATE_FIELDS, "last_strong_event", "last_weak_event")
    if state_rows:
        from sqlalchemy import bindparam

        statement = (
            update(state_t)
            .where(state_t.c.person_id == bindparam("b_person_id"))
            .values({name: bindparam(f"b_{name}") for name in fields})
        )
        for start in range(0, len(state_rows), CHUNK):
            connection.execute(
                statement,
                [
                    {"b_person_id": row["person_id"], **{f"b_{n}": row.get(n) for n in fields}}
                    for row in state_rows[start : start + CHUNK]
                ],
            )
    phase("write")

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


def _needs_enrollments(facts: PersonFacts) -> bool:
    summary = facts.summary
    return any(summary.get(name) for name in ("death_first", *STATUS_FIELDS))


def _enrollments_of(connection: Connection, person_id: int) -> list[tuple[int, str, str]]:
    rows = connection.execute(
        select(enrollments_t.c.enrollment_id, enrollments_t.c.program, enrollments_t.c.status)
        .where(enrollments_t.c.person_id == person_id)
        .order_by(enrollments_t.c.enrollment_id)
    ).all()
    return [(int(e), str(p), str(s)) for e, p, s in rows]


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


def _write_status_decision(
    connection: Connection,
    person_id: int,
    item: Planned,
    as_of: dt.date,
    catalog_version: str,
    report: PassReport,
) -> None:
    """A decision that changes a status (rare): inserted alone, for its id, then applied."""
    row = _decision_row(person_id, item, as_of, catalog_version, report.run_id)
    decision_id = int(
        connection.execute(
            insert(decisions_t).values(row).returning(decisions_t.c.decision_id)
        ).scalar_one()
    )
    report.decisions += 1
    if item.person_status is not None:
        apply_person_transition(
            connection,
            person_id,
            item.person_status,
            decision_id=decision_id,
            on=item.effective_date,
        )
        if item.kind == "deceased":
            report.deceased += 1
        elif item.kind != "review":
            report.status_changes += 1
    if item.enrollment_id is not None and item.enrollment_status is not None:
        apply_enrollment_transitions(
            connection,
            [
                EnrollmentChange(
                    item.enrollment_id, item.enrollment_status, decision_id, item.effective_date
                )
            ],
            skip_unchanged=True,
        )
        if item.enrollment_status == "terminated":
            report.terminated += 1
        else:
            report.suspended += 1
    if item.review is not None:
        kind, sides = item.review
        open_review(
            connection,
            person_id,
            kind,
            {side: [dict(ref_record(r)) for r in refs] for side, refs in sides.items()},
            as_of,
            decision_id=decision_id,
        )
        report.reviews_opened += 1
