"""Pages: the review queue (`/reviews`) and one review (`/reviews/{id}`), where an officer
resolves a contradiction through `lifesign.certify.reviews.resolve_review` — the function
behind `lifesign review resolve` — with a reason that is kept in the ledger and the audit log.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import Connection

from lifesign.certify.reviews import RESOLUTIONS, resolve_review
from lifesign.errors import LifesignError
from lifesign.web.audit import audit
from lifesign.web.auth import Principal, require_csrf
from lifesign.web.errors import NotFound
from lifesign.web.pages._work import (
    Conn,
    User,
    catalog_of,
    date_or_none,
    int_or_none,
    query_link,
    today,
)
from lifesign.web.permissions import allowed, require
from lifesign.web.queries.reviews import (
    REVIEW_STATUSES,
    ReviewDetail,
    review_detail,
    review_kinds,
    review_queue,
)
from lifesign.web.templating import render

router = APIRouter()


@router.get("/reviews", response_class=HTMLResponse)
def review_list_page(
    request: Request,
    principal: User,
    conn: Conn,
    status: str = "open",
    kind: str | None = None,
    before: str | None = None,
    size: str | None = None,
) -> Response:
    require(principal, "view_reviews")
    chosen = status if status in (*REVIEW_STATUSES, "all") else "open"
    page = review_queue(
        conn,
        principal,
        status=None if chosen == "all" else chosen,
        kind=kind or None,
        before=int_or_none(before),
        size=int_or_none(size),
    )
    # the list shows names and masked ID numbers: one audit row per page, naming its people
    audit(
        conn,
        principal,
        "view_reviews",
        target=f"reviews status={chosen} kind={kind or ''}",
        request=request,
        details={"people": [row.person_id for row in page.rows]},
    )
    params = {"status": chosen, "kind": kind, "size": size}
    return render(
        request,
        "work/reviews.html",
        {
            "page": page,
            "status": chosen,
            "kind": kind or "",
            "kinds": review_kinds(conn, principal),
            "params": params,
            "next_link": (
                query_link("/reviews", params, before=page.next_before)
                if page.next_before
                else None
            ),
            "first_link": query_link("/reviews", params) if page.before else None,
        },
        principal=principal,
    )


def _detail_or_404(
    request: Request, conn: Connection, principal: Principal, review_id: int
) -> ReviewDetail:
    detail = review_detail(conn, principal, catalog_of(request), review_id)
    if detail is None:
        raise NotFound("no such review", f"review {review_id} is not known, or not yours to see")
    return detail


def _render_detail(
    request: Request,
    principal: Principal,
    detail: ReviewDetail,
    *,
    error: LifesignError | None = None,
    form: dict[str, Any] | None = None,
    status_code: int = 200,
) -> Response:
    return render(
        request,
        "work/review.html",
        {
            "review": detail,
            "resolutions": RESOLUTIONS,
            "program_names": catalog_of(request).programs,
            "can_resolve": allowed(principal, "resolve_review") and detail.is_open,
            "error": error,
            "form": form or {},
            "done": request.query_params.get("done") == "1",
        },
        principal=principal,
        status_code=status_code,
    )


@router.get("/reviews/{review_id}", response_class=HTMLResponse)
def review_page(
    review_id: int,
    request: Request,
    principal: User,
    conn: Conn,
) -> Response:
    require(principal, "view_reviews")
    detail = _detail_or_404(request, conn, principal, review_id)
    audit(
        conn,
        principal,
        "view_review",
        person_id=detail.person.person_id,
        target=f"review:{review_id}",
        request=request,
    )
    return _render_detail(request, principal, detail)


@router.post("/reviews/{review_id}/resolve", dependencies=[Depends(require_csrf)])
def resolve_page(
    review_id: int,
    request: Request,
    principal: User,
    conn: Conn,
    decision: Annotated[str, Form()] = "",
    reason: Annotated[str, Form()] = "",
    death_date: Annotated[str, Form()] = "",
) -> Response:
    require(principal, "resolve_review")
    detail = _detail_or_404(request, conn, principal, review_id)
    catalog = catalog_of(request)
    try:
        # a savepoint: a resolution refused half-way leaves nothing behind
        with conn.begin_nested():
            decision_id = resolve_review(
                conn,
                review_id,
                decision=decision,
                reason=reason.strip(),
                resolved_by=principal.username,
                on=today(request),
                catalog_version=catalog.version,
                death_date=date_or_none(death_date),
            )
    except LifesignError as error:
        form = {"decision": decision, "reason": reason, "death_date": death_date}
        return _render_detail(request, principal, detail, error=error, form=form, status_code=400)
    audit(
        conn,
        principal,
        "resolve_review",
        person_id=detail.person.person_id,
        target=f"review:{review_id}",
        reason=reason.strip(),
        request=request,
        details={"resolution": decision, "decision_id": decision_id, "kind": detail.kind},
    )
    return RedirectResponse(f"/reviews/{review_id}?done=1", status_code=303)
