"""State tables of lifesign.integrity (declared on the shared Base; created by migration 0006).

- `cases`: one integrity case — a fraud signal (冒领), an overpayment to recover (追回), an
  excess claim (多领) or a duplicate claim (重领) — with its evidence and how it was closed.
- `case_events`: every status change of a case (the trail an auditor reads), written only by
  `lifesign.integrity.cases`, through its one transition table.
- `exports`: who exported which payment list, and whether with full ID numbers (the audit of
  personal data leaving the platform).
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    Numeric,
    String,
    Text,
    func,
)
from sqlalchemy.orm import Mapped, mapped_column

from lifesign.store.models import Base, BigId

CASE_KINDS = ("fraud", "recovery", "excess", "duplicate")
CASE_STATUSES = ("open", "confirmed", "dismissed", "recovered")


class Case(Base):
    """One integrity case of one person (and, when it is about one benefit, one enrollment).

    `open_key` is "kind:rule:person:enrollment" while the case is open and NULL once closed: a
    unique column, so that two scans running at once cannot open the same case twice.
    """

    __tablename__ = "cases"

    case_id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(String(16))
    rule: Mapped[str] = mapped_column(String(64))
    person_id: Mapped[int] = mapped_column(ForeignKey("people.person_id"), index=True)
    enrollment_id: Mapped[int | None] = mapped_column(ForeignKey("enrollments.enrollment_id"))
    opened_on: Mapped[dt.date] = mapped_column(Date)
    status: Mapped[str] = mapped_column(String(16), default="open")
    amount: Mapped[Decimal | None] = mapped_column(Numeric(12, 2, asdecimal=True))
    evidence: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    details: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    open_key: Mapped[str | None] = mapped_column(String(160), unique=True)
    closing_reason: Mapped[str | None] = mapped_column(Text)
    closed_by: Mapped[str | None] = mapped_column(String(128))
    closed_on: Mapped[dt.date | None] = mapped_column(Date)
    created_at: Mapped[dt.datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )

    __table_args__ = (
        CheckConstraint(f"kind IN {CASE_KINDS!r}", name="kind"),
        CheckConstraint(f"status IN {CASE_STATUSES!r}", name="status"),
        Index(None, "status", "kind", "rule"),
        # The case list: one status, newest first, a page at a time (0010).
        Index(None, "status", "case_id"),
    )


class CaseEvent(Base):
    """One status change of a case: from (NULL when opened), to, by whom, why, on which day."""

    __tablename__ = "case_events"

    event_id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.case_id"), index=True)
    from_status: Mapped[str | None] = mapped_column(String(16))
    to_status: Mapped[str] = mapped_column(String(16))
    officer: Mapped[str | None] = mapped_column(String(128))
    reason: Mapped[str | None] = mapped_column(Text)
    on: Mapped[dt.date] = mapped_column(Date)
    created_at: Mapped[dt.datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )


class Export(Base):
    """One export of personal data (a payment list): what, by whom, with full ID numbers or not."""

    __tablename__ = "exports"

    export_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(String(32))  # payment_list
    program: Mapped[str | None] = mapped_column(String(64))
    period: Mapped[str | None] = mapped_column(String(7))
    full_id: Mapped[bool] = mapped_column(Boolean)
    rows: Mapped[int] = mapped_column(Integer)
    file_name: Mapped[str | None] = mapped_column(String(512))
    exported_by: Mapped[str] = mapped_column(String(128))
    exported_at: Mapped[dt.datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )
