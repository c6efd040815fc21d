"""Add the inbound events and the index of a contact's conversations

Revision ID: 8c4e3500dae5
Revises: 8c3e51a0d7f2
Create Date: 2026-12-06 10:12:00.000000

Runs inside one tenant db schema (bound through search_path): never name a
schema in the operations below.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "8c4e3500dae5"
down_revision = "8c3e51a0d7f2"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "inbound_events",
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("external_id", sa.String(length=256), nullable=False),
        sa.Column("conversation_id", sa.Uuid(), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint(
            "source", "external_id", name=op.f("pk_inbound_events")
        ),
    )
    op.create_index(
        "ix_conversations_channel_wa_id_created_at",
        "conversations",
        ["channel", sa.text("(metadata ->> 'wa_id')"), "created_at", "id"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index(
        "ix_conversations_channel_wa_id_created_at", table_name="conversations"
    )
    op.drop_table("inbound_events")
