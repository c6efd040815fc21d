"""PILAR with its list query served as the floor serves it: ``--hot-path``.

Not the service: a measurement of what it would gain if the conversation list
left SQLAlchemy's execution layer and marshmallow. Everything else is PILAR
as it is: routing, the tenant binding, the token check, webargs, the session.
Only the unfiltered list runs its statement as plain psycopg on the session's
connection (in the tenant's schema, quoted by ``psycopg.sql.Identifier``) and
builds its page as dicts; it answers the same bytes
(``tests/test_bench_floor.py``).
"""

from __future__ import annotations

from typing import Any
from typing import cast

import psycopg
from flask import current_app
from psycopg import sql

from bench.http.pages import CONVERSATIONS
from bench.http.pages import conversation_page
from pilar import create_app
from pilar.db.extensions import db
from pilar.errors import TenantNotBoundError
from pilar.services import conversations
from pilar.tenancy import scope

_list_conversations = conversations.list_conversations
_FLAG = "BENCH_HOT_PATH"


def list_conversations(*, limit: int, **filters: Any) -> Any:
    # Other apps in the same process (bench.http.inprocess) keep PILAR's own.
    if not current_app.config.get(_FLAG) or any(
        value is not None for value in filters.values()
    ):
        return _list_conversations(limit=limit, **filters)
    session = db.session()
    schema_name = scope.bound_schema_name(session)
    if schema_name is None:
        raise TenantNotBoundError("No tenant is bound here.")
    driver_connection = session.connection().connection.driver_connection
    connection = cast("psycopg.Connection[Any]", driver_connection)
    rows = connection.execute(
        CONVERSATIONS.format(sql.Identifier(schema_name)), (limit + 1,)
    ).fetchall()
    page = conversation_page(rows, limit)
    return current_app.json.response(page)


conversations.list_conversations = list_conversations
app = create_app()
app.config[_FLAG] = True
