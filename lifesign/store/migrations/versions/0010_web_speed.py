"""Indexes for the web's reads at Bozhou scale (issue 5).

The name search matches a prefix of people.name (an index turns the scan of 1.36 M people into
a range read); the officer's case list reads one status newest first, a page at a time.

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-29
"""

from __future__ import annotations

from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index(op.f("ix_people_name"), "people", ["name"])
    op.create_index(op.f("ix_cases_status_case_id"), "cases", ["status", "case_id"])


def downgrade() -> None:
    op.drop_index(op.f("ix_cases_status_case_id"), table_name="cases")
    op.drop_index(op.f("ix_people_name"), table_name="people")
