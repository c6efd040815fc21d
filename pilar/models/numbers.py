"""The public index of claimed phone and WhatsApp numbers: number → tenant.

Tenant tables hold the numbers; this index makes them unique across every
tenant db schema and routes inbound calls and messages to their tenant.
"""

from __future__ import annotations

import uuid

import sqlalchemy as sa
from sqlalchemy import orm

from pilar.models.base import PublicModel
from pilar.models.base import TimestampMixin
from pilar.models.enums import NumberKind


class ClaimedNumber(TimestampMixin, PublicModel):
    __tablename__ = "claimed_numbers"

    kind: orm.Mapped[NumberKind] = orm.mapped_column(
        sa.Enum(NumberKind, name="number_kind"), primary_key=True
    )
    value: orm.Mapped[str] = orm.mapped_column(sa.String(32), primary_key=True)
    tenant_id: orm.Mapped[uuid.UUID] = orm.mapped_column(
        sa.ForeignKey("public.tenants.id", ondelete="CASCADE"), index=True
    )
    # The tenant row that holds the number (a phone number or WhatsApp channel).
    # Not a foreign key: tenant tables and public never reference each other.
    owner_id: orm.Mapped[uuid.UUID] = orm.mapped_column(sa.Uuid)
