"""The steps of the daily lifecycle, each in the caller's transaction and each idempotent.

Run in this order by `run.run_lifecycle` (after ingest and the incremental pass):

1. `record_arrivals`   — committed evidence batches not seen before arrive today (for the guard).
2. `settle_deaths`     — a death recorded by the pass (or a visit): overpayment after the death
                          date opened as recovery cases, family told.
3. `resume_certified`  — a certification after an expiry suspension: resumed from the first day
                          of the next month, back pay of the suspended months.
4. `notify_certified`  — one 'certified' SMS per certification cycle; open visits cancelled.
5. `send_reminders`    — SMS reminders and visit tasks at the catalog's days before expiry.
6. `suspend_expired`   — suspension at expiry, unless the guard holds it.

"Idempotent" is by construction: each step acts on what the state still needs (a suspended
enrollment is not suspended again, an outbox message is unique per person, reason and
period, a visit task per person, reason and due date, a death settled once).

Set-based: a step finds its people in one or two indexed queries, reads what it needs about
them in a few more, and writes in bulk — decisions with `record_decisions`, status changes
with `apply_enrollment_transitions`, messages with `enqueue_many`, other rows with
`lifesign.store.bulk` — all in the caller's transaction. No step costs a round trip per person
(docs/lifecycle.md, "What a day costs"). `StepCounts.written` counts the rows each step wrote.
"""

from __future__ import annotations

import datetime as dt
import json
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any, NamedTuple, cast

from sqlalchemy import (
    CompoundSelect,
    Connection,
    Select,
    Table,
    and_,
    func,
    insert,
    or_,
    select,
    union,
    update,
)

from lifesign.catalog import Catalog
from lifesign.certify.ledger import record_decisions
from lifesign.certify.models import NOT_ALIVE, Decision, PersonStateRow
from lifesign.certify.transitions import EnrollmentChange, apply_enrollment_transitions
from lifesign.ingest.lake import batch_files
from lifesign.integrity.cases import open_case
from lifesign.lifecycle.guard import GuardFindings, hold_reason
from lifesign.lifecycle.models import (
    BackPay,
    CertificationNotice,
    DeathSettlement,
    HeldSuspension,
    Run,
    SourceArrival,
    VisitTask,
)
from lifesign.lifecycle.months import (
    add_months,
    age_on,
    days_in_month,
    first_of_next_month,
    period_of,
    period_start,
    periods_between,
)
from lifesign.lifecycle.parameters import GuardParameters, LifecycleParameters
from lifesign.notify.outbox import SmsRequest, enqueue_many
from lifesign.store.bulk import among, insert_rows, update_rows
from lifesign.store.models import Batch, Enrollment, Payment, Person

decisions_t = cast(Table, Decision.__table__)
state_t = cast(Table, PersonStateRow.__table__)
people_t = cast(Table, Person.__table__)
enrollments_t = cast(Table, Enrollment.__table__)
payments_t = cast(Table, Payment.__table__)
batches_t = cast(Table, Batch.__table__)
arrivals_t = cast(Table, SourceArrival.__table__)
holds_t = cast(Table, HeldSuspension.__table__)
tasks_t = cast(Table, VisitTask.__table__)
back_pay_t = cast(Table, BackPay.__table__)
deaths_t = cast(Table, DeathSettlement.__table__)
notices_t = cast(Table, CertificationNotice.__table__)
runs_t = cast(Table, Run.__table__)

# Stable rule ids of the decisions the lifecycle records (the ledger explains with them).
RULE_EXPIRED = "certification_expired"
RULE_RESUMED = "certified_after_suspension"
RULE_RECOVERY = "paid_after_death"
CHUNK = 5000
# Marks a run keeps in its counts (StepCounts fields): how far it looked, for the next run.
PEOPLE_THROUGH = "people_through"
DECISIONS_THROUGH = "decisions_through"
MARKS = (PEOPLE_THROUGH, DECISIONS_THROUGH)


@dataclass
class StepCounts:
    """What the lifecycle did today (merged into the run's counts)."""

    arrivals: int = 0
    deaths_settled: int = 0
    recovery_cases: int = 0
    overpayment: Decimal = Decimal("0")
    resumed: int = 0
    back_pay_months: int = 0
    back_pay_amount: Decimal = Decimal("0")
    certified_notices: int = 0
    visit_tasks: int = 0
    visit_tasks_cancelled: int = 0
    reminders: dict[str, int] = field(default_factory=dict)
    suspensions_due: int = 0
    suspended: int = 0
    held: int = 0
    holds_released: int = 0
    held_by_rule: dict[str, int] = field(default_factory=dict)
    messages: int = 0
    # The highest registry person id whose state the run made sure of (see run.seed_new_people),
    # and the highest decision id when the run looked for certifications to tell about.
    people_through: int = 0
    decisions_through: int = 0
    # Rows written, by "step.table" (e.g. "suspensions.decisions"): what a day cost.
    written: dict[str, int] = field(default_factory=dict)

    def wrote(self, step: str, table: str, rows: int = 1) -> None:
        if rows:
            key = f"{step}.{table}"
            self.written[key] = self.written.get(key, 0) + rows

    def to_json(self) -> dict[str, Any]:
        document: dict[str, Any] = {}
        for name, value in vars(self).items():
            document[name] = str(value) if isinstance(value, Decimal) else value
        return document


def latest_mark(connection: Connection, name: str) -> int | None:
    """The highest value of a mark (`MARKS`) among finished runs; None if none kept it."""
    found = connection.execute(
        select(func.max(runs_t.c.counts[name].as_integer())).where(runs_t.c.status == "finished")
    ).scalar()
    return None if found is None else int(found)


def _chunks(values: Sequence[int]) -> Iterable[Sequence[int]]:
    for start in range(0, len(values), CHUNK):
        yield values[start : start + CHUNK]


def _now(as_of: dt.date) -> dt.datetime:
    """The outbox's 'now' for messages of an as-of day: its start, in local time.

    A replay of a past day must not stamp today's wall clock on that day's messages; the
    outbox holds them for quiet hours by this time and its own clock when sending.
    """
    return dt.datetime.combine(as_of, dt.time(8, 0)).astimezone()


# ----------------------------------------------------------------------------- 1. arrivals


