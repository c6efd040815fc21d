"""Checking a pooled connection before use, only after it sat idle.

``pool_pre_ping`` sends a round trip on every checkout. Under load a
connection goes back to the pool and out again within milliseconds, too soon
for it to have died unnoticed; one idle for longer (a server restart, a proxy
or firewall that dropped it) is what pinging is for. A connection idle for
``idle_seconds`` or more is pinged, and if dead it is replaced and the
connections older than it are recycled. One that dies while in steady use
fails its request, and SQLAlchemy's disconnect handling then recycles the pool.
"""

from __future__ import annotations

import time
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.pool import ConnectionPoolEntry
from sqlalchemy.pool import PoolProxiedConnection

_IDLE_SINCE = "pilar.idle_since"


def ping_after_idle(engine: sa.Engine, idle_seconds: float) -> None:
    """Ping ``engine``'s connections on checkout once idle ``idle_seconds``."""
    dialect = engine.dialect

    def stamp(dbapi_connection: Any, record: ConnectionPoolEntry) -> None:
        record.info[_IDLE_SINCE] = time.monotonic()

    def check(
        dbapi_connection: Any,
        record: ConnectionPoolEntry,
        proxy: PoolProxiedConnection,
    ) -> None:
        idle_since = record.info.get(_IDLE_SINCE)
        if idle_since is None or time.monotonic() - idle_since < idle_seconds:
            return  # new, or back from a request a moment ago
        try:
            dialect.do_ping(dbapi_connection)
        except dialect.loaded_dbapi.Error as error:
            # The pool replaces this connection, and those older than it.
            raise sa.exc.InvalidatePoolError(
                f"An idle connection failed its ping: {error}"
            ) from error

    event.listen(engine, "checkin", stamp)
    event.listen(engine, "checkout", check)
