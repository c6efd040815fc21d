"""Pooled connections are pinged only after sitting idle, and replaced if dead."""

from __future__ import annotations

import time
from collections.abc import Callable
from collections.abc import Iterator

import pytest
import sqlalchemy as sa

from pilar.config import psycopg_url
from pilar.db import pool


@pytest.fixture
def pings() -> list[object]:
    """The DBAPI connections pinged, in order."""
    return []


def _engine(database_url: str, idle_seconds: float, pings: list[object]) -> sa.Engine:
    engine = sa.create_engine(psycopg_url(database_url), pool_size=1, max_overflow=0)
    do_ping = engine.dialect.do_ping

    def counting_ping(dbapi_connection):
        pings.append(dbapi_connection)
        return do_ping(dbapi_connection)

    # Counts the pings: the pool calls do_ping on the dialect, so replace it there.
    engine.dialect.do_ping = counting_ping  # type: ignore[method-assign]  # see above
    pool.ping_after_idle(engine, idle_seconds)
    return engine


@pytest.fixture
def engine_factory(database_url, pings) -> Iterator[Callable[[float], sa.Engine]]:
    engines: list[sa.Engine] = []

    def make(idle_seconds: float) -> sa.Engine:
        engine = _engine(database_url, idle_seconds, pings)
        engines.append(engine)
        return engine

    yield make
    for engine in engines:
        engine.dispose()


def _backend_pid(engine: sa.Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(sa.text("SELECT pg_backend_pid()")).scalar_one())


def _terminate(database_url: str, pid: int) -> None:
    killer = sa.create_engine(psycopg_url(database_url), poolclass=sa.NullPool)
    with killer.connect() as conn:
        conn.execute(sa.text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
    killer.dispose()


def test_a_connection_in_steady_use_is_not_pinged(engine_factory, pings):
    engine = engine_factory(60.0)
    pids = {_backend_pid(engine) for _ in range(20)}
    assert len(pids) == 1  # the same pooled connection every time
    assert pings == []


def test_an_idle_connection_is_pinged_and_a_dead_one_replaced(
    engine_factory, pings, database_url
):
    engine = engine_factory(0.05)
    first = _backend_pid(engine)
    _terminate(database_url, first)
    time.sleep(0.1)
    second = _backend_pid(engine)  # no error reaches the caller
    assert len(pings) == 1
    assert second != first


def test_a_connection_that_died_in_steady_use_fails_once_then_the_pool_recovers(
    engine_factory, pings, database_url
):
    engine = engine_factory(60.0)
    first = _backend_pid(engine)
    _terminate(database_url, first)
    with pytest.raises(sa.exc.OperationalError):
        _backend_pid(engine)
    assert _backend_pid(engine) != first
    assert pings == []
