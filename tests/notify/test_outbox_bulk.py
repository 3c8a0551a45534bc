"""`enqueue_many`: the bulk way into the outbox keeps every rule of `enqueue` (SQLite and
PostgreSQL): at most once per person, reason and period, no phone → nothing, bodies rendered
when queued, a template error queues nothing."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from sqlalchemy import Engine, func, select

from lifesign.notify.outbox import SmsRequest, enqueue, enqueue_many, outbox
from lifesign.notify.templates import TemplateError, render
from tests.notify.support import add_people, at, certified_params


def _request(person_id: int, **changes: Any) -> SmsRequest:
    values: dict[str, Any] = {
        "person_id": person_id,
        "phone": f"1390000{person_id:04d}",
        "reason": "certified",
        "period_key": "2027-03-01",
        "params": certified_params(person_id),
    }
    values.update(changes)
    return SmsRequest(**values)


def _count(engine: Engine) -> int:
    with engine.connect() as connection:
        return int(connection.execute(select(func.count()).select_from(outbox)).scalar_one())


def test_many_queued_at_once_with_each_outcome_in_order(engine: Engine) -> None:
    add_people(engine, 3)
    add_people(engine, 1, first_id=4, phone=False)
    now = at("2026-03-02 10:00")
    with engine.begin() as connection:
        assert enqueue(
            connection,
            person_id=2,
            phone="13900000002",
            reason="certified",
            period_key="2027-03-01",
            params=certified_params(2),
            now=now,
        )
    requests = [
        _request(1),
        _request(2),  # already queued by `enqueue`
        _request(3),
        _request(1),  # the same message twice in one call
        _request(1, period_key="2028-03-01"),  # another period: another message
        _request(4, phone=None),
        _request(3, phone=" 139 0000 0003 "),  # same key as the third: duplicate
    ]
    with engine.begin() as connection:
        outcomes = enqueue_many(connection, requests, now=now)
    assert outcomes == [
        "queued",
        "duplicate",
        "queued",
        "duplicate",
        "queued",
        "no_phone",
        "duplicate",
    ]
    assert _count(engine) == 4
    with engine.connect() as connection:
        rows = connection.execute(
            select(outbox).where(outbox.c.person_id == 1).order_by(outbox.c.period_key)
        ).all()
    assert [row.period_key for row in rows] == ["2027-03-01", "2028-03-01"]
    assert rows[0].body == render("certified", certified_params(1)).body
    assert rows[0].status == "queued" and rows[0].phone == "13900000001"


def test_asking_again_queues_nothing_more(engine: Engine) -> None:
    add_people(engine, 50)
    requests = [_request(person_id) for person_id in range(1, 51)]
    now = at("2026-03-02 10:00")
    with engine.begin() as connection:
        first = enqueue_many(connection, requests, now=now)
    with engine.begin() as connection:
        second = enqueue_many(connection, requests, now=now + dt.timedelta(days=1))
    assert first == ["queued"] * 50
    assert second == ["duplicate"] * 50
    assert _count(engine) == 50


def test_more_than_one_statement_page(engine: Engine) -> None:
    """Over a thousand messages: several multi-row pages, every outcome still right."""
    add_people(engine, 1500)
    now = at("2026-03-02 10:00")
    with engine.begin() as connection:
        enqueue_many(connection, [_request(p) for p in range(1, 1501, 2)], now=now)
    with engine.begin() as connection:
        outcomes = enqueue_many(connection, [_request(p) for p in range(1, 1501)], now=now)
    assert outcomes == ["duplicate" if p % 2 else "queued" for p in range(1, 1501)]
    assert _count(engine) == 1500


def test_a_template_error_queues_nothing(engine: Engine) -> None:
    add_people(engine, 2)
    broken = _request(2, params={"name": "测试2"})  # no valid_until, evidence...
    with engine.begin() as connection, pytest.raises(TemplateError):
        enqueue_many(connection, [_request(1), broken], now=at("2026-03-02 10:00"))
    assert _count(engine) == 0


def test_nothing_to_queue(engine: Engine) -> None:
    with engine.begin() as connection:
        assert enqueue_many(connection, [], now=at("2026-03-02 10:00")) == []
