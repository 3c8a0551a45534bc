"""Evidence ingestion: quarantine of rejected records, pull watermarks, batch lookup by source.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-29
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "quarantine",
        sa.Column("quarantine_id", BigId, primary_key=True, autoincrement=True),
        sa.Column("batch_id", sa.Integer(), nullable=False),
        sa.Column("source", sa.String(128), nullable=False),
        sa.Column("file", sa.String(512)),
        sa.Column("row", sa.BigInteger()),
        sa.Column("field", sa.String(64)),
        sa.Column("value_masked", sa.String(256)),
        sa.Column("raw_record", sa.Text()),
        sa.Column("reason", sa.String(64), nullable=False),
        sa.Column("message", sa.Text()),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("resolved_batch_id", sa.Integer()),
        sa.Column("note", sa.Text()),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.Column(
            "updated_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.CheckConstraint(
            "status IN ('open', 'resolved', 'dismissed')", name=op.f("ck_quarantine_status")
        ),
        sa.ForeignKeyConstraint(
            ["batch_id"], ["batches.batch_id"], name=op.f("fk_quarantine_batch_id_batches")
        ),
        sa.ForeignKeyConstraint(
            ["resolved_batch_id"],
            ["batches.batch_id"],
            name=op.f("fk_quarantine_resolved_batch_id_batches"),
        ),
        sa.PrimaryKeyConstraint("quarantine_id", name=op.f("pk_quarantine")),
    )
    op.create_index(op.f("ix_quarantine_batch_id"), "quarantine", ["batch_id"])
    op.create_index(
        op.f("ix_quarantine_source_status_reason"), "quarantine", ["source", "status", "reason"]
    )

    op.create_table(
        "source_watermarks",
        sa.Column("source", sa.String(128), nullable=False),
        sa.Column("watermark", sa.Text()),
        sa.Column("batch_id", sa.Integer()),
        sa.Column(
            "updated_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.ForeignKeyConstraint(
            ["batch_id"], ["batches.batch_id"], name=op.f("fk_source_watermarks_batch_id_batches")
        ),
        sa.PrimaryKeyConstraint("source", name=op.f("pk_source_watermarks")),
    )


def downgrade() -> None:
    op.drop_table("source_watermarks")
    op.drop_index(op.f("ix_quarantine_source_status_reason"), table_name="quarantine")
    op.drop_index(op.f("ix_quarantine_batch_id"), table_name="quarantine")
    op.drop_table("quarantine")
