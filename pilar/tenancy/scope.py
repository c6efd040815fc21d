"""Binding a tenant's db schema to sessions and connections: the only code that does.

Tenant models name no db schema. Every engine connection carries the execution
option ``schema_translate_map = {None: UNBOUND_SCHEMA}``, so a tenant table
reached with no tenant bound renders as ``"<no tenant bound>".table`` and is
refused before it is sent (fail closed, never ``public``). Binding a tenant
replaces the map on the connection of each transaction: the schema name is
rendered into the SQL text by SQLAlchemy, so it costs no round trip, cannot
leak through a pooled (or PgBouncer) connection, and the compiled-statement
cache stays shared by all tenants.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy import orm

from pilar.db.extensions import TENANT_ENGINE_KEY
from pilar.errors import TenantNotBoundError
from pilar.tenancy.names import validate_schema_name

# Fails validate_schema_name, so no tenant db schema can ever bear it.
UNBOUND_SCHEMA = "<no tenant bound>"
_SESSION_KEY = "pilar.schema_name"


def engine_execution_options() -> dict[str, Any]:
    """Return the execution options every engine of the service starts with."""
    return {"schema_translate_map": {None: UNBOUND_SCHEMA}}


def install(engine: sa.Engine) -> None:
    """Make ``engine`` refuse tenant-table statements that have no tenant bound."""
    # Dialect events, not connection events: a single connection-level
    # listener sends every execution through SQLAlchemy's joined event
    # dispatch, four look-ups per statement (3% of a list request).
    for name, hook in (
        ("do_execute", _refuse_unbound),
        ("do_executemany", _refuse_unbound),
        ("do_execute_no_params", _refuse_unbound_no_params),
    ):
        if not event.contains(engine, name, hook):
            event.listen(engine, name, hook)


def _refuse_unbound(
    cursor: Any,  # DBAPI cursor: untyped at this boundary
    statement: str,
    parameters: Any,
    context: Any,
) -> bool:
    if UNBOUND_SCHEMA in statement:
        raise TenantNotBoundError(
            "A tenant table was queried with no tenant bound; "
            "use tenant_scope() or a tenant host."
        )
    return False  # not handled here: the dialect executes it


def _refuse_unbound_no_params(cursor: Any, statement: str, context: Any) -> bool:
    return _refuse_unbound(cursor, statement, None, context)


def bind_session(
    session: orm.Session, schema_name: str, engine: sa.Engine | None = None
) -> None:
    """Run every transaction of ``session`` in ``schema_name``, commits included.

    With ``engine`` (the tenant's node), the session sends tenant-table
    statements there (``pilar.db.extensions.Session``). One session serves one
    tenant (its identity map is not schema-aware): binding a session that is
    bound to another tenant raises ``RuntimeError``.
    """
    validate_schema_name(schema_name)
    bound = session.info.get(_SESSION_KEY)
    if bound == schema_name:
        return
    if bound is not None:
        raise RuntimeError(
            f"Session is bound to {bound!r}; use a new session for {schema_name!r}."
        )
    session.info[_SESSION_KEY] = schema_name
    if engine is not None:
        session.info[TENANT_ENGINE_KEY] = engine
    if session.in_transaction():
        _translate(session.connection(), schema_name)


def move_session(session: orm.Session, engine: sa.Engine) -> None:
    """Send ``session``'s tenant tables to ``engine``: its tenant moved there.

    The session is rolled back first; the db schema's name stays the same.
    """
    session.rollback()
    session.info[TENANT_ENGINE_KEY] = engine


def read_without_transaction(session: orm.Session) -> None:
    """Run ``session``'s first transaction in autocommit mode.

    For requests that only read: each statement is its own transaction, which
    saves the BEGIN and ROLLBACK round trips. A commit ends it; what follows
    runs in ordinary transactions again.
    """
    autocommit = {"isolation_level": "AUTOCOMMIT"}
    session.connection(execution_options=autocommit)
    engine = tenant_engine(session)
    if engine is not None and engine is not session.get_bind():
        session.connection(
            bind_arguments={"bind": engine}, execution_options=autocommit
        )


def tenant_engine(session: orm.Session) -> sa.Engine | None:
    """Return the engine of the node ``session``'s tenant is on, if bound."""
    return session.info.get(TENANT_ENGINE_KEY)


def bound_schema_name(session: orm.Session) -> str | None:
    """Return the db schema ``session`` is bound to, if any."""
    return session.info.get(_SESSION_KEY)


@event.listens_for(orm.Session, "after_begin")
def _bind_transaction(
    session: orm.Session, transaction: orm.SessionTransaction, conn: sa.Connection
) -> None:
    # Runs at the start of every transaction, so the binding survives commits
    # and rollbacks; the Connection facade (and its options) is discarded when
    # the transaction ends, so nothing reaches the pooled DBAPI connection.
    schema_name = session.info.get(_SESSION_KEY)
    if schema_name is not None:
        _translate(conn, schema_name)


def bind_connection(conn: sa.Connection, schema_name: str) -> None:
    """Bind ``schema_name`` to the transaction in progress on ``conn``.

    Sets the schema translation and, for DDL that ignores it (Alembic's ALTER
    operations), ``search_path`` local to the transaction, quoted by the
    dialect and passed as a bound value.
    """
    validate_schema_name(schema_name)
    if not conn.in_transaction():
        raise RuntimeError("bind_connection() needs a transaction in progress.")
    _translate(conn, schema_name)
    quoted = conn.dialect.identifier_preparer.quote_identifier(schema_name)
    conn.execute(sa.select(sa.func.set_config("search_path", quoted, True)))


def _translate(conn: sa.Connection, schema_name: str) -> None:
    conn.execution_options(schema_translate_map={None: schema_name})
