"""Actions and checkers of the daily lifecycle and the manual channels (engineer 2's package).

Actions:
  - run: {as_of: DATE}                    deliver evidence arrived by then, `run_day`
  - run: {from: DATE, to: DATE}           one `run_day` per day, from..to inclusive
  - self_service: {person: P, at: TIME, outcome: pass|fail, reference: REF}
  - counter: {person: P, at: TIME, officer: NAME}
  - visit: {person: P, outcome: seen_alive|deceased|moved_away|not_found, at: TIME,
            worker: NAME, death_date: DATE}      (the person's open visit task)
  - confirm_suspensions: {run_as_of: DATE, officer: NAME, on: DATE}

Expect keys: messages, visit_tasks, back_pay, recovery_cases, held_suspensions,
manual_certifications, runs.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any, cast

from sqlalchemy import Table, select

from lifesign.integrity.models import Case
from lifesign.lifecycle.manual import certify_at_counter, certify_self_service, record_visit
from lifesign.lifecycle.models import (
    BackPay,
    HeldSuspension,
    ManualCertification,
    Run,
    VisitTask,
)
from lifesign.lifecycle.run import confirm_suspensions, run_day
from lifesign.notify.models import OutboxMessage
from tests.policy.framework import CaseRun, action, as_date, as_time, checker, dumps

outbox_t = cast(Table, OutboxMessage.__table__)
tasks_t = cast(Table, VisitTask.__table__)
back_pay_t = cast(Table, BackPay.__table__)
cases_t = cast(Table, Case.__table__)
holds_t = cast(Table, HeldSuspension.__table__)
manual_t = cast(Table, ManualCertification.__table__)
runs_t = cast(Table, Run.__table__)


def _run_one(case: CaseRun, day: dt.date) -> None:
    case.deliver_evidence(day)
    report = run_day(case.settings, day, settle_seconds=0, engine=case.engine, catalog=case.catalog)
    case.outputs.setdefault("run", []).append(report)


@action("run")
def daily_run(case: CaseRun, params: dict[str, Any]) -> None:
    """`- run: {as_of: DATE}` or `- run: {from: DATE, to: DATE}` (every day between)."""
    if "from" in params:
        day, last = as_date(params["from"]), as_date(params["to"])
        while day <= last:
            _run_one(case, day)
            day += dt.timedelta(days=1)
        return
    _run_one(case, as_date(params.get("as_of", case.as_of)))


@action("self_service")
def self_service(case: CaseRun, params: dict[str, Any]) -> None:
    decision = certify_self_service(
        case.engine,
        case.catalog,
        id_number=case.id_numbers[str(params["person"])],
        at=as_time(params["at"]),
        outcome=params.get("outcome", "pass"),
        reference=str(params.get("reference", f"face-{params['person']}-{params['at']}")),
    )
    case.outputs.setdefault("self_service", []).append(decision)


@action("counter")
def counter(case: CaseRun, params: dict[str, Any]) -> None:
    decision = certify_at_counter(
        case.engine,
        case.catalog,
        person_id=case.persons[str(params["person"])],
        at=as_time(params["at"]),
        officer=str(params.get("officer", "officer")),
    )
    case.outputs.setdefault("counter", []).append(decision)


@action("visit")
def visit(case: CaseRun, params: dict[str, Any]) -> None:
    person_id = case.persons[str(params["person"])]
    with case.engine.connect() as connection:
        task_id = connection.execute(
            select(tasks_t.c.task_id).where(
                tasks_t.c.person_id == person_id, tasks_t.c.status == "open"
            )
        ).scalar_one()
    decision = record_visit(
        case.engine,
        case.catalog,
        task_id=int(task_id),
        outcome=params["outcome"],
        at=as_time(params["at"]),
        worker=str(params.get("worker", "worker")),
        death_date=as_date(params["death_date"]) if params.get("death_date") else None,
        note=params.get("note"),
    )
    case.outputs.setdefault("visit", []).append(decision)


@action("confirm_suspensions")
def confirm(case: CaseRun, params: dict[str, Any]) -> None:
    with case.engine.connect() as connection:
        run_id = connection.execute(
            select(runs_t.c.run_id).where(runs_t.c.as_of == as_date(params["run_as_of"]))
        ).scalar_one()
    result = confirm_suspensions(
        case.engine,
        case.catalog,
        int(run_id),
        officer=str(params.get("officer", "officer")),
        on=as_date(params["on"]) if params.get("on") else None,
    )
    case.outputs.setdefault("confirm_suspensions", []).append(result)


# ----------------------------------------------------------------------------- checkers


def _compare(
    case: CaseRun, what: str, expected: list[dict[str, Any]], actual: list[dict[str, Any]]
) -> None:
    """Exactly the expected rows (in any order); only the fields an expected row names."""
    remaining = list(actual)
    missing = []
    for want in expected:
        found = next(
            (row for row in remaining if all(_same(row.get(k), v) for k, v in want.items())),
            None,
        )
        if found is None:
            missing.append(want)
        else:
            remaining.remove(found)
    assert not missing and not remaining, (
        f"{case.name}: {what} differ\n  missing: {dumps(missing)}\n  unexpected: "
        f"{dumps(remaining)}\n  actual: {dumps(actual)}"
    )


def _same(actual: Any, expected: Any) -> bool:
    if isinstance(actual, Decimal) or isinstance(expected, float):
        return Decimal(str(actual)) == Decimal(str(expected))
    if isinstance(actual, dt.date) and not isinstance(expected, dt.date):
        return actual == as_date(expected)
    return bool(actual == expected)


@checker("messages")
def messages(case: CaseRun, expected: list[dict[str, Any]]) -> None:
    """Exactly these outbox messages: {person, reason, period_key, phone}."""
    with case.engine.connect() as connection:
        rows = connection.execute(select(outbox_t).order_by(outbox_t.c.message_id)).mappings()
        actual = [
            {
                "person": case.person_label(row["person_id"]),
                "reason": row["reason"],
                "period_key": row["period_key"],
                "phone": row["phone"],
                "body": row["body"],
            }
            for row in rows
        ]
    for want in expected:
        if "period_key" in want:
            want["period_key"] = str(want["period_key"])
        if "phone" in want:
            want["phone"] = str(want["phone"])
    body_parts = {
        i: want.pop("body_contains") for i, want in enumerate(expected) if "body_contains" in want
    }
    _compare(case, "messages", expected, actual)
    for index, parts in body_parts.items():
        want = expected[index]
        row = next(r for r in actual if all(_same(r.get(k), v) for k, v in want.items()))
        for part in parts if isinstance(parts, list) else [parts]:
            assert str(part) in row["body"], f"{case.name}: {part!r} not in {row['body']!r}"


@checker("visit_tasks")
def visit_tasks(case: CaseRun, expected: list[dict[str, Any]]) -> None:
    """Exactly these visit tasks: {person, due_date, status, attempts, outcome, grid_code}."""
    with case.engine.connect() as connection:
        actual = [
            {
                "person": case.person_label(row["person_id"]),
                "due_date": row["due_date"],
                "status": row["status"],
                "attempts": row["attempts"],
                "outcome": row["outcome"],
                "grid_code": row["grid_code"],
                "created_on": row["created_on"],
            }
            for row in connection.execute(select(tasks_t).order_by(tasks_t.c.task_id)).mappings()
        ]
    _compare(case, "visit tasks", expected, actual)


@checker("back_pay")
def back_pay(case: CaseRun, expected: list[dict[str, Any]]) -> None:
    """Exactly these back payments: {enrollment, months, periods, amount, resumes_on}."""
    with case.engine.connect() as connection:
        actual = [
            {
                "enrollment": case.enrollment_label(row["enrollment_id"]),
                "months": row["months"],
                "periods": list(row["periods"]),
                "amount": row["amount"],
                "resumes_on": row["resumes_on"],
                "decided_on": row["decided_on"],
            }
            for row in connection.execute(select(back_pay_t)).mappings()
        ]
    _compare(case, "back pay", expected, actual)


@checker("recovery_cases")
def recovery_cases(case: CaseRun, expected: list[dict[str, Any]]) -> None:
    """Exactly these recovery cases: {person, enrollment, amount, rule, status}."""
    with case.engine.connect() as connection:
        actual = [
            {
                "person": case.person_label(row["person_id"]),
                "enrollment": case.enrollment_label(row["enrollment_id"]),
                "amount": row["amount"],
                "rule": row["rule"],
                "status": row["status"],
            }
            for row in connection.execute(
                select(cases_t).where(cases_t.c.kind == "recovery")
            ).mappings()
        ]
    _compare(case, "recovery cases", expected, actual)


@checker("held_suspensions")
def held_suspensions(case: CaseRun, expected: list[dict[str, Any]]) -> None:
    """Exactly these held suspensions: {enrollment, rule, status, effective_date}."""
    with case.engine.connect() as connection:
        actual = [
            {
                "person": case.person_label(row["person_id"]),
                "enrollment": case.enrollment_label(row["enrollment_id"]),
                "rule": row["rule"],
                "status": row["status"],
                "effective_date": row["effective_date"],
                "officer": row["officer"],
            }
            for row in connection.execute(select(holds_t)).mappings()
        ]
    _compare(case, "held suspensions", expected, actual)


@checker("manual_certifications")
def manual_certifications(case: CaseRun, expected: list[dict[str, Any]]) -> None:
    """Exactly these manual attempts: {person, channel, outcome, certified: bool}."""
    with case.engine.connect() as connection:
        actual = [
            {
                "person": case.person_label(row["person_id"]),
                "channel": row["channel"],
                "outcome": row["outcome"],
                "certified": row["decision_id"] is not None,
                "actor": row["actor"],
            }
            for row in connection.execute(select(manual_t)).mappings()
        ]
    _compare(case, "manual certifications", expected, actual)


@checker("messages_include_reasons")
def messages_include_reasons(case: CaseRun, expected: list[str]) -> None:
    """At least one outbox message of each of these reasons."""
    with case.engine.connect() as connection:
        reasons = set(connection.execute(select(outbox_t.c.reason)).scalars())
    missing = sorted(set(expected) - reasons)
    assert not missing, f"{case.name}: no message for {missing} (messages: {sorted(reasons)})"


@checker("guard_warnings")
def guard_warnings(case: CaseRun, expected: dict[Any, list[str]]) -> None:
    """Per run day, the guard's warnings: each expected text is the start of one warning;
    an empty list means no warning that day."""
    with case.engine.connect() as connection:
        found = {
            row.as_of: list((row.guard or {}).get("warnings", []))
            for row in connection.execute(select(runs_t.c.as_of, runs_t.c.guard))
        }
    for day, wanted in expected.items():
        warnings = found.get(as_date(day))
        assert warnings is not None, f"{case.name}: no run on {day}"
        if not wanted:
            assert warnings == [], f"{case.name}: {day}: unexpected warnings {warnings}"
        for text in wanted:
            assert any(w.startswith(text) for w in warnings), (
                f"{case.name}: {day}: no warning starting {text!r} in {warnings}"
            )


@checker("held_count")
def held_count(case: CaseRun, expected: dict[str, int]) -> None:
    """How many held suspensions are in each status."""
    with case.engine.connect() as connection:
        statuses = list(connection.execute(select(holds_t.c.status)).scalars())
    actual = {status: statuses.count(status) for status in expected}
    assert actual == expected, f"{case.name}: held suspensions {actual}, expected {expected}"


@checker("suspended_count")
def suspended_count(case: CaseRun, expected: int) -> None:
    """How many enrollments are suspended."""
    from lifesign.store.models import Enrollment

    enrollments_t = cast(Table, Enrollment.__table__)
    with case.engine.connect() as connection:
        count = len(
            connection.execute(
                select(enrollments_t.c.enrollment_id).where(enrollments_t.c.status == "suspended")
            ).all()
        )
    assert count == expected, f"{case.name}: {count} enrollments suspended, expected {expected}"
