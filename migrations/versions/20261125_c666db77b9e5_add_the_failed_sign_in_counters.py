"""Add the failed sign-in counters

Revision ID: c666db77b9e5
Revises: 447636b2e1c6
Create Date: 2026-11-25 18:13:45.230683

Runs against the public db schema.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "c666db77b9e5"
down_revision = "447636b2e1c6"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "login_failures",
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("email", sa.String(length=320), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("last_failed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("locked_until", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_login_failures_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("tenant_id", "email", name=op.f("pk_login_failures")),
    )
    op.create_index(
        op.f("ix_login_failures_last_failed_at"),
        "login_failures",
        ["last_failed_at"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_login_failures_last_failed_at"), table_name="login_failures")
    op.drop_table("login_failures")
