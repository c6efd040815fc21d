"""Exporting a tenant to one archive while the service goes on serving it.

The db schema is read in one ``REPEATABLE READ`` transaction on the tenant's
node, the control plane's rows in one of their own: each side is one
consistent snapshot. The node's transaction holds ``ACCESS SHARE`` on every
table it reads, so requests read and write as usual while a migration or a
drop of the tenant waits for the export to end.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import uuid
from pathlib import Path

import sqlalchemy as sa
from psycopg import sql

from pilar.db.extensions import db
from pilar.errors import ConflictError
from pilar.errors import TenantNotFoundError
from pilar.models import Tenant
from pilar.models.base import PUBLIC_SCHEMA
from pilar.tenancy import get_nodes
from pilar.tenancy.fleet.archive import tables
from pilar.tenancy.fleet.archive.manifest import CONTROL_SECTION
from pilar.tenancy.fleet.archive.manifest import CONTROL_TABLES
from pilar.tenancy.fleet.archive.manifest import SCHEMA_SECTION
from pilar.tenancy.fleet.archive.manifest import ArchivedTenant
from pilar.tenancy.fleet.archive.manifest import HeldNumber
from pilar.tenancy.fleet.archive.manifest import Manifest
from pilar.tenancy.fleet.archive.manifest import tenant_key
from pilar.tenancy.fleet.archive.spool import ArchiveWriter
from pilar.tenancy.fleet.revisions import read_revision
from pilar.tenancy.names import normalize_host

# A migration may add or drop a table between the listing of the tables and
# their lock: the listing is then done again.
_LISTING_ATTEMPTS = 3
_SNAPSHOT = {"isolation_level": "REPEATABLE READ", "postgresql_readonly": True}


@dataclasses.dataclass(frozen=True)
class ExportSummary:
    """What an export wrote."""

    domain: str
    path: Path
    revision: str
    rows: int
    tables: int
    size: int


@dataclasses.dataclass(frozen=True)
class _SchemaSnapshot:
    revision: str
    numbers: list[HeldNumber]


def export_tenant(domain: str, path: Path) -> ExportSummary:
    """Write the tenant of ``domain`` to the archive at ``path`` (replaced if there).

    Raises ``TenantNotFoundError``, ``ConflictError`` when the tenant is
    dropped or moved while it is exported (run it again), and
    ``NodeUnavailableError``. The archive appears only once complete.
    """
    domain = normalize_host(domain)
    tenant = _find_tenant(domain)
    with ArchiveWriter(path) as writer:
        snapshot = _export_schema(writer, tenant)
        _export_control_plane(writer, tenant)
        manifest = Manifest(
            created_at=dt.datetime.now(dt.UTC),
            tenant=tenant,
            revision=snapshot.revision,
            numbers=tuple(snapshot.numbers),
            members=writer.members,
        )
        size = writer.write(manifest)
    return ExportSummary(
        domain,
        path,
        snapshot.revision,
        manifest.rows,
        sum(m.section == SCHEMA_SECTION for m in manifest.members),
        size,
    )


def _find_tenant(domain: str) -> ArchivedTenant:
    with db.engine.connect() as conn:
        row = conn.execute(
            sa.select(
                Tenant.id, Tenant.name, Tenant.domain, Tenant.schema_name, Tenant.node
            ).where(Tenant.domain == domain)
        ).one_or_none()
    if row is None:
        raise TenantNotFoundError(f"Tenant {domain!r} does not exist.")
    return ArchivedTenant(*row)


def _export_schema(writer: ArchiveWriter, tenant: ArchivedTenant) -> _SchemaSnapshot:
    schema_name = tenant.schema_name
    with get_nodes().engine(tenant.node).connect() as conn:
        for _ in range(_LISTING_ATTEMPTS):
            listed = tables.schema_tables(conn, schema_name)
            conn.rollback()
            if not listed:
                raise _changed(tenant, "its db schema is not on its node")
            snapshot = conn.execution_options(**_SNAPSHOT)
            with snapshot.begin():
                tables.lock_tables(snapshot, schema_name, [t.name for t in listed])
                if tables.schema_tables(snapshot, schema_name) != listed:
                    continue
                revision = read_revision(snapshot, schema_name)
                if revision is None:
                    raise _changed(tenant, "its db schema has no revision")
                for table in listed:
                    source = tables.columns_of(schema_name, table.name, table.columns)
                    with writer.member(
                        SCHEMA_SECTION, table.name, table.columns
                    ) as member:
                        member.rows = tables.copy_out(snapshot, source, member.sink)
                return _SchemaSnapshot(
                    revision, tables.held_numbers(snapshot, schema_name)
                )
    raise _changed(tenant, "its tables kept changing")


def _export_control_plane(writer: ArchiveWriter, tenant: ArchivedTenant) -> None:
    with db.engine.connect() as conn:
        snapshot = conn.execution_options(**_SNAPSHOT)
        with snapshot.begin():
            now = snapshot.execute(
                sa.select(Tenant.node, Tenant.schema_name).where(Tenant.id == tenant.id)
            ).one_or_none()
            if now is None or tuple(now) != (tenant.node, tenant.schema_name):
                raise _changed(tenant, "it was dropped or moved meanwhile")
            columns = {
                t.name: t.columns
                for t in tables.schema_tables(snapshot, PUBLIC_SCHEMA)
                if t.name in CONTROL_TABLES
            }
            for table in CONTROL_TABLES:
                query = _rows_of(table, columns[table], tenant.id)
                with writer.member(CONTROL_SECTION, table, columns[table]) as member:
                    member.rows = tables.copy_out(snapshot, query, member.sink)


def _rows_of(
    table: str, columns: tuple[str, ...], tenant_id: uuid.UUID
) -> sql.Composed:
    return sql.SQL("(SELECT {} FROM {} WHERE {} = {})").format(
        tables.names(columns),
        sql.Identifier(PUBLIC_SCHEMA, table),
        sql.Identifier(tenant_key(table)),
        sql.Literal(str(tenant_id)),
    )


def _changed(tenant: ArchivedTenant, reason: str) -> ConflictError:
    return ConflictError(
        f"Tenant {tenant.domain!r} cannot be exported now: {reason}; "
        "run the export again."
    )
