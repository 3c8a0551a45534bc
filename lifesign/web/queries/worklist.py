"""A community worker's worklist: the people of their grids whose certification is due.

Two kinds of rows, one list ordered by due date (oldest first):

- an open **visit task** (the lifecycle created it after the SMS reminders; the worker records
  the visit's outcome against it);
- a recipient whose certification **expires soon** (within `expiring_within_days`), or has
  expired or was never recorded, and who has no open task yet: the worker may call ahead.

Each row carries what the worker needs at the door: name, masked ID number, the phone (in full:
the worker must call — it is masked everywhere else), address, the reminders already sent
(outbox), and the programs. Scoped by the people's grid (`people.grid_code`, indexed), paged.
"""

from __future__ import annotations

import datetime as dt
import functools
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import (
    Connection,
    Date,
    Table,
    and_,
    bindparam,
    exists,
    func,
    literal,
    null,
    select,
    union_all,
)
from sqlalchemy.sql.functions import aggregate_strings

from lifesign.certify.models import PersonStateRow
from lifesign.lifecycle.models import VisitTask
from lifesign.notify.models import OutboxMessage
from lifesign.store.bulk import among
from lifesign.store.models import Enrollment, Person
from lifesign.web.queries.common import as_date, data_date
from lifesign.web.queries.parameters import page_parameters

people_t = cast(Table, Person.__table__)
state_t = cast(Table, PersonStateRow.__table__)
tasks_t = cast(Table, VisitTask.__table__)
outbox_t = cast(Table, OutboxMessage.__table__)
enrollments_t = cast(Table, Enrollment.__table__)

# A never-certified recipient sorts with the most overdue (no certification date at all).
NEVER = dt.date(1900, 1, 1)


@dataclass(frozen=True)
class Reminder:
    reason: str
    status: str
    created_at: dt.datetime | None
    sent_at: dt.datetime | None


@dataclass(frozen=True)
class WorkItem:
    person_id: int
    task_id: int | None  # None: expiring soon, no visit task yet
    task_reason: str | None
    due: dt.date | None  # the task's due date, else the certification's end
    attempts: int
    name: str | None
    id_number: str | None  # full: the template masks it (mask_id) unless view_full_id
    phone: str | None  # full: the worker must call
    address: str | None
    grid_code: str | None
    status: str | None  # person status (alive, ...)
    valid_until: dt.date | None
    last_certified_on: dt.date | None
    channel: str | None
    programs: tuple[str, ...]
    reminders: tuple[Reminder, ...]

    def days_left(self, as_of: dt.date) -> int | None:
        return None if self.due is None else (self.due - as_of).days


@dataclass(frozen=True)
class Worklist:
    as_of: dt.date
    items: tuple[WorkItem, ...]
    total: int
    open_tasks: int
    page: int
    page_size: int
    grids: tuple[str, ...] | None  # the grids listed (None: every grid)
    tasks_only: bool  # every grid at once: only the open visit tasks are listed

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.page_size))


def _live_enrollment(person_id: Any) -> Any:
    return exists(
        select(enrollments_t.c.enrollment_id).where(
            enrollments_t.c.person_id == person_id,
            enrollments_t.c.status.in_(("active", "suspended")),
        )
    )


# The statement's parameters: the grids listed and the last day of "expiring soon".
GRIDS = "grids"
HORIZON = "horizon"


