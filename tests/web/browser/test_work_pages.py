"""The work pages in a real browser (Chromium): the review queue (resolve one), the integrity
cases (dismiss a 冒领 signal), the quarantine browser (on a phone), a payment list exported as
XLSX, the exports log. Screenshots of each page go to test-artifacts/screenshots/."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path
from typing import Any

import openpyxl
import pytest
from sqlalchemy import select

from lifesign.certify.reviews import open_review
from lifesign.integrity.cases import open_case
from lifesign.integrity.models import Case, CaseEvent, Export
from lifesign.payments.export import headers
from tests.web.browser.conftest import LiveServer
from tests.web.pages.work_support import engine_of, enrollment_in, evidence_refs, principal_of

Login = Callable[[Any, str], None]
Shot = Callable[[Any, str], Path]


@pytest.fixture(scope="module")
def work(live_server: LiveServer) -> dict[str, Any]:
    """A contradiction and a 冒领 signal about people of the demo officer's programs."""
    engine = engine_of(live_server.settings)
    officer = principal_of(engine, "officer")
    first = enrollment_in(engine, officer.programs, inside=True)
    day = dt.date(2025, 1, 6)
    with engine.begin() as conn:
        review_id = open_review(
            conn,
            int(first.person_id),
            "death_record_but_alive_later",
            {
                "death": evidence_refs("deceased", 1, day),
                "alive": evidence_refs("alive", 2, day + dt.timedelta(days=45)),
            },
            dt.date(2025, 3, 1),
        )
        case_id = open_case(
            conn,
            kind="fraud",
            rule="weak_activity_after_death",
            person_id=int(first.person_id),
            opened_on=dt.date(2025, 3, 1),
            evidence=[{"kind": "weak_record", **r} for r in evidence_refs("alive", 3, day)],
            details={"death_date": "2024-12-20", "weak_records_after_death": 3},
        )
    return {"engine": engine, "review": review_id, "case": case_id}


def test_resolve_a_review(page: Any, login: Login, shot: Shot, work: dict[str, Any]) -> None:
    login(page, "officer")
    page.goto("/reviews")
    assert page.locator(f'a[href="/reviews/{work["review"]}"]').first.is_visible()
    shot(page, "work-10-reviews")
    page.click(f'a[href="/reviews/{work["review"]}"] >> nth=0')
    assert page.locator("section.side-death").is_visible()
    assert page.locator("section.side-alive").is_visible()
    shot(page, "work-11-review")
    page.check('input[name=decision][value="alive"]')
    page.fill("textarea[name=reason]", "社区网格员上门核实本人健在,死亡记录为同名误报")
    page.click("form[action$='/resolve'] button[type=submit]")
    page.wait_for_load_state("networkidle")
    assert "done=1" in page.url
    assert page.locator("blockquote.reason").inner_text().startswith("社区网格员上门核实")
    shot(page, "work-12-review-resolved")


def test_dismiss_a_fraud_signal(page: Any, login: Login, shot: Shot, work: dict[str, Any]) -> None:
    login(page, "officer")
    page.goto("/cases?kind=fraud")
    shot(page, "work-20-cases")
    page.goto(f"/cases/{work['case']}")
    assert page.locator("text=T-alive-2").is_visible()
    shot(page, "work-21-case")
    page.fill("textarea[name=reason]", "上门核实本人健在,已补录认证")
    page.click('button[name=move][value="dismissed"]')
    page.wait_for_load_state("networkidle")
    assert "done=dismissed" in page.url
    shot(page, "work-22-case-dismissed")
    with work["engine"].connect() as conn:
        status = conn.execute(select(Case.status).where(Case.case_id == work["case"])).scalar()
        reasons = conn.execute(
            select(CaseEvent.reason).where(CaseEvent.case_id == work["case"])
        ).scalars()
        assert status == "dismissed"
        assert "上门核实本人健在,已补录认证" in list(reasons)


def test_cases_in_english(page: Any, login: Login, shot: Shot) -> None:
    login(page, "auditor")
    page.goto("/cases?status=all&lang=en")
    assert page.locator("h1").inner_text() == "Fraud and recovery cases"
    shot(page, "work-23-cases-en")


def test_export_a_payment_list(
    page: Any, login: Login, shot: Shot, work: dict[str, Any], tmp_path: Path
) -> None:
    login(page, "officer")
    page.goto("/payments")
    assert page.locator(".status-figures .figure").count() == 4
    shot(page, "work-30-payments")
    page.select_option("select[name=format]", "xlsx")
    with page.expect_download() as download_info:
        page.click("form[action='/payments/export'] button[type=submit]")
    download = download_info.value
    saved = tmp_path / download.suggested_filename
    download.save_as(saved)
    assert saved.suffix == ".xlsx"
    sheet = openpyxl.load_workbook(saved).worksheets[0]
    assert [c.value for c in sheet[1]] == headers("zh")
    assert sheet.max_row > 1
    with work["engine"].connect() as conn:
        exported = conn.execute(select(Export).order_by(Export.export_id.desc())).first()
    assert exported is not None and exported.exported_by == "officer" and not exported.full_id
    login(page, "auditor")
    page.goto("/exports")
    assert page.locator(f"text={saved.name}").is_visible()
    shot(page, "work-31-exports")


def test_quarantine_on_a_phone(phone_page: Any, login: Login, shot: Shot) -> None:
    login(phone_page, "datamgr")
    phone_page.goto("/quarantine")
    shot(phone_page, "work-40-quarantine-phone")
    first = phone_page.locator("table.list tbody a[href^='/quarantine/']").first
    first.click()
    phone_page.wait_for_load_state("networkidle")
    assert phone_page.locator("dl.facts").is_visible()
    shot(phone_page, "work-41-quarantine-entry-phone")


def test_quarantine_on_a_desk(page: Any, login: Login, shot: Shot) -> None:
    login(page, "auditor")
    page.goto("/quarantine")
    assert page.locator(".reason-bar").count() > 0
    shot(page, "work-42-quarantine")
