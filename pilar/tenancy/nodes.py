"""Nodes: the PostgreSQL databases that hold tenant db schemas (docs/nodes.md).

``default`` is the database of ``DATABASE_URL``, which also holds the control
plane; ``PILAR_NODES`` adds more. Each process makes one engine (and pool) per
node, the first time a tenant of that node is served, with the options of the
app's own engine: the cost of a request does not depend on how many nodes or
tenants there are. Nothing outside ``pilar.tenancy`` learns which node a
tenant is on.

A node that cannot be reached fails its own tenants' requests with
``NodeUnavailableError`` (503). After a failed connection attempt the node is
given up on for ``NODE_RETRY_SECONDS``: requests meanwhile fail at once
instead of each waiting for a connect timeout, so no worker stalls on it.
"""

from __future__ import annotations

import dataclasses
import logging
import re
import threading
import time
from collections.abc import Mapping
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event

from pilar.db import pool
from pilar.errors import NodeUnavailableError
from pilar.log import outages
from pilar.models import DEFAULT_NODE
from pilar.tenancy import scope

logger = logging.getLogger(__name__)

NODE_NAME_RE = re.compile(r"[a-z][a-z0-9_-]{0,31}")


@dataclasses.dataclass(frozen=True)
class NodeConfig:
    """What the configuration says of the nodes: names, URLs and placement."""

    urls: Mapping[str, str]
    placement: tuple[str, ...]

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(sorted(self.urls))


def parse(default_url: str, nodes: str, placement: str | None) -> NodeConfig:
    """Read ``PILAR_NODES`` and ``PILAR_PLACEMENT_NODES``.

    Raises ``ValueError`` naming the offending entry (the URL is never shown:
    it may hold a password).
    """
    urls = {DEFAULT_NODE: default_url}
    for pair in nodes.split():
        name, sep, url = pair.partition("=")
        if not sep or not url:
            raise ValueError(f"PILAR_NODES: {name!r} is not a name=url pair.")
        if not NODE_NAME_RE.fullmatch(name) or name == DEFAULT_NODE:
            raise ValueError(
                f"PILAR_NODES: {name!r} is not a node name "
                f"({NODE_NAME_RE.pattern}, not {DEFAULT_NODE!r})."
            )
        if name in urls:
            raise ValueError(f"PILAR_NODES: node {name!r} is named twice.")
        urls[name] = url
    chosen = tuple(n.strip() for n in (placement or "").split(",") if n.strip())
    unknown = sorted(set(chosen) - set(urls))
    if unknown:
        raise ValueError(f"PILAR_PLACEMENT_NODES names unknown nodes: {unknown}.")
    return NodeConfig(urls, tuple(sorted(set(chosen))) or tuple(sorted(urls)))


def engine_options(config: Mapping[str, Any]) -> dict[str, Any]:
    """Return the options of every engine of the service, the app's and the nodes'."""
    return {
        "pool_size": config["DB_POOL_SIZE"],
        "max_overflow": config["DB_MAX_OVERFLOW"],
        "pool_recycle": config["DB_POOL_RECYCLE"],
        "execution_options": scope.engine_execution_options(),
        "connect_args": {
            # Server-side prepared statements do not survive PgBouncer's
            # transaction pooling, and tenant SQL differs per db schema anyway.
            "prepare_threshold": None,
            # libpq's (and psycopg's) smallest: a node that is gone fails its
            # tenants' requests within it instead of hanging a worker.
            "connect_timeout": config["DB_CONNECT_TIMEOUT"],
        },
    }


