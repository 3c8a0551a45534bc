"""Integrity cases: open one (idempotently), move it through its one transition table.

    case_id = open_case(connection, kind="recovery", rule="death_overpayment", person_id=7,
                        opened_on=date(2026, 3, 2), amount=Decimal("300.00"), enrollment_id=12,
                        evidence=[...], details={...})
    close_case(connection, case_id, to_status="confirmed", officer="王科长",
               reason="repayment order sent", on=date(2026, 3, 9))

Every status change — including the opening — goes through `CASE_TRANSITIONS` and leaves a
`case_events` row. The functions run on the caller's connection and never commit: the caller's
transaction holds the case together with whatever decided it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Literal

from sqlalchemy import Connection, insert, select, update

from lifesign.errors import LifesignError, Location
from lifesign.integrity.models import CASE_KINDS, CASE_STATUSES, Case, CaseEvent

CaseKind = Literal["fraud", "recovery", "excess", "duplicate"]
CaseStatus = Literal["open", "confirmed", "dismissed", "recovered"]

# THE table of case statuses: which status may follow which. Opening is the move from None.
# A confirmed case is one an officer has acted on (repayment order sent, payment stopped);
# 'recovered' closes it when the money is back. A dismissed case was a false signal.
CASE_TRANSITIONS: Mapping[str | None, frozenset[str]] = {
    None: frozenset({"open"}),
    "open": frozenset({"confirmed", "dismissed"}),
    "confirmed": frozenset({"recovered"}),
    "dismissed": frozenset(),
    "recovered": frozenset(),
}


class CaseError(LifesignError):
    """A case operation that cannot be done: unknown case, or a move the table forbids."""


@dataclass(frozen=True)
class CaseRecord:
    """A case as read back (what `cases show` and the web page display)."""

    case_id: int
    kind: str
    rule: str
    person_id: int
    enrollment_id: int | None
    opened_on: dt.date
    status: str
    amount: Decimal | None
    evidence: list[dict[str, Any]]
    details: dict[str, Any] | None
    closing_reason: str | None
    closed_by: str | None
    closed_on: dt.date | None


@dataclass(frozen=True)
class CaseEventRecord:
    case_id: int
    from_status: str | None
    to_status: str
    officer: str | None
    reason: str | None
    on: dt.date


def open_key(kind: str, rule: str, person_id: int, enrollment_id: int | None) -> str:
    """The identity of an open case: at most one open case per kind, rule, person, enrollment."""
    return f"{kind}:{rule}:{person_id}:{'-' if enrollment_id is None else enrollment_id}"


def _check_move(case_id: int | None, from_status: str | None, to_status: str) -> None:
    allowed = CASE_TRANSITIONS.get(from_status)
    if allowed is None or to_status not in allowed:
        where = "a new case" if case_id is None else f"case {case_id}"
        follows = ", ".join(sorted(allowed)) if allowed else "nothing (it is closed)"
        raise CaseError(
            what=f"{where} cannot go from {from_status or 'nothing'} to {to_status}",
            why=f"after {from_status or 'nothing'} may come: {follows}",
            where=Location(key="lifesign.integrity.cases.CASE_TRANSITIONS"),
        )


def _event(
    connection: Connection,
    case_id: int,
    from_status: str | None,
    to_status: str,
    officer: str | None,
    reason: str | None,
    on: dt.date,
) -> None:
    connection.execute(
        insert(CaseEvent).values(
            case_id=case_id,
            from_status=from_status,
            to_status=to_status,
            officer=officer,
            reason=reason,
            on=on,
        )
    )


def _jsonable(value: Any) -> Any:
    """Evidence and details as JSON: dates as ISO text, amounts as decimal text."""
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, (dt.date, dt.datetime)):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    return value


def open_case(
    connection: Connection,
    *,
    kind: CaseKind,
    rule: str,
    person_id: int,
    opened_on: dt.date,
    amount: Decimal | None = None,
    enrollment_id: int | None = None,
    evidence: Iterable[Mapping[str, Any]] = (),
    details: Mapping[str, Any] | None = None,
) -> int | None:
    """Open a case and return its id; None if the same case (kind, rule, person, enrollment)
    is already open — then nothing is written."""
    if kind not in CASE_KINDS:
        raise CaseError(
            what=f"unknown case kind {kind!r}",
            why="a case kind is one of " + ", ".join(CASE_KINDS),
            where=Location(field="kind"),
        )
    key = open_key(kind, rule, person_id, enrollment_id)
    if connection.execute(select(Case.case_id).where(Case.open_key == key)).first() is not None:
        return None
    _check_move(None, None, "open")
    case_id = connection.execute(
        insert(Case)
        .values(
            kind=kind,
            rule=rule,
            person_id=person_id,
            enrollment_id=enrollment_id,
            opened_on=opened_on,
            status="open",
            amount=None if amount is None else Decimal(amount).quantize(Decimal("0.01")),
            evidence=_jsonable(list(evidence)),
            details=None if details is None else _jsonable(dict(details)),
            open_key=key,
        )
        .returning(Case.case_id)
    ).scalar_one()
    _event(connection, case_id, None, "open", None, None, opened_on)
    return int(case_id)


def close_case(
    connection: Connection,
    case_id: int,
    *,
    to_status: CaseStatus,
    officer: str,
    reason: str,
    on: dt.date,
) -> None:
    """Move a case to `to_status` ('confirmed', 'dismissed' or 'recovered') through the
    transition table, keeping who did it, why and when."""
    if to_status not in CASE_STATUSES:
        raise CaseError(
            what=f"unknown case status {to_status!r}",
            why="a case status is one of " + ", ".join(CASE_STATUSES),
            where=Location(field="to_status"),
        )
    if not officer.strip() or not reason.strip():
        raise CaseError(
            what=f"case {case_id} cannot be closed without an officer and a reason",
            why="the reason is kept for the audit",
            where=Location(field="officer" if not officer.strip() else "reason"),
        )
    row = connection.execute(select(Case.status).where(Case.case_id == case_id)).first()
    if row is None:
        raise CaseError(what=f"there is no case {case_id}", where=Location(field="case_id"))
    from_status = str(row.status)
    _check_move(case_id, from_status, to_status)
    done = connection.execute(
        update(Case)
        .where(Case.case_id == case_id, Case.status == from_status)
        .values(
            status=to_status,
            open_key=None,
            closing_reason=reason,
            closed_by=officer,
            closed_on=on,
        )
    )
    if done.rowcount != 1:  # someone else moved it meanwhile
        raise CaseError(
            what=f"case {case_id} changed while it was being closed",
            why="another officer or process moved it first; look at it again",
        )
    _event(connection, case_id, from_status, to_status, officer, reason, on)


def _record(row: Any) -> CaseRecord:
    amount = row.amount
    return CaseRecord(
        case_id=int(row.case_id),
        kind=row.kind,
        rule=row.rule,
        person_id=int(row.person_id),
        enrollment_id=None if row.enrollment_id is None else int(row.enrollment_id),
        opened_on=row.opened_on,
        status=row.status,
        amount=None if amount is None else Decimal(amount).quantize(Decimal("0.01")),
        evidence=list(row.evidence or []),
        details=row.details,
        closing_reason=row.closing_reason,
        closed_by=row.closed_by,
        closed_on=row.closed_on,
    )


def get_case(connection: Connection, case_id: int) -> CaseRecord:
    row = connection.execute(select(Case.__table__).where(Case.case_id == case_id)).first()
    if row is None:
        raise CaseError(what=f"there is no case {case_id}", where=Location(field="case_id"))
    return _record(row)


def list_cases(
    connection: Connection,
    *,
    kind: str | None = None,
    status: str | None = None,
    rule: str | None = None,
    person_id: int | None = None,
    limit: int | None = None,
) -> list[CaseRecord]:
    """Cases, newest first, filtered by kind, status, rule and person."""
    query = select(Case.__table__)
    if kind is not None:
        query = query.where(Case.kind == kind)
    if status is not None:
        query = query.where(Case.status == status)
    if rule is not None:
        query = query.where(Case.rule == rule)
    if person_id is not None:
        query = query.where(Case.person_id == person_id)
    query = query.order_by(Case.case_id.desc())
    if limit is not None:
        query = query.limit(limit)
    return [_record(row) for row in connection.execute(query)]


def case_events(connection: Connection, case_id: int) -> list[CaseEventRecord]:
    """The trail of one case, oldest first."""
    rows = connection.execute(
        select(CaseEvent.__table__).where(CaseEvent.case_id == case_id).order_by(CaseEvent.event_id)
    )
    return [
        CaseEventRecord(
            case_id=int(r.case_id),
            from_status=r.from_status,
            to_status=r.to_status,
            officer=r.officer,
            reason=r.reason,
            on=r.on,
        )
        for r in rows
    ]
