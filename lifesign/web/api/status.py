"""Certification status of one person or of a batch of up to 10,000 ID numbers.

Read by key only. One person: `people.id_number` (unique index) → `person_state` (primary
key) → `enrollments` (index on person_id). A batch: a department's from the read model
`status_documents` and person_state (statusdocs.py: one probe per number, then the state by
person id), a scoped principal's by the join
(batchjson.py). ID numbers are normalised first (lifesign.registry.ids); an invalid one is answered
in its place with its reason code, never by failing the batch. Every person read is audited.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, cast

import pyarrow as pa
from fastapi import APIRouter, Path, Request, Response
from sqlalchemy import Connection, String, Table, func, select, type_coerce

from lifesign.catalog import Catalog
from lifesign.certify.models import PersonStateRow
from lifesign.errors import Location
from lifesign.ingest.validate import Reason, normalise_ids
from lifesign.lifecycle.models import Run
from lifesign.registry.ids import IdRejection, mask_id_number, try_normalize_id_number
from lifesign.store.models import Enrollment, Person
from lifesign.web.api.batchjson import compact_statuses
from lifesign.web.api.calls import LoggedRoute, count_items, route_template
from lifesign.web.api.schemas import (
    BatchStatusRequest,
    BatchStatusResponse,
    ErrorResponse,
    PersonStatus,
)
from lifesign.web.api.security import Caller, Conn, api_parameters
from lifesign.web.api.statusdocs import stored_statuses
from lifesign.web.audit import audit
from lifesign.web.auth import Principal
from lifesign.web.errors import NotFound, WebError
from lifesign.web.errortext import api_language, say
from lifesign.web.permissions import people_scope

router = APIRouter(route_class=LoggedRoute, tags=["status"])

people_t = cast(Table, Person.__table__)
state_t = cast(Table, PersonStateRow.__table__)
enrollments_t = cast(Table, Enrollment.__table__)
runs_t = cast(Table, Run.__table__)

# Ids per IN-list query: well under SQLite's and PostgreSQL's bind-parameter limits, and few
# enough round trips for 10,000 numbers.
IN_LIST = 2_000
MISSING_FIELD = Reason.MISSING_FIELD
NOT_FOUND = "not_found"
NOT_FOUND_WHY = "the number is valid but the person is not in the registry"


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
    """A recipient found: the key for the audit log, and the answer (JSON-ready: the batch
    answers 10,000 of them, so they are built as plain data, not validated models)."""

    person_id: int
    status: dict[str, Any]


def _chunks(values: Sequence[Any], size: int = IN_LIST) -> Iterable[Sequence[Any]]:
    for start in range(0, len(values), size):
        yield values[start : start + size]


def _day(value: Any) -> str | None:
    """A date column as ISO text: SQLite gives the stored text itself (read untyped: parsing
    30,000 dates into objects only to print them again costs more than the query), PostgreSQL
    a date."""
    if value is None or isinstance(value, str):
        return value
    return str(value.isoformat())


def _untyped(column: Any) -> Any:
    return type_coerce(column, String()).label(column.name)


def statuses_of(
    connection: Connection,
    catalog: Catalog,
    principal: Principal,
    id_numbers: Iterable[str],
    as_of: dt.date,
) -> dict[str, FoundPerson]:
    """The status of each normalised ID number that is a recipient in the principal's scope.

    One query per IN-list of 2,000 numbers: people (unique index on id_number) joined with
    person_state (primary key) and enrollments (index on person_id).
    """
    wanted = sorted(set(id_numbers))
    scope = people_scope(principal)
    as_of_text = as_of.isoformat()
    names = {code: p.name_zh for code, p in catalog.programs.items()}
    found: dict[str, FoundPerson] = {}
    columns = [
        people_t.c.person_id,
        people_t.c.id_number,
        _untyped(people_t.c.last_certified_on).label("registry_certified_on"),
        people_t.c.last_certification_channel.label("registry_channel"),
        state_t.c.status,
        _untyped(state_t.c.last_certified_on),
        state_t.c.channel,
        _untyped(state_t.c.valid_until),
        enrollments_t.c.program,
        enrollments_t.c.status.label("enrollment_status"),
        enrollments_t.c.external_ref,
        _untyped(enrollments_t.c.start_date),
        _untyped(enrollments_t.c.end_date),
    ]
    joined = people_t.outerjoin(state_t, state_t.c.person_id == people_t.c.person_id).outerjoin(
        enrollments_t, enrollments_t.c.person_id == people_t.c.person_id
    )
    for chunk in _chunks(wanted):
        query = select(*columns).select_from(joined).where(people_t.c.id_number.in_(chunk))
        if scope is not None:
            query = query.where(scope)
        # No ORDER BY (a temporary B-tree over every row): a person's rows are gathered by
        # their ID number; the benefits' order is the enrollment index's.
        for row in connection.execute(query).all():
            id_number = row[1]
            person = found.get(id_number)
            if person is None:
                status = row[4] or "alive"
                valid = _day(row[7])
                current: dict[str, Any] = {
                    "status": status,
                    "certified": status == "alive" and valid is not None and valid >= as_of_text,
                    "valid_until": valid,
                    "last_certified_on": _day(row[5]) or _day(row[2]),
                    "last_channel": row[6] or row[3],
                    "enrollments": [],
                    "id_number_masked": mask_id_number(id_number),
                    "as_of": as_of_text,
                }
                person = found[id_number] = FoundPerson(int(row[0]), current)
            program = row[8]
            if program is None:
                continue
            person.status["enrollments"].append(
                {
                    "program": program,
                    "program_name": names.get(program, program),
                    "status": row[9],
                    "external_ref": row[10],
                    "start_date": _day(row[11]),
                    "end_date": _day(row[12]),
                }
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
    """The audit row of a read of persons' data (lifesign.web.audit).

    One person: the row names them (`person_id`). Several (a batch, a page of changes or
    tasks): ONE row for the call, `person_id` empty and every person id in
    `details.person_ids` — a department syncing 1.36 M statuses a night would otherwise add
    1.36 M rows a night to the audit log, and a batch of 10,000 would spend most of its
    second writing them.
    """
    if not person_ids:
        return
    if len(person_ids) == 1:
        audit(
            connection, principal, action, person_id=person_ids[0], reason=reason, request=request
        )
        return
    audit(
        connection,
        principal,
        action,
        target=f"{len(person_ids)} persons",
        reason=reason,
        request=request,
        details={"person_ids": list(person_ids)},
    )


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
            NOT_FOUND_WHY,
            Location(field="id_number"),
        )
    audit_reads(
        conn, request, caller.principal, "api_status", [person.person_id], request_reason(request)
    )
    return PersonStatus.model_validate(person.status)


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
) -> Response:
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
    numbers = normalise_ids(pa.array(body.id_numbers, pa.string()), dt.date.today())
    canonical = numbers.canonical.to_pylist()
    as_of = data_as_of(conn)
    wanted = (n for n in canonical if n)
    if people_scope(caller.principal) is None:
        # a department sees everyone: the read model and the state (statusdocs)
        found = stored_statuses(conn, wanted, as_of)
    else:
        found = compact_statuses(conn, caller.principal, wanted, as_of)
    items: list[str] = []
    invalid = missing = 0
    lang = api_language(request)  # the items' messages, like the errors, as the caller asks
    for index, number in enumerate(canonical):
        person = found.get(number) if number is not None else None
        if person is not None:
            items.append(f'{{"index":{index},"ok":true,"person":{person[1]}}}')
            continue
        if number is None:
            invalid += 1
            reason, message = numbers.reasons[index]
            if reason == MISSING_FIELD:
                reason, message = IdRejection.EMPTY.value, "the ID number is empty"
        else:
            missing += 1
            reason, message = NOT_FOUND, NOT_FOUND_WHY
        items.append(
            json.dumps(
                {"index": index, "ok": False, "reason": reason, "message": say(message, lang)},
                ensure_ascii=False,
                separators=(",", ":"),
            )
        )
    audit_reads(
        conn,
        request,
        caller.principal,
        "api_status",
        sorted(person_id for person_id, _ in found.values()),
        request_reason(request),
    )
    head = json.dumps(
        {"as_of": as_of.isoformat(), "found": len(found), "not_found": missing, "invalid": invalid}
    )
    # The persons' JSON comes from the database (batchjson.py) and is joined as text; FastAPI's
    # response_model (which would validate 10,000 nested objects again) documents the shape.
    return Response(
        (head[:-1] + ',"items":[' + ",".join(items) + "]}").encode("utf-8"),
        media_type="application/json",
    )
