"""CPU per list request in one process: ``python -m bench.http.inprocess``.

The same request as bench/http, served by the floor, the Flask floor and
PILAR called as WSGI functions in this process, with no server or load
generator around them: what each spends of its own CPU on one request,
PostgreSQL's work excluded. Batches of the three alternate, and the median
batch is printed with its ratio to the floor.
"""

from __future__ import annotations

import argparse
import importlib
import io
import os
import statistics
import sys
import time
from collections.abc import Callable
from typing import Any

from bench.environment import SECRET_KEY
from bench.environment import print_machine
from bench.environment import throwaway_database
from bench.http.__main__ import Target
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


def _apps(url: str) -> dict[str, App]:
    # The floors and the app read their settings from the environment, as
    # under gunicorn.
    os.environ.update(DATABASE_URL=url, PILAR_SECRET_KEY=SECRET_KEY, FLASK_DEBUG="0")
    from pilar import create_app

    return {
        "floor": importlib.import_module("bench.http.floor").app,
        "Flask floor": importlib.import_module("bench.http.flask_floor").app,
        "pilar": create_app(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=300, help="per batch")
    parser.add_argument("--batches", type=int, default=9, help="per app")
    args = parser.parse_args()
    with throwaway_database() as url:
        print_machine(url)
        target = seed(url, 1)[0]
        apps = _apps(url)
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


if __name__ == "__main__":
    main()
