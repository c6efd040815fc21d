"""Inbound webhook benchmark: ``python -m bench.webhooks``.

Seeds 100 tenants spread over 2 nodes (``default`` on the benchmark's server,
the other on a server of tests/nodes.py), each with a STAFF user, 50
conversations and a WhatsApp channel; serves them with gunicorn (2 workers x 4
threads, production settings); and sends, from 8 client threads, in windows
taken in turn so that a slow spell of the machine falls on every case alike:

- signed WhatsApp payloads of 1 message, each to a random tenant;
- signed WhatsApp payloads of 50 messages (10 contacts x 5), each to one tenant;
- ``POST /api/v1/conversations/<id>/messages``, one turn each: the comparison.

Then every WhatsApp payload is delivered twice more, shuffled, so that some
copies race (Meta's retries and duplicate deliveries), and each node's turns
are counted: every message sent must be stored exactly once.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import os
import queue
import random
import statistics
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from dataclasses import field

from bench.environment import ROOT
from bench.environment import SECRET_KEY
from bench.environment import percentile
from bench.environment import print_machine
from bench.nodes import NodeDatabases
from bench.nodes import describe
from bench.nodes import node_databases
from bench.webhooks.studios import APP_SECRET
from bench.webhooks.studios import Request
from bench.webhooks.studios import Studio
from bench.webhooks.studios import append_request
from bench.webhooks.studios import count_turns
from bench.webhooks.studios import seed_studios
from bench.webhooks.studios import whatsapp_request
from tests.nodes import free_port
from tests.nodes import node_servers


@dataclass
class Case:
    label: str
    expected_status: int
    latencies: list[float] = field(default_factory=list)
    seconds: float = 0.0
    messages: int = 0
    failures: int = 0

    def add(self, latencies: list[float], seconds: float, messages: int) -> None:
        self.latencies += latencies
        self.seconds += seconds
        self.messages += messages

    @property
    def messages_per_second(self) -> float:
        return self.messages / self.seconds

    @property
    def median_ms(self) -> float:
        return statistics.median(self.latencies) * 1000

    @property
    def p99_ms(self) -> float:
        return percentile(self.latencies, 0.99) * 1000


def send_all(
    port: int, requests: list[Request], clients: int
) -> tuple[list[float], float, list[tuple[int, bytes]]]:
    """Send ``requests`` from ``clients`` threads with keep-alive connections.

    Returns each latency, the wall time, and each response's status and body.
    """
    pending: queue.SimpleQueue[Request] = queue.SimpleQueue()
    for request in requests:
        pending.put(request)
    latencies: list[float] = []
    responses: list[tuple[int, bytes]] = []
    lock = threading.Lock()

    def client() -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        while True:
            try:
                request = pending.get_nowait()
            except queue.Empty:
                break
            headers = {
                **request.headers,
                "Host": request.host,
                "Content-Type": "application/json",
            }
            started = time.perf_counter()
            conn.request("POST", request.path, request.body, headers)
            response = conn.getresponse()
            body = response.read()
            elapsed = time.perf_counter() - started
            with lock:
                latencies.append(elapsed)
                responses.append((response.status, body))
        conn.close()

    started = time.perf_counter()
    threads = [threading.Thread(target=client) for _ in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return latencies, time.perf_counter() - started, responses


def stored_by(responses: list[tuple[int, bytes]]) -> int:
    """The messages the responses say were stored: a receipt's, or 1 per 201."""
    return sum(
        json.loads(body)["stored"] if status == 200 else status == 201
        for status, body in responses
    )


@contextlib.contextmanager
def serving(databases: NodeDatabases, args: argparse.Namespace) -> Iterator[int]:
    """Serve the app with gunicorn on a free port; yield the port."""
    port = free_port()
    env = {
        **os.environ,
        "DATABASE_URL": databases.control_plane,
        "PILAR_NODES": databases.setting(),
        "PILAR_SECRET_KEY": SECRET_KEY,
        "PILAR_WHATSAPP_APP_SECRET": APP_SECRET,
        "FLASK_DEBUG": "0",
        "PILAR_DB_POOL_SIZE": str(args.threads),
        "PILAR_DB_MAX_OVERFLOW": "0",
    }
    command = [sys.executable, "-m", "gunicorn", "wsgi:app"]
    command += ["--bind", f"127.0.0.1:{port}", "--workers", str(args.workers)]
    command += ["--worker-class", "gthread", "--threads", str(args.threads)]
    process = subprocess.Popen([*command, "--log-level", "warning"], cwd=ROOT, env=env)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz"):
                    break
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError("gunicorn did not start") from None
                time.sleep(0.2)
        yield port
    finally:
        process.terminate()
        process.wait(timeout=30)


