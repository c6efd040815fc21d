"""A real PgBouncer in transaction pooling mode, in a folder of its own."""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import time
from pathlib import Path

import psycopg
import pytest

from tests.nodes import free_port

PGBOUNCER = shutil.which("pgbouncer") or "/usr/sbin/pgbouncer"


def require_pgbouncer() -> None:
    """Skip the test, saying why, where PgBouncer is not installed."""
    if not os.path.exists(PGBOUNCER):
        pytest.skip(
            "pgbouncer is not installed: `apt-get install pgbouncer` (.ci/run does)"
        )


def start_pgbouncer(
    database_url: str, workdir: Path
) -> tuple[str, subprocess.Popen[bytes]]:
    """Start PgBouncer in front of ``database_url``'s server, kept in ``workdir``.

    Returns the URL of ``database_url``'s database through PgBouncer, and its
    process. ``workdir`` holds its settings, log and ``pgbouncer.pid``; it
    must not be under pytest's tmp folder, which PgBouncer's user cannot
    enter.
    """
    info = psycopg.conninfo.conninfo_to_dict(database_url)
    workdir.chmod(0o777)
    port = free_port()
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
    except BaseException:
        process.kill()
        process.wait(timeout=10)
        raise
    user, dbname = info.get("user", "postgres"), info["dbname"]
    return f"postgresql://{user}@127.0.0.1:{port}/{dbname}", process


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
