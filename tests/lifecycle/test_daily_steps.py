"""The daily steps, set-based, on a small hand-made registry (SQLite and PostgreSQL): many
people at once give the answers one person at a time gave, each step says what it wrote, and
running a step again writes nothing.

People: recipients of `resident_pension` (150 yuan a month), certified by the registry on
REGISTRY_CERTIFIED, so valid until a year later (EXPIRY).
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any, cast

from sqlalchemy import Connection, Engine, Table, func, insert, select

from lifesign.catalog import Catalog
from lifesign.certify.ledger import record_decision, seed_person_state
from lifesign.certify.models import Decision
from lifesign.certify.transitions import (
    EnrollmentChange,
    apply_enrollment_transitions,
    apply_person_transition,
)
from lifesign.integrity.models import Case
from lifesign.lifecycle import daily
from lifesign.lifecycle.guard import GuardFindings, check_spike
from lifesign.lifecycle.models import DeathSettlement, Run, VisitTask
from lifesign.lifecycle.parameters import load_guard_parameters, load_lifecycle_parameters
from lifesign.notify.models import OutboxMessage
from lifesign.store.models import Enrollment, Payment, Person

people_t = cast(Table, Person.__table__)
enrollments_t = cast(Table, Enrollment.__table__)
payments_t = cast(Table, Payment.__table__)
outbox_t = cast(Table, OutboxMessage.__table__)
tasks_t = cast(Table, VisitTask.__table__)
cases_t = cast(Table, Case.__table__)
deaths_t = cast(Table, DeathSettlement.__table__)
runs_t = cast(Table, Run.__table__)

PROGRAM = "resident_pension"
REGISTRY_CERTIFIED = dt.date(2025, 3, 10)
EXPIRY = dt.date(2026, 3, 10)
PARAMETERS = load_lifecycle_parameters()


def _registry(
    engine: Engine, catalog: Catalog, count: int, households: dict[int, str] | None = None
) -> None:
    """`count` recipients (person_id = enrollment_id = 1..count), phones 1390000xxxx."""
    households = households or {}
    with engine.begin() as connection:
        connection.execute(
            insert(people_t),
            [
                {
                    "person_id": p,
                    "pseudonym": f"{p:032x}",
                    "name": f"测试{p}",
                    "phone": f"1390000{p:04d}",
                    "birth_date": dt.date(1950, 1, 1),
                    "grid_code": f"G{p % 3}",
                    "household_id": households.get(p),
                    "last_certified_on": REGISTRY_CERTIFIED,
                }
                for p in range(1, count + 1)
            ],
        )
        connection.execute(
            insert(enrollments_t),
            [
                {
                    "enrollment_id": p,
                    "external_ref": f"E{p}",
                    "person_id": p,
                    "program": PROGRAM,
                    "start_date": dt.date(2020, 1, 1),
                    "monthly_amount": Decimal("150.00"),
                    "status": "active",
                }
                for p in range(1, count + 1)
            ],
        )
        seed_person_state(
            connection,
            None,
            {code: p.certification_period_months for code, p in catalog.programs.items()},
        )


def _die(connection: Connection, catalog: Catalog, person_id: int, on: dt.date) -> None:
    decision = record_decision(
        connection,
        person_id=person_id,
        kind="deceased",
        effective_date=on,
        decided_on=on + dt.timedelta(days=3),
        rule="test_death",
        catalog_version=catalog.version,
        evidence=[{"source": "gongan", "record_id": f"D{person_id}"}],
    )
    apply_person_transition(connection, person_id, "deceased", decision_id=decision)
    terminated = record_decision(
        connection,
        person_id=person_id,
        enrollment_id=person_id,
        kind="terminated",
        effective_date=on,
        decided_on=on + dt.timedelta(days=3),
        rule="test_death",
        catalog_version=catalog.version,
    )
    apply_enrollment_transitions(
        connection, [EnrollmentChange(person_id, "terminated", terminated, on)]
    )


def _messages(engine: Engine) -> list[Any]:
    with engine.connect() as connection:
        return list(
            connection.execute(
                select(outbox_t).order_by(outbox_t.c.person_id, outbox_t.c.reason)
            ).all()
        )


def test_deaths_of_one_household_settled_together(engine: Engine, catalog: Catalog) -> None:
    """Two deaths in one household: each family told on the living member's phone; the
    one paid after death gets a recovery case; a death without a household is told on the
    person's own phone. Settling again does nothing."""
    _registry(engine, catalog, 4, households={1: "H1", 2: "H1", 3: "H1"})
    with engine.begin() as connection:
        connection.execute(
            insert(payments_t),
            [
                {"enrollment_id": 1, "period": period, "amount": Decimal("150.00"), "paid_on": day}
                for period, day in (
                    ("2026-01", dt.date(2026, 1, 5)),
                    ("2026-02", dt.date(2026, 2, 5)),
                    ("2026-03", dt.date(2026, 3, 5)),
                )
            ],
        )
        _die(connection, catalog, 1, dt.date(2026, 1, 21))  # paid after: 10 days + Feb + Mar
        _die(connection, catalog, 2, dt.date(2026, 2, 28))  # no payment after
        _die(connection, catalog, 4, dt.date(2026, 2, 10))
    counts = daily.StepCounts()
    as_of = dt.date(2026, 3, 6)
    with engine.begin() as connection:
        daily.settle_deaths(connection, catalog, as_of, None, counts)
    overpaid = (Decimal("150.00") * 10 / 31).quantize(Decimal("0.01")) + 300
    assert counts.deaths_settled == 3 and counts.recovery_cases == 1
    assert counts.overpayment == overpaid
    assert counts.written == {
        "deaths.cases": 1,
        "deaths.outbox": 4,
        "deaths.death_settlements": 3,
    }
    sent = [(m.person_id, m.reason, m.phone) for m in _messages(engine)]
    assert sent == [
        (1, "recovery_notice", "13900000003"),
        (1, "terminated", "13900000003"),
        (2, "terminated", "13900000003"),  # person 1, also dead, is not the family any more
        (4, "terminated", "13900000004"),
    ]
    with engine.connect() as connection:
        case = connection.execute(select(cases_t)).one()
        assert (case.person_id, case.amount) == (1, overpaid)
        assert [p["period"] for p in case.details["payments"]] == ["2026-01", "2026-02", "2026-03"]
    again = daily.StepCounts()
    with engine.begin() as connection:
        daily.settle_deaths(connection, catalog, as_of + dt.timedelta(days=1), None, again)
    assert again.deaths_settled == 0 and again.written == {} and len(_messages(engine)) == 4


