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
"""

from __future__ import annotations

import datetime as dt
import glob
import json
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any, cast

from sqlalchemy import Connection, Table, and_, func, insert, or_, select, update

from lifesign.catalog import Catalog
from lifesign.certify.ledger import record_decision
from lifesign.certify.models import Decision, PersonStateRow
from lifesign.certify.transitions import (
    EnrollmentChange,
    apply_enrollment_transition,
    apply_enrollment_transitions,
)
from lifesign.integrity.cases import open_case
from lifesign.lifecycle.guard import GuardFindings, hold_reason
from lifesign.lifecycle.models import (
    BackPay,
    CertificationNotice,
    DeathSettlement,
    HeldSuspension,
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
from lifesign.notify.outbox import enqueue
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

# Stable rule ids of the decisions the lifecycle records (the ledger explains with them).
RULE_EXPIRED = "certification_expired"
RULE_RESUMED = "certified_after_suspension"
RULE_RECOVERY = "paid_after_death"
CHUNK = 5000


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

    def to_json(self) -> dict[str, Any]:
        document: dict[str, Any] = {}
        for name, value in vars(self).items():
            document[name] = str(value) if isinstance(value, Decimal) else value
        return document


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

    files: list[str] = []
    for batch_id, source in batches:
        files.extend(
            glob.glob(
                str(
                    lake_dir
                    / "evidence"
                    / "month=*"
                    / f"source={source}"
                    / f"batch-{batch_id}.parquet"
                )
            )
        )
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


def _person_rows(connection: Connection, person_ids: Sequence[int]) -> dict[int, Any]:
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
            ).where(people_t.c.person_id.in_(chunk))
        ):
            found[int(row.person_id)] = row
    return found


def _enrollments_of(
    connection: Connection, person_ids: Sequence[int], statuses: tuple[str, ...]
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
            .where(enrollments_t.c.person_id.in_(chunk), enrollments_t.c.status.in_(statuses))
            .order_by(enrollments_t.c.enrollment_id)
        ):
            found[int(row.person_id)].append(row)
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


# ----------------------------------------------------------------------------- 2. deaths


def family_phone(connection: Connection, person: Any) -> str | None:
    """The phone to tell the family: a living member of the household with a phone, else
    the person's own registered phone (usually kept by the family)."""
    if person.household_id:
        relatives = connection.execute(
            select(people_t.c.phone)
            .select_from(people_t.outerjoin(state_t, state_t.c.person_id == people_t.c.person_id))
            .where(
                people_t.c.household_id == person.household_id,
                people_t.c.person_id != person.person_id,
                people_t.c.phone.is_not(None),
                func.coalesce(state_t.c.status, "alive") != "deceased",
            )
            .order_by(people_t.c.person_id)
            .limit(1)
        ).scalar_one_or_none()
        if relatives:
            return str(relatives)
    return str(person.phone) if person.phone else None


def overpayment_of(
    connection: Connection, enrollment_id: int, death_date: dt.date, as_of: dt.date
) -> tuple[Decimal, list[dict[str, str]]]:
    """What was paid for the time after the death, from the payment ledger.

    Every payment (paid on or before `as_of`) for a period after the death month, plus the
    part of the death month's payment for the days after the death date (amount × days after
    / days in the month, to the fen). A death on the month's last day overpays nothing that
    month.
    """
    death_period = period_of(death_date)
    rows = connection.execute(
        select(payments_t.c.period, payments_t.c.amount)
        .where(
            payments_t.c.enrollment_id == enrollment_id,
            payments_t.c.period >= death_period,
            payments_t.c.paid_on <= as_of,
        )
        .order_by(payments_t.c.period)
    ).all()
    total = Decimal("0")
    lines: list[dict[str, str]] = []
    for period, amount in rows:
        paid = Decimal(str(amount))
        if period == death_period:
            days = days_in_month(death_date)
            after = days - death_date.day
            part = (paid * after / days).quantize(Decimal("0.01"))
            if part <= 0:
                continue
            lines.append({"period": period, "paid": str(paid), "overpaid": str(part)})
            total += part
        else:
            lines.append({"period": period, "paid": str(paid), "overpaid": str(paid)})
            total += paid
    return total, lines


