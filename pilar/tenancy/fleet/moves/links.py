"""The move's connections to the nodes."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import sqlalchemy as sa
from psycopg import sql

from pilar.db.driver import driver_connection
from pilar.tenancy import get_nodes


def conninfo(node: str) -> str:
    """Return the libpq URL of ``node``, as another server would dial it."""
    url = sa.engine.make_url(get_nodes().config.urls[node])
    return url.set(drivername="postgresql").render_as_string(hide_password=False)


@contextmanager
def autocommit(node: str) -> Iterator[sa.Connection]:
    """Yield a connection to ``node`` in which every statement commits at once."""
    with get_nodes().engine(node).connect() as conn:
        yield conn.execution_options(isolation_level="AUTOCOMMIT")


def rename_schema(conn: sa.Connection, old: str, new: str) -> None:
    """Rename db schema ``old`` to ``new`` in ``conn``'s transaction."""
    driver_connection(conn).execute(
        sql.SQL("ALTER SCHEMA {} RENAME TO {}").format(
            sql.Identifier(old), sql.Identifier(new)
        )
    )
