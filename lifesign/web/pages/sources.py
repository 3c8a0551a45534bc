"""Pages: the data sources (`/sources`) and one source (`/sources/{source}`): records per day,
last batch, reject rate by reason, the certifications the source carries, the guard's view.
A data manager sees only the sources of their department; another source is a 404."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from lifesign.web.errors import NotFound
from lifesign.web.pages._view import audited_view, labels_of
from lifesign.web.pages._work import Conn, User, catalog_of
from lifesign.web.permissions import require, sources_scope
from lifesign.web.queries.sources import sources_report

router = APIRouter()


@router.get("/sources")
def sources_page(request: Request, principal: User, conn: Conn) -> Response:
    require(principal, "view_sources")
    report = sources_report(conn, catalog_of(request), sources_scope(principal))
    return audited_view(
        request,
        conn,
        principal,
        "pages/sources.html",
        {"report": report, "labels": labels_of(request, principal)},
        action=None,  # counts of records, no person's data
    )


@router.get("/sources/{source}")
def source_page(request: Request, principal: User, conn: Conn, source: str) -> Response:
    require(principal, "view_sources")
    report = sources_report(conn, catalog_of(request), sources_scope(principal), only=source)
    row = report.get(source)
    if row is None:
        raise NotFound("no such source", f"{source} is not a source of yours")
    return audited_view(
        request,
        conn,
        principal,
        "pages/source.html",
        {"report": report, "row": row, "labels": labels_of(request, principal)},
        action=None,
    )
