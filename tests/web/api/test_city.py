"""The API over a replayed city (W1's `web_city`, copied): the whole ledger by changes, every
recipient by batch status, the statistics against the state database."""

from __future__ import annotations

from typing import cast

from sqlalchemy import Table, func, select

from lifesign.certify.models import Decision, PersonStateRow
from lifesign.store.models import Person
from tests.web.api.conftest import ApiClient

decisions_t = cast(Table, Decision.__table__)
people_t = cast(Table, Person.__table__)
state_t = cast(Table, PersonStateRow.__table__)


def test_a_department_syncs_the_whole_ledger_and_every_status(city_api: ApiClient) -> None:
    engine = city_api.app_.state.engine
    with engine.connect() as conn:
        decisions = conn.execute(select(func.count()).select_from(decisions_t)).scalar_one()
        numbers = list(
            conn.execute(
                select(people_t.c.id_number).where(people_t.c.id_number.is_not(None))
            ).scalars()
        )
        states = dict(
            conn.execute(
                select(people_t.c.id_number, state_t.c.status).join(
                    state_t, state_t.c.person_id == people_t.c.person_id
                )
            ).all()
        )
    assert decisions > 0 and len(numbers) >= 200
    headers = city_api.token("hrss")
    seen: list[int] = []
    cursor = ""
    while True:
        page = city_api.get(f"/api/v1/changes?limit=100&cursor={cursor}", headers=headers).json()
        seen += [c["decision_id"] for c in page["items"]]
        cursor = page["next_cursor"]
        if not page["has_more"]:
            break
    assert len(seen) == decisions and seen == sorted(set(seen))

    answer = city_api.post("/api/v1/status/batch", headers=headers, json={"id_numbers": numbers})
    body = answer.json()
    assert body["found"] == len(numbers) and body["invalid"] == 0
    by_number = dict(zip(numbers, body["items"], strict=True))
    for number, status in states.items():
        assert by_number[number]["person"]["status"] == status


def test_statistics_add_up(city_api: ApiClient) -> None:
    headers = city_api.token("hrss")
    stats = city_api.get("/api/v1/statistics", headers=headers).json()
    assert stats["recipients"] > 0
    assert sum(c["count"] for c in stats["by_certification"]) == stats["recipients"]
    none = next(c["count"] for c in stats["by_certification"] if c["key"] == "none")
    assert stats["certified"] == stats["recipients"] - none
    assert sum(r["recipients"] for r in stats["by_county"]) <= stats["recipients"]
    assert {r["code"][:4] for r in stats["by_county"]} == {"3416"}
    assert stats["by_program"] and all(p["name"] for p in stats["by_program"])