def record_arrivals(
    connection: Connection,
    catalog: Catalog,
    lake_dir: Path,
    as_of: dt.date,
    run_id: int,
) -> int:
    """Every committed evidence batch not yet in `source_arrivals` arrives today.

    Counts the batch's records and its strong alive records from its lake files (the guard
    weighs sources by what certifies, not by volume: electricity readings certify nobody).
    """
    seen = select(arrivals_t.c.batch_id)
    new = connection.execute(
        select(batches_t.c.batch_id, batches_t.c.source, batches_t.c.counts).where(
            batches_t.c.kind.notin_(("registry",)),
            batches_t.c.status == "committed",
            batches_t.c.batch_id.notin_(seen),
        )
    ).all()
    if not new:
        return 0
    strong_types = {e.code for e in catalog.evidence_of("strong", "alive")}
    in_lake = _lake_counts(lake_dir, [(int(b), str(s)) for b, s, _ in new], strong_types)
    rows = []
    for batch_id, source, counts in new:
        records, strong = in_lake.get(int(batch_id), (None, 0))
        if records is None:  # no lake file (an empty batch, or a registry-like import)
            records = int((counts or {}).get("accepted", 0))
        rows.append(
            {
                "batch_id": int(batch_id),
                "source": str(source),
                "arrived_on": as_of,
                "records": records,
                "strong_alive_records": strong,
                "run_id": run_id,
            }
        )
    connection.execute(insert(arrivals_t), rows)
    return len(rows)


def _lake_counts(
    lake_dir: Path, batches: Sequence[tuple[int, str]], strong_types: set[str]
) -> dict[int, tuple[int, int]]:
    """batch_id → (records, strong alive records) read from the batches' lake files."""
    import duckdb

    # One in-memory listing of the lake (re-read only where a folder changed), not a glob of
    # every month folder per batch: batch ids are unique across sources.
    files = [str(path) for path in batch_files(lake_dir, [batch_id for batch_id, _ in batches])]
    if not files:
        return {}
    con = duckdb.connect()
    try:
        types = sorted(strong_types) or [""]
        found = con.execute(
            "SELECT batch_id, count(*), count(*) FILTER (WHERE evidence_type IN "
            f"({', '.join('?' for _ in types)})) FROM read_parquet(?) GROUP BY batch_id",
            [*types, files],
        ).fetchall()
    finally:
        con.close()
    return {int(b): (int(n), int(s)) for b, n, s in found}


# ----------------------------------------------------------------------------- helpers


def _programs_text(catalog: Catalog, programs: Iterable[str]) -> list[str]:
    return [
        catalog.programs[code].name_zh if code in catalog.programs else code
        for code in sorted(set(programs))
    ]


def _person_rows(connection: Connection, person_ids: Iterable[int]) -> dict[int, Any]:
    found: dict[int, Any] = {}
    for chunk in _chunks(sorted(set(person_ids))):
        for row in connection.execute(
            select(
                people_t.c.person_id,
                people_t.c.name,
                people_t.c.phone,
                people_t.c.grid_code,
                people_t.c.birth_date,
                people_t.c.household_id,
            ).where(among(connection, people_t.c.person_id, chunk))
        ):
            found[int(row.person_id)] = row
    return found


def _enrollments_of(
    connection: Connection, person_ids: Iterable[int], statuses: tuple[str, ...]
) -> dict[int, list[Any]]:
    found: dict[int, list[Any]] = defaultdict(list)
    for chunk in _chunks(sorted(set(person_ids))):
        for row in connection.execute(
            select(
                enrollments_t.c.enrollment_id,
                enrollments_t.c.person_id,
                enrollments_t.c.program,
                enrollments_t.c.monthly_amount,
                enrollments_t.c.status,
            )
            .where(
                among(connection, enrollments_t.c.person_id, chunk),
                enrollments_t.c.status.in_(statuses),
            )
            .order_by(enrollments_t.c.enrollment_id)
        ):
            found[int(row.person_id)].append(row)
    return found


def _latest_decisions(
    connection: Connection, person_ids: Iterable[int], kind: str, *, by_enrollment: bool = False
) -> dict[int, Any]:
    """The latest decision of `kind` per person (or, `by_enrollment`, per enrollment) of these
    persons: decision_id, person_id, enrollment_id, rule, effective_date, evidence. Read by
    person (the ledger's (person_id, kind) index), newest kept."""
    found: dict[int, Any] = {}
    for chunk in _chunks(sorted(set(person_ids))):
        for row in connection.execute(
            select(
                decisions_t.c.decision_id,
                decisions_t.c.person_id,
                decisions_t.c.enrollment_id,
                decisions_t.c.rule,
                decisions_t.c.effective_date,
                decisions_t.c.evidence,
            )
            .where(among(connection, decisions_t.c.person_id, chunk), decisions_t.c.kind == kind)
            .order_by(decisions_t.c.decision_id)
        ):
            key = row.enrollment_id if by_enrollment else row.person_id
            if key is not None:
                found[int(key)] = row  # ascending ids: the last one read is the latest
    return found


def _monthly_amount(
    catalog: Catalog, enrollment: Any, month: dt.date, birth: dt.date | None
) -> Decimal:
    """The catalog's amount for the month (the person's age then); the enrollment's own
    amount when the catalog has no rule for that month (a program the city does not list)."""
    program = catalog.programs.get(str(enrollment.program))
    if program is not None:
        try:
            return program.monthly_amount(month, age_on(birth, month))
        except Exception:  # CatalogError: no rule in force for that month or age
            pass
    return Decimal(str(enrollment.monthly_amount))


def _queue(
    connection: Connection, requests: Sequence[SmsRequest], as_of: dt.date, counts: StepCounts
) -> list[bool]:
    """Queue a step's messages in one go; which of them went in (counted in `messages`)."""
    if not requests:
        return []
    queued = [
        outcome == "queued" for outcome in enqueue_many(connection, requests, now=_now(as_of))
    ]
    counts.messages += sum(queued)
    return queued


# ----------------------------------------------------------------------------- 2. deaths


def family_phones(connection: Connection, persons: Sequence[Any]) -> dict[int, str | None]:
    """Per deceased person, the phone to tell the family: the first living member of the
    household with a phone (lowest person_id), else the person's own registered phone
    (usually kept by the family). One read of the households' members."""
    households = sorted({str(p.household_id) for p in persons if p.household_id})
    members: dict[str, list[tuple[int, str]]] = defaultdict(list)
    for start in range(0, len(households), CHUNK):
        for person_id, household_id, phone in connection.execute(
            select(people_t.c.person_id, people_t.c.household_id, people_t.c.phone)
            .select_from(people_t.outerjoin(state_t, state_t.c.person_id == people_t.c.person_id))
            .where(
                among(connection, people_t.c.household_id, households[start : start + CHUNK]),
                people_t.c.phone.is_not(None),
                func.coalesce(state_t.c.status, "alive") != "deceased",
            )
            .order_by(people_t.c.person_id)
        ):
            members[str(household_id)].append((int(person_id), str(phone)))
    phones: dict[int, str | None] = {}
    for person in persons:
        relative = next(
            (
                phone
                for member_id, phone in (
                    members.get(str(person.household_id), []) if person.household_id else []
                )
                if member_id != int(person.person_id)
            ),
            None,
        )
        phones[int(person.person_id)] = relative or (str(person.phone) if person.phone else None)
    return phones


