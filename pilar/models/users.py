"""Admin users of a tenant: they sign in to the tenant API and the data browser."""

from __future__ import annotations

import uuid

import sqlalchemy as sa
from sqlalchemy import orm

from pilar.models.base import IdMixin
from pilar.models.base import PublicModel
from pilar.models.base import TimestampMixin
from pilar.models.enums import Role


class TenantUser(IdMixin, TimestampMixin, PublicModel):
    __tablename__ = "tenant_users"

    tenant_id: orm.Mapped[uuid.UUID] = orm.mapped_column(
        sa.ForeignKey("public.tenants.id", ondelete="CASCADE")
    )
    email: orm.Mapped[str] = orm.mapped_column(sa.String(320))
    password_hash: orm.Mapped[str] = orm.mapped_column(sa.String(255))
    role: orm.Mapped[Role] = orm.mapped_column(sa.Enum(Role, name="role"))

    __table_args__ = (
        sa.Index(
            "uq_tenant_users_tenant_id_lower_email",
            "tenant_id",
            sa.func.lower(sa.column("email")),
            unique=True,
        ),
        sa.Index(None, "tenant_id", "created_at", "id"),
    )
