"""Transitions, the ledger and the person state, on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import cast

import pytest
from sqlalchemy import Engine, Table, insert, select

from lifesign.certify.ledger import current_state, decisions_of, record_decision
from lifesign.certify.models import Decision, StatusEvent
from lifesign.certify.reviews import open_review
from lifesign.certify.transitions import (
    ENROLLMENT_TRANSITIONS,
    PERSON_TRANSITIONS,
    TransitionRefused,
    apply_enrollment_transition,
    apply_person_transition,
)
from lifesign.store.models import Enrollment, Person

people_t = cast(Table, Person.__table__)
enrollments_t = cast(Table, Enrollment.__table__)
events_t = cast(Table, StatusEvent.__table__)
decisions_t = cast(Table, Decision.__table__)
DAY = dt.date(2025, 6, 1)


def add_person(engine: Engine, label: str, status: str = "active") -> tuple[int, int]:
    with engine.begin() as connection:
        person_id = connection.execute(
            insert(people_t)
            .values(
                pseudonym=label.ljust(32, "0"),
                id_number=None,
                name="测试",
                grid_code="341602001001001",
                last_certified_on=dt.date(2024, 9, 1),
                last_certification_channel="counter",
            )
            .returning(people_t.c.person_id)
        ).scalar_one()
        enrollment_id = connection.execute(
            insert(enrollments_t)
            .values(
                external_ref=f"E-{label}",
                person_id=person_id,
                program="resident_pension",
                start_date=dt.date(2015, 1, 1),
                monthly_amount=Decimal("150"),
                status=status,
            )
            .returning(enrollments_t.c.enrollment_id)
        ).scalar_one()
    return int(person_id), int(enrollment_id)


def test_tables_are_closed_over_their_statuses() -> None:
    for table in (PERSON_TRANSITIONS, ENROLLMENT_TRANSITIONS):
        for source, targets in table.items():
            assert targets <= set(table), (source, targets)
            assert source not in targets


@pytest.mark.parametrize(
    ("start", "to"),
    [(s, t) for s, targets in ENROLLMENT_TRANSITIONS.items() for t in sorted(targets)],
)
def test_every_allowed_enrollment_transition_writes_an_event(
    engine: Engine, start: str, to: str
) -> None:
    person_id, enrollment_id = add_person(engine, f"{start}{to}", start)
    with engine.begin() as connection:
        decision_id = record_decision(
            connection, person_id=person_id, kind="suspended" if to == "suspended" else "resumed"
            if to == "active" else "terminated", enrollment_id=enrollment_id, effective_date=DAY,
            decided_on=DAY, rule="test", catalog_version="test",
        )  # fmt: skip
        before = apply_enrollment_transition(connection, enrollment_id, to, decision_id=decision_id)
        assert before == start
        status = connection.execute(
            select(enrollments_t.c.status).where(enrollments_t.c.enrollment_id == enrollment_id)
        ).scalar_one()
        events = connection.execute(select(events_t)).mappings().all()
    assert status == to
    assert [
        (e["target"], e["from_status"], e["to_status"], e["decision_id"], e["at"]) for e in events
    ] == [("enrollment", start, to, decision_id, DAY)]


@pytest.mark.parametrize(
    ("path"),
    [
        ("deceased",),
        ("imprisoned", "alive"),
        ("imprisoned", "deceased"),
        ("emigrated", "alive"),
        ("moved_away", "review", "alive"),
        ("review", "deceased", "review", "alive"),
    ],
)
def test_allowed_person_transitions_write_events(engine: Engine, path: tuple[str, ...]) -> None:
    person_id, _ = add_person(engine, "-".join(path))
    with engine.begin() as connection:
        for step, to in enumerate(path):
            apply_person_transition(
                connection, person_id, to, decision_id=None, on=DAY + dt.timedelta(days=step)
            )
        state = current_state(connection, person_id)
        events = connection.execute(
            select(events_t.c.from_status, events_t.c.to_status).order_by(events_t.c.event_id)
        ).all()
    assert state.status == path[-1]
    assert state.status_since == DAY + dt.timedelta(days=len(path) - 1)
    assert [tuple(e) for e in events] == list(zip(("alive", *path[:-1]), path, strict=True))


def test_a_refused_transition_says_why_and_changes_nothing(engine: Engine) -> None:
    person_id, enrollment_id = add_person(engine, "refused", "terminated")
    with engine.begin() as connection:
        with pytest.raises(TransitionRefused) as refused:
            apply_enrollment_transition(
                connection, enrollment_id, "suspended", decision_id=None, on=DAY
            )
        apply_person_transition(connection, person_id, "deceased", decision_id=None, on=DAY)
        with pytest.raises(TransitionRefused) as refused_person:
            apply_person_transition(connection, person_id, "alive", decision_id=None, on=DAY)
        events = connection.execute(select(events_t)).all()
    assert "'terminated' to 'suspended'" in refused.value.what
    assert "allows 'terminated' → active" in (refused.value.why or "")
    assert "'deceased' to 'alive'" in refused_person.value.what
    assert len(events) == 1  # only the death


def test_ledger_is_append_only_and_moves_the_state(engine: Engine) -> None:
    person_id, _ = add_person(engine, "ledger")
    with engine.begin() as connection:
        seeded = current_state(connection, person_id)
        assert (seeded.status, seeded.last_certified_on, seeded.valid_until, seeded.channel) == (
            "alive", dt.date(2024, 9, 1), dt.date(2025, 9, 1), "counter"
        )  # fmt: skip
        first = record_decision(
            connection, person_id=person_id, kind="certified", effective_date=dt.date(2025, 3, 1),
            decided_on=DAY, rule="strong_alive_certifies", catalog_version="v1",
            evidence=[{"source": "s", "record_id": "R1", "evidence_type": "rail_boarding",
                       "event_time": "2025-03-01T10:00:00"}],
            channel="auto", valid_until=dt.date(2026, 3, 1),
        )  # fmt: skip
        # an older certification arriving later never moves the state back
        second = record_decision(
            connection, person_id=person_id, kind="certified", effective_date=dt.date(2025, 1, 5),
            decided_on=DAY, rule="counter", catalog_version="v1", channel="counter",
            valid_until=dt.date(2026, 1, 5),
        )  # fmt: skip
        state = current_state(connection, person_id)
        ledger = decisions_of(connection, person_id)
    assert second > first
    assert (state.last_certified_on, state.valid_until, state.channel, state.certified_year) == (
        dt.date(2025, 3, 1), dt.date(2026, 3, 1), "auto", 2025
    )  # fmt: skip
    assert [d["decision_id"] for d in ledger] == [second, first]  # by effective date
    assert ledger[1]["evidence"][0]["record_id"] == "R1"
    # the ledger's API has no update or delete; the rows are the ones written
    import lifesign.certify.ledger as ledger_module

    assert not [name for name in dir(ledger_module) if name.startswith(("update_", "delete_"))]


def test_reviews_are_one_open_per_person_and_kind(engine: Engine) -> None:
    person_id, _ = add_person(engine, "review")
    with engine.begin() as connection:
        first = open_review(connection, person_id, "death_dates_far_apart", {"death": []}, DAY)
        again = open_review(connection, person_id, "death_dates_far_apart", {"death": []}, DAY)
        other = open_review(connection, person_id, "alive_after_recorded_death", {}, DAY)
    assert first == again != other
