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

``--nodes 1 3`` (or ``--nodes`` alone) measures PILAR alone instead, over the
largest ``--tenants`` count spread in turn over each number of nodes (``default``
on the benchmark's server, the others on servers of tests/nodes.py), with each
count's ratio to 1 node and its server connections per worker on every node.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import re
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
from bench.nodes import NodeDatabases
from bench.nodes import connections
from bench.nodes import describe
from bench.nodes import node_databases
from bench.nodes import spread
from bench.nodes import with_application_name
from pilar.api.auth import issue_token
from pilar.db.extensions import db
from pilar.models import DEFAULT_NODE
from pilar.models import Role
from pilar.models import TenantUser
from pilar.security.passwords import hash_password
from pilar.tenancy import get_nodes
from pilar.tenancy.fleet import provisioning
from tests.nodes import free_port
from tests.nodes import node_servers
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
    node: str = DEFAULT_NODE


@dataclass(frozen=True)
class Case:
    label: str
    app_path: str
    targets: list[Target]
    # Set for the cases of --nodes: the nodes the case's gunicorn serves;
    # otherwise it serves the one database of the run.
    databases: NodeDatabases | None = None


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
    # One autocommit connection to each node's database the case serves.
    monitors: dict[str, psycopg.Connection[Any]]
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
    # The case's server connections on each node's database, after serving.
    connections: dict[str, int]


def seed(url: str, count: int, nodes: NodeDatabases | None = None) -> list[Target]:
    """Create ``count`` tenants, a STAFF user and 50 conversations each.

    With ``nodes`` (whose control plane is ``url``), the tenants go to the
    nodes in turn, so each node holds its share.
    """
    nodes = nodes or NodeDatabases({DEFAULT_NODE: url})
    app = make_app(url, SHIPPED, NODES=nodes.setting())
    password_hash = hash_password(uuid.uuid4().hex)
    targets = []
    now = datetime.now(UTC)
    with app.app_context(), contextlib.ExitStack() as stack:
        conns = {
            name: stack.enter_context(psycopg.connect(node_url))
            for name, node_url in nodes.urls.items()
        }
        for number, node in enumerate(spread(count, nodes.names)):
            tenant = provisioning.create_tenant(
                f"Bench {number}", f"bench{number}.example.com", node=node
            )
            conn = conns[node]
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
                    node,
                )
            )
        get_nodes().dispose()
        db.engine.dispose()
    # Vacuum and analyse now: autovacuum would otherwise visit the new tables
    # in the middle of a measured case.
    for node_url in nodes.urls.values():
        with psycopg.connect(node_url, autocommit=True) as conn:
            conn.execute("VACUUM ANALYZE")
    return targets


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


def must_find(pattern: str, text: str) -> re.Match[str]:
    """Return the first match of ``pattern`` in a program's output; fail without."""
    match = re.search(pattern, text)
    if match is None:
        raise RuntimeError(f"{pattern!r} not found in:\n{text[-2000:]}")
    return match


def _cpu_spent(before: dict[int, float], after: dict[int, float]) -> float:
    return sum(after[pid] - before[pid] for pid in before.keys() & after.keys())


def _worker_rss_mb(master: int) -> float:
    total = 0
    for pid in _children(master):
        status = Path(f"/proc/{pid}/status").read_text()
        total += int(must_find(r"VmRSS:\s+(\d+)", status).group(1))
    return total / 1024


def _backend_pids(server: Server) -> list[int]:
    """The pids of this machine's backends serving one case, on every node."""
    return [
        pid
        for monitor in server.monitors.values()
        for (pid,) in monitor.execute(
            "SELECT pid FROM pg_stat_activity "
            "WHERE datname = current_database() AND application_name = %s",
            [server.application_name],
        )
        if _is_local_postgres(pid)
    ]


def _backend_pss_mb(server: Server) -> float:
    """Mean proportional memory of the backends serving one case.

    Each backend caches catalog entries for every table it touches, so this
    grows with the tenants a connection has served until it is recycled.
    """
    sizes = []
    for pid in _backend_pids(server):
        try:
            rollup = Path(f"/proc/{pid}/smaps_rollup").read_text()
        except OSError:  # not ours to read
            return float("nan")
        sizes.append(int(must_find(r"Pss:\s+(\d+)", rollup).group(1)) / 1024)
    return sum(sizes) / len(sizes) if sizes else float("nan")


def _start(
    app_path: str, url: str, port: int, workers: int, threads: int, nodes: str = ""
) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "DATABASE_URL": url,
        "PILAR_SECRET_KEY": SECRET_KEY,
        "FLASK_DEBUG": "0",
        # A pool of this size per node per worker.
        "PILAR_DB_POOL_SIZE": str(threads),
        "PILAR_DB_MAX_OVERFLOW": "0",
        "PILAR_NODES": nodes,
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
    requests = int(must_find(r"(\d+) requests in", output).group(1))
    rate = float(must_find(r"Requests/sec:\s+([\d.]+)", output).group(1))
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
    value, unit = must_find(rf"{label}\s+([\d.]+)(us|ms|s)", output).groups()
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


