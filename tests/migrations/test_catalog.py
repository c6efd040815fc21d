"""The database as models and migrations build it, checked from the catalog."""

from __future__ import annotations

import uuid

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory
from flask_migrate import Migrate
from sqlalchemy.dialects.postgresql.base import PGInspector

from pilar.db.extensions import db
from pilar.models import PublicModel
from pilar.models import TenantModel
from pilar.tenancy.fleet import migrations


def test_public_env_has_one_head(app):
    config = Config()
    config.set_main_option("script_location", app.config["MIGRATIONS_DIR"])
    assert len(ScriptDirectory.from_config(config).get_heads()) == 1


def test_tenant_env_has_one_head(app):
    script = migrations.script_directory(app.config["TENANT_MIGRATIONS_DIR"])
    assert len(script.get_heads()) == 1


@pytest.mark.usefixtures("app_ctx")
def test_public_models_match_public_migrations(app):
    migrate: Migrate = app.extensions["migrate"].migrate
    command.check(migrate.get_config(app.config["MIGRATIONS_DIR"]))


@pytest.mark.usefixtures("app_ctx")
def test_tenant_models_match_tenant_migrations(app):
    location = app.config["TENANT_MIGRATIONS_DIR"]
    schema_name = f"check_{uuid.uuid4().hex[:8]}"
    with db.engine.connect() as conn, conn.begin() as transaction:
        conn.execute(sa.schema.CreateSchema(schema_name))
        migrations.upgrade_schema(conn, schema_name, location)
        migrations.check_schema(conn, schema_name, location)
        transaction.rollback()


@pytest.mark.usefixtures("app_ctx")
def test_tenant_migrations_downgrade_and_upgrade(app):
    location = app.config["TENANT_MIGRATIONS_DIR"]
    schema_name = f"round_{uuid.uuid4().hex[:8]}"
    with db.engine.connect() as conn, conn.begin() as transaction:
        conn.execute(sa.schema.CreateSchema(schema_name))
        assert migrations.upgrade_schema(conn, schema_name, location) is not None
        assert migrations.downgrade_schema(conn, schema_name, location, "base") is None
        remaining = sa.inspect(conn).get_table_names(schema=schema_name)
        assert remaining == ["alembic_version"]
        head = migrations.head_revision(location)
        assert migrations.upgrade_schema(conn, schema_name, location) == head
        transaction.rollback()


def test_models_name_no_schema_for_tenant_tables_and_public_for_the_rest():
    assert {table.schema for table in TenantModel.metadata.tables.values()} == {None}
    assert {table.schema for table in PublicModel.metadata.tables.values()} == {
        "public"
    }


def test_every_table_has_a_primary_key(app, tenant):
    with app.app_context(), db.engine.connect() as conn:
        missing = (
            conn.execute(
                sa.text(
                    "SELECT n.nspname || '.' || c.relname FROM pg_class c "
                    "JOIN pg_namespace n ON n.oid = c.relnamespace "
                    "WHERE c.relkind = 'r' AND n.nspname IN ('public', :schema) "
                    "AND NOT EXISTS (SELECT 1 FROM pg_constraint k "
                    "WHERE k.conrelid = c.oid AND k.contype = 'p')"
                ),
                {"schema": tenant.schema_name},
            )
            .scalars()
            .all()
        )
    assert missing == []


def test_no_foreign_key_crosses_between_public_and_a_tenant_schema(
    app, tenant, other_tenant
):
    with app.app_context(), db.engine.connect() as conn:
        crossing = (
            conn.execute(
                sa.text(
                    "SELECT k.conname FROM pg_constraint k "
                    "JOIN pg_class src ON src.oid = k.conrelid "
                    "JOIN pg_class dst ON dst.oid = k.confrelid "
                    "WHERE k.contype = 'f' AND src.relnamespace <> dst.relnamespace"
                )
            )
            .scalars()
            .all()
        )
        foreign_keys = conn.scalar(
            sa.text("SELECT count(*) FROM pg_constraint WHERE contype = 'f'")
        )
    assert crossing == []
    # The check is not vacuous: public has foreign keys of its own.
    assert foreign_keys > 0


def test_tenant_schema_holds_its_enum_types_and_indexes(app, tenant):
    with app.app_context():
        inspector = sa.inspect(db.engine)
        assert isinstance(inspector, PGInspector)
        enums = {e["name"] for e in inspector.get_enums(schema=tenant.schema_name)}
        indexes = {
            tuple(i["column_names"])
            for i in inspector.get_indexes("conversations", schema=tenant.schema_name)
        }
        plan_indexes = {
            tuple(i["column_names"])
            for i in inspector.get_indexes("workout_plans", schema=tenant.schema_name)
        }
    assert enums == {"channel", "phone_status", "whatsapp_status"}
    assert {("created_at", "id"), ("channel", "created_at", "id")} <= indexes
    assert ("user_id", "created_at", "id") in plan_indexes
