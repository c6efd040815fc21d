"""Provisioning benchmark: ``python -m bench.provision [--tenants N]``.

Creates N tenants through ``provisioning.create_tenant`` with 1 and with 20
revisions in the tenant history (the 19 extra ones add and drop columns and
indexes, so the schema at the end is the same size), interleaved with the
floor: the same DDL sent as one batch in one transaction over raw psycopg.
A few tenants are also built by replaying the migrations, for contrast.
The 1-revision series runs a third time with the tenants placed on a second
node (another PostgreSQL server): its ratio to the same series on ``default``
is the cost of the control plane's commit being in another database.
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
from pilar import create_app
from pilar.db.extensions import db
from pilar.tenancy import get_nodes
from pilar.tenancy.fleet import ddl
from pilar.tenancy.fleet import migrations
from pilar.tenancy.fleet import provisioning
from tests.database import throwaway_database as throwaway_database_on
from tests.nodes import node_servers
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
    with (
        throwaway_database() as url,
        scratch_folder() as folder,
        node_servers(1) as (server,),
        throwaway_database_on(server, "pilar_bench") as node_url,
    ):
        print_machine(url)
        histories = {
            "1 revision": copy_with_revisions(folder / "one", []),
            "20 revisions": copy_with_revisions(folder / "twenty", TWENTY),
        }
        apps = {name: make_app(url, location) for name, location in histories.items()}
        apps[SECOND_NODE] = on_second_node(apps["1 revision"], node_url)
        histories[SECOND_NODE] = histories["1 revision"]
        run(url, apps, histories, args.tenants, args.replayed)
        for app in apps.values():
            with app.app_context():
                get_nodes().dispose()
                db.engine.dispose()


SECOND_NODE = "1 revision, second node"


def on_second_node(app: Flask, node_url: str) -> Flask:
    """The app of ``app``'s settings whose new tenants go to node ``eu2``."""
    config = {
        key: app.config[key]
        for key in ("SQLALCHEMY_DATABASE_URI", "SECRET_KEY", "TENANT_MIGRATIONS_DIR")
    }
    return create_app({**config, "NODES": f"eu2={node_url}", "PLACEMENT_NODES": "eu2"})


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
                if name != SECOND_NODE:
                    floor_time = floor(raw, floors[name])
                    times.setdefault(f"floor, {name}", []).append(floor_time)
                times.setdefault(f"pilar, {name}", []).append(provision(app))
        for name, app in apps.items():
            if name == SECOND_NODE:
                continue
            with app.app_context(), db.engine.connect() as conn:
                times[f"replayed migrations, {name}"] = [
                    replay(conn, str(histories[name])) for _ in range(replayed)
                ]
    report(times)


def report(times: dict[str, list[float]]) -> None:
    width = max(len(name) for name in times)
    for name, samples in times.items():
        floor_name = "floor, " + name.split(", ", 1)[-1]
        ratio = ""
        if floor_name in times and not name.startswith("floor"):
            factor = statistics.median(samples) / statistics.median(times[floor_name])
            ratio = f"  = {factor:.2f}x floor"
        print(f"  {name:<{width}}  n={len(samples):<5} {summary(samples)}{ratio}")
    second = times.get(f"pilar, {SECOND_NODE}")
    if second:
        factor = statistics.median(second) / statistics.median(
            times["pilar, 1 revision"]
        )
        print(f"\n  second node / default, 1 revision: {factor:.2f}x (target <= 1.4)")


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
