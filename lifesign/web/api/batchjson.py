"""The batch status's per-person answers, as JSON text built by the database.

10,000 persons are ~13,000 joined rows; turning each into Python objects and encoding them
again costs more than the lookups themselves. SQLite (json_object, json_group_array) and
PostgreSQL (json_build_object, json_agg) build each person's `BatchPerson` object in C, and
the endpoint only joins the texts. The shape is schemas.BatchPerson: the tests validate the
answer against it on both backends.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable
from typing import Any, cast

from sqlalchemy import (
    ARRAY,
    Connection,
    Select,
    String,
    Table,
    Text,
    and_,
    bindparam,
    case,
    func,
    literal,
    literal_column,
    select,
)
from sqlalchemy import cast as sql_cast
from sqlalchemy.dialects.postgresql import aggregate_order_by
from sqlalchemy.sql.functions import aggregate_strings

from lifesign.certify.models import PersonStateRow
from lifesign.store.bulk import among
from lifesign.store.models import Enrollment, Person
from lifesign.web.auth import Principal
from lifesign.web.permissions import people_scope

people_t = cast(Table, Person.__table__)
state_t = cast(Table, PersonStateRow.__table__)
enrollments_t = cast(Table, Enrollment.__table__)


def _object(dialect: str, pairs: list[tuple[str, Any]]) -> Any:
    arguments: list[Any] = []
    for key, value in pairs:
        arguments += [literal(key), value]
    name = "json_object" if dialect == "sqlite" else "json_build_object"
    return getattr(func, name)(*arguments)


def _registry(column: Any, person_id: Any) -> Any:
    """The registry's own value of `column` (people) for the person: read only where the state
    has none — COALESCE evaluates it only then — so most answers never read a people row."""
    return select(column).where(people_t.c.person_id == person_id).scalar_subquery()


def _enrollments_json(dialect: str, person_id: Any) -> Any:
    """The person's benefits as a JSON array, in enrollment order."""
    enrollment = _object(
        dialect,
        [
            ("program", enrollments_t.c.program),
            ("status", enrollments_t.c.status),
            ("external_ref", enrollments_t.c.external_ref),
        ],
    )
    if dialect == "sqlite":
        benefits = (
            select(func.json_group_array(func.json(enrollment)))
            .where(enrollments_t.c.person_id == person_id)
            .scalar_subquery()
        )
        return func.json(benefits)
    # in enrollment order, like SQLite's index on person_id (rowids in order): a heap's order
    # changes when a row is rewritten
    ordered = aggregate_order_by(enrollment, enrollments_t.c.enrollment_id)
    return (
        select(func.coalesce(func.json_agg(ordered), literal_column("'[]'::json")))
        .where(enrollments_t.c.person_id == person_id)
        .scalar_subquery()
    )


def no_enrollments_json(dialect: str) -> Any:
    """An empty JSON array, as person_json's `enrollments` (the read model's stand-in)."""
    return func.json("[]") if dialect == "sqlite" else literal_column("'[]'::json")


def person_json(
    dialect: str,
    as_of: dt.date,
    state: Any,
    registry_certified_on: Any,
    registry_channel: Any,
    enrollments: Any,
) -> Any:
    """A person's BatchPerson document as text, from person_state's columns `state` (the
    query joins it, outer: `state_t.c` or a subquery's), the registry's own certification
    where the state has none and the benefits' JSON array. The one place the answer's text is
    built: the reference (compact_statuses) and the read model (statusdocs) both build it
    here, so their bytes are the same."""
    status = func.coalesce(state.status, literal("alive"))
    certified = and_(status == "alive", state.valid_until >= as_of)
    if dialect == "sqlite":
        certified_json: Any = case((certified, func.json("true")), else_=func.json("false"))
    else:
        certified_json = func.coalesce(certified, False)
    document = _object(
        dialect,
        [
            ("status", status),
            ("certified", certified_json),
            ("valid_until", state.valid_until),
            ("last_certified_on", func.coalesce(state.last_certified_on, registry_certified_on)),
            ("last_channel", func.coalesce(state.channel, registry_channel)),
            ("enrollments", enrollments),
        ],
    )
    return document if dialect == "sqlite" else sql_cast(document, Text)


