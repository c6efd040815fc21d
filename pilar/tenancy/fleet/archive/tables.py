"""The tables an archive holds, read from the catalog, and their rows copied in and out.

Rows move with ``COPY … TO STDOUT`` and ``COPY … FROM STDIN`` through
psycopg, in chunks: no table is ever held in memory. Every db schema and
table name is quoted by the driver (``psycopg.sql.Identifier``).
"""

from __future__ import annotations

import dataclasses
import graphlib
from collections.abc import Iterable
from typing import Any
from typing import Protocol

import sqlalchemy as sa
from psycopg import sql

from pilar.db.driver import driver_cursor
from pilar.models import NumberKind
from pilar.tenancy.claims import number_holders
from pilar.tenancy.fleet import revisions
from pilar.tenancy.fleet.archive.manifest import HeldNumber

# Alembic's stamp: an import writes its own, at the revision it builds.
_COLUMNS = sa.text(
    """
    SELECT c.relname, array_agg(a.attname::text ORDER BY a.attnum)
    FROM pg_class c
    JOIN pg_namespace n ON n.oid = c.relnamespace
    JOIN pg_attribute a ON a.attrelid = c.oid
    WHERE n.nspname = :schema_name AND c.relkind = 'r'
      AND a.attnum > 0 AND NOT a.attisdropped AND a.attgenerated = ''
    GROUP BY c.relname
    """
)
_FOREIGN_KEYS = sa.text(
    """
    SELECT child.relname, parent.relname
    FROM pg_constraint k
    JOIN pg_class child ON child.oid = k.conrelid
    JOIN pg_class parent ON parent.oid = k.confrelid
    JOIN pg_namespace n ON n.oid = child.relnamespace
    WHERE n.nspname = :schema_name AND k.contype = 'f'
      AND parent.relnamespace = child.relnamespace
    """
)
_OPTIONS = sql.SQL("(FORMAT text, ENCODING 'UTF8')")


class Writable(Protocol):
    def write(self, data: bytes | bytearray | memoryview) -> Any: ...


@dataclasses.dataclass(frozen=True)
class Table:
    name: str
    columns: tuple[str, ...]


def schema_tables(conn: sa.Connection, schema_name: str) -> list[Table]:
    """Return the tables of ``schema_name`` but Alembic's, parents first."""
    columns = {
        name: tuple(names)
        for name, names in conn.execute(_COLUMNS, {"schema_name": schema_name})
        if name != revisions.VERSION_TABLE
    }
    parents: dict[str, set[str]] = {name: set() for name in sorted(columns)}
    for child, parent in conn.execute(_FOREIGN_KEYS, {"schema_name": schema_name}):
        if child in parents and parent != child:
            parents[child].add(parent)
    order = graphlib.TopologicalSorter(parents).static_order()
    return [Table(name, columns[name]) for name in order if name in columns]


def lock_tables(conn: sa.Connection, schema_name: str, tables: Iterable[str]) -> None:
    """Hold ``ACCESS SHARE`` on ``tables`` until the transaction ends.

    Reads and writes go on; DDL (a migration, a drop) waits. Taken before
    the transaction's first query, it also makes the snapshot of a
    ``REPEATABLE READ`` transaction begin after any such DDL committed.
    """
    names = sql.SQL(", ").join(sql.Identifier(schema_name, t) for t in tables)
    execute(conn, sql.SQL("LOCK TABLE {} IN ACCESS SHARE MODE").format(names))


def copy_out(conn: sa.Connection, source: sql.Composable, sink: Writable) -> int:
    """Copy the rows of ``source`` (a table and its columns, or a query) to ``sink``.

    Returns how many rows were copied.
    """
    statement = sql.SQL("COPY {} TO STDOUT {}").format(source, _OPTIONS)
    with driver_cursor(conn) as cursor:
        with cursor.copy(statement) as copy:
            for data in copy:
                sink.write(data)
        return cursor.rowcount


def copy_in(
    conn: sa.Connection, target: sql.Composable, chunks: Iterable[bytes]
) -> int:
    """Copy rows from ``chunks`` into ``target`` (a table and its columns).

    Returns how many rows were copied. An exception raised by ``chunks``
    aborts the copy and is raised again.
    """
    statement = sql.SQL("COPY {} FROM STDIN {}").format(target, _OPTIONS)
    with driver_cursor(conn) as cursor:
        with cursor.copy(statement) as copy:
            for chunk in chunks:
                copy.write(chunk)
        return cursor.rowcount


def columns_of(schema_name: str, table: str, columns: Iterable[str]) -> sql.Composed:
    """Return ``"schema"."table" ("column", …)``, quoted by the driver."""
    return sql.SQL("{} ({})").format(sql.Identifier(schema_name, table), names(columns))


def names(columns: Iterable[str]) -> sql.Composed:
    """Return ``"column", …``, quoted by the driver."""
    return sql.SQL(", ").join(sql.Identifier(c) for c in columns)


def held_numbers(conn: sa.Connection, schema_name: str) -> list[HeldNumber]:
    """Return the numbers the rows of ``schema_name`` hold, as claims name them."""
    held = number_holders(schema_name)
    return sorted(
        HeldNumber(NumberKind(kind), value, owner_id)
        for kind, value, owner_id in conn.execute(held)
    )


def execute(conn: sa.Connection, statement: sql.Composed) -> int:
    """Run ``statement`` in ``conn``'s transaction; return the rows it affected."""
    with driver_cursor(conn) as cursor:
        cursor.execute(statement)
        return cursor.rowcount
