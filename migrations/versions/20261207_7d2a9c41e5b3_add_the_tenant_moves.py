"""Add the tenant moves

Revision ID: 7d2a9c41e5b3
Revises: 2e9d4c7b1a60
Create Date: 2026-12-07 06:00:00.000000

Runs against the public db schema. A row per move of a tenant between nodes
that has begun and not yet switched.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "7d2a9c41e5b3"
down_revision = "2e9d4c7b1a60"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "tenant_moves",
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("schema_name", sa.String(length=63), nullable=False),
        sa.Column("source_node", sa.String(length=32), nullable=False),
        sa.Column("target_node", sa.String(length=32), nullable=False),
        sa.Column("mode", sa.String(length=16), nullable=False),
        sa.Column("revision", sa.String(length=255), nullable=True),
        sa.Column("fenced_name", sa.String(length=63), nullable=True),
        sa.Column(
            "started_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_tenant_moves_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("tenant_id", name=op.f("pk_tenant_moves")),
    )


def downgrade() -> None:
    op.drop_table("tenant_moves")
