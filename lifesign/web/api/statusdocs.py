"""The batch status answers read from their read model, `status_documents` (migration 0011).

Each person's `BatchPerson` JSON is kept prebuilt by database triggers, split where
`certified` goes (it depends on the as-of date, so it is decided here, at read time). A batch
is then one probe per ID number of one B-tree keyed by the number, and the whole answer one
aggregated text (batchjson._as_one_text): at Bozhou scale a fraction of the join
(batchjson.compact_statuses) that builds the same text and stays the reference, and the
answer for principals with a scope (the read model knows no grids).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import cast

from sqlalchemy import Connection, Table, and_, case, literal, select

from lifesign.store.bulk import among
from lifesign.web.api.batchjson import as_one_text
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
    d = documents_t.c
    certified = case(
        (and_(d.status == "alive", d.valid_until >= as_of), literal("true")),
        else_=literal("false"),
    )
    # `person_id document`: the text after the ID number (as_one_text splits at the first
    # space; the number has none)
    answer = d.person_id.cast(documents_t.c.document_head.type).concat(" ")
    answer = answer.concat(d.document_head).concat(certified).concat(d.document_state)
    answer = answer.concat(d.document_enrollments)
    query = select(d.id_number, answer).where(among(connection, d.id_number, wanted))
    found: dict[str, tuple[int, str]] = {}
    for line in as_one_text(connection, query):
        id_number, rest = line.split(" ", 1)
        person_id, document = rest.split(" ", 1)
        found[id_number] = (int(person_id), document)
    return found