def settle_deaths(
    connection: Connection,
    catalog: Catalog,
    as_of: dt.date,
    run_id: int | None,
    counts: StepCounts,
    person_ids: Sequence[int] | None = None,
) -> None:
    """Every deceased person not settled yet: recovery case per overpaid enrollment, the
    family told ('terminated', and 'recovery_notice' when something is to be repaid)."""
    query = (
        select(state_t.c.person_id, state_t.c.death_date)
        .where(
            state_t.c.status == "deceased",
            state_t.c.death_date.is_not(None),
            state_t.c.person_id.notin_(select(deaths_t.c.person_id)),
        )
        .order_by(state_t.c.person_id)
    )
    if person_ids is not None:
        query = query.where(state_t.c.person_id.in_(list(person_ids)))
    due = connection.execute(query).all()
    if not due:
        return
    people = _person_rows(connection, [int(p) for p, _ in due])
    enrollments = _enrollments_of(
        connection, [int(p) for p, _ in due], ("active", "suspended", "terminated")
    )
    for person_id, death_date in due:
        person = people[int(person_id)]
        evidence = _death_evidence(connection, int(person_id))
        total = Decimal("0")
        cases: list[dict[str, Any]] = []
        overpaid_programs: list[str] = []
        for enrollment in enrollments.get(int(person_id), []):
            amount, lines = overpayment_of(
                connection, int(enrollment.enrollment_id), death_date, as_of
            )
            if amount <= 0:
                continue
            case_id = open_case(
                connection,
                kind="recovery",
                rule=RULE_RECOVERY,
                person_id=int(person_id),
                opened_on=as_of,
                amount=amount,
                enrollment_id=int(enrollment.enrollment_id),
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
                {
                    "enrollment_id": int(enrollment.enrollment_id),
                    "case_id": case_id,
                    "amount": str(amount),
                }
            )
            if case_id is not None:
                counts.recovery_cases += 1
        programs = [str(e.program) for e in enrollments.get(int(person_id), [])]
        phone = family_phone(connection, person)
        now = _now(as_of)
        if programs and enqueue(
            connection,
            person_id=int(person_id),
            phone=phone,
            reason="terminated",
            period_key=death_date.isoformat(),
            params={
                "name": person.name or "",
                "programs": _programs_text(catalog, programs),
                "effective_date": death_date,
            },
            now=now,
        ):
            counts.messages += 1
        if total > 0 and enqueue(
            connection,
            person_id=int(person_id),
            phone=phone,
            reason="recovery_notice",
            period_key=death_date.isoformat(),
            params={
                "name": person.name or "",
                "programs": _programs_text(catalog, overpaid_programs),
                "amount": f"{total:.2f}",
            },
            now=now,
        ):
            counts.messages += 1
        connection.execute(
            insert(deaths_t).values(
                person_id=int(person_id),
                death_date=death_date,
                overpayment=total,
                details={"cases": cases},
                settled_on=as_of,
                run_id=run_id,
            )
        )
        # Open visit tasks and held suspensions of a dead person have nothing left to do.
        _close_tasks(connection, [int(person_id)], as_of, "cancelled", "deceased")
        _release_holds(connection, [int(person_id)], as_of)
        counts.deaths_settled += 1
        counts.overpayment += total


def _death_evidence(connection: Connection, person_id: int) -> list[dict[str, Any]]:
    row = connection.execute(
        select(decisions_t.c.evidence, decisions_t.c.decision_id)
        .where(decisions_t.c.person_id == person_id, decisions_t.c.kind == "deceased")
        .order_by(decisions_t.c.decision_id.desc())
        .limit(1)
    ).first()
    if row is None:
        return []
    records = list(row.evidence or [])
    return [*records, {"source": "decisions", "record_id": str(row.decision_id)}]


# ----------------------------------------------------------------------------- 3. resumption