def test_a_day_of_reminders_visits_and_suspensions_in_bulk(
    engine: Engine, catalog: Catalog
) -> None:
    """300 people expiring together: the 60-day SMS, the visit tasks, then the suspensions,
    each step writing its rows once. (A city of 300 × 365 recipients: 300 expiries a day is
    its normal, not a spike.)"""
    _registry(engine, catalog, 300)
    guard = load_guard_parameters()

    def day(as_of: dt.date, active_recipients: int = 300 * 365) -> daily.StepCounts:
        counts = daily.StepCounts()
        since = as_of - dt.timedelta(days=1)
        with engine.begin() as connection:
            daily.send_reminders(connection, catalog, as_of, None, counts, PARAMETERS, since)
            run_id = connection.execute(
                insert(runs_t)
                .values(as_of=as_of, status="finished", attempts=1, counts={}, guard={})
                .returning(runs_t.c.run_id)
            ).scalar_one()
            findings = GuardFindings(as_of=as_of)
            daily.suspend_expired(
                connection,
                catalog,
                as_of,
                run_id,
                counts,
                findings,
                guard,
                since,
                active_recipients,
            )
        return counts

    first = day(EXPIRY - dt.timedelta(days=60))
    assert first.reminders == {"reminder_60": 300}
    assert first.written == {"reminders.outbox": 300}
    visits = day(EXPIRY - dt.timedelta(days=15))
    assert visits.visit_tasks == 300
    assert visits.written == {"reminders.visit_tasks": 300, "reminders.outbox": 300}
    with engine.connect() as connection:
        grids = connection.execute(
            select(tasks_t.c.grid_code, func.count()).group_by(tasks_t.c.grid_code)
        ).all()
    assert sorted(grids) == [("G0", 100), ("G1", 100), ("G2", 100)]
    expired = day(EXPIRY + dt.timedelta(days=1))
    assert expired.suspended == 300
    assert expired.written == {
        "suspensions.decisions": 300,
        "suspensions.status_events": 300,
        "suspensions.outbox": 300,
    }
    assert day(EXPIRY + dt.timedelta(days=2)).written == {}
    with engine.connect() as connection:
        statuses = connection.execute(select(enrollments_t.c.status).distinct()).scalars()
        assert list(statuses) == ["suspended"]


