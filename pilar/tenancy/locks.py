"""Advisory locks of one tenant, taken on its node, for work that must not overlap.

A lock is named by a namespace and a name (say ``whatsapp.contact`` and a
wa_id) and held until the transaction of the tenant's session ends. Names are
hashed with the tenant's db schema to one 64-bit key: two tenants never wait
for each other, and the single-key space does not meet the two-key one of
the tenant lock (``pilar.tenancy.fleet.migrations.lock_tenant``). A collision only
makes two names wait for each other.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

import sqlalchemy as sa
from sqlalchemy import orm
from sqlalchemy.dialects import postgresql

from pilar.errors import TenantNotBoundError
from pilar.tenancy import scope

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
