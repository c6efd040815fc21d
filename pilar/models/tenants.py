"""The tenant row: one fitness studio, its db schema and the node that holds it."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy import orm

from pilar.models.base import IdMixin
from pilar.models.base import PublicModel
from pilar.models.base import TimestampMixin
from pilar.models.enums import TenantStatus

# The node of DATABASE_URL, which also holds the control plane.
DEFAULT_NODE = "default"
# The longest studio name the column holds; the API and the CLI check it.
MAX_TENANT_NAME_LENGTH = 200


class Tenant(IdMixin, TimestampMixin, PublicModel):
    __tablename__ = "tenants"

    name: orm.Mapped[str] = orm.mapped_column(sa.String(MAX_TENANT_NAME_LENGTH))
    domain: orm.Mapped[str] = orm.mapped_column(sa.String(253), unique=True)
    schema_name: orm.Mapped[str] = orm.mapped_column(sa.String(63), unique=True)
    status: orm.Mapped[TenantStatus] = orm.mapped_column(
        sa.Enum(TenantStatus, name="tenant_status"),
        default=TenantStatus.ACTIVE,
        server_default=TenantStatus.ACTIVE.value,
    )
    # The tenant migration revision its db schema is at, written in the same
    # transaction as the schema's own alembic_version, so a migration run can
    # skip tenants at the target after a single query.
    schema_revision: orm.Mapped[str | None] = orm.mapped_column(sa.String(64))
    # The node (PostgreSQL database) that holds the db schema.
    node: orm.Mapped[str] = orm.mapped_column(
        sa.String(32), default=DEFAULT_NODE, server_default=DEFAULT_NODE, index=True
    )

    __table_args__ = (sa.Index(None, "created_at", "id"),)
