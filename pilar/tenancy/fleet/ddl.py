"""A new tenant db schema built at the newest revision from DDL rendered once.

Replaying every revision for each new tenant costs more with every revision
(issue 4). Instead, once per head revision and process, the migrations run in
a scratch db schema inside a savepoint that is rolled back; the DDL of what they
built is read back from the catalog, replayed into a second scratch schema and
compared with the first (``pilar.tenancy.fleet.catalog``). Only DDL that reproduces
the migrated schema exactly is kept; a head it cannot reproduce (a view, a
trigger, seeded rows, …) is logged and new tenants replay the migrations, so
an unusual revision costs speed, never correctness.

The DDL names no db schema: it runs with the new one bound by
``scope.bind_connection``. Building a tenant uses no Alembic machinery, so
threads can provision side by side.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
import uuid
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import DBAPIError

from pilar.tenancy.fleet import catalog
from pilar.tenancy.fleet.migrations import head_revision
from pilar.tenancy.fleet.migrations import upgrade_schema
from pilar.tenancy.scope import bind_connection

logger = logging.getLogger(__name__)

# Each query returns statements for the db schema bound to the transaction,
# quoted by the server (%I, %L) and naming no db schema.
_RENDER_QUERIES = (
    """
    SELECT format('CREATE TYPE %I AS ENUM (%s)', t.typname,
                  (SELECT string_agg(quote_literal(e.enumlabel), ', '
                                     ORDER BY e.enumsortorder)
                   FROM pg_enum e WHERE e.enumtypid = t.oid))
    FROM pg_type t
    WHERE t.typnamespace = current_schema()::regnamespace AND t.typtype = 'e'
    ORDER BY t.oid""",
    """
    SELECT format('CREATE TABLE %I (%s)', c.relname, concat_ws(', ',
        (SELECT string_agg(format('%I %s%s%s%s', a.attname,
                    format_type(a.atttypid, a.atttypmod),
                    CASE WHEN a.attcollation <> t.typcollation
                         THEN format(' COLLATE %I.%I', cn.nspname, co.collname)
                    END,
                    CASE WHEN a.attnotnull THEN ' NOT NULL' END,
                    ' DEFAULT ' || pg_get_expr(d.adbin, d.adrelid)),
                  ', ' ORDER BY a.attnum)
         FROM pg_attribute a
         JOIN pg_type t ON t.oid = a.atttypid
         LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
         LEFT JOIN pg_collation co ON co.oid = a.attcollation
         LEFT JOIN pg_namespace cn ON cn.oid = co.collnamespace
         WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped),
        (SELECT string_agg(format('CONSTRAINT %I %s', k.conname,
                                  pg_get_constraintdef(k.oid)),
                           ', ' ORDER BY k.oid)
         FROM pg_constraint k WHERE k.conrelid = c.oid AND k.contype <> 'f')))
    FROM pg_class c
    WHERE c.relnamespace = current_schema()::regnamespace AND c.relkind = 'r'
    ORDER BY c.oid""",
    """
    SELECT format('ALTER TABLE %I ADD CONSTRAINT %I %s', c.relname, k.conname,
                  pg_get_constraintdef(k.oid))
    FROM pg_constraint k JOIN pg_class c ON c.oid = k.conrelid
    WHERE c.relnamespace = current_schema()::regnamespace AND k.contype = 'f'
    ORDER BY k.oid""",
    # pg_get_indexdef always qualifies the table; the bound schema is dropped.
    """
    SELECT replace(pg_get_indexdef(i.indexrelid),
                   ' ON ' || quote_ident(current_schema()) || '.', ' ON ')
    FROM pg_index i JOIN pg_class c ON c.oid = i.indrelid
    WHERE c.relnamespace = current_schema()::regnamespace
      AND NOT EXISTS (SELECT FROM pg_constraint k
                      WHERE k.conindid = i.indexrelid AND k.conrelid = i.indrelid
                        AND k.contype IN ('p', 'u', 'x'))
    ORDER BY i.indexrelid""",
    """
    SELECT format('INSERT INTO alembic_version (version_num) VALUES (%L)',
                  version_num)
    FROM alembic_version""",
)


@dataclasses.dataclass(frozen=True)
class SchemaDDL:
    """The DDL of a tenant db schema at ``revision``, stamp included.

    ``sql`` is ``None`` when rendered DDL cannot reproduce that revision.
    """

    revision: str
    sql: str | None


class SchemaTemplates:
    """DDL per head revision, rendered on first use; safe to share by threads."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._rendered: dict[tuple[str, str, tuple[int | str, ...]], SchemaDDL] = {}

    def ddl(self, conn: sa.Connection, location: str) -> SchemaDDL:
        """Return the DDL of the newest revision in ``location``.

        On first use, renders it in a savepoint of ``conn``'s transaction.
        """
        revision = head_revision(location)
        key = (location, revision, conn.dialect.server_version_info or ())
        with self._lock:
            found = self._rendered.get(key)
            if found is None:
                found = self._rendered[key] = render(conn, location, revision)
        return found

    def build(self, conn: sa.Connection, schema_name: str, location: str) -> str:
        """Bring the new, empty ``schema_name`` to the newest revision.

        Works in ``conn``'s transaction and commits nothing. Returns the
        revision, which the caller records in ``public.tenants``.
        """
        ddl = self.ddl(conn, location)
        if ddl.sql is None:
            reached = upgrade_schema(conn, schema_name, location, record=False)
            if reached is None:
                raise RuntimeError(f"No tenant migrations in {location!r}.")
            return reached
        bind_connection(conn, schema_name)
        conn.exec_driver_sql(ddl.sql)
        return ddl.revision


def render(conn: sa.Connection, location: str, revision: str) -> SchemaDDL:
    """Render the DDL of ``revision`` and check that it reproduces the schema.

    Runs in a savepoint of ``conn``'s transaction, always rolled back.
    """
    savepoint = conn.begin_nested()
    try:
        migrated = _scratch_schema(conn)
        upgrade_schema(conn, migrated, location, revision, record=False)
        sql = ";\n".join(
            statement
            for query in _RENDER_QUERIES
            for statement in conn.scalars(sa.text(query))
        )
        differences = _differences(conn, sql, catalog.snapshot(conn))
    finally:
        savepoint.rollback()
    if differences:
        logger.warning(
            "Rendered DDL does not reproduce tenant revision %s (%s); new tenants "
            "replay the migrations.",
            revision,
            ", ".join(differences),
        )
        return SchemaDDL(revision, None)
    return SchemaDDL(revision, sql + ";")


def _differences(
    conn: sa.Connection, sql: str, expected: dict[str, list[tuple[Any, ...]]]
) -> list[str]:
    """Run ``sql`` in a second scratch schema; name the facts that differ."""
    savepoint = conn.begin_nested()
    try:
        bind_connection(conn, _scratch_schema(conn))
        conn.exec_driver_sql(sql)
        return [
            name
            for name, facts in catalog.snapshot(conn).items()
            if facts != expected[name]
        ]
    except DBAPIError as err:
        return [f"the DDL fails: {err.orig}"]
    finally:
        savepoint.rollback()


def _scratch_schema(conn: sa.Connection) -> str:
    schema_name = f"pilar_scratch_{uuid.uuid4().hex[:16]}"
    conn.execute(sa.schema.CreateSchema(schema_name))
    return schema_name