def family_phone(connection: Connection, person: Any) -> str | None:
    """The phone to tell one deceased person's family (see `family_phones`)."""
    return family_phones(connection, [person])[int(person.person_id)]


def overpayment_from(
    payments: Iterable[tuple[str, Any]], death_date: dt.date
) -> tuple[Decimal, list[dict[str, str]]]:
    """What was paid for the time after the death, from (period, amount) payments of one
    enrollment paid by the day of the settlement.

    Every payment for a period after the death month, plus the part of the death month's
    payment for the days after the death date (amount × days after / days in the month, to
    the fen). A death on the month's last day overpays nothing that month.
    """
    death_period = period_of(death_date)
    total = Decimal("0")
    lines: list[dict[str, str]] = []
    for period, amount in sorted(payments):
        if period < death_period:
            continue
        paid = Decimal(str(amount))
        if period == death_period:
            days = days_in_month(death_date)
            part = (paid * (days - death_date.day) / days).quantize(Decimal("0.01"))
            if part <= 0:
                continue
            lines.append({"period": period, "paid": str(paid), "overpaid": str(part)})
            total += part
        else:
            lines.append({"period": period, "paid": str(paid), "overpaid": str(paid)})
            total += paid
    return total, lines


def _payments_since(
    connection: Connection, first_period: Mapping[int, str], as_of: dt.date
) -> dict[int, list[tuple[str, Any]]]:
    """Per enrollment, its payments (period, amount) paid on or before `as_of` for a period
    from `first_period[enrollment]` on. One read per chunk of enrollments."""
    found: dict[int, list[tuple[str, Any]]] = defaultdict(list)
    ids = sorted(first_period)
    for chunk in _chunks(ids):
        earliest = min(first_period[e] for e in chunk)
        for enrollment_id, period, amount in connection.execute(
            select(payments_t.c.enrollment_id, payments_t.c.period, payments_t.c.amount).where(
                among(connection, payments_t.c.enrollment_id, chunk),
                payments_t.c.period >= earliest,
                payments_t.c.paid_on <= as_of,
            )
        ):
            if period >= first_period[int(enrollment_id)]:
                found[int(enrollment_id)].append((str(period), amount))
    return found


def overpayment_of(
    connection: Connection, enrollment_id: int, death_date: dt.date, as_of: dt.date
) -> tuple[Decimal, list[dict[str, str]]]:
    """What was paid for one enrollment after the death (see `overpayment_from`)."""
    payments = _payments_since(connection, {enrollment_id: period_of(death_date)}, as_of)
    return overpayment_from(payments.get(enrollment_id, []), death_date)


def settle_deaths(
    connection: Connection,
    catalog: Catalog,
    as_of: dt.date,
    run_id: int | None,
    counts: StepCounts,
    person_ids: Sequence[int] | None = None,
) -> None:
    """Every deceased person not settled yet: recovery case per overpaid enrollment, the
    family told ('terminated', and 'recovery_notice' when something is to be repaid).

    Set-based: the persons, their enrollments, death decisions, households and payments are
    read in a few queries; the messages, settlements and closings written in bulk. (Recovery
    cases open one by one through `open_case`: a case is rare, one per overpaid enrollment.)
    """
    query = select(state_t.c.person_id, state_t.c.death_date).where(
        state_t.c.status == "deceased",
        NOT_ALIVE,  # the words of the partial index of the few not alive (a planner's cue)
        state_t.c.death_date.is_not(None),
        state_t.c.person_id.notin_(select(deaths_t.c.person_id)),
    )
    if person_ids is not None:
        query = query.where(among(connection, state_t.c.person_id, person_ids))
    due = sorted(
        (int(person_id), death_date) for person_id, death_date in connection.execute(query)
    )
    if not due:
        return
    ids = [person_id for person_id, _ in due]
    people = _person_rows(connection, ids)
    enrollments = _enrollments_of(connection, ids, ("active", "suspended", "terminated"))
    deceased = _latest_decisions(connection, ids, "deceased")
    phones = family_phones(connection, [people[person_id] for person_id in ids])
    death_of = dict(due)
    payments = _payments_since(
        connection,
        {
            int(e.enrollment_id): period_of(death_of[person_id])
            for person_id in ids
            for e in enrollments.get(person_id, [])
        },
        as_of,
    )
    requests: list[SmsRequest] = []
    settlements: list[dict[str, Any]] = []
    for person_id, death_date in due:
        person = people[person_id]
        evidence = _death_evidence(deceased.get(person_id))
        total = Decimal("0")
        cases: list[dict[str, Any]] = []
        overpaid_programs: list[str] = []
        for enrollment in enrollments.get(person_id, []):
            enrollment_id = int(enrollment.enrollment_id)
            amount, lines = overpayment_from(payments.get(enrollment_id, []), death_date)
            if amount <= 0:
                continue
            case_id = open_case(
                connection,
                kind="recovery",
                rule=RULE_RECOVERY,
                person_id=person_id,
                opened_on=as_of,
                amount=amount,
                enrollment_id=enrollment_id,
                evidence=evidence,
                details={
                    "death_date": death_date.isoformat(),
                    "program": enrollment.program,
                    "payments": lines,
                    "rule": "payments for periods after the death month, and the days of the "
                    "death month after the death date",
                },
            )
            total += amount
            overpaid_programs.append(str(enrollment.program))
            cases.append(
                {"enrollment_id": enrollment_id, "case_id": case_id, "amount": str(amount)}
            )
            if case_id is not None:
                counts.recovery_cases += 1
                counts.wrote("deaths", "cases")
        programs = [str(e.program) for e in enrollments.get(person_id, [])]
        if programs:
            requests.append(
                SmsRequest(
                    person_id,
                    phones[person_id],
                    "terminated",
                    death_date.isoformat(),
                    {
                        "name": person.name or "",
                        "programs": _programs_text(catalog, programs),
                        "effective_date": death_date,
                    },
                )
            )
        if total > 0:
            requests.append(
                SmsRequest(
                    person_id,
                    phones[person_id],
                    "recovery_notice",
                    death_date.isoformat(),
                    {
                        "name": person.name or "",
                        "programs": _programs_text(catalog, overpaid_programs),
                        "amount": f"{total:.2f}",
                    },
                )
            )
        settlements.append(
            {
                "person_id": person_id,
                "death_date": death_date,
                "overpayment": total,
                "details": {"cases": cases},
                "settled_on": as_of,
                "run_id": run_id,
            }
        )
        counts.deaths_settled += 1
        counts.overpayment += total
    counts.wrote("deaths", "outbox", sum(_queue(connection, requests, as_of, counts)))
    insert_rows(connection, deaths_t, settlements)
    counts.wrote("deaths", "death_settlements", len(settlements))
    # Open visit tasks and held suspensions of a dead person have nothing left to do.
    counts.wrote(
        "deaths", "visit_tasks", _close_tasks(connection, ids, as_of, "cancelled", "deceased")
    )
    counts.wrote("deaths", "held_suspensions", _release_holds(connection, ids, as_of))