def _latest_suspension(connection: Connection, enrollment_id: int) -> Any:
    return connection.execute(
        select(
            decisions_t.c.decision_id,
            decisions_t.c.rule,
            decisions_t.c.effective_date,
        )
        .where(decisions_t.c.enrollment_id == enrollment_id, decisions_t.c.kind == "suspended")
        .order_by(decisions_t.c.decision_id.desc())
        .limit(1)
    ).first()


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
    month, each at the catalog's amount for that month.
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
        recent = select(decisions_t.c.person_id).where(
            decisions_t.c.kind == "certified", decisions_t.c.decided_on >= since
        )
        query = query.where(enrollments_t.c.person_id.in_(recent))
    person_ids = [int(p) for (p,) in connection.execute(query)]
    if not person_ids:
        return
    states = {
        int(row.person_id): row
        for chunk in _chunks(person_ids)
        for row in connection.execute(
            select(state_t.c.person_id, state_t.c.last_certified_on, state_t.c.valid_until).where(
                state_t.c.person_id.in_(chunk)
            )
        )
    }
    people = _person_rows(connection, person_ids)
    suspended = _enrollments_of(connection, person_ids, ("suspended",))
    for person_id in person_ids:
        state = states[person_id]
        person = people[person_id]
        resumed_programs: list[str] = []
        person_months = 0
        person_amount = Decimal("0")
        resumes_on = first_of_next_month(state.last_certified_on or as_of)
        for enrollment in suspended.get(person_id, []):
            suspension = _latest_suspension(connection, int(enrollment.enrollment_id))
            if suspension is None or suspension.rule != RULE_EXPIRED:
                continue  # suspended for another reason (prison, moving): not ours to resume
            if (
                state.last_certified_on is None
                or state.last_certified_on < suspension.effective_date - dt.timedelta(days=1)
            ):
                continue  # the certification predates the suspension: still expired
            periods = periods_between(suspension.effective_date, resumes_on)
            amounts = [
                _monthly_amount(catalog, enrollment, period_start(p), person.birth_date)
                for p in periods
            ]
            amount = sum(amounts, Decimal("0"))
            decision_id = record_decision(
                connection,
                person_id=person_id,
                enrollment_id=int(enrollment.enrollment_id),
                kind="resumed",
                effective_date=resumes_on,
                decided_on=as_of,
                rule=RULE_RESUMED,
                catalog_version=catalog.version,
                evidence=[{"source": "decisions", "record_id": str(suspension.decision_id)}],
                details={
                    "suspended_from": suspension.effective_date.isoformat(),
                    "certified_on": state.last_certified_on.isoformat(),
                    "back_pay_periods": periods,
                    "back_pay_months": len(periods),
                    "back_pay_amount": str(amount),
                    "monthly_amounts": [str(a) for a in amounts],
                },
                run_id=run_id,
            )
            apply_enrollment_transition(
                connection, int(enrollment.enrollment_id), "active", decision_id=decision_id
            )
            connection.execute(
                insert(back_pay_t).values(
                    enrollment_id=int(enrollment.enrollment_id),
                    person_id=person_id,
                    decision_id=decision_id,
                    months=len(periods),
                    periods=periods,
                    amount=amount,
                    resumes_on=resumes_on,
                    decided_on=as_of,
                )
            )
            resumed_programs.append(str(enrollment.program))
            person_months = max(person_months, len(periods))
            person_amount += amount
            counts.resumed += 1
            counts.back_pay_months += len(periods)
            counts.back_pay_amount += amount
        if resumed_programs and enqueue(
            connection,
            person_id=person_id,
            phone=person.phone,
            reason="resumed",
            period_key=resumes_on.isoformat(),
            params={
                "name": person.name or "",
                "programs": _programs_text(catalog, resumed_programs),
                "resumed_from": resumes_on,
                "back_pay_months": person_months,
                "back_pay_amount": f"{person_amount:.2f}",
            },
            now=_now(as_of),
        ):
            counts.messages += 1


