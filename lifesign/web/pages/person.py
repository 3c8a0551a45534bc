"""Pages: find a person (`/people?q=`: an ID number, normalised, or a name — within the
principal's scope) and a person's page (`/people/{person_id}`): status per benefit, the
evidence timeline (type, source, date), decisions with their explanation, messages, payments.

Every search and every view of a person's page writes an audit row. The ID number is masked
unless the role may see it in full (`view_full_id`), the phone always. A person out of scope
is a 404, never a 403: the page does not reveal that the person exists.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from lifesign.errors import LifesignError
from lifesign.registry.ids import InvalidIdNumber, mask_id_number, normalize_id_number
from lifesign.web.errors import NotFound
from lifesign.web.pages._view import audited_view, labels_of
from lifesign.web.pages._work import Conn, User
from lifesign.web.permissions import allowed, people_scope, require, require_person
from lifesign.web.queries.common import data_date
from lifesign.web.queries.lake import person_evidence
from lifesign.web.queries.parameters import page_parameters
from lifesign.web.queries.person import looks_like_id_number, person_page, search_people
from lifesign.web.security import CONTENT_SECURITY_POLICY

router = APIRouter()


def _safe_query(text: str) -> str:
    """What the audit log keeps of a search: an ID number masked, a name as typed."""
    if looks_like_id_number(text):
        try:
            return mask_id_number(normalize_id_number(text))
        except (InvalidIdNumber, LifesignError):
            return mask_id_number(text.strip())
    return text.strip()[:64]


@router.get("/people")
def people_search(request: Request, principal: User, conn: Conn, q: str = "") -> Response:
    require(principal, "search_people")
    result = search_people(conn, people_scope(principal), q)
    return audited_view(
        request,
        conn,
        principal,
        "pages/people.html",
        {
            "result": result,
            "q": q,
            "labels": labels_of(request, principal),
            "full_id": allowed(principal, "view_full_id"),
        },
        action="search_people" if q.strip() else None,  # an empty search shows no one
        target=f"q={_safe_query(q)}",
        details={"by": result.by, "person_ids": [f.person_id for f in result.found]},
    )


@router.get("/people/{person_id}")
def person_view(request: Request, principal: User, conn: Conn, person_id: int) -> Response:
    require(principal, "view_person")
    require_person(conn, principal, person_id)
    found = person_page(conn, request.app.state.settings, person_id, timeline=False)
    if found is None:
        raise NotFound("no such person", f"person {person_id} is not known")
    return audited_view(
        request,
        conn,
        principal,
        "pages/person.html",
        {
            "person": found,
            "as_of": data_date(conn),
            "labels": labels_of(request, principal),
            "full_id": allowed(principal, "view_full_id"),
            "may_visit": allowed(principal, "record_visit"),
            "outcomes": ("seen_alive", "deceased", "moved_away", "not_found"),
            "visit": request.query_params.get("visit"),
        },
        action="view_person",
        person_id=person_id,
    )


@router.get("/people/{person_id}/evidence")
def person_evidence_frame(
    request: Request, principal: User, conn: Conn, person_id: int
) -> Response:
    """The evidence timeline of a person, read from the lake: shown in a frame of the person's
    page, so that the page itself never waits for the lake."""
    require(principal, "view_person")
    require_person(conn, principal, person_id)
    limit = page_parameters().person.timeline_limit
    records = person_evidence(request.app.state.settings, person_id, limit + 1)
    response = audited_view(
        request,
        conn,
        principal,
        "pages/evidence_frame.html",
        {
            "records": records[:limit],
            "truncated": len(records) > limit,
            "labels": labels_of(request, principal),
        },
        action="view_person_evidence",
        person_id=person_id,
    )
    # the one answer framed, and only by this site's own person page
    response.headers["X-Frame-Options"] = "SAMEORIGIN"
    response.headers["Content-Security-Policy"] = CONTENT_SECURITY_POLICY.replace(
        "frame-ancestors 'none'", "frame-ancestors 'self'"
    )
    return response
