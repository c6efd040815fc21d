"""The test suite's PostgreSQL: DATABASE_URL, else an embedded pgserver.

Every throwaway database, and the embedded server's folder, is named after
its maker: this machine, the process id and the time (``owner_tag``). A run
that is killed cannot remove what it made; the next one does
(``remove_stale``): what a process of this machine made once that process is
gone, what another machine made once it is older than ``STALE_AFTER``
seconds. Names without an owner tag are never removed.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import shutil
import signal
import socket
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg
from psycopg import sql

from pilar.db import embedded
from tests.nodes import NODE_SERVERS_ENV

_LOCAL_SERVER = "postgresql://postgres@127.0.0.1:5432/postgres"
# What another machine made (its processes cannot be asked) is stale after a
# day: no run takes that long.
STALE_AFTER = 24 * 3600
# Machine, process id (at most PID_MAX_LIMIT, 2**22, 7 digits), creation time.
_OWNER = r"h(?P<host>[0-9a-f]{8})_p(?P<pid>[0-9]{1,7})_t(?P<born>[0-9a-f]{8})"
_DATABASE = re.compile(rf"pilar(?:_[a-z0-9_]+)?_{_OWNER}_[0-9a-f]{{6}}")
_SERVER_FOLDER = re.compile(rf"pilar-test-[a-z-]+-{_OWNER}-[a-z0-9_]+")
_SERVER_FOLDER_PREFIX = "pilar-test-pg-"


def _this_host() -> str:
    # The machine's name and its process id namespace: pids are compared
    # only where they mean the same processes.
    try:
        namespace = os.readlink("/proc/self/ns/pid")
    except OSError:
        namespace = ""
    seed = f"{socket.gethostname()} {namespace}".encode()
    return hashlib.sha256(seed).hexdigest()[:8]


HOST = _this_host()


def owner_tag(
    *, host: str = HOST, pid: int | None = None, born: float | None = None
) -> str:
    """Name the maker of a database or server: this process, now, by default."""
    pid = os.getpid() if pid is None else pid
    born = time.time() if born is None else born
    return f"h{host}_p{pid}_t{int(born):08x}"


def database_name(
    prefix: str = "pilar_test",
    *,
    host: str = HOST,
    pid: int | None = None,
    born: float | None = None,
) -> str:
    """A new throwaway database's name: ``prefix``, its maker, a random part."""
    owner = owner_tag(host=host, pid=pid, born=born)
    name = f"{prefix}_{owner}_{uuid.uuid4().hex[:6]}"
    # PostgreSQL cuts longer names to 63 bytes.
    if not _DATABASE.fullmatch(name) or len(name) > 63:
        raise ValueError(f"Not a name remove_stale finds: {name!r}")
    return name


def _answers(url: str) -> bool:
    try:
        with psycopg.connect(url, connect_timeout=3):
            return True
    except psycopg.OperationalError:
        return False


def _configured_url() -> str:
    url = os.environ.get("DATABASE_URL") or _LOCAL_SERVER
    return url.replace("postgresql+psycopg://", "postgresql://")


@contextmanager
def server_url() -> Iterator[str]:
    """Yield a libpq URL of a server the tests may create databases on.

    DATABASE_URL when it answers (unset: a local server on 127.0.0.1:5432),
    else an embedded server in a folder of its own (not pytest's: a concurrent
    run may prune those).
    """
    url = _configured_url()
    if _answers(url):
        yield url
        return
    prefix = f"{_SERVER_FOLDER_PREFIX}{owner_tag()}-"
    root = Path(tempfile.mkdtemp(prefix=prefix))
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
    name = database_name(prefix)
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


def remove_stale() -> list[str]:
    """Remove what killed runs left behind; return the names of what was removed.

    Stale databases on the suite's server and on the PILAR_TEST_NODE_SERVERS,
    and stale embedded servers in the temporary folder.
    """
    named = [_configured_url(), *os.environ.get(NODE_SERVERS_ENV, "").split()]
    urls = [url for url in dict.fromkeys(named) if _answers(url)]
    removed = remove_stale_databases(urls)
    return removed + [str(root) for root in remove_stale_servers()]


def _is_stale(owner: re.Match[str] | None) -> bool:
    # Whether the maker a name of ours names is gone (not ours: never).
    if owner is None:
        return False
    if owner["host"] == HOST:
        return not _alive(int(owner["pid"]))
    return time.time() - int(owner["born"], 16) > STALE_AFTER


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True


