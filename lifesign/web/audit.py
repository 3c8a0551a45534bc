"""The audit log: every view of a person's data, every export, every action on a person.

One row per event: who (user or API token, and role), what (the action and its target), when,
why (the reason given, or the page that showed the data), from where (the client address).
Rows are written in the request's own transaction, so a view that fails leaves no row of data
that was never shown. Never a full ID number, phone or password in `target` or `details`.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from fastapi import Request
from sqlalchemy import Connection, insert, select

from lifesign.web.auth import Principal, as_utc, client_of, now_of, utc_now
from lifesign.web.models import AuditEntry


def audit(
    connection: Connection,
    principal: Principal,
    action: str,
    *,
    person_id: int | None = None,
    target: str | None = None,
    reason: str | None = None,
    request: Request | None = None,
    details: dict[str, Any] | None = None,
) -> None:
    """Write one row of the audit log."""
    if reason is None and request is not None:
        reason = f"{request.method} {request.url.path}"
    connection.execute(
        insert(AuditEntry).values(
            at=now_of(request) if request is not None else utc_now(),
            user_id=principal.user_id,
            username=principal.username,
            role=principal.role,
            action=action,
            person_id=person_id,
            target=target[:256] if target else None,
            reason=reason,
            client=client_of(request) if request is not None else None,
            details=details,
        )
    )


@dataclass(frozen=True)
class AuditRow:
    audit_id: int
    at: dt.datetime
    username: str
    role: str
    action: str
    person_id: int | None
    target: str | None
    reason: str | None
    client: str | None
    details: dict[str, Any] | None


@dataclass(frozen=True)
class AuditFilter:
    username: str | None = None
    person_id: int | None = None
    action: str | None = None
    since: dt.date | None = None  # inclusive
    until: dt.date | None = None  # inclusive


def read_audit(
    connection: Connection,
    where: AuditFilter,
    *,
    limit: int,
    before_id: int | None = None,
) -> list[AuditRow]:
    """The newest rows matching the filter, newest first; `before_id` pages backwards."""
    query = select(AuditEntry).order_by(AuditEntry.audit_id.desc()).limit(limit)
    if where.username:
        query = query.where(AuditEntry.username == where.username)
    if where.person_id is not None:
        query = query.where(AuditEntry.person_id == where.person_id)
    if where.action:
        query = query.where(AuditEntry.action == where.action)
    if where.since:
        start = dt.datetime.combine(where.since, dt.time(), dt.UTC)
        query = query.where(AuditEntry.at >= start)
    if where.until:
        end = dt.datetime.combine(where.until + dt.timedelta(days=1), dt.time(), dt.UTC)
        query = query.where(AuditEntry.at < end)
    if before_id is not None:
        query = query.where(AuditEntry.audit_id < before_id)
    rows = connection.execute(query).all()
    return [
        AuditRow(
            audit_id=r.audit_id,
            at=as_utc(r.at),
            username=r.username,
            role=r.role,
            action=r.action,
            person_id=r.person_id,
            target=r.target,
            reason=r.reason,
            client=r.client,
            details=r.details,
        )
        for r in rows
    ]
