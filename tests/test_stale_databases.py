"""What a killed run leaves behind, the next run removes (tests.database)."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from pilar.db import embedded
from tests.database import HOST
from tests.database import STALE_AFTER
from tests.database import database_name
from tests.database import owner_tag
from tests.database import remove_stale_databases
from tests.database import remove_stale_servers
from tests.database import stale_databases
from tests.pgbouncer import require_pgbouncer
from tests.pgbouncer import start_pgbouncer

ROOT = Path(__file__).resolve().parent.parent
# Above PID_MAX_LIMIT (2**22): no process has it.
DEAD_PID = 2**22 + 1
OTHER_HOST = "0" * 8 if HOST != "0" * 8 else "1" * 8


def _databases(url: str) -> set[str]:
    with psycopg.connect(url) as conn:
        return {name for (name,) in conn.execute("SELECT datname FROM pg_database")}


def _create(url: str, name: str) -> str:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    head = url.partition("?")[0].rsplit("/", 1)[0]
    return f"{head}/{name}"


def _drop(url: str, names: list[str]) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        for name in names:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
                    sql.Identifier(name)
                )
            )


def test_stale_databases_are_dropped_and_the_others_stay(database_url):
    gone = database_name(pid=DEAD_PID)
    live = database_name()
    old_elsewhere = database_name(
        host=OTHER_HOST, pid=DEAD_PID, born=time.time() - STALE_AFTER - 60
    )
    # Another machine's pids cannot be asked about: only its age counts.
    new_elsewhere = database_name(host=OTHER_HOST, pid=DEAD_PID)
    # Named the way runs before owner tags named them: not ours to judge.
    untagged = f"pilar_test_{uuid.uuid4().hex[:10]}"
    names = [gone, live, old_elsewhere, new_elsewhere, untagged]
    try:
        for name in names:
            _create(database_url, name)
        assert {gone, old_elsewhere} <= set(stale_databases(database_url))

        dropped = remove_stale_databases([database_url])

        assert {gone, old_elsewhere} <= set(dropped)
        assert not {live, new_elsewhere, untagged} & set(dropped)
        left = _databases(database_url)
        assert not {gone, old_elsewhere} & left
        assert {live, new_elsewhere, untagged} <= left
    finally:
        _drop(database_url, names)


def test_a_killed_process_leaves_a_database_the_next_run_drops(database_url):
    # What a test run's worker does, killed (SIGKILL) before it can drop it.
    script = (
        "import sys, time\n"
        "from tests.database import throwaway_database\n"
        "with throwaway_database(sys.argv[1]) as url:\n"
        "    print(url.rsplit('/', 1)[1], flush=True)\n"
        "    time.sleep(600)\n"
    )
    child = subprocess.Popen(
        [sys.executable, "-c", script, database_url],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert child.stdout is not None
        name = child.stdout.readline().strip()
        assert name in _databases(database_url)
        assert name not in stale_databases(database_url)  # its maker runs
    finally:
        child.kill()
        child.wait()
        assert child.stdout is not None
        child.stdout.close()

    assert name in stale_databases(database_url)
    assert name in remove_stale_databases([database_url])
    assert name not in _databases(database_url)


def _wait_for_active_slot(url: str, slot: str) -> None:
    deadline = time.monotonic() + 30
    with psycopg.connect(url, autocommit=True) as conn:
        while conn.execute(
            "SELECT active FROM pg_replication_slots WHERE slot_name = %s", [slot]
        ).fetchone() != (True,):
            assert time.monotonic() < deadline, "the subscription never connected"
            time.sleep(0.1)


def test_a_killed_moves_databases_are_dropped_with_its_slot(node_server_urls):
    """A move's target subscribes to its source's slot: both still are dropped."""
    source_server, target_server = node_server_urls
    source_name = database_name(pid=DEAD_PID)
    target_name = database_name(pid=DEAD_PID)
    slot = f"pilar_move_{uuid.uuid4().hex}"
    try:
        source = _create(source_server, source_name)
        target = _create(target_server, target_name)
        with psycopg.connect(source, autocommit=True) as conn:
            conn.execute("CREATE TABLE t (id int PRIMARY KEY)")
            conn.execute(
                sql.SQL("CREATE PUBLICATION {} FOR TABLE t").format(
                    sql.Identifier(slot)
                )
            )
            conn.execute(
                "SELECT pg_create_logical_replication_slot(%s, 'pgoutput')", [slot]
            )
        with psycopg.connect(target, autocommit=True) as conn:
            conn.execute("CREATE TABLE t (id int PRIMARY KEY)")
            conn.execute(
                sql.SQL(
                    "CREATE SUBSCRIPTION {name} CONNECTION {source} "
                    "PUBLICATION {name} WITH (create_slot = false, "
                    "slot_name = {slot}, copy_data = false)"
                ).format(
                    name=sql.Identifier(slot),
                    source=sql.Literal(source),
                    slot=sql.Literal(slot),
                )
            )
        _wait_for_active_slot(source_server, slot)

        dropped = remove_stale_databases([source_server, target_server])

        assert {source_name, target_name} <= set(dropped)
        assert source_name not in _databases(source_server)
        assert target_name not in _databases(target_server)
        with psycopg.connect(source_server) as conn:
            assert not conn.execute(
                "SELECT 1 FROM pg_replication_slots WHERE slot_name = %s", [slot]
            ).fetchall()
    finally:
        remove_stale_databases([source_server, target_server])


@pytest.fixture
def scratch() -> Iterator[Path]:
    # Not pytest's tmp_path: under root, the server runs as another user,
    # who may not enter that.
    folder = Path(tempfile.mkdtemp(prefix="stale-servers-"))
    folder.chmod(0o755)
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


def test_a_dead_processs_embedded_server_is_stopped_and_removed(scratch):
    root = scratch / f"pilar-test-pg-{owner_tag(pid=DEAD_PID)}-x1y2z3"
    root.mkdir()
    root.chmod(0o755)
    server = embedded.start_server(root / "pgdata", cleanup_mode=None)
    postmaster = server.get_pid()
    assert postmaster is not None
    live = scratch / f"pilar-test-pg-{owner_tag()}-a1b2c3"
    live.mkdir()

    assert remove_stale_servers(scratch) == [root]

    assert not root.exists()
    with pytest.raises(ProcessLookupError):
        os.kill(postmaster, 0)
    assert live.exists()


def test_a_dead_processs_pgbouncer_is_stopped_and_removed(scratch, database_url):
    require_pgbouncer()
    root = scratch / f"pilar-test-pgbouncer-{owner_tag(pid=DEAD_PID)}-x1y2z3"
    root.mkdir()
    _, process = start_pgbouncer(database_url, root)
    # Collected as soon as it exits, as a dead run's PgBouncer would be by
    # init: until then it would look alive.
    reaper = threading.Thread(target=process.wait)
    reaper.start()
    try:
        assert remove_stale_servers(scratch) == [root]
        reaper.join(timeout=10)
        assert process.returncode is not None
        assert not root.exists()
    finally:
        process.kill()
        reaper.join()


def test_a_reused_pid_in_a_stale_lock_file_is_left_alone(scratch):
    # The lock file names a process that is not that server (not in its
    # folder): the folder goes, the process is not signalled.
    bystander = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        root = scratch / f"pilar-test-node-{owner_tag(pid=DEAD_PID)}-a1b2c3"
        (root / "data").mkdir(parents=True)
        (root / "data" / "postmaster.pid").write_text(f"{bystander.pid}\n")

        assert remove_stale_servers(scratch) == [root]

        assert not root.exists()
        assert bystander.poll() is None
    finally:
        bystander.send_signal(signal.SIGKILL)
        bystander.wait()
