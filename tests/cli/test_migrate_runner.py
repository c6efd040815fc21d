from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from flask import Flask
from flask_migrate import upgrade

from pilar.db.extensions import db
from pilar.models import Tenant
from pilar.models import WorkoutPlan
from pilar.tenancy import tenant_scope
from pilar.tenancy.fleet import migrations
from pilar.tenancy.fleet import provisioning
from tests.catalog import schema_catalog
from tests.conftest import make_app
from tests.conftest import unique_domain
from tests.database import throwaway_database
from tests.revisions import BASE_REVISION
from tests.revisions import copy_with_revisions

ROOT = Path(__file__).resolve().parents[2]

ADD_TOPIC = """
op.add_column("conversations", sa.Column("topic", sa.String(100)))
op.create_index("ix_conversations_topic", "conversations", ["topic"])
"""
# Reads each tenant's rows while it runs: offline there is nothing to read.
COUNT_PLANS = """
count = op.get_bind().execute(sa.text("SELECT count(*) FROM workout_plans")).scalar()
op.add_column(
    "workout_plans", sa.Column("plans_then", sa.Integer(), server_default=str(count))
)
"""
UNIQUE_USER = """
op.create_unique_constraint("uq_workout_plans_user_id", "workout_plans", ["user_id"])
"""


@pytest.fixture
def studio(database_url: str, tmp_path: Path) -> Iterator[Flask]:
    """An app on a database of its own, with tenant migrations in tmp_path/base.

    ``flask tenants migrate`` upgrades every tenant of a database, so these
    tests keep away from the tenants of the rest of the suite.
    """
    base = copy_with_revisions(tmp_path / "base", [])
    with throwaway_database(database_url) as url:
        app = make_app(url, TENANT_MIGRATIONS_DIR=str(base))
        with app.app_context():
            upgrade(directory=app.config["MIGRATIONS_DIR"])
        app.config["DATABASE_URL_FOR_TESTS"] = url
        yield app
        with app.app_context():
            db.engine.dispose()


def make_tenants(app: Flask, count: int, prefix: str = "studio") -> list[Tenant]:
    with app.app_context():
        return [
            provisioning.create_tenant("Studio", unique_domain(prefix))
            for _ in range(count)
        ]


def use_revisions(
    app: Flask, tmp_path: Path, bodies: list[str], *, header: str = ""
) -> str:
    """Point the app at the base migrations plus ``bodies``; return the head."""
    location = copy_with_revisions(
        tmp_path / f"next_{uuid.uuid4().hex[:6]}", bodies, header=header
    )
    app.config["TENANT_MIGRATIONS_DIR"] = str(location)
    return migrations.head_revision(str(location))


def migrate(app: Flask, *args: str):
    return app.test_cli_runner().invoke(args=["tenants", "migrate", *args])


def revisions(app: Flask) -> dict[str, tuple[str | None, str | None]]:
    """Return each schema's revision: (public.tenants, its own alembic_version)."""
    with app.app_context(), db.engine.connect() as conn:
        rows = conn.execute(sa.select(Tenant.schema_name, Tenant.schema_revision))
        return {
            schema_name: (
                recorded,
                conn.scalar(
                    sa.select(sa.column("version_num")).select_from(
                        sa.table("alembic_version", schema=schema_name)
                    )
                ),
            )
            for schema_name, recorded in rows
        }


@pytest.mark.parametrize("jobs", ["1", "3"])
def test_migrate_brings_every_tenant_to_the_new_revision(studio, tmp_path, jobs):
    make_tenants(studio, 4)
    head = use_revisions(studio, tmp_path, [ADD_TOPIC])
    result = migrate(studio, "--jobs", jobs)
    assert result.exit_code == 0, result.output
    assert f"Target {head}: 4 migrated, 0 already there, 0 failed." in result.output
    assert set(revisions(studio).values()) == {(head, head)}


def test_migrated_schema_equals_one_migrated_by_alembic(studio, tmp_path):
    [tenant] = make_tenants(studio, 1)
    use_revisions(studio, tmp_path, [ADD_TOPIC, UNIQUE_USER])
    assert migrate(studio).exit_code == 0
    location = studio.config["TENANT_MIGRATIONS_DIR"]
    with studio.app_context(), db.engine.connect() as conn:
        transaction = conn.begin()
        migrated = schema_catalog(conn, tenant.schema_name)
        conn.execute(sa.schema.CreateSchema("by_alembic"))
        migrations.upgrade_schema(conn, "by_alembic", location, BASE_REVISION)
        migrations.upgrade_schema(conn, "by_alembic", location)
        by_alembic = schema_catalog(conn, "by_alembic")
        transaction.rollback()
    assert migrated == by_alembic


def test_a_second_run_skips_every_tenant(studio, tmp_path):
    make_tenants(studio, 3)
    head = use_revisions(studio, tmp_path, [ADD_TOPIC])
    migrate(studio)
    result = migrate(studio, "--jobs", "2")
    assert result.exit_code == 0
    assert f"Target {head}: 0 migrated, 3 already there, 0 failed." in result.output


@pytest.mark.parametrize("jobs", ["1", "2"])
@pytest.mark.parametrize("header", ["online_only = True", ""], ids=["flag", "noflag"])
def test_a_revision_that_reads_the_database_runs_through_alembic(
    studio, tmp_path, header, jobs
):
    busy, idle = make_tenants(studio, 2)
    with studio.app_context(), tenant_scope(busy.domain):
        db.session.add_all([WorkoutPlan(plan={}), WorkoutPlan(plan={})])
        db.session.commit()
    use_revisions(studio, tmp_path, [ADD_TOPIC, COUNT_PLANS], header=header)
    result = migrate(studio, "--jobs", jobs)
    assert result.exit_code == 0, result.output
    with studio.app_context(), db.engine.connect() as conn:
        defaults = {
            schema_name: conn.scalar(
                sa.text(
                    "SELECT column_default FROM information_schema.columns "
                    "WHERE table_schema = :schema AND column_name = 'plans_then'"
                ),
                {"schema": schema_name},
            )
            for schema_name in (busy.schema_name, idle.schema_name)
        }
    assert defaults == {busy.schema_name: "2", idle.schema_name: "0"}


