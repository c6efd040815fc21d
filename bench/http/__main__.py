"""Load benchmark of the request path: ``python -m bench.http``.

Seeds tenants with 50 conversations each, serves them with gunicorn (2
workers, production settings), drives ``GET /api/v1/conversations?limit=20``
with wrk rotating Host and token over the tenants, and compares with a floor:
a bare WSGI function doing the same work with psycopg (bench/http/floor.py),
and with the same function inside a minimal Flask app (bench/http/flask_floor.py).
``--hot-path`` adds PILAR with its list query in plain psycopg
(bench/http/hot_path.py): what leaving SQLAlchemy and marshmallow would buy.

All cases are served at once, each by its own gunicorn, and measured in short
windows taken in turn: a slow spell of a shared machine then falls on every
case alike, and each ratio is also given window by window.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from dataclasses import field
from datetime import UTC
from datetime import datetime
from datetime import timedelta
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql
from psycopg.types.json import Jsonb

from bench.environment import SECRET_KEY
from bench.environment import make_app
from bench.environment import print_machine
from bench.environment import throwaway_database
from pilar.api.auth import issue_token
from pilar.extensions import db
from pilar.models import Role
from pilar.models import TenantUser
from pilar.passwords import hash_password
from pilar.tenancy import provisioning
from tests.revisions import SHIPPED

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
CONVERSATIONS = 50
TURN_TEXT = (
    "Hallo! Ich würde gern mein Probetraining am Donnerstag um 18 Uhr verschieben."
)


@dataclass(frozen=True)
class Target:
    domain: str
    schema_name: str
    token: str
    conversation_ids: frozenset[str]


@dataclass(frozen=True)
class Case:
    label: str
    app_path: str
    targets: list[Target]


@dataclass(frozen=True)
class Window:
    """One wrk run against one case."""

    requests: int
    requests_per_second: float
    p50_ms: float
    p99_ms: float
    non_200: int


@dataclass
class Server:
    case: Case
    process: subprocess.Popen[bytes]
    port: int
    application_name: str
    rss_before_mb: float = 0.0
    warmup_requests_per_second: float = 0.0
    windows: list[Window] = field(default_factory=list)
    # CPU seconds spent during the windows by the gunicorn workers and by
    # the PostgreSQL backends serving them.
    worker_cpu_s: float = 0.0
    backend_cpu_s: float = 0.0


@dataclass(frozen=True)
class Result:
    label: str
    requests_per_second: float  # mean over the case's windows
    p50_ms: float  # median over the windows
    p99_ms: float  # median over the windows
    non_200: int
    rss_before_mb: float
    rss_after_mb: float
    backend_pss_mb: float
    sample_ok: bool
    warmup_requests_per_second: float
    worker_cpu_ms: float  # per request
    backend_cpu_ms: float  # per request


def seed(url: str, count: int) -> list[Target]:
    """Create ``count`` tenants, a STAFF user and 50 conversations each."""
    app = make_app(url, SHIPPED)
    password_hash = hash_password(uuid.uuid4().hex)
    targets = []
    now = datetime.now(UTC)
    with app.app_context(), psycopg.connect(url) as conn:
        for number in range(count):
            tenant = provisioning.create_tenant(
                f"Bench {number}", f"bench{number}.example.com"
            )
            user = TenantUser(
                tenant_id=tenant.id,
                email=f"staff@bench{number}.example.com",
                password_hash=password_hash,
                role=Role.STAFF,
            )
            db.session.add(user)
            db.session.commit()
            ids = [uuid.uuid4() for _ in range(CONVERSATIONS)]
            rows = [
                (
                    conversation_id,
                    random.choice(["VOICE", "WHATSAPP", "EMAIL"]),
                    Jsonb(
                        [
                            {
                                "role": "member" if turn % 2 else "assistant",
                                "text": TURN_TEXT,
                            }
                            for turn in range(6)
                        ]
                    ),
                    Jsonb({"source": "bench"}),
                    now - timedelta(minutes=index),
                )
                for index, conversation_id in enumerate(ids)
            ]
            with conn.cursor() as cursor:
                cursor.executemany(
                    sql.SQL(
                        "INSERT INTO {}.conversations "
                        "(id, channel, transcript, metadata, created_at, updated_at) "
                        "VALUES (%s, %s, %s, %s, %s, %s)"
                    ).format(sql.Identifier(tenant.schema_name)),
                    [(*row, row[-1]) for row in rows],
                )
            conn.commit()
            targets.append(
                Target(
                    tenant.domain,
                    tenant.schema_name,
                    issue_token(user)[0],
                    frozenset(str(i) for i in ids),
                )
            )
        db.engine.dispose()
    # Vacuum and analyse now: autovacuum would otherwise visit the new tables
    # in the middle of a measured case.
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE")
    return targets


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _children(master: int) -> list[int]:
    return [
        int(pid)
        for pid in Path(f"/proc/{master}/task/{master}/children").read_text().split()
    ]


def _cpu_seconds(pids: list[int]) -> dict[int, float]:
    """User and system CPU time of each process still running."""
    ticks = os.sysconf("SC_CLK_TCK")
    seconds = {}
    for pid in pids:
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:  # gone, or another machine's server
            continue
        fields = stat.rsplit(")", 1)[1].split()
        seconds[pid] = (int(fields[11]) + int(fields[12])) / ticks
    return seconds


def _is_local_postgres(pid: int) -> bool:
    # A server on another machine reports its own pids: never read a local
    # process that happens to bear one.
    try:
        return Path(f"/proc/{pid}/comm").read_text().startswith("postgres")
    except OSError:
        return False


def _cpu_spent(before: dict[int, float], after: dict[int, float]) -> float:
    return sum(after[pid] - before[pid] for pid in before.keys() & after.keys())


def _worker_rss_mb(master: int) -> float:
    total = 0
    for pid in _children(master):
        status = Path(f"/proc/{pid}/status").read_text()
        total += int(re.search(r"VmRSS:\s+(\d+)", status).group(1))  # type: ignore[union-attr]
    return total / 1024


def _backend_pids(monitor: psycopg.Connection[Any], application_name: str) -> list[int]:
    """The pids of this machine's backends serving one case."""
    return [
        pid
        for (pid,) in monitor.execute(
            "SELECT pid FROM pg_stat_activity "
            "WHERE datname = current_database() AND application_name = %s",
            [application_name],
        )
        if _is_local_postgres(pid)
    ]