def _death_evidence(decision: Any) -> list[dict[str, Any]]:
    """The evidence of a death: the records of the person's latest `deceased` decision, and
    the decision itself."""
    if decision is None:
        return []
    records = list(decision.evidence or [])
    return [*records, {"source": "decisions", "record_id": str(decision.decision_id)}]


def certifications_since(
    connection: Connection,
    as_of: dt.date,
    since: dt.date | None,
    mark: int | None,
    fallback_start: dt.date,
) -> Select[Any] | CompoundSelect[Any]:
    """(person_id, decision_id) of the 'certified' decisions a run has not looked at yet.

    With a previous run (`since`, its as-of date) and its `decisions_through` mark: those
    decided after that day, and those recorded after the mark whatever their date (a manual
    certification recorded days after it happened is dated the day it happened) — two index
    ranges, a day of decisions each. Without them: those decided from `fallback_start` on
    (`since` when it is earlier). Never those decided after `as_of` (their day comes later).
    """
    columns = (decisions_t.c.person_id, decisions_t.c.decision_id)
    if since is None or mark is None:
        start = min(since or fallback_start, fallback_start)
        return select(*columns).where(
            decisions_t.c.kind == "certified",
            decisions_t.c.decided_on >= start,
            decisions_t.c.decided_on <= as_of,
        )
    decided_since = select(*columns).where(
        decisions_t.c.kind == "certified",
        decisions_t.c.decided_on > since,
        decisions_t.c.decided_on <= as_of,
    )
    recorded_since = select(*columns).where(
        decisions_t.c.decision_id > mark,
        decisions_t.c.decided_on <= as_of,
        # `kind || ''`: read through the key range (the decisions recorded since), not the
        # (kind, decided_on) index, which SQLite would otherwise pick for the kind
        decisions_t.c.kind.concat("") == "certified",
    )
    return union(decided_since, recorded_since)


# ----------------------------------------------------------------------------- 3. resumption


def resume_certified(
    connection: Connection,
    catalog: Catalog,
    as_of: dt.date,
    run_id: int | None,
    counts: StepCounts,
    since: dt.date | None,
) -> None:
    """Resume every enrollment suspended at expiry whose person is certified again.

    Resumes from the first day of the month after the certification; back pay = every month
    from the month of the suspension's effective date up to (not including) the resumption
    month, each at the catalog's amount for that month. Set-based: the candidates, their
    latest suspensions read in a few queries; decisions, transitions, back pay and messages
    written in bulk.
    """
    query = (
        select(enrollments_t.c.person_id)
        .select_from(enrollments_t.join(state_t, state_t.c.person_id == enrollments_t.c.person_id))
        .where(
            enrollments_t.c.status == "suspended",
            state_t.c.status == "alive",
            state_t.c.valid_until >= as_of,
        )
        .distinct()
    )
    if since is not None:
        recent = certifications_since(
            connection, as_of, since, latest_mark(connection, DECISIONS_THROUGH), since
        ).subquery()
        query = query.where(enrollments_t.c.person_id.in_(select(recent.c.person_id)))
    person_ids = sorted(int(p) for (p,) in connection.execute(query))
    if not person_ids:
        return
    states = {
        int(row.person_id): row
        for chunk in _chunks(person_ids)
        for row in connection.execute(
            select(state_t.c.person_id, state_t.c.last_certified_on, state_t.c.valid_until).where(
                among(connection, state_t.c.person_id, chunk)
            )
        )
    }
    people = _person_rows(connection, person_ids)
    suspended = _enrollments_of(connection, person_ids, ("suspended",))
    suspensions = _latest_decisions(connection, person_ids, "suspended", by_enrollment=True)
    decisions: list[dict[str, Any]] = []
    resumed: list[tuple[Any, int, list[str], Decimal, dt.date]] = []  # enrollment, person...
    for person_id in person_ids:
        state = states[person_id]
        resumes_on = first_of_next_month(state.last_certified_on or as_of)
        for enrollment in suspended.get(person_id, []):
            suspension = suspensions.get(int(enrollment.enrollment_id))
            if suspension is None or suspension.rule != RULE_EXPIRED:
                continue  # suspended for another reason (prison, moving): not ours to resume
            if (
                state.last_certified_on is None
                or state.last_certified_on < suspension.effective_date - dt.timedelta(days=1)
            ):
                continue  # the certification predates the suspension: still expired
            periods = periods_between(suspension.effective_date, resumes_on)
            amounts = [
                _monthly_amount(catalog, enrollment, period_start(p), people[person_id].birth_date)
                for p in periods
            ]
            amount = sum(amounts, Decimal("0"))
            decisions.append(
                {
                    "person_id": person_id,
                    "enrollment_id": int(enrollment.enrollment_id),
                    "kind": "resumed",
                    "effective_date": resumes_on,
                    "decided_on": as_of,
                    "rule": RULE_RESUMED,
                    "catalog_version": catalog.version,
                    "evidence": [{"source": "decisions", "record_id": str(suspension.decision_id)}],
                    "details": {
                        "suspended_from": suspension.effective_date.isoformat(),
                        "certified_on": state.last_certified_on.isoformat(),
                        "back_pay_periods": periods,
                        "back_pay_months": len(periods),
                        "back_pay_amount": str(amount),
                        "monthly_amounts": [str(a) for a in amounts],
                    },
                    "run_id": run_id,
                }
            )
            resumed.append((enrollment, person_id, periods, amount, resumes_on))
    if not decisions:
        return
    decision_ids = record_decisions(connection, decisions)
    counts.wrote("resumptions", "decisions", len(decision_ids))
    counts.wrote(
        "resumptions",
        "status_events",
        apply_enrollment_transitions(
            connection,
            [
                EnrollmentChange(int(enrollment.enrollment_id), "active", decision_id, resumes_on)
                for (enrollment, _, _, _, resumes_on), decision_id in zip(
                    resumed, decision_ids, strict=True
                )
            ],
        ),
    )
    insert_rows(
        connection,
        back_pay_t,
        [
            {
                "enrollment_id": int(enrollment.enrollment_id),
                "person_id": person_id,
                "decision_id": decision_id,
                "months": len(periods),
                "periods": periods,
                "amount": amount,
                "resumes_on": resumes_on,
                "decided_on": as_of,
            }
            for (enrollment, person_id, periods, amount, resumes_on), decision_id in zip(
                resumed, decision_ids, strict=True
            )
        ],
    )
    counts.wrote("resumptions", "back_pay", len(resumed))
    per_person: dict[int, tuple[list[str], int, Decimal, dt.date]] = {}
    for enrollment, person_id, periods, amount, resumes_on in resumed:
        programs, months, total, _ = per_person.get(person_id, ([], 0, Decimal("0"), resumes_on))
        per_person[person_id] = (
            [*programs, str(enrollment.program)],
            max(months, len(periods)),
            total + amount,
            resumes_on,
        )
        counts.resumed += 1
        counts.back_pay_months += len(periods)
        counts.back_pay_amount += amount
    requests = [
        SmsRequest(
            person_id,
            people[person_id].phone,
            "resumed",
            resumes_on.isoformat(),
            {
                "name": people[person_id].name or "",
                "programs": _programs_text(catalog, programs),
                "resumed_from": resumes_on,
                "back_pay_months": months,
                "back_pay_amount": f"{total:.2f}",
            },
        )
        for person_id, (programs, months, total, resumes_on) in per_person.items()
    ]
    counts.wrote("resumptions", "outbox", sum(_queue(connection, requests, as_of, counts)))


