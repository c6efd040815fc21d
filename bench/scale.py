"""Ten thousand tenants: ``python -m bench.scale [--tenants N] [--jobs J]``.

Provisions N tenants (default 10,000), showing the time per tenant for each
tenth of them as the catalog grows; then applies one new revision with
``flask tenants migrate --jobs J`` as a command, runs it again with nothing to
apply, runs ``flask tenants doctor``, and reports the database's size.
"""

from __future__ import annotations

import argparse
import time
import uuid
from pathlib import Path

import psycopg

from bench.environment import cli
from bench.environment import make_app
from bench.environment import print_machine
from bench.environment import scratch_folder
from bench.environment import summary
from bench.environment import throwaway_database
from bench.migrate import NEW_REVISION
from pilar.db.extensions import db
from pilar.tenancy.fleet import provisioning
from tests.revisions import copy_with_revisions


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tenants", type=int, default=10_000)
    parser.add_argument("--jobs", type=int, default=2)
    args = parser.parse_args()
    with throwaway_database() as url, scratch_folder() as folder:
        print_machine(url)
        base = copy_with_revisions(folder / "base", [])
        newer = copy_with_revisions(folder / "newer", [NEW_REVISION])
        provision(url, base, args.tenants)
        size(url)
        wall, output = cli(url, newer, "tenants", "migrate", "--jobs", str(args.jobs))
        print(f"\nmigrate --jobs {args.jobs}, one new revision: {wall:.1f} s (command)")
        print("  " + output.strip().splitlines()[-1])
        wall, output = cli(url, newer, "tenants", "migrate")
        print(f"migrate with nothing to apply: {wall:.2f} s as a command")
        print("  " + output.strip().splitlines()[-1])
        start_up, _ = cli(url, newer, "tenants", "--help")
        print(f"process start-up alone: {start_up:.2f} s")
        wall, output = cli(url, newer, "tenants", "doctor")
        print(f"doctor: {wall:.1f} s as a command; {output.strip().splitlines()[-1]}")
        size(url)


def provision(url: str, location: Path, tenants: int) -> None:
    app = make_app(url, location)
    tenth = max(1, tenants // 10)
    samples: list[float] = []
    print(f"\nprovisioning {tenants} tenants:")
    with app.app_context():
        started = time.perf_counter()
        for number in range(tenants):
            domain = f"t{number}-{uuid.uuid4().hex[:6]}.bench"
            began = time.perf_counter()
            provisioning.create_tenant("Studio", domain)
            samples.append(time.perf_counter() - began)
            if (number + 1) % tenth == 0:
                print(
                    f"  tenants {number + 2 - tenth:>6}-{number + 1:<6} "
                    f"{summary(samples[-tenth:])}"
                )
        print(
            f"  all {tenants}: {summary(samples)}, "
            f"wall {time.perf_counter() - started:.1f} s"
        )
        db.engine.dispose()


def size(url: str) -> None:
    with psycopg.connect(url) as conn:
        row = conn.execute(
            "SELECT pg_size_pretty(pg_database_size(current_database())), "
            "(SELECT count(*) FROM pg_class), (SELECT count(*) FROM pg_namespace)"
        ).fetchone()
    assert row is not None  # noqa: S101  # an aggregate always has a row
    print(f"database size {row[0]}, {row[1]} relations, {row[2]} schemas")


if __name__ == "__main__":
    main()
