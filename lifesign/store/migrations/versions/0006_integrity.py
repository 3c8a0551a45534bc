"""Tables of lifesign.integrity: cases, their events, and the exports audit.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-29
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
NOW = sa.func.now()


def upgrade() -> None:
    op.create_table(
        "cases",
        sa.Column("case_id", BigId, primary_key=True, autoincrement=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("rule", sa.String(64), nullable=False),
        sa.Column("person_id", BigId, nullable=False),
        sa.Column("enrollment_id", sa.Integer()),
        sa.Column("opened_on", sa.Date(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("amount", sa.Numeric(12, 2)),
        sa.Column("evidence", sa.JSON(), nullable=False),
        sa.Column("details", sa.JSON()),
        sa.Column("open_key", sa.String(160)),
        sa.Column("closing_reason", sa.Text()),
        sa.Column("closed_by", sa.String(128)),
        sa.Column("closed_on", sa.Date()),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=NOW, nullable=False),
        sa.CheckConstraint(
            "kind IN ('fraud', 'recovery', 'excess', 'duplicate')", name=op.f("ck_cases_kind")
        ),
        sa.CheckConstraint(
            "status IN ('open', 'confirmed', 'dismissed', 'recovered')",
            name=op.f("ck_cases_status"),
        ),
        sa.ForeignKeyConstraint(
            ["person_id"], ["people.person_id"], name=op.f("fk_cases_person_id_people")
        ),
        sa.ForeignKeyConstraint(
            ["enrollment_id"],
            ["enrollments.enrollment_id"],
            name=op.f("fk_cases_enrollment_id_enrollments"),
        ),
        sa.PrimaryKeyConstraint("case_id", name=op.f("pk_cases")),
        sa.UniqueConstraint("open_key", name=op.f("uq_cases_open_key")),
    )
    op.create_index(op.f("ix_cases_person_id"), "cases", ["person_id"])
    op.create_index(op.f("ix_cases_status_kind_rule"), "cases", ["status", "kind", "rule"])

    op.create_table(
        "case_events",
        sa.Column("event_id", BigId, primary_key=True, autoincrement=True),
        sa.Column("case_id", BigId, nullable=False),
        sa.Column("from_status", sa.String(16)),
        sa.Column("to_status", sa.String(16), nullable=False),
        sa.Column("officer", sa.String(128)),
        sa.Column("reason", sa.Text()),
        sa.Column("on", sa.Date(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=NOW, nullable=False),
        sa.ForeignKeyConstraint(
            ["case_id"], ["cases.case_id"], name=op.f("fk_case_events_case_id_cases")
        ),
        sa.PrimaryKeyConstraint("event_id", name=op.f("pk_case_events")),
    )
    op.create_index(op.f("ix_case_events_case_id"), "case_events", ["case_id"])

    op.create_table(
        "exports",
        sa.Column("export_id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("program", sa.String(64)),
        sa.Column("period", sa.String(7)),
        sa.Column("full_id", sa.Boolean(), nullable=False),
        sa.Column("rows", sa.Integer(), nullable=False),
        sa.Column("file_name", sa.String(512)),
        sa.Column("exported_by", sa.String(128), nullable=False),
        sa.Column("exported_at", sa.DateTime(timezone=True), server_default=NOW, nullable=False),
        sa.PrimaryKeyConstraint("export_id", name=op.f("pk_exports")),
    )


def downgrade() -> None:
    op.drop_table("exports")
    op.drop_index(op.f("ix_case_events_case_id"), table_name="case_events")
    op.drop_table("case_events")
    op.drop_index(op.f("ix_cases_status_kind_rule"), table_name="cases")
    op.drop_index(op.f("ix_cases_person_id"), table_name="cases")
    op.drop_table("cases")