# ----------------------------------------------------------------------------- 4. certified


class _Certification(NamedTuple):
    """A certification `notify_certified` may tell (the columns of its query, in order)."""

    person_id: int
    decision_id: int
    effective_date: dt.date
    valid_until: dt.date
    channel: str | None
    evidence_type: str | None
    told_until: dt.date | None
    name: str | None
    phone: str | None


def notify_certified(
    connection: Connection,
    catalog: Catalog,
    as_of: dt.date,
    counts: StepCounts,
    parameters: LifecycleParameters,
    since: dt.date | None,
) -> None:
    """One 'certified' SMS per certification cycle, and open visit tasks cancelled.

    A person is told when certified for the first time, or when the certification comes
    within `certified_notice_window_days` of (or after) the expiry they were last told about.

    The certifications looked at: those decided since the previous run, and those recorded
    since (decision ids above the `decisions_through` mark the runs keep: a manual
    certification recorded days after it happened is dated the day it happened). Without a
    previous run or a mark, those of the last `certified_lookback_days`.
    """
    lookback_start = as_of - dt.timedelta(days=parameters.certified_lookback_days)
    counts.decisions_through = int(
        connection.execute(select(func.max(decisions_t.c.decision_id))).scalar() or 0
    )
    candidates = certifications_since(
        connection, as_of, since, latest_mark(connection, DECISIONS_THROUGH), lookback_start
    ).subquery()
    latest = (
        select(
            candidates.c.person_id,
            func.max(candidates.c.decision_id).label("decision_id"),
        )
        .group_by(candidates.c.person_id)
        .subquery()
    )
    # Only what may still need telling: alive, and certified past what they were told.
    rows = connection.execute(
        select(
            decisions_t.c.person_id,
            decisions_t.c.decision_id,
            decisions_t.c.effective_date,
            decisions_t.c.valid_until,
            decisions_t.c.channel,
            # the SMS names the evidence: the type of the decision's first record
            decisions_t.c.evidence[(0, "evidence_type")].as_string().label("evidence_type"),
            notices_t.c.valid_until.label("told_until"),
            people_t.c.name,
            people_t.c.phone,
        )
        .select_from(
            latest.join(decisions_t, decisions_t.c.decision_id == latest.c.decision_id)
            .join(state_t, state_t.c.person_id == decisions_t.c.person_id)
            .join(people_t, people_t.c.person_id == decisions_t.c.person_id)
            .outerjoin(notices_t, notices_t.c.person_id == decisions_t.c.person_id)
        )
        .where(
            state_t.c.status == "alive",
            decisions_t.c.valid_until.is_not(None),
            or_(
                notices_t.c.valid_until.is_(None),
                decisions_t.c.valid_until > notices_t.c.valid_until,
            ),
        )
    ).all()
    # here, not in SQL: see reminders; as named tuples, whose fields read ~20 times faster than
    # a Row's (a Bozhou day reads ~15 fields of each of ~15 k rows)
    certifications = sorted(
        (_Certification._make(row) for row in rows), key=lambda row: row.person_id
    )
    window = dt.timedelta(days=parameters.certified_notice_window_days)
    to_tell = [
        row
        for row in certifications
        if row.told_until is None or row.effective_date >= row.told_until - window
    ]
    cancelled = _cancel_tasks_of_certified(connection, as_of)
    counts.visit_tasks_cancelled += cancelled
    counts.wrote("certified", "visit_tasks", cancelled)
    if not to_tell:
        return
    labels: dict[tuple[str | None, str | None], str] = {}  # a handful of types a day
    for row in to_tell:
        if (row.channel, row.evidence_type) not in labels:
            labels[(row.channel, row.evidence_type)] = _evidence_label(
                catalog, row.channel, row.evidence_type
            )
    requests = [
        SmsRequest(
            int(row.person_id),
            row.phone,
            "certified",
            row.valid_until.isoformat(),
            {
                "name": row.name or "",
                "evidence_date": row.effective_date,
                "evidence_name": labels[(row.channel, row.evidence_type)],
                "valid_until": row.valid_until,
            },
        )
        for row in to_tell
    ]
    counts.wrote("certified", "outbox", sum(_queue(connection, requests, as_of, counts)))
    counts.certified_notices += len(to_tell)
    told = [
        {"person_id": int(r.person_id), "valid_until": r.valid_until, "notified_on": as_of}
        for r in to_tell
    ]
    insert_rows(
        connection,
        notices_t,
        [n for n, r in zip(told, to_tell, strict=True) if r.told_until is None],
    )
    update_rows(
        connection,
        notices_t,
        "person_id",
        [n for n, r in zip(told, to_tell, strict=True) if r.told_until is not None],
    )
    counts.wrote("certified", "certification_notices", len(told))


