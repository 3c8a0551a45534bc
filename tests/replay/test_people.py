"""The simulated people's side: deterministic, truthful, and never a dead person certifying."""

from __future__ import annotations

import datetime as dt

from lifesign.replay.people import OpenTask, PeopleSide, draws, load_behaviour
from lifesign.replay.truth import TruePerson

DAY = dt.date(2026, 3, 10)


def person(id_number: str, **dates: dt.date | None) -> TruePerson:
    return TruePerson(
        id_number=id_number,
        is_recipient=True,
        death_date=dates.get("death"),
        death_recorded=True,
        maoling=False,
        imprisoned_on=dates.get("prison"),
        emigrated_on=dates.get("emigrated"),
    )


TRUTH = {
    "alive": person("alive"),
    "dead": person("dead", death=dt.date(2026, 2, 1)),
    "gone": person("gone", emigrated=dt.date(2026, 1, 5)),
    "jailed": person("jailed", prison=dt.date(2025, 12, 1)),
}


def task(task_id: int, id_number: str, attempts: int = 0) -> OpenTask:
    return OpenTask(
        task_id=task_id,
        person_id=task_id,
        id_number=id_number,
        created_on=dt.date(2026, 2, 1),
        due_date=dt.date(2026, 3, 1),
        attempts=attempts,
        last_attempt_on=dt.date(2026, 2, 20) if attempts else None,
    )


def test_draws_depend_only_on_their_arguments() -> None:
    assert draws(1, "reminder", 7, DAY) == draws(1, "reminder", 7, DAY)
    assert draws(1, "reminder", 7, DAY) != draws(2, "reminder", 7, DAY)
    assert draws(1, "reminder", 7, DAY) != draws(1, "visit", 7, DAY)
    values = [draws(3, "x", i, DAY, 1)[0] for i in range(2000)]
    assert all(0 <= v < 1 for v in values)
    assert 0.45 < sum(values) / len(values) < 0.55


def test_the_worker_reports_what_the_truth_says() -> None:
    side = PeopleSide(load_behaviour(), TRUTH, seed=5)
    visits = {
        v.task_id: v
        for v in side.visits(
            DAY, [task(1, "alive", 1), task(2, "dead", 1), task(3, "gone", 1), task(4, "jailed", 1)]
        )
    }
    assert visits[1].outcome == "seen_alive" and visits[1].death_date is None
    assert visits[2].outcome == "deceased" and visits[2].death_date == dt.date(2026, 2, 1)
    assert visits[3].outcome == "moved_away"
    assert visits[4].outcome == "not_found"
    for visit in visits.values():
        assert visit.at.date() <= DAY


def test_first_visits_fall_in_the_tasks_window_and_sometimes_find_nobody() -> None:
    behaviour = load_behaviour()
    side = PeopleSide(behaviour, {str(i): person(str(i)) for i in range(1, 2001)}, seed=9)
    tasks = [task(i, str(i)) for i in range(1, 2001)]
    visits = side.visits(DAY, tasks)
    assert len(visits) == len(tasks)  # all due before DAY
    last_day = dt.date(2026, 3, 1) - dt.timedelta(behaviour.visit_days_before_due)
    assert all(dt.date(2026, 2, 1) <= v.at.date() <= last_day for v in visits)
    not_found = sum(v.outcome == "not_found" for v in visits) / len(visits)
    assert abs(not_found - behaviour.visit_not_found_first) < 0.03
    assert side.visits(dt.date(2026, 1, 31), tasks) == []  # nothing before the task exists


def test_a_worker_stops_after_the_last_try() -> None:
    behaviour = load_behaviour()
    side = PeopleSide(behaviour, TRUTH, seed=5)
    assert side.visits(DAY, [task(1, "jailed", behaviour.visit_max_tries)]) == []


def test_in_the_history_only_the_living_certify_by_hand() -> None:
    side = PeopleSide(load_behaviour(), TRUTH, seed=5)
    expires = dt.date(2026, 3, 1)
    expired = [(i, name, expires) for i, name in enumerate(TRUTH, start=1)] * 1
    actions = side.history_certifications(expired, dt.date(2024, 11, 1), dt.date(2026, 3, 9))
    assert {a.id_number for a in actions} <= {"alive"}
    for action in actions:
        assert action.at.date() < expires and action.outcome == "pass"
    many = {str(i): person(str(i)) for i in range(3000)}
    side = PeopleSide(load_behaviour(), many, seed=5)
    certified = side.history_certifications(
        [(i, str(i), expires) for i in range(3000)], dt.date(2024, 11, 1), dt.date(2026, 3, 9)
    )
    share = len(certified) / 3000
    assert abs(share - load_behaviour().history_certify) < 0.03
    assert {a.channel for a in certified} == {"self_service", "counter"}
