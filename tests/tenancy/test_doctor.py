from __future__ import annotations

from collections.abc import Iterator

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
from tests.fleet import doctor


@pytest.fixture
def studio(database_url: str) -> Iterator[Flask]:
    """An app on a database of its own: the doctor looks at every db schema."""
    with throwaway_database(database_url) as url:
        app = make_app(url)
        with app.app_context():
            upgrade(directory=app.config["MIGRATIONS_DIR"])
        yield app
        with app.app_context():
            db.engine.dispose()


def make_tenant(app: Flask) -> Tenant:
    with app.app_context():
        return provisioning.create_tenant("Studio", unique_domain())


def execute(app: Flask, *statements: sa.Executable) -> None:
    with app.app_context(), db.engine.begin() as conn:
        for statement in statements:
            conn.execute(statement)


def schema_exists(app: Flask, schema_name: str) -> bool:
    with app.app_context(), db.engine.connect() as conn:
        return schema_name in sa.inspect(conn).get_schema_names()


def forget_row(app: Flask, tenant: Tenant) -> None:
    execute(app, sa.delete(Tenant).where(Tenant.id == tenant.id))


def test_a_consistent_database_has_no_problems(studio):
    make_tenant(studio)
    make_tenant(studio)
    result = doctor(studio)
    assert result.exit_code == 0, result.output
    assert "0 problems found, 0 remain." in result.output


def test_doctor_finds_and_drops_an_empty_schema_without_a_tenant(studio):
    tenant = make_tenant(studio)
    forget_row(studio, tenant)
    result = doctor(studio)
    assert result.exit_code == 1
    assert f"SCHEMA_WITHOUT_TENANT {tenant.schema_name}" in result.output
    fixed = doctor(studio, "--fix")
    assert fixed.exit_code == 0, fixed.output
    assert "dropped the empty db schema" in fixed.output
    assert not schema_exists(studio, tenant.schema_name)
    assert doctor(studio).exit_code == 0


def test_doctor_keeps_a_schema_without_a_tenant_that_holds_rows(studio):
    tenant = make_tenant(studio)
    with studio.app_context(), tenant_scope(tenant.domain):
        db.session.add(WorkoutPlan(plan={"days": 3}))
        db.session.commit()
    forget_row(studio, tenant)
    result = doctor(studio, "--fix")
    assert result.exit_code == 1
    assert "NOT FIXED: left in place: workout_plans holds rows" in result.output
    assert schema_exists(studio, tenant.schema_name)


def test_doctor_never_reports_schemas_that_are_not_a_tenants(studio):
    execute(
        studio,
        sa.text("CREATE SCHEMA reporting"),
        sa.text("CREATE TABLE reporting.daily (day date PRIMARY KEY)"),
        sa.text("CREATE SCHEMA lookalike"),
        sa.text("CREATE TABLE lookalike.alembic_version (version_num text)"),
        sa.text("CREATE TABLE lookalike.conversations (id uuid)"),
    )
    result = doctor(studio, "--fix")
    assert result.exit_code == 0, result.output
    assert "0 problems found" in result.output
    assert schema_exists(studio, "reporting")
    assert schema_exists(studio, "lookalike")


def test_doctor_rebuilds_the_missing_schema_of_a_tenant(studio):
    tenant, reference = make_tenant(studio), make_tenant(studio)
    execute(studio, sa.schema.DropSchema(tenant.schema_name, cascade=True))
    result = doctor(studio)
    assert result.exit_code == 1
    assert f"TENANT_WITHOUT_SCHEMA {tenant.schema_name} ({tenant.domain})" in (
        result.output
    )
    fixed = doctor(studio, "--fix")
    assert fixed.exit_code == 0, fixed.output
    with studio.app_context(), db.engine.connect() as conn:
        rebuilt = schema_catalog(conn, tenant.schema_name)
        assert rebuilt == schema_catalog(conn, reference.schema_name)
        recorded = conn.scalar(
            sa.select(Tenant.schema_revision).where(Tenant.id == tenant.id)
        )
    assert recorded == migrations.head_revision(studio.config["TENANT_MIGRATIONS_DIR"])
    assert doctor(studio).exit_code == 0


@pytest.mark.parametrize("recorded", [None, "0123456789ab"])
def test_doctor_records_the_revision_the_schema_has(studio, recorded):
    tenant = make_tenant(studio)
    execute(
        studio,
        sa.update(Tenant)
        .where(Tenant.id == tenant.id)
        .values(schema_revision=recorded),
    )
    result = doctor(studio)
    assert result.exit_code == 1
    assert f"REVISION_MISMATCH {tenant.schema_name}" in result.output
    assert doctor(studio, "--fix").exit_code == 0
    with studio.app_context(), db.engine.connect() as conn:
        restored = conn.scalar(
            sa.select(Tenant.schema_revision).where(Tenant.id == tenant.id)
        )
    assert restored == migrations.head_revision(studio.config["TENANT_MIGRATIONS_DIR"])