CHANNEL_LABELS = {
    "self_service": "人脸识别自助认证",
    "counter": "窗口认证",
    "home_visit": "上门认证",
}


def _evidence_label(catalog: Catalog, channel: str | None, evidence_type: str | None) -> str:
    """How the 'certified' SMS names what certified: the channel of a manual certification,
    else the evidence type's Chinese name."""
    if channel in CHANNEL_LABELS or not evidence_type:
        return CHANNEL_LABELS.get(str(channel), "认证")
    known = catalog.evidence_types.get(evidence_type)
    return known.name_zh if known else evidence_type


def _cancel_tasks_of_certified(connection: Connection, as_of: dt.date) -> int:
    """Open visit tasks of people now certified past the task's due date are cancelled.

    A task is due on the expiry it was made for, and only a certification moves a person's
    expiry on: every open task whose person is now valid past its due date was overtaken by
    a certification (read through the open tasks, a few days of expiries).
    """
    task_ids = [
        int(task_id)
        for (task_id,) in connection.execute(
            select(tasks_t.c.task_id)
            .select_from(tasks_t.join(state_t, state_t.c.person_id == tasks_t.c.person_id))
            .where(
                tasks_t.c.status == "open",
                state_t.c.status == "alive",
                state_t.c.valid_until > tasks_t.c.due_date,
            )
        )
    ]
    for chunk in _chunks(task_ids):
        connection.execute(
            update(tasks_t)
            .where(among(connection, tasks_t.c.task_id, chunk))
            .values(status="cancelled", outcome="certified_otherwise", closed_on=as_of)
        )
    return len(task_ids)


def _close_tasks(
    connection: Connection, person_ids: Sequence[int], as_of: dt.date, status: str, outcome: str
) -> int:
    closed = 0
    for chunk in _chunks(sorted(set(person_ids))):
        result = connection.execute(
            update(tasks_t)
            .where(among(connection, tasks_t.c.person_id, chunk), tasks_t.c.status == "open")
            .values(status=status, outcome=outcome, closed_on=as_of)
        )
        closed += int(result.rowcount or 0)
    return closed


def _release_holds(connection: Connection, person_ids: Sequence[int], as_of: dt.date) -> int:
    released = 0
    for chunk in _chunks(sorted(set(person_ids))):
        result = connection.execute(
            update(holds_t)
            .where(among(connection, holds_t.c.person_id, chunk), holds_t.c.status == "held")
            .values(status="released", resolved_on=as_of)
        )
        released += int(result.rowcount or 0)
    return released


# ----------------------------------------------------------------------------- 5. reminders


@dataclass(frozen=True)
class Step:
    """One step of a program's schedule: `action` so many days before expiry."""

    days: int
    action: str


def _schedules(catalog: Catalog) -> dict[str, tuple[Step, ...]]:
    return {
        code: tuple(Step(r.days_before_expiry, r.action) for r in program.reminders)
        for code, program in catalog.programs.items()
    }


def send_reminders(
    connection: Connection,
    catalog: Catalog,
    as_of: dt.date,
    run_id: int | None,
    counts: StepCounts,
    parameters: LifecycleParameters,
    since: dt.date | None,
) -> None:
    """SMS reminders and visit tasks whose day (valid_until − days) came since the last run.

    A step fires for a person whose `valid_until − days` lies in (previous run's as-of,
    as-of] and who is still not certified past that date; only the most urgent SMS step of
    the window is sent (a person first seen 20 days before expiry gets the 30-day SMS, not
    both). Without a previous run, every step whose day has come and whose expiry has not
    passed fires (the first run catches up).
    """
    schedules = _schedules(catalog)
    steps = sorted({step for steps in schedules.values() for step in steps}, key=lambda s: s.days)
    if not steps:
        return
    longest = max(step.days for step in steps)
    if since is None:
        window = and_(
            state_t.c.valid_until >= as_of,
            state_t.c.valid_until <= as_of + dt.timedelta(days=longest),
        )
    else:  # only expiries whose step day came since the previous run: a day's worth
        window = or_(
            *(
                and_(
                    state_t.c.valid_until > since + dt.timedelta(days=days),
                    state_t.c.valid_until <= as_of + dt.timedelta(days=days),
                )
                for days in sorted({step.days for step in steps})
            )
        )
    rows = connection.execute(
        select(
            state_t.c.person_id,
            state_t.c.valid_until,
            enrollments_t.c.program,
        )
        .select_from(state_t.join(enrollments_t, enrollments_t.c.person_id == state_t.c.person_id))
        .where(
            state_t.c.status == "alive",
            enrollments_t.c.status == "active",
            state_t.c.valid_until >= as_of,
            window,
        )
        # no ORDER BY: SQLite would walk every state row in person order rather than sort
        # a day's worth read through valid_until
    ).all()
    per_person: dict[int, tuple[dt.date, set[Step]]] = {}
    for person_id, valid_until, program in rows:
        entry = per_person.setdefault(int(person_id), (valid_until, set()))
        entry[1].update(schedules.get(str(program), ()))
    sms_due: dict[int, Step] = {}
    visit_due: dict[int, Step] = {}
    for person_id, (valid_until, person_steps) in per_person.items():
        days_left = (valid_until - as_of).days
        for step in sorted(person_steps, key=lambda s: s.days):
            fire_on = valid_until - dt.timedelta(days=step.days)
            came = fire_on <= as_of and (since is None or fire_on > since)
            # a step whose day came earlier but after the previous run still fires; one whose
            # window closed (days_left below the next smaller step) is left to that step
            if not came or days_left < 0:
                continue
            target = sms_due if step.action == "sms" else visit_due
            current = target.get(person_id)
            if current is None or step.days < current.days:
                target[person_id] = step
    if not sms_due and not visit_due:
        return
    people = _person_rows(connection, list(sms_due) + list(visit_due))
    reminders = [
        SmsRequest(
            person_id,
            people[person_id].phone,
            f"reminder_{step.days}",
            per_person[person_id][0].isoformat(),
            {
                "name": people[person_id].name or "",
                "valid_until": per_person[person_id][0],
                "days_left": (per_person[person_id][0] - as_of).days,
            },
        )
        for person_id, step in sorted(sms_due.items())
    ]
    for request, queued in zip(
        reminders, _queue(connection, reminders, as_of, counts), strict=True
    ):
        if queued:
            counts.reminders[request.reason] = counts.reminders.get(request.reason, 0) + 1
            counts.wrote("reminders", "outbox")
    new_tasks = _new_visit_tasks(
        connection,
        {person_id: per_person[person_id][0] for person_id in visit_due},
        parameters.visit_reason,
    )
    if not new_tasks:
        return
    insert_rows(
        connection,
        tasks_t,
        [
            {
                "person_id": person_id,
                "grid_code": people[person_id].grid_code,
                "due_date": valid_until,
                "reason": parameters.visit_reason,
                "status": "open",
                "attempts": 0,
                "created_on": as_of,
                "run_id": run_id,
            }
            for person_id, valid_until in new_tasks
        ],
    )
    counts.visit_tasks += len(new_tasks)
    counts.wrote("reminders", "visit_tasks", len(new_tasks))
    scheduled = [
        SmsRequest(
            person_id,
            people[person_id].phone,
            "visit_scheduled",
            valid_until.isoformat(),
            {"name": people[person_id].name or "", "valid_until": valid_until},
        )
        for person_id, valid_until in new_tasks
    ]
    counts.wrote("reminders", "outbox", sum(_queue(connection, scheduled, as_of, counts)))


