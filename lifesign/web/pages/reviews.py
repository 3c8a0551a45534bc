"""Pages: the review queue (`/reviews`) and one review (`/reviews/{id}`), where an officer
resolves a contradiction through `lifesign.certify.reviews.resolve_review` — the function
behind `lifesign review resolve` — with a reason that is kept in the ledger and the audit log.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, Response

from lifesign.certify.reviews import RESOLUTIONS, resolve_review
from lifesign.web.audit import audit
from lifesign.web.auth import Principal
from lifesign.web.errors import NotFound
from lifesign.web.pages._work import (
    CSRF,
    Conn,
    User,
    WorkItem,
    catalog_of,
    choice,
    date_or_none,
    int_or_none,
    render_list,
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
    chosen = choice(status, (*REVIEW_STATUSES, "all"), "open")
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
    return render_list(
        request,
        principal,
        "work/reviews.html",
        page,
        "/reviews",
        {"status": chosen, "kind": kind, "size": size},
        {"status": chosen, "kind": kind or "", "kinds": review_kinds(conn, principal)},
    )


def _review_context(request: Request, principal: Principal, detail: ReviewDetail) -> dict[str, Any]:
    return {
        "review": detail,
        "resolutions": RESOLUTIONS,
        "program_names": catalog_of(request).programs,
        "can_resolve": allowed(principal, "resolve_review") and detail.is_open,
        "done": request.query_params.get("done") == "1",
    }


REVIEW = WorkItem[ReviewDetail](
    noun="review",
    path="/reviews",
    template="work/review.html",
    permission="view_reviews",
    view_action="view_review",
    read=lambda request, conn, principal, review_id: review_detail(
        conn, principal, catalog_of(request), review_id
    ),
    missing=lambda review_id: NotFound(
        "no such review", f"review {review_id} is not known, or not yours to see"
    ),
    context=_review_context,
    person_of=lambda detail: detail.person.person_id,
)


@router.get("/reviews/{review_id}", response_class=HTMLResponse)
def review_page(review_id: int, request: Request, principal: User, conn: Conn) -> Response:
    return REVIEW.view(request, conn, principal, review_id)


@router.post("/reviews/{review_id}/resolve", dependencies=CSRF)
def resolve_page(
    review_id: int,
    request: Request,
    principal: User,
    conn: Conn,
    decision: Annotated[str, Form()] = "",
    reason: Annotated[str, Form()] = "",
    death_date: Annotated[str, Form()] = "",
) -> Response:
    return REVIEW.act(
        request,
        conn,
        principal,
        review_id,
        action="resolve_review",
        form={"decision": decision, "reason": reason, "death_date": death_date},
        run=lambda detail, why: resolve_review(
            conn,
            review_id,
            decision=decision,
            reason=why,
            resolved_by=principal.username,
            on=today(request),
            catalog_version=catalog_of(request).version,
            death_date=date_or_none(death_date),
        ),
        details=lambda detail, decision_id: {
            "resolution": decision,
            "decision_id": decision_id,
            "kind": detail.kind,
        },
        done="1",
    )
