"""Pages: integrity cases (`/cases?kind=fraud|recovery|excess|duplicate&status=…`) and one
case (`/cases/{id}`), where an officer confirms, dismisses or marks it recovered through
`lifesign.integrity.cases.close_case` — the one transition table — with the reason kept in
`case_events` and the audit log.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, Response

from lifesign.integrity.cases import close_case
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
    int_or_none,
    query_link,
    render_list,
    today,
)
from lifesign.web.permissions import allowed, programs_scope, require
from lifesign.web.queries.cases import (
    CASE_KINDS,
    CASE_STATUSES,
    CaseDetail,
    case_detail,
    case_list,
    case_tally,
)

router = APIRouter()


@router.get("/cases", response_class=HTMLResponse)
def case_list_page(
    request: Request,
    principal: User,
    conn: Conn,
    kind: str = "",
    status: str = "open",
    rule: str = "",
    program: str = "",
    before: str | None = None,
    size: str | None = None,
) -> Response:
    require(principal, "view_cases")
    chosen_kind = choice(kind, CASE_KINDS, "")
    chosen_status = choice(status, (*CASE_STATUSES, "all"), "open")
    catalog = catalog_of(request)
    scope = programs_scope(principal)
    programs = [code for code in catalog.programs if scope is None or code in scope]
    chosen_program = choice(program, programs, "")
    tally = case_tally(conn, principal)
    page = case_list(
        conn,
        principal,
        tally=tally,
        kind=chosen_kind or None,
        status=None if chosen_status == "all" else chosen_status,
        rule=rule or None,
        program=chosen_program or None,
        before=int_or_none(before),
        size=int_or_none(size),
    )
    audit(
        conn,
        principal,
        "view_cases",
        target=f"cases kind={chosen_kind} status={chosen_status}",
        request=request,
        details={"people": sorted({row.person_id for row in page.rows})},
    )
    params = {
        "kind": chosen_kind,
        "status": chosen_status,
        "rule": rule,
        "program": chosen_program,
        "size": size,
    }
    return render_list(
        request,
        principal,
        "work/cases.html",
        page,
        "/cases",
        params,
        {
            "kinds": CASE_KINDS,
            "statuses": CASE_STATUSES,
            "kind": chosen_kind,
            "status": chosen_status,
            "rule": rule,
            "rules": tally.rules,
            "program": chosen_program,
            "programs": [catalog.programs[code] for code in programs],
            "program_names": {code: catalog.programs[code] for code in catalog.programs},
            "open_by_kind": {k: tally.of(kind=k, status="open") for k in CASE_KINDS},
            "kind_link": lambda k: query_link("/cases", params, kind=k, before=None),
        },
    )


def _case_context(request: Request, principal: Principal, detail: CaseDetail) -> dict[str, Any]:
    return {
        "detail": detail,
        "case": detail.case,
        "can_close": allowed(principal, "close_case") and bool(detail.moves),
        "program_names": catalog_of(request).programs,
        "done": request.query_params.get("done") or "",
    }


CASE = WorkItem[CaseDetail](
    noun="case",
    path="/cases",
    template="work/case.html",
    permission="view_cases",
    view_action="view_case",
    read=lambda request, conn, principal, case_id: case_detail(
        conn, principal, catalog_of(request), case_id
    ),
    missing=lambda case_id: NotFound(
        "no such case", f"case {case_id} is not known, or not yours to see"
    ),
    context=_case_context,
    person_of=lambda detail: detail.case.person_id,
)


@router.get("/cases/{case_id}", response_class=HTMLResponse)
def case_page(case_id: int, request: Request, principal: User, conn: Conn) -> Response:
    return CASE.view(request, conn, principal, case_id)


@router.post("/cases/{case_id}/close", dependencies=CSRF)
def close_page(
    case_id: int,
    request: Request,
    principal: User,
    conn: Conn,
    move: Annotated[str, Form()] = "",
    reason: Annotated[str, Form()] = "",
) -> Response:
    return CASE.act(
        request,
        conn,
        principal,
        case_id,
        action="close_case",
        form={"move": move, "reason": reason},
        run=lambda detail, why: close_case(
            conn,
            case_id,
            to_status=move,  # type: ignore[arg-type]  # close_case checks it against the table
            officer=principal.username,
            reason=why,
            on=today(request),
        ),
        details=lambda detail, _: {
            "from": detail.case.status,
            "to": move,
            "kind": detail.case.kind,
        },
        done=move,
    )
