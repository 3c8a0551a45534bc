"""City-wide statistics for departments: the overview's own figures (W3's
lifesign.web.queries.overview, cached per data version), without any person-level data."""

from __future__ import annotations

from fastapi import APIRouter, Request

from lifesign.web.api.calls import LoggedRoute, count_items
from lifesign.web.api.schemas import Count, ProgramStatistics, RegionStatistics, Statistics
from lifesign.web.api.security import Caller, Conn
from lifesign.web.queries.overview import CERTIFICATION_KINDS, Scope, overview

router = APIRouter(route_class=LoggedRoute, tags=["statistics"])


@router.get(
    "/statistics",
    response_model=Statistics,
    summary="Counts by certification channel, status, county and program",
    description="The figures of the web app's overview, as data: recipients, certified (by "
    "channel), not yet certified, suspended, terminated, deceased; per county and per "
    "program. Computed once per data version (a new run, decision or batch) and cached.",
)
def statistics(request: Request, caller: Caller, conn: Conn) -> Statistics:
    caller.require("api_statistics")
    catalog = request.app.state.catalog
    figures = overview(conn, catalog, Scope())
    total = figures.total
    counties = [
        RegionStatistics(
            code=region.code,
            name=region.name,
            recipients=region.counts.recipients,
            certified=region.counts.certified_total,
            silent=region.counts.silent,
            not_yet=region.counts.not_yet,
            suspended=region.counts.suspended,
            terminated=region.counts.terminated,
        )
        for region in figures.children(catalog, None)
    ]
    programs = [
        ProgramStatistics(
            code=p.code,
            name=catalog.programs[p.code].name_zh if p.code in catalog.programs else p.code,
            active=p.active,
            suspended=p.suspended,
            terminated=p.terminated,
            certified=p.certified,
            silent=p.silent,
        )
        for p in figures.programs
    ]
    count_items(request, 1)
    return Statistics(
        as_of=figures.as_of,
        recipients=total.recipients,
        certified=total.certified_total,
        silent_share=total.silent_share,
        by_certification=[Count(key=k, count=total.certified[k]) for k in CERTIFICATION_KINDS],
        by_status=[
            Count(key="suspended", count=total.suspended),
            Count(key="terminated", count=total.terminated),
            Count(key="deceased", count=total.deceased),
        ],
        by_county=counties,
        by_program=programs,
    )