@functools.cache
def _due_rows(scoped: bool, tasks_only: bool) -> Any:
    """(person_id, task_id, reason, due, attempts) of every row of the worklist, as a
    subquery with the parameters GRIDS (when `scoped`) and HORIZON (`tasks_only`: the open
    visit tasks, without the certifications expiring soon).

    Built once per shape and kept: building and keying this union anew cost a page view
    more CPU than running it (profiled 2026-11-29 at Bozhou scale).
    """
    tasks = select(
        tasks_t.c.person_id.label("person_id"),
        tasks_t.c.task_id.label("task_id"),
        tasks_t.c.reason.label("reason"),
        tasks_t.c.due_date.label("due"),
        tasks_t.c.attempts.label("attempts"),
    )
    if not scoped:
        tasks = tasks.where(tasks_t.c.status == "open")
    else:
        # A worker's grids hold a few hundred persons: start from them (people.grid_code, then
        # visit_tasks.person_id), not from every open task of the city. Wrapping the status
        # keeps SQLite, which has no statistics, off the (status, due_date) index.
        tasks = tasks.where(
            tasks_t.c.person_id.in_(
                select(people_t.c.person_id).where(
                    people_t.c.grid_code.in_(bindparam(GRIDS, expanding=True))
                )
            ),
            func.coalesce(tasks_t.c.status, "") == "open",
        )
    if tasks_only:
        return tasks.subquery("due_rows")
    # The person's id as seen after the join with person_state: the two EXISTS below then
    # depend on that join, so SQLite tests them only for the few persons whose certification
    # is due, not for every person of the grids (3.1 ms instead of 6.3 ms for two grids of
    # 719 persons at Bozhou scale). Same rows on any database.
    person_id = func.coalesce(state_t.c.person_id, people_t.c.person_id)
    open_task = exists(
        select(tasks_t.c.task_id).where(
            tasks_t.c.person_id == person_id, tasks_t.c.status == "open"
        )
    )
    expiring = (
        select(
            people_t.c.person_id.label("person_id"),
            null().label("task_id"),
            null().label("reason"),
            func.coalesce(state_t.c.valid_until, literal(NEVER)).label("due"),
            literal(0).label("attempts"),
        )
        .select_from(people_t.outerjoin(state_t, state_t.c.person_id == people_t.c.person_id))
        .where(
            func.coalesce(state_t.c.status, "alive") == "alive",
            func.coalesce(state_t.c.valid_until, literal(NEVER))
            <= bindparam(HORIZON, type_=Date()),
            _live_enrollment(person_id),
            ~open_task,
        )
    )
    if scoped:
        expiring = expiring.where(people_t.c.grid_code.in_(bindparam(GRIDS, expanding=True)))
    return union_all(tasks, expiring).subquery("due_rows")


@functools.cache
def _ordered(scoped: bool, tasks_only: bool) -> Any:
    rows = _due_rows(scoped, tasks_only)
    return select(rows).order_by(rows.c.due, rows.c.person_id, rows.c.task_id)


def _reminders(
    connection: Connection, person_ids: Sequence[int], per_person: int
) -> dict[int, tuple[Reminder, ...]]:
    found: dict[int, list[Reminder]] = defaultdict(list)
    if not person_ids:
        return {}
    rows = connection.execute(
        select(
            outbox_t.c.person_id,
            outbox_t.c.reason,
            outbox_t.c.status,
            outbox_t.c.created_at,
            outbox_t.c.sent_at,
        )
        .where(among(connection, outbox_t.c.person_id, person_ids))
        .order_by(outbox_t.c.person_id, outbox_t.c.message_id.desc())
    )
    for person_id, reason, status, created_at, sent_at in rows:
        bucket = found[int(person_id)]
        if len(bucket) < per_person:
            bucket.append(Reminder(str(reason), str(status), created_at, sent_at))
    return {person: tuple(items) for person, items in found.items()}


# Program codes are identifiers (catalog): a comma never occurs in one.
PROGRAM_SEPARATOR = ","


def _programs_of_person() -> Any:
    """The person's live programs as one text ("a,b"), a column of the people query (one
    query less per page view than reading them apart)."""
    return (
        select(aggregate_strings(enrollments_t.c.program, PROGRAM_SEPARATOR))
        .where(
            enrollments_t.c.person_id == people_t.c.person_id,
            enrollments_t.c.status.in_(("active", "suspended")),
        )
        .scalar_subquery()
        .label("programs")
    )


