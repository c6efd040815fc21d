"""The psycopg connection under SQLAlchemy's: for COPY and driver-composed SQL.

Rows move between nodes and archives with ``COPY`` through psycopg, in the
transaction of the SQLAlchemy connection above it.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import psycopg
import sqlalchemy as sa


def driver_connection(conn: sa.Connection) -> psycopg.Connection[Any]:
    """Return the psycopg connection under ``conn``, in the same transaction."""
    driver = conn.connection.driver_connection
    if not isinstance(driver, psycopg.Connection):
        raise RuntimeError("The connection is not a live psycopg connection.")
    return driver


@contextmanager
def driver_cursor(conn: sa.Connection) -> Iterator[psycopg.Cursor[Any]]:
    """Yield a psycopg cursor in ``conn``'s transaction, for COPY and composed SQL.

    When Ctrl-C (or another exit that is not an error) cuts the block short,
    ``conn`` is thrown away: a ``COPY`` interrupted while it starts leaves
    its connection mid-protocol, the rollback on the way out then fails
    ("another command is already in progress"), and that error would
    replace the interruption, so the caller would take a failed query for a
    failed set-up and carry on. An invalidated connection is rolled back by
    closing it, and the interruption goes on up. Errors (``Exception``)
    leave the connection alone: the server ends a failed ``COPY`` cleanly,
    and a caller may still roll back to a savepoint.
    """
    try:
        with driver_connection(conn).cursor() as cursor:
            yield cursor
    except Exception:
        raise
    except BaseException:
        conn.invalidate()
        raise
