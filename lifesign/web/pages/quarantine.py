"""Pages: the quarantine browser (`/quarantine`, `/quarantine/{id}`) for the data managers of
their sources (admins and auditors: every source).

The actions are the functions behind `lifesign quarantine export / retry / dismiss`
(lifesign.ingest.quarantine):

- *dismiss* one entry, with a reason;
- *check again* one entry: its record, as the department sent it, is re-ingested as a batch of
  kind `retry` (useful once the person is registered, or the source definition is fixed);
- *export for correction*: the open entries of a source with their full values, as the CSV
  the department corrects — the one place full values leave the platform, so it is audited and
  recorded in the `exports` table like a payment list;
- *re-ingest a corrected file*: that CSV, corrected, uploaded.
"""

from __future__ import annotations

import csv
import json
import tempfile
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request, UploadFile
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import insert

from lifesign.errors import LifesignError
from lifesign.ingest import quarantine as q
from lifesign.ingest.pipeline import Ingestor
from lifesign.integrity.models import Export
from lifesign.web.audit import audit
from lifesign.web.auth import Principal
from lifesign.web.errors import Forbidden, NotFound
from lifesign.web.pages._work import (
    CSRF,
    Conn,
    User,
    WorkItem,
    audit_committed,
    catalog_of,
    choice,
    date_or_none,
    engine_of,
    int_or_none,
    outside_transaction,
    query_link,
    render_list,
    settings_of,
    source_names,
    sources_of,
)
from lifesign.web.permissions import allowed, require, sources_scope
from lifesign.web.queries.quarantine import (
    QUARANTINE_STATUSES,
    QuarantineFilter,
    ShownEntry,
    quarantine_counts,
    quarantine_entry,
    quarantine_list,
    quarantine_reasons,
    visible_sources,
)

router = APIRouter()


@router.get("/quarantine", response_class=HTMLResponse)
def quarantine_list_page(
    request: Request,
    principal: User,
    conn: Conn,
    source: str = "",
    reason: str = "",
    status: str = "open",
    batch: str = "",
    since: str = "",
    until: str = "",
    before: str | None = None,
    size: str | None = None,
) -> Response:
    require(principal, "view_quarantine")
    sources = visible_sources(principal, sources_of(request))
    chosen_status = choice(status, (*QUARANTINE_STATUSES, "all"), "open")
    wanted = QuarantineFilter(
        source=source if source in sources else None,
        reason=reason or None,
        status=None if chosen_status == "all" else chosen_status,
        batch_id=int_or_none(batch),
        since=date_or_none(since),
        until=date_or_none(until),
    )
    page = quarantine_list(
        conn, principal, wanted, before=int_or_none(before), size=int_or_none(size)
    )
    counts = quarantine_counts(conn, principal, status="open")
    params = {
        "source": wanted.source,
        "reason": reason,
        "status": chosen_status,
        "batch": batch,
        "since": since,
        "until": until,
        "size": size,
    }
    return render_list(
        request,
        principal,
        "work/quarantine.html",
        page,
        "/quarantine",
        params,
        {
            "sources": sources,
            "source_names": source_names(request),
            "reasons": quarantine_reasons(counts),
            "statuses": QUARANTINE_STATUSES,
            "counts": counts,
            "filter": wanted,
            "can_manage": allowed(principal, "manage_quarantine"),
            "flash": request.query_params.get("flash") or "",
        },
    )


def _entry_context(request: Request, principal: Principal, entry: ShownEntry) -> dict[str, Any]:
    return {
        "entry": entry,
        "source_names": source_names(request),
        "can_manage": allowed(principal, "manage_quarantine") and entry.is_open,
        "flash": request.query_params.get("flash") or "",
    }


ENTRY = WorkItem[ShownEntry](
    noun="quarantine",
    path="/quarantine",
    template="work/quarantine_entry.html",
    permission="view_quarantine",
    view_action="view_quarantine_entry",
    read=lambda request, conn, principal, quarantine_id: quarantine_entry(
        conn, principal, sources_of(request), quarantine_id
    ),
    missing=lambda quarantine_id: NotFound(
        "no such quarantine entry",
        f"entry {quarantine_id} is not known, or not of your sources",
    ),
    context=_entry_context,
    view_details=lambda entry: {"source": entry.source},
)


@router.get("/quarantine/{quarantine_id}", response_class=HTMLResponse)
def quarantine_entry_page(
    quarantine_id: int, request: Request, principal: User, conn: Conn
) -> Response:
    return ENTRY.view(request, conn, principal, quarantine_id)


@router.post("/quarantine/{quarantine_id}/dismiss", dependencies=CSRF)
def dismiss_page(
    quarantine_id: int,
    request: Request,
    principal: User,
    conn: Conn,
    reason: Annotated[str, Form()] = "",
) -> Response:
    require(principal, "manage_quarantine")
    entry = ENTRY.load(request, conn, principal, quarantine_id)
    if not reason.strip():
        error = q.QuarantineError(
            "closing an entry needs a reason", "the reason is kept with the entry"
        )
        return ENTRY.show(request, principal, entry, error=error, status_code=400)
    engine = engine_of(request)
    try:
        outside_transaction(conn, lambda: q.dismiss(engine, quarantine_id, reason.strip()))
    except LifesignError as error:
        return ENTRY.show(request, principal, entry, error=error, status_code=400)
    audit_committed(
        request,
        principal,
        "dismiss_quarantine",
        target=f"quarantine:{quarantine_id}",
        reason=reason.strip(),
        details={"source": entry.source, "reason_code": entry.reason},
    )
    return RedirectResponse(f"/quarantine/{quarantine_id}?flash=dismissed", status_code=303)


