"""The worklist (/worklist) and the visit-outcome form: a community worker sees the persons of
their grids only, with the phone in full; recording a visit certifies through
lifesign.lifecycle.manual (the decision shows on the person's page); CSRF and roles enforced."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import select

from lifesign.certify.models import Decision
from lifesign.config import Settings
from lifesign.lifecycle.models import VisitTask
from lifesign.store import open_database
from lifesign.web.queries.worklist import worklist
from tests.web.conftest import login_client
from tests.web.pages.people_support import (
    add_worker,
    audit_of,
    engine_of,
    open_task,
    person_in_grids,
    user_row,
)

Client = Callable[[str], Any]


def test_the_worker_sees_the_persons_of_their_grids_only(
    client: Client, web_city: Settings
) -> None:
    engine = engine_of(web_city)
    grids = frozenset(user_row(engine, "worker")["grids"])
    with open_database(web_city).connect() as conn:
        listed = worklist(conn, grids)
        everyone = worklist(conn, None)
    assert listed.total > 0, "the demo worker's grids were chosen for having persons due"
    assert all(item.grid_code in grids for item in listed.items)
    assert listed.open_tasks <= everyone.open_tasks
    assert everyone.tasks_only and all(item.task_id for item in everyone.items)
    page = client("worker").get("/worklist")
    assert page.status_code == 200
    for item in listed.items:
        assert f'id="person-{item.person_id}"' in page.text
        if item.phone:  # the worker must call: the phone is shown in full, as a tel: link
            assert f'href="tel:{item.phone}"' in page.text
    outsider = person_in_grids(engine, grids, inside=False)
    assert f'id="person-{outsider.person_id}"' not in page.text


def test_worklist_rows_are_due_and_ordered(web_city: Settings) -> None:
    with open_database(web_city).connect() as conn:
        listed = worklist(conn, None)
    dues = [item.due for item in listed.items if item.due is not None]
    assert dues == sorted(dues)
    horizon = listed.as_of.toordinal() + 30
    for item in listed.items:
        assert item.task_id is not None or item.due is None or item.due.toordinal() <= horizon


@pytest.mark.parametrize("key", ["officer", "datamgr", "auditor"])
def test_other_roles_have_no_worklist(client: Client, key: str) -> None:
    assert client(key).get("/worklist").status_code == 403


def test_the_admin_sees_every_grid(client: Client) -> None:
    assert client("admin").get("/worklist").status_code == 200


def test_a_worklist_view_is_audited(client: Client, web_city: Settings) -> None:
    before = len(audit_of(engine_of(web_city), "view_worklist"))
    client("worker").get("/worklist")
    rows = audit_of(engine_of(web_city), "view_worklist")
    assert len(rows) == before + 1
    assert rows[-1]["username"] == "worker" and rows[-1]["details"]["person_ids"]


def test_recording_a_visit_certifies_the_person(home_app: Any, web_home: Settings) -> None:
    engine = engine_of(web_home)
    task = open_task(engine)
    worker = login_client(home_app, add_worker(engine, "grid_worker", (task.grid_code,)))
    page = worker.get("/worklist")
    assert f'action="/worklist/tasks/{task.task_id}/visit"' in page.text
    # without the CSRF token: refused, nothing recorded
    refused = worker.post(
        f"/worklist/tasks/{task.task_id}/visit",
        data={"outcome": "seen_alive"},
        follow_redirects=False,
    )
    assert refused.status_code == 403
    with engine.connect() as conn:
        assert (
            conn.execute(
                select(VisitTask.status).where(VisitTask.task_id == task.task_id)
            ).scalar_one()
            == "open"
        )
    done = worker.post_form(f"/worklist/tasks/{task.task_id}/visit", {"outcome": "seen_alive"})
    assert done.status_code == 303
    assert done.headers["location"] == f"/people/{task.person_id}?visit=seen_alive"
    with engine.connect() as conn:
        status, decision_id = conn.execute(
            select(VisitTask.status, VisitTask.decision_id).where(VisitTask.task_id == task.task_id)
        ).one()
        decision = (
            conn.execute(select(Decision).where(Decision.decision_id == decision_id))
            .mappings()
            .one()
        )
    assert status == "done"
    assert decision["kind"] == "certified" and decision["channel"] == "home_visit"
    assert decision["rule"] == "home_visit_seen_alive"
    person = worker.get(done.headers["location"])
    assert person.status_code == 200
    assert f'id="decision-{decision_id}"' in person.text
    assert "社区网格员上门见到本人，认证通过。" in person.text
    assert audit_of(engine, "record_visit", task.person_id)
    # the task is closed: it left the worklist's form
    assert f'action="/worklist/tasks/{task.task_id}/visit"' not in worker.get("/worklist").text


def test_a_visit_outside_the_workers_grids_is_not_found(home_app: Any, web_home: Settings) -> None:
    engine = engine_of(web_home)
    task = open_task(engine)
    other_grid = person_in_grids(engine, frozenset({task.grid_code}), inside=False).grid_code
    worker = login_client(home_app, add_worker(engine, "other_worker", (other_grid,)))
    answer = worker.post_form(f"/worklist/tasks/{task.task_id}/visit", {"outcome": "seen_alive"})
    assert answer.status_code == 404
    with engine.connect() as conn:
        assert (
            conn.execute(
                select(VisitTask.status).where(VisitTask.task_id == task.task_id)
            ).scalar_one()
            == "open"
        )


def test_a_death_needs_its_date_and_the_auditor_cannot_post(
    home_app: Any, web_home: Settings, users: dict[str, Any]
) -> None:
    engine = engine_of(web_home)
    task = open_task(engine)
    worker = login_client(home_app, add_worker(engine, "death_worker", (task.grid_code,)))
    missing = worker.post_form(f"/worklist/tasks/{task.task_id}/visit", {"outcome": "deceased"})
    assert missing.status_code == 400
    assert re.search("death|死亡", missing.text)
    auditor = login_client(home_app, users["auditor"])
    refused = auditor.post_form(f"/worklist/tasks/{task.task_id}/visit", {"outcome": "seen_alive"})
    assert refused.status_code == 403


def test_the_worklist_on_a_phone_in_english(client: Client) -> None:
    page = client("worker").get("/worklist?lang=en")
    assert page.status_code == 200
    assert "Worklist" in page.text
    assert 'name="viewport"' in page.text
