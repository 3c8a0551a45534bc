"""The registry (people, enrollments, payments) and lineage (batches, import_rejections).

Revision ID: 0001
Revises:
Create Date: 2024-11-29
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _timestamps() -> list[sa.Column[object]]:
    return [
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.Column(
            "updated_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
    ]


def upgrade() -> None:
    op.create_table(
        "batches",
        sa.Column("batch_id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("source", sa.String(128), nullable=False),
        sa.Column("file_name", sa.String(512)),
        sa.Column("sha256", sa.String(64)),
        sa.Column("size_bytes", sa.BigInteger()),
        sa.Column(
            "started_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.Column("finished_at", sa.DateTime(timezone=True)),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("counts", sa.JSON(), nullable=False),
        sa.Column("message", sa.Text()),
        sa.CheckConstraint(
            "status IN ('running', 'committed', 'failed')", name=op.f("ck_batches_status")
        ),
        sa.PrimaryKeyConstraint("batch_id", name=op.f("pk_batches")),
    )
    op.create_index(op.f("ix_batches_kind_sha256"), "batches", ["kind", "sha256"])

    op.create_table(
        "people",
        sa.Column("person_id", BigId, primary_key=True, autoincrement=True),
        sa.Column("pseudonym", sa.String(32), nullable=False),
        sa.Column("id_number", sa.String(18)),
        sa.Column("name", sa.String(64)),
        sa.Column("sex", sa.String(1)),
        sa.Column("birth_date", sa.Date()),
        sa.Column("phone", sa.String(20)),
        sa.Column("grid_code", sa.String(32)),
        sa.Column("address", sa.String(256)),
        sa.Column("household_id", sa.String(64)),
        sa.Column("batch_id", sa.Integer()),
        *_timestamps(),
        sa.CheckConstraint("sex IN ('M', 'F')", name=op.f("ck_people_sex")),
        sa.ForeignKeyConstraint(
            ["batch_id"], ["batches.batch_id"], name=op.f("fk_people_batch_id_batches")
        ),
        sa.PrimaryKeyConstraint("person_id", name=op.f("pk_people")),
        sa.UniqueConstraint("pseudonym", name=op.f("uq_people_pseudonym")),
        sa.UniqueConstraint("id_number", name=op.f("uq_people_id_number")),
    )
    op.create_index(op.f("ix_people_grid_code"), "people", ["grid_code"])
    op.create_index(op.f("ix_people_household_id"), "people", ["household_id"])

    op.create_table(
        "enrollments",
        sa.Column("enrollment_id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("external_ref", sa.String(64), nullable=False),
        sa.Column("person_id", BigId, nullable=False),
        sa.Column("program", sa.String(64), nullable=False),
        sa.Column("start_date", sa.Date(), nullable=False),
        sa.Column("end_date", sa.Date()),
        sa.Column("monthly_amount", sa.Numeric(12, 2), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("batch_id", sa.Integer()),
        *_timestamps(),
        sa.CheckConstraint(
            "status IN ('active', 'suspended', 'terminated')", name=op.f("ck_enrollments_status")
        ),
        sa.ForeignKeyConstraint(
            ["person_id"], ["people.person_id"], name=op.f("fk_enrollments_person_id_people")
        ),
        sa.ForeignKeyConstraint(
            ["batch_id"], ["batches.batch_id"], name=op.f("fk_enrollments_batch_id_batches")
        ),
        sa.PrimaryKeyConstraint("enrollment_id", name=op.f("pk_enrollments")),
        sa.UniqueConstraint("external_ref", name=op.f("uq_enrollments_external_ref")),
    )
    op.create_index(op.f("ix_enrollments_person_id"), "enrollments", ["person_id"])
    op.create_index(op.f("ix_enrollments_program"), "enrollments", ["program"])

    op.create_table(
        "payments",
        sa.Column("payment_id", BigId, primary_key=True, autoincrement=True),
        sa.Column("enrollment_id", sa.Integer(), nullable=False),
        sa.Column("period", sa.String(7), nullable=False),
        sa.Column("amount", sa.Numeric(12, 2), nullable=False),
        sa.Column("paid_on", sa.Date(), nullable=False),
        sa.Column("batch_id", sa.Integer()),
        sa.ForeignKeyConstraint(
            ["enrollment_id"],
            ["enrollments.enrollment_id"],
            name=op.f("fk_payments_enrollment_id_enrollments"),
        ),
        sa.ForeignKeyConstraint(
            ["batch_id"], ["batches.batch_id"], name=op.f("fk_payments_batch_id_batches")
        ),
        sa.PrimaryKeyConstraint("payment_id", name=op.f("pk_payments")),
        sa.UniqueConstraint(
            "enrollment_id", "period", name=op.f("uq_payments_enrollment_id_period")
        ),
    )
    op.create_index(op.f("ix_payments_period"), "payments", ["period"])

    op.create_table(
        "import_rejections",
        sa.Column("rejection_id", BigId, primary_key=True, autoincrement=True),
        sa.Column("batch_id", sa.Integer(), nullable=False),
        sa.Column("file", sa.String(512), nullable=False),
        sa.Column("line", sa.Integer(), nullable=False),
        sa.Column("field", sa.String(64)),
        sa.Column("value", sa.String(256)),
        sa.Column("reason", sa.String(64), nullable=False),
        sa.Column("message", sa.Text()),
        sa.ForeignKeyConstraint(
            ["batch_id"], ["batches.batch_id"], name=op.f("fk_import_rejections_batch_id_batches")
        ),
        sa.PrimaryKeyConstraint("rejection_id", name=op.f("pk_import_rejections")),
    )
    op.create_index(op.f("ix_import_rejections_batch_id"), "import_rejections", ["batch_id"])


def downgrade() -> None:
    op.drop_table("import_rejections")
    op.drop_table("payments")
    op.drop_table("enrollments")
    op.drop_table("people")
    op.drop_table("batches")
