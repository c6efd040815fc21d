"""Loading an archive's members into the databases, in the manifest's order.

The node side builds the tenant's db schema at the archive's revision, copies
its rows in and upgrades it to the newest revision; the control-plane side
copies the tenant's rows in through temporary tables (a renamed tenant's
domain and schema name replacing the archive's) and claims its numbers.
Every member is checked as it loads: its row count against the manifest's,
its rows against the tenant's id, a name or number taken meanwhile against
the conflicts. Nothing here commits: which transactions these run in, and
the order they commit, is ``importing``'s to say.
"""

from __future__ import annotations

from collections.abc import Iterator

import psycopg
import sqlalchemy as sa
from flask import current_app
from psycopg import sql
from sqlalchemy.exc import IntegrityError
from sqlalchemy.exc import ProgrammingError

from pilar.errors import ArchiveError
from pilar.errors import first_line
from pilar.models import ClaimedNumber
from pilar.models.base import PUBLIC_SCHEMA
from pilar.tenancy.fleet.archive import tables
from pilar.tenancy.fleet.archive.conflicts import Target
from pilar.tenancy.fleet.archive.conflicts import control_plane_conflicts
from pilar.tenancy.fleet.archive.conflicts import refuse_conflicts
from pilar.tenancy.fleet.archive.manifest import SCHEMA_SECTION
from pilar.tenancy.fleet.archive.manifest import Manifest
from pilar.tenancy.fleet.archive.manifest import tenant_key
from pilar.tenancy.fleet.archive.reader import MemberStream
from pilar.tenancy.fleet.building import build_schema
from pilar.tenancy.fleet.migrations import head_revision
from pilar.tenancy.fleet.migrations import upgrade_schema
from pilar.tenancy.locks import lock_tenant

_LOAD_ERRORS = (psycopg.DataError, psycopg.IntegrityError, psycopg.ProgrammingError)


def load_schema(
    node_conn: sa.Connection,
    streams: Iterator[MemberStream],
    manifest: Manifest,
    target: Target,
) -> tuple[str, int]:
    """Build the db schema at the archive's revision, load its rows, upgrade it.

    Returns the revision reached and the rows loaded. Commits nothing.
    """
    location = current_app.config["TENANT_MIGRATIONS_DIR"]
    lock_tenant(node_conn, target.schema_name)
    try:
        node_conn.execute(sa.schema.CreateSchema(target.schema_name))
    except ProgrammingError as err:
        if not isinstance(err.orig, psycopg.errors.DuplicateSchema):
            raise
        taken = f"{target.schema_name!r} was created meanwhile on {target.node!r}."
        refuse_conflicts({"schema_name": [taken]}, target)
    head = head_revision(location)
    build_schema(node_conn, target.schema_name, manifest.revision)
    rows = 0
    for member in manifest.members:
        if member.section == SCHEMA_SECTION:
            stream = next(streams)
            columns = tables.columns_of(
                target.schema_name, member.table, member.columns
            )
            rows += _copy_member(node_conn, columns, stream)
    if manifest.revision != head:
        upgrade_schema(node_conn, target.schema_name, location, head, record=False)
    return head, rows


def write_control_plane(
    conn: sa.Connection,
    node_conn: sa.Connection,
    streams: Iterator[MemberStream],
    target: Target,
    revision: str,
) -> int:
    """Write the tenant's control-plane rows and claim its numbers; commits nothing.

    Returns the rows written (claims aside).
    """
    numbers = tuple(tables.held_numbers(node_conn, target.schema_name))
    refuse_conflicts(control_plane_conflicts(conn, target, numbers), target)
    overrides = {
        "domain": target.domain,
        "schema_name": target.schema_name,
        "node": target.node,
        "schema_revision": revision,
    }
    rows = 0
    try:
        with conn.begin_nested():
            for stream in streams:
                table = stream.member.table
                rows += _insert_rows(
                    conn, stream, target, overrides if table == "tenants" else {}
                )
            if numbers:
                conn.execute(
                    sa.insert(ClaimedNumber),
                    [
                        {
                            "kind": n.kind,
                            "value": n.value,
                            "tenant_id": target.id,
                            "owner_id": n.owner_id,
                        }
                        for n in numbers
                    ],
                )
    except (IntegrityError, psycopg.errors.UniqueViolation):
        # Another create or import took a name or number since the check.
        refuse_conflicts(control_plane_conflicts(conn, target, numbers), target)
        raise
    return rows


def _insert_rows(
    conn: sa.Connection,
    stream: MemberStream,
    target: Target,
    overrides: dict[str, str],
) -> int:
    """Load a control-plane member into a temporary table, then insert its rows.

    Values in ``overrides`` replace the archive's (a renamed tenant's domain).
    """
    member = stream.member
    public_table = sql.Identifier(PUBLIC_SCHEMA, member.table)
    staging = sql.Identifier(f"pilar_import_{member.table}")
    tables.execute(
        conn,
        sql.SQL(
            "CREATE TEMPORARY TABLE {} (LIKE {} INCLUDING DEFAULTS) ON COMMIT DROP"
        ).format(staging, public_table),
    )
    loaded = _copy_member(
        conn, sql.SQL("{} ({})").format(staging, tables.names(member.columns)), stream
    )
    columns = list(member.columns) + [c for c in overrides if c not in member.columns]
    values = [
        sql.Literal(overrides[c]) if c in overrides else sql.Identifier(c)
        for c in columns
    ]
    inserted = tables.execute(
        conn,
        sql.SQL("INSERT INTO {} ({}) SELECT {} FROM {} WHERE {} = {}").format(
            public_table,
            tables.names(columns),
            sql.SQL(", ").join(values),
            staging,
            sql.Identifier(tenant_key(member.table)),
            sql.Literal(str(target.id)),
        ),
    )
    if inserted != loaded or (member.table == "tenants" and inserted != 1):
        raise ArchiveError(
            f"The archive's {member.name} holds rows of another tenant than its "
            "manifest's."
        )
    return inserted


def _copy_member(
    conn: sa.Connection, columns: sql.Composable, stream: MemberStream
) -> int:
    member = stream.member
    try:
        loaded = tables.copy_in(conn, columns, stream.chunks())
    except _LOAD_ERRORS as err:
        raise ArchiveError(
            f"The archive's {member.name} does not load: {first_line(err)}."
        ) from None
    if loaded != member.rows:
        raise ArchiveError(
            f"The archive's {member.name} holds {loaded} rows; its manifest "
            f"says {member.rows}."
        )
    return loaded
