"""The work pages' actions over HTTP on both databases (SQLite and PostgreSQL): resolve a
review, confirm a case, export a payment list, dismiss a quarantined record — each with its
decisions, case event, exports row or quarantine note and its audit row, or nothing when
refused."""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, select

from lifesign.catalog import load_catalog
from lifesign.certify.models import Decision, Review
from lifesign.certify.reviews import open_review
from lifesign.config import load_settings
from lifesign.integrity.cases import case_events, open_case
from lifesign.integrity.models import Export
from lifesign.web.accounts import Scopes, create_user
from lifesign.web.models import AuditEntry
from tests.web.conftest import WebClient, login_client
from tests.web.pages.work_support import evidence_refs

PASSWORD = "officer-password-2026"


@pytest.fixture
def officer(engine: Engine, small_registry: dict[str, int], tmp_path: Path) -> Iterator[WebClient]:
    """An officer of resident_pension logged in to an app over `engine` (A1 and B1 are theirs,
    A2 is not)."""
    from lifesign.web.app import create_app

    catalog = load_catalog(None)
    with engine.begin() as conn:
        create_user(
            conn, "wang", PASSWORD, "program_officer", Scopes(programs=("resident_pension",)),
            catalog=catalog,
        )  # fmt: skip
    settings = load_settings(home=tmp_path / "home", database_url=str(engine.url))
    app = create_app(settings, engine=engine)
    client = login_client(app, ("wang", PASSWORD))
    yield client
    client.close()


def _audit(engine: Engine, action: str) -> list[Any]:
    with engine.connect() as conn:
        query = select(AuditEntry).where(AuditEntry.action == action).order_by(AuditEntry.audit_id)
        return list(conn.execute(query).mappings())


def test_resolve_a_review(
    engine: Engine, small_registry: dict[str, int], officer: WebClient
) -> None:
    day = dt.date(2025, 1, 6)
    with engine.begin() as conn:
        review_id = open_review(
            conn,
            small_registry["A1"],
            "death_record_but_alive_later",
            {"death": evidence_refs("deceased", 1, day), "alive": evidence_refs("alive", 1, day)},
            dt.date(2025, 3, 1),
        )
        other = open_review(
            conn, small_registry["A2"], "alive_after_recorded_death",
            {"alive": evidence_refs("alive", 1, day)}, dt.date(2025, 3, 1),
        )  # fmt: skip
    assert officer.get(f"/reviews/{other}").status_code == 404
    refused = officer.post_form(f"/reviews/{review_id}/resolve", {"decision": "nonsense",
                                                                  "reason": "x"})  # fmt: skip
    assert refused.status_code == 400
    done = officer.post_form(
        f"/reviews/{review_id}/resolve", {"decision": "alive", "reason": "本人到窗口核实"}
    )
    assert done.status_code == 303, done.text[:300]
    with engine.connect() as conn:
        review = conn.execute(
            select(Review.status, Review.resolution, Review.reason)
            .where(Review.review_id == review_id)
        ).one()  # fmt: skip
        decided = conn.execute(
            select(Decision.kind, Decision.person_id).where(Decision.rule == "review_resolved")
        ).all()
    assert tuple(review) == ("resolved", "alive", "本人到窗口核实")
    assert [tuple(d) for d in decided] == [("resumed", small_registry["A1"])]
    assert [a["reason"] for a in _audit(engine, "resolve_review")] == ["本人到窗口核实"]


def test_confirm_a_case(engine: Engine, small_registry: dict[str, int], officer: WebClient) -> None:
    with engine.begin() as conn:
        case_id = open_case(
            conn, kind="fraud", rule="weak_activity_after_death", person_id=small_registry["B1"],
            opened_on=dt.date(2025, 3, 1), amount=Decimal("450.00"),
        )  # fmt: skip
    assert case_id is not None
    page = officer.get(f"/cases/{case_id}")
    assert page.status_code == 200 and "450.00" in page.text
    wrong = officer.post_form(f"/cases/{case_id}/close", {"move": "recovered", "reason": "x"})
    assert wrong.status_code == 400
    done = officer.post_form(f"/cases/{case_id}/close", {"move": "confirmed", "reason": "已核实"})
    assert done.status_code == 303
    with engine.connect() as conn:
        trail = case_events(conn, case_id)
    assert [(e.to_status, e.officer, e.reason) for e in trail] == [
        ("open", None, None),
        ("confirmed", "wang", "已核实"),
    ]
    assert [a["person_id"] for a in _audit(engine, "close_case")] == [small_registry["B1"]]


def test_export_a_payment_list(
    engine: Engine, small_registry: dict[str, int], officer: WebClient
) -> None:
    page = officer.get("/payments?program=resident_pension&month=2026-05")
    assert page.status_code == 200
    assert "341602194703150021" not in page.text  # A1's ID number, masked on the page
    assert officer.get("/payments?program=longevity_allowance").status_code == 404
    answer = officer.post_form(
        "/payments/export",
        {"program": "resident_pension", "month": "2026-05", "format": "csv", "full_id": "1"},
    )
    assert answer.status_code == 200
    rows = list(csv.reader(io.StringIO(answer.content.decode("utf-8-sig"))))
    assert sorted(r[2] for r in rows[1:3]) == ["341602194703150021", "341602195011110043"]
    with engine.connect() as conn:
        exports = conn.execute(
            select(Export.export_id, Export.program, Export.period, Export.full_id, Export.rows,
                   Export.exported_by)
        ).all()  # fmt: skip
    assert [tuple(e)[1:] for e in exports] == [("resident_pension", "2026-05", True, 2, "wang")]
    assert _audit(engine, "export_payments")[0]["details"]["export_id"] == exports[0][0]


def test_dismiss_a_quarantined_record(engine: Engine, tmp_path: Path) -> None:
    """(Quarantine too: the data manager's dismissal commits outside the request's own
    transaction — on PostgreSQL as on SQLite.)"""
    from sqlalchemy import insert

    from lifesign.ingest.sources import load_sources
    from lifesign.store.models import Batch, Quarantine
    from lifesign.web.app import create_app

    catalog = load_catalog(None)
    source = sorted(load_sources(None, catalog))[0]
    with engine.begin() as conn:
        create_user(
            conn, "li", PASSWORD, "data_manager", Scopes(sources=(source,)), catalog=catalog
        )
        batch_id = conn.execute(
            insert(Batch).values(kind="evidence", source=source, status="committed")
            .returning(Batch.batch_id)
        ).scalar_one()  # fmt: skip
        entry_id = conn.execute(
            insert(Quarantine).values(
                batch_id=batch_id, source=source, reason="missing_field", field="event_time",
                raw_record='{"a": "1"}', status="open",
            ).returning(Quarantine.quarantine_id)
        ).scalar_one()  # fmt: skip
    settings = load_settings(home=tmp_path / "home", database_url=str(engine.url))
    manager = login_client(create_app(settings, engine=engine), ("li", PASSWORD))
    try:
        assert manager.get(f"/quarantine/{entry_id}").status_code == 200
        done = manager.post_form(f"/quarantine/{entry_id}/dismiss", {"reason": "重复报送"})
        assert done.status_code == 303
        with engine.connect() as conn:
            row = conn.execute(
                select(Quarantine.status, Quarantine.note)
                .where(Quarantine.quarantine_id == entry_id)
            ).one()  # fmt: skip
        assert tuple(row) == ("dismissed", "重复报送")
        assert [a["reason"] for a in _audit(engine, "dismiss_quarantine")] == ["重复报送"]
    finally:
        manager.close()
