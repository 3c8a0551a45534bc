"""The batch status answers read from their read model, `status_documents` (migration 0011),
and person_state.

The read model holds what of a person's answer changes rarely — their person id, the
registry's own certification and their benefits as the answer's JSON text — kept by database
triggers on people and enrollments. The state (status, `certified` as of the day asked about,
valid_until, the last certification) changes every day for ~45 k persons of Bozhou and is read
where it is written, person_state: a read model following it cost the daily pass +4.6 s CPU a
day (docs/decisions.md, 19).

A batch is one query: each number probes the documents' B-tree (keyed by the ID number) once,
the documents found are put in person-id order, and person_state is probed in that order (its
pages read front to back instead of at random, like compact_statuses). The object of the
state's keys is built by the reference's own code (batchjson.person_json) with an empty
`enrollments`, whose `[]}` the stored benefits replace: the same bytes as the join
(batchjson.compact_statuses), which stays the reference and the answer for principals with a
scope (the read model knows no grids). The whole answer comes back as two aggregated texts
(the reason: batchjson.as_one_text).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Any, cast

from sqlalchemy import Connection, Table, Text, func, select, true
from sqlalchemy import cast as sql_cast
from sqlalchemy.sql.functions import aggregate_strings

from lifesign.store.bulk import among
from lifesign.web.api.batchjson import (
    RECORD_SEPARATOR,
    no_enrollments_json,
    person_json,
    state_t,
)
from lifesign.web.api.models import StatusDocument

documents_t = cast(Table, StatusDocument.__table__)


def stored_statuses(
    connection: Connection, id_numbers: Iterable[str], as_of: dt.date
) -> dict[str, tuple[int, str]]:
    """ID number → (person_id, BatchPerson as JSON text) of every person with these numbers,
    the same texts as `compact_statuses` for an unscoped principal."""
    # sorted: neighbouring numbers share B-tree pages, read once
    wanted = sorted(set(id_numbers))
    if not wanted:
        return {}
    dialect = connection.dialect.name
    d = documents_t.c
    # the documents found, materialized in person-id order: the state's probes follow it
    found = (
        select(
            d.id_number,
            d.person_id,
            d.last_certified_on,
            d.last_certification_channel,
            d.document_enrollments,
        )
        .where(among(connection, d.id_number, wanted))
        .order_by(d.person_id)
        .cte("found")
        .prefix_with("MATERIALIZED")
    )
    f = found.c
    if dialect == "postgresql":
        # one index probe per document, in the CTE's order: as a plain join the planner, seeing
        # ~10,000 rows against 1.36 M, may hash all of person_state instead; a LIMIT keeps the
        # subquery from being pulled up into such a join (person_id is the key: one row at most)
        state: Any = (
            select(state_t).where(state_t.c.person_id == f.person_id).limit(1).lateral("state")
        )
        joined = found.outerjoin(state, true())
    else:  # SQLite probes the key of the LEFT JOIN's right side for each row, in order
        state = state_t
        joined = found.outerjoin(state_t, state_t.c.person_id == f.person_id)
    head = person_json(
        dialect,
        as_of,
        state.c,
        f.last_certified_on,
        f.last_certification_channel,
        no_enrollments_json(dialect),
    )
    # `..."enrollments":[]}` (PostgreSQL: `"enrollments" : []}`) less its `[]}`, then the
    # stored array, which closes the document
    document = func.rtrim(sql_cast(head, Text), "[]}").concat(f.document_enrollments)
    key = f.id_number.concat(" ").concat(f.person_id.cast(Text))
    rows = select(key.label("key"), document.label("document")).select_from(joined).subquery()
    # Two texts, the keys and the documents, each of every row joined (one row for the driver
    # to hand over: batchjson.as_one_text); both aggregates read the same rows in the same
    # order. The documents are split once, not copied again out of a `key document` line.
    keys, documents = connection.execute(
        select(
            aggregate_strings(rows.c.key, RECORD_SEPARATOR),
            aggregate_strings(rows.c.document, RECORD_SEPARATOR),
        )
    ).one()
    if not keys:
        return {}
    answers: dict[str, tuple[int, str]] = {}
    for pair, text in zip(
        keys.split(RECORD_SEPARATOR), documents.split(RECORD_SEPARATOR), strict=True
    ):
        id_number, _, person_id = pair.partition(" ")
        answers[id_number] = (int(person_id), text)
    return answers
