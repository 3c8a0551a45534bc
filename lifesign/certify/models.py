"""State tables of lifesign.certify (declared on the shared Base; created by migration 0003).

- `decisions`: the append-only ledger. Every decision names its evidence records, the rule
  that fired and the catalog version; rows are never updated or deleted.
- `status_events`: one row per status change of a person or an enrollment, written by
  `transitions.py` (the only code that changes a status).
- `person_state`: the current state of each person, derived from the decisions (status, last
  certification, valid until...). Rebuilt row by row by the same code that writes decisions.
- `reviews`: contradictions waiting for an officer, with both sides.
- `evidence_summary`: the per-person aggregate of the evidence lake (latest strong alive
  record, earliest and latest death records...), merged batch by batch so the daily pass is
  proportional to the day's feed, not to the lake.
- `applied_batches`: which evidence batches the pass has applied, and up to which as-of date;
  written in the same transaction as the decisions (the watermark is a set: batches commit out
  of order).
"""

from __future__ import annotations

import datetime as dt
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
    String,
    Text,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from lifesign.store.models import Base, BigId

__all__ = [
    "CHANNELS",
    "DECISION_KINDS",
    "PERSON_STATUSES",
    "REVIEW_STATUSES",
    "AppliedBatch",
    "Base",
    "Decision",
    "EvidenceSummary",
    "PersonStateRow",
    "Review",
    "StatusEvent",
]

DECISION_KINDS = (
    "certified",
    "deceased",
    "suspended",
    "resumed",
    "terminated",
    "review",
    "imprisoned",
    "released",
    "emigrated",
    "moved_away",
)
CHANNELS = ("auto", "self_service", "counter", "home_visit")
PERSON_STATUSES = ("alive", "deceased", "imprisoned", "emigrated", "moved_away", "review")
STATUS_TARGETS = ("person", "enrollment")
REVIEW_STATUSES = ("open", "resolved")


def _now() -> Any:
    from sqlalchemy import func

    return func.now()


class Decision(Base):
    """One decision about a person (enrollment_id null: every enrollment) or one enrollment."""

    __tablename__ = "decisions"

    decision_id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    run_id: Mapped[int | None] = mapped_column(Integer)
    person_id: Mapped[int] = mapped_column(ForeignKey("people.person_id"))
    enrollment_id: Mapped[int | None] = mapped_column(ForeignKey("enrollments.enrollment_id"))
    kind: Mapped[str] = mapped_column(String(16))
    effective_date: Mapped[dt.date] = mapped_column(Date)
    decided_on: Mapped[dt.date] = mapped_column(Date)
    channel: Mapped[str | None] = mapped_column(String(16))
    valid_until: Mapped[dt.date | None] = mapped_column(Date)
    # [{source, record_id, evidence_type, event_time}], the records the decision rests on
    evidence: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    rule: Mapped[str] = mapped_column(String(64))
    catalog_version: Mapped[str] = mapped_column(String(64))
    details: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=_now())

    __table_args__ = (
        CheckConstraint(f"kind IN {DECISION_KINDS!r}", name="kind"),
        CheckConstraint(f"channel IN {CHANNELS!r}", name="channel"),
        Index(None, "person_id", "kind"),
        Index(None, "decided_on"),
        Index(None, "kind", "effective_date"),
        # the daily run reads the decisions of one kind made since a day (certified since
        # the previous run, ...): without it SQLite walks every decision of that kind
        Index(None, "kind", "decided_on"),
    )


class StatusEvent(Base):
    """A status change of a person or an enrollment, and the decision that caused it."""

    __tablename__ = "status_events"

    event_id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    target: Mapped[str] = mapped_column(String(16))  # person | enrollment
    person_id: Mapped[int] = mapped_column(ForeignKey("people.person_id"), index=True)
    enrollment_id: Mapped[int | None] = mapped_column(ForeignKey("enrollments.enrollment_id"))
    from_status: Mapped[str] = mapped_column(String(16))
    to_status: Mapped[str] = mapped_column(String(16))
    decision_id: Mapped[int | None] = mapped_column(ForeignKey("decisions.decision_id"))
    at: Mapped[dt.date] = mapped_column(Date)  # the effective date of the change
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=_now())

    __table_args__ = (CheckConstraint(f"target IN {STATUS_TARGETS!r}", name="target"),)


# The condition of the partial index of person_state.status (see PersonStateRow).
NOT_ALIVE = text("status <> 'alive'")


