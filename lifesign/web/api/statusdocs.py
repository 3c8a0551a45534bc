"""The batch status answers read from their read model, `status_documents` (migration 0011).

Each person's `BatchPerson` JSON is kept prebuilt by database triggers, in parts around
`certified`'s value (it depends on the as-of date, so it is decided here, at read time). A batch
is then one probe per ID number of one B-tree keyed by the number, and the whole answer two
aggregated texts (the reason: batchjson.as_one_text): at Bozhou scale a fraction of the join
(batchjson.compact_statuses) that builds the same text and stays the reference, and the
answer for principals with a scope (the read model knows no grids).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import cast

from sqlalchemy import Connection, Table, Text, and_, case, literal, select
from sqlalchemy.sql.functions import aggregate_strings

from lifesign.store.bulk import among
from lifesign.web.api.batchjson import RECORD_SEPARATOR
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
    document = d.document_head.concat(certified).concat(d.document_state)
    document = document.concat(d.document_enrollments)
    key = d.id_number.concat(" ").concat(d.person_id.cast(Text))
    found_rows = select(key.label("key"), document.label("document")).where(
        among(connection, d.id_number, wanted)
    )
    rows = found_rows.subquery()
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
    found: dict[str, tuple[int, str]] = {}
    for pair, text in zip(
        keys.split(RECORD_SEPARATOR), documents.split(RECORD_SEPARATOR), strict=True
    ):
        id_number, _, person_id = pair.partition(" ")
        found[id_number] = (int(person_id), text)
    return found