def stale_databases(url: str) -> list[str]:
    """Return the names of the stale databases on ``url``'s server."""
    with psycopg.connect(url, connect_timeout=3) as conn:
        rows = conn.execute(
            "SELECT datname FROM pg_database WHERE datname LIKE 'pilar%'"
        ).fetchall()
    return [name for (name,) in rows if _is_stale(_DATABASE.fullmatch(name))]


def remove_stale_databases(urls: list[str]) -> list[str]:
    """Drop the stale databases on the servers of ``urls``; return their names.

    First the subscriptions in them, on every server: a move that was killed
    leaves one in its target database, where it keeps DROP DATABASE from
    working and the source's slot busy.
    """
    stale = {}
    for url in urls:
        with contextlib.suppress(psycopg.OperationalError):  # gone: next time
            stale[url] = stale_databases(url)
    for url, names in stale.items():
        for name in names:
            _drop_subscriptions(_to_url(url, name))
    dropped = []
    for url, names in stale.items():
        with (
            contextlib.suppress(psycopg.OperationalError),
            psycopg.connect(url, autocommit=True, connect_timeout=3) as conn,
        ):
            dropped += [name for name in names if _drop(conn, name)]
    return dropped


def _drop_subscriptions(url: str) -> None:
    # Disabled and cut from their slot first: dropping one then needs no source.
    statements = (
        "ALTER SUBSCRIPTION {} DISABLE",
        "ALTER SUBSCRIPTION {} SET (slot_name = NONE)",
        "DROP SUBSCRIPTION {}",
    )
    try:
        with psycopg.connect(url, autocommit=True, connect_timeout=3) as conn:
            for (name,) in conn.execute(
                "SELECT subname FROM pg_subscription WHERE subdbid = "
                "(SELECT oid FROM pg_database WHERE datname = current_database())"
            ).fetchall():
                for statement in statements:
                    conn.execute(sql.SQL(statement).format(sql.Identifier(name)))
    except psycopg.Error:
        pass  # dropped meanwhile by another run; else DROP DATABASE says why


def _drop(conn: psycopg.Connection[tuple[object, ...]], name: str) -> bool:
    # A logical slot in use stops DROP DATABASE: its walsenders are ended
    # until the subscribers (already dropped, or on a server not cleaned
    # here, which retry) leave it be.
    for _ in range(50):
        conn.execute(
            "SELECT pg_terminate_backend(active_pid) FROM pg_replication_slots "
            "WHERE database = %s AND active_pid IS NOT NULL",
            [name],
        )
        try:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
                    sql.Identifier(name)
                )
            )
        except psycopg.errors.ObjectInUse:
            time.sleep(0.2)
        except psycopg.Error:
            return False
        else:
            return True
    return False


def remove_stale_servers(folder: Path | None = None) -> list[Path]:
    """Stop and remove the stale servers in ``folder`` (the temporary folder).

    Embedded and temporary PostgreSQL servers, and PgBouncers.
    """
    removed = []
    for root in Path(folder or tempfile.gettempdir()).glob("pilar-test-*"):
        if root.is_dir() and _is_stale(_SERVER_FOLDER.fullmatch(root.name)):
            for lock in root.glob("*/postmaster.pid"):
                _stop_postmaster(lock)
            for pidfile in root.glob("pgbouncer.pid"):
                _stop_pgbouncer(pidfile)
            shutil.rmtree(root, ignore_errors=True)
            removed.append(root)
    return removed


def _stop_postmaster(lock: Path) -> None:
    # Stop at once the server that holds ``lock``, if it runs: one whose
    # working folder is the data folder. Where that cannot be seen, removing
    # the lock file stops it: PostgreSQL checks it every minute.
    try:
        pid = int(lock.read_text().split()[0])
        if Path(f"/proc/{pid}/cwd").resolve() != lock.parent.resolve():
            return
        os.kill(pid, signal.SIGQUIT)  # immediate shutdown
    except (OSError, ValueError, IndexError):
        return
    _wait_for_exit(pid)


def _stop_pgbouncer(pidfile: Path) -> None:
    # Stop the PgBouncer that wrote ``pidfile``, if it runs: one started
    # with the settings file beside it (not a process that reused its pid).
    settings = str(pidfile.with_name("pgbouncer.ini")).encode()
    try:
        pid = int(pidfile.read_text().split()[0])
        if settings not in Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0"):
            return
        os.kill(pid, signal.SIGTERM)
    except (OSError, ValueError, IndexError):
        return
    _wait_for_exit(pid)


def _wait_for_exit(pid: int) -> None:
    deadline = time.monotonic() + 10
    while _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.1)
