"""Cursor paging of the API's lists (`/changes`, `/tasks`).

A list is read in the order of an id that only grows (a decision's, a task's); the cursor is
the last id a page held, as decimal text. The next page starts strictly after it, so a page
costs the same however deep it is, and nothing is skipped or repeated while a department pages
through. An empty page answers the cursor it was asked with: the caller keeps it and asks
again later for what came after it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from fastapi import Request
from sqlalchemy import ColumnElement, Connection, Row, Select

from lifesign.errors import Location
from lifesign.web.api.calls import count_items
from lifesign.web.api.status import audit_reads, request_reason
from lifesign.web.auth import Principal
from lifesign.web.errors import WebError


def page_size(limit: int | None, *, default: int, most: int, items: str) -> int:
    """The rows a page holds: `limit` if given (422 above `most`), else `default`."""
    if limit is not None and limit > most:
        raise WebError(
            "page too large",
            f"at most {most} {items} per page; asked {limit}",
            Location(field="limit"),
            status_code=422,
        )
    return limit or default


def cursor_after(cursor: str | None) -> int:
    """The id a cursor given as text names (none: before the first)."""
    if cursor is None or cursor == "":
        return 0
    if not cursor.isdigit():
        raise WebError(
            "the cursor is not valid",
            "pass back the `next_cursor` of the previous page unchanged",
            Location(field="cursor"),
            status_code=422,
        )
    return int(cursor)


@dataclass(frozen=True)
class CursorPage:
    rows: Sequence[Row[Any]]
    has_more: bool
    next_cursor: str | None


def read_page(
    conn: Connection,
    query: Select[Any],
    key: ColumnElement[int],
    *,
    after: int,
    size: int,
    asked: str | None,
) -> CursorPage:
    """The `size` rows of `query` after the id `after`, in the order of `key` (read with one
    more row, to know whether another page follows); `asked` is the cursor the caller sent,
    answered again when the page is empty."""
    rows = conn.execute(query.where(key > after).order_by(key).limit(size + 1)).all()
    shown = rows[:size]
    next_cursor = str(shown[-1]._mapping[key]) if shown else asked
    return CursorPage(rows=shown, has_more=len(rows) > size, next_cursor=next_cursor)


def account_for_page(
    conn: Connection,
    request: Request,
    principal: Principal,
    action: str,
    *,
    items: int,
    person_ids: Sequence[int],
) -> None:
    """The call log's item count and the audit row of the persons a page showed."""
    count_items(request, items)
    audit_reads(conn, request, principal, action, sorted(set(person_ids)), request_reason(request))