# ----------------------------------------------------------------------------- 4. certified


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
    """
    start = (
        since
        if since is not None
        else as_of - dt.timedelta(days=parameters.certified_lookback_days)
    )
    start = min(start, as_of - dt.timedelta(days=parameters.certified_lookback_days))
    latest = (
        select(
            decisions_t.c.person_id,
            func.max(decisions_t.c.decision_id).label("decision_id"),
        )
        .where(
            decisions_t.c.kind == "certified",
            decisions_t.c.decided_on >= start,
            decisions_t.c.decided_on <= as_of,
        )
        .group_by(decisions_t.c.person_id)
        .subquery()
    )
    rows = connection.execute(
        select(
            decisions_t.c.person_id,
            decisions_t.c.decision_id,
            decisions_t.c.effective_date,
            decisions_t.c.valid_until,
            decisions_t.c.channel,
            decisions_t.c.evidence,
            notices_t.c.valid_until.label("told_until"),
            state_t.c.status,
            state_t.c.valid_until.label("state_valid_until"),
        )
        .select_from(
            latest.join(decisions_t, decisions_t.c.decision_id == latest.c.decision_id)
            .join(state_t, state_t.c.person_id == decisions_t.c.person_id)
            .outerjoin(notices_t, notices_t.c.person_id == decisions_t.c.person_id)
        )
        .order_by(decisions_t.c.person_id)
    ).all()
    window = dt.timedelta(days=parameters.certified_notice_window_days)
    to_tell = [
        row
        for row in rows
        if row.status == "alive"
        and row.valid_until is not None
        and (
            row.told_until is None
            or (row.valid_until > row.told_until and row.effective_date >= row.told_until - window)
        )
    ]
    certified_ids = [int(row.person_id) for row in rows if row.status == "alive"]
    counts.visit_tasks_cancelled += _cancel_tasks_of_certified(connection, certified_ids, as_of)
    if not to_tell:
        return
    people = _person_rows(connection, [int(r.person_id) for r in to_tell])
    for row in to_tell:
        person = people[int(row.person_id)]
        evidence_name, evidence_date = _evidence_label(catalog, row)
        if enqueue(
            connection,
            person_id=int(row.person_id),
            phone=person.phone,
            reason="certified",
            period_key=row.valid_until.isoformat(),
            params={
                "name": person.name or "",
                "evidence_date": evidence_date,
                "evidence_name": evidence_name,
                "valid_until": row.valid_until,
            },
            now=_now(as_of),
        ):
            counts.messages += 1
        counts.certified_notices += 1
        values = {"valid_until": row.valid_until, "notified_on": as_of}
        if row.told_until is None:
            connection.execute(insert(notices_t).values(person_id=int(row.person_id), **values))
        else:
            connection.execute(
                update(notices_t)
                .where(notices_t.c.person_id == int(row.person_id))
                .values(**values)
            )


CHANNEL_LABELS = {
    "self_service": "人脸识别自助认证",
    "counter": "窗口认证",
    "home_visit": "上门认证",
}


def _evidence_label(catalog: Catalog, row: Any) -> tuple[str, dt.date]:
    records = list(row.evidence or [])
    if row.channel in CHANNEL_LABELS or not records:
        return CHANNEL_LABELS.get(str(row.channel), "认证"), row.effective_date
    record = records[0]
    evidence_type = catalog.evidence_types.get(str(record.get("evidence_type")))
    return (
        evidence_type.name_zh if evidence_type else str(record.get("evidence_type"))
    ), row.effective_date


def _cancel_tasks_of_certified(
    connection: Connection, person_ids: Sequence[int], as_of: dt.date
) -> int:
    """Open visit tasks of people now certified past the task's due date are cancelled."""
    cancelled = 0
    for chunk in _chunks(sorted(set(person_ids))):
        open_tasks = connection.execute(
            select(tasks_t.c.task_id)
            .select_from(tasks_t.join(state_t, state_t.c.person_id == tasks_t.c.person_id))
            .where(
                tasks_t.c.person_id.in_(chunk),
                tasks_t.c.status == "open",
                state_t.c.valid_until > tasks_t.c.due_date,
            )
        ).all()
        for (task_id,) in open_tasks:
            connection.execute(
                update(tasks_t)
                .where(tasks_t.c.task_id == task_id)
                .values(status="cancelled", outcome="certified_otherwise", closed_on=as_of)
            )
            cancelled += 1
    return cancelled


def _close_tasks(
    connection: Connection, person_ids: Sequence[int], as_of: dt.date, status: str, outcome: str
) -> None:
    connection.execute(
        update(tasks_t)
        .where(tasks_t.c.person_id.in_(list(person_ids)), tasks_t.c.status == "open")
        .values(status=status, outcome=outcome, closed_on=as_of)
    )


