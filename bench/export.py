"""Export and import benchmark: ``python -m bench.export [--conversations N]``.

Seeds a tenant on ``default`` with N conversations (100,000 by default, with
transcripts of six turns) and a thousand workout plans, inserted by
``INSERT … SELECT generate_series``; then, each in a fresh process:

- ``flask tenants export`` to a plain and to a gzip-compressed archive:
  archive size, rows/s and MB/s of COPY data, the process's peak RSS;
- ``pg_dump --data-only`` of the same db schema, for reference;
- the tenant dropped, ``flask tenants import`` of the archive under another
  domain and db schema, onto a second node: rows/s and peak RSS;
- ``GET /api/v1/export`` of the imported tenant, streamed through the WSGI
  app and counted, not kept: MB/s and the worker's peak RSS.

A tenant a tenth the size goes through the same steps first: a peak RSS
that does not grow with the tenant is what bounded memory looks like. The
RSS of a process that only loads the app is printed as the baseline.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from flask import Flask
from psycopg import sql

from bench.environment import ROOT
from bench.environment import SECRET_KEY
from bench.environment import make_app
from bench.environment import print_machine
from bench.environment import scratch_folder
from bench.environment import throwaway_database
from pilar import create_app
from pilar.db.extensions import db
from pilar.models import Role
from pilar.models import Tenant
from pilar.models import TenantIntegrationType
from pilar.models import TenantUser
from pilar.security.passwords import hash_password
from pilar.services import integrations
from pilar.tenancy import get_nodes
from pilar.tenancy.fleet import provisioning
from tests.database import throwaway_database as throwaway_database_on
from tests.nodes import node_servers

SECOND_NODE = "node2"
MB = 1024 * 1024
# Six turns of a typical booking over WhatsApp: some 700 bytes a conversation.
SEED = """
INSERT INTO {conversations} (id, channel, transcript, metadata, created_at, updated_at)
SELECT gen_random_uuid(),
       (ARRAY['VOICE', 'WHATSAPP', 'EMAIL'])[1 + n %% 3]::{channel},
       jsonb_build_array(
         jsonb_build_object('role', 'user', 'text',
           'Is there still a place in the 18:00 spinning class on day ' || n || '?'),
         jsonb_build_object('role', 'assistant', 'text',
           'Yes, 4 places are left. Shall I book one for you?'),
         jsonb_build_object('role', 'user', 'text', 'Yes please, and a towel.'),
         jsonb_build_object('role', 'assistant', 'text',
           'Booked: spinning at 18:00. Towels are at the front desk.'),
         jsonb_build_object('role', 'user', 'text', 'Thanks, see you then'),
         jsonb_build_object('role', 'assistant', 'text', 'See you! 💪')),
       jsonb_build_object('wa_id', '49151' || lpad(n::text, 8, '0'),
                          'contact_name', 'Member ' || n),
       now() - n * interval '1 minute', now() - n * interval '1 minute'
FROM generate_series(1, %(count)s) AS n
"""
PLANS = """
INSERT INTO {plans} (id, user_id, plan, created_at, updated_at)
SELECT gen_random_uuid(), 'member-' || n,
       jsonb_build_object('days', jsonb_build_array('squat 5x5', 'press 5x5', 'row')),
       now() - n * interval '1 hour', now() - n * interval '1 hour'
