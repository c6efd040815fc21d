"""Key the index of a contact's conversations on the first 64 characters of wa_id

Revision ID: 51c0f7bec657
Revises: 8c4e3500dae5
Create Date: 2026-12-07 06:00:00.000000

Runs inside one tenant db schema (bound through search_path): never name a
schema in the operations below.

A whole `metadata ->> 'wa_id'` can be longer than a btree entry may be, and
then any conversation holding it, through the API too, failed to be stored.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "51c0f7bec657"
down_revision = "8c4e3500dae5"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_index(
        "ix_conversations_channel_wa_id_created_at", table_name="conversations"
    )
    op.create_index(
        "ix_conversations_channel_wa_id_created_at",
        "conversations",
        ["channel", sa.text("left(metadata ->> 'wa_id', 64)"), "created_at", "id"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index(
        "ix_conversations_channel_wa_id_created_at", table_name="conversations"
    )
    op.create_index(
        "ix_conversations_channel_wa_id_created_at",
        "conversations",
        ["channel", sa.text("(metadata ->> 'wa_id')"), "created_at", "id"],
        unique=False,
    )
