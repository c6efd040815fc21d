"""A tenant's connection to an outside system (Magicline, Fitogram, ...)."""

from __future__ import annotations

import uuid
from typing import Any

import sqlalchemy as sa
from sqlalchemy import orm
from sqlalchemy.dialects import postgresql

from pilar.models.base import IdMixin
from pilar.models.base import PublicModel
from pilar.models.base import TimestampMixin
from pilar.models.enums import TenantIntegrationType


class TenantIntegration(IdMixin, TimestampMixin, PublicModel):
    __tablename__ = "tenant_integrations"

    tenant_id: orm.Mapped[uuid.UUID] = orm.mapped_column(
        sa.ForeignKey("public.tenants.id", ondelete="CASCADE")
    )
    type: orm.Mapped[TenantIntegrationType] = orm.mapped_column(
        sa.Enum(TenantIntegrationType, name="tenant_integration_type")
    )
    config: orm.Mapped[dict[str, Any]] = orm.mapped_column(
        postgresql.JSONB, server_default=sa.text("'{}'::jsonb")
    )
    active: orm.Mapped[bool] = orm.mapped_column(
        sa.Boolean, default=True, server_default=sa.true()
    )

    __table_args__ = (sa.UniqueConstraint("tenant_id", "type"),)
