"""Pages: integrity cases (`/cases?kind=fraud|recovery|excess|duplicate&status=…`) and one
case (`/cases/{id}`), where an officer confirms, dismisses or marks it recovered through
`lifesign.integrity.cases.close_case` — the one transition table — with the reason kept in
`case_events` and the audit log.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import Connection

from lifesign.errors import LifesignError
from lifesign.integrity.cases import close_case
from lifesign.web.audit import audit
from lifesign.web.auth import Principal, require_csrf
from lifesign.web.errors import NotFound
from lifesign.web.pages._work import Conn, User, catalog_of, int_or_none, query_link, today
from lifesign.web.permissions import allowed, programs_scope, require
from lifesign.web.queries.cases import (
    CASE_KINDS,
    CASE_STATUSES,
    CaseDetail,
    case_detail,
    case_list,
    case_tally,
)
from lifesign.web.templating import render

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
    chosen_kind = kind if kind in CASE_KINDS else ""
    chosen_status = status if status in (*CASE_STATUSES, "all") else "open"
    catalog = catalog_of(request)
    scope = programs_scope(principal)
    programs = [code for code in catalog.programs if scope is None or code in scope]
    chosen_program = program if program in programs else ""
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
    return render(
        request,
        "work/cases.html",
        {
            "page": page,
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
            "params": params,
            "kind_link": lambda k: query_link("/cases", params, kind=k, before=None),
            "next_link": (
                query_link("/cases", params, before=page.next_before) if page.next_before else None
            ),
            "first_link": query_link("/cases", params) if page.before else None,
        },
        principal=principal,
    )


def _detail_or_404(
    request: Request, conn: Connection, principal: Principal, case_id: int
) -> CaseDetail:
    detail = case_detail(conn, principal, catalog_of(request), case_id)
    if detail is None:
        raise NotFound("no such case", f"case {case_id} is not known, or not yours to see")
    return detail


def _render_detail(
    request: Request,
    principal: Principal,
    detail: CaseDetail,
    *,
    error: LifesignError | None = None,
    form: dict[str, Any] | None = None,
    status_code: int = 200,
) -> Response:
    catalog = catalog_of(request)
    return render(
        request,
        "work/case.html",
        {
            "detail": detail,
            "case": detail.case,
            "can_close": allowed(principal, "close_case") and bool(detail.moves),
            "program_names": catalog.programs,
            "error": error,
            "form": form or {},
            "done": request.query_params.get("done") or "",
        },
        principal=principal,
        status_code=status_code,
    )


@router.get("/cases/{case_id}", response_class=HTMLResponse)
def case_page(
    case_id: int,
    request: Request,
    principal: User,
    conn: Conn,
) -> Response:
    require(principal, "view_cases")
    detail = _detail_or_404(request, conn, principal, case_id)
    audit(
        conn,
        principal,
        "view_case",
        person_id=detail.case.person_id,
        target=f"case:{case_id}",
        request=request,
    )
    return _render_detail(request, principal, detail)


@router.post("/cases/{case_id}/close", dependencies=[Depends(require_csrf)])
def close_page(
    case_id: int,
    request: Request,
    principal: User,
    conn: Conn,
    move: Annotated[str, Form()] = "",
    reason: Annotated[str, Form()] = "",
) -> Response:
    require(principal, "close_case")
    detail = _detail_or_404(request, conn, principal, case_id)
    try:
        with conn.begin_nested():  # a refused move leaves nothing behind
            close_case(
                conn,
                case_id,
                to_status=move,  # type: ignore[arg-type]  # close_case checks it against the table
                officer=principal.username,
                reason=reason.strip(),
                on=today(request),
            )
    except LifesignError as error:
        return _render_detail(
            request,
            principal,
            detail,
            error=error,
            form={"move": move, "reason": reason},
            status_code=400,
        )
    audit(
        conn,
        principal,
        "close_case",
        person_id=detail.case.person_id,
        target=f"case:{case_id}",
        reason=reason.strip(),
        request=request,
        details={"from": detail.case.status, "to": move, "kind": detail.case.kind},
    )
    return RedirectResponse(f"/cases/{case_id}?done={move}", status_code=303)
