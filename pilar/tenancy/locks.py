"""Every advisory lock the service takes on a tenant's behalf.

- The tenant lock (``lock_tenant``): held by a migration, a drop, an import,
  a move's switch and ``doctor``'s repairs for their transaction on the
  tenant's node, so no two of them change one db schema at once.
- Named locks inside a tenant (``hold_locks``): a namespace and a name (say
  ``whatsapp.contact`` and a wa_id), held until the transaction of the
  tenant's session ends. Names are hashed with the tenant's db schema to one
  64-bit key: two tenants never wait for each other, and the single-key space
  does not meet the two-key one of the other locks. A collision only makes
  two names wait for each other.
- The move lock (``move_lock``): session-level, on a connection of its own
  to the control plane, held for a whole move; a second move of the tenant,
  or ``doctor`` repairing it, finds it taken. A killed move's connection
  closes and the lock goes with it.

Transaction-scoped locks are safe behind PgBouncer in transaction mode. The
move lock is session-level: it holds only on a direct connection, so moves
are run with ``DATABASE_URL`` pointing at PostgreSQL itself
(docs/operations.md).
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Iterable
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
import sqlalchemy as sa
from sqlalchemy import orm
from sqlalchemy.dialects import postgresql

from pilar.errors import TenantNotBoundError
from pilar.tenancy import scope

_TENANT_NAMESPACE = "pilar.tenant"
_MOVE_NAMESPACE = "pilar.move"
# Built once: a migration run takes thousands of these locks.
_TENANT_LOCK = sa.select(
    sa.func.pg_advisory_xact_lock(
        sa.func.hashtext(_TENANT_NAMESPACE),
        sa.func.hashtext(sa.bindparam("tenant_schema", type_=sa.String)),
    )
)
# A CTE with a volatile function is evaluated on its own, before the query
# that reads it: the timeout is in force when the lock waits.
_TENANT_LOCK_WITH_TIMEOUT = _TENANT_LOCK.select_from(
    sa.select(
        sa.func.set_config(
            "lock_timeout", sa.bindparam("lock_timeout", type_=sa.String), True
        ).label("setting")
    ).cte("timeout")
)

# unnest() yields the keys in array order, and each lock is taken as its row
# is produced: ascending order, so two transactions never wait on each other
# in a cycle.
_LOCKS = sa.select(
    sa.func.count(sa.func.pg_advisory_xact_lock(sa.column("key", sa.BigInteger)))
).select_from(
    sa.func.unnest(sa.bindparam("keys", type_=postgresql.ARRAY(sa.BigInteger))).alias(
        "key"
    )
)


def lock_tenant(
    conn: sa.Connection, schema_name: str, *, lock_timeout: str | None = None
) -> None:
    """Hold the tenant's advisory lock until ``conn``'s transaction ends.

    With ``lock_timeout``, that timeout is set for the rest of the
    transaction first, in the same round trip, and bounds the wait for this
    lock too.
    """
    statement = _TENANT_LOCK if lock_timeout is None else _TENANT_LOCK_WITH_TIMEOUT
    conn.execute(
        statement, {"tenant_schema": schema_name, "lock_timeout": lock_timeout}
    )


@contextmanager
def move_lock(
    conninfo: str, tenant_id: uuid.UUID, *, connect_timeout: int
) -> Iterator[bool]:
    """Yield whether this process got the move lock of ``tenant_id``, held till exit.

    ``conninfo`` reaches the control plane directly (not through PgBouncer).
    """
    with psycopg.connect(
        conninfo, autocommit=True, connect_timeout=connect_timeout
    ) as conn:
        row = conn.execute(
            "SELECT pg_try_advisory_lock(hashtext(%s), hashtext(%s))",
            [_MOVE_NAMESPACE, str(tenant_id)],
        ).fetchone()
        yield bool(row and row[0])


def hold_locks(session: orm.Session, namespace: str, names: Iterable[str]) -> None:
    """Wait for, then hold until its transaction ends, a lock per name.

    All of them in one round trip, on the connection of the session's
    transaction on its tenant's node (begun if need be). Raises
    ``TenantNotBoundError`` if the session is bound to no tenant.
    """
    schema_name = scope.bound_schema_name(session)
    if schema_name is None:
        raise TenantNotBoundError("Tenant locks need a session bound to a tenant.")
    keys = sorted({_key(schema_name, namespace, name) for name in names})
    if not keys:
        return
    bind = scope.tenant_engine(session) or session.get_bind()
    conn = session.connection(bind_arguments={"bind": bind})
    conn.execute(_LOCKS, {"keys": keys})


def _key(schema_name: str, namespace: str, name: str) -> int:
    digest = hashlib.blake2b(
        "\0".join((schema_name, namespace, name)).encode(), digest_size=8
    ).digest()
    return int.from_bytes(digest, "big", signed=True)
