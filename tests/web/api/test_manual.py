"""Self-service results and visit outcomes through lifesign.lifecycle.manual; tasks; changes."""

from __future__ import annotations

import datetime as dt
from typing import cast

import httpx
from sqlalchemy import Engine, Table, insert, select

from lifesign.certify.models import Decision
from lifesign.lifecycle.models import VisitTask
from lifesign.web.models import AuditEntry
from tests.web.api.conftest import ApiClient, Recipient

tasks_t = cast(Table, VisitTask.__table__)
decisions_t = cast(Table, Decision.__table__)
audit_t = cast(Table, AuditEntry.__table__)


def _task(engine: Engine, person: Recipient, due: dt.date) -> int:
    with engine.begin() as conn:
        return int(
            conn.execute(
                insert(tasks_t)
                .values(
                    person_id=person.person_id,
                    grid_code=person.grid,
                    due_date=due,
                    reason="certification_expiring",
                    status="open",
                    attempts=0,
                    created_on=due - dt.timedelta(days=30),
                )
                .returning(tasks_t.c.task_id)
            ).scalar_one()
        )


def _face(
    api: ApiClient, headers: dict[str, str], person: Recipient, outcome: str, ref: str
) -> httpx.Response:
    return api.post(
        "/api/v1/self-service",
        headers=headers,
        json={
            "id_number": person.id_number,
            "outcome": outcome,
            "at": "2026-11-20T10:00:00+08:00",
            "reference": ref,
        },
    )


def test_self_service_pass_fail_and_retry(api: ApiClient, recipients: dict[str, Recipient]) -> None:
    headers = api.token("civil_affairs", "self_service")
    failed = _face(api, headers, recipients["A1"], "fail", "v-1")
    assert failed.status_code == 200
    assert failed.json() == {
        "decision_id": None,
        "certified": False,
        "message": "the face verification failed: recorded, nothing certified",
    }
    passed = _face(api, headers, recipients["A1"], "pass", "v-2")
    assert passed.json()["certified"] is True
    again = _face(api, headers, recipients["A1"], "pass", "v-2")
    assert again.json()["decision_id"] == passed.json()["decision_id"]
    with api.app_.state.engine.connect() as conn:
        decisions = conn.execute(select(decisions_t)).all()
        audited = conn.execute(select(audit_t.c.action, audit_t.c.person_id)).all()
    assert [(d.kind, d.channel) for d in decisions] == [("certified", "self_service")]
    assert set(audited) == {("api_self_service", recipients["A1"].person_id)}
    from tests.web.api.conftest import id_number

    stranger = dict(vars(recipients["A1"]), id_number=id_number("110101", "19900307", "011"))
    missing = _face(api, headers, Recipient(**stranger), "pass", "v-3")
    assert missing.status_code == 404
    bad = _face(api, headers, Recipient(**dict(stranger, id_number="123")), "pass", "v-4")
    assert bad.status_code == 422 and "bad_length" in bad.json()["error"]["what"]


