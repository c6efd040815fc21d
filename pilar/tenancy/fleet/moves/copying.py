"""The tenant's db schema on the target node: built empty, then filled by COPY.

The copy is built at the tenant's own revision (not necessarily the newest)
with its ``alembic_version`` left empty, since the rows, the stamp included,
come from the source. Both modes fill it with ``fill``: every table streamed
from one server to the other in PostgreSQL's binary COPY format (text between
servers of different major versions), chunk by chunk, never holding a table
in memory, with the indexes built after the rows. The logical mode reads the
source as of its replication slot's snapshot (``use_snapshot``); the
subscription then streams only what changed since.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import sqlalchemy as sa
from psycopg import sql
from sqlalchemy.dialects.postgresql import REGCLASS

from pilar.db.driver import driver_connection
from pilar.db.driver import driver_cursor
from pilar.tenancy.fleet import revisions
from pilar.tenancy.fleet.building import build_schema
from pilar.tenancy.scope import bind_connection


@dataclasses.dataclass(frozen=True)
class TableInfo:
    """A table of the tenant's db schema and its columns, in order."""

    name: str
    columns: tuple[str, ...]


def tables(conn: sa.Connection, schema_name: str) -> list[TableInfo]:
    """Return the tables of ``schema_name`` with their columns, by name."""
    rows = conn.execute(
        sa.text(
            "SELECT c.relname, array_agg(a.attname::text ORDER BY a.attnum) "
            "FROM pg_class c "
            "JOIN pg_namespace n ON n.oid = c.relnamespace "
            "JOIN pg_attribute a ON a.attrelid = c.oid "
            "AND a.attnum > 0 AND NOT a.attisdropped "
            "WHERE n.nspname = :schema AND c.relkind IN ('r', 'p') "
            "GROUP BY c.relname ORDER BY c.relname"
        ),
        {"schema": schema_name},
    )
    return [TableInfo(name, tuple(columns)) for name, columns in rows]


def build_copy(conn: sa.Connection, schema_name: str, revision: str | None) -> None:
    """Create ``schema_name`` on ``conn``'s node at ``revision``, with no rows.

    Its stamp is left empty: the rows, the stamp and the tenant's switch
    come together at the end of the move.
    """
    conn.execute(sa.schema.CreateSchema(schema_name))
    if revision is not None:
        build_schema(conn, schema_name, revision)
    bind_connection(conn, schema_name)
    revisions.clear_stamp(conn)


def count_rows(
    conn: sa.Connection, schema_name: str, infos: list[TableInfo]
) -> dict[str, int]:
    """Return each table's row count, in one round trip."""
    counts = sa.union_all(
        *(
            sa.select(
                sa.literal(info.name, sa.String).label("name"),
                sa.func.count().label("rows"),
            ).select_from(sa.table(info.name, schema=schema_name))
            for info in infos
        )
    )
    return {name: int(rows) for name, rows in conn.execute(counts)}


def copy_rows(
    source: sa.Connection,
    target: sa.Connection,
    schema_name: str,
    infos: list[TableInfo],
    *,
    binary: bool,
    progress: Callable[[str], None],
) -> None:
    """Copy every row of ``infos`` from ``source`` to ``target``.

    Runs in both connections' transactions; the source's sees the rows to
    copy and no later ones (a lock keeps writers out, or a snapshot).
    """
    counts = count_rows(source, schema_name, infos)
    total, copied = sum(counts.values()), 0
    fmt = sql.SQL("(FORMAT binary)" if binary else "")
    for info in infos:
        table = sql.Identifier(schema_name, info.name)
        columns = sql.SQL(", ").join(sql.Identifier(c) for c in info.columns)
        out = sql.SQL("COPY {} ({}) TO STDOUT {}").format(table, columns, fmt)
        into = sql.SQL("COPY {} ({}) FROM STDIN {}").format(table, columns, fmt)
        with (
            driver_cursor(source) as reader,
            driver_cursor(target) as writer,
            reader.copy(out) as rows_out,
            writer.copy(into) as rows_in,
        ):
            for chunk in rows_out:
                rows_in.write(chunk)
        copied += counts[info.name]
        progress(f"copied {info.name}: {copied:,} of {total:,} rows")


def fill(
    source: sa.Connection,
    target: sa.Connection,
    schema_name: str,
    infos: list[TableInfo],
    progress: Callable[[str], None],
) -> None:
    """Copy every row into the target's empty tables; their indexes come after."""
    indexes = defer_indexes(target, schema_name)
    copy_rows(
        source,
        target,
        schema_name,
        infos,
        binary=_same_major_version(source, target),
        progress=progress,
    )
    build_indexes(target, indexes)


def _same_major_version(*conns: sa.Connection) -> bool:
    # Binary COPY is read back by the same major version only.
    versions = {
        int(str(conn.exec_driver_sql("SHOW server_version_num").scalar())) // 10000
        for conn in conns
    }
    return len(versions) == 1


def defer_indexes(conn: sa.Connection, schema_name: str) -> list[str]:
    """Drop the indexes no constraint needs; return how to build them again.

    Rows load faster into tables without them, and an index built once over
    every row is smaller than one grown row by row, as pg_restore does it.
    The definitions are the server's own (``pg_indexes``), quoted by it.
    """
    rows = conn.execute(
        sa.text(
            "SELECT i.indexname, i.indexdef FROM pg_indexes i "
            "WHERE i.schemaname = :schema AND NOT EXISTS ("
            "SELECT 1 FROM pg_constraint c JOIN pg_namespace n "
            "ON n.oid = c.connamespace "
            "WHERE n.nspname = i.schemaname AND c.conname = i.indexname)"
        ),
        {"schema": schema_name},
    ).all()
    for name, _ in rows:
        driver_connection(conn).execute(
            sql.SQL("DROP INDEX {}").format(sql.Identifier(schema_name, name))
        )
    return [definition for _, definition in rows]


def build_indexes(conn: sa.Connection, definitions: list[str]) -> None:
    """Build again the indexes ``defer_indexes`` dropped."""
    for definition in definitions:
        conn.exec_driver_sql(definition)


def use_snapshot(conn: sa.Connection, snapshot: str) -> None:
    """Make ``conn``'s new REPEATABLE READ transaction see exported ``snapshot``."""
    driver_connection(conn).execute(
        sql.SQL("SET TRANSACTION SNAPSHOT {}").format(sql.Literal(snapshot))
    )


def carry_sequences(
    source: sa.Connection, target: sa.Connection, schema_name: str
) -> None:
    """Set each of the target's sequences to the source's position.

    Neither COPY nor logical replication carries a sequence's position.
    """
    rows = source.execute(
        sa.text(
            "SELECT sequencename, last_value FROM pg_sequences "
            "WHERE schemaname = :schema AND last_value IS NOT NULL"
        ),
        {"schema": schema_name},
    )
    for name, value in rows:
        # format('%I.%I') quotes both names on the server.
        sequence = sa.cast(sa.func.format("%I.%I", schema_name, name), REGCLASS)
        target.execute(sa.select(sa.func.setval(sequence, value)))
