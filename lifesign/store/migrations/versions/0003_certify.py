"""Tables of lifesign.certify: decisions, status events, person state, reviews, evidence
summary, applied batches; and the registry's last certification on `people`.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-29
"""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

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


def _now() -> sa.sql.elements.ColumnElement[dt.datetime]:
    return sa.func.now()


def upgrade() -> None:
    with op.batch_alter_table("people") as people:
        people.add_column(sa.Column("last_certified_on", sa.Date()))
        people.add_column(sa.Column("last_certification_channel", sa.String(16)))

    op.create_table(
        "decisions",
        sa.Column("decision_id", BigId, primary_key=True, autoincrement=True),
        sa.Column("run_id", sa.Integer()),
        sa.Column("person_id", BigId, nullable=False),
        sa.Column("enrollment_id", sa.Integer()),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("effective_date", sa.Date(), nullable=False),
        sa.Column("decided_on", sa.Date(), nullable=False),
        sa.Column("channel", sa.String(16)),
        sa.Column("valid_until", sa.Date()),
        sa.Column("evidence", sa.JSON(), nullable=False),
        sa.Column("rule", sa.String(64), nullable=False),
        sa.Column("catalog_version", sa.String(64), nullable=False),
        sa.Column("details", sa.JSON()),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=_now(), nullable=False),
        sa.CheckConstraint(f"kind IN {DECISION_KINDS!r}", name=op.f("ck_decisions_kind")),
        sa.CheckConstraint(f"channel IN {CHANNELS!r}", name=op.f("ck_decisions_channel")),
        sa.ForeignKeyConstraint(
            ["person_id"], ["people.person_id"], name=op.f("fk_decisions_person_id_people")
        ),
        sa.ForeignKeyConstraint(
            ["enrollment_id"],
            ["enrollments.enrollment_id"],
            name=op.f("fk_decisions_enrollment_id_enrollments"),
        ),
        sa.PrimaryKeyConstraint("decision_id", name=op.f("pk_decisions")),
    )
    op.create_index(op.f("ix_decisions_person_id_kind"), "decisions", ["person_id", "kind"])
    op.create_index(op.f("ix_decisions_decided_on"), "decisions", ["decided_on"])
    op.create_index(
        op.f("ix_decisions_kind_effective_date"), "decisions", ["kind", "effective_date"]
    )

    op.create_table(
        "status_events",
        sa.Column("event_id", BigId, primary_key=True, autoincrement=True),
        sa.Column("target", sa.String(16), nullable=False),
        sa.Column("person_id", BigId, nullable=False),
        sa.Column("enrollment_id", sa.Integer()),
        sa.Column("from_status", sa.String(16), nullable=False),
        sa.Column("to_status", sa.String(16), nullable=False),
        sa.Column("decision_id", BigId),
        sa.Column("at", sa.Date(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=_now(), nullable=False),
        sa.CheckConstraint(
            "target IN ('person', 'enrollment')", name=op.f("ck_status_events_target")
        ),
        sa.ForeignKeyConstraint(
            ["person_id"], ["people.person_id"], name=op.f("fk_status_events_person_id_people")
        ),
        sa.ForeignKeyConstraint(
            ["enrollment_id"],
            ["enrollments.enrollment_id"],
            name=op.f("fk_status_events_enrollment_id_enrollments"),
        ),
        sa.ForeignKeyConstraint(
            ["decision_id"],
            ["decisions.decision_id"],
            name=op.f("fk_status_events_decision_id_decisions"),
        ),
        sa.PrimaryKeyConstraint("event_id", name=op.f("pk_status_events")),
    )
    op.create_index(op.f("ix_status_events_person_id"), "status_events", ["person_id"])

    op.create_table(
        "person_state",
        sa.Column("person_id", BigId, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("status_since", sa.Date()),
        sa.Column("last_certified_on", sa.Date()),
        sa.Column("channel", sa.String(16)),
        sa.Column("valid_until", sa.Date()),
        sa.Column("certified_year", sa.Integer()),
        sa.Column("last_strong_event", sa.Date()),
        sa.Column("last_weak_event", sa.Date()),
        sa.Column("death_date", sa.Date()),
        sa.Column("updated_on", sa.Date()),
        sa.CheckConstraint(f"status IN {PERSON_STATUSES!r}", name=op.f("ck_person_state_status")),
        sa.ForeignKeyConstraint(
            ["person_id"], ["people.person_id"], name=op.f("fk_person_state_person_id_people")
        ),
        sa.PrimaryKeyConstraint("person_id", name=op.f("pk_person_state")),
    )
    op.create_index(op.f("ix_person_state_valid_until"), "person_state", ["valid_until"])

    op.create_table(
        "reviews",
        sa.Column("review_id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("person_id", BigId, nullable=False),
        sa.Column("kind", sa.String(64), nullable=False),
        sa.Column("sides", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("opened_on", sa.Date(), nullable=False),
        sa.Column("decision_id", BigId),
        sa.Column("resolution", sa.String(32)),
        sa.Column("reason", sa.Text()),
        sa.Column("resolved_by", sa.String(64)),
        sa.Column("resolved_on", sa.Date()),
        sa.Column("resolution_decision_id", BigId),
        sa.CheckConstraint("status IN ('open', 'resolved')", name=op.f("ck_reviews_status")),
        sa.ForeignKeyConstraint(
            ["person_id"], ["people.person_id"], name=op.f("fk_reviews_person_id_people")
        ),
        sa.ForeignKeyConstraint(
            ["decision_id"],
            ["decisions.decision_id"],
            name=op.f("fk_reviews_decision_id_decisions"),
        ),
        sa.ForeignKeyConstraint(
            ["resolution_decision_id"],
            ["decisions.decision_id"],
            name=op.f("fk_reviews_resolution_decision_id_decisions"),
        ),
        sa.PrimaryKeyConstraint("review_id", name=op.f("pk_reviews")),
    )
    op.create_index(op.f("ix_reviews_person_id"), "reviews", ["person_id"])
    op.create_index(op.f("ix_reviews_status_opened_on"), "reviews", ["status", "opened_on"])

    summary_columns: list[sa.Column[object]] = []
    for group in (
        "strong",
        "weak",
        "death_first",
        "death_last",
        "imprisoned",
        "emigrated",
        "moved_away",
    ):
        summary_columns += [
            sa.Column(f"{group}_time", sa.DateTime()),
            sa.Column(f"{group}_ref", sa.Text()),
        ]
    op.create_table(
        "evidence_summary",
        sa.Column("person_id", BigId, nullable=False, autoincrement=False),
        *summary_columns,
        sa.Column("as_of", sa.Date(), nullable=False),
        sa.PrimaryKeyConstraint("person_id", name=op.f("pk_evidence_summary")),
    )

    op.create_table(
        "applied_batches",
        sa.Column("batch_id", sa.Integer(), nullable=False),
        sa.Column("run_id", sa.Integer()),
        sa.Column("applied_on", sa.Date(), nullable=False),
        sa.Column("complete", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(
            ["batch_id"], ["batches.batch_id"], name=op.f("fk_applied_batches_batch_id_batches")
        ),
        sa.PrimaryKeyConstraint("batch_id", name=op.f("pk_applied_batches")),
    )


def downgrade() -> None:
    op.drop_table("applied_batches")
    op.drop_table("evidence_summary")
    op.drop_index(op.f("ix_reviews_status_opened_on"), table_name="reviews")
    op.drop_index(op.f("ix_reviews_person_id"), table_name="reviews")
    op.drop_table("reviews")
    op.drop_index(op.f("ix_person_state_valid_until"), table_name="person_state")
    op.drop_table("person_state")
    op.drop_index(op.f("ix_status_events_person_id"), table_name="status_events")
    op.drop_table("status_events")
    op.drop_index(op.f("ix_decisions_kind_effective_date"), table_name="decisions")
    op.drop_index(op.f("ix_decisions_decided_on"), table_name="decisions")
    op.drop_index(op.f("ix_decisions_person_id_kind"), table_name="decisions")
    op.drop_table("decisions")
    with op.batch_alter_table("people") as people:
        people.drop_column("last_certification_channel")
        people.drop_column("last_certified_on")
