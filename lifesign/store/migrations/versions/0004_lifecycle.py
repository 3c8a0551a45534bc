"""Tables of lifesign.lifecycle: runs, source arrivals, held suspensions, visit tasks and
attempts, manual certifications, back pay, death settlements, certification notices.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-29
"""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _now() -> sa.sql.elements.ColumnElement[dt.datetime]:
    return sa.func.now()


def upgrade() -> None:
    op.create_table(
        "runs",
        sa.Column("run_id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("as_of", sa.Date(), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), server_default=_now(), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True)),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("counts", sa.JSON(), nullable=False),
        sa.Column("guard", sa.JSON(), nullable=False),
        sa.Column("message", sa.Text()),
        sa.CheckConstraint(
            "status IN ('running', 'finished', 'failed')", name=op.f("ck_runs_status")
        ),
        sa.PrimaryKeyConstraint("run_id", name=op.f("pk_runs")),
        sa.UniqueConstraint("as_of", name=op.f("uq_runs_as_of")),
    )

    op.create_table(
        "source_arrivals",
        sa.Column("batch_id", sa.Integer(), nullable=False),
        sa.Column("source", sa.String(128), nullable=False),
        sa.Column("arrived_on", sa.Date(), nullable=False),
        sa.Column("records", sa.Integer(), nullable=False),
        sa.Column("strong_alive_records", sa.Integer(), nullable=False),
        sa.Column("run_id", sa.Integer()),
        sa.ForeignKeyConstraint(
            ["batch_id"], ["batches.batch_id"], name=op.f("fk_source_arrivals_batch_id_batches")
        ),
        sa.ForeignKeyConstraint(
            ["run_id"], ["runs.run_id"], name=op.f("fk_source_arrivals_run_id_runs")
        ),
        sa.PrimaryKeyConstraint("batch_id", name=op.f("pk_source_arrivals")),
    )
    op.create_index(
        op.f("ix_source_arrivals_source_arrived_on"), "source_arrivals", ["source", "arrived_on"]
    )

    op.create_table(
        "held_suspensions",
        sa.Column("hold_id", BigId, primary_key=True, autoincrement=True),
        sa.Column("run_id", sa.Integer(), nullable=False),
        sa.Column("person_id", BigId, nullable=False),
        sa.Column("enrollment_id", sa.Integer(), nullable=False),
        sa.Column("effective_date", sa.Date(), nullable=False),
        sa.Column("rule", sa.String(64), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("resolved_on", sa.Date()),
        sa.Column("officer", sa.String(128)),
        sa.Column("decision_id", BigId),
        sa.CheckConstraint(
            "status IN ('held', 'applied', 'released')", name=op.f("ck_held_suspensions_status")
        ),
        sa.ForeignKeyConstraint(
            ["run_id"], ["runs.run_id"], name=op.f("fk_held_suspensions_run_id_runs")
        ),
        sa.ForeignKeyConstraint(
            ["person_id"], ["people.person_id"], name=op.f("fk_held_suspensions_person_id_people")
        ),
        sa.ForeignKeyConstraint(
            ["enrollment_id"],
            ["enrollments.enrollment_id"],
            name=op.f("fk_held_suspensions_enrollment_id_enrollments"),
        ),
        sa.PrimaryKeyConstraint("hold_id", name=op.f("pk_held_suspensions")),
        sa.UniqueConstraint(
            "run_id", "enrollment_id", name=op.f("uq_held_suspensions_run_id_enrollment_id")
        ),
    )
    op.create_index(op.f("ix_held_suspensions_run_id"), "held_suspensions", ["run_id"])
    op.create_index(op.f("ix_held_suspensions_person_id"), "held_suspensions", ["person_id"])
    op.create_index(op.f("ix_held_suspensions_status"), "held_suspensions", ["status"])

    op.create_table(
        "visit_tasks",
        sa.Column("task_id", BigId, primary_key=True, autoincrement=True),
        sa.Column("person_id", BigId, nullable=False),
        sa.Column("grid_code", sa.String(32)),
        sa.Column("due_date", sa.Date(), nullable=False),
        sa.Column("reason", sa.String(64), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("outcome", sa.String(32)),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("created_on", sa.Date(), nullable=False),
        sa.Column("closed_on", sa.Date()),
        sa.Column("run_id", sa.Integer()),
        sa.Column("worker", sa.String(128)),
        sa.Column("decision_id", BigId),
        sa.Column("note", sa.Text()),
        sa.CheckConstraint(
            "status IN ('open', 'done', 'cancelled', 'escalated')",
            name=op.f("ck_visit_tasks_status"),
        ),
        sa.ForeignKeyConstraint(
            ["person_id"], ["people.person_id"], name=op.f("fk_visit_tasks_person_id_people")
        ),
        sa.ForeignKeyConstraint(
            ["run_id"], ["runs.run_id"], name=op.f("fk_visit_tasks_run_id_runs")
        ),
        sa.PrimaryKeyConstraint("task_id", name=op.f("pk_visit_tasks")),
        sa.UniqueConstraint(
            "person_id", "reason", "due_date", name=op.f("uq_visit_tasks_person_id_reason_due_date")
        ),
    )
    op.create_index(op.f("ix_visit_tasks_person_id"), "visit_tasks", ["person_id"])
    op.create_index(op.f("ix_visit_tasks_grid_code"), "visit_tasks", ["grid_code"])
    op.create_index(op.f("ix_visit_tasks_status_due_date"), "visit_tasks", ["status", "due_date"])

    op.create_table(
        "visit_attempts",
        sa.Column("attempt_id", BigId, primary_key=True, autoincrement=True),
        sa.Column("task_id", BigId, nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("worker", sa.String(128), nullable=False),
        sa.Column("outcome", sa.String(32), nullable=False),
        sa.Column("note", sa.Text()),
        sa.ForeignKeyConstraint(
            ["task_id"], ["visit_tasks.task_id"], name=op.f("fk_visit_attempts_task_id_visit_tasks")
        ),
        sa.PrimaryKeyConstraint("attempt_id", name=op.f("pk_visit_attempts")),
    )
    op.create_index(op.f("ix_visit_attempts_task_id"), "visit_attempts", ["task_id"])

    op.create_table(
        "manual_certifications",
        sa.Column("attempt_id", BigId, primary_key=True, autoincrement=True),
        sa.Column("channel", sa.String(16), nullable=False),
        sa.Column("reference", sa.String(128), nullable=False),
        sa.Column("person_id", BigId, nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("outcome", sa.String(16), nullable=False),
        sa.Column("actor", sa.String(128)),
        sa.Column("decision_id", BigId),
        sa.Column("note", sa.Text()),
        sa.CheckConstraint(
            "channel IN ('self_service', 'counter', 'home_visit')",
            name=op.f("ck_manual_certifications_channel"),
        ),
        sa.ForeignKeyConstraint(
            ["person_id"],
            ["people.person_id"],
            name=op.f("fk_manual_certifications_person_id_people"),
        ),
        sa.PrimaryKeyConstraint("attempt_id", name=op.f("pk_manual_certifications")),
        sa.UniqueConstraint(
            "channel", "reference", name=op.f("uq_manual_certifications_channel_reference")
        ),
    )
    op.create_index(
        op.f("ix_manual_certifications_person_id"), "manual_certifications", ["person_id"]
    )

    op.create_table(
        "back_pay",
        sa.Column("back_pay_id", BigId, primary_key=True, autoincrement=True),
        sa.Column("enrollment_id", sa.Integer(), nullable=False),
        sa.Column("person_id", BigId, nullable=False),
        sa.Column("decision_id", BigId, nullable=False),
        sa.Column("months", sa.Integer(), nullable=False),
        sa.Column("periods", sa.JSON(), nullable=False),
        sa.Column("amount", sa.Numeric(12, 2), nullable=False),
        sa.Column("resumes_on", sa.Date(), nullable=False),
        sa.Column("decided_on", sa.Date(), nullable=False),
        sa.ForeignKeyConstraint(
            ["enrollment_id"],
            ["enrollments.enrollment_id"],
            name=op.f("fk_back_pay_enrollment_id_enrollments"),
        ),
        sa.ForeignKeyConstraint(
            ["person_id"], ["people.person_id"], name=op.f("fk_back_pay_person_id_people")
        ),
        sa.PrimaryKeyConstraint("back_pay_id", name=op.f("pk_back_pay")),
        sa.UniqueConstraint("decision_id", name=op.f("uq_back_pay_decision_id")),
    )
    op.create_index(op.f("ix_back_pay_enrollment_id"), "back_pay", ["enrollment_id"])
    op.create_index(op.f("ix_back_pay_decided_on"), "back_pay", ["decided_on"])

    op.create_table(
        "death_settlements",
        sa.Column("person_id", BigId, nullable=False),
        sa.Column("death_date", sa.Date(), nullable=False),
        sa.Column("overpayment", sa.Numeric(12, 2), nullable=False),
        sa.Column("details", sa.JSON(), nullable=False),
        sa.Column("settled_on", sa.Date(), nullable=False),
        sa.Column("run_id", sa.Integer()),
        sa.ForeignKeyConstraint(
            ["person_id"], ["people.person_id"], name=op.f("fk_death_settlements_person_id_people")
        ),
        sa.ForeignKeyConstraint(
            ["run_id"], ["runs.run_id"], name=op.f("fk_death_settlements_run_id_runs")
        ),
        sa.PrimaryKeyConstraint("person_id", name=op.f("pk_death_settlements")),
    )

    op.create_table(
        "certification_notices",
        sa.Column("person_id", BigId, nullable=False),
        sa.Column("valid_until", sa.Date(), nullable=False),
        sa.Column("notified_on", sa.Date(), nullable=False),
        sa.ForeignKeyConstraint(
            ["person_id"],
            ["people.person_id"],
            name=op.f("fk_certification_notices_person_id_people"),
        ),
        sa.PrimaryKeyConstraint("person_id", name=op.f("pk_certification_notices")),
    )


def downgrade() -> None:
    op.drop_table("certification_notices")
    op.drop_table("death_settlements")
    op.drop_index(op.f("ix_back_pay_decided_on"), table_name="back_pay")
    op.drop_index(op.f("ix_back_pay_enrollment_id"), table_name="back_pay")
    op.drop_table("back_pay")
    op.drop_index(op.f("ix_manual_certifications_person_id"), table_name="manual_certifications")
    op.drop_table("manual_certifications")
    op.drop_index(op.f("ix_visit_attempts_task_id"), table_name="visit_attempts")
    op.drop_table("visit_attempts")
    op.drop_index(op.f("ix_visit_tasks_status_due_date"), table_name="visit_tasks")
    op.drop_index(op.f("ix_visit_tasks_grid_code"), table_name="visit_tasks")
    op.drop_index(op.f("ix_visit_tasks_person_id"), table_name="visit_tasks")
    op.drop_table("visit_tasks")
    op.drop_index(op.f("ix_held_suspensions_status"), table_name="held_suspensions")
    op.drop_index(op.f("ix_held_suspensions_person_id"), table_name="held_suspensions")
    op.drop_index(op.f("ix_held_suspensions_run_id"), table_name="held_suspensions")
    op.drop_table("held_suspensions")
    op.drop_index(op.f("ix_source_arrivals_source_arrived_on"), table_name="source_arrivals")
    op.drop_table("source_arrivals")
    op.drop_table("runs")
