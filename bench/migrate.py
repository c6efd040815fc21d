"""Migration-run benchmark: ``python -m bench.migrate [--tenants N]``.

Provisions N tenants, then applies one new revision (a nullable column and an
index on ``conversations``) with ``flask tenants migrate --jobs J`` for J in
1, 2 and 4, each against the same statements sent directly over J raw
psycopg connections (one transaction per tenant), reverting in between.
Runs are timed in this process, through the same click command; process
start-up (``flask --app wsgi tenants --help``) is measured on its own. Then
times a run with nothing to apply, in process and as a command.
"""

from __future__ import annotations

import argparse
import statistics
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import psycopg
from flask import Flask
from psycopg import sql

from bench.environment import cli
from bench.environment import make_app
from bench.environment import print_machine
from bench.environment import scratch_folder
from bench.environment import throwaway_database
from pilar.db.extensions import db
from pilar.tenancy.fleet import provisioning
from tests.revisions import BASE_REVISION
from tests.revisions import copy_with_revisions

NEW_REVISION = """
op.add_column("conversations", sa.Column("topic", sa.String(100), nullable=True))
op.create_index("ix_conversations_topic", "conversations", ["topic"])
"""
DIRECT = (
    "ALTER TABLE conversations ADD COLUMN topic VARCHAR(100);"
    "CREATE INDEX ix_conversations_topic ON conversations (topic)"
)
REVERT = (
    "DROP INDEX ix_conversations_topic; ALTER TABLE conversations DROP COLUMN topic"
)
JOBS = (1, 2, 4)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tenants", type=int, default=1000)
    args = parser.parse_args()
    with throwaway_database() as url, scratch_folder() as folder:
        print_machine(url)
        base = copy_with_revisions(folder / "base", [])
        newer = copy_with_revisions(folder / "newer", [NEW_REVISION])
        started = time.perf_counter()
        schema_names = provision(url, base, args.tenants)
        elapsed = time.perf_counter() - started
        print(f"provisioned {args.tenants} tenants in {elapsed:.1f} s")
        run(url, newer, schema_names)


def provision(url: str, location: Path, tenants: int) -> list[str]:
    app = make_app(url, location)
    with app.app_context():
        names = [
            provisioning.create_tenant(
                "Studio", f"t{n}-{uuid.uuid4().hex[:6]}.bench"
            ).schema_name
            for n in range(tenants)
        ]
        db.engine.dispose()
    return names


def run(url: str, location: Path, schema_names: list[str]) -> None:
    startup = statistics.median(
        cli(url, location, "tenants", "--help")[0] for _ in range(3)
    )
    print(f"process start-up (flask --app wsgi tenants --help): {startup:.2f} s")
    print(f"\none new revision across {len(schema_names)} tenants (in process):")
    app = make_app(url, location)
    for jobs in JOBS:
        direct = send_directly(url, schema_names, DIRECT, jobs)
        revert(url, schema_names, REVERT)
        ours = migrate(app, "--jobs", str(jobs))
        revert(url, schema_names, REVERT)
        print(
            f"  --jobs {jobs}: flask tenants migrate {ours:6.2f} s; "
            f"direct statements {direct:6.2f} s = {ours / direct:.2f}x direct"
        )
    migrate(app, "--jobs", "2")
    idle = statistics.median(migrate(app) for _ in range(5))
    walls = [cli(url, location, "tenants", "migrate")[0] for _ in range(3)]
    print(
        f"\nnothing to apply across {len(schema_names)} tenants: {idle:.3f} s in "
        f"process (median of 5); as a command {statistics.median(walls):.2f} s "
        "including start-up (median of 3)"
    )
    with app.app_context():
        db.engine.dispose()


def migrate(app: Flask, *args: str) -> float:
    """Run ``flask tenants migrate`` in this process; return its seconds."""
    started = time.perf_counter()
    result = app.test_cli_runner().invoke(args=["tenants", "migrate", *args])
    elapsed = time.perf_counter() - started
    if result.exit_code != 0 or " 0 failed." not in result.output:
        raise RuntimeError(result.output)
    return elapsed


def send_directly(
    url: str, schema_names: list[str], statements: str, jobs: int
) -> float:
    """Send ``statements`` to every tenant over ``jobs`` connections; return seconds."""
    connections = [psycopg.connect(url) for _ in range(jobs)]
    chunks = [schema_names[n::jobs] for n in range(jobs)]

    def work(conn: psycopg.Connection, names: list[str]) -> None:
        for name in names:
            with conn.transaction():
                conn.execute(
                    "SELECT set_config('search_path', %s, true)",
                    [sql.Identifier(name).as_string(conn)],
                )
                conn.execute(statements)

    try:
        started = time.perf_counter()
        with ThreadPoolExecutor(jobs) as pool:
            list(pool.map(work, connections, chunks))
        return time.perf_counter() - started
    finally:
        for conn in connections:
            conn.close()


def revert(url: str, schema_names: list[str], statements: str) -> None:
    """Take every tenant back to the base revision (not timed)."""
    send_directly(url, schema_names, statements, 4)
    with psycopg.connect(url) as conn:
        conn.execute("UPDATE public.tenants SET schema_revision = %s", [BASE_REVISION])
        for name in schema_names:
            conn.execute(
                sql.SQL("UPDATE {}.alembic_version SET version_num = %s").format(
                    sql.Identifier(name)
                ),
                [BASE_REVISION],
            )


if __name__ == "__main__":
    main()
