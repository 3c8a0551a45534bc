"""Pages: the data sources (`/sources`) and one source (`/sources/{source}`): records per day,
last batch, reject rate by reason, the certifications the source carries, the guard's view.
A data manager sees only the sources of their department; another source is a 404."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from sqlalchemy import Connection

from lifesign.catalog import Catalog
from lifesign.web.auth import Principal, page_user
from lifesign.web.db import connection
from lifesign.web.errors import NotFound
from lifesign.web.pages._labels import Labels
from lifesign.web.permissions import require, sources_scope
from lifesign.web.queries.sources import sources_report
from lifesign.web.templating import page_lang, render

router = APIRouter()


@router.get("/sources")
def sources_page(
    request: Request,
    principal: Annotated[Principal, Depends(page_user)],
    conn: Annotated[Connection, Depends(connection)],
) -> Response:
    require(principal, "view_sources")
    catalog: Catalog = request.app.state.catalog
    report = sources_report(conn, catalog, sources_scope(principal))
    return render(
        request,
        "pages/sources.html",
        {"report": report, "labels": Labels(catalog, page_lang(request, principal))},
        principal=principal,
    )


@router.get("/sources/{source}")
def source_page(
    request: Request,
    principal: Annotated[Principal, Depends(page_user)],
    conn: Annotated[Connection, Depends(connection)],
    source: str,
) -> Response:
    require(principal, "view_sources")
    catalog: Catalog = request.app.state.catalog
    report = sources_report(conn, catalog, sources_scope(principal), only=source)
    row = report.get(source)
    if row is None:
        raise NotFound("no such source", f"{source} is not a source of yours")
    return render(
        request,
        "pages/source.html",
        {"report": report, "row": row, "labels": Labels(catalog, page_lang(request, principal))},
        principal=principal,
    )