def _new_visit_tasks(
    connection: Connection, due_dates: Mapping[int, dt.date], reason: str
) -> list[tuple[int, dt.date]]:
    """(person, due date) of the visits wanted that have no task yet (a task is unique per
    person, reason and due date), by person."""
    existing: set[tuple[int, dt.date]] = set()
    for chunk in _chunks(sorted(due_dates)):
        existing.update(
            (int(person_id), due_date)
            for person_id, due_date in connection.execute(
                select(tasks_t.c.person_id, tasks_t.c.due_date).where(
                    among(connection, tasks_t.c.person_id, chunk), tasks_t.c.reason == reason
                )
            )
        )
    return [
        (person_id, due_date)
        for person_id, due_date in sorted(due_dates.items())
        if (person_id, due_date) not in existing
    ]


# ----------------------------------------------------------------------------- 6. suspension


@dataclass(frozen=True)
class DueSuspension:
    person_id: int
    enrollment_id: int
    program: str
    effective_date: dt.date


def due_suspensions(
    connection: Connection, as_of: dt.date, since: dt.date | None
) -> list[DueSuspension]:
    """Active enrollments of alive people whose certification has expired (valid_until <
    as_of), not waiting for an officer (spike holds); since the previous run, plus every
    still-open stale-source hold (a first run looks at everyone).

    Read through the expiry index (a day's expiries) and the open holds, never the whole
    enrollment table: two small queries instead of one whose OR no index can serve.
    """
    columns = (
        state_t.c.person_id,
        enrollments_t.c.enrollment_id,
        enrollments_t.c.program,
        state_t.c.valid_until,
    )
    expired = (
        select(*columns)
        .select_from(state_t.join(enrollments_t, enrollments_t.c.person_id == state_t.c.person_id))
        .where(
            state_t.c.status == "alive",
            enrollments_t.c.status == "active",
            state_t.c.valid_until < as_of,
        )
    )
    found: dict[int, DueSuspension] = {}
    queries = [expired]
    if since is not None:
        queries = [
            expired.where(state_t.c.valid_until >= since - dt.timedelta(days=1)),
            expired.where(
                enrollments_t.c.enrollment_id.in_(
                    select(holds_t.c.enrollment_id).where(holds_t.c.status == "held")
                )
            ),
        ]
    for query in queries:
        for person_id, enrollment_id, program, valid_until in connection.execute(query):
            found[int(enrollment_id)] = DueSuspension(
                int(person_id), int(enrollment_id), str(program), valid_until + dt.timedelta(days=1)
            )
    waiting = {
        int(enrollment_id)
        for (enrollment_id,) in connection.execute(
            select(holds_t.c.enrollment_id).where(
                holds_t.c.status == "held", holds_t.c.rule == "suspension_spike"
            )
        )
    }
    return sorted(
        (due for enrollment_id, due in found.items() if enrollment_id not in waiting),
        key=lambda due: (due.person_id, due.enrollment_id),
    )


def latest_certifying_sources(
    connection: Connection, person_ids: Sequence[int]
) -> dict[int, str | None]:
    """Per person, the source of the evidence of their latest certification (None when it
    was a manual channel)."""
    found: dict[int, str | None] = {}
    for chunk in _chunks(sorted(set(person_ids))):
        latest = (
            select(func.max(decisions_t.c.decision_id))
            .where(
                among(connection, decisions_t.c.person_id, chunk), decisions_t.c.kind == "certified"
            )
            .group_by(decisions_t.c.person_id)
        )
        for person_id, channel, evidence in connection.execute(
            select(decisions_t.c.person_id, decisions_t.c.channel, decisions_t.c.evidence).where(
                decisions_t.c.decision_id.in_(latest)
            )
        ):
            records = evidence if isinstance(evidence, list) else json.loads(evidence or "[]")
            source = records[0].get("source") if records and channel in (None, "auto") else None
            found[int(person_id)] = str(source) if source else None
    return found


def suspend_many(
    connection: Connection,
    catalog: Catalog,
    dues: Sequence[DueSuspension],
    as_of: dt.date,
    run_id: int | None,
    details: Sequence[Mapping[str, Any] | None] | None = None,
) -> list[int]:
    """Suspend enrollments at expiry: their decisions (one bulk insert), then their
    transitions (one bulk apply, with the events); the decision ids, in order. `details`,
    when given, adds to each decision's details (one entry per due suspension)."""
    if not dues:
        return []
    extra = list(details) if details is not None else [None] * len(dues)
    decision_ids = record_decisions(
        connection,
        [
            {
                "person_id": due.person_id,
                "enrollment_id": due.enrollment_id,
                "kind": "suspended",
                "effective_date": due.effective_date,
                "decided_on": as_of,
                "rule": RULE_EXPIRED,
                "catalog_version": catalog.version,
                "details": {
                    "expired_on": (due.effective_date - dt.timedelta(days=1)).isoformat(),
                    **(more or {}),
                },
                "run_id": run_id,
            }
            for due, more in zip(dues, extra, strict=True)
        ],
    )
    apply_enrollment_transitions(
        connection,
        [
            EnrollmentChange(due.enrollment_id, "suspended", decision_id, due.effective_date)
            for due, decision_id in zip(dues, decision_ids, strict=True)
        ],
    )
    return decision_ids


