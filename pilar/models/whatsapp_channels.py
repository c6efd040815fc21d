"""A studio's WhatsApp Business number and its Cloud API configuration."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy import orm
from sqlalchemy.dialects import postgresql

from pilar.models.base import IdMixin
from pilar.models.base import TenantModel
from pilar.models.base import TimestampMixin
from pilar.models.enums import WhatsAppStatus

# Keys of ``wa_cloud_api_config`` kept encrypted at rest and never shown
# (pilar.security.sealed).
WA_CLOUD_API_SECRET_KEYS = ("access_token",)


class WhatsAppChannel(IdMixin, TimestampMixin, TenantModel):
    __tablename__ = "whatsapp_channels"

    wa_number: orm.Mapped[str] = orm.mapped_column(sa.String(16), unique=True)
    wa_cloud_api_config: orm.Mapped[dict[str, Any] | None] = orm.mapped_column(
        postgresql.JSONB
    )
    status: orm.Mapped[WhatsAppStatus] = orm.mapped_column(
        sa.Enum(WhatsAppStatus, name="whatsapp_status"),
        default=WhatsAppStatus.PENDING,
        server_default=WhatsAppStatus.PENDING.value,
    )

    __table_args__ = (sa.Index(None, "created_at", "id"),)