def test_a_certification_cancels_the_visit_it_overtook(engine: Engine, catalog: Catalog) -> None:
    _registry(engine, catalog, 3)
    as_of = EXPIRY - dt.timedelta(days=15)
    with engine.begin() as connection:
        daily.send_reminders(
            connection, catalog, as_of, None, daily.StepCounts(), PARAMETERS, as_of
        )  # nothing: the visit's day is as_of itself, not after it
        daily.send_reminders(
            connection,
            catalog,
            as_of,
            None,
            daily.StepCounts(),
            PARAMETERS,
            as_of - dt.timedelta(days=1),
        )
        record_decision(
            connection,
            person_id=2,
            kind="certified",
            effective_date=as_of,
            decided_on=as_of + dt.timedelta(days=1),
            rule="test",
            catalog_version=catalog.version,
            channel="counter",
            valid_until=as_of.replace(year=as_of.year + 1),
        )
    counts = daily.StepCounts()
    with engine.begin() as connection:
        daily.notify_certified(
            connection, catalog, as_of + dt.timedelta(days=1), counts, PARAMETERS, as_of
        )
    assert counts.visit_tasks_cancelled == 1 and counts.certified_notices == 1
    with engine.connect() as connection:
        tasks = connection.execute(
            select(tasks_t.c.person_id, tasks_t.c.status, tasks_t.c.outcome).order_by(
                tasks_t.c.person_id
            )
        ).all()
    assert tasks == [
        (1, "open", None),
        (2, "cancelled", "certified_otherwise"),
        (3, "open", None),
    ]
    certified = [m for m in _messages(engine) if m.reason == "certified"]
    assert [(m.person_id, m.params["evidence_name"]) for m in certified] == [(2, "窗口认证")]


def test_active_recipients_are_counted_only_when_the_spike_check_needs_them(
    engine: Engine,
) -> None:
    guard = load_guard_parameters()
    asked: list[int] = []

    def count() -> int:
        asked.append(1)
        return 3650

    as_of = dt.date(2026, 3, 1)
    with engine.begin() as connection:
        short = check_spike(connection, as_of, 60, count, guard)
        connection.execute(
            insert(runs_t),
            [
                {
                    "as_of": as_of - dt.timedelta(days=d),
                    "status": "finished",
                    "attempts": 1,
                    "counts": {"suspensions_due": 10},
                    "guard": {},
                }
                for d in range(1, guard.spike_min_history + 1)
            ],
        )
        long = check_spike(connection, as_of, 60, count, guard)
    assert asked == [1]
    assert (short.baseline_kind, short.baseline) == ("recipients_per_365", 10.0)
    assert (long.baseline_kind, long.baseline) == ("median_of_runs", 10.0)


