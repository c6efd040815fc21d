"""Place tenants on nodes

Revision ID: 5b1f0e2d9a73
Revises: c666db77b9e5
Create Date: 2026-12-04 21:10:00.000000

Runs against the public db schema. Every existing tenant lives on the node
``default`` (the database of ``DATABASE_URL``).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "5b1f0e2d9a73"
down_revision = "c666db77b9e5"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column(
        "tenants",
        sa.Column(
            "node", sa.String(length=32), server_default="default", nullable=False
        ),
    )
    op.create_index(op.f("ix_tenants_node"), "tenants", ["node"], unique=False)
    op.create_table(
        "pending_drops",
        sa.Column("node", sa.String(length=32), nullable=False),
        sa.Column("schema_name", sa.String(length=63), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("node", "schema_name", name=op.f("pk_pending_drops")),
    )


def downgrade() -> None:
    op.drop_table("pending_drops")
    op.drop_index(op.f("ix_tenants_node"), table_name="tenants")
    op.drop_column("tenants", "node")
