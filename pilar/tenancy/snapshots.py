"""Reading a tenant's data as of one moment: a snapshot on each database it spans.

A long read (a studio's whole export, streamed to the client) must not see
rows that change while it reads, and must outlive the request's own session,
which is removed when the view returns. It gets a session of its own, bound
to the tenant like a request's, whose transaction runs ``REPEATABLE READ,
READ ONLY`` on the control plane and on the tenant's node: each database is
one snapshot; on ``default`` both are the same transaction, so all of it is.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import orm

from pilar.db.extensions import db
from pilar.tenancy import scope
from pilar.tenancy import tenant_engine
from pilar.tenancy.resolve import TenantRef

_SNAPSHOT = {"isolation_level": "REPEATABLE READ", "postgresql_readonly": True}


@contextmanager
def snapshot_session(tenant: TenantRef) -> Iterator[orm.Session]:
    """Yield a new session bound to ``tenant`` that reads one snapshot per database.

    It belongs to no application context, so it may be used after the
    request that opened it has ended (an app context must be active while
    it queries). It only reads; it is closed on leaving the block, which
    ends the snapshot.
    """
    session: orm.Session = db.session.session_factory()
    try:
        engine = tenant_engine(tenant)
        scope.bind_session(session, tenant.schema_name, engine)
        session.connection(execution_options=_SNAPSHOT)
        if engine is not session.get_bind():
            session.connection(
                bind_arguments={"bind": engine}, execution_options=_SNAPSHOT
            )
        yield session
    finally:
        session.close()
