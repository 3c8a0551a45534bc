"""The demo's accounts: one per role, with fixed passwords and scopes that show data.

The README gives these logins; `lifesign demo` creates them after the replay, and the web tests
use them over their small replayed city. Scopes are chosen from the data so that every page
has something to show: the worker's grids are those with the most persons due, the officer's
programs those with the most recipients, the data manager's department the one whose sources
sent the most (and whose records were quarantined, when some were).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import Connection, Engine, func, or_, select, text

from lifesign.catalog import Catalog
from lifesign.certify.models import PersonStateRow
from lifesign.lifecycle.models import VisitTask
from lifesign.store.models import Batch, Enrollment, Person, Quarantine
from lifesign.web.accounts import Scopes, create_user, reset_password
from lifesign.web.models import User

# Days ahead a certification counts as due, for choosing the worker's grids (the worklist
# itself shows what its own query says is due).
DUE_WITHIN_DAYS = 60
WORKER_GRIDS = 2
OFFICER_PROGRAMS = 2


@dataclass(frozen=True)
class DemoLogin:
    key: str  # how tests name it
    username: str
    password: str
    role: str


# Fixed passwords: a demo on a laptop, printed by `lifesign demo` and given in the README.
DEMO_LOGINS: tuple[DemoLogin, ...] = (
    DemoLogin("admin", "admin", "demo-admin-2026", "admin"),
    DemoLogin("officer", "officer", "demo-officer-2026", "program_officer"),
    DemoLogin("datamgr", "datamgr", "demo-datamgr-2026", "data_manager"),
    DemoLogin("worker", "worker", "demo-worker-2026", "community_worker"),
    DemoLogin("auditor", "auditor", "demo-auditor-2026", "auditor"),
)


def _as_of(conn: Connection) -> dt.date:
    value = conn.execute(text("SELECT max(as_of) FROM runs WHERE status = 'finished'")).scalar()
    if value is None:
        return dt.date.today()
    return value if isinstance(value, dt.date) else dt.date.fromisoformat(str(value)[:10])


def busiest_grids(conn: Connection, count: int = WORKER_GRIDS) -> tuple[str, ...]:
    """The grids with the most persons due: an open visit task, or a certification that runs
    out within DUE_WITHIN_DAYS, for a person still receiving a benefit."""
    horizon = _as_of(conn) + dt.timedelta(days=DUE_WITHIN_DAYS)
    open_task = select(VisitTask.task_id).where(
        VisitTask.person_id == Person.person_id, VisitTask.status == "open"
    )
    active = select(Enrollment.enrollment_id).where(
        Enrollment.person_id == Person.person_id, Enrollment.status == "active"
    )
    due = func.count(Person.person_id)
    rows = conn.execute(
        select(Person.grid_code, due)
        .join(PersonStateRow, PersonStateRow.person_id == Person.person_id)
        .where(
            Person.grid_code.is_not(None),
            PersonStateRow.status == "alive",
            active.exists(),
            or_(open_task.exists(), PersonStateRow.valid_until <= horizon),
        )
        .group_by(Person.grid_code)
        .order_by(due.desc(), Person.grid_code)
        .limit(count)
    ).all()
    grids = tuple(str(r[0]) for r in rows)
    if grids:
        return grids
    fallback = conn.execute(
        select(Person.grid_code).where(Person.grid_code.is_not(None)).limit(count)
    ).all()
    return tuple(str(r[0]) for r in fallback)


def biggest_programs(conn: Connection, count: int = OFFICER_PROGRAMS) -> tuple[str, ...]:
    n = func.count(Enrollment.enrollment_id)
    rows = conn.execute(
        select(Enrollment.program, n)
        .where(Enrollment.status == "active")
        .group_by(Enrollment.program)
        .order_by(n.desc(), Enrollment.program)
        .limit(count)
    ).all()
    return tuple(str(r[0]) for r in rows)


def busiest_department(conn: Connection, catalog: Catalog) -> str:
    """The department with the most quarantined records, then the most batches received."""
    from lifesign.ingest.sources import load_sources

    department_of = {code: s.department for code, s in load_sources(None, catalog).items()}
    score: dict[str, tuple[int, int]] = {}
    quarantined = conn.execute(
        select(Quarantine.source, func.count()).group_by(Quarantine.source)
    ).all()
    batches = conn.execute(select(Batch.source, func.count()).group_by(Batch.source)).all()
    for source, n in quarantined:
        department = department_of.get(source)
        if department:
            q, b = score.get(department, (0, 0))
            score[department] = (q + int(n), b)
    for source, n in batches:
        department = department_of.get(source)
        if department:
            q, b = score.get(department, (0, 0))
            score[department] = (q, b + int(n))
    if not score:
        return sorted(catalog.departments)[0]
    return max(sorted(score), key=lambda d: score[d])


def demo_scopes(conn: Connection, catalog: Catalog) -> dict[str, Scopes]:
    return {
        "admin": Scopes(),
        "officer": Scopes(programs=biggest_programs(conn)),
        "datamgr": Scopes(department=busiest_department(conn, catalog)),
        "worker": Scopes(grids=busiest_grids(conn)),
        "auditor": Scopes(),
    }


def create_demo_accounts(engine: Engine, catalog: Catalog) -> dict[str, DemoLogin]:
    """Create the demo accounts (or reset their passwords if they exist); by key."""
    with engine.begin() as conn:
        scopes = demo_scopes(conn, catalog)
        existing = set(conn.execute(select(User.username)).scalars())
        for login in DEMO_LOGINS:
            if login.username in existing:
                reset_password(conn, login.username, login.password)
                continue
            create_user(
                conn, login.username, login.password, login.role, scopes[login.key],
                catalog=catalog,
            )  # fmt: skip
    return {login.key: login for login in DEMO_LOGINS}
