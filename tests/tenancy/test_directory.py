"""The tenant directory under concurrency: no stale copy of any age, and no
read from before a change stored after the change's invalidation."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask

from pilar.db.extensions import db
from pilar.models import Tenant
from pilar.models import TenantStatus
from pilar.tenancy.resolve import TenantDirectory
from pilar.tenancy.resolve import TenantRef

WAIT = 5.0


class _HeldConnection:
    """A connection that runs each query at once but hands its rows back only
    when ``release`` is set: the rows are as of before anything done while held.
    """

    def __init__(
        self, conn: sa.Connection, held: threading.Event, release: threading.Event
    ):
        self._conn = conn
        self._held = held
        self._release = release

    def __enter__(self) -> _HeldConnection:
        return self

    def __exit__(self, *exc: object) -> None:
        self._conn.close()

    def execute(self, statement: Any) -> Any:
        frozen = self._conn.execute(statement).freeze()
        self._held.set()
        assert self._release.wait(WAIT)
        return frozen()


class _HeldEngine:
    def __init__(self, engine: sa.Engine) -> None:
        self._engine = engine
        self.held = threading.Event()
        self.release = threading.Event()

    def connect(self) -> _HeldConnection:
        return _HeldConnection(self._engine.connect(), self.held, self.release)

    def hold(self) -> None:
        self.held.clear()
        self.release.clear()


@pytest.fixture
def studio(app: Flask, make_tenant: Callable[..., Any]) -> Any:
    return make_tenant()


@pytest.fixture
def engine(app: Flask) -> sa.Engine:
    with app.app_context():
        return db.engine


def _set_status(engine: sa.Engine, tenant_id: uuid.UUID, status: TenantStatus) -> None:
    with engine.begin() as conn:
        conn.execute(
            sa.update(Tenant).where(Tenant.id == tenant_id).values(status=status)
        )


def _ref(ref: TenantRef | None) -> TenantRef:
    assert ref is not None
    return ref


def _status(directory: TenantDirectory, domain: str) -> TenantStatus:
    return _ref(directory.find(domain)).status


def _directory(engine: sa.Engine, ttl: float) -> tuple[TenantDirectory, _HeldEngine]:
    held = _HeldEngine(engine)
    held.release.set()
    # A stand-in for the engine: it has the connect() the directory calls.
    return TenantDirectory(held, ttl=ttl), held  # type: ignore[arg-type]  # see above


def test_requests_wait_for_a_reload_rather_than_use_a_stale_copy(engine, studio):
    directory, held = _directory(engine, ttl=0.5)
    assert _status(directory, studio.domain) is TenantStatus.ACTIVE
    _set_status(engine, studio.id, TenantStatus.SUSPENDED)  # as another process
    time.sleep(0.6)
    held.hold()
    with ThreadPoolExecutor(2) as pool:
        reloading = pool.submit(directory.find, studio.domain)
        assert held.held.wait(WAIT)
        waiting = pool.submit(directory.find, studio.domain)
        time.sleep(0.2)
        assert not waiting.done()  # it waits; it does not answer from the old copy
        held.release.set()
        assert _ref(reloading.result(WAIT)).status is TenantStatus.SUSPENDED
        assert _ref(waiting.result(WAIT)).status is TenantStatus.SUSPENDED


def test_a_reload_read_before_a_change_does_not_undo_its_invalidation(engine, studio):
    directory, held = _directory(engine, ttl=60)
    held.hold()
    with ThreadPoolExecutor(1) as pool:
        reloading = pool.submit(directory.find, studio.domain)
        assert held.held.wait(WAIT)  # it has read the tenant as ACTIVE
        _set_status(engine, studio.id, TenantStatus.SUSPENDED)
        directory.invalidate(studio.domain)  # as the writer does, after committing
        held.release.set()
        assert _ref(reloading.result(WAIT)).status is TenantStatus.SUSPENDED
    assert _status(directory, studio.domain) is TenantStatus.SUSPENDED


def test_a_lookup_read_before_a_change_does_not_undo_its_invalidation(engine, studio):
    directory, held = _directory(engine, ttl=60)
    directory.find(studio.domain)
    directory.invalidate(studio.domain)  # so the next find looks it up alone
    held.hold()
    with ThreadPoolExecutor(1) as pool:
        looking_up = pool.submit(directory.find, studio.domain)
        assert held.held.wait(WAIT)
        _set_status(engine, studio.id, TenantStatus.SUSPENDED)
        directory.invalidate(studio.domain)
        held.release.set()
        # Read before the change, it may answer its own request as ACTIVE...
        assert looking_up.result(WAIT) is not None
    # ...but it is not kept: the next request reads the change.
    assert _status(directory, studio.domain) is TenantStatus.SUSPENDED
