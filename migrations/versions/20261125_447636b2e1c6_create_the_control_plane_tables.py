"""Create the control plane tables

Revision ID: 447636b2e1c6
Revises:
Create Date: 2026-11-25 18:08:16.136038

Runs against the public db schema.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "447636b2e1c6"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "tenants",
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("domain", sa.String(length=253), nullable=False),
        sa.Column("schema_name", sa.String(length=63), nullable=False),
        sa.Column(
            "status",
            sa.Enum("ACTIVE", "SUSPENDED", name="tenant_status"),
            server_default="ACTIVE",
            nullable=False,
        ),
        sa.Column("schema_revision", sa.String(length=64), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tenants")),
        sa.UniqueConstraint("domain", name=op.f("uq_tenants_domain")),
        sa.UniqueConstraint("schema_name", name=op.f("uq_tenants_schema_name")),
    )
    op.create_index(
        op.f("ix_tenants_created_at_id"), "tenants", ["created_at", "id"], unique=False
    )
    op.create_table(
        "claimed_numbers",
        sa.Column(
            "kind",
            sa.Enum(
                "PHONE", "WHATSAPP", "WHATSAPP_PHONE_NUMBER_ID", name="number_kind"
            ),
            nullable=False,
        ),
        sa.Column("value", sa.String(length=32), nullable=False),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("owner_id", sa.Uuid(), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_claimed_numbers_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("kind", "value", name=op.f("pk_claimed_numbers")),
    )
    op.create_index(
        op.f("ix_claimed_numbers_tenant_id"),
        "claimed_numbers",
        ["tenant_id"],
        unique=False,
    )
    op.create_table(
        "tenant_integrations",
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column(
            "type",
            sa.Enum(
                "MAGICLINE",
                "FITOGRAM",
                "GOOGLE_CALENDAR",
                "CSV",
                name="tenant_integration_type",
            ),
            nullable=False,
        ),
        sa.Column(
            "config",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'{}'::jsonb"),
            nullable=False,
        ),
        sa.Column(
            "active", sa.Boolean(), server_default=sa.text("true"), nullable=False
        ),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_tenant_integrations_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tenant_integrations")),
        sa.UniqueConstraint(
            "tenant_id", "type", name=op.f("uq_tenant_integrations_tenant_id_type")
        ),
    )
    op.create_table(
        "tenant_users",
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("email", sa.String(length=320), nullable=False),
        sa.Column("password_hash", sa.String(length=255), nullable=False),
        sa.Column(
            "role", sa.Enum("OWNER", "ADMIN", "STAFF", name="role"), nullable=False
        ),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_tenant_users_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tenant_users")),
    )
    op.create_index(
        op.f("ix_tenant_users_tenant_id_created_at_id"),
        "tenant_users",
        ["tenant_id", "created_at", "id"],
        unique=False,
    )
    op.create_index(
        "uq_tenant_users_tenant_id_lower_email",
        "tenant_users",
        ["tenant_id", sa.literal_column("lower(email)")],
        unique=True,
    )


def downgrade() -> None:
    op.drop_index("uq_tenant_users_tenant_id_lower_email", table_name="tenant_users")
    op.drop_index(
        op.f("ix_tenant_users_tenant_id_created_at_id"), table_name="tenant_users"
    )
    op.drop_table("tenant_users")
    op.drop_table("tenant_integrations")
    op.drop_index(op.f("ix_claimed_numbers_tenant_id"), table_name="claimed_numbers")
    op.drop_table("claimed_numbers")
    op.drop_index(op.f("ix_tenants_created_at_id"), table_name="tenants")
    op.drop_table("tenants")
    for name in ("role", "tenant_integration_type", "number_kind", "tenant_status"):
        sa.Enum(name=name).drop(op.get_bind())
