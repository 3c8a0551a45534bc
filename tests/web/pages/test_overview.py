"""The overview (/): figures computed once per data version, scoped by programs, by region
with drill-down, for the roles that may see it; the English switch."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import func, select

from lifesign.catalog import load_catalog
from lifesign.config import Settings
from lifesign.lifecycle.manual import certify_at_counter
from lifesign.store import open_database
from lifesign.store.models import Enrollment, Person
from lifesign.web.queries.overview import OverviewCache, Scope, compute_overview
from tests.web.pages.people_support import engine_of, user_row

Client = Callable[[str], Any]


def _live_recipients(settings: Settings, programs: frozenset[str] | None = None) -> int:
    """Persons with an active or suspended enrollment (in `programs`), counted directly."""
    query = select(func.count(func.distinct(Enrollment.person_id))).where(
        Enrollment.status.in_(("active", "suspended"))
    )
    if programs is not None:
        query = query.where(Enrollment.program.in_(sorted(programs)))
    with engine_of(settings).connect() as conn:
        return int(conn.execute(query).scalar_one())


@pytest.mark.parametrize("key", ["admin", "officer", "datamgr", "auditor"])
def test_the_overview_renders_for_the_roles_that_may_see_it(client: Client, key: str) -> None:
    page = client(key).get("/")
    assert page.status_code == 200
    assert "总览" in page.text
    assert "<svg" in page.text  # the charts are inline SVG
    assert "静默认证" in page.text


def test_a_worker_is_sent_to_the_worklist_and_never_sees_the_overview(client: Client) -> None:
    answer = client("worker").get("/", follow_redirects=False)
    assert answer.status_code == 303
    assert answer.headers["location"] == "/worklist"


def test_figures_match_the_registry(web_city: Settings) -> None:
    catalog = load_catalog(None)
    engine = open_database(web_city)
    with engine.connect() as conn:
        figures = compute_overview(conn, catalog, Scope())
    total = figures.total
    assert total.recipients == _live_recipients(web_city)
    assert total.certified_total + total.not_yet == total.recipients
    assert total.certified["auto"] > 0  # silent certification is the bulk in the synthetic city
    assert total.due[figures.horizons[0]] <= total.due[figures.horizons[-1]]
    # the counties add up to the city (every synthetic grid is in the region catalog)
    counties = figures.children(catalog, None)
    assert sum(c.counts.recipients for c in counties) + figures.unplaced.recipients == (
        total.recipients
    )
    # the departments' silent certifications are the city's
    assert sum(d.certified for d in figures.departments) == total.certified["auto"]
    assert figures.trend and all(m.total >= 0 for m in figures.trend)


def test_a_program_officer_sees_the_recipients_of_their_programs(
    client: Client, web_city: Settings
) -> None:
    engine = engine_of(web_city)
    programs = frozenset(user_row(engine, "officer")["programs"])
    catalog = load_catalog(None)
    with open_database(web_city).connect() as conn:
        scoped = compute_overview(conn, catalog, Scope(programs=programs))
        everyone = compute_overview(conn, catalog, Scope())
    assert scoped.total.recipients == _live_recipients(web_city, programs)
    assert scoped.total.recipients < everyone.total.recipients
    assert {p.code for p in scoped.programs} <= programs
    page = client("officer").get("/")
    assert f"{scoped.total.recipients:,}" in page.text
    assert catalog.programs[sorted(programs)[0]].name_zh in page.text


def test_region_drill_down(client: Client, web_city: Settings) -> None:
    catalog = load_catalog(None)
    with open_database(web_city).connect() as conn:
        figures = compute_overview(conn, catalog, Scope())
    county = figures.children(catalog, None)[0]
    townships = figures.children(catalog, county.code)
    assert townships and sum(t.counts.recipients for t in townships) == county.counts.recipients
    admin = client("admin")
    page = admin.get(f"/?region={county.code}")
    assert page.status_code == 200
    assert county.name in page.text
    assert f'href="/?region={townships[0].code}"' in page.text
    village = figures.children(catalog, townships[0].code)[0]
    assert admin.get(f"/?region={village.code}").status_code == 200
    assert admin.get("/?region=999999").status_code == 404


def test_the_cache_recomputes_when_the_data_changes(web_home: Settings) -> None:
    catalog = load_catalog(None)
    engine = open_database(web_home)
    cache = OverviewCache(entries=4, refresh_seconds=0)
    with engine.connect() as conn:
        first = cache.get(conn, catalog, Scope())
        again = cache.get(conn, catalog, Scope())
        not_yet = conn.execute(
            select(Person.id_number)
            .join(Enrollment, Enrollment.person_id == Person.person_id)
            .where(Enrollment.status == "active")
            .order_by(Person.person_id)
            .limit(1)
        ).scalar_one()
    assert again is first  # same data version: served from memory
    certify_at_counter(
        engine,
        catalog,
        id_number=not_yet,
        at=dt.datetime(2030, 1, 2, 10, tzinfo=dt.UTC),
        officer="窗口经办人",
    )
    with engine.connect() as conn:
        # the data changed: the page gets the figures it had at once, while one background
        # thread recounts; then the new figures
        assert cache.get(conn, catalog, Scope()) is first
        deadline = time.monotonic() + 120
        after = first
        while after is first and time.monotonic() < deadline:
            time.sleep(0.2)
            after = cache.get(conn, catalog, Scope())
        assert after is not first
        assert after.version != first.version
        assert after.total.certified["counter"] >= first.total.certified["counter"]
        # asked to wait, a cache computes the new figures there and then
        waiting = OverviewCache(entries=4, refresh_seconds=3600)
        one = waiting.get(conn, catalog, Scope())
    certify_at_counter(
        engine,
        catalog,
        id_number=not_yet,
        at=dt.datetime(2030, 2, 2, 10, tzinfo=dt.UTC),
        officer="窗口经办人",
    )
    with engine.connect() as conn:
        two = waiting.get(conn, catalog, Scope(), wait=True)
    assert two is not one and two.version != one.version


def test_english_switch(client: Client) -> None:
    admin = client("admin")
    page = admin.get("/?lang=en")
    assert page.status_code == 200
    assert "Overview" in page.text and "Recipients" in page.text
    assert "总览" not in page.text.split("<main>")[1]
    # remembered by the cookie
    assert "Recipients" in admin.get("/").text
    assert "待遇领取人数" in admin.get("/?lang=zh-CN").text


def test_a_big_citys_first_count_runs_in_the_background(
    client: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    import dataclasses

    from lifesign.web.queries import overview as module
    from lifesign.web.queries.parameters import page_parameters

    real = page_parameters()
    tiny = dataclasses.replace(
        real, overview=dataclasses.replace(real.overview, inline_below_persons=1)
    )
    monkeypatch.setattr(module, "page_parameters", lambda: tiny)
    monkeypatch.setattr(module, "_CACHE", module.OverviewCache(4, 300))
    admin = client("admin")
    pending = admin.get("/")
    assert pending.status_code == 200
    assert pending.headers["refresh"] == "5"
    assert "正在统计" in pending.text
    deadline = time.monotonic() + 120
    page = pending
    while "正在统计" in page.text and time.monotonic() < deadline:
        time.sleep(0.2)
        page = admin.get("/")
    assert "待遇领取人数" in page.text and "refresh" not in page.headers
