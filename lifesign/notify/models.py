"""State tables of lifesign.notify (declared on the shared Base; created by migration 0005).

`outbox`: one row per message a person is due to receive. UNIQUE(person_id, reason,
period_key) is the at-most-once rule: a person gets one message per reason and period (a
certification cycle, a suspension...), however often the daily run asks for it. The body is
rendered when the message is queued and kept, so what was sent can always be shown. The phone
is stored because the gateway needs it; every display masks it.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import (
    JSON,
    CheckConstraint,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from lifesign.store.models import Base, BigId

# queued → sending → sent → delivered | undeliverable; queued → failed (permanent or too many
# attempts); sending → queued (retry) | failed. See lifesign.notify.outbox.MESSAGE_TRANSITIONS.
MESSAGE_STATUSES = ("queued", "sending", "sent", "failed", "delivered", "undeliverable")


class OutboxMessage(Base):
    """One SMS to one person for one reason and period, from queued to delivered."""

    __tablename__ = "outbox"

    message_id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("people.person_id"))
    phone: Mapped[str] = mapped_column(String(20))
    reason: Mapped[str] = mapped_column(String(32))
    period_key: Mapped[str] = mapped_column(String(64))
    lang: Mapped[str] = mapped_column(String(8))
    template: Mapped[str] = mapped_column(String(64))  # "<lang>/<reason>", the template used
    params: Mapped[dict[str, Any]] = mapped_column(JSON)
    body: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    gateway: Mapped[str | None] = mapped_column(String(32))
    gateway_ref: Mapped[str | None] = mapped_column(String(128))
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    sending_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    sent_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    delivered_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))

    __table_args__ = (
        UniqueConstraint("person_id", "reason", "period_key"),
        CheckConstraint(f"status IN {MESSAGE_STATUSES!r}", name="status"),
        Index(None, "status", "next_attempt_at"),
        Index(None, "gateway", "gateway_ref"),
    )
