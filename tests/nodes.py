"""PostgreSQL servers besides the main one ("nodes"), for multi-node tests.

The main server (tests.database) holds the suite's databases. Tests of
replication, failover or routing between servers need more servers, with
logical decoding on: .ci/run starts two clusters and names them in
PILAR_TEST_NODE_SERVERS; elsewhere the tests start temporary servers here.
"""

from __future__ import annotations

import atexit
import functools
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import warnings
from collections.abc import Iterator
from contextlib import ExitStack
from contextlib import contextmanager
from pathlib import Path
from types import TracebackType
from typing import Literal

import psycopg
import pytest

NODE_SERVERS_ENV = "PILAR_TEST_NODE_SERVERS"

# Appended to every temporary server's postgresql.conf (.ci/run's clusters get
# the same). Logical replication workers to spare, started without delay, so
# that moves copy every table at once. TCP only: unix socket
# paths of servers started side by side (pytest-xdist) could collide. Without
# fsync a crash of the machine may lose data, and a test server can afford that.
_SETTINGS = """
listen_addresses = '127.0.0.1'
unix_socket_directories = ''
wal_level = logical
max_replication_slots = 20
max_wal_senders = 20
fsync = off
max_worker_processes = 32
max_logical_replication_workers = 16
max_sync_workers_per_subscription = 8
wal_retrieve_retry_interval = '200ms'
"""


@contextmanager
def node_servers(count: int = 2) -> Iterator[list[str]]:
    """Yield libpq URLs of ``count`` PostgreSQL servers besides the main one.

    Every one has wal_level = logical. They are the servers named in
    PILAR_TEST_NODE_SERVERS (whitespace-separated URLs) when every one of
    them answers so; temporary servers of our own for the rest (or for all),
    stopped and removed at the end. Named servers are shared with other tests
    and runs: create databases of your own on them (throwaway_database).
    """
    urls = _named_servers()[:count]
    with ExitStack() as stack:
        while len(urls) < count:
            urls.append(stack.enter_context(StoppableServer()).url)
        yield urls


class StoppableServer:
    """A temporary PostgreSQL server of the test's own, to stop and start again.

    For tests of a node going away mid-test: nothing else uses this server,
    and it keeps its port and data across ``stop()`` and ``start()``. It
    listens on 127.0.0.1 with wal_level = logical and trust authentication;
    leaving the ``with`` block stops it and removes its files.
    """

    def __init__(self) -> None:
        self.port = 0
        self._bindir = _bindir()
        self._user = _server_user(self._bindir)
        self._root: Path | None = None
        self._running = False

    @property
    def url(self) -> str:
        """The libpq URL of the server's ``postgres`` database."""
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def __enter__(self) -> StoppableServer:
        # Not under pytest's tmp folder: the server runs as another user.
        # Named after this process, so a later run can stop and remove it if
        # this one is killed (tests.database.remove_stale_servers). Imported
        # here: tests.database imports this module.
        from tests.database import owner_tag

        self._root = Path(tempfile.mkdtemp(prefix=f"pilar-test-node-{owner_tag()}-"))
        try:
            _prepare_dir(self._root, self._user)
            template = _template(self._bindir, self._user)
            # A copy of an initdb'd folder: about 0.2 s instead of initdb's 0.8 s.
            _run(["cp", "-a", str(template), str(self._data)], None)
            for _ in range(3):  # another process may take the free port first
                self.port = free_port()
                with (self._data / "postgresql.conf").open("a") as conf:
                    conf.write(f"port = {self.port}\n")
                error = self._pg_ctl("-l", str(self._log_path), "start")
                if error is None:
                    self._running = True
                    return self
                if "already in use" not in self._log():
                    break
            pytest.fail(f"A temporary PostgreSQL did not start: {error}\n{self._log()}")
        except BaseException:
            self._remove()
            raise

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._remove()

    def stop(self, mode: Literal["smart", "fast", "immediate"] = "immediate") -> None:
        """Stop the server; by default at once, as a crash would."""
        if self._running:
            error = self._pg_ctl("-m", mode, "stop")
            if error is not None:
                pytest.fail(f"PostgreSQL on port {self.port} did not stop: {error}")
            self._running = False

    def start(self) -> None:
        """Start the server again, on the same port with the same data."""
        if not self._running:
            error = self._pg_ctl("-l", str(self._log_path), "start")
            if error is not None:
                pytest.fail(
                    f"PostgreSQL on port {self.port} did not start again: "
                    f"{error}\n{self._log()}"
                )
            self._running = True

    @property
    def _data(self) -> Path:
        assert self._root is not None, "use StoppableServer in a with block"
        return self._root / "data"

    @property
    def _log_path(self) -> Path:
        return self._data.parent / "server.log"

    def _pg_ctl(self, *args: str) -> str | None:
        # The error output of pg_ctl, or None when it succeeds.
        command = [str(self._bindir / "pg_ctl"), "-D", str(self._data), "-w"]
        command += ["-t", "30", *args]
        try:
            _run(command, self._user)
        except subprocess.CalledProcessError as error:
            return str(error.output)
        return None

    def _log(self) -> str:
        log = self._log_path
        return log.read_text(errors="replace")[-3000:] if log.exists() else ""

    def _remove(self) -> None:
        if self._root is None:
            return
        try:
            self.stop()
        finally:
            shutil.rmtree(self._root, ignore_errors=True)
            self._root = None


