"""Changes since a time: the decisions ledger in order, cursor-paginated, for a department's
sync.

The ledger is append-only and `decision_id` grows with every decision, so the cursor is the
last decision id a page held: the next page starts after it and no decision is skipped or
repeated while paging. `since` (a date) filters on the day a decision was made
(`decided_on`, indexed). Each decision comes with the status changes it caused
(`status_events`), which name the enrollment's program and the paying department's reference.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from typing import Annotated, cast

from fastapi import APIRouter, Query, Request
from sqlalchemy import Table, select

from lifesign.certify.models import Decision, StatusEvent
from lifesign.store.models import Enrollment, Person
from lifesign.web.api.calls import LoggedRoute
from lifesign.web.api.paging import account_for_page, cursor_after, page_size, read_page
from lifesign.web.api.schemas import Change, ChangesPage, ErrorResponse, StatusChange
from lifesign.web.api.security import Caller, Conn, api_parameters
from lifesign.web.permissions import people_scope

router = APIRouter(route_class=LoggedRoute, tags=["changes"])

decisions_t = cast(Table, Decision.__table__)
events_t = cast(Table, StatusEvent.__table__)
people_t = cast(Table, Person.__table__)
enrollments_t = cast(Table, Enrollment.__table__)


@router.get(
    "/changes",
    response_model=ChangesPage,
    summary="Decisions and status changes since a date, for syncing",
    description="The decisions ledger in the order it was written (certified, deceased, "
    "suspended, resumed, terminated...), each with the status changes it caused. Start with "
    "`since` (the first day of interest); then pass the `next_cursor` of each page as "
    "`cursor` until `has_more` is false; keep the last cursor and ask again later for what "
    "came after it. Each decision names the person by full ID number (the department joins "
    "on it); every page read is audited.",
    responses={422: {"model": ErrorResponse}},
)
def changes(
    request: Request,
    caller: Caller,
    conn: Conn,
    since: Annotated[
        dt.date | None,
        Query(description="Only decisions made on or after this day (YYYY-MM-DD)."),
    ] = None,
    cursor: Annotated[
        str | None, Query(description="The `next_cursor` of the previous page.")
    ] = None,
    limit: Annotated[
        int | None, Query(ge=1, description="Decisions per page (default 1000, at most 10000).")
    ] = None,
) -> ChangesPage:
    caller.require("api_changes")
    parameters = api_parameters(request)
    size = page_size(
        limit,
        default=parameters.changes_default_limit,
        most=parameters.changes_max_limit,
        items="decisions",
    )
    after = cursor_after(cursor)
    query = select(
        decisions_t.c.decision_id,
        decisions_t.c.person_id,
        decisions_t.c.enrollment_id,
        decisions_t.c.kind,
        decisions_t.c.effective_date,
        decisions_t.c.decided_on,
        decisions_t.c.channel,
        decisions_t.c.valid_until,
        decisions_t.c.rule,
        people_t.c.id_number,
        enrollments_t.c.program,
        enrollments_t.c.external_ref,
    ).select_from(
        decisions_t.join(people_t, people_t.c.person_id == decisions_t.c.person_id).outerjoin(
            enrollments_t, enrollments_t.c.enrollment_id == decisions_t.c.enrollment_id
        )
    )
    if since is not None:
        query = query.where(decisions_t.c.decided_on >= since)
    scope = people_scope(caller.principal)
    if scope is not None:
        query = query.where(scope)
    page = read_page(
        conn, query, decisions_t.c.decision_id, after=after, size=size, asked=cursor or None
    )
    rows = page.rows
    events: dict[int, list[StatusChange]] = defaultdict(list)
    ids = [int(r.decision_id) for r in rows]
    for start in range(0, len(ids), 2000):
        for event in conn.execute(
            select(
                events_t.c.decision_id,
                events_t.c.target,
                events_t.c.from_status,
                events_t.c.to_status,
                events_t.c.at,
                enrollments_t.c.program,
                enrollments_t.c.external_ref,
            )
            .select_from(
                events_t.outerjoin(
                    enrollments_t, enrollments_t.c.enrollment_id == events_t.c.enrollment_id
                )
            )
            .where(events_t.c.decision_id.in_(ids[start : start + 2000]))
            .order_by(events_t.c.event_id)
        ):
            events[int(event.decision_id)].append(
                StatusChange(
                    target=event.target,
                    program=event.program,
                    external_ref=event.external_ref,
                    from_status=event.from_status,
                    to_status=event.to_status,
                    at=event.at,
                )
            )
    items = [
        Change(
            decision_id=int(r.decision_id),
            kind=r.kind,
            id_number=r.id_number,
            program=r.program,
            external_ref=r.external_ref,
            effective_date=r.effective_date,
            decided_on=r.decided_on,
            channel=r.channel,
            valid_until=r.valid_until,
            rule=r.rule,
            status_changes=events.get(int(r.decision_id), []),
        )
        for r in rows
    ]
    account_for_page(
        conn,
        request,
        caller.principal,
        "api_changes",
        items=len(items),
        person_ids=[int(r.person_id) for r in rows],
    )
    return ChangesPage(items=items, next_cursor=page.next_cursor, has_more=page.has_more)
