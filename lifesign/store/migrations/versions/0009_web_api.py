"""Tables of lifesign.web.api: department API tokens and the call log (issue 5).

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-29
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op  # noqa: F401

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
NOW = sa.func.now()


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
