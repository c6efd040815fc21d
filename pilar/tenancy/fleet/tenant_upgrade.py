"""One tenant's upgrade, in its own transaction on its node; never raises.

On the node ``default`` the db schema and ``public.tenants`` are in one
database: both stamps move in the tenant's transaction. On another node they
are not: the schema is upgraded in the node's transaction, and once that has
committed the control plane records the new revision. A crash between the
two commits leaves the control plane behind the schema: the next run finds
the tenant pending, reads the revision from the schema itself, has nothing
to upgrade and records it (``doctor --fix`` does the same).
"""

from __future__ import annotations

import dataclasses

import sqlalchemy as sa

from pilar.tenancy.fleet import revisions
from pilar.tenancy.fleet.migrations import upgrade_schema
from pilar.tenancy.fleet.upgrades import Upgrades
from pilar.tenancy.locks import lock_tenant
from pilar.tenancy.scope import bind_connection


@dataclasses.dataclass(frozen=True)
class TenantTarget:
    """A tenant to migrate, as the plan read it from ``public.tenants``.

    Attributes:
        domain: the tenant's domain, for reports.
        schema_name: its db schema on ``node``.
        revision: the revision the control plane records for it; the
            upgrade checks it against the schema's own stamp.
        node: the node that holds the schema.
    """

    domain: str
    schema_name: str
    revision: str | None
    node: str


@dataclasses.dataclass(frozen=True)
class Outcome:
    """What became of one tenant: its revision before and after, or the error.

    Attributes:
        domain, schema_name, node: the tenant, as in its ``TenantTarget``.
        before: its schema's revision when the upgrade began.
        after: the revision it was left at; ``before`` when it failed.
        error: the failure's type and first line, or ``None``.
    """

    domain: str
    schema_name: str
    node: str
    before: str | None
    after: str | None
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


def failed(target: TenantTarget, error: str) -> Outcome:
    """Return the outcome of ``target`` left at its revision by ``error``."""
    return Outcome(
        target.domain,
        target.schema_name,
        target.node,
        target.revision,
        target.revision,
        error,
    )


def migrate_tenant(
    conn: sa.Connection,
    target: TenantTarget,
    upgrades: Upgrades,
    lock_timeout: str,
    *,
    control: sa.Engine | None = None,
) -> Outcome:
    """Upgrade one tenant on ``conn`` (its node) in its own transaction.

    ``control`` is the control plane's engine when it is another database
    than ``conn``'s. A failure rolls the tenant back to where it was and is
    reported in the outcome, so a run goes on with the other tenants.
    """
    before = target.revision
    try:
        with conn.begin():
            lock_tenant(conn, target.schema_name, lock_timeout=lock_timeout)
            bind_connection(conn, target.schema_name)
            after: str | None = upgrades.destination
            if not _upgrade_as_planned(conn, target, upgrades, stamp=control is None):
                before = revisions.read_revision(conn)
                after = _upgrade(conn, target.schema_name, upgrades, before)
                if control is None:
                    revisions.record_revision(conn, target.schema_name, after)
        if control is not None:
            with control.begin() as control_conn:
                revisions.record_revision(control_conn, target.schema_name, after)
    # A revision script can raise anything; the tenant's transaction is rolled
    # back and the error reported, which is the point of this function.
    except Exception as err:
        message = str(err).strip().splitlines()[0] if str(err).strip() else ""
        return Outcome(
            target.domain,
            target.schema_name,
            target.node,
            before,
            before,
            f"{type(err).__name__}: {message}",
        )
    return Outcome(target.domain, target.schema_name, target.node, before, after)


def _upgrade_as_planned(
    conn: sa.Connection, target: TenantTarget, upgrades: Upgrades, *, stamp: bool
) -> bool:
    """Upgrade in two round trips when the tenant is where the plan says.

    Moves the schema's stamp first (with ``stamp``, ``public.tenants``' too,
    in the same statement), matching only if the db schema is at the planned
    revision, then sends the rendered SQL. Returns ``False``, having changed
    nothing, when that does not apply.
    """
    sql = upgrades.rendered_sql(target.revision)
    if sql is None:
        return False
    if not revisions.restamp(
        conn,
        target.schema_name,
        target.revision,
        upgrades.destination,
        record=stamp,
    ):
        return False
    if sql.strip():
        conn.exec_driver_sql(sql)
    return True


def _upgrade(
    conn: sa.Connection, schema_name: str, upgrades: Upgrades, before: str | None
) -> str | None:
    # Alembic itself sorts out a db schema with no stamp or several heads.
    if before is None or "," in before:
        return upgrade_schema(
            conn, schema_name, upgrades.location, upgrades.destination, record=False
        )
    current = before
    for segment in upgrades.path(before):
        if segment.sql is None:
            upgrade_schema(
                conn, schema_name, upgrades.location, segment.revision, record=False
            )
        else:
            if segment.sql.strip():
                conn.exec_driver_sql(segment.sql)
            revisions.restamp(
                conn, schema_name, current, segment.revision, record=False
            )
        current = segment.revision
    return current
