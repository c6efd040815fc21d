"""The test suite's PostgreSQL: DATABASE_URL, else an embedded pgserver."""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg
from psycopg import sql

from pilar.db import embedded

_LOCAL_SERVER = "postgresql://postgres@127.0.0.1:5432/postgres"


def _answers(url: str) -> bool:
    try:
        with psycopg.connect(url, connect_timeout=3):
            return True
    except psycopg.OperationalError:
        return False


@contextmanager
def server_url() -> Iterator[str]:
    """Yield a libpq URL of a server the tests may create databases on.

    DATABASE_URL when it answers (unset: a local server on 127.0.0.1:5432),
    else an embedded server in a folder of its own (not pytest's: a concurrent
    run may prune those).
    """
    url = os.environ.get("DATABASE_URL") or _LOCAL_SERVER
    url = url.replace("postgresql+psycopg://", "postgresql://")
    if url and _answers(url):
        yield url
        return
    root = Path(tempfile.mkdtemp(prefix="pilar-test-pg-"))
    root.chmod(0o755)  # pgserver runs PostgreSQL as another user under root
    server = embedded.start_server(root / "pgdata")
    try:
        yield server.get_uri()
    finally:
        server.cleanup()
        shutil.rmtree(root, ignore_errors=True)


@contextmanager
def throwaway_database(url: str, prefix: str = "pilar_test") -> Iterator[str]:
    """Create a database of its own on ``url``'s server; drop it at the end."""
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield _to_url(url, name)
    finally:
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
                    sql.Identifier(name)
                )
            )


def _to_url(url: str, dbname: str) -> str:
    # Swap the database in a postgresql:// URL, keeping host, socket and user.
    head, _, tail = url.partition("?")
    base = head.rsplit("/", 1)[0]
    return f"{base}/{dbname}" + (f"?{tail}" if tail else "")
