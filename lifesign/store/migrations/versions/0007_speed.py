"""Indexes and columns the faster certification pass and daily run need (issue 4).

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-29
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
NOW = sa.func.now()


def upgrade() -> None:
    # the daily lifecycle (lifesign/lifecycle/daily.py): decisions of a kind made since a day,
    # and the few persons not alive (the deceased not yet settled; partial: a query for the
    # alive keeps to valid_until)
    op.create_index(op.f("ix_decisions_kind_decided_on"), "decisions", ["kind", "decided_on"])
    op.create_index(
        op.f("ix_person_state_status"),
        "person_state",
        ["status"],
        sqlite_where=sa.text("status <> 'alive'"),
        postgresql_where=sa.text("status <> 'alive'"),
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_person_state_status"), table_name="person_state")
    op.drop_index(op.f("ix_decisions_kind_decided_on"), table_name="decisions")
