"""A studio's own data, read in batches from one snapshot, for its right to its data.

Rows come as Core rows that read like the models' objects, a batch at a time
in keyset order (``created_at``, ``id``, oldest first), so however many there
are, no more than one batch is held at once. Every batch is read in the same
snapshot (``pilar.tenancy.snapshots``): rows written while the export is
read are not in it, and none is seen twice or missed.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from collections.abc import Iterator
from collections.abc import Sequence
from contextlib import contextmanager
from typing import Any

import sqlalchemy as sa
from sqlalchemy import orm
from sqlalchemy.sql.base import ReadOnlyColumnCollection
from sqlalchemy.sql.elements import KeyedColumnElement

from pilar.errors import NotFoundError
from pilar.models import Conversation
from pilar.models import PhoneNumber
from pilar.models import Tenant
from pilar.models import TenantIntegration
from pilar.models import TenantUser
from pilar.models import WhatsAppChannel
from pilar.models import WorkoutPlan
from pilar.services.rows import row_columns
from pilar.services.rows import row_source
from pilar.tenancy import current_tenant
from pilar.tenancy.snapshots import snapshot_session

# As many rows as the largest page of a list: an export holds no more rows in
# memory than one list request does.
BATCH_SIZE = 200

Rows = Sequence[sa.Row[Any]]
# (the table's columns) → the condition that picks the tenant's rows.
_Columns = ReadOnlyColumnCollection[str, KeyedColumnElement[Any]]
_Condition = Callable[[_Columns], sa.ColumnElement[bool]]
# Never read, so never sent: a password hash leaves the database only to be
# checked at sign-in.
_UNREAD = frozenset({"password_hash"})


@dataclasses.dataclass(frozen=True)
class Section:
    """One kind of the studio's rows; ``batches`` reads them as it is iterated."""

    name: str
    batches: Iterator[Rows]


@dataclasses.dataclass(frozen=True)
class StudioExport:
    tenant: sa.Row[str, str]
    sections: tuple[Section, ...]


@contextmanager
def studio_export() -> Iterator[StudioExport]:
    """Yield the current tenant's data, read lazily from one snapshot.

    ``tenant`` has the studio's ``name`` and ``domain``. The sections are
    ``users`` (without password hashes: the column is not read),
    ``integrations``, ``phone_numbers``, ``whatsapp_channels`` (configs as
    stored: secrets still encrypted, for the caller to redact),
    ``conversations`` and ``workout_plans``, to be iterated in that order
    inside the block, which may outlast the request (a streamed response).
    Raises ``NotFoundError`` if the tenant is gone.
    """
    tenant = current_tenant()
    with snapshot_session(tenant) as session:
        row = session.execute(
            sa.select(Tenant.name, Tenant.domain).where(Tenant.id == tenant.id)
        ).one_or_none()
        if row is None:
            raise NotFoundError(f"Tenant {tenant.domain!r} does not exist.")

        def of_tenant(columns: _Columns) -> sa.ColumnElement[bool]:
            return columns["tenant_id"] == tenant.id

        def batches(model: Any, *conditions: _Condition) -> Iterator[Rows]:
            return _batches(session, model, BATCH_SIZE, *conditions)

        yield StudioExport(
            row,
            (
                Section("users", batches(TenantUser, of_tenant)),
                Section("integrations", batches(TenantIntegration, of_tenant)),
                Section("phone_numbers", batches(PhoneNumber)),
                Section("whatsapp_channels", batches(WhatsAppChannel)),
                Section("conversations", batches(Conversation)),
                Section("workout_plans", batches(WorkoutPlan)),
            ),
        )


def _batches(
    session: orm.Session, model: Any, batch_size: int, *conditions: _Condition
) -> Iterator[Rows]:
    """Yield ``model``'s rows ``batch_size`` at a time, oldest first."""
    table = row_source(model)
    columns = [c for c in row_columns(model, table) if c.key not in _UNREAD]
    order = (table.c.created_at, table.c.id)
    statement = (
        sa.select(*columns)
        .where(*(condition(table.c) for condition in conditions))
        .order_by(*order)
        .limit(batch_size)
    )
    after: tuple[Any, Any] | None = None
    while True:
        page = statement
        if after is not None:
            page = statement.where(
                sa.tuple_(*order)
                > sa.tuple_(
                    *(sa.literal(v, c.type) for v, c in zip(after, order, strict=True))
                )
            )
        rows = session.execute(page).all()
        if rows:
            yield rows
        if len(rows) < batch_size:
            return
        after = (rows[-1].created_at, rows[-1].id)
