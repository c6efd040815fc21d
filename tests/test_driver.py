"""A COPY cut short by Ctrl-C says so; a COPY that fails leaves its connection be."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import psycopg
import pytest
import sqlalchemy as sa
from psycopg import sql

from pilar.config import psycopg_url
from pilar.db.driver import driver_cursor

ROOT = Path(__file__).resolve().parents[1]
_NAME = "pilar_interrupted_copy"

# Starts a COPY whose first row takes 60 s, in a transaction, and prints the
# name of what reached the top once interrupted. On a plain psycopg cursor
# psycopg leaves the connection mid-COPY and the rollback's OperationalError
# replaces the KeyboardInterrupt.
_COPY_INTERRUPTED = f"""
import sys
import sqlalchemy as sa
from pilar.db.driver import driver_cursor

engine = sa.create_engine(sys.argv[1], connect_args={{"application_name": "{_NAME}"}})
try:
    with engine.connect() as conn, conn.begin():
        with (
            driver_cursor(conn) as cursor,
            cursor.copy("COPY (SELECT pg_sleep(60)) TO STDOUT") as copy,
        ):
            for _ in copy:
                pass
except BaseException as caught:
    print(type(caught).__name__)
"""


def _copying(watcher: sa.Connection) -> bool:
    query = sa.text(
        "SELECT count(*) FROM pg_stat_activity "
        "WHERE application_name = :name AND state = 'active'"
    )
    return bool(watcher.execute(query, {"name": _NAME}).scalar())


def test_ctrl_c_while_a_copy_starts_reaches_the_caller(database_url):
    url = psycopg_url(database_url)
    child = subprocess.Popen(
        [sys.executable, "-c", _COPY_INTERRUPTED, url],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    watcher_engine = sa.create_engine(url, isolation_level="AUTOCOMMIT")
    try:
        with watcher_engine.connect() as watcher:
            deadline = time.monotonic() + 30
            while not _copying(watcher):
                assert child.poll() is None, child.communicate()
                assert time.monotonic() < deadline, "the COPY never started"
                time.sleep(0.05)
        child.send_signal(signal.SIGINT)
        caught, errors = child.communicate(timeout=30)
    finally:
        child.kill()
        watcher_engine.dispose()
    assert caught.strip() == "KeyboardInterrupt", errors


def test_a_failed_copy_leaves_its_connection_in_the_transaction(database_url):
    engine = sa.create_engine(psycopg_url(database_url))
    try:
        with engine.connect() as conn, conn.begin():
            pid = conn.execute(sa.text("SELECT pg_backend_pid()")).scalar()
            conn.execute(sa.text("CREATE TEMPORARY TABLE t (n int)"))
            savepoint = conn.begin_nested()
            statement = sql.SQL("COPY {} FROM STDIN").format(sql.Identifier("t"))
            with (
                pytest.raises(psycopg.errors.InvalidTextRepresentation),
                driver_cursor(conn) as cursor,
                cursor.copy(statement) as copy,
            ):
                copy.write(b"not a number\n")
            savepoint.rollback()
            # The same backend, its transaction (and temporary table) intact.
            assert conn.execute(sa.text("SELECT pg_backend_pid()")).scalar() == pid
            assert conn.execute(sa.text("SELECT count(*) FROM t")).scalar() == 0
    finally:
        engine.dispose()
