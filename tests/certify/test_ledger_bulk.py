"""record_decisions: many decisions in one call, same checks and state moves as one by one."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from sqlalchemy import Engine

from lifesign.certify.ledger import current_state, decisions_of, record_decision, record_decisions
from lifesign.errors import LifesignError
from tests.certify.test_state import DAY, add_person


def certified(person_id: int, on: dt.date, channel: str = "auto", **extra: Any) -> dict[str, Any]:
    return {
        "person_id": person_id,
        "kind": "certified",
        "effective_date": on,
        "decided_on": DAY,
        "rule": "strong_alive_certifies",
        "catalog_version": "v1",
        "channel": channel,
        "valid_until": on.replace(year=on.year + 1),
        "evidence": [{"source": "s", "record_id": f"R{person_id}-{on}",
                      "evidence_type": "rail_boarding", "event_time": f"{on}T10:00:00"}],
        **extra,
    }  # fmt: skip


def test_bulk_returns_ids_in_order_and_moves_states_like_one_by_one(engine: Engine) -> None:
    bulk_people = [add_person(engine, f"bulk{i}")[0] for i in range(3)]
    single_people = [add_person(engine, f"single{i}")[0] for i in range(3)]

    def decisions(people: list[int]) -> list[dict[str, Any]]:
        a, b, c = people
        return [
            certified(a, dt.date(2025, 3, 1)),
            certified(b, dt.date(2025, 2, 1), "counter"),
            certified(a, dt.date(2025, 1, 5), "counter"),  # older: never moves the state back
            {"person_id": c, "kind": "deceased", "effective_date": dt.date(2025, 4, 2),
             "decided_on": DAY, "rule": "death_record", "catalog_version": "v1",
             "details": {"why": "test"}, "run_id": 7},
            certified(b, dt.date(2025, 5, 1), "self_service"),
        ]  # fmt: skip

    with engine.begin() as connection:
        ids = record_decisions(connection, decisions(bulk_people))
        singles = [record_decision(connection, **row) for row in decisions(single_people)]
        assert len(ids) == 5 and ids == sorted(ids) and len(set(ids)) == 5
        assert record_decisions(connection, []) == []
        for bulk_person, single_person in zip(bulk_people, single_people, strict=True):
            bulk_state = current_state(connection, bulk_person).__dict__
            single_state = current_state(connection, single_person).__dict__
            assert {**bulk_state, "person_id": 0} == {**single_state, "person_id": 0}
        ledger = {p: decisions_of(connection, p) for p in bulk_people}
        state = current_state(connection, bulk_people[0])
    assert singles == sorted(singles) and singles[0] > ids[-1]
    first_person, second_person, dead_person = bulk_people
    assert [d["decision_id"] for d in ledger[first_person]] == [ids[2], ids[0]]
    assert [d["decision_id"] for d in ledger[second_person]] == [ids[1], ids[4]]
    (death,) = ledger[dead_person]
    assert (death["decision_id"], death["run_id"], death["details"]) == (ids[3], 7, {"why": "test"})
    assert ledger[first_person][1]["evidence"][0]["record_id"] == f"R{first_person}-2025-03-01"
    assert (state.last_certified_on, state.channel, state.certified_year) == (
        dt.date(2025, 3, 1), "auto", 2025
    )  # fmt: skip


def test_bulk_checks_every_row_before_writing_any(engine: Engine) -> None:
    person_id, _ = add_person(engine, "checked")
    good = certified(person_id, dt.date(2025, 3, 1))
    with engine.begin() as connection:
        with pytest.raises(LifesignError, match="unknown decision kind"):
            record_decisions(connection, [good, {**good, "kind": "vanished"}])
        with pytest.raises(LifesignError, match="needs valid_until"):
            record_decisions(connection, [good, {**good, "valid_until": None}])
        with pytest.raises(LifesignError, match="decision #1: missing rule"):
            record_decisions(connection, [good, {**good, "rule": None}])
        with pytest.raises(LifesignError, match="not in the registry"):
            record_decisions(connection, [good, {**good, "person_id": person_id + 999}])
        assert decisions_of(connection, person_id) == []