def test_tasks_and_visit_outcomes(api: ApiClient, recipients: dict[str, Recipient]) -> None:
    engine = api.app_.state.engine
    due = dt.date(2026, 12, 1)
    first = _task(engine, recipients["A1"], due)
    second = _task(engine, recipients["A2"], due)
    other_grid = _task(engine, recipients["B1"], due)
    headers = api.token("civil_affairs", "visits")
    grid = recipients["A1"].grid
    page = api.get(f"/api/v1/tasks?grid={grid}&limit=1", headers=headers).json()
    assert [t["task_id"] for t in page["items"]] == [first] and page["has_more"] is True
    task = page["items"][0]
    assert task["name"] == "测试A1" and task["phone"] == "13800000000"
    assert task["id_number_masked"].count("*") == 10
    rest = api.get(
        f"/api/v1/tasks?grid={grid}&limit=1&cursor={page['next_cursor']}", headers=headers
    ).json()
    assert [t["task_id"] for t in rest["items"]] == [second] and rest["has_more"] is False
    everyone = api.get("/api/v1/tasks", headers=headers).json()
    assert [t["task_id"] for t in everyone["items"]] == [first, second, other_grid]
    assert api.get("/api/v1/tasks?status=lost", headers=headers).status_code == 422

    seen = api.post(
        f"/api/v1/visits/{first}/outcome",
        headers=headers,
        json={"outcome": "seen_alive", "at": "2026-11-25T15:00:00+08:00", "worker": "网格员甲"},
    )
    assert seen.status_code == 200, seen.text
    assert seen.json()["certified"] is True
    resent = api.post(
        f"/api/v1/visits/{first}/outcome",
        headers=headers,
        json={"outcome": "seen_alive", "at": "2026-11-25T15:00:00+08:00", "worker": "网格员甲"},
    )
    assert resent.json()["decision_id"] == seen.json()["decision_id"]  # a retried call
    closed = api.post(
        f"/api/v1/visits/{first}/outcome",
        headers=headers,
        json={"outcome": "not_found", "at": "2026-11-26T15:00:00+08:00", "worker": "网格员甲"},
    )
    assert closed.status_code == 409 and "done" in closed.json()["error"]["what"]
    no_date = api.post(
        f"/api/v1/visits/{second}/outcome",
        headers=headers,
        json={"outcome": "deceased", "at": "2026-11-26T15:00:00+08:00", "worker": "网格员甲"},
    )
    assert no_date.status_code == 422 and no_date.json()["error"]["where"] == {
        "field": "death_date"
    }
    died = api.post(
        f"/api/v1/visits/{second}/outcome",
        headers=headers,
        json={
            "outcome": "deceased",
            "at": "2026-11-26T15:00:00+08:00",
            "worker": "网格员甲",
            "death_date": "2026-11-10",
        },
    )
    assert died.status_code == 200 and died.json()["certified"] is False
    assert (
        api.post(
            "/api/v1/visits/999999/outcome",
            headers=headers,
            json={"outcome": "not_found", "at": "2026-11-26T15:00:00+08:00", "worker": "w"},
        ).status_code
        == 404
    )
    status = api.get(f"/api/v1/persons/{recipients['A2'].id_number}/status", headers=headers).json()
    assert status["status"] == "deceased"
    assert [e["status"] for e in status["enrollments"]] == ["terminated"]


def test_changes_page_through_the_ledger(api: ApiClient, recipients: dict[str, Recipient]) -> None:
    face = api.token("civil_affairs", "self_service")
    for n, key in enumerate(("A1", "A2", "B1")):
        assert _face(api, face, recipients[key], "pass", f"c-{n}").status_code == 200
    headers = api.token("hrss")
    first = api.get("/api/v1/changes?limit=2", headers=headers).json()
    assert [c["id_number"] for c in first["items"]] == [
        recipients["A1"].id_number,
        recipients["A2"].id_number,
    ]
    assert first["has_more"] is True
    assert first["items"][0]["kind"] == "certified"
    assert first["items"][0]["channel"] == "self_service"
    second = api.get(
        f"/api/v1/changes?limit=2&cursor={first['next_cursor']}", headers=headers
    ).json()
    assert [c["id_number"] for c in second["items"]] == [recipients["B1"].id_number]
    assert second["has_more"] is False
    later = api.get(f"/api/v1/changes?cursor={second['next_cursor']}", headers=headers).json()
    assert later["items"] == [] and later["next_cursor"] == second["next_cursor"]
    assert api.get("/api/v1/changes?since=2026-11-21", headers=headers).json()["items"] == []
    assert len(api.get("/api/v1/changes?since=2026-11-20", headers=headers).json()["items"]) == 3
    assert api.get("/api/v1/changes?cursor=abc", headers=headers).status_code == 422
    too_big = api.get("/api/v1/changes?limit=20000", headers=headers)
    assert too_big.status_code == 422 and "at most 10000" in too_big.json()["error"]["why"]
    with api.app_.state.engine.connect() as conn:
        audited = conn.execute(
            select(audit_t.c.person_id, audit_t.c.details)
            .where(audit_t.c.action == "api_changes")
            .order_by(audit_t.c.audit_id)
        ).all()
    a1, a2, b1 = (recipients[k].person_id for k in ("A1", "A2", "B1"))
    # every read is audited: the two pages, then the three of since=2026-11-20
    assert [(r.person_id, r.details and r.details["person_ids"]) for r in audited] == [
        (None, [a1, a2]),
        (b1, None),
        (None, [a1, a2, b1]),
    ]
