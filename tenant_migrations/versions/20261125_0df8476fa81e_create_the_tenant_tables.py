"""Create the tenant tables

Revision ID: 0df8476fa81e
Revises:
Create Date: 2026-11-25 18:08:23.347257

Runs inside one tenant db schema (bound through search_path): never name a
schema in the operations below.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0df8476fa81e"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "conversations",
        sa.Column(
            "channel",
            sa.Enum("VOICE", "WHATSAPP", "EMAIL", name="channel"),
            nullable=False,
        ),
        sa.Column(
            "transcript",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'[]'::jsonb"),
            nullable=False,
        ),
        sa.Column(
            "metadata",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'{}'::jsonb"),
            nullable=False,
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
        sa.PrimaryKeyConstraint("id", name=op.f("pk_conversations")),
    )
    op.create_index(
        op.f("ix_conversations_channel_created_at_id"),
        "conversations",
        ["channel", "created_at", "id"],
        unique=False,
    )
    op.create_index(
        op.f("ix_conversations_created_at_id"),
        "conversations",
        ["created_at", "id"],
        unique=False,
    )
    op.create_table(
        "phone_numbers",
        sa.Column("number", sa.String(length=16), nullable=False),
        sa.Column(
            "sip_credentials", postgresql.JSONB(astext_type=sa.Text()), nullable=True
        ),
        sa.Column(
            "status",
            sa.Enum("PENDING", "ACTIVE", "DISCONNECTED", name="phone_status"),
            server_default="PENDING",
            nullable=False,
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
        sa.PrimaryKeyConstraint("id", name=op.f("pk_phone_numbers")),
        sa.UniqueConstraint("number", name=op.f("uq_phone_numbers_number")),
    )
    op.create_index(
        op.f("ix_phone_numbers_created_at_id"),
        "phone_numbers",
        ["created_at", "id"],
        unique=False,
    )
    op.create_table(
        "whatsapp_channels",
        sa.Column("wa_number", sa.String(length=16), nullable=False),
        sa.Column(
            "wa_cloud_api_config",
            postgresql.JSONB(astext_type=sa.Text()),
            nullable=True,
        ),
        sa.Column(
            "status",
            sa.Enum("PENDING", "ACTIVE", "DISCONNECTED", name="whatsapp_status"),
            server_default="PENDING",
            nullable=False,
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
        sa.PrimaryKeyConstraint("id", name=op.f("pk_whatsapp_channels")),
        sa.UniqueConstraint("wa_number", name=op.f("uq_whatsapp_channels_wa_number")),
    )
    op.create_index(
        op.f("ix_whatsapp_channels_created_at_id"),
        "whatsapp_channels",
        ["created_at", "id"],
        unique=False,
    )
    op.create_table(
        "workout_plans",
        sa.Column("user_id", sa.String(length=255), nullable=True),
        sa.Column(
            "plan",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'{}'::jsonb"),
            nullable=False,
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
        sa.PrimaryKeyConstraint("id", name=op.f("pk_workout_plans")),
    )
    op.create_index(
        op.f("ix_workout_plans_created_at_id"),
        "workout_plans",
        ["created_at", "id"],
        unique=False,
    )
    op.create_index(
        op.f("ix_workout_plans_user_id_created_at_id"),
        "workout_plans",
        ["user_id", "created_at", "id"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index(
        op.f("ix_workout_plans_user_id_created_at_id"), table_name="workout_plans"
    )
    op.drop_index(op.f("ix_workout_plans_created_at_id"), table_name="workout_plans")
    op.drop_table("workout_plans")
    op.drop_index(
        op.f("ix_whatsapp_channels_created_at_id"), table_name="whatsapp_channels"
    )
    op.drop_table("whatsapp_channels")
    op.drop_index(op.f("ix_phone_numbers_created_at_id"), table_name="phone_numbers")
    op.drop_table("phone_numbers")
    op.drop_index(op.f("ix_conversations_created_at_id"), table_name="conversations")
    op.drop_index(
        op.f("ix_conversations_channel_created_at_id"), table_name="conversations"
    )
    op.drop_table("conversations")
    for name in ("channel", "phone_status", "whatsapp_status"):
        sa.Enum(name=name).drop(op.get_bind())