def _ingestor(request: Request) -> Ingestor:
    return Ingestor(
        settings_of(request), catalog_of(request), sources_of(request), engine=engine_of(request)
    )


def _write_one(entry_raw: str | None, quarantine_id: int, path: Path) -> bool:
    """The entry's record as the CSV `lifesign quarantine export` would write for it alone."""
    try:
        record = json.loads(entry_raw) if entry_raw else None
    except json.JSONDecodeError:
        record = None
    if not isinstance(record, dict):
        return False
    columns = [c for c in record if c != q.QUARANTINE_ID]
    with path.open("w", encoding="utf-8-sig", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow([*columns, q.QUARANTINE_ID])
        writer.writerow([_cell(record.get(c)) for c in columns] + [str(quarantine_id)])
    return True


def _cell(value: Any) -> str:
    if value is None:
        return ""
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


def _retry_report(result: q.RetryReport) -> dict[str, int]:
    return {
        "batch_id": int(result.batch.batch_id) if result.batch.batch_id is not None else 0,
        "resolved": result.resolved,
        "still_open": result.still_open,
        "skipped": result.skipped,
        # the same content was re-ingested before: exactly once, nothing done this time
        "already": int(result.batch.already_ingested),
    }


@router.post("/quarantine/{quarantine_id}/retry", dependencies=CSRF)
def retry_one_page(
    quarantine_id: int,
    request: Request,
    principal: User,
    conn: Conn,
) -> Response:
    require(principal, "manage_quarantine")
    entry = ENTRY.load(request, conn, principal, quarantine_id)
    if not entry.is_open:
        error = q.QuarantineError(
            f"quarantine entry {quarantine_id} is {entry.status}, not open",
            "only open entries can be checked again",
        )
        return ENTRY.show(request, principal, entry, error=error, status_code=400)
    raw = q.get_entry(engine_of(request), quarantine_id).raw_record
    with tempfile.TemporaryDirectory(prefix="lifesign-retry-") as folder:
        path = Path(folder) / f"quarantine-{quarantine_id}.csv"
        if not _write_one(raw, quarantine_id, path):
            error = q.QuarantineError(
                "the record cannot be read again",
                "its row could not be read at all: ask the department to send it again",
            )
            return ENTRY.show(request, principal, entry, error=error, status_code=400)
        try:
            result = outside_transaction(
                conn,
                lambda: q.retry(
                    _ingestor(request), path, sources_of(request), source_code=entry.source
                ),
            )
        except LifesignError as error:
            return ENTRY.show(request, principal, entry, error=error, status_code=400)
    report = _retry_report(result)
    audit_committed(
        request,
        principal,
        "retry_quarantine",
        target=f"quarantine:{quarantine_id}",
        details={"source": entry.source, **report},
    )
    flash = "resolved" if report["resolved"] else "still_open"
    if report["already"]:
        flash = "unchanged"
    return RedirectResponse(f"/quarantine/{quarantine_id}?flash={flash}", status_code=303)


def _check_source(principal: Principal, request: Request, source: str) -> None:
    scope = sources_scope(principal)
    if source not in sources_of(request) or (scope is not None and source not in scope):
        raise Forbidden("not your source", f"the source {source!r} is not one of yours")


@router.post("/quarantine/retry", dependencies=CSRF)
def retry_file_page(
    request: Request,
    principal: User,
    conn: Conn,
    file: UploadFile,
    source: Annotated[str, Form()] = "",
) -> Response:
    require(principal, "manage_quarantine")
    _check_source(principal, request, source)
    with tempfile.TemporaryDirectory(prefix="lifesign-retry-") as folder:
        name = Path(file.filename or "corrected.csv").name
        path = Path(folder) / name
        path.write_bytes(file.file.read())
        result = outside_transaction(
            conn,
            lambda: q.retry(_ingestor(request), path, sources_of(request), source_code=source),
        )
    report = _retry_report(result)
    audit_committed(
        request,
        principal,
        "retry_quarantine_file",
        target=f"quarantine source={source}",
        details={"source": source, "file": name, **report},
    )
    flash = "retried:{resolved}:{still_open}:{skipped}".format(**report)
    if report["already"]:
        flash = f"already:{report['batch_id']}"
    return RedirectResponse(
        query_link("/quarantine", {"source": source, "flash": flash}), status_code=303
    )


@router.post("/quarantine/export", dependencies=CSRF)
def export_page(
    request: Request,
    principal: User,
    conn: Conn,
    source: Annotated[str, Form()] = "",
    reason: Annotated[str, Form()] = "",
) -> Response:
    require(principal, "manage_quarantine")
    _check_source(principal, request, source)
    engine = engine_of(request)
    with tempfile.TemporaryDirectory(prefix="lifesign-export-") as folder:
        name = f"quarantine-{source}.csv"
        path = Path(folder) / name
        written, skipped = outside_transaction(
            conn, lambda: q.export(engine, source, path, reason=reason or None)
        )
        content = path.read_bytes()
    with engine.begin() as audit_conn:
        audit_conn.execute(
            insert(Export).values(
                kind="quarantine",
                program=None,
                period=None,
                full_id=True,  # the department's own records, in full, to be corrected
                rows=written,
                file_name=name,
                exported_by=principal.username,
            )
        )
        audit(
            audit_conn,
            principal,
            "export_quarantine",
            target=f"quarantine source={source}",
            request=request,
            details={"source": source, "rows": written, "skipped": skipped, "full_values": True},
        )
    return Response(
        content,
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )
