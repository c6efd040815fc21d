"""Following a tenant that moved to another node while a request was on its way.

A move switches ``tenants.node`` in the control plane only after it has
renamed the tenant's db schema on the old node out of reach
(``pilar.tenancy.fleet.moves``): from then on, any statement that a process sends
there, from a directory not yet reloaded or from a request that was waiting
for the move's lock, fails because the schema is missing, before it changes
anything. This module turns that failure into a retry: the request's
transaction is rolled back, the tenant's node is read afresh from the control
plane (waiting, a few milliseconds, while the switch is being made), the
session is pointed at the new node, and the work runs again there. So no
write lands on the old node, a reader never sees an error, and a process
learns of a move at its first request that needs it, not after the
directory's TTL.

The normal path costs a ``try``; only a failed statement reads the control
plane.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

import psycopg
import sqlalchemy as sa
from flask import current_app
from flask import g

from pilar.db.extensions import db
from pilar.errors import TenantMovingError
from pilar.models import Tenant
from pilar.models import TenantMove
from pilar.tenancy.resolve import COLUMNS
from pilar.tenancy.resolve import TenantRef

_ResultT = TypeVar("_ResultT")
# How often a request waiting for a switch reads the control plane.
_POLL_SECONDS = 0.02


def call(work: Callable[[], _ResultT], rebind: Callable[[TenantRef], None]) -> _ResultT:
    """Run ``work`` for the bound tenant (``g.tenant``), following it if it moves.

    ``work`` must be safe to run again after its transaction was rolled back
    (a view, a unit of work); ``rebind`` points the request at the tenant's
    new node. Raises ``TenantMovingError`` when a switch takes longer than
    ``MOVE_WAIT_SECONDS``; other errors pass through.
    """
    deadline: float | None = None
    while True:
        try:
            return work()
        except sa.exc.ProgrammingError as error:
            tenant: TenantRef | None = g.get("tenant")
            if tenant is None or not is_missing_schema(error):
                raise
            db.session.rollback()
            found = _read_tenant(tenant.id)
            if found is None:
                raise  # dropped: the caller's handler says so
            current, moving = found
            if current.node != tenant.node:
                rebind(current)
                continue
            if not moving:
                raise  # not a move: a schema gone for another reason
            if deadline is None:
                deadline = time.monotonic() + current_app.config["MOVE_WAIT_SECONDS"]
            if time.monotonic() >= deadline:
                raise TenantMovingError(tenant.node) from error
            time.sleep(_POLL_SECONDS)


def is_missing_schema(error: sa.exc.DBAPIError) -> bool:
    """Tell whether ``error`` says a db schema or table does not exist."""
    return isinstance(
        error.orig, psycopg.errors.UndefinedTable | psycopg.errors.InvalidSchemaName
    )


def _read_tenant(tenant_id: object) -> tuple[TenantRef, bool] | None:
    """Return the tenant as the control plane has it now, and whether it is moving."""
    moving = sa.exists().where(TenantMove.tenant_id == Tenant.id)
    with db.engine.connect() as conn:
        row = conn.execute(
            sa.select(*COLUMNS, moving).where(Tenant.id == tenant_id)
        ).one_or_none()
    if row is None:
        return None
    return TenantRef(*row[:-1]), bool(row[-1])