def _named_servers() -> list[str]:
    # The servers of PILAR_TEST_NODE_SERVERS, or none unless all of them serve.
    urls = os.environ.get(NODE_SERVERS_ENV, "").split()
    return urls if all(_decodes_logically(url) for url in urls) else []


def _decodes_logically(url: str) -> bool:
    try:
        with psycopg.connect(url, connect_timeout=3) as conn:
            row = conn.execute("SHOW wal_level").fetchone()
    except psycopg.OperationalError:
        return False
    return row is not None and row[0] == "logical"


def _bindir() -> Path:
    """The newest installed PostgreSQL's programs, else those pgserver bundles."""
    installed = sorted(
        Path("/usr/lib/postgresql").glob("*/bin"),
        key=lambda path: int(path.parent.name) if path.parent.name.isdigit() else 0,
        reverse=True,
    )
    on_path = shutil.which("initdb")
    for bindir in [*installed, *([Path(on_path).parent] if on_path else [])]:
        if (bindir / "initdb").is_file() and (bindir / "pg_ctl").is_file():
            return bindir
    _import_pgserver()
    from pgserver._commands import POSTGRES_BIN_PATH

    return Path(POSTGRES_BIN_PATH)


def _server_user(bindir: Path) -> pwd.struct_passwd | None:
    """Who runs the servers: we do, unless we are root (PostgreSQL refuses)."""
    if os.geteuid() != 0:
        return None
    if "pgserver" in bindir.parts:
        _import_pgserver()
        from pgserver import utils

        # Binaries in our virtualenv: made readable to the server's user, as
        # pgserver does when it runs them itself.
        utils.ensure_prefix_permissions(bindir)
        utils.ensure_folder_permissions(bindir, 0o055)
        utils.ensure_folder_permissions(bindir.parent / "lib", 0o044)
    try:
        return pwd.getpwnam("postgres")
    except KeyError:
        _import_pgserver()
        from pgserver import utils

        utils.ensure_user_exists("pgserver")
        return pwd.getpwnam("pgserver")


def _import_pgserver() -> None:
    with warnings.catch_warnings():
        # pgserver says so on import where there is no XDG_RUNTIME_DIR, and
        # the suite turns warnings into errors.
        warnings.filterwarnings("ignore", message="XDG_RUNTIME_DIR")
        try:
            import pgserver  # noqa: F401
        except ImportError:
            pytest.fail(
                "No PostgreSQL for the node servers: set PILAR_TEST_NODE_SERVERS, "
                "or install PostgreSQL (initdb, pg_ctl) or pgserver"
            )


@functools.cache
def _template(bindir: Path, user: pwd.struct_passwd | None) -> Path:
    """An initdb'd data folder to copy, one per process; removed at its exit."""
    from tests.database import owner_tag  # see StoppableServer.__enter__

    root = Path(tempfile.mkdtemp(prefix=f"pilar-test-node-template-{owner_tag()}-"))
    _prepare_dir(root, user)
    data = root / "data"
    command = [str(bindir / "initdb"), "-D", str(data), "-U", "postgres"]
    command += ["--auth=trust", "--encoding=UTF8", "--no-locale", "--no-sync"]
    try:
        _run(command, user)
    except subprocess.CalledProcessError as error:
        shutil.rmtree(root, ignore_errors=True)
        pytest.fail(f"initdb failed: {error.output}")
    with (data / "postgresql.conf").open("a") as conf:
        conf.write(_SETTINGS)
    atexit.register(shutil.rmtree, root, ignore_errors=True)
    return data


def _prepare_dir(path: Path, user: pwd.struct_passwd | None) -> None:
    # Readable by all, and the server's user's to write in.
    path.chmod(0o755)
    if user is not None:
        os.chown(path, user.pw_uid, user.pw_gid)


def _run(command: list[str], user: pwd.struct_passwd | None) -> None:
    # Output to a file, not a pipe: the server pg_ctl starts would inherit
    # the pipe and keep it open.
    with tempfile.TemporaryFile() as output:
        result = subprocess.run(
            command,
            stdin=subprocess.DEVNULL,
            stdout=output,
            stderr=subprocess.STDOUT,
            cwd="/",
            user=user.pw_uid if user else None,
            group=user.pw_gid if user else None,
            extra_groups=[] if user else None,
            timeout=60,
            check=False,
        )
        if result.returncode != 0:
            output.seek(0)
            text = output.read().decode(errors="replace")
            raise subprocess.CalledProcessError(result.returncode, command, text)


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that nothing listens on now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