def suspend(
    connection: Connection,
    catalog: Catalog,
    due: DueSuspension,
    as_of: dt.date,
    run_id: int | None,
    details: dict[str, Any] | None = None,
) -> int:
    """Suspend one enrollment at expiry (see `suspend_many`); the decision id."""
    return suspend_many(connection, catalog, [due], as_of, run_id, [details])[0]


def suspend_expired(
    connection: Connection,
    catalog: Catalog,
    as_of: dt.date,
    run_id: int,
    counts: StepCounts,
    findings: GuardFindings,
    guard: GuardParameters,
    since: dt.date | None,
    active_recipients: int | None = None,
) -> None:
    """Suspend the enrollments due today unless the guard holds them (then a held row).

    `active_recipients` is the spike check's fallback baseline, needed only while the run
    history is short: None counts them then (a read of every enrollment), not every day.
    """
    from lifesign.lifecycle.guard import check_spike

    released = _release_stale_holds(connection, as_of)
    counts.holds_released += released
    counts.wrote("suspensions", "held_suspensions", released)
    due = due_suspensions(connection, as_of, since)
    persons = sorted({d.person_id for d in due})
    counts.suspensions_due = max(counts.suspensions_due, len(persons))
    findings.spike = check_spike(
        connection,
        as_of,
        len(persons),
        active_recipients
        if active_recipients is not None
        else (lambda: active_recipient_count(connection)),
        guard,
    )
    if not due:
        return
    sources = latest_certifying_sources(connection, persons) if findings.problems else {}
    open_holds = {
        int(enrollment_id): int(hold_id)
        for hold_id, enrollment_id in connection.execute(
            select(holds_t.c.hold_id, holds_t.c.enrollment_id).where(holds_t.c.status == "held")
        )
    }
    new_holds: list[dict[str, Any]] = []
    held_again: list[dict[str, Any]] = []
    to_suspend: list[DueSuspension] = []
    guarded = bool(findings.problems) or (findings.spike is not None and findings.spike.is_spike)
    for item in due:
        held = hold_reason(findings, guard, sources.get(item.person_id)) if guarded else None
        if held is None:
            to_suspend.append(item)
            continue
        rule, reason = held
        existing = open_holds.get(item.enrollment_id)
        if existing is None:
            new_holds.append(
                {
                    "run_id": run_id,
                    "person_id": item.person_id,
                    "enrollment_id": item.enrollment_id,
                    "effective_date": item.effective_date,
                    "rule": rule,
                    "reason": reason,
                    "status": "held",
                }
            )
        else:  # held again: today's reason replaces yesterday's, the run stays the first
            held_again.append({"hold_id": existing, "rule": rule, "reason": reason})
        counts.held += 1
        counts.held_by_rule[rule] = counts.held_by_rule.get(rule, 0) + 1
    insert_rows(connection, holds_t, new_holds)
    update_rows(connection, holds_t, "hold_id", held_again)
    counts.wrote("suspensions", "held_suspensions", len(new_holds) + len(held_again))
    decision_ids = suspend_many(connection, catalog, to_suspend, as_of, run_id)
    counts.suspended += len(to_suspend)
    counts.wrote("suspensions", "decisions", len(decision_ids))
    counts.wrote("suspensions", "status_events", len(decision_ids))
    applied = [
        {
            "hold_id": open_holds[item.enrollment_id],
            "status": "applied",
            "resolved_on": as_of,
            "decision_id": decision_id,
        }
        for item, decision_id in zip(to_suspend, decision_ids, strict=True)
        if item.enrollment_id in open_holds
    ]
    update_rows(connection, holds_t, "hold_id", applied)
    counts.wrote("suspensions", "held_suspensions", len(applied))
    suspended_programs: dict[int, list[str]] = defaultdict(list)
    for item in to_suspend:
        suspended_programs[item.person_id].append(item.program)
    notify_suspended(connection, catalog, as_of, suspended_programs, counts, due)


def notify_suspended(
    connection: Connection,
    catalog: Catalog,
    as_of: dt.date,
    programs: Mapping[int, list[str]],
    counts: StepCounts,
    due: Sequence[DueSuspension],
) -> None:
    if not programs:
        return
    effective = {d.person_id: d.effective_date for d in due}
    people = _person_rows(connection, list(programs))
    requests = [
        SmsRequest(
            person_id,
            people[person_id].phone,
            "suspended",
            (effective[person_id] - dt.timedelta(days=1)).isoformat(),
            {
                "name": people[person_id].name or "",
                "programs": _programs_text(catalog, codes),
                "suspended_from": effective[person_id],
            },
        )
        for person_id, codes in sorted(programs.items())
    ]
    counts.wrote("suspensions", "outbox", sum(_queue(connection, requests, as_of, counts)))


def _release_stale_holds(connection: Connection, as_of: dt.date) -> int:
    """Held suspensions with nothing left to suspend: the person was certified since (valid
    again), died or left, or the enrollment is no longer active."""
    stale = [
        int(hold_id)
        for (hold_id,) in connection.execute(
            select(holds_t.c.hold_id)
            .select_from(
                holds_t.join(
                    enrollments_t, enrollments_t.c.enrollment_id == holds_t.c.enrollment_id
                ).join(state_t, state_t.c.person_id == holds_t.c.person_id)
            )
            .where(
                holds_t.c.status == "held",
                ~and_(
                    enrollments_t.c.status == "active",
                    state_t.c.status == "alive",
                    state_t.c.valid_until < as_of,
                ),
            )
        )
    ]
    for chunk in _chunks(stale):
        connection.execute(
            update(holds_t)
            .where(among(connection, holds_t.c.hold_id, chunk))
            .values(status="released", resolved_on=as_of)
        )
    return len(stale)


def active_recipient_count(connection: Connection) -> int:
    return int(
        connection.execute(
            select(func.count(func.distinct(enrollments_t.c.person_id))).where(
                enrollments_t.c.status == "active"
            )
        ).scalar_one()
    )


__all__ = [
    "RULE_EXPIRED",
    "RULE_RECOVERY",
    "RULE_RESUMED",
    "DueSuspension",
    "StepCounts",
    "add_months",
    "notify_certified",
    "record_arrivals",
    "resume_certified",
    "send_reminders",
    "settle_deaths",
    "suspend",
    "suspend_expired",
    "suspend_many",
]
