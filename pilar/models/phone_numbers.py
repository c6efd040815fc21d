"""A studio's phone number for AI calls, with its SIP trunk credentials."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy import orm
from sqlalchemy.dialects import postgresql

from pilar.models.base import IdMixin
from pilar.models.base import TenantModel
from pilar.models.base import TimestampMixin
from pilar.models.enums import PhoneStatus

# Keys of ``sip_credentials`` kept encrypted at rest and never shown
# (pilar.security.sealed).
SIP_SECRET_KEYS = ("password",)


class PhoneNumber(IdMixin, TimestampMixin, TenantModel):
    __tablename__ = "phone_numbers"

    number: orm.Mapped[str] = orm.mapped_column(sa.String(16), unique=True)
    sip_credentials: orm.Mapped[dict[str, Any] | None] = orm.mapped_column(
        postgresql.JSONB
    )
    status: orm.Mapped[PhoneStatus] = orm.mapped_column(
        sa.Enum(PhoneStatus, name="phone_status"),
        default=PhoneStatus.PENDING,
        server_default=PhoneStatus.PENDING.value,
    )

    __table_args__ = (sa.Index(None, "created_at", "id"),)
