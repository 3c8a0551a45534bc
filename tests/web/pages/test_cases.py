"""Integrity cases (/cases, /cases/{id}): scoped to the officer's programs, the evidence and the
trail shown, confirm / dismiss / recovered through lifesign.integrity.cases with the reason
kept in case_events, CSRF, audit."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import Engine, select

from lifesign.integrity.cases import case_events, open_case
from lifesign.integrity.models import Case
from lifesign.registry.ids import mask_id_number
from lifesign.web.auth import Principal
from lifesign.web.queries.cases import case_detail, case_list, case_tally
from tests.web.pages.work_support import (
    audit_rows,
    engine_of,
    enrollment_in,
    evidence_refs,
    principal_of,
)

Client = Callable[[str], Any]
OPENED = dt.date(2025, 3, 1)


def excess_case(engine: Engine, enrollment: Any, rule: str = "payment_above_standard") -> int:
    """A 多领 case on one enrollment, with payments as its evidence."""
    with engine.begin() as conn:
        case_id = open_case(
            conn,
            kind="excess",
            rule=rule,
            person_id=int(enrollment.person_id),
            enrollment_id=int(enrollment.enrollment_id),
            opened_on=OPENED,
            amount=Decimal("300.00"),
            evidence=[
                {
                    "kind": "payment",
                    "enrollment_id": int(enrollment.enrollment_id),
                    "external_ref": f"REF-{enrollment.enrollment_id}",
                    "program": enrollment.program,
                    "period": f"2025-0{month}",
                    "amount": "300.00",
                    "standard": "150.00",
                    "age": 71,
                }
                for month in (1, 2)
            ],
            details={"months_above_standard": 2, "excess": "300.00"},
        )
    assert case_id is not None
    return case_id


def fraud_signal(engine: Engine, person_id: int) -> int:
    """A 冒领 signal about a person (no enrollment), with weak records as its evidence."""
    with engine.begin() as conn:
        case_id = open_case(
            conn,
            kind="fraud",
            rule="weak_activity_after_death",
            person_id=person_id,
            opened_on=OPENED,
            evidence=[{"kind": "weak_record", **ref} for ref in evidence_refs("alive", 2, OPENED)],
            details={"death_date": "2024-12-01", "weak_records_after_death": 2},
        )
    assert case_id is not None
    return case_id


@pytest.fixture
def cases(web_home: Any) -> dict[str, Any]:
    engine = engine_of(web_home)
    officer = principal_of(engine, "officer")
    mine = enrollment_in(engine, officer.programs, inside=True)
    other = enrollment_in(engine, officer.programs, inside=False)
    return {
        "engine": engine,
        "mine": excess_case(engine, mine),
        "other": excess_case(engine, other),
        "mine_signal": fraud_signal(engine, int(mine.person_id)),
        "other_signal": fraud_signal(engine, int(other.person_id)),
        "mine_person": int(mine.person_id),
        "mine_id_number": mine.id_number,
    }


def test_the_officer_sees_the_cases_of_their_programs_only(
    cases: dict[str, Any], home_client: Client
) -> None:
    officer = home_client("officer")
    listing = officer.get("/cases?status=all")
    assert listing.status_code == 200
    for key in ("mine", "mine_signal"):
        assert f'href="/cases/{cases[key]}"' in listing.text
    for key in ("other", "other_signal"):
        assert f'href="/cases/{cases[key]}"' not in listing.text
        assert officer.get(f"/cases/{cases[key]}").status_code == 404
    fraud = officer.get("/cases?kind=fraud")
    assert f'href="/cases/{cases["mine_signal"]}"' in fraud.text
    assert f'href="/cases/{cases["mine"]}"' not in fraud.text


def test_a_case_shows_its_evidence_masked_and_is_audited(
    cases: dict[str, Any], home_client: Client
) -> None:
    officer = home_client("officer")
    page = officer.get(f"/cases/{cases['mine']}")
    assert page.status_code == 200
    assert "2025-01" in page.text and "2025-02" in page.text  # the payments
    assert "150.00" in page.text  # the standard they exceed
    assert mask_id_number(cases["mine_id_number"]) in page.text
    assert cases["mine_id_number"] not in page.text
    for move in ("confirmed", "dismissed"):
        assert f'name="move" value="{move}"' in page.text
    assert 'value="recovered"' not in page.text  # not from open
    signal = officer.get(f"/cases/{cases['mine_signal']}")
    assert "T-alive-0" in signal.text and "T-alive-1" in signal.text  # the weak records
    viewed = audit_rows(cases["engine"], "view_case")
    assert {r["person_id"] for r in viewed} == {cases["mine_person"]}


@pytest.mark.parametrize("role", ["datamgr", "worker"])
def test_roles_without_cases_are_refused(client: Client, role: str) -> None:
    assert client(role).get("/cases").status_code == 403


def test_confirm_then_recovered_keeps_each_reason(
    cases: dict[str, Any], home_client: Client
) -> None:
    engine, case_id = cases["engine"], cases["mine"]
    officer = home_client("officer")
    confirmed = officer.post_form(
        f"/cases/{case_id}/close", {"move": "confirmed", "reason": "已发追回通知书,分3期退回"}
    )
    assert confirmed.status_code == 303
    assert confirmed.headers["location"] == f"/cases/{case_id}?done=confirmed"
    recovered = officer.post_form(
        f"/cases/{case_id}/close", {"move": "recovered", "reason": "已全额退回"}
    )
    assert recovered.status_code == 303
    with engine.connect() as conn:
        trail = case_events(conn, case_id)
        status = conn.execute(select(Case.status).where(Case.case_id == case_id)).scalar_one()
    assert status == "recovered"
    assert [(e.from_status, e.to_status, e.officer, e.reason) for e in trail] == [
        (None, "open", None, None),
        ("open", "confirmed", "officer", "已发追回通知书,分3期退回"),
        ("confirmed", "recovered", "officer", "已全额退回"),
    ]
    closed = audit_rows(engine, "close_case")
    assert [(r["reason"], r["details"]["to"]) for r in closed] == [
        ("已发追回通知书,分3期退回", "confirmed"),
        ("已全额退回", "recovered"),
    ]
    page = officer.get(f"/cases/{case_id}")
    assert "已全额退回" in page.text and 'name="move"' not in page.text


def test_a_move_the_table_forbids_is_refused_and_changes_nothing(
    cases: dict[str, Any], home_client: Client
) -> None:
    engine, case_id = cases["engine"], cases["mine"]
    answer = home_client("officer").post_form(
        f"/cases/{case_id}/close", {"move": "recovered", "reason": "repaid"}
    )
    assert answer.status_code == 400
    assert "open" in answer.text and 'role="alert"' in answer.text
    no_reason = home_client("officer").post_form(
        f"/cases/{case_id}/close", {"move": "dismissed", "reason": ""}
    )
    assert no_reason.status_code == 400
    with engine.connect() as conn:
        assert len(case_events(conn, case_id)) == 1
    assert audit_rows(engine, "close_case") == []


def test_the_auditor_and_a_form_without_csrf_cannot_close(
    cases: dict[str, Any], home_client: Client
) -> None:
    case_id = cases["mine"]
    auditor = home_client("auditor")
    assert auditor.get(f"/cases/{cases['other']}").status_code == 200  # reads everything
    refused = auditor.post_form(f"/cases/{case_id}/close", {"move": "dismissed", "reason": "x"})
    assert refused.status_code == 403
    officer = home_client("officer")
    no_token = officer.post(
        f"/cases/{case_id}/close",
        data={"move": "dismissed", "reason": "seen alive"},
        follow_redirects=False,
    )
    assert no_token.status_code == 403
    with cases["engine"].connect() as conn:
        assert len(case_events(conn, case_id)) == 1


def test_the_replayed_city_cases_render(client: Client) -> None:
    """Every case the replay opened opens, for the auditor, in both languages."""
    auditor = client("auditor")
    listing = auditor.get("/cases?status=all")
    assert listing.status_code == 200
    import re

    ids = re.findall(r'href="/cases/(\d+)"', listing.text)
    for case_id in sorted(set(ids))[:12]:
        assert auditor.get(f"/cases/{case_id}").status_code == 200
        assert auditor.get(f"/cases/{case_id}?lang=en").status_code == 200


# --- the queries on both databases --------------------------------------------------------


def _principal(role: str, programs: tuple[str, ...] = ()) -> Principal:
    return Principal(1, role, role, frozenset(programs), frozenset(), frozenset(), None, "zh-CN")


def test_case_queries_scope(engine: Engine, small_registry: dict[str, int]) -> None:
    from lifesign.catalog import load_catalog
    from lifesign.store.models import Enrollment

    catalog = load_catalog(None)
    with engine.connect() as conn:
        enrollments = {
            int(r.person_id): r
            for r in conn.execute(
                select(Enrollment.enrollment_id, Enrollment.person_id, Enrollment.program)
            )
        }
    a1 = excess_case(engine, enrollments[small_registry["A1"]])
    a2 = excess_case(engine, enrollments[small_registry["A2"]])
    signal_a1 = fraud_signal(engine, small_registry["A1"])
    signal_a2 = fraud_signal(engine, small_registry["A2"])
    officer = _principal("program_officer", ("resident_pension",))
    with engine.connect() as conn:
        mine = case_list(conn, officer, status=None)
        assert {r.case_id for r in mine.rows} == {a1, signal_a1}
        assert mine.total == 2
        assert {r.case_id for r in case_list(conn, officer, kind="fraud").rows} == {signal_a1}
        assert case_list(conn, _principal("auditor"), status=None).total == 4
        by_program = case_list(conn, _principal("auditor"), program="longevity_allowance")
        assert [r.case_id for r in by_program.rows] == [a2] and by_program.total == 1
        tally = case_tally(conn, officer)
        assert (tally.of(kind="excess", status="open"), tally.of(kind="fraud")) == (1, 1)
        assert tally.of(status="confirmed") == 0
        assert tally.rules == ["payment_above_standard", "weak_activity_after_death"]
        filters = [(None, None), ("fraud", "open"), ("excess", None), (None, "dismissed")]
        for kind, status in filters:
            counted = case_list(conn, officer, kind=kind, status=status).total
            assert case_list(conn, officer, kind=kind, status=status, tally=tally).total == counted
        assert case_detail(conn, officer, catalog, a2) is None
        assert case_detail(conn, officer, catalog, signal_a2) is None
        detail = case_detail(conn, officer, catalog, a1)
        assert detail is not None
        assert detail.program == "resident_pension"
        assert [p.period for p in detail.payments] == ["2025-01", "2025-02"]
        assert detail.payments_total == Decimal("600.00")
        assert detail.moves == ("confirmed", "dismissed")
        signal = case_detail(conn, officer, catalog, signal_a1)
        assert signal is not None and len(signal.records) == 2
        assert case_list(conn, _principal("data_manager"), status=None).total == 0
