"""Isolation through a real PgBouncer in transaction pooling mode."""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import psycopg
import pytest
from flask import Flask

from pilar.db.extensions import db
from pilar.tenancy.fleet import provisioning
from tests.conftest import unique_domain
from tests.tenancy.conftest import make_probe_app

PGBOUNCER = shutil.which("pgbouncer") or "/usr/sbin/pgbouncer"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_for(port: int, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"pgbouncer exited: {log.read_text() if log.exists() else ''}")
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    pytest.fail("pgbouncer did not start listening")


@pytest.fixture(scope="module")
def pgbouncer_url(database_url: str) -> Iterator[str]:
    if not os.path.exists(PGBOUNCER):
        pytest.skip(
            "pgbouncer is not installed: `apt-get install pgbouncer` (.ci/run does)"
        )
    info = psycopg.conninfo.conninfo_to_dict(database_url)
    # Not under pytest's tmp folder: PgBouncer runs as another user, and that
    # folder is private to ours.
    workdir = Path(tempfile.mkdtemp(prefix="pilar-pgbouncer-"))
    workdir.chmod(0o777)
    port = _free_port()
    (workdir / "users.txt").write_text(f'"{info.get("user", "postgres")}" ""\n')
    upstream = f"host={info.get('host', '127.0.0.1')} port={info.get('port', 5432)}"
    (workdir / "pgbouncer.ini").write_text(
        "[databases]\n"
        f"* = {upstream}\n"
        "[pgbouncer]\n"
        "listen_addr = 127.0.0.1\n"
        f"listen_port = {port}\n"
        "unix_socket_dir =\n"
        "auth_type = trust\n"
        f"auth_file = {workdir / 'users.txt'}\n"
        "pool_mode = transaction\n"
        # Fewer server connections than client connections, so transactions
        # of different clients (and tenants) share server connections.
        "default_pool_size = 2\n"
        "max_client_conn = 100\n"
        f"logfile = {workdir / 'pgbouncer.log'}\n"
        f"pidfile = {workdir / 'pgbouncer.pid'}\n"
    )
    for path in workdir.iterdir():
        path.chmod(0o666)
    # PgBouncer refuses to run as root; -u drops to a user that can reach
    # the server: the owner of its socket folder, or postgres over TCP.
    command = [PGBOUNCER, str(workdir / "pgbouncer.ini")]
    if os.geteuid() == 0:
        host = str(info.get("host", "127.0.0.1"))
        owner = (
            pwd.getpwuid(os.stat(host).st_uid).pw_name
            if host.startswith("/")
            else "postgres"
        )
        command[1:1] = ["-u", owner]
    process = subprocess.Popen(
        command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        _wait_for(port, process, workdir / "pgbouncer.log")
        user, dbname = info.get("user", "postgres"), info["dbname"]
        yield f"postgresql://{user}@127.0.0.1:{port}/{dbname}"
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
