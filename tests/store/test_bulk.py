"""lifesign.store.bulk on SQLite and PostgreSQL: rows written through the driver's executemany
read back exactly as SQLAlchemy writes them (dates, times, JSON, NULL, defaults), skip what a
unique constraint already holds, update by key, and `among` selects by many values."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any, cast

from sqlalchemy import Engine, Table, insert, select

from lifesign.lifecycle.models import DeathSettlement, VisitTask
from lifesign.store.bulk import among, insert_new, insert_rows, update_rows
from lifesign.store.models import Person

people_t = cast(Table, Person.__table__)
tasks_t = cast(Table, VisitTask.__table__)
deaths_t = cast(Table, DeathSettlement.__table__)


def _people(engine: Engine, count: int) -> None:
    with engine.begin() as connection:
        connection.execute(
            insert(people_t),
            [
                {"person_id": p, "pseudonym": f"{p:032x}", "name": f"测试{p}"}
                for p in range(1, count + 1)
            ],
        )


def _task(person_id: int, due: dt.date, **changes: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "person_id": person_id,
        "grid_code": None,
        "due_date": due,
        "reason": "certification_expiring",
        "status": "open",
        "attempts": 0,
        "created_on": dt.date(2026, 3, 2),
    }
    row.update(changes)
    return row


def test_rows_read_back_as_sqlalchemy_writes_them(engine: Engine) -> None:
    _people(engine, 3)
    settled = {
        "person_id": 1,
        "death_date": dt.date(2026, 2, 27),
        "overpayment": Decimal("123.45"),
        "details": {"cases": [{"case_id": 7, "amount": "123.45"}], "名": "张三"},
        "settled_on": dt.date(2026, 3, 2),
        "run_id": None,
    }
    with engine.begin() as connection:
        assert insert_rows(connection, deaths_t, [settled]) == 1
        connection.execute(insert(deaths_t), [{**settled, "person_id": 2}])
    with engine.connect() as connection:
        bulk, orm = connection.execute(select(deaths_t).order_by(deaths_t.c.person_id)).all()
    assert bulk._asdict() == {**orm._asdict(), "person_id": 1}
    assert bulk.details["名"] == "张三" and bulk.overpayment == Decimal("123.45")


def test_insert_new_skips_what_is_there_and_repeats(engine: Engine) -> None:
    _people(engine, 4)
    due = dt.date(2026, 4, 1)
    unique = ("person_id", "reason", "due_date")
    with engine.begin() as connection:
        first = insert_new(connection, tasks_t, [_task(1, due), _task(2, due)], unique=unique)
    with engine.begin() as connection:
        again = insert_new(
            connection,
            tasks_t,
            [_task(2, due), _task(3, due), _task(3, due, attempts=5), _task(1, due, status="done")],
            unique=unique,
        )
    assert first == {(1, "certification_expiring", due), (2, "certification_expiring", due)}
    assert again == {(3, "certification_expiring", due)}
    with engine.connect() as connection:
        rows = connection.execute(select(tasks_t).order_by(tasks_t.c.person_id)).all()
    assert [(r.person_id, r.status, r.attempts) for r in rows] == [
        (1, "open", 0),
        (2, "open", 0),
        (3, "open", 0),  # the first of the repeated rows
    ]


def test_update_rows_by_key(engine: Engine) -> None:
    _people(engine, 3)
    with engine.begin() as connection:
        insert_rows(connection, tasks_t, [_task(p, dt.date(2026, 4, p)) for p in (1, 2, 3)])
        ids = dict(connection.execute(select(tasks_t.c.person_id, tasks_t.c.task_id)).all())
        update_rows(
            connection,
            tasks_t,
            "task_id",
            [
                {"task_id": ids[1], "status": "cancelled", "closed_on": dt.date(2026, 3, 9)},
                {"task_id": ids[3], "status": "done", "closed_on": None},
            ],
        )
    with engine.connect() as connection:
        rows = connection.execute(select(tasks_t).order_by(tasks_t.c.person_id)).all()
    assert [(r.status, r.closed_on) for r in rows] == [
        ("cancelled", dt.date(2026, 3, 9)),
        ("open", None),
        ("done", None),
    ]


def test_among_selects_by_many_values(engine: Engine) -> None:
    _people(engine, 3000)
    wanted = list(range(2, 3001, 3))
    with engine.connect() as connection:
        found = connection.execute(
            select(people_t.c.person_id).where(among(connection, people_t.c.person_id, wanted))
        ).scalars()
        names = connection.execute(
            select(people_t.c.person_id).where(among(connection, people_t.c.name, ["测试5", "x"]))
        ).scalars()
        nothing = connection.execute(
            select(people_t.c.person_id).where(among(connection, people_t.c.person_id, []))
        ).all()
        assert sorted(found) == wanted
        assert list(names) == [5]
        assert nothing == []


def test_nothing_to_write(engine: Engine) -> None:
    rows: list[dict[str, Any]] = []
    with engine.begin() as connection:
        assert insert_rows(connection, tasks_t, rows) == 0
        assert insert_new(connection, tasks_t, rows, unique=("task_id",)) == set()
        assert update_rows(connection, tasks_t, "task_id", rows) == 0
