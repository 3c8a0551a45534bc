"""Integrity cases: idempotent opening, the transition table, the events trail (both backends)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from sqlalchemy import Engine, select

from lifesign.integrity.cases import (
    CASE_TRANSITIONS,
    CaseError,
    case_events,
    close_case,
    get_case,
    list_cases,
    open_case,
)
from lifesign.integrity.models import CASE_STATUSES, CaseEvent
from tests.integrity.registry import add_enrollment, add_person

DAY = dt.date(2026, 3, 2)


@pytest.fixture
def person(engine: Engine) -> int:
    with engine.begin() as connection:
        add_person(connection, 7)
        add_enrollment(connection, 12, 7, "resident_pension")
    return 7


def test_open_case_is_idempotent_while_open(engine: Engine, person: int) -> None:
    with engine.begin() as connection:
        first = open_case(
            connection,
            kind="recovery",
            rule="death_overpayment",
            person_id=person,
            opened_on=DAY,
            amount=Decimal("300"),
            enrollment_id=12,
            evidence=[{"period": "2026-02", "amount": Decimal("150.00")}],
            details={"death_date": dt.date(2026, 1, 20)},
        )
        again = open_case(
            connection,
            kind="recovery",
            rule="death_overpayment",
            person_id=person,
            opened_on=DAY,
            amount=Decimal("300"),
            enrollment_id=12,
        )
        other_rule = open_case(
            connection, kind="fraud", rule="payments_after_death", person_id=person, opened_on=DAY
        )
    assert first is not None and again is None and other_rule not in (None, first)
    with engine.connect() as connection:
        case = get_case(connection, first)
        assert case.status == "open" and case.amount == Decimal("300.00")
        assert case.evidence == [{"period": "2026-02", "amount": "150.00"}]
        assert case.details == {"death_date": "2026-01-20"}
        assert [(e.from_status, e.to_status) for e in case_events(connection, first)] == [
            (None, "open")
        ]
    # Once closed, the same case may be opened again (new overpayment, new signal).
    with engine.begin() as connection:
        close_case(
            connection, first, to_status="dismissed", officer="王科长", reason="duplicate", on=DAY
        )
        reopened = open_case(
            connection,
            kind="recovery",
            rule="death_overpayment",
            person_id=person,
            opened_on=DAY,
            enrollment_id=12,
        )
    assert reopened not in (None, first)


def test_transitions_follow_the_table_and_leave_events(engine: Engine, person: int) -> None:
    with engine.begin() as connection:
        case_id = open_case(
            connection,
            kind="fraud",
            rule="weak_activity_after_death",
            person_id=person,
            opened_on=DAY,
        )
    assert case_id is not None
    with engine.begin() as connection:
        with pytest.raises(CaseError, match="cannot go from open to recovered"):
            close_case(connection, case_id, to_status="recovered", officer="李", reason="x", on=DAY)
        close_case(
            connection,
            case_id,
            to_status="confirmed",
            officer="李四",
            reason="repayment order sent",
            on=DAY + dt.timedelta(days=1),
        )
        close_case(
            connection,
            case_id,
            to_status="recovered",
            officer="李四",
            reason="repaid in full",
            on=DAY + dt.timedelta(days=20),
        )
        with pytest.raises(CaseError, match="nothing \\(it is closed\\)"):
            close_case(connection, case_id, to_status="dismissed", officer="李", reason="x", on=DAY)
    with engine.connect() as connection:
        case = get_case(connection, case_id)
        assert (case.status, case.closed_by, case.closing_reason, case.closed_on) == (
            "recovered",
            "李四",
            "repaid in full",
            DAY + dt.timedelta(days=20),
        )
        trail = case_events(connection, case_id)
        assert [(e.from_status, e.to_status, e.officer) for e in trail] == [
            (None, "open", None),
            ("open", "confirmed", "李四"),
            ("confirmed", "recovered", "李四"),
        ]
        assert len(connection.execute(select(CaseEvent.event_id)).all()) == 3
        assert [c.case_id for c in list_cases(connection, status="recovered")] == [case_id]
        assert list_cases(connection, status="open") == []


def test_closing_needs_an_officer_and_a_reason_and_a_case(engine: Engine, person: int) -> None:
    with engine.begin() as connection:
        case_id = open_case(
            connection,
            kind="excess",
            rule="payment_above_standard",
            person_id=person,
            opened_on=DAY,
            enrollment_id=12,
        )
        assert case_id is not None
        with pytest.raises(CaseError, match="without an officer and a reason"):
            close_case(connection, case_id, to_status="dismissed", officer="李", reason=" ", on=DAY)
        with pytest.raises(CaseError, match="there is no case 999"):
            close_case(connection, 999, to_status="dismissed", officer="李", reason="x", on=DAY)
        with pytest.raises(CaseError, match="unknown case kind"):
            open_case(connection, kind="theft", rule="x", person_id=person, opened_on=DAY)  # type: ignore[arg-type]


def test_the_table_covers_every_status() -> None:
    assert set(CASE_TRANSITIONS) - {None} == set(CASE_STATUSES)
    for followers in CASE_TRANSITIONS.values():
        assert followers <= set(CASE_STATUSES)
