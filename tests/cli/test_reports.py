"""A report that says what failed (migrate, doctor) stays whole on stdout; status 1.

The failure ends the command through click (``ReportedFailure``), yet prints
as the rest of the report does: no "Error: ", nothing of it on stderr.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from flask import Flask
from flask_migrate import upgrade

from pilar.db.extensions import db
from pilar.models import Tenant
from pilar.tenancy.fleet import migrations
from pilar.tenancy.fleet import provisioning
from pilar.tenancy.scope import bind_connection
from tests.conftest import make_app
from tests.conftest import unique_domain
from tests.database import throwaway_database

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def studio(database_url: str, tmp_path: Path) -> Iterator[Flask]:
    """An app on a database of its own, with a copy of tenant_migrations."""
    location = tmp_path / "tenant_migrations"
    shutil.copytree(
        ROOT / "tenant_migrations",
        location,
        ignore=shutil.ignore_patterns("__pycache__"),
    )
    with throwaway_database(database_url) as url:
        app = make_app(url, TENANT_MIGRATIONS_DIR=str(location))
        with app.app_context():
            upgrade(directory=app.config["MIGRATIONS_DIR"])
        yield app
        with app.app_context():
            db.engine.dispose()
    migrations.script_directory.cache_clear()


def _tenant(app: Flask) -> Tenant:
    with app.app_context():
        return provisioning.create_tenant("Studio", unique_domain("report"))


def test_doctor_with_problems_left_ends_its_report_on_stdout(studio):
    tenant = _tenant(studio)
    with studio.app_context(), db.engine.begin() as conn:
        conn.execute(sa.delete(Tenant).where(Tenant.id == tenant.id))
    result = studio.test_cli_runner().invoke(args=["tenants", "doctor"])
    assert result.exit_code == 1, result.output
    assert result.stderr == ""
    problem, summary = result.stdout.splitlines()
    assert problem.startswith(
        f"SCHEMA_WITHOUT_TENANT {tenant.schema_name} on node default: "
    )
    assert summary == "1 problems found, 1 remain."


def test_a_migration_run_with_a_failure_reports_it_all_on_stdout(studio):
    tenant = _tenant(studio)
    location = Path(studio.config["TENANT_MIGRATIONS_DIR"])
    head = migrations.head_revision(str(location))
    # The revision adds a column the tenant's schema has already.
    with studio.app_context(), db.engine.connect() as conn, conn.begin():
        bind_connection(conn, tenant.schema_name)
        conn.execute(sa.text("ALTER TABLE conversations ADD COLUMN note text"))
    (location / "versions" / "add_note.py").write_text(
        '"""Add a note."""\n'
        "import sqlalchemy as sa\n"
        "from alembic import op\n\n"
        "revision = 'add_note'\n"
        f"down_revision = {head!r}\n"
        "branch_labels = None\n"
        "depends_on = None\n\n\n"
        "def upgrade():\n"
        "    op.add_column('conversations', sa.Column('note', sa.Text))\n\n\n"
        "def downgrade():\n"
        "    pass\n"
    )
    migrations.script_directory.cache_clear()
    result = studio.test_cli_runner().invoke(args=["tenants", "migrate"])
    assert result.exit_code == 1, result.output
    lines = result.stdout.splitlines()
    assert lines[0] == "Target add_note: 0 migrated, 0 already there, 1 failed."
    assert lines[1].startswith(
        f"FAILED {tenant.domain} ({tenant.schema_name} on node default, "
        f"stays at {head}): "
    )
    # stderr has the progress bar's label, and nothing of the report.
    assert "FAILED" not in result.stderr
    assert not any(line.startswith("Error:") for line in result.output.splitlines())
