"""PostgreSQL's logical replication of one tenant db schema from one node to another.

A move owns one publication (``FOR TABLES IN SCHEMA``) and one logical slot on
the source, and one subscription on the target, all named after the tenant's
id (``object_name``), so a move run again, or ``doctor``, finds what an
interrupted one left. The slot is created first, on a replication
connection that exports its snapshot: the move copies every row as of that
snapshot itself (``copying.copy_rows``), and the subscription, created
without a copy of its own, streams what changed after it. So no table
synchronisation workers run, which would leave replication slots of their
own, not named after the tenant, if the target went away mid-copy; and a
subscription to a database of the same server never creates its slot in
the same command, which hangs.

Statements on ``sa.Connection`` here run in autocommit mode: subscriptions
cannot be created or dropped inside a transaction block.
"""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
import sqlalchemy as sa
from psycopg import sql

from pilar.db.driver import driver_connection

PREFIX = "pilar_move_"
_LIKE = "pilar\\_move\\_%"
_NAME_RE = re.compile(r"pilar_move_[0-9a-f]{32}")
# How long a slot may stay busy after its subscription was disabled.
_SLOT_RELEASE_SECONDS = 10.0


class ReplicationError(Exception):
    """Replication of the tenant failed or did not catch up in time."""


def object_name(tenant_id: uuid.UUID) -> str:
    """Return the name of the move's publication, slot and subscription."""
    return f"{PREFIX}{tenant_id.hex}"


def tenant_of(name: str) -> uuid.UUID | None:
    """Return the tenant id an object of ours is named after, if it is one."""
    if not name.startswith(PREFIX):
        return None
    try:
        return uuid.UUID(hex=name.removeprefix(PREFIX))
    except ValueError:
        return None


def _run(conn: sa.Connection, statement: sql.Composed) -> None:
    # DDL with identifiers and literals composed by the driver, on the
    # connection's own DBAPI connection (autocommit, as SQLAlchemy set it).
    driver_connection(conn).execute(statement)


def wal_level(conn: sa.Connection) -> str:
    return str(conn.exec_driver_sql("SHOW wal_level").scalar())


def publish(source: sa.Connection, name: str, schema_name: str) -> None:
    """Create the publication of ``schema_name`` on the source, before its slot."""
    _run(
        source,
        sql.SQL("CREATE PUBLICATION {} FOR TABLES IN SCHEMA {}").format(
            sql.Identifier(name), sql.Identifier(schema_name)
        ),
    )


@contextmanager
def exported_slot(source_conninfo: str, name: str, timeout: int) -> Iterator[str]:
    """Create the slot; yield the snapshot it starts from, exported until exit.

    A transaction that sets that snapshot sees exactly the rows whose
    changes the slot will not stream.
    """
    if not _NAME_RE.fullmatch(name):
        raise ValueError(f"Not a name of ours: {name!r}.")
    with psycopg.connect(
        source_conninfo, replication="database", connect_timeout=timeout
    ) as conn:
        # The replication protocol takes no parameters and only simple
        # queries: the name, checked above, is quoted by the driver.
        command = sql.SQL(
            "CREATE_REPLICATION_SLOT {} LOGICAL pgoutput EXPORT_SNAPSHOT"
        ).format(sql.Identifier(name))
        result = conn.pgconn.exec_(command.as_bytes(conn))
        if result.status != psycopg.pq.ExecStatus.TUPLES_OK:
            message = result.error_message.decode(errors="replace").strip()
            raise ReplicationError(f"The slot could not be created: {message}")
        snapshot = result.get_value(0, 2)
        if snapshot is None:
            raise ReplicationError("The slot exported no snapshot.")
        yield snapshot.decode()


def subscribe(target: sa.Connection, name: str, source_conninfo: str) -> None:
    """Create the subscription on the target; it streams from the slot's start."""
    _run(
        target,
        sql.SQL(
            "CREATE SUBSCRIPTION {name} CONNECTION {conninfo} PUBLICATION {name} "
            "WITH (create_slot = false, slot_name = {slot}, copy_data = false, "
            # Applied changes are flushed at once, so the source learns at once
            # that the target has them: the switch waits for that.
            "synchronous_commit = 'on')"
        ).format(
            name=sql.Identifier(name),
            conninfo=sql.Literal(source_conninfo),
            slot=sql.Literal(name),
        ),
    )


