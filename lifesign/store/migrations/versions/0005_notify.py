"""Tables of lifesign.notify: the SMS outbox.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-29
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
MESSAGE_STATUSES = ("queued", "sending", "sent", "failed", "delivered", "undeliverable")


def upgrade() -> None:
    op.create_table(
        "outbox",
        sa.Column("message_id", BigId, primary_key=True, autoincrement=True),
        sa.Column("person_id", BigId, nullable=False),
        sa.Column("phone", sa.String(20), nullable=False),
        sa.Column("reason", sa.String(32), nullable=False),
        sa.Column("period_key", sa.String(64), nullable=False),
        sa.Column("lang", sa.String(8), nullable=False),
        sa.Column("template", sa.String(64), nullable=False),
        sa.Column("params", sa.JSON(), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("gateway", sa.String(32)),
        sa.Column("gateway_ref", sa.String(128)),
        sa.Column("last_error", sa.Text()),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("sending_at", sa.DateTime(timezone=True)),
        sa.Column("sent_at", sa.DateTime(timezone=True)),
        sa.Column("delivered_at", sa.DateTime(timezone=True)),
        sa.CheckConstraint(f"status IN {MESSAGE_STATUSES!r}", name=op.f("ck_outbox_status")),
        sa.ForeignKeyConstraint(
            ["person_id"], ["people.person_id"], name=op.f("fk_outbox_person_id_people")
        ),
        sa.PrimaryKeyConstraint("message_id", name=op.f("pk_outbox")),
        sa.UniqueConstraint(
            "person_id", "reason", "period_key", name=op.f("uq_outbox_person_id_reason_period_key")
        ),
    )
    op.create_index(
        op.f("ix_outbox_status_next_attempt_at"), "outbox", ["status", "next_attempt_at"]
    )
    op.create_index(op.f("ix_outbox_gateway_gateway_ref"), "outbox", ["gateway", "gateway_ref"])


def downgrade() -> None:
    op.drop_index(op.f("ix_outbox_gateway_gateway_ref"), table_name="outbox")
    op.drop_index(op.f("ix_outbox_status_next_attempt_at"), table_name="outbox")
    op.drop_table("outbox")
