"""Certification status of one person or of a batch of up to 10,000 ID numbers.

Read by key only: `people.id_number` (unique index) → `person_state` (primary key) →
`enrollments` (index on person_id), so a batch of 10,000 costs a handful of indexed IN-list
queries. ID numbers are normalised first (lifesign.registry.ids); an invalid one is answered
in its place with its reason code, never by failing the batch. Every person read is audited.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, cast

from fastapi import APIRouter, Path, Request
from sqlalchemy import Connection, Table, func, insert, select

from lifesign.catalog import Catalog
from lifesign.certify.models import PersonStateRow
from lifesign.errors import Location
from lifesign.lifecycle.models import Run
from lifesign.registry.ids import mask_id_number, try_normalize_id_number
from lifesign.store.models import Enrollment, Person
from lifesign.web.api.calls import LoggedRoute, count_items, route_template
from lifesign.web.api.schemas import (
    BatchStatusItem,
    BatchStatusRequest,
    BatchStatusResponse,
    EnrollmentStatus,
    ErrorResponse,
    PersonStatus,
)
from lifesign.web.api.security import Caller, Conn, api_parameters
from lifesign.web.auth import Principal, client_of, now_of
from lifesign.web.errors import NotFound, WebError
from lifesign.web.models import AuditEntry
from lifesign.web.permissions import people_scope

router = APIRouter(route_class=LoggedRoute, tags=["status"])

people_t = cast(Table, Person.__table__)
state_t = cast(Table, PersonStateRow.__table__)
enrollments_t = cast(Table, Enrollment.__table__)
runs_t = cast(Table, Run.__table__)
audit_t = cast(Table, AuditEntry.__table__)

# Ids per IN-list query: well under SQLite's and PostgreSQL's bind-parameter limits, and few
# enough round trips for 10,000 numbers.
IN_LIST = 2_000
NOT_FOUND = "not_found"


def data_as_of(connection: Connection) -> dt.date:
    """The day the platform's data is as of: the latest finished daily run (else any run,
    else today)."""
    latest = connection.execute(
        select(func.max(runs_t.c.as_of)).where(runs_t.c.status == "finished")
    ).scalar_one_or_none()
    if latest is None:
        latest = connection.execute(select(func.max(runs_t.c.as_of))).scalar_one_or_none()
    if isinstance(latest, str):  # SQLite answers an aggregate of dates as text
        return dt.date.fromisoformat(latest[:10])
    return latest if isinstance(latest, dt.date) else dt.date.today()


@dataclass(frozen=True)
class FoundPerson:
    person_id: int
    status: PersonStatus


def _chunks(values: Sequence[Any], size: int = IN_LIST) -> Iterable[Sequence[Any]]:
    for start in range(0, len(values), size):
        yield values[start : start + size]


def statuses_of(
    connection: Connection,
    catalog: Catalog,
    principal: Principal,
    id_numbers: Iterable[str],
    as_of: dt.date,
) -> dict[str, FoundPerson]:
    """The status of each normalised ID number that is a recipient in the principal's scope."""
    wanted = sorted(set(id_numbers))
    scope = people_scope(principal)
    people: dict[int, Any] = {}
    for chunk in _chunks(wanted):
        query = (
            select(
                people_t.c.person_id,
                people_t.c.id_number,
                people_t.c.last_certified_on.label("registry_certified_on"),
                people_t.c.last_certification_channel.label("registry_channel"),
                state_t.c.status,
                state_t.c.last_certified_on,
                state_t.c.channel,
                state_t.c.valid_until,
            )
            .select_from(people_t.outerjoin(state_t, state_t.c.person_id == people_t.c.person_id))
            .where(people_t.c.id_number.in_(chunk))
        )
        if scope is not None:
            query = query.where(scope)
        for row in connection.execute(query):
            people[int(row.person_id)] = row
    enrollments: dict[int, list[EnrollmentStatus]] = defaultdict(list)
    for chunk in _chunks(sorted(people)):
        for enrolled in connection.execute(
            select(
                enrollments_t.c.person_id,
                enrollments_t.c.program,
                enrollments_t.c.status,
                enrollments_t.c.external_ref,
                enrollments_t.c.start_date,
                enrollments_t.c.end_date,
            )
            .where(enrollments_t.c.person_id.in_(chunk))
            .order_by(enrollments_t.c.person_id, enrollments_t.c.enrollment_id)
        ):
            program = catalog.programs.get(enrolled.program)
            enrollments[int(enrolled.person_id)].append(
                EnrollmentStatus(
                    program=enrolled.program,
                    program_name=program.name_zh if program else enrolled.program,
                    status=enrolled.status,
                    external_ref=enrolled.external_ref,
                    start_date=enrolled.start_date,
                    end_date=enrolled.end_date,
                )
            )
    found: dict[str, FoundPerson] = {}
    for person_id, row in people.items():
        status = row.status or "alive"
        certified_on = row.last_certified_on or row.registry_certified_on
        channel = row.channel or row.registry_channel
        valid_until = row.valid_until
        found[row.id_number] = FoundPerson(
            person_id,
            PersonStatus(
                id_number_masked=mask_id_number(row.id_number),
                status=status,
                certified=status == "alive" and valid_until is not None and valid_until >= as_of,
                valid_until=valid_until,
                last_certified_on=certified_on,
                last_channel=channel,
                as_of=as_of,
                enrollments=enrollments.get(person_id, []),
            ),
        )
    return found


