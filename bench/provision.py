"""Provisioning benchmark: ``python -m bench.provision [--tenants N]``.

Creates N tenants through ``provisioning.create_tenant`` with 1 and with 20
revisions in the tenant history (the 19 extra ones add and drop columns and
indexes, so the schema at the end is the same size), interleaved with the
floor: the same DDL sent as one batch in one transaction over raw psycopg.
A few tenants are also built by replaying the migrations, for contrast.
"""

from __future__ import annotations

import argparse
import statistics
import time
import uuid
from pathlib import Path

import psycopg
import sqlalchemy as sa
from flask import Flask
from psycopg import sql

from bench.environment import make_app
from bench.environment import print_machine
from bench.environment import scratch_folder
from bench.environment import summary
from bench.environment import throwaway_database
from pilar.extensions import db
from pilar.tenancy import ddl
from pilar.tenancy import migrations
from pilar.tenancy import provisioning
from tests.revisions import copy_with_revisions

ADD = """
op.add_column("workout_plans", sa.Column("note_{n}", sa.Text()))
op.create_index("ix_workout_plans_note_{n}", "workout_plans", ["note_{n}"])
"""
DROP = """
op.drop_index("ix_workout_plans_note_{n}", table_name="workout_plans")
op.drop_column("workout_plans", "note_{n}")
"""
# 19 revisions: nine add-and-drop pairs and one column that stays.
TWENTY = [body.format(n=n) for n in range(9) for body in (ADD, DROP)] + [
    ADD.format(n=9)
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tenants", type=int, default=1000)
    parser.add_argument("--replayed", type=int, default=50)
    args = parser.parse_args()
    with throwaway_database() as url, scratch_folder() as folder:
        print_machine(url)
        histories = {
            "1 revision": copy_with_revisions(folder / "one", []),
            "20 revisions": copy_with_revisions(folder / "twenty", TWENTY),
        }
        apps = {name: make_app(url, location) for name, location in histories.items()}
        run(url, apps, histories, args.tenants, args.replayed)
        for app in apps.values():
            with app.app_context():
                db.engine.dispose()


def run(
    url: str,
    apps: dict[str, Flask],
    histories: dict[str, Path],
    tenants: int,
    replayed: int,
) -> None:
    times: dict[str, list[float]] = {}
    floors: dict[str, str] = {}
    for name, app in apps.items():
        with app.app_context():
            started = time.perf_counter()
            provisioning.create_tenant(
                "Warm-up", f"warmup-{uuid.uuid4().hex[:8]}.bench"
            )
            times[f"first tenant, {name} (renders the DDL)"] = [
                time.perf_counter() - started
            ]
            with db.engine.begin() as conn:
                rendered = ddl.SchemaTemplates().ddl(conn, str(histories[name]))
            assert rendered.sql is not None  # noqa: S101  # the fast path is measured
            floors[name] = rendered.sql
    print(f"\nprovisioning {tenants} tenants per series (interleaved):")
    with psycopg.connect(url) as raw:
        for _ in range(tenants):
            for name, app in apps.items():
                times.setdefault(f"floor, {name}", []).append(floor(raw, floors[name]))
                times.setdefault(f"pilar, {name}", []).append(provision(app))
        for name, app in apps.items():
            with app.app_context(), db.engine.connect() as conn:
                times[f"replayed migrations, {name}"] = [
                    replay(conn, str(histories[name])) for _ in range(replayed)
                ]
    report(times)


def report(times: dict[str, list[float]]) -> None:
    width = max(len(name) for name in times)
    for name, samples in times.items():
        floor_name = "floor, " + name.split(", ")[-1]
        ratio = ""
        if floor_name in times and not name.startswith("floor"):
            factor = statistics.median(samples) / statistics.median(times[floor_name])
            ratio = f"  = {factor:.2f}x floor"
        print(f"  {name:<{width}}  n={len(samples):<5} {summary(samples)}{ratio}")


def floor(raw: psycopg.Connection, statements: str) -> float:
    """Create one db schema as PostgreSQL alone would: one batch, one transaction."""
    schema_name = f"floor_{uuid.uuid4().hex[:12]}"
    started = time.perf_counter()
    with raw.transaction():
        raw.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema_name)))
        raw.execute(
            "SELECT set_config('search_path', %s, true)",
            [sql.Identifier(schema_name).as_string(raw)],
        )
        raw.execute(statements)
    return time.perf_counter() - started


def provision(app: Flask) -> float:
    domain = f"t{uuid.uuid4().hex[:12]}.bench"
    with app.app_context():
        started = time.perf_counter()
        provisioning.create_tenant("Studio", domain)
        return time.perf_counter() - started


def replay(conn: sa.Connection, location: str) -> float:
    """Build one db schema by running every migration, as provisioning once did."""
    schema_name = f"replay_{uuid.uuid4().hex[:12]}"
    started = time.perf_counter()
    with conn.begin():
        conn.execute(sa.schema.CreateSchema(schema_name))
        migrations.upgrade_schema(conn, schema_name, location)
    return time.perf_counter() - started


if __name__ == "__main__":
    main()