def test_only_people_added_since_the_last_run_are_compared_with_the_states(
    engine: Engine, catalog: Catalog
) -> None:
    from lifesign.certify.models import PersonStateRow
    from lifesign.lifecycle.run import seed_new_people

    state_t = cast(Table, PersonStateRow.__table__)
    _registry(engine, catalog, 5)
    with engine.begin() as connection:
        connection.execute(state_t.delete().where(state_t.c.person_id == 2))
        # no run kept a mark: everyone is compared (person 2 gets its state back)
        assert seed_new_people(connection, catalog) == 5
        assert connection.execute(select(func.count()).select_from(state_t)).scalar() == 5
        connection.execute(
            insert(runs_t).values(
                as_of=dt.date(2026, 3, 1),
                status="finished",
                attempts=1,
                counts={daily.PEOPLE_THROUGH: 5},
                guard={},
            )
        )
        connection.execute(
            insert(people_t),
            [
                {
                    "person_id": p,
                    "pseudonym": f"{p:032x}",
                    "phone": f"1390000{p:04d}",
                    "last_certified_on": REGISTRY_CERTIFIED,
                }
                for p in (6, 7)
            ],
        )
        # the pass met person 7 first (evidence) and gave it a state: 6 is still new
        seed_person_state(connection, [7])
        assert seed_new_people(connection, catalog) == 7
        valid = connection.execute(
            select(state_t.c.valid_until).where(state_t.c.person_id == 6)
        ).scalar_one()
        assert valid == dt.date(2026, 3, 10)  # the registry's certification + the fallback year
        # below the mark nobody is compared again: a state removed there stays removed
        connection.execute(state_t.delete().where(state_t.c.person_id == 3))
        assert seed_new_people(connection, catalog) == 7
        assert connection.execute(select(func.count()).select_from(state_t)).scalar() == 6


def test_certifications_recorded_since_the_last_run_are_told_whatever_their_date(
    engine: Engine, catalog: Catalog
) -> None:
    """With the runs' `decisions_through` mark, the 'certified' step reads the decisions
    decided since the previous run and those recorded since (ids above the mark): a visit
    recorded weeks after it happened is told, one told before is not read again."""
    _registry(engine, catalog, 4)
    as_of = EXPIRY - dt.timedelta(days=40)
    since = as_of - dt.timedelta(days=1)

    def certify(connection: Connection, person_id: int, on: dt.date) -> None:
        record_decision(
            connection,
            person_id=person_id,
            kind="certified",
            effective_date=on,
            decided_on=on,
            rule="test",
            catalog_version=catalog.version,
            channel="home_visit",
            valid_until=on.replace(year=on.year + 1),
        )

    with engine.begin() as connection:
        certify(connection, 1, as_of - dt.timedelta(days=30))  # before the last run's mark
        mark = connection.execute(select(func.max(Decision.__table__.c.decision_id))).scalar()
        connection.execute(
            insert(runs_t).values(
                as_of=since,
                status="finished",
                attempts=1,
                counts={daily.DECISIONS_THROUGH: mark},
                guard={},
            )
        )
        certify(connection, 2, as_of - dt.timedelta(days=30))  # recorded late: 30 days back
        certify(connection, 3, as_of)  # today's
        certify(connection, 4, as_of + dt.timedelta(days=1))  # tomorrow's: not yet
    counts = daily.StepCounts()
    with engine.begin() as connection:
        daily.notify_certified(connection, catalog, as_of, counts, PARAMETERS, since)
    told = sorted(m.person_id for m in _messages(engine) if m.reason == "certified")
    assert told == [2, 3]
    assert counts.decisions_through == mark + 3
    with engine.begin() as connection:  # tomorrow's run tells person 4 (decided that day)
        daily.notify_certified(
            connection, catalog, as_of + dt.timedelta(days=1), daily.StepCounts(), PARAMETERS, as_of
        )
    told = sorted(m.person_id for m in _messages(engine) if m.reason == "certified")
    assert told == [2, 3, 4]