def worklist(
    connection: Connection,
    grids: frozenset[str] | None,
    *,
    page: int = 1,
    grid: str | None = None,
    as_of: dt.date | None = None,
) -> Worklist:
    """One page of the worklist of `grids` (None: every grid), or of one of them (`grid`).

    Every grid of the city at once (an administrator without a grid chosen) lists the open
    visit tasks only: the certifications expiring soon of a whole city are a count for the
    overview, not a list to page through, and reading them all for one page is slow.
    """
    parameters = page_parameters().worklist
    as_of = as_of or data_date(connection)
    chosen: list[str] | None = None if grids is None else sorted(grids)
    if grid:
        chosen = [grid] if chosen is None or grid in chosen else []
    tasks_only = chosen is None
    scoped = chosen is not None
    rows = _due_rows(scoped, tasks_only)
    ordered = _ordered(scoped, tasks_only)
    values: dict[str, Any] = {HORIZON: as_of + dt.timedelta(days=parameters.expiring_within_days)}
    if scoped:
        values[GRIDS] = chosen
    size = parameters.page_size
    page = max(1, page)
    if tasks_only:  # the whole city: counted and paged by the database (index-backed)
        total, open_tasks = connection.execute(
            select(func.count(), func.count(rows.c.task_id)).select_from(rows), values
        ).one()
        picked = connection.execute(ordered.limit(size).offset((page - 1) * size), values).all()
    else:  # a few grids: a few hundred rows at most, read once, counted and paged here
        every = connection.execute(ordered, values).all()
        total, open_tasks = len(every), sum(1 for row in every if row.task_id is not None)
        picked = every[(page - 1) * size : page * size]
    person_ids = sorted({int(row.person_id) for row in picked})
    people: dict[int, Any] = {}
    if person_ids:
        for row in connection.execute(
            select(
                people_t.c.person_id,
                people_t.c.name,
                people_t.c.id_number,
                people_t.c.phone,
                people_t.c.address,
                people_t.c.grid_code,
                state_t.c.status,
                state_t.c.valid_until,
                state_t.c.last_certified_on,
                state_t.c.channel,
                _programs_of_person(),
            )
            .select_from(people_t.outerjoin(state_t, state_t.c.person_id == people_t.c.person_id))
            .where(among(connection, people_t.c.person_id, person_ids))
        ):
            people[int(row.person_id)] = row
    reminders = _reminders(connection, person_ids, parameters.reminders_per_person)
    items = []
    for row in picked:
        person_id = int(row.person_id)
        person = people[person_id]
        due = as_date(row.due)
        items.append(
            WorkItem(
                person_id=person_id,
                task_id=None if row.task_id is None else int(row.task_id),
                task_reason=row.reason,
                due=None if due == NEVER else due,
                attempts=int(row.attempts or 0),
                name=person.name,
                id_number=person.id_number,
                phone=person.phone,
                address=person.address,
                grid_code=person.grid_code,
                status=person.status,
                valid_until=as_date(person.valid_until),
                last_certified_on=as_date(person.last_certified_on),
                channel=person.channel,
                programs=tuple(sorted(person.programs.split(PROGRAM_SEPARATOR)))
                if person.programs
                else (),
                reminders=reminders.get(person_id, ()),
            )
        )
    return Worklist(
        as_of=as_of,
        items=tuple(items),
        total=int(total),
        open_tasks=int(open_tasks),
        page=page,
        page_size=size,
        grids=None if chosen is None else tuple(chosen),
        tasks_only=tasks_only,
    )


def task_in_scope(connection: Connection, task_id: int, grids: frozenset[str] | None) -> Any:
    """The open or closed task `task_id` with its person's grid, if the grids cover it."""
    query = (
        select(tasks_t, people_t.c.grid_code.label("person_grid"), people_t.c.name)
        .select_from(tasks_t.join(people_t, people_t.c.person_id == tasks_t.c.person_id))
        .where(tasks_t.c.task_id == task_id)
    )
    if grids is not None:
        query = query.where(and_(people_t.c.grid_code.in_(sorted(grids))))
    return connection.execute(query).first()
