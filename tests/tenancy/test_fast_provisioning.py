from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Callable
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from flask_migrate import upgrade

from pilar.db.extensions import db
from pilar.models import Tenant
from pilar.tenancy.fleet import ddl
from pilar.tenancy.fleet import migrations
from pilar.tenancy.fleet import provisioning
from tests.catalog import schema_catalog
from tests.conftest import make_app
from tests.conftest import unique_domain
from tests.database import throwaway_database
from tests.revisions import copy_with_revisions

# A history that changes, renames and drops what earlier revisions made, so
# that a schema rendered from the end state differs from a naive replay log.
LONG_HISTORY = [
    """
    op.add_column("conversations", sa.Column("topic", sa.String(50)))
    op.create_index("ix_conversations_topic", "conversations", ["topic"])
    op.add_column("workout_plans", sa.Column("notes", sa.Text()))
    """,
    """
    op.drop_column("workout_plans", "notes")
    op.alter_column("conversations", "topic", type_=sa.String(100))
    op.create_check_constraint("topic_not_blank", "conversations", "topic <> ''")
    """,
    """
    op.execute("ALTER TYPE channel ADD VALUE 'SMS' BEFORE 'EMAIL'")
    op.create_table(
        "bookings",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column(
            "plan_id",
            sa.Uuid(),
            sa.ForeignKey("workout_plans.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("slot", sa.Integer(), nullable=False, server_default="1"),
        sa.Column("kind", sa.Enum("TRIAL", "REGULAR", name="booking_kind")),
        sa.Column("cancelled_at", sa.DateTime(timezone=True)),
        sa.UniqueConstraint("plan_id", "slot", name="uq_bookings_plan_id_slot"),
    )
    op.create_index(
        "ix_bookings_open",
        "bookings",
        ["plan_id"],
        postgresql_where=sa.text("cancelled_at IS NULL"),
    )
    """,
    """
    op.alter_column("conversations", "topic", new_column_name="subject")
    op.execute("ALTER INDEX ix_conversations_topic RENAME TO ix_conversations_subject")
    """,
]

# Net zero: the schema at the end is the shipped one.
ROUND_TRIPS = [
    """
    op.add_column("workout_plans", sa.Column("notes", sa.Text()))
    op.create_index("ix_workout_plans_notes", "workout_plans", ["notes"])
    """,
    """
    op.drop_index("ix_workout_plans_notes", table_name="workout_plans")
    op.drop_column("workout_plans", "notes")
    """,
] * 5

# The DDL renders no views and no rows, and fails without the function.
A_VIEW = """
op.execute("CREATE VIEW recent_conversations AS SELECT id FROM conversations")
"""
A_SEEDED_ROW = """
op.execute("INSERT INTO workout_plans (id, plan) VALUES (gen_random_uuid(), '{}')")
"""
A_FUNCTION_IN_A_CHECK = """
op.execute(
    "CREATE FUNCTION is_tidy(value text) RETURNS boolean LANGUAGE sql IMMUTABLE "
    "AS 'SELECT value = btrim(value)'"
)
op.create_check_constraint("tidy_user", "workout_plans", "is_tidy(user_id)")
"""


@pytest.fixture(scope="module")
def own_database(database_url: str) -> Iterator[str]:
    # Tenants here use histories of their own, which other tests' migration
    # runs must never see.
    with throwaway_database(database_url) as url:
        yield url


@pytest.fixture
def app_for(own_database: str) -> Iterator[Callable[[Path], Flask]]:
    """Make apps whose tenant migrations live in a given folder."""
    apps: list[Flask] = []

    def make(location: Path) -> Flask:
        app = make_app(own_database, TENANT_MIGRATIONS_DIR=str(location))
        with app.app_context():
            upgrade(directory=app.config["MIGRATIONS_DIR"])
        apps.append(app)
        return app

    yield make
    for app in apps:
        with app.app_context():
            db.engine.dispose()


def replayed_catalog(conn: sa.Connection, location: Path) -> dict[str, list[Any]]:
    """Build a db schema by running every migration; return its catalog."""
    schema_name = f"replayed_{uuid.uuid4().hex[:12]}"
    transaction = conn.begin()
    try:
        conn.execute(sa.schema.CreateSchema(schema_name))
        migrations.upgrade_schema(conn, schema_name, str(location))
        return schema_catalog(conn, schema_name)
    finally:
        transaction.rollback()


