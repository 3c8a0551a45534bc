"""State tables of lifesign.lifecycle (declared on the shared Base; created by migration 0004).

- `runs`: one row per daily run (as-of date), its counts and the guard's findings.
- `source_arrivals`: the day (as-of) each committed evidence batch was first seen by a run —
  the guard learns each source's cadence and volume from it (batches' own timestamps are wall
  clock, which a replay does not follow).
- `held_suspensions`: suspensions the guard did not apply, with why, until released or
  confirmed by an officer.
- `visit_tasks` / `visit_attempts`: home visits for a grid's community worker.
- `manual_certifications`: every self-service, counter or visit certification attempt (a
  failed face verification is kept here; it certifies nothing).
- `back_pay`: the suspended months paid back on resumption (read by the payment lists).
- `death_settlements`: a death handled once: overpayment computed, recovery cases opened,
  family notified.
- `certification_notices`: the last certification a person was told about by SMS.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    JSON,
    CheckConstraint,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    Numeric,
    String,
    Text,
    UniqueConstraint,
    func,
)
from sqlalchemy.orm import Mapped, mapped_column

from lifesign.store.models import Base, BigId

RUN_STATUSES = ("running", "finished", "failed")
HOLD_STATUSES = ("held", "applied", "released")
TASK_STATUSES = ("open", "done", "cancelled", "escalated")
MANUAL_CHANNELS = ("self_service", "counter", "home_visit")


class Run(Base):
    """One daily run; a second run of the same as-of date reuses this row."""

    __tablename__ = "runs"

    run_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    as_of: Mapped[dt.date] = mapped_column(Date, unique=True)
    started_at: Mapped[dt.datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )
    finished_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    status: Mapped[str] = mapped_column(String(16))
    attempts: Mapped[int] = mapped_column(Integer, default=1)
    counts: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    guard: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    message: Mapped[str | None] = mapped_column(Text)

    __table_args__ = (CheckConstraint(f"status IN {RUN_STATUSES!r}", name="status"),)


class SourceArrival(Base):
    """When (in as-of days) a committed evidence batch arrived, and how many records it held."""

    __tablename__ = "source_arrivals"

    batch_id: Mapped[int] = mapped_column(ForeignKey("batches.batch_id"), primary_key=True)
    source: Mapped[str] = mapped_column(String(128))
    arrived_on: Mapped[dt.date] = mapped_column(Date)
    records: Mapped[int] = mapped_column(Integer)
    strong_alive_records: Mapped[int] = mapped_column(Integer)
    run_id: Mapped[int | None] = mapped_column(ForeignKey("runs.run_id"))

    __table_args__ = (Index(None, "source", "arrived_on"),)


class HeldSuspension(Base):
    """A suspension the guard held: `rule` says which guard rule, `reason` says it in words."""

    __tablename__ = "held_suspensions"

    hold_id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("runs.run_id"), index=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("people.person_id"), index=True)
    enrollment_id: Mapped[int] = mapped_column(ForeignKey("enrollments.enrollment_id"))
    effective_date: Mapped[dt.date] = mapped_column(Date)
    rule: Mapped[str] = mapped_column(String(64))
    reason: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16))
    resolved_on: Mapped[dt.date | None] = mapped_column(Date)
    officer: Mapped[str | None] = mapped_column(String(128))
    decision_id: Mapped[int | None] = mapped_column(BigId)

    __table_args__ = (
        UniqueConstraint("run_id", "enrollment_id"),
        CheckConstraint(f"status IN {HOLD_STATUSES!r}", name="status"),
        Index(None, "status"),
    )


class VisitTask(Base):
    """A home visit for the community worker of the person's grid, due by `due_date`."""

    __tablename__ = "visit_tasks"

    task_id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("people.person_id"), index=True)
    grid_code: Mapped[str | None] = mapped_column(String(32), index=True)
    due_date: Mapped[dt.date] = mapped_column(Date)
    reason: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16))
    outcome: Mapped[str | None] = mapped_column(String(32))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    created_on: Mapped[dt.date] = mapped_column(Date)
    closed_on: Mapped[dt.date | None] = mapped_column(Date)
    run_id: Mapped[int | None] = mapped_column(ForeignKey("runs.run_id"))
    worker: Mapped[str | None] = mapped_column(String(128))
    decision_id: Mapped[int | None] = mapped_column(BigId)
    note: Mapped[str | None] = mapped_column(Text)

    __table_args__ = (
        UniqueConstraint("person_id", "reason", "due_date"),
        CheckConstraint(f"status IN {TASK_STATUSES!r}", name="status"),
        Index(None, "status", "due_date"),
    )


