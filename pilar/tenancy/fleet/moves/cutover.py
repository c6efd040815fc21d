"""The switch: writes blocked on the source, the target brought level, routing moved.

In one transaction on the source, under the tenant's advisory lock (so no
migration runs meanwhile), every table of the tenant is locked in EXCLUSIVE
mode: reads go on, writes wait. The target is brought level (the rows
copied, or replication caught up with the source's current position), the
row counts of both sides compared, and the source db schema renamed out of
reach before that transaction commits. Then the control plane switches
``tenants.node``.

The rename is the fence. A statement that any process sends to the source
afterwards, from a stale directory or after waiting for the lock, names a
db schema that is not there and fails before it changes anything; the
request then runs again on the target (``pilar.tenancy.follow``). So no
write lands on the old node after the switch, and requests learn of the
move at once instead of after the directory's TTL. The move's row records
the rename first, so an interruption before the switch is undone by
renaming back.
"""

from __future__ import annotations

import dataclasses
import random
import time
from collections.abc import Callable

import psycopg
import sqlalchemy as sa
from psycopg import sql

from pilar.db.driver import driver_connection
from pilar.models import TenantMove
from pilar.tenancy import get_nodes
from pilar.tenancy.fleet.moves import state
from pilar.tenancy.fleet.moves.copying import TableInfo
from pilar.tenancy.fleet.moves.copying import count_rows
from pilar.tenancy.fleet.moves.links import rename_schema
from pilar.tenancy.fleet.revisions import read_revision
from pilar.tenancy.locks import lock_tenant

# Below PostgreSQL's deadlock_timeout (1 s): a lock wait gives up before a
# deadlock with a writer is even looked for.
# How long the switch may try to block writes (a long transaction on the
# tenant holds it off) before it gives up.
BLOCK_WITHIN_SECONDS = 10.0
_LOCK_WAIT = "200ms"
# The tables a write transaction writes before any other: the idempotency key
# at its start, the inbound event before its conversation.
_WRITTEN_FIRST = frozenset({"idempotency_keys", "inbound_events"})


class CutoverError(Exception):
    """The switch was abandoned before the rename; writes went on on the source."""


@dataclasses.dataclass(frozen=True)
class Cutover:
    rows: int
    # Seconds from the moment writes were blocked until the switch committed.
    write_pause: float
    fenced_name: str


def run(
    move: TenantMove,
    infos: list[TableInfo],
    bring_level: Callable[[sa.Connection], None],
    target_counts: Callable[[], dict[str, int]],
    *,
    block_within: float = BLOCK_WITHIN_SECONDS,
) -> Cutover:
    """Block writes, ``bring_level`` the target, rename the source, switch.

    ``bring_level`` gets the source's connection, inside the blocking
    transaction, and makes the target hold every row of it. Raises
    ``CutoverError`` (nothing switched, nothing renamed) when writes could
    not be blocked within ``block_within`` seconds, the counts differ, the
    tenant was migrated during the move, or the switch found it gone.
    """
    fenced = state.fenced_name(move.tenant_id)
    deadline = time.monotonic() + block_within
    with get_nodes().engine(move.source_node).connect() as source:
        while True:
            transaction = source.begin()
            try:
                _block_writes(source, move.schema_name, infos)
                break
            except sa.exc.OperationalError as error:
                transaction.rollback()
                if not isinstance(error.orig, psycopg.errors.LockNotAvailable):
                    raise
                if time.monotonic() >= deadline:
                    raise CutoverError(
                        f"Writes could not be blocked within {block_within:.0f} s "
                        "(a long transaction on the tenant?)."
                    ) from None
                time.sleep(random.uniform(0.005, 0.05))  # noqa: S311  # backoff jitter
        with transaction:
            blocked_at = time.monotonic()
            revision = read_revision(source, move.schema_name)
            if revision != move.revision:
                raise CutoverError(
                    f"The tenant was migrated to {revision} during the move; "
                    "run the move again."
                )
            bring_level(source)
            source_counts = count_rows(source, move.schema_name, infos)
            counted = target_counts()
            if counted != source_counts:
                raise CutoverError(
                    f"The target holds other row counts than the source: "
                    f"{counted} against {source_counts}."
                )
            state.mark_fenced(move.tenant_id, fenced)
            rename_schema(source, move.schema_name, fenced)
        if not state.switch(move, fenced):
            raise CutoverError("The tenant was dropped or moved during the move.")
    rows = sum(source_counts.values())
    return Cutover(rows, time.monotonic() - blocked_at, fenced)


def _block_writes(
    conn: sa.Connection, schema_name: str, infos: list[TableInfo]
) -> None:
    """Take the tenant's lock and every table's EXCLUSIVE lock, or fail at once.

    EXCLUSIVE conflicts with every writer's ROW EXCLUSIVE and with nothing a
    plain SELECT takes: reads go on, writes wait for the commit. The tables
    are locked one by one, so a writer that holds one and wants another could
    deadlock with us: a lock not granted within ``_LOCK_WAIT`` gives up,
    releasing all, and the caller tries again. Tables that writers write
    first are locked first, which makes that rare.
    """
    conn.execute(sa.select(sa.func.set_config("lock_timeout", _LOCK_WAIT, True)))
    lock_tenant(conn, schema_name)
    ordered = sorted(
        infos, key=lambda info: (info.name not in _WRITTEN_FIRST, info.name)
    )
    tables = sql.SQL(", ").join(
        sql.Identifier(schema_name, info.name) for info in ordered
    )
    driver_connection(conn).execute(
        sql.SQL("LOCK TABLE {} IN EXCLUSIVE MODE").format(tables)
    )
