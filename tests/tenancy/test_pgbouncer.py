"""Isolation through a real PgBouncer in transaction pooling mode."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from flask import Flask

from pilar.db.extensions import db
from pilar.tenancy.fleet import provisioning
from tests.conftest import unique_domain
from tests.database import owner_tag
from tests.pgbouncer import require_pgbouncer
from tests.pgbouncer import start_pgbouncer
from tests.tenancy.conftest import make_probe_app


@pytest.fixture(scope="module")
def pgbouncer_url(database_url: str) -> Iterator[str]:
    require_pgbouncer()
    # Named after this run: a killed run's PgBouncer is stopped by the next
    # (tests.database.remove_stale_servers).
    workdir = Path(tempfile.mkdtemp(prefix=f"pilar-test-pgbouncer-{owner_tag()}-"))
    url, process = start_pgbouncer(database_url, workdir)
    try:
        yield url
    finally:
        process.terminate()
        process.wait(timeout=10)
        shutil.rmtree(workdir, ignore_errors=True)


@pytest.fixture
def bouncer_app(pgbouncer_url: str, app: Flask) -> Iterator[Flask]:
    probe = make_probe_app(pgbouncer_url, DB_POOL_SIZE=6, DB_MAX_OVERFLOW=0)
    yield probe
    with probe.app_context():
        db.engine.dispose()


def test_isolation_holds_behind_pgbouncer_in_transaction_mode(bouncer_app):
    # Provisioning runs through PgBouncer too: SET LOCAL search_path and DDL
    # in one transaction.
    with bouncer_app.app_context():
        studios = [
            provisioning.create_tenant("Bounced", unique_domain("bounce"))
            for _ in range(4)
        ]
    errors: list[str] = []

    def work(index: int) -> None:
        studio = studios[index % len(studios)]
        client = bouncer_app.test_client()
        for _ in range(5):
            for method, path in (
                ("POST", "/probe/plans"),
                ("GET", "/probe/plans"),
                ("POST", "/probe/rollback"),
            ):
                response = client.open(
                    path,
                    method=method,
                    json={"label": studio.domain},
                    headers={"Host": studio.domain},
                )
                rows = response.get_json()
                if response.status_code not in (200, 201) or set(rows) != {
                    studio.domain
                }:
                    errors.append(
                        f"{studio.domain} {path}: {response.status_code} {rows}"
                    )

    try:
        with ThreadPoolExecutor(max_workers=8) as pool:
            list(pool.map(work, range(16)))
        assert errors == []
        client = bouncer_app.test_client()
        for studio in studios:
            rows = client.get(
                "/probe/plans", headers={"Host": studio.domain}
            ).get_json()
            assert rows == [studio.domain] * 40
    finally:
        with bouncer_app.app_context():
            for studio in studios:
                provisioning.drop_tenant(studio.id)