def _backend_pss_mb(monitor: psycopg.Connection[Any], application_name: str) -> float:
    """Mean proportional memory of the backends serving one case.

    Each backend caches catalog entries for every table it touches, so this
    grows with the tenants a connection has served until it is recycled.
    """
    sizes = []
    for pid in _backend_pids(monitor, application_name):
        try:
            rollup = Path(f"/proc/{pid}/smaps_rollup").read_text()
        except OSError:  # not ours to read
            return float("nan")
        sizes.append(int(re.search(r"Pss:\s+(\d+)", rollup).group(1)) / 1024)  # type: ignore[union-attr]
    return sum(sizes) / len(sizes) if sizes else float("nan")


def _with_application_name(url: str, application_name: str) -> str:
    separator = "&" if "?" in url else "?"
    return f"{url}{separator}application_name={application_name}"


def _start(
    app_path: str, url: str, port: int, workers: int, threads: int
) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "DATABASE_URL": url,
        "PILAR_SECRET_KEY": SECRET_KEY,
        "FLASK_DEBUG": "0",
        "PILAR_DB_POOL_SIZE": str(threads),
        "PILAR_DB_MAX_OVERFLOW": "0",
    }
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gunicorn",
            app_path,
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            str(workers),
            "--worker-class",
            "gthread",
            "--threads",
            str(threads),
            "--log-level",
            "warning",
        ],
        cwd=ROOT,
        env=env,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1):
                return process
        except OSError:
            time.sleep(0.2)
    process.kill()
    raise RuntimeError(f"{app_path} did not start")


def _get(port: int, target: Target) -> tuple[int, dict[str, Any]]:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/api/v1/conversations?limit=20",
        headers={"Host": target.domain, "Authorization": f"Bearer {target.token}"},
    )
    with urllib.request.urlopen(request, timeout=5) as response:
        return response.status, json.loads(response.read())


def _sample_ok(port: int, targets: list[Target]) -> bool:
    """Every sampled response holds 20 rows, all of its own tenant."""
    for target in random.sample(targets, min(20, len(targets))):
        status, body = _get(port, target)
        ids = {item["id"] for item in body["items"]}
        if status != 200 or len(ids) != 20 or not ids <= target.conversation_ids:
            return False
    return True


