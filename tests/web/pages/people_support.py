"""Helpers of the overview, sources, worklist and person page tests: persons inside and outside
a demo user's scope in the shared web city, a worker for a grid, rows to check."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine, create_engine, select

from lifesign.config import Settings
from lifesign.lifecycle.models import VisitTask
from lifesign.store.models import Enrollment, Person
from lifesign.web.accounts import Scopes, create_user
from lifesign.web.models import AuditEntry, User

WORKER_PASSWORD = "grid-worker-2026"


def engine_of(settings: Settings) -> Engine:
    return create_engine(settings.database_url)


def user_row(engine: Engine, username: str) -> Any:
    with engine.connect() as conn:
        return conn.execute(select(User).where(User.username == username)).mappings().one()


def person_in_grids(engine: Engine, grids: frozenset[str], *, inside: bool) -> Any:
    """A recipient living in one of `grids` (inside) or in none of them (outside)."""
    query = select(Person.person_id, Person.id_number, Person.name, Person.grid_code).where(
        Person.grid_code.in_(sorted(grids)) if inside else Person.grid_code.not_in(sorted(grids))
    )
    with engine.connect() as conn:
        row = conn.execute(query.order_by(Person.person_id).limit(1)).first()
    assert row is not None, f"no person {'in' if inside else 'outside'} {sorted(grids)}"
    return row


def person_of_programs(engine: Engine, programs: frozenset[str], *, inside: bool) -> Any:
    mine = select(Enrollment.person_id).where(Enrollment.program.in_(sorted(programs)))
    query = select(Person.person_id, Person.id_number, Person.name).where(
        Person.person_id.in_(mine) if inside else Person.person_id.not_in(mine)
    )
    with engine.connect() as conn:
        row = conn.execute(query.order_by(Person.person_id).limit(1)).first()
    assert row is not None, f"no person {'in' if inside else 'outside'} {sorted(programs)}"
    return row


def open_task(engine: Engine) -> Any:
    """An open visit task of a recipient (with the person's grid)."""
    with engine.connect() as conn:
        row = conn.execute(
            select(VisitTask.task_id, VisitTask.person_id, Person.grid_code, Person.name)
            .join(Person, Person.person_id == VisitTask.person_id)
            .where(VisitTask.status == "open", Person.grid_code.is_not(None))
            .order_by(VisitTask.task_id)
            .limit(1)
        ).first()
    assert row is not None, "the web city has no open visit task"
    return row


def add_worker(engine: Engine, username: str, grids: tuple[str, ...]) -> tuple[str, str]:
    """A community worker of `grids`; its (username, password)."""
    with engine.begin() as conn:
        create_user(conn, username, WORKER_PASSWORD, "community_worker", Scopes(grids=grids))
    return username, WORKER_PASSWORD


def audit_of(engine: Engine, action: str, person_id: int | None = None) -> list[Any]:
    query = select(AuditEntry).where(AuditEntry.action == action)
    if person_id is not None:
        query = query.where(AuditEntry.person_id == person_id)
    with engine.connect() as conn:
        return list(conn.execute(query.order_by(AuditEntry.audit_id)).mappings())
