"""The data sources pages (/sources, /sources/{source}): records per day, last batch, reject
rate, coverage, the guard's state; a data manager sees only the sources of their department."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import func, select

from lifesign.catalog import load_catalog
from lifesign.config import Settings
from lifesign.ingest.sources import load_sources
from lifesign.lifecycle.models import SourceArrival
from lifesign.store import open_database
from lifesign.web.queries.sources import sources_report
from tests.web.pages.people_support import engine_of, user_row

Client = Callable[[str], Any]


@pytest.mark.parametrize("key", ["admin", "officer", "datamgr", "auditor"])
def test_the_sources_page_renders_for_the_roles_that_may_see_it(client: Client, key: str) -> None:
    page = client(key).get("/sources")
    assert page.status_code == 200
    assert "数据来源" in page.text


def test_a_worker_may_not_see_the_sources(client: Client) -> None:
    assert client("worker").get("/sources").status_code == 403
    assert client("worker").get("/sources/yibao_settle").status_code == 403


def test_a_data_manager_sees_only_their_sources(client: Client, web_city: Settings) -> None:
    engine = engine_of(web_city)
    mine = frozenset(user_row(engine, "datamgr")["sources"])
    assert mine
    every = load_sources(None, load_catalog(None))
    others = sorted(set(every) - mine)
    manager = client("datamgr")
    page = manager.get("/sources")
    for code in mine:
        assert f'href="/sources/{code}"' in page.text
    for code in others:
        assert f'href="/sources/{code}"' not in page.text
    own = sorted(mine)[0]
    assert manager.get(f"/sources/{own}").status_code == 200
    assert manager.get(f"/sources/{others[0]}").status_code == 404
    # the administrator sees every source
    assert client("admin").get(f"/sources/{others[0]}").status_code == 200


def test_the_figures_of_a_source(web_city: Settings) -> None:
    catalog = load_catalog(None)
    engine = open_database(web_city)
    with engine.connect() as conn:
        report = sources_report(conn, catalog, None)
        busiest = conn.execute(
            select(SourceArrival.source, func.sum(SourceArrival.records))
            .where(
                SourceArrival.arrived_on > report.as_of - dt.timedelta(days=report.chart_days),
                SourceArrival.arrived_on <= report.as_of,
            )
            .group_by(SourceArrival.source)
            .order_by(func.sum(SourceArrival.records).desc())
            .limit(1)
        ).first()
    assert busiest is not None
    row = report.get(str(busiest[0]))
    assert row is not None
    assert row.records_window == int(busiest[1])
    assert len(row.daily) == report.chart_days
    assert sum(n for _, n in row.daily) == row.records_window
    assert row.last_batch is not None and row.last_batch.status == "committed"
    assert row.state in ("ok", "learning", "stale", "collapsed")
    # coverage adds up to the recipients certified silently
    assert sum(r.coverage for r in report.sources) == report.silent_certified


def test_source_page_shows_the_chart_and_english(client: Client) -> None:
    admin = client("admin")
    page = admin.get("/sources/yibao_settle")
    assert page.status_code == 200
    assert "医保结算明细" in page.text and "<svg" in page.text
    english = admin.get("/sources/yibao_settle?lang=en")
    assert "Records arrived per day" in english.text
    assert admin.get("/sources/no_such_source").status_code == 404
