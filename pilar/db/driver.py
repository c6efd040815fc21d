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
def discarded_when_interrupted(*conns: sa.Connection) -> Iterator[None]:
    """Throw ``conns`` away when Ctrl-C (or another exit) cuts the block short.

    A ``COPY`` interrupted while it starts leaves its connection mid-protocol:
    the rollback on the way out then fails ("another command is already in
    progress") and that error replaces the interruption, so the caller takes
    a failed query for a failed set-up and carries on. An invalidated
    connection is rolled back by closing it, and the interruption goes on up.
    Errors (``Exception``) leave the connections alone: the server ends a
    failed ``COPY`` cleanly, and a caller may still roll back to a savepoint.
    """
    try:
        yield
    except Exception:
        raise
    except BaseException:
        for conn in conns:
            conn.invalidate()
        raise