def _wrk(port: int, targets: list[Target], seconds: int, connections: int) -> Window:
    with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False) as handle:
        handle.writelines(f"{t.domain} {t.token}\n" for t in targets)
    try:
        output = subprocess.run(
            [
                "wrk",
                "--threads",
                "2",
                "--connections",
                str(connections),
                "--duration",
                f"{seconds}s",
                "--latency",
                "--script",
                str(HERE / "rotate.lua"),
                f"http://127.0.0.1:{port}",
                "--",
                handle.name,
            ],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    finally:
        os.unlink(handle.name)
    requests = int(re.search(r"(\d+) requests in", output).group(1))  # type: ignore[union-attr]
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1))  # type: ignore[union-attr]
    non_200 = (
        int(m.group(1))
        if (m := re.search(r"Non-2xx or 3xx responses: (\d+)", output))
        else 0
    )
    errors = re.search(r"Socket errors: (.*)", output)
    if errors:
        print(f"  wrk socket errors: {errors.group(1)}")
    return Window(
        requests, rate, _latency(output, "50%"), _latency(output, "99%"), non_200
    )


def _latency(output: str, label: str) -> float:
    value, unit = re.search(rf"{label}\s+([\d.]+)(us|ms|s)", output).groups()  # type: ignore[union-attr]
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


@contextlib.contextmanager
def _serving(
    case: Case, number: int, url: str, args: argparse.Namespace
) -> Iterator[Server]:
    port = _free_port()
    application_name = f"bench-http-{number}"
    process = _start(
        case.app_path,
        _with_application_name(url, application_name),
        port,
        args.workers,
        args.threads,
    )
    try:
        yield Server(case, process, port, application_name)
    finally:
        process.terminate()
        process.wait(timeout=30)


def _warm_up(server: Server, args: argparse.Namespace) -> None:
    for target in server.case.targets[:4]:
        _get(server.port, target)
    server.rss_before_mb = _worker_rss_mb(server.process.pid)
    # Each backend loads the catalog entries of every tenant table it meets
    # once (until pool_recycle replaces it): the warm-up pays that, and its
    # rate is printed so the cold start stays visible.
    server.warmup_requests_per_second = _wrk(
        server.port, server.case.targets, args.warmup, args.connections
    ).requests_per_second


def _measure_window(
    server: Server, monitor: psycopg.Connection[Any], args: argparse.Namespace
) -> None:
    backends = _backend_pids(monitor, server.application_name)
    workers = _children(server.process.pid)
    before = _cpu_seconds(workers), _cpu_seconds(backends)
    window = _wrk(server.port, server.case.targets, args.seconds, args.connections)
    after = _cpu_seconds(workers), _cpu_seconds(backends)
    server.windows.append(window)
    server.worker_cpu_s += _cpu_spent(before[0], after[0])
    server.backend_cpu_s += _cpu_spent(before[1], after[1])


def _result(server: Server, monitor: psycopg.Connection[Any]) -> Result:
    windows = server.windows
    requests = sum(w.requests for w in windows)
    return Result(
        server.case.label,
        statistics.fmean(w.requests_per_second for w in windows),
        statistics.median(w.p50_ms for w in windows),
        statistics.median(w.p99_ms for w in windows),
        sum(w.non_200 for w in windows),
        server.rss_before_mb,
        _worker_rss_mb(server.process.pid),
        _backend_pss_mb(monitor, server.application_name),
        _sample_ok(server.port, server.case.targets),
        server.warmup_requests_per_second,
        server.worker_cpu_s / requests * 1000,
        server.backend_cpu_s / requests * 1000,
    )


def _print(result: Result) -> None:
    print(
        f"{result.label:<24} {result.requests_per_second:8.0f} req/s  "
        f"p50 {result.p50_ms:6.2f} ms  p99 {result.p99_ms:6.2f} ms  "
        f"non-200 {result.non_200}  "
        f"worker RSS {result.rss_before_mb:6.1f} → {result.rss_after_mb:6.1f} MB  "
        f"backend PSS {result.backend_pss_mb:5.1f} MB  "
        f"sample {'ok' if result.sample_ok else 'WRONG'}  "
        f"CPU/request: worker {result.worker_cpu_ms:.2f} ms, "
        f"backends {result.backend_cpu_ms:.2f} ms  "
        f"(warm-up {result.warmup_requests_per_second:.0f} req/s)"
    )


