"""Add the platform idempotency keys

Revision ID: 2e9d4c7b1a60
Revises: 5b1f0e2d9a73
Create Date: 2026-12-04 21:40:00.000000

Runs against the public db schema.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "2e9d4c7b1a60"
down_revision = "5b1f0e2d9a73"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "platform_idempotency_keys",
        sa.Column("tenant_id", sa.Uuid(), nullable=True),
        sa.Column("key", sa.String(length=255), nullable=False),
        sa.Column("fingerprint", sa.String(length=64), nullable=False),
        sa.Column("status", sa.SmallInteger(), nullable=False),
        sa.Column("body", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_platform_idempotency_keys_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_platform_idempotency_keys")),
    )
    op.create_index(
        op.f("ix_platform_idempotency_keys_created_at"),
        "platform_idempotency_keys",
        ["created_at"],
        unique=False,
    )
    op.create_index(
        op.f("ix_platform_idempotency_keys_tenant_id"),
        "platform_idempotency_keys",
        ["tenant_id"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_table("platform_idempotency_keys")
