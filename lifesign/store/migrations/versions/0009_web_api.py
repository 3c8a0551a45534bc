"""Tables of lifesign.web.api: department API tokens and the call log (issue 5).

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-29
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
NOW = sa.func.now()


def upgrade() -> None:
    op.create_table(
        "api_tokens",
        sa.Column("token_id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("department", sa.String(64), nullable=False),
        sa.Column("name", sa.String(128), nullable=False),
        sa.Column("token_sha256", sa.String(64), nullable=False),
        sa.Column("prefix", sa.String(16), nullable=False),
        sa.Column("scopes", sa.JSON(), nullable=False),
        sa.Column("created_by", sa.String(128)),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=NOW, nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True)),
        sa.PrimaryKeyConstraint("token_id", name=op.f("pk_api_tokens")),
        sa.UniqueConstraint("token_sha256", name=op.f("uq_api_tokens_token_sha256")),
    )
    op.create_index(op.f("ix_api_tokens_department"), "api_tokens", ["department"])

    op.create_table(
        "api_calls",
        sa.Column("call_id", BigId, primary_key=True, autoincrement=True),
        sa.Column("token_id", sa.Integer()),
        sa.Column("department", sa.String(64)),
        sa.Column("method", sa.String(8), nullable=False),
        sa.Column("path", sa.String(256), nullable=False),
        sa.Column("status", sa.Integer(), nullable=False),
        sa.Column("items", sa.Integer(), nullable=False),
        sa.Column("duration_ms", sa.Float(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["token_id"], ["api_tokens.token_id"], name=op.f("fk_api_calls_token_id_api_tokens")
        ),
        sa.PrimaryKeyConstraint("call_id", name=op.f("pk_api_calls")),
    )
    op.create_index(op.f("ix_api_calls_token_id_at"), "api_calls", ["token_id", "at"])
    op.create_index(op.f("ix_api_calls_at"), "api_calls", ["at"])


def downgrade() -> None:
    op.drop_index(op.f("ix_api_calls_at"), table_name="api_calls")
    op.drop_index(op.f("ix_api_calls_token_id_at"), table_name="api_calls")
    op.drop_table("api_calls")
    op.drop_index(op.f("ix_api_tokens_department"), table_name="api_tokens")
    op.drop_table("api_tokens")
