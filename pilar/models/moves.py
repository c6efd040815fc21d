"""Moves of tenants between nodes that have begun and not yet switched.

A row exists from the moment a move starts building the tenant's copy on the
target node until the transaction that switches ``tenants.node`` deletes it.
It says what the move may have left behind if it is interrupted: the copy on
the target, the replication objects, and (once ``fenced_name`` is set) the
source db schema renamed out of the requests' reach. ``flask tenants doctor
--fix`` or running the move again undoes it.
"""

from __future__ import annotations

import datetime as dt
import uuid

import sqlalchemy as sa
from sqlalchemy import orm

from pilar.models.base import PublicModel


class TenantMove(PublicModel):
    __tablename__ = "tenant_moves"

    tenant_id: orm.Mapped[uuid.UUID] = orm.mapped_column(
        sa.ForeignKey("public.tenants.id", ondelete="CASCADE"), primary_key=True
    )
    schema_name: orm.Mapped[str] = orm.mapped_column(sa.String(63))
    source_node: orm.Mapped[str] = orm.mapped_column(sa.String(32))
    target_node: orm.Mapped[str] = orm.mapped_column(sa.String(32))
    # "logical" or "block-writes".
    mode: orm.Mapped[str] = orm.mapped_column(sa.String(16))
    # The tenant revision the copy on the target was built at.
    revision: orm.Mapped[str | None] = orm.mapped_column(sa.String(255))
    # Set just before the source db schema is renamed to it for the switch.
    fenced_name: orm.Mapped[str | None] = orm.mapped_column(sa.String(63))
    started_at: orm.Mapped[dt.datetime] = orm.mapped_column(
        sa.DateTime(timezone=True), server_default=sa.func.now()
    )
