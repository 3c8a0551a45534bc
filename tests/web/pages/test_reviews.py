"""The review queue (/reviews, /reviews/{id}): scoped to the officer's programs, both sides
shown, resolved through lifesign.certify.reviews with the reason kept, CSRF, audit."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import Engine, select

from lifesign.certify.models import Decision, PersonStateRow, Review
from lifesign.certify.reviews import open_review
from lifesign.config import Settings
from lifesign.registry.ids import mask_id_number
from lifesign.store.models import Enrollment
from lifesign.web.auth import Principal
from lifesign.web.queries.reviews import review_detail, review_queue
from tests.web.pages.work_support import (
    audit_rows,
    engine_of,
    enrollment_in,
    evidence_refs,
    principal_of,
)

Client = Callable[[str], Any]
KIND = "death_record_but_alive_later"
DEATH_DAY = dt.date(2025, 1, 6)


def open_test_review(engine: Engine, person_id: int, kind: str = KIND) -> int:
    with engine.begin() as conn:
        return open_review(
            conn,
            person_id,
            kind,
            {
                "death": evidence_refs("deceased", 1, DEATH_DAY),
                "alive": evidence_refs("alive", 2, DEATH_DAY + dt.timedelta(days=40)),
            },
            dt.date(2025, 3, 1),
        )


@pytest.fixture
def two_reviews(web_home: Settings) -> dict[str, Any]:
    """A review of a person of the officer's programs (`mine`) and one of a person outside
    them (`other`), in a private copy of the city."""
    engine = engine_of(web_home)
    officer = principal_of(engine, "officer")
    mine = enrollment_in(engine, officer.programs, inside=True)
    other = enrollment_in(engine, officer.programs, inside=False)
    found = {
        "engine": engine,
        "mine": open_test_review(engine, mine.person_id),
        "other": open_test_review(engine, other.person_id),
        "mine_person": mine.person_id,
        "mine_id_number": mine.id_number,
        "other_person": other.person_id,
    }
    return found


def test_officer_sees_the_reviews_of_their_programs_only(
    two_reviews: dict[str, Any], home_client: Client
) -> None:
    officer = home_client("officer")
    listing = officer.get("/reviews")
    assert listing.status_code == 200
    assert f'href="/reviews/{two_reviews["mine"]}"' in listing.text
    assert f'href="/reviews/{two_reviews["other"]}"' not in listing.text
    assert officer.get(f"/reviews/{two_reviews['other']}").status_code == 404
    assert officer.get("/reviews/999999").status_code == 404


def test_a_review_shows_both_sides_masked_and_is_audited(
    two_reviews: dict[str, Any], home_client: Client
) -> None:
    page = home_client("officer").get(f"/reviews/{two_reviews['mine']}")
    assert page.status_code == 200
    for record in ("T-deceased-0", "T-alive-0", "T-alive-1"):
        assert record in page.text
    assert "死亡方证据" in page.text and "生存方证据" in page.text
    assert mask_id_number(two_reviews["mine_id_number"]) in page.text
    assert two_reviews["mine_id_number"] not in page.text
    assert 'name="csrf_token"' in page.text  # the resolution form
    views = audit_rows(two_reviews["engine"], "view_review")
    assert views[-1]["person_id"] == two_reviews["mine_person"]
    assert views[-1]["username"] == "officer"


@pytest.mark.parametrize("role", ["datamgr", "worker"])
def test_roles_without_reviews_are_refused(client: Client, role: str) -> None:
    assert client(role).get("/reviews").status_code == 403
    assert client(role).get("/reviews/1").status_code == 403


def test_the_auditor_reads_every_review_but_resolves_none(
    two_reviews: dict[str, Any], home_client: Client
) -> None:
    auditor = home_client("auditor")
    listing = auditor.get("/reviews")
    assert f'href="/reviews/{two_reviews["other"]}"' in listing.text
    page = auditor.get(f"/reviews/{two_reviews['other']}")
    assert page.status_code == 200
    assert 'action="/reviews/' not in page.text  # no form for a read-only role
    answer = auditor.post_form(
        f"/reviews/{two_reviews['other']}/resolve", {"decision": "alive", "reason": "x"}
    )
    assert answer.status_code == 403
    assert _review(two_reviews["engine"], two_reviews["other"])["status"] == "open"


def test_a_resolution_without_the_csrf_token_is_refused(
    two_reviews: dict[str, Any], home_client: Client
) -> None:
    officer = home_client("officer")
    answer = officer.post(
        f"/reviews/{two_reviews['mine']}/resolve",
        data={"decision": "alive", "reason": "seen at the counter"},
        follow_redirects=False,
    )
    assert answer.status_code == 403
    assert _review(two_reviews["engine"], two_reviews["mine"])["status"] == "open"


def test_resolving_deceased_writes_the_decisions_with_the_reason(
    two_reviews: dict[str, Any], home_client: Client
) -> None:
    engine = two_reviews["engine"]
    review_id, person_id = two_reviews["mine"], two_reviews["mine_person"]
    reason = "殡仪馆核实火化记录属实,生存记录为家属持卡"
    answer = home_client("officer").post_form(
        f"/reviews/{review_id}/resolve", {"decision": "deceased", "reason": reason}
    )
    assert answer.status_code == 303, answer.text[:400]
    assert answer.headers["location"] == f"/reviews/{review_id}?done=1"
    row = _review(engine, review_id)
    assert (row["status"], row["resolution"], row["reason"], row["resolved_by"]) == (
        "resolved",
        "deceased",
        reason,
        "officer",
    )
    with engine.connect() as conn:
        decisions = conn.execute(
            select(Decision.kind, Decision.effective_date, Decision.rule, Decision.details)
            .where(Decision.person_id == person_id, Decision.rule == "review_resolved")
        ).all()  # fmt: skip
        state = conn.execute(
            select(PersonStateRow.status).where(PersonStateRow.person_id == person_id)
        ).scalar_one()
        enrollments = set(
            conn.execute(
                select(Enrollment.status).where(Enrollment.person_id == person_id)
            ).scalars()
        )
    kinds = sorted(d.kind for d in decisions)
    assert kinds[0] == "deceased" and set(kinds[1:]) == {"terminated"}
    assert all(d.effective_date == DEATH_DAY for d in decisions)  # the earliest death record
    assert all(d.details["reason"] == reason for d in decisions)
    assert state == "deceased" and enrollments == {"terminated"}
    audited = audit_rows(engine, "resolve_review")[-1]
    assert (audited["person_id"], audited["reason"]) == (person_id, reason)
    assert audited["details"]["resolution"] == "deceased"
    shown = home_client("officer").get(answer.headers["location"])
    assert reason in shown.text


def test_a_resolution_needs_a_reason(two_reviews: dict[str, Any], home_client: Client) -> None:
    answer = home_client("officer").post_form(
        f"/reviews/{two_reviews['mine']}/resolve", {"decision": "alive", "reason": "  "}
    )
    assert answer.status_code == 400
    assert 'role="alert"' in answer.text
    assert _review(two_reviews["engine"], two_reviews["mine"])["status"] == "open"


def test_the_queue_in_english(client: Client) -> None:
    page = client("officer").get("/reviews?lang=en")
    assert page.status_code == 200
    assert "Review queue" in page.text


def _review(engine: Engine, review_id: int) -> Any:
    with engine.connect() as conn:
        return conn.execute(select(Review).where(Review.review_id == review_id)).mappings().one()


# --- the query on both databases ----------------------------------------------------------


def _principal(role: str, programs: tuple[str, ...] = ()) -> Principal:
    return Principal(
        user_id=1,
        username=role,
        role=role,
        programs=frozenset(programs),
        sources=frozenset(),
        grids=frozenset(),
        department=None,
        lang="zh-CN",
    )


def test_review_queue_scope_and_pages(engine: Engine, small_registry: dict[str, int]) -> None:
    from lifesign.catalog import load_catalog

    catalog = load_catalog(None)
    for n in range(23):
        open_test_review(engine, small_registry["A1"], kind=f"kind_{n:02d}")
    other = open_test_review(engine, small_registry["A2"])
    officer = _principal("program_officer", ("resident_pension",))
    auditor = _principal("auditor")
    with engine.connect() as conn:
        first = review_queue(conn, officer, size=20)
        assert (len(first.rows), first.total) == (20, 23)
        assert first.next_before is not None
        second = review_queue(conn, officer, size=20, before=first.next_before)
        assert (len(second.rows), second.next_before) == (3, None)
        seen = {r.review_id for r in first.rows} | {r.review_id for r in second.rows}
        assert other not in seen and len(seen) == 23
        assert all(r.id_number.count("*") >= 8 for r in first.rows)  # masked
        assert review_queue(conn, auditor).total == 24
        assert review_detail(conn, officer, catalog, other) is None
        detail = review_detail(conn, auditor, catalog, other)
        assert detail is not None
        assert [s.name for s in detail.sides] == ["death", "alive"]
        assert detail.earliest_death == DEATH_DAY.isoformat()
        assert detail.person.person_id == small_registry["A2"]
        assert review_queue(conn, _principal("data_manager")).total == 0
