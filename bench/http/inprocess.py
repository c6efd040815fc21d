"""CPU per list request in one process: ``python -m bench.http.inprocess``.

The same request as bench/http, served by the floor, the Flask floor, PILAR
and PILAR with its list query in plain psycopg (bench/http/hot_path.py),
called as WSGI functions in this process, with no server or load
generator around them: what each spends of its own CPU on one request,
PostgreSQL's work excluded. Batches of the four alternate, and the median
batch is printed with its ratio to the floor.

With ``--instructions``, each app runs under valgrind's callgrind instead,
once without and once with the measured requests, and the difference gives
the instructions per request: a count the machine's noise does not change.
"""

from __future__ import annotations

import argparse
import importlib
import io
import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from bench.environment import ROOT
from bench.environment import SECRET_KEY
from bench.environment import print_machine
from bench.environment import throwaway_database
from bench.http.__main__ import Target
from bench.http.__main__ import must_find
from bench.http.__main__ import seed

App = Callable[[dict[str, Any], Callable[..., Any]], Any]


def _environ(target: Target) -> dict[str, Any]:
    return {
        "REQUEST_METHOD": "GET",
        "PATH_INFO": "/api/v1/conversations",
        "QUERY_STRING": "limit=20",
        "SERVER_NAME": target.domain,
        "SERVER_PORT": "80",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "HTTP_HOST": target.domain,
        "HTTP_AUTHORIZATION": f"Bearer {target.token}",
        "wsgi.url_scheme": "http",
        "wsgi.input": io.BytesIO(),
        "wsgi.errors": sys.stderr,
        "wsgi.multithread": True,
        "wsgi.multiprocess": False,
        "wsgi.run_once": False,
    }


def _serve(app: App, target: Target, count: int) -> None:
    def start_response(status: str, headers: Any, exc_info: Any = None) -> None:
        if not status.startswith("200"):
            raise RuntimeError(f"{status} from {app!r}")

    for _ in range(count):
        body = app(_environ(target), start_response)
        b"".join(body)
        if hasattr(body, "close"):
            body.close()


def _load(name: str) -> App:
    # The floors and the app read their settings from the environment, as
    # under gunicorn.
    if name == "pilar":
        from pilar import create_app

        return create_app()
    module = {
        "floor": "bench.http.floor",
        "Flask floor": "bench.http.flask_floor",
        "hot path": "bench.http.hot_path",
    }
    app: App = importlib.import_module(module[name]).app
    return app


APPS = ("floor", "Flask floor", "pilar", "hot path")
_TARGET = "BENCH_HTTP_TARGET"  # the child's tenant, for --instructions


def _settings(url: str) -> dict[str, str]:
    return {"DATABASE_URL": url, "PILAR_SECRET_KEY": SECRET_KEY, "FLASK_DEBUG": "0"}


def _measure_cpu(args: argparse.Namespace, url: str, target: Target) -> None:
    os.environ.update(_settings(url))
    apps = {name: _load(name) for name in APPS}
    for app in apps.values():
        _serve(app, target, args.requests)  # warm caches and connections
    batches: dict[str, list[float]] = {name: [] for name in apps}
    for _ in range(args.batches):
        for name, app in apps.items():
            started = time.process_time()
            _serve(app, target, args.requests)
            elapsed = time.process_time() - started
            batches[name].append(elapsed / args.requests * 1000)
    floor = statistics.median(batches["floor"])
    print(
        f"CPU per request, median of {args.batches} batches "
        f"of {args.requests} requests:"
    )
    for name, values in batches.items():
        cost = statistics.median(values)
        print(f"  {name:<12} {cost:6.3f} ms  ({cost / floor:.2f} x the floor)")


def _count_instructions(name: str, requests: int, url: str, target: Target) -> int:
    env = {
        **os.environ,
        **_settings(url),
        # The same hashes in every run, so the same work.
        "PYTHONHASHSEED": "0",
        _TARGET: json.dumps([target.domain, target.token]),
    }
    command = [
        "valgrind",
        "--tool=callgrind",
        "--callgrind-out-file=/dev/null",
        sys.executable,
        "-m",
        "bench.http.inprocess",
        "--serve",
        name,
        "--requests",
        str(requests),
    ]
    run = subprocess.run(
        command, env=env, cwd=ROOT, capture_output=True, text=True, check=True
    )
    return int(must_find(r"Collected : (\d+)", run.stderr).group(1))


def _measure_instructions(args: argparse.Namespace, url: str, target: Target) -> None:
    runs = [(name, count) for name in APPS for count in (0, args.requests)]
    with ThreadPoolExecutor(max_workers=os.cpu_count()) as pool:
        totals = dict(
            zip(
                runs,
                pool.map(
                    lambda run: _count_instructions(run[0], run[1], url, target), runs
                ),
                strict=True,
            )
        )
    per_request = {
        name: (totals[name, args.requests] - totals[name, 0]) / args.requests
        for name in APPS
    }
    print(f"instructions per request (callgrind, {args.requests} requests):")
    for name, count in per_request.items():
        print(
            f"  {name:<12} {count / 1e6:6.2f} million  "
            f"({count / per_request['floor']:.2f} x the floor)"
        )


def _serve_for_count(name: str, requests: int) -> None:
    domain, token = json.loads(os.environ[_TARGET])
    target = Target(domain, "", token, frozenset())
    app = _load(name)
    _serve(app, target, 50)  # in both runs, so it cancels out
    _serve(app, target, requests)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=300, help="per batch")
    parser.add_argument("--batches", type=int, default=9, help="per app")
    parser.add_argument(
        "--instructions",
        action="store_true",
        help="count instructions under valgrind (takes minutes)",
    )
    parser.add_argument("--serve", choices=APPS, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        _serve_for_count(args.serve, args.requests)
        return
    with throwaway_database() as url:
        print_machine(url)
        target = seed(url, 1)[0]
        if args.instructions:
            _measure_instructions(args, url, target)
        else:
            _measure_cpu(args, url, target)


if __name__ == "__main__":
    main()