FROM generate_series(1, 1000) AS n
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--conversations", type=int, default=100_000)
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(*args.child)))
        return
    with (
        throwaway_database() as url,
        node_servers(1) as (server,),
        throwaway_database_on(server, "pilar_bench") as node_url,
        scratch_folder() as folder,
    ):
        print_machine(url)
        nodes = f"{SECOND_NODE}={node_url}"
        app = make_app(url, ROOT / "tenant_migrations", NODES=nodes)
        env = {
            **os.environ,
            "DATABASE_URL": url,
            "PILAR_NODES": nodes,
            "PILAR_SECRET_KEY": SECRET_KEY,
        }
        idle = run_child(env, "idle")
        print(
            f"\nbaseline: a process with the app loaded, {idle['rss'] / MB:.0f} MB RSS"
        )
        for count in (args.conversations // 10, args.conversations):
            measure(app, env, url, folder, count)
        with app.app_context():
            get_nodes().dispose()
            db.engine.dispose()


def measure(
    app: Flask, env: dict[str, str], url: str, folder: Path, count: int
) -> None:
    domain = f"bench{uuid.uuid4().hex[:8]}.example.com"
    started = time.perf_counter()
    schema_name = seed(app, domain, count)
    print(
        f"\n{count:,} conversations + 1,000 workout plans seeded in "
        f"{time.perf_counter() - started:.1f} s"
    )
    for name in ("tenant.tar", "tenant.tar.gz"):
        path = folder / name
        done = run_child(env, "export", domain, str(path))
        report(f"export to {name}", done, done["data"])
        print(f"    archive {path.stat().st_size / MB:.1f} MB")
    pg_dump(url, schema_name, folder / "pg_dump.sql")
    with app.app_context():
        provisioning.drop_tenant(tenant_id_of(domain))
    imported = f"imported-{domain}"
    done = run_child(
        env, "import", str(folder / "tenant.tar.gz"), imported, f"i_{schema_name}"
    )
    report(f"import onto {SECOND_NODE}", done, done["data"])
    rows = done["rows"]
    done = run_child(env, "api", imported)
    report("GET /api/v1/export", {**done, "rows": rows}, done["bytes"])
    with app.app_context():
        provisioning.drop_tenant(tenant_id_of(imported))


def seed(app: Flask, domain: str, count: int) -> str:
    """Create a tenant with ``count`` conversations; return its db schema name."""
    with app.app_context():
        tenant = provisioning.create_tenant(
            "Bench",
            domain,
            node="default",
            owner=provisioning.OwnerSpec("owner@bench.example.com", "password-1"),
        )
        db.session.add(
            TenantUser(
                tenant_id=tenant.id,
                email="staff@bench.example.com",
                password_hash=hash_password("password-1"),
                role=Role.STAFF,
            )
        )
        db.session.commit()
        integrations.put_integration(
            tenant.id,
            TenantIntegrationType.MAGICLINE,
            config={"tenant": "bench", "api_key": "key"},
            active=True,
        )
        with db.engine.begin() as conn:
            insert_rows(conn, tenant.schema_name, count)
    return tenant.schema_name


def insert_rows(conn: sa.Connection, schema_name: str, count: int) -> None:
    """Insert ``count`` conversations and 1,000 workout plans into ``schema_name``."""
    driver = conn.connection.driver_connection
    assert driver is not None  # noqa: S101  # a live connection
    with driver.cursor() as cursor:
        cursor.execute(
            sql.SQL(SEED).format(
                conversations=sql.Identifier(schema_name, "conversations"),
                channel=sql.Identifier(schema_name, "channel"),
            ),
            {"count": count},
        )
        cursor.execute(
            sql.SQL(PLANS).format(plans=sql.Identifier(schema_name, "workout_plans"))
        )


def tenant_id_of(domain: str) -> Any:
    tenant_id = db.session.scalar(sa.select(Tenant.id).where(Tenant.domain == domain))
    db.session.rollback()
    return tenant_id


def pg_dump(url: str, schema_name: str, path: Path) -> None:
    started = time.perf_counter()
    subprocess.run(
        ["pg_dump", "--data-only", "--schema", schema_name, "--file", str(path), url],
        check=True,
    )
    elapsed = time.perf_counter() - started
    size = path.stat().st_size
    print(
        f"  {'pg_dump --data-only (reference)':<32} {elapsed:6.2f} s  "
        f"{size / MB / elapsed:6.1f} MB/s  ({size / MB:.1f} MB)"
    )


def report(label: str, done: dict[str, Any], data_bytes: int) -> None:
    seconds = done["seconds"]
    print(
        f"  {label:<32} {seconds:6.2f} s  {done['rows'] / seconds:9,.0f} rows/s  "
        f"{data_bytes / MB / seconds:6.1f} MB/s  ({data_bytes / MB:.1f} MB)  "
        f"peak RSS {done['rss'] / MB:.0f} MB"
    )


def run_child(env: dict[str, str], *args: str) -> dict[str, Any]:
    """Run one step in a fresh process (its peak RSS is its own); return its figures."""
    done = subprocess.run(
        [sys.executable, "-m", "bench.export", "--child", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(args)} failed:\n{done.stdout}{done.stderr}")
    result: dict[str, Any] = json.loads(done.stdout.splitlines()[-1])
    return result


def child(step: str, *args: str) -> dict[str, Any]:
    """One step, in this process: the app from the environment, as `flask` makes it."""
    app = create_app()
    with app.app_context():
        started = time.perf_counter()
        figures = STEPS[step](app, *args)
        figures["seconds"] = time.perf_counter() - started
    # ru_maxrss is in KiB on Linux.
    figures["rss"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    return figures


def idle(app: Flask) -> dict[str, Any]:
    with db.engine.connect() as conn:
        conn.exec_driver_sql("SELECT 1")
    return {}


def export(app: Flask, domain: str, path: str) -> dict[str, Any]:
    from pilar.tenancy.fleet.archive import export_tenant
    from pilar.tenancy.fleet.archive.reader import ArchiveReader

    summary = export_tenant(domain, Path(path))
    with open(path, "rb") as file:
        manifest = ArchiveReader(file).manifest
    return {"rows": summary.rows, "data": sum(m.size for m in manifest.members)}


def import_(app: Flask, path: str, domain: str, schema_name: str) -> dict[str, Any]:
    from pilar.tenancy.fleet.archive import import_tenant
    from pilar.tenancy.fleet.archive.reader import ArchiveReader

    summary = import_tenant(
        Path(path), domain=domain, schema_name=schema_name, node=SECOND_NODE
    )
    with open(path, "rb") as file:
        manifest = ArchiveReader(file).manifest
    return {"rows": summary.rows, "data": sum(m.size for m in manifest.members)}


def api(app: Flask, domain: str) -> dict[str, Any]:
    from pilar.api.auth import issue_token

    owner = db.session.scalar(
        sa.select(TenantUser)
        .join(Tenant, Tenant.id == TenantUser.tenant_id)
        .where(Tenant.domain == domain, TenantUser.role == Role.OWNER)
    )
    if owner is None:
        raise RuntimeError(f"Tenant {domain!r} has no OWNER.")
    token, _ = issue_token(owner)
    db.session.rollback()
    response = app.test_client().get(
        "/api/v1/export",
        base_url=f"http://{domain}",
        headers={"Authorization": f"Bearer {token}"},
        buffered=False,
    )
    size = sum(len(chunk) for chunk in response.response)
    response.close()
    if response.status_code != 200:
        raise RuntimeError(f"GET /api/v1/export answered {response.status_code}")
    return {"bytes": size}


STEPS: dict[str, Callable[..., dict[str, Any]]] = {
    "idle": idle,
    "export": export,
    "import": import_,
    "api": api,
}


if __name__ == "__main__":
    main()
