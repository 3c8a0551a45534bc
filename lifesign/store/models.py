"""The state database's tables, as SQLAlchemy 2 typed declarative models.

The registry (people, enrollments, payments) and the lineage tables every import and ingest
writes (batches, import_rejections). The schema itself is created by the Alembic migrations in
`lifesign.store.migrations`; these models must stay in step with them (a test compares them).

`people.person_id` is the compact int64 key that the evidence lake joins on: the pseudonym is
mapped to it at ingest, so the certification pass groups by an integer, not a string.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    CheckConstraint,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    Numeric,
    String,
    Text,
    UniqueConstraint,
    func,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

# One naming convention so that migrations name constraints the same on every backend.
NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

# An int64 key that is SQLite's rowid alias there (INTEGER PRIMARY KEY) and BIGINT elsewhere.
BigId = BigInteger().with_variant(Integer(), "sqlite")

ENROLLMENT_STATUSES = ("active", "suspended", "terminated")
BATCH_STATUSES = ("running", "committed", "failed")


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


def _now() -> Any:
    return func.now()


class Batch(Base):
    """One unit of lineage: one file (or pull, or push) imported or ingested exactly once."""

    __tablename__ = "batches"

    batch_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(String(32))  # registry, evidence, ...
    source: Mapped[str] = mapped_column(String(128))  # people, enrollments, a department feed...
    file_name: Mapped[str | None] = mapped_column(String(512))
    sha256: Mapped[str | None] = mapped_column(String(64))
    size_bytes: Mapped[int | None] = mapped_column(BigInteger)
    started_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=_now())
    finished_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    status: Mapped[str] = mapped_column(String(16), default="running")
    counts: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    message: Mapped[str | None] = mapped_column(Text)

    __table_args__ = (
        CheckConstraint(f"status IN {BATCH_STATUSES!r}", name="status"),
        Index(None, "kind", "sha256"),
    )


class Person(Base):
    """A recipient (or, later, anyone known by pseudonym only: then `id_number` is empty)."""

    __tablename__ = "people"

    person_id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    pseudonym: Mapped[str] = mapped_column(String(32), unique=True)
    id_number: Mapped[str | None] = mapped_column(String(18), unique=True)
    name: Mapped[str | None] = mapped_column(String(64))
    sex: Mapped[str | None] = mapped_column(String(1))
    birth_date: Mapped[dt.date | None] = mapped_column(Date)
    phone: Mapped[str | None] = mapped_column(String(20))
    grid_code: Mapped[str | None] = mapped_column(String(32), index=True)
    address: Mapped[str | None] = mapped_column(String(256))
    household_id: Mapped[str | None] = mapped_column(String(64), index=True)
    last_certified_on: Mapped[dt.date | None] = mapped_column(Date)  # before go-live (0003)
    last_certification_channel: Mapped[str | None] = mapped_column(String(16))
    batch_id: Mapped[int | None] = mapped_column(ForeignKey("batches.batch_id"))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=_now())
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=_now())

    __table_args__ = (
        CheckConstraint("sex IN ('M', 'F')", name="sex"),
        # The web's name search (a prefix match) without a scan of every person (0010).
        Index(None, "name"),
    )


class Enrollment(Base):
    """One person in one benefit program; `external_ref` is the paying department's id."""

    __tablename__ = "enrollments"

    enrollment_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    external_ref: Mapped[str] = mapped_column(String(64), unique=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("people.person_id"), index=True)
    program: Mapped[str] = mapped_column(String(64), index=True)
    start_date: Mapped[dt.date] = mapped_column(Date)
    end_date: Mapped[dt.date | None] = mapped_column(Date)
    monthly_amount: Mapped[Decimal] = mapped_column(Numeric(12, 2, asdecimal=True))
    status: Mapped[str] = mapped_column(String(16))
    batch_id: Mapped[int | None] = mapped_column(ForeignKey("batches.batch_id"))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=_now())
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=_now())

    __table_args__ = (CheckConstraint(f"status IN {ENROLLMENT_STATUSES!r}", name="status"),)


class Payment(Base):
    """One month of the payment ledger of one enrollment."""

    __tablename__ = "payments"

    payment_id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    enrollment_id: Mapped[int] = mapped_column(ForeignKey("enrollments.enrollment_id"))
    period: Mapped[str] = mapped_column(String(7))  # YYYY-MM
    amount: Mapped[Decimal] = mapped_column(Numeric(12, 2, asdecimal=True))
    paid_on: Mapped[dt.date] = mapped_column(Date)
    batch_id: Mapped[int | None] = mapped_column(ForeignKey("batches.batch_id"))

    __table_args__ = (
        UniqueConstraint("enrollment_id", "period"),
        Index(None, "period"),
    )


class ImportRejection(Base):
    """A rejected row (or one problem of it): where, which field, why. Values are masked."""

    __tablename__ = "import_rejections"

    rejection_id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    batch_id: Mapped[int] = mapped_column(ForeignKey("batches.batch_id"), index=True)
    file: Mapped[str] = mapped_column(String(512))
    line: Mapped[int] = mapped_column(Integer)
    field: Mapped[str | None] = mapped_column(String(64))
    value: Mapped[str | None] = mapped_column(String(256))
    reason: Mapped[str] = mapped_column(String(64))
    message: Mapped[str | None] = mapped_column(Text)


QUARANTINE_STATUSES = ("open", "resolved", "dismissed")


class Quarantine(Base):
    """A rejected evidence record, kept for a data manager to fix and retry, or dismiss.

    `value_masked` is safe to show; `raw_record` is the department's record as it came (compact
    JSON of its own column names), needed in full only to export it for correction.
    """

    __tablename__ = "quarantine"

    quarantine_id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    batch_id: Mapped[int] = mapped_column(ForeignKey("batches.batch_id"), index=True)
    source: Mapped[str] = mapped_column(String(128))
    file: Mapped[str | None] = mapped_column(String(512))
    row: Mapped[int | None] = mapped_column(BigInteger)
    field: Mapped[str | None] = mapped_column(String(64))
    value_masked: Mapped[str | None] = mapped_column(String(256))
    raw_record: Mapped[str | None] = mapped_column(Text)
    reason: Mapped[str] = mapped_column(String(64))
    message: Mapped[str | None] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16), default="open")
    resolved_batch_id: Mapped[int | None] = mapped_column(ForeignKey("batches.batch_id"))
    note: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=_now())
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=_now())

    __table_args__ = (
        CheckConstraint(f"status IN {QUARANTINE_STATUSES!r}", name="status"),
        Index(None, "source", "status", "reason"),
    )


class SourceWatermark(Base):
    """How far an incremental pull of a source has got, advanced in the batch's transaction."""

    __tablename__ = "source_watermarks"

    source: Mapped[str] = mapped_column(String(128), primary_key=True)
    watermark: Mapped[str | None] = mapped_column(Text)
    batch_id: Mapped[int | None] = mapped_column(ForeignKey("batches.batch_id"))
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=_now())
