"""The apps that act for people: self-service face-recognition results and home-visit
outcomes, through lifesign.lifecycle.manual — the same decisions as the CLI's.

Both are idempotent on their reference (the face verification's id; the task and time of a
visit): an app may resend after a timeout. The manual functions open their own transactions,
so the audit row is written in a fresh one after them (on SQLite, a request transaction that
read before their commit could not write after it).
"""

from __future__ import annotations

from typing import Annotated, cast

from fastapi import APIRouter, Path, Request
from sqlalchemy import Engine, Table, select

from lifesign.errors import Location
from lifesign.lifecycle.manual import (
    ManualChannelError,
    UnknownTask,
    certify_self_service,
    record_visit,
)
from lifesign.lifecycle.models import VisitTask
from lifesign.registry.ids import mask_id_number, try_normalize_id_number
from lifesign.store.models import Person
from lifesign.web.api.calls import LoggedRoute, count_items
from lifesign.web.api.schemas import (
    ErrorResponse,
    ManualResult,
    SelfServiceResult,
    VisitOutcomeRequest,
)
from lifesign.web.api.security import Caller, Conn
from lifesign.web.api.status import request_reason
from lifesign.web.audit import audit
from lifesign.web.errors import NotFound, WebError
from lifesign.web.permissions import people_scope

router = APIRouter(route_class=LoggedRoute, tags=["self-service and visits"])

people_t = cast(Table, Person.__table__)
tasks_t = cast(Table, VisitTask.__table__)


def _engine(request: Request) -> Engine:
    engine = request.app.state.engine
    assert isinstance(engine, Engine)
    return engine


@router.post(
    "/self-service",
    response_model=ManualResult,
    summary="Record a face-recognition result of the self-service app",
    description="A `pass` certifies the person (channel self_service) for every benefit; a "
    "`fail` is recorded and certifies nothing. A person who is not alive in the records "
    "(e.g. a recorded death) is not certified: the contradiction goes to the review queue. "
    "The same `reference` again returns the first call's result. Needs a token with the "
    "scope `self_service`.",
    responses={
        403: {"model": ErrorResponse},
        404: {"model": ErrorResponse},
        422: {"model": ErrorResponse},
    },
)
def self_service(
    request: Request, caller: Caller, conn: Conn, body: SelfServiceResult
) -> ManualResult:
    caller.require("api_self_service")
    caller.require_scope("self_service")
    count_items(request, 1)
    normalized, problem = try_normalize_id_number(body.id_number)
    if problem is not None:
        raise WebError(
            f"the ID number is not valid ({problem.reason.value})",
            problem.message,
            Location(field="id_number"),
            status_code=422,
        )
    assert normalized is not None
    query = select(people_t.c.person_id).where(people_t.c.id_number == normalized)
    scope = people_scope(caller.principal)
    if scope is not None:
        query = query.where(scope)
    person_id = conn.execute(query).scalar_one_or_none()
    if person_id is None:
        raise NotFound(
            f"no recipient with ID number {mask_id_number(normalized)}",
            "the number is valid but the person is not in the registry",
            Location(field="id_number"),
        )
    engine = _engine(request)
    decision_id = certify_self_service(
        engine,
        request.app.state.catalog,
        person_id=int(person_id),
        at=body.at,
        outcome=body.outcome,
        reference=body.reference,
    )
    with engine.begin() as fresh:
        audit(
            fresh,
            caller.principal,
            "api_self_service",
            person_id=int(person_id),
            target=f"face verification {body.reference}"[:256],
            reason=request_reason(request),
            request=request,
            details={"outcome": body.outcome},
        )
    if decision_id is not None:
        message = f"certified (decision {decision_id})"
    elif body.outcome == "fail":
        message = "the face verification failed: recorded, nothing certified"
    else:
        message = "not certified: the records do not show this person alive; sent for review"
    return ManualResult(decision_id=decision_id, certified=decision_id is not None, message=message)


@router.post(
    "/visits/{task_id}/outcome",
    response_model=ManualResult,
    summary="Record the outcome of a home visit",
    description="`seen_alive` certifies (channel home_visit); `deceased` (with `death_date`) "
    "decides the death and ends every benefit, overpayments opened for recovery; `moved_away` "
    "suspends or ends the benefits per program; `not_found` keeps the task open (escalated to "
    "the review queue after the third attempt). The same task and time again returns the "
    "first call's result. 409 when the task is already closed. Needs a token with the scope "
    "`visits`.",
    responses={
        403: {"model": ErrorResponse},
        404: {"model": ErrorResponse},
        409: {"model": ErrorResponse},
        422: {"model": ErrorResponse},
    },
)
def visit_outcome(
    request: Request,
    caller: Caller,
    body: VisitOutcomeRequest,
    task_id: Annotated[int, Path(description="The visit task (GET /api/v1/tasks).")],
) -> ManualResult:
    caller.require("api_visits")
    caller.require_scope("visits")
    count_items(request, 1)
    engine = _engine(request)
    try:
        decision_id = record_visit(
            engine,
            request.app.state.catalog,
            task_id=task_id,
            outcome=body.outcome,
            at=body.at,
            worker=body.worker,
            death_date=body.death_date,
            note=body.note,
        )
    except UnknownTask as error:
        raise NotFound(error.what, error.why, error.where) from None
    except ManualChannelError as error:
        status = 409 if error.where.field == "task_id" else 422
        raise WebError(error.what, error.why, error.where, status_code=status) from None
    with engine.begin() as fresh:
        person_id = fresh.execute(
            select(tasks_t.c.person_id).where(tasks_t.c.task_id == task_id)
        ).scalar_one()
        audit(
            fresh,
            caller.principal,
            "api_visits",
            person_id=int(person_id),
            target=f"visit task {task_id}",
            reason=request_reason(request),
            request=request,
            details={"outcome": body.outcome, "worker": body.worker},
        )
    certified = body.outcome == "seen_alive" and decision_id is not None
    if body.outcome == "not_found":
        message = "recorded; the task stays open for another visit (or is escalated)"
    elif decision_id is None:
        message = "recorded; no new decision (the person's status did not allow one)"
    else:
        message = f"recorded; decision {decision_id}"
    return ManualResult(decision_id=decision_id, certified=certified, message=message)
