"""Page: the audit log, for auditors and administrators — filter by user, person, action and
dates, newest first, paged backwards by keyset (`before=` the last id shown, like the work
lists: lifesign.web.queries.keyset) — a page deep in a log of millions of rows costs what the
first does, where an OFFSET would read every row before it. Reading the log is itself written
to the log."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from sqlalchemy import Connection

from lifesign.web.audit import AuditFilter, audit, read_audit
from lifesign.web.auth import Principal, page_user
from lifesign.web.db import connection
from lifesign.web.errors import WebError
from lifesign.web.permissions import ACTIONS, require
from lifesign.web.queries.keyset import cut
from lifesign.web.templating import render

router = APIRouter()


def _date(value: str | None, field: str) -> dt.date | None:
    if not value:
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        from lifesign.errors import Location

        raise WebError(
            "not a date", f"{value!r}: use YYYY-MM-DD", Location(field=field), status_code=400
        ) from None


def _int(value: str | None, field: str) -> int | None:
    if not value:
        return None
    if not value.strip().isdigit():
        from lifesign.errors import Location

        raise WebError(
            "not a number", f"{value!r}", Location(field=field), status_code=400
        ) from None
    return int(value)


@router.get("/audit")
def audit_page(
    request: Request,
    principal: Annotated[Principal, Depends(page_user)],
    conn: Annotated[Connection, Depends(connection)],
    user: str | None = None,
    person: str | None = None,
    action: str | None = None,
    since: str | None = None,
    until: str | None = None,
    before: str | None = None,
) -> Response:
    require(principal, "view_audit")
    where = AuditFilter(
        username=user or None,
        person_id=_int(person, "person"),
        action=action or None,
        since=_date(since, "since"),
        until=_date(until, "until"),
    )
    page_size: int = request.app.state.web_config.audit_page_size
    before_id = _int(before, "before")
    # one row more than shown: whether an older page exists is known, not guessed
    read = read_audit(conn, where, limit=page_size + 1, before_id=before_id)
    rows, older = cut(read, [row.audit_id for row in read], page_size)
    # suggestions only (any action name may be typed): a DISTINCT over the whole log would
    # scan millions of rows at a city's scale
    actions = sorted(ACTIONS)
    audit(conn, principal, "view_audit", request=request,
          details={k: v for k, v in {"user": user, "person": person, "action": action,
                   "since": since, "until": until}.items() if v})  # fmt: skip
    return render(
        request, "admin/audit.html",
        {"rows": rows, "actions": actions, "older": older, "paged": before_id is not None,
         "filters": {"user": user or "", "person": person or "", "action": action or "",
                     "since": since or "", "until": until or ""}},
        principal=principal,
    )  # fmt: skip
