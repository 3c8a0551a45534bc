"""The main flow in a real browser (Debian's Chromium through Playwright): log in, open the
overview, find a person, record a visit that certifies them, see the decision on their page,
export a payment list, switch to English, and the worklist on a phone. Each page is saved as a
screenshot in test-artifacts/screenshots/."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from lifesign.certify.models import Decision
from tests.web.browser.conftest import LiveServer
from tests.web.pages.people_support import add_worker, engine_of, open_task

Shot = Callable[[Any, str], Path]
Login = Callable[[Any, str], None]


def _log_in_as(page: Any, username: str, password: str) -> None:
    page.goto("/login")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", password)
    page.click("form button[type=submit]")
    page.wait_for_load_state("networkidle")
    assert "/login" not in page.url


def _no_sideways_scroll(page: Any) -> None:
    """The page fits the phone's width: nothing makes the whole page scroll sideways (wide
    tables scroll inside their own box)."""
    overflow = page.evaluate(
        "document.documentElement.scrollWidth - document.documentElement.clientWidth"
    )
    assert overflow <= 1, f"the page is {overflow}px wider than the screen"


def _show_timeline(page: Any) -> None:
    """Scroll the lazy evidence frame into view and wait until the lake's records are in it."""
    page.locator("iframe.timeline-frame").scroll_into_view_if_needed()
    frame = page.frame_locator("iframe.timeline-frame")
    frame.locator("ol.timeline, p.muted").first.wait_for()
    assert frame.locator("ol.timeline li").count() >= 1 or frame.locator("p.muted").count() == 1


def test_login_lands_on_the_first_page_of_the_menu(page: Any, login: Login, shot: Shot) -> None:
    page.goto("/login")
    shot(page, "00-login")
    login(page, "admin")
    assert page.locator("nav.menu").is_visible()
    assert page.url.endswith("/")  # the administrator's first page is the overview


def test_main_flow(
    browser: Any, page: Any, login: Login, shot: Shot, live_server: LiveServer
) -> None:
    # 1. a program officer opens the overview, drills down into a county, sees the sources
    login(page, "officer")
    page.goto("/")
    assert page.locator("h1").inner_text().startswith("总览")
    assert page.locator("svg.chart").count() >= 2
    shot(page, "01-overview")
    page.locator("table a[href^='/?region=']").first.click()
    page.wait_for_load_state("networkidle")
    assert "region=" in page.url and page.locator(".crumbs").is_visible()
    shot(page, "02-overview-county")
    page.goto("/sources")
    shot(page, "03-sources")
    page.locator("td.name a").first.click()
    assert page.locator("svg.chart").count() == 1
    shot(page, "04-source")

    # 2. the community worker of a grid with an open visit task finds the person
    engine = engine_of(live_server.settings)
    task = open_task(engine)
    with engine.connect() as conn:
        from lifesign.store.models import Person

        id_number = conn.execute(
            select(Person.id_number).where(Person.person_id == task.person_id)
        ).scalar_one()
    username, password = add_worker(engine, "browser_worker", (task.grid_code,))
    worker_context = browser.new_context(
        base_url=live_server.url, locale="zh-CN", viewport={"width": 1280, "height": 900}
    )
    worker = worker_context.new_page()
    try:
        _log_in_as(worker, username, password)
        assert worker.url.endswith("/worklist")
        assert worker.locator(f"#person-{task.person_id}").is_visible()
        shot(worker, "05-worklist")
        worker.click("nav.menu a[href='/people']")
        worker.fill("input[name=q]", id_number.lower())
        worker.click("form.search-form button")
        worker.wait_for_load_state("networkidle")
        shot(worker, "06-search")
        worker.click(f"a[href='/people/{task.person_id}']")
        worker.wait_for_load_state("networkidle")
        assert worker.locator("h1").inner_text() == task.name
        _show_timeline(worker)
        shot(worker, "07-person")

        # 3. records the visit: seen alive → certified, shown on the person's page
        worker.check("form.visit-form input[value=seen_alive]")
        worker.fill("form.visit-form input[name=note]", "本人在家，精神良好")
        worker.click("form.visit-form button[type=submit]")
        worker.wait_for_load_state("networkidle")
        assert worker.url.endswith(f"/people/{task.person_id}?visit=seen_alive")
        assert worker.locator("p.notice").is_visible()
        with engine.connect() as conn:
            decision_id = conn.execute(
                select(Decision.decision_id)
                .where(Decision.person_id == task.person_id, Decision.channel == "home_visit")
                .order_by(Decision.decision_id.desc())
                .limit(1)
            ).scalar_one()
        decision = worker.locator(f"#decision-{decision_id}")
        assert decision.is_visible()
        assert "认证通过" in decision.inner_text() and "上门认证" in decision.inner_text()
        assert "社区网格员上门见到本人" in decision.inner_text()
        shot(worker, "08-person-certified")
        assert worker.locator("form.visit-form").count() == 0  # the task is closed

        # 4. the worklist on a phone: one column, nothing wider than the screen
        phone_context = browser.new_context(
            base_url=live_server.url,
            locale="zh-CN",
            viewport={"width": 390, "height": 844},
            device_scale_factor=2,
            is_mobile=True,
            has_touch=True,
        )
        phone = phone_context.new_page()
        try:
            _log_in_as(phone, username, password)
            phone.goto("/worklist")
            _no_sideways_scroll(phone)
            shot(phone, "09-worklist-phone")
            phone.goto(f"/people/{task.person_id}")
            _show_timeline(phone)
            _no_sideways_scroll(phone)
            shot(phone, "10-person-phone")
        finally:
            phone_context.close()
    finally:
        worker_context.close()

    # 5. the officer exports a payment list (W4's page)
    page.goto("/payments")
    page.wait_for_load_state("networkidle")
    shot(page, "11-payments")
    export = page.locator("form[action='/payments/export'] button[type=submit]")
    if export.count() == 0:
        page.locator("form[action='/payments'] button[type=submit]").click()
        page.wait_for_load_state("networkidle")
    page.select_option("form[action='/payments/export'] select[name=format]", "csv")
    with page.expect_download() as downloading:
        page.click("form[action='/payments/export'] button[type=submit]")
    download = downloading.value
    saved = Path(download.path())
    assert download.suggested_filename.endswith(".csv")
    assert saved.stat().st_size > 0

    # 6. switch to English: the choice follows the officer from page to page
    page.goto("/")
    page.click("nav.languages a[hreflang=en]")
    page.wait_for_load_state("networkidle")
    assert page.locator("h1").inner_text().startswith("Overview")
    shot(page, "12-overview-en")
    page.goto("/sources")
    assert page.locator("h1").inner_text() == "Data sources"


@pytest.mark.parametrize("key", ["worker"])
def test_the_demo_workers_worklist_on_a_phone(
    phone_page: Any, login: Login, shot: Shot, key: str
) -> None:
    login(phone_page, key)
    phone_page.goto("/worklist")
    assert phone_page.locator("h1").inner_text() == "工作清单"
    _no_sideways_scroll(phone_page)
    # big enough to hit with a thumb
    box = phone_page.locator("nav.menu a").first.bounding_box()
    assert box is not None and box["height"] >= 40
    shot(phone_page, "13-demo-worklist-phone")