def _person_json(dialect: str, as_of: dt.date, person_id: Any) -> Any:
    """The person's BatchPerson document; `person_id` is the driving query's person id."""
    return person_json(
        dialect,
        as_of,
        state_t.c,
        _registry(people_t.c.last_certified_on, person_id),
        _registry(people_t.c.last_certification_channel, person_id),
        _enrollments_json(dialect, person_id),
    )


# Between the rows of a query answered as one text: ASCII's record separator, a control
# character that valid JSON never holds raw (not even as whitespace), nor do ids and ID numbers.
RECORD_SEPARATOR = "\x1e"


def as_one_text(connection: Connection, query: Select[Any]) -> list[str]:
    """The rows of a two-column query (an id, a text without spaces in the id) read as ONE row:
    `id text` joined by RECORD_SEPARATOR, split here.

    The driver hands a result back one row per step and releases and retakes the GIL around
    each; with a few batches at once, 10,000 of those hand-overs cost ~50 ms of CPU per batch
    (2026-11-29, Bozhou scale, 4 concurrent clients) — one aggregated row costs none.
    """
    rows = query.subquery()
    first, second = rows.c
    line = sql_cast(first, Text).concat(" ").concat(second)
    joined = connection.execute(select(aggregate_strings(line, RECORD_SEPARATOR))).scalar_one()
    return joined.split(RECORD_SEPARATOR) if joined else []


def _id_table(connection: Connection, person_ids: list[int]) -> Any:
    """The person ids as a table (column `value`) from ONE bound parameter, in their order:
    a JSON array SQLite's json_each unpacks, a PostgreSQL array unnest()ed. Driving the
    lookups from it (not from people) leaves the people rows unread (_registry)."""
    if connection.dialect.name == "sqlite":
        unpacked = func.json_each(bindparam(None, json.dumps(person_ids), type_=String()))
        return unpacked.table_valued("value").alias("found_ids")
    array = bindparam(None, person_ids, type_=ARRAY(people_t.c.person_id.type))
    return func.unnest(array).table_valued("value").render_derived(name="found_ids")


def compact_statuses(
    connection: Connection, principal: Principal, id_numbers: Iterable[str], as_of: dt.date
) -> dict[str, tuple[int, str]]:
    """ID number → (person_id, BatchPerson as JSON text), for the recipients in scope.

    Two queries, each with its keys in ONE bound parameter (store.bulk.among: a JSON array
    SQLite's json_each unpacks, a PostgreSQL array) — IN-lists of 2,000 bound parameters cost
    SQLAlchemy more time to render than the database took to answer (~15 % of a batch's CPU
    at Bozhou scale, profiled 2026-11-29) — and each answered as one text (as_one_text):

    1. the numbers → person ids (people's unique index on id_number, the principal's scope);
    2. the documents of those persons, looked up in person-id order (person_state and the
       enrollments' index are then read front to back instead of at random — about a sixth
       less database time for 10,000 persons of 1.36 M), a people row only where the state
       lacks a value (_registry: a fifth less again, with SQLite re-reading its pages after
       every commit of another request).
    """
    wanted = list(set(id_numbers))
    if not wanted:
        return {}
    persons = select(people_t.c.person_id, people_t.c.id_number).where(
        among(connection, people_t.c.id_number, wanted)
    )
    scope = people_scope(principal)
    if scope is not None:
        persons = persons.where(scope)
    numbers: dict[int, str] = {}
    for line in as_one_text(connection, persons):
        person_id, id_number = line.split(" ", 1)
        numbers[int(person_id)] = id_number
    if not numbers:
        return {}
    found_ids = _id_table(connection, sorted(numbers))
    person_id = found_ids.c.value
    document = _person_json(connection.dialect.name, as_of, person_id).label("document")
    documents = select(person_id, document).select_from(
        found_ids.outerjoin(state_t, state_t.c.person_id == person_id)
    )
    found: dict[str, tuple[int, str]] = {}
    for line in as_one_text(connection, documents):
        person_id, text = line.split(" ", 1)
        found[numbers[int(person_id)]] = (int(person_id), text)
    return found
