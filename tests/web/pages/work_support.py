"""Helpers of the work pages' tests (reviews, cases, quarantine, payments): who the demo users
are allowed to see in the shared web city, and rows to check after an action."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import Engine, create_engine, select

from lifesign.catalog import load_catalog
from lifesign.config import Settings
from lifesign.store.models import Enrollment, Person
from lifesign.web.auth import Principal
from lifesign.web.models import AuditEntry, User


def engine_of(settings: Settings) -> Engine:
    assert settings.database_url is not None
    return create_engine(settings.database_url)


def principal_of(engine: Engine, username: str) -> Principal:
    """The principal of a demo user, as the app builds it (its scopes from the users table)."""
    with engine.connect() as conn:
        row = conn.execute(select(User).where(User.username == username)).mappings().one()
    return Principal(
        user_id=int(row["user_id"]),
        username=row["username"],
        role=row["role"],
        programs=frozenset(row["programs"] or ()),
        sources=frozenset(row["sources"] or ()),
        grids=frozenset(row["grids"] or ()),
        department=row["department"],
        lang="zh-CN",
    )


def enrollment_in(engine: Engine, programs: frozenset[str], *, inside: bool) -> Any:
    """An enrollment (with its person's id number) of one of `programs` (inside) or of a person
    enrolled in none of them (outside)."""
    with engine.connect() as conn:
        mine = select(Enrollment.person_id).where(Enrollment.program.in_(sorted(programs)))
        query = (
            select(Enrollment.enrollment_id, Enrollment.person_id, Enrollment.program,
                   Person.id_number)
            .join(Person, Person.person_id == Enrollment.person_id)
            .order_by(Enrollment.enrollment_id)
        )  # fmt: skip
        if inside:
            query = query.where(Enrollment.program.in_(sorted(programs)))
        else:
            query = query.where(Enrollment.person_id.not_in(mine))
        row = conn.execute(query.limit(1)).first()
    assert row is not None, f"no enrollment {'in' if inside else 'outside'} {sorted(programs)}"
    return row


def evidence_refs(kind: str, count: int, day: dt.date) -> list[dict[str, str]]:
    """Synthetic evidence records establishing `kind` ('deceased' or 'alive', strong), as the
    pass writes them in a review's sides."""
    catalog = load_catalog(None)
    types = [
        t for t in catalog.evidence_types.values()
        if t.establishes == kind and t.strength == "strong"
    ]  # fmt: skip
    return [
        {
            "source": f"test_{types[n % len(types)].department}",
            "record_id": f"T-{kind}-{n}",
            "evidence_type": types[n % len(types)].code,
            "event_time": (day + dt.timedelta(days=30 * n)).isoformat() + "T09:30:00",
        }
        for n in range(count)
    ]


def audit_rows(engine: Engine, action: str) -> list[Any]:
    with engine.connect() as conn:
        return list(
            conn.execute(
                select(AuditEntry).where(AuditEntry.action == action).order_by(AuditEntry.audit_id)
            ).mappings()
        )