def check_errors(target: sa.Connection, name: str) -> None:
    """Raise ``ReplicationError`` if the subscription's workers have failed."""
    errors = target.execute(
        sa.text(
            "SELECT apply_error_count + sync_error_count "
            "FROM pg_stat_subscription_stats WHERE subname = :name"
        ),
        {"name": name},
    ).scalar()
    if errors:
        raise ReplicationError(
            f"The subscription on the target failed {errors} times; see its log."
        )


def current_lsn(source: sa.Connection) -> str:
    # Flushed, not inserted: the walsender sends no further, and every
    # committed write of the tenant is flushed already.
    return str(source.exec_driver_sql("SELECT pg_current_wal_flush_lsn()").scalar())


def lag_bytes(source: sa.Connection, name: str) -> int | None:
    """Return how far the target is behind the source, in bytes of WAL."""
    lag = source.execute(
        sa.text(
            "SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), confirmed_flush_lsn) "
            "FROM pg_replication_slots WHERE slot_name = :name"
        ),
        {"name": name},
    ).scalar()
    return None if lag is None else int(lag)


def has_applied(source: sa.Connection, name: str, lsn: str) -> bool:
    """Tell whether the target has applied and confirmed everything up to ``lsn``."""
    return bool(
        source.execute(
            sa.text(
                "SELECT confirmed_flush_lsn >= CAST(:lsn AS pg_lsn) "
                "FROM pg_replication_slots WHERE slot_name = :name"
            ),
            {"name": name, "lsn": lsn},
        ).scalar()
    )


def stop_subscription(target: sa.Connection, name: str) -> None:
    """Disable and drop the subscription, leaving its slot to ``drop_slot``."""
    if not target.execute(
        sa.text(
            "SELECT 1 FROM pg_subscription WHERE subname = :name AND subdbid = "
            "(SELECT oid FROM pg_database WHERE datname = current_database())"
        ),
        {"name": name},
    ).scalar():
        return
    # Without its slot, dropping it does not need the source: it may be gone.
    for statement in (
        "ALTER SUBSCRIPTION {} DISABLE",
        "ALTER SUBSCRIPTION {} SET (slot_name = NONE)",
        "DROP SUBSCRIPTION {}",
    ):
        _run(target, sql.SQL(statement).format(sql.Identifier(name)))


def disable_subscription(target: sa.Connection, name: str) -> None:
    _run(target, sql.SQL("ALTER SUBSCRIPTION {} DISABLE").format(sql.Identifier(name)))


def drop_slot(source: sa.Connection, name: str) -> None:
    """Drop the slot once no walsender uses it; it would keep WAL forever."""
    deadline = time.monotonic() + _SLOT_RELEASE_SECONDS
    while True:
        active = source.execute(
            sa.text(
                "SELECT active FROM pg_replication_slots "
                "WHERE slot_name = :name AND database = current_database()"
            ),
            {"name": name},
        ).scalar()
        if active is None:
            return
        if not active:
            source.execute(sa.select(sa.func.pg_drop_replication_slot(name)))
            return
        if time.monotonic() >= deadline:
            # A walsender of ours that outlived its subscription.
            source.execute(
                sa.text(
                    "SELECT pg_terminate_backend(active_pid) "
                    "FROM pg_replication_slots WHERE slot_name = :name"
                ),
                {"name": name},
            )
            deadline = time.monotonic() + _SLOT_RELEASE_SECONDS
        time.sleep(0.1)


def drop_publication(source: sa.Connection, name: str) -> None:
    _run(
        source,
        sql.SQL("DROP PUBLICATION IF EXISTS {}").format(sql.Identifier(name)),
    )


def leftovers(conn: sa.Connection) -> dict[str, list[str]]:
    """Return our subscriptions, slots and publications in ``conn``'s database."""
    queries = {
        "subscription": "SELECT subname FROM pg_subscription WHERE subname LIKE "
        ":like AND subdbid = (SELECT oid FROM pg_database "
        "WHERE datname = current_database())",
        "slot": "SELECT slot_name FROM pg_replication_slots WHERE slot_name LIKE "
        ":like AND database = current_database()",
        "publication": "SELECT pubname FROM pg_publication WHERE pubname LIKE :like",
    }
    return {
        kind: sorted(conn.execute(sa.text(query), {"like": _LIKE}).scalars())
        for kind, query in queries.items()
    }
