"""Dropping a tenant: its rows, then its db schema, listed until it is gone.

See the package's docstring for the order of the steps across two databases.
"""

from __future__ import annotations

import uuid

import sqlalchemy as sa
from sqlalchemy import orm

from pilar.db.extensions import db
from pilar.errors import NotFoundError
from pilar.models import DEFAULT_NODE
from pilar.models import PendingDrop
from pilar.models import Tenant
from pilar.tenancy import directory
from pilar.tenancy import get_nodes
from pilar.tenancy.fleet.provisioning.creating import InTransaction
from pilar.tenancy.locks import lock_tenant


def drop_tenant(
    tenant_id: uuid.UUID, *, in_transaction: InTransaction | None = None
) -> Tenant:
    """Drop a tenant's db schema and every row of it; commits.

    Atomic on ``default``; ordered on another node (see the module's
    docstring). Waits for a migration run that holds the tenant. Raises
    ``NotFoundError``, and ``NodeUnavailableError`` having changed nothing.
    """
    with db.engine.connect() as conn:
        node = conn.scalar(sa.select(Tenant.node).where(Tenant.id == tenant_id))
    if node is None or node == DEFAULT_NODE:
        with db.engine.connect() as conn, conn.begin():
            tenant = _delete_rows(conn, conn, tenant_id)
            conn.execute(_drop_schema(tenant.schema_name))
            if in_transaction is not None:
                in_transaction(conn, None, None)
    else:
        with get_nodes().engine(node).connect() as node_conn, node_conn.begin():
            with db.engine.connect() as conn, conn.begin():
                tenant = _delete_rows(conn, node_conn, tenant_id)
                conn.execute(
                    sa.insert(PendingDrop).values(
                        node=node, schema_name=tenant.schema_name
                    )
                )
                if in_transaction is not None:
                    in_transaction(conn, None, None)
            _crash_point("deleted_rows")
            node_conn.execute(_drop_schema(tenant.schema_name))
        _crash_point("dropped_schema")
        finish_pending_drop(node, tenant.schema_name)
    directory().invalidate(tenant.domain)
    return tenant


def finish_pending_drop(node: str, schema_name: str) -> None:
    """Forget the pending drop of ``schema_name`` on ``node``; its schema is gone."""
    with db.engine.connect() as conn, conn.begin():
        conn.execute(
            sa.delete(PendingDrop).where(
                PendingDrop.node == node, PendingDrop.schema_name == schema_name
            )
        )


def _delete_rows(
    conn: sa.Connection, node_conn: sa.Connection, tenant_id: uuid.UUID
) -> Tenant:
    with orm.Session(bind=conn, expire_on_commit=False) as session:
        tenant = session.get(Tenant, tenant_id, with_for_update=True)
        if tenant is None:
            raise NotFoundError(f"Tenant {str(tenant_id)!r} does not exist.")
        lock_tenant(node_conn, tenant.schema_name)
        session.delete(tenant)
        session.flush()
        session.expunge(tenant)
    return tenant


def _drop_schema(schema_name: str) -> sa.schema.DropSchema:
    return sa.schema.DropSchema(schema_name, cascade=True, if_exists=True)


def _crash_point(name: str) -> None:
    """Do nothing; tests replace it to fail between two databases' commits."""