def _ratio(numerator: Server, denominator: Server, target: str) -> str:
    """The ratio of mean rates, and how it spreads over windows taken in turn."""
    mean = statistics.fmean(
        w.requests_per_second for w in numerator.windows
    ) / statistics.fmean(w.requests_per_second for w in denominator.windows)
    by_window = sorted(
        n.requests_per_second / d.requests_per_second
        for n, d in zip(numerator.windows, denominator.windows, strict=True)
    )
    # quantiles() needs two values; one window is its own middle half.
    quartiles = (
        statistics.quantiles(by_window, n=4) if len(by_window) > 1 else by_window * 3
    )
    return (
        f"{numerator.case.label} / {denominator.case.label}: {mean:.2f}{target}  "
        f"(window by window: median {statistics.median(by_window):.2f}, "
        f"middle half {quartiles[0]:.2f} to {quartiles[2]:.2f})"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--tenants", type=int, nargs="+", default=[100, 1000])
    parser.add_argument(
        "--seconds", type=int, default=2, help="length of one measured window"
    )
    parser.add_argument(
        "--windows",
        type=int,
        default=15,
        help="measured windows per case, taken in turn with the other cases",
    )
    parser.add_argument("--connections", type=int, default=16)
    # Over 1,000 tenants, each of the 8 backends meets most tenants' tables
    # for the first time during the warm-up: its rate shows that cold start,
    # and the windows measure the steady state.
    parser.add_argument(
        "--warmup", type=int, default=10, help="seconds of load before measuring"
    )
    parser.add_argument(
        "--hot-path",
        action="store_true",
        help="also serve PILAR with its list query in plain psycopg",
    )
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=4)
    args = parser.parse_args()
    smallest_n, largest_n = min(args.tenants), max(args.tenants)
    with throwaway_database() as url:
        print_machine(url)
        print(
            f"gunicorn: {args.workers} workers x {args.threads} threads (gthread); "
            f"wrk: 2 threads, {args.connections} connections; {args.warmup} s "
            f"warm-up, then {args.windows} windows of {args.seconds} s per case, "
            "taken in turn"
        )
        started = time.perf_counter()
        targets = seed(url, largest_n)
        print(
            f"seeded {len(targets)} tenants x {CONVERSATIONS} conversations "
            f"in {time.perf_counter() - started:.1f} s"
        )
        cases = [
            Case(
                f"floor, {smallest_n} tenants",
                "bench.http.floor:app",
                targets[:smallest_n],
            ),
            Case(
                f"Flask floor, {smallest_n}",
                "bench.http.flask_floor:app",
                targets[:smallest_n],
            ),
            Case("pilar, 1 tenant", "wsgi:app", targets[:1]),
            *(
                Case(f"pilar, {n} tenants", "wsgi:app", targets[:n])
                for n in args.tenants
            ),
        ]
        if args.hot_path:
            cases.append(
                Case(
                    f"hot path, {smallest_n}",
                    "bench.http.hot_path:app",
                    targets[:smallest_n],
                )
            )
        with contextlib.ExitStack() as stack:
            servers = [
                stack.enter_context(_serving(case, number, url, args))
                for number, case in enumerate(cases)
            ]
            for server in servers:
                _warm_up(server, args)
            monitor = stack.enter_context(psycopg.connect(url, autocommit=True))
            for _ in range(args.windows):
                for server in servers:
                    _measure_window(server, monitor, args)
            results = [_result(server, monitor) for server in servers]
        print()
        for result in results:
            _print(result)
        print()
        floor, flask_floor, single, *pilar = servers
        hot_path = pilar.pop() if args.hot_path else None
        smallest, largest = pilar[0], pilar[-1]
        print(_ratio(smallest, floor, " (>= 0.7)"))
        print(_ratio(flask_floor, floor, ""))
        print(_ratio(smallest, flask_floor, ""))
        print(_ratio(largest, single, " (>= 0.9)"))
        if hot_path is not None:
            print(_ratio(hot_path, floor, ""))
            print(_ratio(hot_path, smallest, ""))
        rss_growth = (
            results[servers.index(largest)].rss_after_mb - results[2].rss_after_mb
        )
        print(f"worker RSS, {largest_n} vs 1: {rss_growth:+.1f} MB (<= +10)")
        bad = [r.label for r in results if r.non_200 or not r.sample_ok]
        print("non-200 or foreign rows: " + (", ".join(bad) if bad else "none"))


if __name__ == "__main__":
    main()