class VisitAttempt(Base):
    """One visit made for a task (a 'not found' keeps the task open)."""

    __tablename__ = "visit_attempts"

    attempt_id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    task_id: Mapped[int] = mapped_column(ForeignKey("visit_tasks.task_id"), index=True)
    at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    worker: Mapped[str] = mapped_column(String(128))
    outcome: Mapped[str] = mapped_column(String(32))
    note: Mapped[str | None] = mapped_column(Text)


class ManualCertification(Base):
    """A certification attempt by a person (face), an officer (counter) or a worker (visit).

    `reference` (the face verification's id, or a generated one) makes a retried call a no-op.
    """

    __tablename__ = "manual_certifications"

    attempt_id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    channel: Mapped[str] = mapped_column(String(16))
    reference: Mapped[str] = mapped_column(String(128))
    person_id: Mapped[int] = mapped_column(ForeignKey("people.person_id"), index=True)
    at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    outcome: Mapped[str] = mapped_column(String(16))
    actor: Mapped[str | None] = mapped_column(String(128))
    decision_id: Mapped[int | None] = mapped_column(BigId)
    note: Mapped[str | None] = mapped_column(Text)

    __table_args__ = (
        UniqueConstraint("channel", "reference"),
        CheckConstraint(f"channel IN {MANUAL_CHANNELS!r}", name="channel"),
    )


class BackPay(Base):
    """The suspended months of one enrollment paid back when it resumed."""

    __tablename__ = "back_pay"

    back_pay_id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    enrollment_id: Mapped[int] = mapped_column(ForeignKey("enrollments.enrollment_id"), index=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("people.person_id"))
    decision_id: Mapped[int] = mapped_column(BigId, unique=True)
    months: Mapped[int] = mapped_column(Integer)
    periods: Mapped[list[str]] = mapped_column(JSON)
    amount: Mapped[Decimal] = mapped_column(Numeric(12, 2, asdecimal=True))
    resumes_on: Mapped[dt.date] = mapped_column(Date)
    decided_on: Mapped[dt.date] = mapped_column(Date, index=True)


class DeathSettlement(Base):
    """A death handled by the lifecycle: overpayment, recovery cases, family notified."""

    __tablename__ = "death_settlements"

    person_id: Mapped[int] = mapped_column(ForeignKey("people.person_id"), primary_key=True)
    death_date: Mapped[dt.date] = mapped_column(Date)
    overpayment: Mapped[Decimal] = mapped_column(Numeric(12, 2, asdecimal=True))
    details: Mapped[dict[str, Any]] = mapped_column(JSON)
    settled_on: Mapped[dt.date] = mapped_column(Date)
    run_id: Mapped[int | None] = mapped_column(ForeignKey("runs.run_id"))


class CertificationNotice(Base):
    """The certification a person was last told about (one 'certified' SMS per cycle)."""

    __tablename__ = "certification_notices"

    person_id: Mapped[int] = mapped_column(ForeignKey("people.person_id"), primary_key=True)
    valid_until: Mapped[dt.date] = mapped_column(Date)
    notified_on: Mapped[dt.date] = mapped_column(Date)