class PersonStateRow(Base):
    """The current state of a person, derived from the decisions ledger."""

    __tablename__ = "person_state"

    person_id: Mapped[int] = mapped_column(ForeignKey("people.person_id"), primary_key=True)
    status: Mapped[str] = mapped_column(String(16), default="alive")
    status_since: Mapped[dt.date | None] = mapped_column(Date)
    last_certified_on: Mapped[dt.date | None] = mapped_column(Date)
    channel: Mapped[str | None] = mapped_column(String(16))
    valid_until: Mapped[dt.date | None] = mapped_column(Date, index=True)
    # the calendar year of the latest silent certification in the ledger (one a year at most)
    certified_year: Mapped[int | None] = mapped_column(Integer)
    last_strong_event: Mapped[dt.date | None] = mapped_column(Date)
    last_weak_event: Mapped[dt.date | None] = mapped_column(Date)
    death_date: Mapped[dt.date | None] = mapped_column(Date)
    updated_on: Mapped[dt.date | None] = mapped_column(Date)

    __table_args__ = (
        CheckConstraint(f"status IN {PERSON_STATUSES!r}", name="status"),
        # the daily run finds the few persons not alive (deaths to settle) without reading
        # every state row; partial, so that a query for the alive (nearly everyone) keeps
        # to the indexes that narrow it (valid_until) — a query uses it by saying
        # `status <> 'alive'` (NOT_ALIVE) besides its own condition on status
        Index(None, "status", sqlite_where=NOT_ALIVE, postgresql_where=NOT_ALIVE),
    )


class Review(Base):
    """A contradiction for an officer: both sides, and how it was resolved."""

    __tablename__ = "reviews"

    review_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("people.person_id"), index=True)
    kind: Mapped[str] = mapped_column(String(64))
    sides: Mapped[dict[str, Any]] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(String(16), default="open")
    opened_on: Mapped[dt.date] = mapped_column(Date)
    decision_id: Mapped[int | None] = mapped_column(ForeignKey("decisions.decision_id"))
    resolution: Mapped[str | None] = mapped_column(String(32))
    reason: Mapped[str | None] = mapped_column(Text)
    resolved_by: Mapped[str | None] = mapped_column(String(64))
    resolved_on: Mapped[dt.date | None] = mapped_column(Date)
    resolution_decision_id: Mapped[int | None] = mapped_column(ForeignKey("decisions.decision_id"))

    __table_args__ = (
        CheckConstraint(f"status IN {REVIEW_STATUSES!r}", name="status"),
        Index(None, "status", "opened_on"),
    )


class EvidenceSummary(Base):
    """Per person, the evidence records the rules need (each `*_ref`: a JSON evidence record).

    A function of the lake alone (as of `as_of`): the full pass rebuilds it, the incremental
    pass merges each new batch into it (latest = max, earliest = min: the merge is exact).
    """

    __tablename__ = "evidence_summary"

    person_id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=False)
    strong_time: Mapped[dt.datetime | None] = mapped_column(DateTime)
    strong_ref: Mapped[str | None] = mapped_column(Text)
    weak_time: Mapped[dt.datetime | None] = mapped_column(DateTime)
    weak_ref: Mapped[str | None] = mapped_column(Text)
    death_first_time: Mapped[dt.datetime | None] = mapped_column(DateTime)
    death_first_ref: Mapped[str | None] = mapped_column(Text)
    death_last_time: Mapped[dt.datetime | None] = mapped_column(DateTime)
    death_last_ref: Mapped[str | None] = mapped_column(Text)
    imprisoned_time: Mapped[dt.datetime | None] = mapped_column(DateTime)
    imprisoned_ref: Mapped[str | None] = mapped_column(Text)
    emigrated_time: Mapped[dt.datetime | None] = mapped_column(DateTime)
    emigrated_ref: Mapped[str | None] = mapped_column(Text)
    moved_away_time: Mapped[dt.datetime | None] = mapped_column(DateTime)
    moved_away_ref: Mapped[str | None] = mapped_column(Text)
    as_of: Mapped[dt.date] = mapped_column(Date)


class AppliedBatch(Base):
    """An evidence batch the pass has applied up to `applied_through` (an as-of date).

    `complete`: every record of the batch is dated on or before `applied_through`; otherwise
    the later records wait for a pass with a later as-of date.
    """

    __tablename__ = "applied_batches"

    batch_id: Mapped[int] = mapped_column(ForeignKey("batches.batch_id"), primary_key=True)
    run_id: Mapped[int | None] = mapped_column(Integer)
    applied_on: Mapped[dt.date] = mapped_column(Date)  # as-of date of the pass that applied it
    complete: Mapped[bool] = mapped_column(Boolean, default=True)