@contextlib.contextmanager
def _serving(
    case: Case, number: int, url: str, args: argparse.Namespace
) -> Iterator[Server]:
    port = free_port()
    application_name = f"bench-http-{number}"
    databases = case.databases or NodeDatabases({DEFAULT_NODE: url})
    process = _start(
        case.app_path,
        with_application_name(databases.control_plane, application_name),
        port,
        args.workers,
        args.threads,
        databases.setting(application_name),
    )
    with contextlib.ExitStack() as monitors:
        try:
            yield Server(
                case,
                process,
                port,
                application_name,
                {
                    name: monitors.enter_context(
                        psycopg.connect(node_url, autocommit=True)
                    )
                    for name, node_url in databases.urls.items()
                },
            )
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


def _measure_window(server: Server, args: argparse.Namespace) -> None:
    backends = _backend_pids(server)
    workers = _children(server.process.pid)
    before = _cpu_seconds(workers), _cpu_seconds(backends)
    window = _wrk(server.port, server.case.targets, args.seconds, args.connections)
    after = _cpu_seconds(workers), _cpu_seconds(backends)
    server.windows.append(window)
    server.worker_cpu_s += _cpu_spent(before[0], after[0])
    server.backend_cpu_s += _cpu_spent(before[1], after[1])


def _result(server: Server) -> Result:
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
        _backend_pss_mb(server),
        _sample_ok(server.port, server.case.targets),
        server.warmup_requests_per_second,
        server.worker_cpu_s / requests * 1000,
        server.backend_cpu_s / requests * 1000,
        connections(server.monitors, server.application_name),
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


def _parser() -> argparse.ArgumentParser:
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
    parser.add_argument(
        "--nodes",
        type=int,
        nargs="*",
        metavar="N",
        help="instead of the floors: PILAR over the largest --tenants count "
        "spread over N nodes (PostgreSQL servers), for each N and for 1 "
        "(default: 1 3), with each ratio to 1 node",
    )
    return parser


def _run(
    cases: list[Case], url: str, args: argparse.Namespace
) -> tuple[list[Server], list[Result]]:
    """Serve every case at once, warm each up, then measure windows in turn."""
    with contextlib.ExitStack() as stack:
        servers = [
            stack.enter_context(_serving(case, number, url, args))
            for number, case in enumerate(cases)
        ]
        for server in servers:
            _warm_up(server, args)
        for _ in range(args.windows):
            for server in servers:
                _measure_window(server, args)
        return servers, [_result(server) for server in servers]


def main() -> None:
    parser = _parser()
    args = parser.parse_args()
    if args.nodes is not None:
        counts = sorted({1, *args.nodes}) if args.nodes else [1, 3]
        if counts[0] < 1:
            parser.error("--nodes counts start at 1")
        _main_nodes(counts, max(args.tenants), args)
    else:
        _main_floors(args)


def _main_floors(args: argparse.Namespace) -> None:
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
        servers, results = _run(cases, url, args)
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


def _main_nodes(counts: list[int], tenants: int, args: argparse.Namespace) -> None:
    """PILAR over ``tenants`` tenants on each count of nodes, windows in turn."""
    with (
        node_servers(max(counts) - 1) as node_urls,
        contextlib.ExitStack() as stack,
    ):
        node_sets = {
            count: stack.enter_context(node_databases(count, node_urls))
            for count in counts
        }
        largest = node_sets[counts[-1]]
        print_machine(largest.control_plane)
        print(f"nodes (of the {counts[-1]}-node case; the others use the first ones):")
        print(describe(largest))
        print(
            f"gunicorn: {args.workers} workers x {args.threads} threads (gthread), "
            f"a pool of {args.threads} per node per worker; wrk: 2 threads, "
            f"{args.connections} connections; {args.warmup} s warm-up, then "
            f"{args.windows} windows of {args.seconds} s per case, taken in turn"
        )
        cases = []
        for count, databases in node_sets.items():
            started = time.perf_counter()
            targets = seed(databases.control_plane, tenants, databases)
            print(
                f"seeded {len(targets)} tenants x {CONVERSATIONS} conversations "
                f"over {count} node(s) in {time.perf_counter() - started:.1f} s"
            )
            cases.append(
                Case(
                    f"{tenants} tenants, {count} node{'s' * (count > 1)}",
                    "wsgi:app",
                    targets,
                    databases,
                )
            )
        servers, results = _run(cases, largest.control_plane, args)
    print()
    for result in results:
        _print(result)
        _print_connections(result, args.workers)
    print()
    single, single_result = servers[0], results[0]
    for server, result in zip(servers[1:], results[1:], strict=True):
        print(_ratio(server, single, " (>= 0.9)"))
        growth = result.rss_after_mb - single_result.rss_after_mb
        print(
            f"worker RSS, {server.case.label} vs 1 node: {growth:+.1f} MB "
            f"for {args.workers} workers (<= +10)"
        )
    bad = [r.label for r in results if r.non_200 or not r.sample_ok]
    print("non-200 or foreign rows: " + (", ".join(bad) if bad else "none (0)"))


def _print_connections(result: Result, workers: int) -> None:
    total = sum(result.connections.values())
    by_node = ", ".join(f"{name} {n}" for name, n in result.connections.items())
    print(
        f"{'':<24} server connections: {by_node}; {total / workers:.1f} per worker "
        f"(worker RSS {result.rss_after_mb / workers:.1f} MB per worker)"
    )


if __name__ == "__main__":
    main()