def main() -> None:
    args = _parser().parse_args()
    with node_servers(1) as servers, node_databases(2, servers) as databases:
        print_machine(databases.control_plane)
        print("nodes:")
        print(describe(databases))
        started = time.perf_counter()
        studios = seed_studios(databases, args.tenants)
        print(
            f"seeded {len(studios)} tenants over {len(databases.urls)} nodes, each "
            "with 50 conversations and a WhatsApp channel, in "
            f"{time.perf_counter() - started:.1f} s"
        )
        print(
            f"gunicorn: {args.workers} workers x {args.threads} threads (gthread); "
            f"{args.clients} client threads; {args.windows} windows per case, "
            "taken in turn"
        )
        with serving(databases, args) as port:
            cases, sent = measure(port, studios, args)
            retried = retry(port, sent, args.clients)
        turns, distinct = count_turns(databases, studios)
    report(cases, sent, retried, turns, distinct)


def requests_of(
    kind: str, studios: list[Studio], args: argparse.Namespace
) -> list[Request]:
    if kind == "one":
        return [
            whatsapp_request(studio, [random.choice(studio.contacts)], 1)
            for studio in random.choices(studios, k=args.requests)
        ]
    if kind == "fifty":
        return [
            whatsapp_request(studio, random.sample(studio.contacts, 10), 5)
            for studio in random.choices(studios, k=args.batches)
        ]
    return [
        append_request(studio) for studio in random.choices(studios, k=args.requests)
    ]


def measure(
    port: int, studios: list[Studio], args: argparse.Namespace
) -> tuple[dict[str, Case], list[Request]]:
    """Warm up, then run each case's windows in turn; return them and what was sent."""
    cases = {
        "one": Case("WhatsApp, 1 message", 200),
        "fifty": Case("WhatsApp, 50 messages", 200),
        "append": Case("API append, 1 turn", 201),
    }
    sent: list[Request] = []
    for kind in cases:
        warm_up = requests_of(kind, studios, args)
        send_all(port, warm_up, args.clients)
        sent += warm_up if kind != "append" else []
    for _ in range(args.windows):
        for kind, case in cases.items():
            requests = requests_of(kind, studios, args)
            latencies, seconds, responses = send_all(port, requests, args.clients)
            case.add(latencies, seconds, stored_by(responses))
            case.failures += sum(s != case.expected_status for s, _ in responses)
            sent += requests if kind != "append" else []
    return cases, sent


@dataclass(frozen=True)
class Retried:
    deliveries: int
    failures: int
    stored_again: int


def retry(port: int, sent: list[Request], clients: int) -> Retried:
    """Deliver every payload twice more, shuffled, so that some copies race."""
    again = sent * 2
    random.shuffle(again)
    _, _, responses = send_all(port, again, clients)
    failures = sum(status != 200 for status, _ in responses)
    return Retried(len(again), failures, stored_by(responses))


def report(
    cases: dict[str, Case],
    sent: list[Request],
    retried: Retried,
    turns: int,
    distinct: int,
) -> None:
    print()
    for case in cases.values():
        print(
            f"{case.label:<24} {len(case.latencies):6d} requests  "
            f"{case.messages_per_second:7.0f} messages stored/s  "
            f"p50 {case.median_ms:7.1f} ms  p99 {case.p99_ms:7.1f} ms  "
            f"unexpected statuses {case.failures}"
        )
    one, fifty, append = cases["one"], cases["fifty"], cases["append"]
    print()
    for case in (fifty, one):
        ratio = case.messages_per_second / append.messages_per_second
        print(f"messages stored/s, {case.label} / API appends: {ratio:.2f}")
    fifty_appends = 50 * append.median_ms
    print(
        f"50 messages: one signed payload p50 {fifty.median_ms:.1f} ms; 50 API "
        f"appends one after another 50 x p50 {append.median_ms:.1f} = "
        f"{fifty_appends:.0f} ms; ratio {fifty.median_ms / fifty_appends:.2f} (< 1)"
    )
    expected = sum(request.messages for request in sent)
    print(
        f"retries: {retried.deliveries} deliveries of stored payloads, "
        f"{retried.failures} not 200, {retried.stored_again} messages stored "
        "again (0)"
    )
    print(
        f"stored: {turns} turns for {expected} messages sent, {distinct} distinct "
        f"ids; duplicates {turns - distinct} (0), missing {expected - distinct} (0)"
    )


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tenants", type=int, default=100)
    parser.add_argument("--windows", type=int, default=8)
    parser.add_argument(
        "--requests",
        type=int,
        default=300,
        help="1-message payloads and API appends per window",
    )
    parser.add_argument(
        "--batches", type=int, default=40, help="50-message payloads per window"
    )
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=4)
    return parser


if __name__ == "__main__":
    main()
