"""The roles × actions table, and the scopes of each role, on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine, select

from lifesign.store.models import Person
from lifesign.web.auth import Principal
from lifesign.web.errors import Forbidden, NotFound
from lifesign.web.permissions import (
    ACTIONS,
    ROLES,
    allowed,
    grids_scope,
    people_scope,
    programs_scope,
    require,
    require_person,
    sources_scope,
)

from .conftest import GRID_A, GRID_B

API_ACTIONS = {a for a in ACTIONS if a.startswith("api_")}
# The table of the shared design (issue 5), written out once more, by role: the test fails
# when ACTIONS drifts from it.
EXPECTED: dict[str, set[str]] = {
    "admin": set(ACTIONS),
    "program_officer": {
        "view_overview", "view_sources", "search_people", "view_person", "view_reviews",
        "resolve_review", "view_cases", "close_case", "view_payments", "export_payments",
        "certify_counter", "export_full_id",
    },
    "data_manager": {"view_overview", "view_sources", "view_quarantine", "manage_quarantine"},
    "community_worker": {"view_worklist", "record_visit", "search_people", "view_person"},
    "auditor": {
        "view_overview", "view_sources", "search_people", "view_person", "view_reviews",
        "view_cases", "view_quarantine", "view_payments", "view_audit",
    },
    "department": API_ACTIONS,
}  # fmt: skip
WRITE_ACTIONS = {
    "record_visit", "certify_counter", "resolve_review", "close_case", "manage_quarantine",
    "export_payments", "export_full_id", "manage_users", "api_evidence_push",
    "api_self_service", "api_visits",
}  # fmt: skip


def principal(role: str, **scopes: frozenset[str]) -> Principal:
    return Principal(
        user_id=None if role == "department" else 1,
        username=f"test-{role}",
        role=role,
        programs=scopes.get("programs", frozenset()),
        sources=scopes.get("sources", frozenset()),
        grids=scopes.get("grids", frozenset()),
        department=None,
        lang="zh-CN",
    )


def test_the_actions_of_the_design_are_all_there() -> None:
    assert set(ACTIONS) == {
        "view_overview", "view_sources", "view_worklist", "record_visit", "certify_counter",
        "search_people", "view_person", "view_full_id", "view_reviews", "resolve_review",
        "view_cases", "close_case", "view_quarantine", "manage_quarantine", "view_payments",
        "export_payments", "export_full_id", "manage_users", "view_audit", "api_status",
        "api_changes", "api_evidence_push", "api_self_service", "api_visits", "api_tasks",
        "api_statistics",
    }  # fmt: skip


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("action", sorted(ACTIONS))
def test_every_role_and_action(role: str, action: str) -> None:
    who = principal(role)
    expected = action in EXPECTED[role]
    assert allowed(who, action) is expected
    if expected:
        require(who, action)
    else:
        with pytest.raises(Forbidden) as error:
            require(who, action)
        assert error.value.status_code == 403 and role in error.value.why


def test_the_auditor_may_write_nothing_and_only_the_admin_sees_full_ids() -> None:
    auditor = principal("auditor")
    assert not any(allowed(auditor, action) for action in WRITE_ACTIONS)
    assert [r for r in ROLES if allowed(principal(r), "view_full_id")] == ["admin"]
    assert [r for r in ROLES if allowed(principal(r), "manage_users")] == ["admin"]


def test_an_unknown_action_is_a_programming_error() -> None:
    with pytest.raises(KeyError, match="unknown action"):
        allowed(principal("admin"), "view_everything")


def test_scopes_of_each_role() -> None:
    programs = frozenset({"resident_pension"})
    officer = principal("program_officer", programs=programs)
    worker = principal("community_worker", grids=frozenset({GRID_A}))
    manager = principal("data_manager", sources=frozenset({"yibao_settle"}))
    assert programs_scope(officer) == programs and programs_scope(manager) == frozenset()
    assert grids_scope(worker) == frozenset({GRID_A}) and grids_scope(officer) is None
    assert sources_scope(manager) == frozenset({"yibao_settle"}) and sources_scope(worker) is None
    for role in ("admin", "auditor", "department"):
        who = principal(role)
        assert programs_scope(who) is None and grids_scope(who) is None
        assert sources_scope(who) is None and people_scope(who) is None


def visible(engine: Engine, who: Principal) -> set[int]:
    query = select(Person.person_id)
    scope = people_scope(who)
    if scope is not None:
        query = query.where(scope)
    with engine.connect() as conn:
        return set(conn.execute(query).scalars())


def test_people_scope_by_role(engine: Engine, small_registry: dict[str, int]) -> None:
    a1, a2, b1 = small_registry["A1"], small_registry["A2"], small_registry["B1"]
    assert visible(engine, principal("community_worker", grids=frozenset({GRID_A}))) == {a1, a2}
    assert visible(engine, principal("community_worker", grids=frozenset({GRID_B}))) == {b1}
    assert visible(engine, principal("community_worker")) == set()
    pension = frozenset({"resident_pension"})
    assert visible(engine, principal("program_officer", programs=pension)) == {a1, b1}
    assert visible(engine, principal("data_manager", sources=frozenset({"x"}))) == set()
    for role in ("admin", "auditor", "department"):
        assert visible(engine, principal(role)) == {a1, a2, b1}


def test_a_person_out_of_scope_is_not_found(engine: Engine, small_registry: dict[str, int]) -> None:
    worker_a = principal("community_worker", grids=frozenset({GRID_A}))
    with engine.connect() as conn:
        require_person(conn, worker_a, small_registry["A1"])
        with pytest.raises(NotFound) as hidden:
            require_person(conn, worker_a, small_registry["B1"])
        with pytest.raises(NotFound) as missing:
            require_person(conn, worker_a, 10**9)
    # the same answer whether the person exists elsewhere or not at all
    assert hidden.value.status_code == missing.value.status_code == 404
    assert hidden.value.what == missing.value.what
    officer = principal("program_officer", programs=frozenset({"longevity_allowance"}))
    with engine.connect() as conn:
        require_person(conn, officer, small_registry["A2"])
        with pytest.raises(NotFound):
            require_person(conn, officer, small_registry["A1"])