def test_a_failing_canary_stops_the_run(studio, tmp_path):
    [canary] = make_tenants(studio, 1, prefix="aaa")
    others = make_tenants(studio, 3, prefix="zzz")
    with studio.app_context(), tenant_scope(canary.domain):
        db.session.add_all([WorkoutPlan(user_id="twin", plan={}) for _ in range(2)])
        db.session.commit()
    use_revisions(studio, tmp_path, [UNIQUE_USER])
    result = migrate(studio, "--canary", "1", "--jobs", "2")
    assert result.exit_code == 1
    assert f"FAILED {canary.domain}" in result.output
    assert "the other 3 tenants were not migrated" in result.output
    found = revisions(studio)
    assert {found[t.schema_name] for t in [canary, *others]} == {
        (BASE_REVISION, BASE_REVISION)
    }


def test_passing_canaries_let_the_run_go_on(studio, tmp_path):
    make_tenants(studio, 5)
    head = use_revisions(studio, tmp_path, [UNIQUE_USER])
    result = migrate(studio, "--canary", "2", "--jobs", "2")
    assert result.exit_code == 0, result.output
    assert f"Target {head}: 5 migrated, 0 already there, 0 failed." in result.output


def test_a_tenant_held_by_a_lock_fails_fast_and_the_others_go_on(studio, tmp_path):
    held, *others = make_tenants(studio, 3)
    head = use_revisions(studio, tmp_path, [ADD_TOPIC])
    studio.config["TENANT_MIGRATION_LOCK_TIMEOUT"] = "200ms"
    with studio.app_context(), db.engine.connect() as blocker:
        blocker.execute(
            sa.select(sa.func.count()).select_from(
                sa.table("conversations", schema=held.schema_name)
            )
        )
        started = time.monotonic()
        result = migrate(studio)
        elapsed = time.monotonic() - started
        blocker.rollback()
    assert result.exit_code == 1
    assert f"FAILED {held.domain}" in result.output
    assert "lock timeout" in result.output
    assert elapsed < 5
    found = revisions(studio)
    assert found[held.schema_name] == (BASE_REVISION, BASE_REVISION)
    assert {found[t.schema_name] for t in others} == {(head, head)}


def test_an_interrupted_run_finishes_when_run_again(studio, tmp_path):
    make_tenants(studio, 4)
    head = use_revisions(
        studio, tmp_path, ["op.execute('SELECT pg_sleep(0.4)')\n" + ADD_TOPIC]
    )
    env = {
        **os.environ,
        "DATABASE_URL": studio.config["DATABASE_URL_FOR_TESTS"],
        "PILAR_TENANT_MIGRATIONS_DIR": studio.config["TENANT_MIGRATIONS_DIR"],
        "PILAR_SECRET_KEY": "test-secret-key",
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "flask", "--app", "wsgi", "tenants", "migrate"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and process.poll() is None:
            done = [r for r in revisions(studio).values() if r == (head, head)]
            if done:
                break
            time.sleep(0.05)
    finally:
        os.kill(process.pid, signal.SIGKILL)
        process.wait()
    done = [r for r in revisions(studio).values() if r == (head, head)]
    assert 1 <= len(done) < 4
    result = migrate(studio)
    assert result.exit_code == 0, result.output
    assert f"{4 - len(done)} migrated, {len(done)} already there" in result.output
    assert set(revisions(studio).values()) == {(head, head)}


def test_a_tenant_whose_recorded_revision_is_stale_is_migrated_from_its_own(
    studio, tmp_path
):
    stale, *_ = make_tenants(studio, 3)
    with studio.app_context(), db.engine.begin() as conn:
        conn.execute(
            sa.update(Tenant).where(Tenant.id == stale.id).values(schema_revision=None)
        )
    head = use_revisions(studio, tmp_path, [ADD_TOPIC])
    result = migrate(studio, "--jobs", "2")
    assert result.exit_code == 0, result.output
    assert f"Target {head}: 3 migrated" in result.output
    assert set(revisions(studio).values()) == {(head, head)}


def test_a_tenant_at_an_unknown_revision_fails_alone(studio, tmp_path):
    # As after a deploy rolled back: the schema is ahead of these migrations.
    ahead, *others = make_tenants(studio, 3)
    with studio.app_context(), db.engine.begin() as conn:
        conn.execute(
            sa.update(
                sa.table(
                    "alembic_version",
                    sa.column("version_num"),
                    schema=ahead.schema_name,
                )
            ).values(version_num="f0f0f0f0f0f0")
        )
        conn.execute(
            sa.update(Tenant)
            .where(Tenant.id == ahead.id)
            .values(schema_revision="f0f0f0f0f0f0")
        )
    head = use_revisions(studio, tmp_path, [ADD_TOPIC])
    result = migrate(studio, "--jobs", "2")
    assert result.exit_code == 1, result.output
    assert f"FAILED {ahead.domain}" in result.output
    assert "Cannot upgrade from f0f0f0f0f0f0" in result.output
    assert f"Target {head}: 2 migrated, 0 already there, 1 failed." in result.output
    found = revisions(studio)
    assert found[ahead.schema_name] == ("f0f0f0f0f0f0", "f0f0f0f0f0f0")
    assert {found[t.schema_name] for t in others} == {(head, head)}
