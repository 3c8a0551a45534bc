"""The audit log: rows written on both backends, read back by filter; every view of a person
writes who/what/when/why/from where; the auditor (and the admin) read it, nobody else."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

import pytest
from fastapi import FastAPI
from sqlalchemy import Engine, func, select

from lifesign.store.models import Person
from lifesign.web.audit import AuditFilter, audit, read_audit
from lifesign.web.auth import Principal
from lifesign.web.demo_accounts import DemoLogin
from lifesign.web.models import AuditEntry

from .conftest import WebClient

WORKER = Principal(1, "w", "community_worker", frozenset(), frozenset(), frozenset({"g"}), None,
                   "zh-CN")  # fmt: skip
AUDITOR = Principal(2, "a", "auditor", frozenset(), frozenset(), frozenset(), None, "en")


def test_rows_are_written_and_filtered(engine: Engine, small_registry: dict[str, int]) -> None:
    a1, b1 = small_registry["A1"], small_registry["B1"]
    with engine.begin() as conn:
        audit(conn, WORKER, "view_person", person_id=a1, reason="visit planned")
        audit(conn, WORKER, "view_person", person_id=b1)
        audit(conn, AUDITOR, "view_person", person_id=a1, target="page", details={"k": 1})
        audit(conn, AUDITOR, "view_audit")
    with engine.connect() as conn:
        everything = read_audit(conn, AuditFilter(), limit=10)
        by_person = read_audit(conn, AuditFilter(person_id=a1), limit=10)
        by_user = read_audit(conn, AuditFilter(username="w"), limit=10)
        by_action = read_audit(conn, AuditFilter(action="view_audit"), limit=10)
        today = dt.datetime.now(dt.UTC).date()
        in_range = read_audit(conn, AuditFilter(since=today, until=today), limit=10)
        before = read_audit(conn, AuditFilter(until=today - dt.timedelta(days=2)), limit=10)
        paged = read_audit(conn, AuditFilter(), limit=2, before_id=everything[1].audit_id)
    assert [r.action for r in everything] == ["view_audit", "view_person", "view_person",
                                              "view_person"]  # fmt: skip
    assert {(r.username, r.person_id) for r in by_person} == {("w", a1), ("a", a1)}
    assert [r.person_id for r in by_user] == [b1, a1]
    assert by_user[-1].reason == "visit planned" and by_user[-1].role == "community_worker"
    assert [r.username for r in by_action] == ["a"]
    assert len(in_range) == 4 and before == []
    assert [r.audit_id for r in paged] == [everything[2].audit_id, everything[3].audit_id]
    assert everything[1].details == {"k": 1} and everything[1].at.tzinfo is not None


def _person_of_grid(app: FastAPI, grids: frozenset[str], inside: bool) -> int:
    with app.state.engine.connect() as conn:
        condition = Person.grid_code.in_(grids) if inside else Person.grid_code.not_in(grids)
        found = conn.execute(
            select(Person.person_id).where(condition).order_by(Person.person_id).limit(1)
        ).scalar()
    assert found is not None
    return int(found)


def _rows_for(app: FastAPI, person_id: int, username: str) -> list[AuditEntry]:
    with app.state.engine.connect() as conn:
        return list(
            conn.execute(
                select(AuditEntry).where(
                    AuditEntry.person_id == person_id, AuditEntry.username == username
                )
            ).all()
        )


def test_every_view_of_a_person_is_in_the_log_and_the_auditor_sees_it(
    home_app: FastAPI, home_client: Callable[[str], WebClient], users: dict[str, DemoLogin]
) -> None:
    from lifesign.web.models import User

    worker = home_client("worker")
    with home_app.state.engine.connect() as conn:
        grids = frozenset(
            conn.execute(select(User.grids).where(User.username == "worker")).scalar() or ()
        )
    mine = _person_of_grid(home_app, grids, inside=True)
    other = _person_of_grid(home_app, grids, inside=False)
    # the home is shared by the module's tests: count this test's views only
    seen_before = len(_rows_for(home_app, mine, "worker"))
    other_before = len(_rows_for(home_app, other, "worker"))
    for _ in range(2):
        assert worker.get(f"/people/{mine}").status_code == 200
    assert worker.get(f"/people/{other}").status_code == 404  # another grid: not found
    rows = _rows_for(home_app, mine, "worker")
    assert len(rows) == seen_before + 2  # every view, not the first only
    row = rows[-1]
    assert row.action == "view_person" and row.role == "community_worker"
    assert row.reason and f"/people/{mine}" in row.reason and row.client and row.at is not None
    assert len(_rows_for(home_app, other, "worker")) == other_before  # nothing was shown
    auditor = home_client("auditor")
    audit_reads_before = _audit_reads(home_app)
    log = auditor.get(f"/audit?person={mine}")
    assert log.status_code == 200 and "worker" in log.text and "view_person" in log.text
    listed = auditor.get("/audit?user=worker&action=view_person").text.count(f">{mine}<")
    with home_app.state.engine.connect() as conn:
        viewed = conn.execute(
            select(func.count())
            .select_from(AuditEntry)
            .where(
                AuditEntry.person_id == mine,
                AuditEntry.username == "worker",
                AuditEntry.action == "view_person",
            )
        ).scalar_one()
    assert listed == viewed >= 2  # the log lists every view of the person
    # the auditor's own reading of the log is logged too
    assert _audit_reads(home_app) == audit_reads_before + 2
    assert home_client("admin").get("/audit").status_code == 200


def _audit_reads(app: FastAPI) -> int:
    """How often the auditor has read the log (each reading is logged)."""
    with app.state.engine.connect() as conn:
        return int(
            conn.execute(
                select(func.count())
                .select_from(AuditEntry)
                .where(AuditEntry.username == "auditor", AuditEntry.action == "view_audit")
            ).scalar_one()
        )


@pytest.mark.parametrize("key", ["officer", "datamgr", "worker"])
def test_only_auditors_and_admins_read_the_log(
    client: Callable[[str], WebClient], key: str
) -> None:
    assert client(key).get("/audit").status_code == 403


def test_bad_filters_are_explained(client: Callable[[str], WebClient]) -> None:
    auditor = client("auditor")
    answer = auditor.get("/audit?since=yesterday")
    assert answer.status_code == 400 and "YYYY-MM-DD" in answer.text
    assert auditor.get("/audit?person=abc").status_code == 400


@pytest.mark.parametrize("written", [7, 6])  # a last page part full, and exactly full
def test_the_log_pages_by_keyset_every_row_once(
    home_app: FastAPI, home_client: Callable[[str], WebClient], written: int
) -> None:
    import dataclasses
    import re

    home_app.state.web_config = dataclasses.replace(home_app.state.web_config, audit_page_size=3)
    someone = Principal(None, "paging-probe", "auditor", frozenset(), frozenset(), frozenset(),
                        None, "en")  # fmt: skip
    with home_app.state.engine.begin() as conn:
        for number in range(written):
            audit(conn, someone, "view_audit", target=f"probe-{number}")
    auditor = home_client("auditor")
    address: str | None = "/audit?user=paging-probe"
    pages: list[list[str]] = []
    while address is not None:
        page = auditor.get(address)
        assert page.status_code == 200
        pages.append(re.findall(r"<td>(probe-\d+)</td>", page.text))
        assert ("before=" in address) == ("« " in page.text)  # deeper pages link to the first
        older = re.search(r'<a href="([^"]*)" rel="next">', page.text)
        address = older.group(1).replace("&amp;", "&") if older else None
        assert len(pages) <= written  # never an endless walk
    listed = [target for rows in pages for target in rows]
    assert listed == [f"probe-{n}" for n in reversed(range(written))]  # newest first, each once
    assert [len(rows) for rows in pages] == ([3, 3, 1] if written == 7 else [3, 3])
