"""Home-visit tasks for the civil-affairs community system (tokens with the scope `visits`).

Paged by task id (keyset: a page costs the same however deep). A task carries what the visit
needs — name, address, phone (the worker calls ahead) — and the ID number masked; every
person listed is audited.
"""

from __future__ import annotations

from typing import Annotated, cast

from fastapi import APIRouter, Query, Request
from sqlalchemy import Table, select

from lifesign.errors import Location
from lifesign.lifecycle.models import TASK_STATUSES, VisitTask
from lifesign.registry.ids import mask_id_number
from lifesign.store.models import Person
from lifesign.web.api.calls import LoggedRoute
from lifesign.web.api.paging import account_for_page, page_size, read_page
from lifesign.web.api.schemas import ErrorResponse, TaskItem, TasksPage
from lifesign.web.api.security import Caller, Conn, api_parameters
from lifesign.web.errors import WebError
from lifesign.web.permissions import people_scope

router = APIRouter(route_class=LoggedRoute, tags=["self-service and visits"])

tasks_t = cast(Table, VisitTask.__table__)
people_t = cast(Table, Person.__table__)


@router.get(
    "/tasks",
    response_model=TasksPage,
    summary="Home-visit tasks of a grid",
    description="Visit tasks (default: open ones), by task id; filter by `grid` (a grid code "
    "of the catalog) and `status` (open, done, cancelled, escalated). Page with `cursor`. "
    "Needs a token with the scope `visits`.",
    responses={403: {"model": ErrorResponse}, 422: {"model": ErrorResponse}},
)
def tasks(
    request: Request,
    caller: Caller,
    conn: Conn,
    grid: Annotated[str | None, Query(description="Grid code; all grids when absent.")] = None,
    status: Annotated[str, Query(description="open, done, cancelled or escalated.")] = "open",
    cursor: Annotated[int | None, Query(ge=0, description="`next_cursor` of the last page.")] = (
        None
    ),
    limit: Annotated[int | None, Query(ge=1, description="Tasks per page (at most 500).")] = None,
) -> TasksPage:
    caller.require("api_tasks")
    caller.require_scope("visits")
    parameters = api_parameters(request)
    if status not in TASK_STATUSES:
        raise WebError(
            f"unknown task status {status!r}",
            "one of " + ", ".join(TASK_STATUSES),
            Location(field="status"),
            status_code=422,
        )
    size = page_size(
        limit,
        default=parameters.tasks_default_limit,
        most=parameters.tasks_max_limit,
        items="tasks",
    )
    query = (
        select(
            tasks_t.c.task_id,
            tasks_t.c.person_id,
            tasks_t.c.grid_code,
            tasks_t.c.due_date,
            tasks_t.c.reason,
            tasks_t.c.status,
            tasks_t.c.attempts,
            people_t.c.name,
            people_t.c.id_number,
            people_t.c.address,
            people_t.c.phone,
        )
        .select_from(tasks_t.join(people_t, people_t.c.person_id == tasks_t.c.person_id))
        .where(tasks_t.c.status == status)
    )
    if grid is not None:
        query = query.where(tasks_t.c.grid_code == grid)
    scope = people_scope(caller.principal)
    if scope is not None:
        query = query.where(scope)
    page = read_page(
        conn,
        query,
        tasks_t.c.task_id,
        after=cursor or 0,
        size=size,
        asked=str(cursor) if cursor else None,
    )
    rows = page.rows
    items = [
        TaskItem(
            task_id=int(r.task_id),
            grid=r.grid_code,
            due_date=r.due_date,
            reason=r.reason,
            status=r.status,
            attempts=int(r.attempts),
            name=r.name,
            id_number_masked=mask_id_number(r.id_number),
            address=r.address,
            phone=r.phone,
        )
        for r in rows
    ]
    account_for_page(
        conn,
        request,
        caller.principal,
        "api_tasks",
        items=len(items),
        person_ids=[int(r.person_id) for r in rows],
    )
    return TasksPage(items=items, next_cursor=page.next_cursor, has_more=page.has_more)