def audit_reads(
    connection: Connection,
    request: Request,
    principal: Principal,
    action: str,
    person_ids: Sequence[int],
    reason: str,
) -> None:
    """One audit row per person read — the same row as lifesign.web.audit.audit writes, in
    one multi-row insert (a batch of 10,000 would otherwise cost 10,000 round trips)."""
    if not person_ids:
        return
    at = now_of(request)
    client = client_of(request)
    rows = [
        {
            "at": at,
            "user_id": principal.user_id,
            "username": principal.username,
            "role": principal.role,
            "action": action,
            "person_id": person_id,
            "target": None,
            "reason": reason,
            "client": client,
            "details": None,
        }
        for person_id in person_ids
    ]
    connection.execute(insert(audit_t), rows)


def request_reason(request: Request) -> str:
    """What the audit log says the read was for: the route template, never the real path (an
    ID number may be in it)."""
    return f"API {request.method} {route_template(request)}"


class InvalidIdNumberError(WebError):
    """An ID number in a path or body that cannot be normalised (422)."""


@router.get(
    "/persons/{id_number}/status",
    response_model=PersonStatus,
    summary="Certification status of one person",
    description="Status, validity, last certification (date and channel) and the status of "
    "each benefit of the recipient with this resident ID number. The number is normalised "
    "(spaces, hyphens, full-width digits, lowercase x, old 15-digit numbers). No name, address "
    "or phone is answered. 404 when the number is valid but not a recipient; 422 (with the "
    "reason code) when it is not a valid ID number. The read is audited.",
    responses={404: {"model": ErrorResponse}, 422: {"model": ErrorResponse}},
)
def person_status(
    request: Request,
    caller: Caller,
    conn: Conn,
    id_number: str = Path(description="Resident ID number (18 or 15 characters)."),
) -> PersonStatus:
    caller.require("api_status")
    count_items(request, 1)
    normalized, problem = try_normalize_id_number(id_number)
    if problem is not None:
        raise InvalidIdNumberError(
            f"the ID number is not valid ({problem.reason.value})",
            problem.message,
            Location(field="id_number"),
            status_code=422,
        )
    assert normalized is not None
    as_of = data_as_of(conn)
    found = statuses_of(conn, request.app.state.catalog, caller.principal, [normalized], as_of)
    person = found.get(normalized)
    if person is None:
        raise NotFound(
            f"no recipient with ID number {mask_id_number(normalized)}",
            "the number is valid but the person is not in the registry",
            Location(field="id_number"),
        )
    audit_reads(
        conn, request, caller.principal, "api_status", [person.person_id], request_reason(request)
    )
    return person.status


@router.post(
    "/status/batch",
    response_model=BatchStatusResponse,
    summary="Certification status of up to 10,000 persons",
    description="One answer per ID number, at the same position (`index`). An invalid number "
    "is answered in its place with its reason code (empty, bad_length, bad_character, "
    "bad_region, bad_birth_date, future_birth_date, bad_check_character) and a number that is "
    "not a recipient with `not_found`: the batch itself never fails for them. More than "
    "10,000 numbers: 422. Every person found is audited.",
    responses={422: {"model": ErrorResponse}},
)
def batch_status(
    request: Request, caller: Caller, conn: Conn, body: BatchStatusRequest
) -> BatchStatusResponse:
    caller.require("api_status")
    count_items(request, len(body.id_numbers))
    limit = api_parameters(request).batch_status_max
    if len(body.id_numbers) > limit:
        raise WebError(
            "batch too large",
            f"at most {limit} ID numbers per call; this call sent {len(body.id_numbers)} — "
            "split the list",
            Location(field="id_numbers"),
            status_code=422,
        )
    today = dt.date.today()
    normalized: list[tuple[str | None, str | None, str | None]] = []
    for raw in body.id_numbers:
        number, problem = try_normalize_id_number(raw, today=today)
        if problem is None:
            normalized.append((number, None, None))
        else:
            normalized.append((None, problem.reason.value, problem.message))
    as_of = data_as_of(conn)
    found = statuses_of(
        conn,
        request.app.state.catalog,
        caller.principal,
        (n for n, _, _ in normalized if n is not None),
        as_of,
    )
    items: list[BatchStatusItem] = []
    invalid = missing = 0
    for index, (number, reason, message) in enumerate(normalized):
        if number is None:
            invalid += 1
            items.append(BatchStatusItem(index=index, ok=False, reason=reason, message=message))
            continue
        person = found.get(number)
        if person is None:
            missing += 1
            items.append(
                BatchStatusItem(
                    index=index,
                    ok=False,
                    reason=NOT_FOUND,
                    message="the number is valid but the person is not in the registry",
                )
            )
            continue
        items.append(BatchStatusItem(index=index, ok=True, person=person.status))
    audit_reads(
        conn,
        request,
        caller.principal,
        "api_status",
        sorted(p.person_id for p in found.values()),
        request_reason(request),
    )
    return BatchStatusResponse(
        as_of=as_of, found=len(found), not_found=missing, invalid=invalid, items=items
    )
