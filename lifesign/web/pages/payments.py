"""Pages: payment lists (`/payments`: a program of the officer's and a month → counts by
status and the lines, page by page; export CSV/XLSX) and the log of exports (`/exports`).

The export is `lifesign.payments.export.export_payment_list` — the very files of
`lifesign payments list`, written to the `exports` audit table by that function — plus a row
of the web's audit log. Full ID numbers only with `export_full_id` (the paying department of
its own programs); the page itself never shows them.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, Response

from lifesign.errors import LifesignError
from lifesign.payments.export import export_payment_list
from lifesign.payments.lines import month_bounds
from lifesign.web.audit import audit
from lifesign.web.errors import Forbidden, NotFound
from lifesign.web.pages._work import (
    CSRF,
    Conn,
    User,
    audit_committed,
    catalog_of,
    engine_of,
    int_or_none,
    outside_transaction,
    query_link,
    render_list,
)
from lifesign.web.permissions import allowed, require
from lifesign.web.queries.payments import (
    LINE_STATUSES,
    default_month,
    export_log,
    payment_lines,
    payment_preview,
    visible_programs,
)
from lifesign.web.templating import render

router = APIRouter()

MEDIA_TYPES = {
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}


def _valid_month(month: str) -> bool:
    try:
        month_bounds(month)
    except LifesignError:
        return False
    return True


@router.get("/payments", response_class=HTMLResponse)
def payments_page(
    request: Request,
    principal: User,
    conn: Conn,
    program: str = "",
    month: str = "",
    status: str = "",
    page: str | None = None,
    size: str | None = None,
) -> Response:
    require(principal, "view_payments")
    catalog = catalog_of(request)
    programs = visible_programs(principal, catalog)
    if program and program not in programs:
        # another officer's program: as if it did not exist
        raise NotFound("no such payment list", f"the program {program!r} is not yours to see")
    chosen_program = program or (programs[0] if programs else "")
    chosen_month = month if _valid_month(month) else default_month(conn)
    preview = None
    if chosen_program:
        preview = payment_preview(
            engine_of(request),
            catalog,
            chosen_program,
            chosen_month,
            status=status if status in LINE_STATUSES else None,
            page=int_or_none(page) or 1,
            size=int_or_none(size),
        )
        audit(
            conn,
            principal,
            "view_payment_list",
            target=f"payments {chosen_program} {chosen_month}",
            request=request,
            details={
                "program": chosen_program,
                "month": chosen_month,
                "people": [line.person_id for line in preview.lines],
            },
        )
    params = {"program": chosen_program, "month": chosen_month, "status": status, "size": size}
    return render(
        request,
        "work/payments.html",
        {
            "programs": [catalog.programs[code] for code in programs],
            "program": chosen_program,
            "program_rule": catalog.programs.get(chosen_program),
            "month": chosen_month,
            "status": status if status in LINE_STATUSES else "",
            "statuses": LINE_STATUSES,
            "preview": preview,
            "params": params,
            "status_link": lambda s: query_link("/payments", params, status=s, page=None),
            "page_link": lambda n: query_link("/payments", params, page=n),
            "can_export": allowed(principal, "export_payments"),
            "can_full_id": allowed(principal, "export_full_id"),
        },
        principal=principal,
    )


@router.post("/payments/export", dependencies=CSRF)
def export_page(
    request: Request,
    principal: User,
    conn: Conn,
    program: Annotated[str, Form()] = "",
    month: Annotated[str, Form()] = "",
    fmt: Annotated[str, Form(alias="format")] = "xlsx",
    lang: Annotated[str, Form()] = "zh",
    full_id: Annotated[str, Form()] = "",
) -> Response:
    require(principal, "export_payments")
    catalog = catalog_of(request)
    if program not in visible_programs(principal, catalog):
        raise NotFound("no such payment list", f"the program {program!r} is not yours to see")
    if not _valid_month(month):
        month_bounds(month)  # raises the payments package's own error: what, why, where
    chosen_fmt = "csv" if fmt == "csv" else "xlsx"
    chosen_lang = "en" if lang == "en" else "zh"
    with_full_id = full_id in ("1", "on", "true")
    # program officers may export full IDs of their own programs only (the scope is checked
    # above); every other role exports masked IDs
    if with_full_id and not allowed(principal, "export_full_id"):
        raise Forbidden(
            "full ID numbers refused",
            f"the role {principal.role} exports masked ID numbers only",
        )
    engine = engine_of(request)
    lines = payment_lines(engine, catalog, program, month)
    name = f"{program}-{month}{'-full-id' if with_full_id else ''}.{chosen_fmt}"
    with tempfile.TemporaryDirectory(prefix="lifesign-payments-") as folder:
        path = Path(folder) / name
        export_id = outside_transaction(
            conn,
            lambda: export_payment_list(
                engine,
                lines,
                path,
                program=program,
                month=month,
                exported_by=principal.username,
                fmt=chosen_fmt,  # type: ignore[arg-type]
                lang=chosen_lang,  # type: ignore[arg-type]
                full_id=with_full_id,
            ),
        )
        content = path.read_bytes()
    audit_committed(
        request,
        principal,
        "export_payments",
        target=f"payments {program} {month}",
        details={
            "export_id": export_id,
            "program": program,
            "month": month,
            "format": chosen_fmt,
            "lang": chosen_lang,
            "full_id": with_full_id,
            "rows": len(lines),
        },
    )
    return Response(
        content,
        media_type=MEDIA_TYPES[chosen_fmt],
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


@router.get("/exports", response_class=HTMLResponse)
def exports_page(
    request: Request,
    principal: User,
    conn: Conn,
    program: str = "",
    before: str | None = None,
    size: str | None = None,
) -> Response:
    if not (allowed(principal, "view_audit") or allowed(principal, "view_payments")):
        require(principal, "view_audit")  # raises: the message names the action missing
    page = export_log(
        conn,
        principal,
        program=program or None,
        before=int_or_none(before),
        size=int_or_none(size),
    )
    return render_list(
        request,
        principal,
        "work/exports.html",
        page,
        "/exports",
        {"program": program, "size": size},
        {"program_names": catalog_of(request).programs},
    )
