"""Pages: a community worker's worklist (`/worklist`) and the visit-outcome form
(`POST /worklist/tasks/{task_id}/visit`).

The worklist lists the people of the worker's grids whose certification is due — open visit
tasks and certifications about to expire — with the phone in full (the worker must call; it is
masked everywhere else), the address and the reminders already sent. Showing it is a view of
those persons' data: one audit row per page view, naming the persons shown.

The form records the visit through `lifesign.lifecycle.manual.record_visit`, the same function
(and so the same decisions) as `lifesign visit record`. That function opens its own
transaction: the request's transaction (which may have touched the session) is committed
first, so on SQLite the two never wait on each other's write lock.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy import Connection

from lifesign.catalog import Catalog
from lifesign.lifecycle.manual import VISIT_OUTCOMES, record_visit
from lifesign.web.audit import audit
from lifesign.web.auth import Principal, now_of, page_user, require_csrf
from lifesign.web.db import connection, engine_of
from lifesign.web.errors import NotFound, WebError
from lifesign.web.i18n import translate
from lifesign.web.pages._labels import Labels
from lifesign.web.permissions import grids_scope, require
from lifesign.web.queries.worklist import task_in_scope, worklist
from lifesign.web.templating import page_lang, render

router = APIRouter()


@router.get("/worklist")
def worklist_page(
    request: Request,
    principal: Annotated[Principal, Depends(page_user)],
    conn: Annotated[Connection, Depends(connection)],
    page: int = 1,
    grid: str | None = None,
) -> Response:
    require(principal, "view_worklist")
    catalog: Catalog = request.app.state.catalog
    scope = grids_scope(principal)
    listed = worklist(conn, scope, page=page, grid=grid or None)
    lang = page_lang(request, principal)
    if listed.items:
        audit(
            conn,
            principal,
            "view_worklist",
            target=f"page {listed.page}" + (f", grid {grid}" if grid else ""),
            request=request,
            details={"person_ids": [item.person_id for item in listed.items]},
        )
    return render(
        request,
        "pages/worklist.html",
        {
            "worklist": listed,
            "grid": grid or "",
            "grids": sorted(scope) if scope is not None else [],
            # (code, words) of each outcome: translated once, not once per visit form
            "outcomes": [(o, translate(f"pages.outcome.{o}", lang)) for o in VISIT_OUTCOMES],
            "labels": Labels(catalog, lang),
            "done": request.query_params.get("done"),
        },
        principal=principal,
    )


def _death_date(value: str | None) -> dt.date | None:
    if not value:
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise WebError("the date of death is not a date", f"{value!r}: use YYYY-MM-DD") from None


@router.post("/worklist/tasks/{task_id}/visit", dependencies=[Depends(require_csrf)])
def record_visit_form(
    request: Request,
    principal: Annotated[Principal, Depends(page_user)],
    conn: Annotated[Connection, Depends(connection)],
    task_id: int,
    outcome: Annotated[str, Form()],
    death_date: Annotated[str | None, Form()] = None,
    note: Annotated[str | None, Form()] = None,
) -> Response:
    require(principal, "record_visit")
    task = task_in_scope(conn, task_id, grids_scope(principal))
    if task is None:
        raise NotFound("no such visit task", f"task {task_id} is not one of your grids'")
    if outcome not in VISIT_OUTCOMES:
        raise WebError("unknown visit outcome", f"{outcome!r}: one of {', '.join(VISIT_OUTCOMES)}")
    died = _death_date(death_date) if outcome == "deceased" else None
    person_id = int(task.person_id)
    catalog: Catalog = request.app.state.catalog
    engine = engine_of(request)
    conn.commit()  # release the request's transaction before the visit opens its own
    decision_id = record_visit(
        engine,
        catalog,
        task_id=task_id,
        outcome=outcome,
        at=now_of(request),
        worker=principal.username,
        death_date=died,
        note=(note or "").strip() or None,
    )
    with engine.begin() as written:
        audit(
            written,
            principal,
            "record_visit",
            person_id=person_id,
            target=f"task {task_id}",
            request=request,
            details={"outcome": outcome, "decision_id": decision_id},
        )
    return RedirectResponse(f"/people/{person_id}?visit={outcome}", status_code=303)
