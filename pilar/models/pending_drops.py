"""Tenant db schemas whose tenant is deleted but whose drop on a node is pending.

Deleting a tenant on another node than the control plane's spans two
databases. The tenant row goes first, with a row here in the same
transaction; the schema is dropped on its node next, and this row last. A
crash in between leaves a schema that ``doctor`` drops because it is listed
here, even though it holds rows.
"""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from sqlalchemy import orm

from pilar.models.base import PublicModel


class PendingDrop(PublicModel):
    __tablename__ = "pending_drops"

    node: orm.Mapped[str] = orm.mapped_column(sa.String(32), primary_key=True)
    schema_name: orm.Mapped[str] = orm.mapped_column(sa.String(63), primary_key=True)
    created_at: orm.Mapped[dt.datetime] = orm.mapped_column(
        sa.DateTime(timezone=True), server_default=sa.func.now()
    )
