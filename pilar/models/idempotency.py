"""Idempotency keys: the first answer to a keyed write, to replay to its retries.

A key is recorded in the transaction of the write it answers (docs/api.md),
so a write that committed has its key and a retry replays it; one that did
not commit has none and runs again. Tenant writes keep their keys in the
tenant's schema, on its node; platform writes in ``public``. Rows older than
``KEEP_HOURS`` are purged by later keyed writes of the same tenant.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import sqlalchemy as sa
from sqlalchemy import orm
from sqlalchemy.dialects import postgresql

from pilar.models.base import PublicModel
from pilar.models.base import TenantModel

KEEP_HOURS = 24


class _KeyColumns:
    key: orm.Mapped[str] = orm.mapped_column(sa.String(255), primary_key=True)
    # SHA-256 of method, path and body: the same key with another request is refused.
    fingerprint: orm.Mapped[str] = orm.mapped_column(sa.String(64))
    status: orm.Mapped[int] = orm.mapped_column(sa.SmallInteger)
    body: orm.Mapped[Any | None] = orm.mapped_column(postgresql.JSONB)
    created_at: orm.Mapped[dt.datetime] = orm.mapped_column(
        sa.DateTime(timezone=True), server_default=sa.func.now(), index=True
    )


class IdempotencyKey(_KeyColumns, TenantModel):
    """A tenant user's key; keys of different users never meet."""

    __tablename__ = "idempotency_keys"

    user_id: orm.Mapped[uuid.UUID] = orm.mapped_column(sa.Uuid, primary_key=True)


class PlatformIdempotencyKey(_KeyColumns, PublicModel):
    """A platform admin's key."""

    __tablename__ = "platform_idempotency_keys"

    # The tenant a create made: its key goes with it if the create is undone.
    tenant_id: orm.Mapped[uuid.UUID | None] = orm.mapped_column(
        sa.ForeignKey("public.tenants.id", ondelete="CASCADE"), index=True
    )
