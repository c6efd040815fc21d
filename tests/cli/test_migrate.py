"""``flask tenants migrate`` on a copy of tenant_migrations with extra revisions."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import sqlalchemy as sa

from pilar.db.extensions import db
from pilar.models import Tenant
from pilar.tenancy.fleet import migrations
from pilar.tenancy.fleet import revisions
from pilar.tenancy.scope import bind_connection
from tests.conftest import make_app

ROOT = Path(__file__).resolve().parents[2]


def _write_revision(location: Path, rev: str, down: str, upgrade_body: str) -> None:
    body = textwrap.indent(textwrap.dedent(upgrade_body).strip(), "    ")
    source = (
        f'"""Test revision {rev}."""\n'
        "import sqlalchemy as sa\n"
        "from alembic import op\n\n"
        f"revision = {rev!r}\n"
        f"down_revision = {down!r}\n"
        "branch_labels = None\n"
        "depends_on = None\n\n\n"
        f"def upgrade():\n{body}\n\n\n"
        "def downgrade():\n    pass\n"
    )
    (location / "versions" / f"{rev}.py").write_text(source)
    migrations.script_directory.cache_clear()


@pytest.fixture
def location(tmp_path):
    copy = tmp_path / "tenant_migrations"
    shutil.copytree(
        ROOT / "tenant_migrations", copy, ignore=shutil.ignore_patterns("__pycache__")
    )
    return copy


@pytest.fixture
def migrate_app(database_url, location):
    app = make_app(database_url, TENANT_MIGRATIONS_DIR=str(location))
    yield app
    with app.app_context():
        db.engine.dispose()
    migrations.script_directory.cache_clear()


def _revisions(app, *tenants):
    with app.app_context(), db.engine.connect() as conn:
        result = {}
        for tenant in tenants:
            with conn.begin():
                bind_connection(conn, tenant.schema_name)
                own = revisions.read_revision(conn)
                recorded = conn.scalar(
                    sa.select(Tenant.schema_revision).where(Tenant.id == tenant.id)
                )
            result[tenant.domain] = (own, recorded)
        return result


def test_a_failing_tenant_stays_behind_while_the_others_advance(
    migrate_app, location, make_tenant
):
    good, bad, also_good = make_tenant(), make_tenant(), make_tenant()
    head = migrations.head_revision(str(location))
    # The revision adds a column that already exists in `bad` only.
    with migrate_app.app_context(), db.engine.connect() as conn, conn.begin():
        bind_connection(conn, bad.schema_name)
        conn.execute(sa.text("ALTER TABLE conversations ADD COLUMN note text"))
    _write_revision(
        location,
        "add_note",
        head,
        'op.add_column("conversations", sa.Column("note", sa.Text))',
    )
    result = migrate_app.test_cli_runner().invoke(
        args=["tenants", "migrate", "--jobs", "2"]
        + [arg for t in (good, bad, also_good) for arg in ("--tenant", t.domain)]
    )
    assert result.exit_code == 1, result.output
    assert "2 migrated" in result.output
    assert "1 failed" in result.output
    assert f"FAILED {bad.domain}" in result.output
    revisions = _revisions(migrate_app, good, bad, also_good)
    assert revisions[good.domain] == ("add_note", "add_note")
    assert revisions[also_good.domain] == ("add_note", "add_note")
    assert revisions[bad.domain] == (head, head)


def test_two_concurrent_runners_migrate_each_tenant_once(
    migrate_app, location, make_tenant, database_url
):
    studios = [make_tenant() for _ in range(3)]
    head = migrations.head_revision(str(location))
    with migrate_app.app_context(), db.engine.begin() as conn:
        conn.execute(
            sa.text(
                "CREATE TABLE IF NOT EXISTS public.migration_probe (schema_name text)"
            )
        )
        conn.execute(sa.text("DELETE FROM public.migration_probe"))
    _write_revision(
        location,
        "slow_probe",
        head,
        """
        op.execute("INSERT INTO public.migration_probe VALUES (current_schema())")
        op.execute("SELECT pg_sleep(0.3)")
        """,
    )
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "PILAR_TENANT_MIGRATIONS_DIR": str(location),
        "PILAR_SECRET_KEY": "test",
    }
    command = [sys.executable, "-m", "flask", "--app", "wsgi", "tenants", "migrate"]
    for studio in studios:
        command += ["--tenant", studio.domain]
    runs = [
        subprocess.Popen(
            command,
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for _ in range(2)
    ]
    outputs = [run.communicate(timeout=120)[0] for run in runs]
    assert [run.returncode for run in runs] == [0, 0], outputs
    with migrate_app.app_context(), db.engine.begin() as conn:
        probes = (
            conn.execute(sa.text("SELECT schema_name FROM public.migration_probe"))
            .scalars()
            .all()
        )
        conn.execute(sa.text("DROP TABLE public.migration_probe"))
    assert sorted(probes) == sorted(studio.schema_name for studio in studios)
    assert all(
        v == ("slow_probe", "slow_probe")
        for v in _revisions(migrate_app, *studios).values()
    )