def provisioned(app: Flask) -> tuple[dict[str, list[Any]], str | None]:
    with app.app_context():
        tenant = provisioning.create_tenant("Studio", unique_domain())
        with db.engine.connect() as conn:
            catalog = schema_catalog(conn, tenant.schema_name)
            recorded = conn.scalar(
                sa.select(Tenant.schema_revision).where(Tenant.id == tenant.id)
            )
    return catalog, recorded


@pytest.mark.parametrize("history", [[], LONG_HISTORY], ids=["shipped", "long"])
def test_new_tenant_schema_equals_one_built_by_running_the_migrations(
    app_for, tmp_path, history
):
    location = copy_with_revisions(tmp_path / "tenant_migrations", history)
    app = app_for(location)
    catalog, recorded = provisioned(app)
    with app.app_context(), db.engine.connect() as conn:
        assert catalog == replayed_catalog(conn, location)
    head = migrations.head_revision(str(location))
    assert catalog["alembic_version"] == [head]
    assert recorded == head


def test_long_history_is_collapsed_into_its_end_state(app_for, tmp_path):
    location = copy_with_revisions(tmp_path / "tenant_migrations", LONG_HISTORY)
    catalog, _ = provisioned(app_for(location))
    assert ("channel", ["VOICE", "WHATSAPP", "SMS", "EMAIL"]) in catalog["enums"]
    conversation_columns = [
        row[1] for row in catalog["columns"] if row[0] == "conversations"
    ]
    assert "subject" in conversation_columns
    assert "topic" not in conversation_columns
    assert any(row[1] == "ix_bookings_open" for row in catalog["indexes"])


def test_a_history_ending_at_the_same_schema_renders_the_same_ddl(app_for, tmp_path):
    shipped = copy_with_revisions(tmp_path / "shipped", [])
    longer = copy_with_revisions(tmp_path / "longer", ROUND_TRIPS)
    templates = ddl.SchemaTemplates()
    with app_for(shipped).app_context(), db.engine.connect() as conn:
        short_ddl = templates.ddl(conn, str(shipped))
        long_ddl = templates.ddl(conn, str(longer))
    assert short_ddl.sql is not None
    assert long_ddl.sql is not None
    assert long_ddl.sql.replace(long_ddl.revision, short_ddl.revision) == short_ddl.sql


def test_provisioning_runs_no_migration_once_the_ddl_is_rendered(
    app_for, tmp_path, monkeypatch
):
    location = copy_with_revisions(tmp_path / "tenant_migrations", LONG_HISTORY)
    app = app_for(location)
    first, _ = provisioned(app)

    def no_replay(*args, **kwargs):
        raise AssertionError("provisioning replayed the migrations")

    monkeypatch.setattr(ddl, "upgrade_schema", no_replay)
    second, recorded = provisioned(app)
    assert second == first
    assert recorded == migrations.head_revision(str(location))


def test_threads_provision_side_by_side_from_a_cold_start(app_for, tmp_path):
    location = copy_with_revisions(tmp_path / "tenant_migrations", LONG_HISTORY)
    app = app_for(location)
    barrier = threading.Barrier(6)
    results: list[dict[str, list[Any]]] = []
    errors: list[BaseException] = []

    def create() -> None:
        barrier.wait()
        try:
            results.append(provisioned(app)[0])
        except BaseException as err:  # reported by the assertion below
            errors.append(err)

    threads = [threading.Thread(target=create) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    with app.app_context(), db.engine.connect() as conn:
        expected = replayed_catalog(conn, location)
    assert results == [expected] * 6


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (A_VIEW, "(objects, relations"),
        (A_SEEDED_ROW, "(rows)"),
        (A_FUNCTION_IN_A_CHECK, "the DDL fails"),
    ],
    ids=["view", "seeded-row", "function"],
)
def test_a_head_the_ddl_cannot_reproduce_is_built_by_the_migrations(
    app_for, tmp_path, caplog, body, reason
):
    location = copy_with_revisions(tmp_path / "tenant_migrations", [body])
    app = app_for(location)
    with caplog.at_level(logging.WARNING, logger="pilar.tenancy.fleet.ddl"):
        catalog, recorded = provisioned(app)
    assert reason in caplog.text
    assert "new tenants replay the migrations" in caplog.text
    with app.app_context(), db.engine.connect() as conn:
        assert catalog == replayed_catalog(conn, location)
    assert recorded == migrations.head_revision(str(location))
