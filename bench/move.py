"""Moves under load: ``python -m bench.move [--conversations 100000 1000]``.

For each size and each mode (``logical``, ``block-writes``), a tenant with
that many conversations (seeded by ``INSERT … SELECT generate_series``) is
served by gunicorn (2 workers, production settings) from one node while
writers append turns to one of its conversations, each write with its
``Idempotency-Key`` and sent again after a 503, and readers list its
workout plans. This process moves it to the other node meanwhile, as
``flask tenants move`` does. The gunicorn workers learn of the move only
through the requests that meet it.

Printed for each move: its duration; the write pause, as the latency of the
writes in flight while writes were blocked (max and p99) beside the move's
own measure of the block; the writes acknowledged, lost and doubled (each
acknowledged turn is looked for in the stored transcript); the rows on the
target and whether the old node still holds any; the reads that failed. For
``block-writes``, the tenant is then moved back with no load, and that
move's write block (its copy) is given as a ratio to ``pg_dump -n | psql``
of the same schema between the same servers, timed in the same run.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from dataclasses import field
from typing import Any

import psycopg

from bench.environment import ROOT
from bench.environment import SECRET_KEY
from bench.environment import make_app
from bench.environment import percentile
from bench.environment import print_machine
from bench.environment import throwaway_database
from bench.export import insert_rows
from pilar.db.extensions import db
from pilar.tenancy import get_nodes
from pilar.tenancy.fleet import moves
from pilar.tenancy.fleet import provisioning
from tests.database import throwaway_database as throwaway_database_on
from tests.nodes import free_port
from tests.nodes import node_servers

PASSWORD = "password-1"  # noqa: S105  # a throwaway owner of a throwaway database
WRITERS = 4
READERS = 2


@dataclass
class Load:
    """Writes and reads against one tenant through gunicorn, in threads."""

    port: int
    host: str
    token: str
    conversation: str
    writes: list[tuple[float, float, int]] = field(default_factory=list)
    acknowledged: list[str] = field(default_factory=list)
    failed_reads: int = 0
    reads: int = 0
    _stop: threading.Event = field(default_factory=threading.Event)

    def run(self) -> list[threading.Thread]:
        threads = [
            threading.Thread(target=self._write, args=(n,)) for n in range(WRITERS)
        ]
        threads += [threading.Thread(target=self._read) for _ in range(READERS)]
        for thread in threads:
            thread.start()
        return threads

    def stop(self, threads: list[threading.Thread]) -> None:
        self._stop.set()
        for thread in threads:
            thread.join()

    def _write(self, writer: int) -> None:
        count = 0
        path = f"/api/v1/conversations/{self.conversation}/messages"
        while not self._stop.is_set():
            text, key = f"w{writer}-{count}", str(uuid.uuid4())
            started = time.monotonic()
            while True:
                status, _ = request(
                    self.port,
                    "POST",
                    path,
                    self.host,
                    self.token,
                    {"role": "user", "text": text},
                    {"Idempotency-Key": key},
                )
                if status not in (503, 0):
                    break
                time.sleep(0.02)
            self.writes.append((started, time.monotonic(), status))
            if status == 201:
                self.acknowledged.append(text)
            count += 1

    def _read(self) -> None:
        while not self._stop.is_set():
            status, _ = request(
                self.port,
                "GET",
                "/api/v1/workout-plans?limit=20",
                self.host,
                self.token,
            )
            self.reads += 1
            self.failed_reads += status != 200


def request(
    port: int,
    method: str,
    path: str,
    host: str,
    token: str | None = None,
    body: dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
) -> tuple[int, Any]:
    """Send one request; return its status (0 if none came) and JSON body."""
    data = None if body is None else json.dumps(body).encode()
    sent = urllib.request.Request(
        f"http://127.0.0.1:{port}{path}", data=data, method=method
    )
    sent.add_header("Host", host)
    sent.add_header("Content-Type", "application/json")
    if token:
        sent.add_header("Authorization", f"Bearer {token}")
    for name, value in (headers or {}).items():
        sent.add_header(name, value)
    try:
        with urllib.request.urlopen(sent, timeout=30) as response:
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as error:
        return error.code, None
    except OSError:
        return 0, None


@contextmanager
def gunicorn(url: str, nodes: str) -> Iterator[int]:
    port = free_port()
    env = {
        **os.environ,
        "DATABASE_URL": url,
        "PILAR_NODES": nodes,
        "PILAR_SECRET_KEY": SECRET_KEY,
        "FLASK_DEBUG": "0",
    }
    process = subprocess.Popen(
        [
            *(sys.executable, "-m", "gunicorn", "wsgi:app"),
            *("--bind", f"127.0.0.1:{port}", "--workers", "2"),
            *("--worker-class", "gthread", "--threads", "4", "--log-level", "warning"),
        ],
        cwd=ROOT,
        env=env,
    )
    try:
        deadline = time.monotonic() + 60
        while request(port, "GET", "/healthz", "localhost")[0] != 200:
            if time.monotonic() > deadline:
                raise RuntimeError("gunicorn did not start")
            time.sleep(0.2)
        yield port
    finally:
        process.terminate()
        process.wait(timeout=30)


def seed(app: Any, count: int, node: str) -> tuple[str, str]:
    """Create a tenant on ``node`` with ``count`` conversations; return its domain."""
    domain = f"move{uuid.uuid4().hex[:8]}.example.com"
    with app.app_context():
        tenant = provisioning.create_tenant(
            "Bench",
            domain,
            node=node,
            owner=provisioning.OwnerSpec("owner@bench.example.com", PASSWORD),
        )
        with get_nodes().engine(node).begin() as conn:
            insert_rows(conn, tenant.schema_name, count)
    return domain, tenant.schema_name


def pg_dump_seconds(source: str, target_server: str, schema_name: str) -> float:
    """Time ``pg_dump -n SCHEMA | psql`` into a new database on ``target_server``."""
    with throwaway_database_on(target_server, "pilar_bench_dump") as target:
        started = time.perf_counter()
        dump = subprocess.Popen(
            ["pg_dump", "--no-owner", "-n", schema_name, source],
            stdout=subprocess.PIPE,
        )
        subprocess.run(
            ["psql", "-q", "-X", "-v", "ON_ERROR_STOP=1", target],
            stdin=dump.stdout,
            stdout=subprocess.DEVNULL,
            check=True,
        )
        if dump.wait() != 0:
            raise RuntimeError("pg_dump failed")
        return time.perf_counter() - started


def measure(app: Any, url: str, nodes: dict[str, str], count: int, mode: str) -> None:
    domain, schema_name = seed(app, count, "node2")
    setting = " ".join(f"{name}={value}" for name, value in nodes.items())
    with gunicorn(url, setting) as port:
        _, body = request(
            port,
            "POST",
            "/api/v1/auth/token",
            domain,
            body={"email": "owner@bench.example.com", "password": PASSWORD},
        )
        token = body["access_token"]
        _, body = request(
            port, "POST", "/api/v1/conversations", domain, token, {"channel": "VOICE"}
        )
        load = Load(port, domain, token, body["id"])
        threads = load.run()
        time.sleep(2)
        switched: list[float] = []
        started = time.monotonic()

        def progress(message: str) -> None:
            if message.startswith("switched"):
                switched.append(time.monotonic())

        with app.app_context():
            summary = moves.move_tenant(
                domain, "node3", mode=moves.Mode(mode), progress=progress
            )
        duration = time.monotonic() - started
        time.sleep(2)
        load.stop(threads)
        _, stored = request(
            port, "GET", f"/api/v1/conversations/{load.conversation}", domain, token
        )
    report(
        nodes, schema_name, count, mode, summary, duration, switched[0], load, stored
    )
    if mode == "block-writes":
        # Both without load: the copy's throughput against pg_dump | psql's.
        with app.app_context():
            back = moves.move_tenant(domain, "node2", mode=moves.Mode.BLOCK_WRITES)
        copy = pg_dump_seconds(nodes["node2"], nodes["node3"], schema_name)
        print(
            f"    with no load, back to node2: writes blocked "
            f"{back.write_pause:.2f} s for {back.rows:,} rows; pg_dump -n | psql of "
            f"the same schema: {copy:.2f} s; ratio {back.write_pause / copy:.2f} "
            "(<= 2)"
        )


def report(
    nodes: dict[str, str],
    schema_name: str,
    count: int,
    mode: str,
    summary: moves.MoveSummary,
    duration: float,
    switched_at: float,
    load: Load,
    stored: dict[str, Any],
) -> None:
    blocked_from = switched_at - summary.write_pause
    during = [
        end - start
        for start, end, _ in load.writes
        if start < switched_at and end > blocked_from
    ]
    texts = [turn["text"] for turn in stored["transcript"]]
    lost = set(load.acknowledged) - set(texts)
    doubled = len(texts) - len(set(texts))
    with psycopg.connect(nodes["node2"]) as conn:
        # The tenant's db schema, or the old copy renamed for the switch.
        left = conn.execute(
            "SELECT count(*) FROM pg_namespace WHERE nspname = %s "
            "OR nspname LIKE 'pilar\\_moved\\_%%'",
            [schema_name],
        ).fetchone()
    latency = [end - start for start, end, _ in load.writes]
    print(
        f"\n{count:,} conversations, {mode}: moved in {duration:.2f} s "
        f"({summary.rows:,} rows); writes blocked {summary.write_pause * 1000:.0f} ms"
    )
    if during:
        print(
            f"    write latency during the block: max {max(during) * 1000:.0f} ms, "
            f"p99 {percentile(during, 0.99) * 1000:.0f} ms ({len(during)} writes); "
            f"all writes: p50 {percentile(latency, 0.5) * 1000:.0f} ms, "
            f"p99 {percentile(latency, 0.99) * 1000:.0f} ms"
        )
    print(
        f"    writes acknowledged {len(load.acknowledged)}, lost {len(lost)}, "
        f"doubled {doubled}; other answers "
        f"{sum(status != 201 for _, _, status in load.writes)}; "
        f"reads {load.reads}, failed {load.failed_reads}"
    )
    print(
        f"    schemas left on the old node: {left[0] if left else '?'}; "
        f"left for doctor: {summary.left or 'nothing'}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--conversations", type=int, nargs="+", default=[1_000, 100_000]
    )
    args = parser.parse_args()
    with (
        throwaway_database() as url,
        node_servers(2) as servers,
        throwaway_database_on(servers[0], "pilar_bench") as node2,
        throwaway_database_on(servers[1], "pilar_bench") as node3,
    ):
        print_machine(url)
        nodes = {"node2": node2, "node3": node3}
        app = make_app(
            url,
            ROOT / "tenant_migrations",
            NODES=" ".join(f"{k}={v}" for k, v in nodes.items()),
        )
        print(
            f"gunicorn: 2 workers x 4 threads; load: {WRITERS} writers appending "
            f"turns (retrying 503s with their key), {READERS} readers"
        )
        try:
            for count in args.conversations:
                for mode in ("logical", "block-writes"):
                    measure(app, url, nodes, count, mode)
        finally:
            with app.app_context():
                get_nodes().dispose()
                db.engine.dispose()


if __name__ == "__main__":
    main()
