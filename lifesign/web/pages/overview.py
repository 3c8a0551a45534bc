"""Page: the overview (`/`) — recipients, how they are certified, who is due, by region (with
drill-down), program and department, and the silent-certification trend.

Scoped: a program officer sees the persons of their programs; the administrator, auditors and
data managers see the whole city (aggregates only: no person is named on this page). A role
without the overview (a community worker) is sent to its own first page instead.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy import Connection

from lifesign.catalog import Catalog
from lifesign.web.auth import Principal, page_user
from lifesign.web.db import connection
from lifesign.web.errors import NotFound
from lifesign.web.pages._view import labels_of
from lifesign.web.permissions import PROGRAM_OFFICER, allowed, require
from lifesign.web.queries.overview import Scope, overview_if_ready
from lifesign.web.templating import home_path, render

router = APIRouter()

# How often the "counting" page reloads itself (a first count of a big city takes tens of
# seconds; every five seconds shows the figures soon after they are ready).
PENDING_RELOAD_SECONDS = 5


def overview_scope(principal: Principal) -> Scope:
    """Whose figures the principal sees: a program officer's programs; everyone else the city
    (aggregates name nobody, so a data manager may see them too)."""
    if principal.role == PROGRAM_OFFICER:
        return Scope(programs=principal.programs)
    return Scope()


@router.get("/")
def overview_page(
    request: Request,
    principal: Annotated[Principal, Depends(page_user)],
    conn: Annotated[Connection, Depends(connection)],
    region: str | None = None,
) -> Response:
    if not allowed(principal, "view_overview"):
        target = home_path(principal)
        if target != "/":
            return RedirectResponse(target, status_code=303)
    require(principal, "view_overview")
    catalog: Catalog = request.app.state.catalog
    figures = overview_if_ready(conn, catalog, overview_scope(principal))
    if figures is None:  # a big city's first count since the server started
        response = render(request, "pages/overview_pending.html", {}, principal=principal)
        response.headers["Refresh"] = str(PENDING_RELOAD_SECONDS)
        return response
    chosen = None
    if region:
        chosen = catalog.regions.by_code.get(region)
        if chosen is None or chosen.level == "grid":
            raise NotFound("no such region", f"{region} is not a county, township or village")
    breadcrumbs = [] if chosen is None else list(reversed(catalog.regions.ancestors(chosen.code)))
    return render(
        request,
        "pages/overview.html",
        {
            "figures": figures,
            "counts": figures.total if chosen is None else figures.region(chosen.code),
            "region": chosen,
            "breadcrumbs": breadcrumbs,
            "children": figures.children(catalog, None if chosen is None else chosen.code),
            "labels": labels_of(request, principal),
            "scoped_programs": sorted(principal.programs)
            if principal.role == PROGRAM_OFFICER
            else None,
        },
        principal=principal,
    )