def _release_holds(connection: Connection, person_ids: Sequence[int], as_of: dt.date) -> int:
    result = connection.execute(
        update(holds_t)
        .where(holds_t.c.person_id.in_(list(person_ids)), holds_t.c.status == "held")
        .values(status="released", resolved_on=as_of)
    )
    return int(result.rowcount or 0)


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
        .order_by(state_t.c.person_id)
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
    now = _now(as_of)
    for person_id, step in sorted(sms_due.items()):
        person = people[person_id]
        valid_until = per_person[person_id][0]
        reason = f"reminder_{step.days}"
        if enqueue(
            connection,
            person_id=person_id,
            phone=person.phone,
            reason=reason,
            period_key=valid_until.isoformat(),
            params={
                "name": person.name or "",
                "valid_until": valid_until,
                "days_left": (valid_until - as_of).days,
            },
            now=now,
        ):
            counts.messages += 1
            counts.reminders[reason] = counts.reminders.get(reason, 0) + 1
    for person_id, _step in sorted(visit_due.items()):
        person = people[person_id]
        valid_until = per_person[person_id][0]
        exists = connection.execute(
            select(tasks_t.c.task_id).where(
                tasks_t.c.person_id == person_id,
                tasks_t.c.reason == parameters.visit_reason,
                tasks_t.c.due_date == valid_until,
            )
        ).first()
        if exists is not None:
            continue
        connection.execute(
            insert(tasks_t).values(
                person_id=person_id,
                grid_code=person.grid_code,
                due_date=valid_until,
                reason=parameters.visit_reason,
                status="open",
                attempts=0,
                created_on=as_of,
                run_id=run_id,
            )
        )
        counts.visit_tasks += 1
        if enqueue(
            connection,
            person_id=person_id,
            phone=person.phone,
            reason="visit_scheduled",
            period_key=valid_until.isoformat(),
            params={"name": person.name or "", "valid_until": valid_until},
            now=now,
        ):
            counts.messages += 1


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
    still-open stale-source hold (a first run looks at everyone)."""
    query = (
        select(
            state_t.c.person_id,
            enrollments_t.c.enrollment_id,
            enrollments_t.c.program,
            state_t.c.valid_until,
        )
        .select_from(state_t.join(enrollments_t, enrollments_t.c.person_id == state_t.c.person_id))
        .where(
            state_t.c.status == "alive",
            enrollments_t.c.status == "active",
            state_t.c.valid_until < as_of,
        )
    )
    if since is not None:
        held = select(holds_t.c.enrollment_id).where(holds_t.c.status == "held")
        query = query.where(
            (state_t.c.valid_until >= since - dt.timedelta(days=1))
            | enrollments_t.c.enrollment_id.in_(held)
        )
    waiting = select(holds_t.c.enrollment_id).where(
        holds_t.c.status == "held", holds_t.c.rule == "suspension_spike"
    )
    query = query.where(enrollments_t.c.enrollment_id.notin_(waiting))
    return [
        DueSuspension(int(p), int(e), str(prog), valid_until + dt.timedelta(days=1))
        for p, e, prog, valid_until in connection.execute(
            query.order_by(state_t.c.person_id, enrollments_t.c.enrollment_id)
        )
    ]


def latest_certifying_sources(
    connection: Connection, person_ids: Sequence[int]
) -> dict[int, str | None]:
    """Per person, the source of the evidence of their latest certification (None when it
    was a manual channel)."""
    found: dict[int, str | None] = {}
    for chunk in _chunks(sorted(set(person_ids))):
        latest = (
            select(func.max(decisions_t.c.decision_id))
            .where(decisions_t.c.person_id.in_(chunk), decisions_t.c.kind == "certified")
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


def suspend(
    connection: Connection,
    catalog: Catalog,
    due: DueSuspension,
    as_of: dt.date,
    run_id: int | None,
    details: dict[str, Any] | None = None,
    changes: list[EnrollmentChange] | None = None,
) -> int:
    """Suspend one enrollment at expiry: the decision, then the transition (or, with
    `changes`, the transition added to the caller's list)."""
    decision_id = record_decision(
        connection,
        person_id=due.person_id,
        enrollment_id=due.enrollment_id,
        kind="suspended",
        effective_date=due.effective_date,
        decided_on=as_of,
        rule=RULE_EXPIRED,
        catalog_version=catalog.version,
        details={
            "expired_on": (due.effective_date - dt.timedelta(days=1)).isoformat(),
            **(details or {}),
        },
        run_id=run_id,
    )
    if changes is None:
        apply_enrollment_transition(
            connection, due.enrollment_id, "suspended", decision_id=decision_id
        )
    else:  # the caller applies many at once (one read of the statuses, one insert of events)
        changes.append(
            EnrollmentChange(due.enrollment_id, "suspended", decision_id, due.effective_date)
        )
    return decision_id


def suspend_expired(
    connection: Connection,
    catalog: Catalog,
    as_of: dt.date,
    run_id: int,
    counts: StepCounts,
    findings: GuardFindings,
    guard: GuardParameters,
    since: dt.date | None,
    active_recipients: int,
) -> None:
    """Suspend the enrollments due today unless the guard holds them (then a held row)."""
    from lifesign.lifecycle.guard import check_spike

    counts.holds_released += _release_stale_holds(connection, as_of)
    due = due_suspensions(connection, as_of, since)
    persons = sorted({d.person_id for d in due})
    counts.suspensions_due = max(counts.suspensions_due, len(persons))
    findings.spike = check_spike(connection, as_of, len(persons), active_recipients, guard)
    if not due:
        return
    sources = latest_certifying_sources(connection, persons) if findings.problems else {}
    suspended_programs: dict[int, list[str]] = defaultdict(list)
    open_holds = {
        int(enrollment_id): int(hold_id)
        for hold_id, enrollment_id in connection.execute(
            select(holds_t.c.hold_id, holds_t.c.enrollment_id).where(holds_t.c.status == "held")
        )
    }
    changes: list[EnrollmentChange] = []
    for item in due:
        held = hold_reason(findings, guard, sources.get(item.person_id))
        existing = open_holds.get(item.enrollment_id)
        if held is not None:
            rule, reason = held
            if existing is None:
                connection.execute(
                    insert(holds_t).values(
                        run_id=run_id,
                        person_id=item.person_id,
                        enrollment_id=item.enrollment_id,
                        effective_date=item.effective_date,
                        rule=rule,
                        reason=reason,
                        status="held",
                    )
                )
            else:  # held again: today's reason replaces yesterday's, the run stays the first
                connection.execute(
                    update(holds_t)
                    .where(holds_t.c.hold_id == existing)
                    .values(rule=rule, reason=reason)
                )
            counts.held += 1
            counts.held_by_rule[rule] = counts.held_by_rule.get(rule, 0) + 1
            continue
        decision_id = suspend(connection, catalog, item, as_of, run_id, changes=changes)
        if existing is not None:
            connection.execute(
                update(holds_t)
                .where(holds_t.c.hold_id == existing)
                .values(status="applied", resolved_on=as_of, decision_id=decision_id)
            )
        suspended_programs[item.person_id].append(item.program)
        counts.suspended += 1
    apply_enrollment_transitions(connection, changes)
    notify_suspended(connection, catalog, as_of, suspended_programs, counts, due)


def notify_suspended(
    connection: Connection,
    catalog: Catalog,
    as_of: dt.date,
    programs: dict[int, list[str]],
    counts: StepCounts,
    due: Sequence[DueSuspension],
) -> None:
    if not programs:
        return
    effective = {d.person_id: d.effective_date for d in due}
    people = _person_rows(connection, list(programs))
    for person_id, codes in sorted(programs.items()):
        person = people[person_id]
        if enqueue(
            connection,
            person_id=person_id,
            phone=person.phone,
            reason="suspended",
            period_key=(effective[person_id] - dt.timedelta(days=1)).isoformat(),
            params={
                "name": person.name or "",
                "programs": _programs_text(catalog, codes),
                "suspended_from": effective[person_id],
            },
            now=_now(as_of),
        ):
            counts.messages += 1


def _release_stale_holds(connection: Connection, as_of: dt.date) -> int:
    """Held suspensions with nothing left to suspend: the person was certified since (valid
    again), died or left, or the enrollment is no longer active."""
    stale = connection.execute(
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
    ).all()
    for (hold_id,) in stale:
        connection.execute(
            update(holds_t)
            .where(holds_t.c.hold_id == hold_id)
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
]