class Nodes:
    """One engine per node, made when first needed; which nodes answer."""

    def __init__(
        self,
        config: NodeConfig,
        default_engine: sa.Engine,
        options: Mapping[str, Any],
        *,
        ping_idle: float,
        retry_seconds: float,
    ) -> None:
        self.config = config
        self._options = dict(options)
        self._ping_idle = ping_idle
        self._retry_seconds = retry_seconds
        self._engines: dict[str, sa.Engine] = {DEFAULT_NODE: default_engine}
        self._down_until: dict[str, float] = {}
        self._lock = threading.Lock()
        event.listen(default_engine, "connect", _recovered(DEFAULT_NODE))

    @property
    def names(self) -> tuple[str, ...]:
        return self.config.names

    def engine(self, name: str) -> sa.Engine:
        """Return the engine of node ``name``.

        A node this process is not configured with (a tenant placed by a
        process with another ``PILAR_NODES``) raises ``NodeUnavailableError``.
        """
        engine = self._engines.get(name)
        if engine is None:
            if name not in self.config.urls:
                logger.error("Node %r is not configured in PILAR_NODES", name)
                raise NodeUnavailableError(name, retry_after=self._retry_seconds)
            with self._lock:
                engine = self._engines.get(name)
                if engine is None:
                    engine = self._make_engine(name)
                    self._engines[name] = engine
        return engine

    def is_reachable(self, name: str) -> bool:
        """Tell whether node ``name`` answers a query now."""
        try:
            with self.engine(name).connect() as conn:
                conn.exec_driver_sql("SELECT 1")
        except (sa.exc.DBAPIError, NodeUnavailableError):
            return False
        return True

    def dispose(self) -> None:
        """Close every node's pool but the app's own (Flask-SQLAlchemy's)."""
        with self._lock:
            for name, engine in self._engines.items():
                if name != DEFAULT_NODE:
                    engine.dispose()

    def _make_engine(self, name: str) -> sa.Engine:
        from pilar.config import psycopg_url  # the bottom layer, as the app uses

        engine = sa.create_engine(psycopg_url(self.config.urls[name]), **self._options)
        scope.install(engine)
        pool.ping_after_idle(engine, self._ping_idle)
        _watch(engine, name, self)
        return engine

    # Called by the engine events below.

    def _check_up(self, name: str) -> None:
        until = self._down_until.get(name)
        if until is not None and time.monotonic() < until:
            raise NodeUnavailableError(name, retry_after=self._retry_seconds)

    def _mark_down(self, name: str) -> None:
        self._down_until[name] = time.monotonic() + self._retry_seconds

    def _mark_up(self, name: str) -> None:
        self._down_until.pop(name, None)


def _watch(engine: sa.Engine, name: str, nodes: Nodes) -> None:
    # Connection attempts go through do_connect: a node given up on a moment
    # ago is not tried again until its retry time, and a failed attempt marks
    # it so. A connection lost mid-request is left to SQLAlchemy's disconnect
    # handling, which empties the pool; the next attempt tells.
    def connect(
        dialect: Any, conn_rec: Any, cargs: Any, cparams: dict[str, Any]
    ) -> Any:
        nodes._check_up(name)
        try:
            connection = dialect.loaded_dbapi.connect(*cargs, **cparams)
        except dialect.loaded_dbapi.OperationalError as error:
            nodes._mark_down(name)
            outages.failed(logger, name, error, "A node cannot be reached")
            raise
        nodes._mark_up(name)
        outages.recovered(name)
        return connection

    event.listen(engine, "do_connect", connect)
    event.listen(engine, "handle_error", _node_unavailable(name, nodes))


def _recovered(name: str) -> Any:
    def connected(dbapi_connection: Any, record: Any) -> None:
        outages.recovered(name)

    return connected


def _node_unavailable(name: str, nodes: Nodes) -> Any:
    def handle(context: sa.engine.ExceptionContext) -> None:
        # A connection that could not be made, or one lost mid-request, is
        # the node's outage: its tenants get 503 node_unavailable.
        if context.is_disconnect or context.connection is None:
            if isinstance(context.original_exception, NodeUnavailableError):
                return
            cause = context.original_exception
            if not outages.is_reported(name, cause):
                outages.failed(logger, name, cause, "A node's connection failed")
            raise NodeUnavailableError(
                name, retry_after=nodes._retry_seconds
            ) from context.original_exception

    return handle
