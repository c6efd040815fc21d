"""A conversation with a member over one channel, with its transcript."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy import orm
from sqlalchemy.dialects import postgresql

from pilar.models.base import IdMixin
from pilar.models.base import TenantModel
from pilar.models.base import TimestampMixin
from pilar.models.enums import Channel


class Conversation(IdMixin, TimestampMixin, TenantModel):
    __tablename__ = "conversations"

    channel: orm.Mapped[Channel] = orm.mapped_column(sa.Enum(Channel, name="channel"))
    transcript: orm.Mapped[list[dict[str, Any]]] = orm.mapped_column(
        postgresql.JSONB, default=list, server_default=sa.text("'[]'::jsonb")
    )
    # ``metadata`` is taken by the declarative base, hence the attribute name.
    metadata_: orm.Mapped[dict[str, Any]] = orm.mapped_column(
        "metadata",
        postgresql.JSONB,
        default=dict,
        server_default=sa.text("'{}'::jsonb"),
    )

    __table_args__ = (
        sa.Index(None, "created_at", "id"),
        sa.Index(None, "channel", "created_at", "id"),
    )
