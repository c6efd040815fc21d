from __future__ import annotations

import ast
import re
import textwrap
from pathlib import Path

import pytest
import sqlalchemy as sa

from pilar.db.extensions import db
from pilar.models import Tenant
from pilar.models import TenantUser
from tests.conftest import make_app
from tests.conftest import unique_domain

CLI_DOCS = Path(__file__).resolve().parents[2] / "docs" / "cli.md"
# Nothing listens on port 1: every connection is refused at once.
NOWHERE = "postgresql+psycopg://postgres:s3cret@127.0.0.1:1/nowhere"


def _tenant(app, domain):
    with app.app_context():
        tenant = db.session.scalar(sa.select(Tenant).where(Tenant.domain == domain))
        db.session.expunge_all()
        return tenant


def test_create_list_and_drop(app, runner):
    domain = unique_domain("cli")
    result = runner.invoke(
        args=[
            "tenants",
            "create",
            "CLI Studio",
            domain,
            "--owner-email",
            "owner@cli.example.com",
            "--owner-password",
            "password-1",
        ]
    )
    assert result.exit_code == 0, result.output
    assert f"Created tenant {domain}" in result.output
    tenant = _tenant(app, domain)
    with app.app_context():
        owner = db.session.scalar(
            sa.select(TenantUser).where(TenantUser.tenant_id == tenant.id)
        )
        assert owner is not None
        assert owner.email == "owner@cli.example.com"
    listed = runner.invoke(args=["tenants", "list"])
    assert listed.exit_code == 0
    assert listed.output.splitlines()[0].split() == [
        "DOMAIN",
        "SCHEMA",
        "STATUS",
        "REVISION",
        "NODE",
    ]
    line = next(line for line in listed.output.splitlines() if line.startswith(domain))
    assert line.split()[1:3] == [tenant.schema_name, "ACTIVE"]
    assert line.split()[3:] == [tenant.schema_revision, "default"]
    dropped = runner.invoke(args=["tenants", "drop", domain, "--yes"])
    assert dropped.exit_code == 0, dropped.output
    assert _tenant(app, domain) is None


def test_create_with_explicit_schema(app, runner, make_tenant):
    domain = unique_domain("cli")
    schema_name = "s_" + domain.split(".")[0]
    result = runner.invoke(
        args=["tenants", "create", "S", domain, "--schema", schema_name]
    )
    assert result.exit_code == 0, result.output
    assert _tenant(app, domain).schema_name == schema_name
    runner.invoke(args=["tenants", "drop", domain, "--yes"])


def test_create_refuses_a_hostile_schema_name(app, runner):
    domain = unique_domain("cli")
    result = runner.invoke(
        args=["tenants", "create", "S", domain, "--schema", 'x"; drop']
    )
    assert result.exit_code == 1
    assert "not valid" in result.output
    assert _tenant(app, domain) is None


def test_create_needs_both_owner_options(runner):
    result = runner.invoke(
        args=["tenants", "create", "S", unique_domain(), "--owner-email", "a@b.de"]
    )
    assert result.exit_code == 2


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--owner-email", "not-an-email", "--owner-password", "long-enough"], "email"),
        (["--owner-email", "o@cli.example.com", "--owner-password", "short"], "8"),
        (
            [
                "--owner-email",
                f"{'a' * 65}@cli.example.com",
                "--owner-password",
                "long-enough",
            ],
            "email",
        ),
        # Bytes that are not UTF-8 reach Python's argv as unpaired surrogates.
        (
            [
                "--owner-email",
                "o\udcff@cli.example.com",
                "--owner-password",
                "long-enough",
            ],
            "email",
        ),
        (
            [
                "--owner-email",
                "o@cli.example.com",
                "--owner-password",
                "password\udcff",
            ],
            "surrogates",
        ),
    ],
)
def test_create_refuses_an_invalid_owner(app, runner, args, message):
    domain = unique_domain("cli")
    result = runner.invoke(args=["tenants", "create", "S", domain, *args])
    assert result.exit_code == 1
    assert "The owner is not valid." in result.output
    assert message in result.output
    assert args[-1] not in result.output  # the password
    assert _tenant(app, domain) is None


@pytest.mark.parametrize("name", ["  ", "S\udcff"], ids=["blank", "not-utf-8"])
def test_create_refuses_an_invalid_name(app, runner, name):
    domain = unique_domain("cli")
    result = runner.invoke(args=["tenants", "create", name, domain])
    assert result.exit_code == 1
    # The error, then one line per message of the field.
    assert result.output.splitlines()[1].startswith("  name: ")
    assert _tenant(app, domain) is None


def test_drop_asks_for_confirmation(app, runner, make_tenant):
    studio = make_tenant()
    result = runner.invoke(args=["tenants", "drop", studio.domain], input="n\n")
    assert result.exit_code == 1
    assert "Aborted" in result.output
    assert _tenant(app, studio.domain) is not None
    result = runner.invoke(args=["tenants", "drop", studio.domain], input="y\n")
    assert result.exit_code == 0
    assert _tenant(app, studio.domain) is None


def test_drop_of_an_unknown_tenant_fails(runner):
    result = runner.invoke(args=["tenants", "drop", "nobody.example.com", "--yes"])
    assert result.exit_code == 1
    assert "does not exist" in result.output


def test_migrate_with_nothing_pending_succeeds(runner, tenant):
    result = runner.invoke(args=["tenants", "migrate", "--tenant", tenant.domain])
    assert result.exit_code == 0, result.output
    assert "0 failed" in result.output


def test_migrate_refuses_unknown_tenants_and_revisions(runner, tenant):
    assert (
        runner.invoke(
            args=["tenants", "migrate", "--tenant", "nobody.example.com"]
        ).exit_code
        == 2
    )
    result = runner.invoke(
        args=["tenants", "migrate", "--tenant", tenant.domain, "--revision", "nope"]
    )
    assert result.exit_code == 2


def test_revision_writes_a_new_tenant_migration(database_url, tmp_path):
    import shutil

    from tests.conftest import make_app

    location = tmp_path / "tenant_migrations"
    shutil.copytree(
        "tenant_migrations", location, ignore=shutil.ignore_patterns("__pycache__")
    )
    app = make_app(database_url, TENANT_MIGRATIONS_DIR=str(location))
    result = app.test_cli_runner().invoke(
        args=["tenants", "revision", "-m", "Add a thing"]
    )
    assert result.exit_code == 0, result.output
    written = list((location / "versions").glob("*add_a_thing.py"))
    assert len(written) == 1
    # Models and schema agree, so autogenerate finds nothing to do.
    result = app.test_cli_runner().invoke(
        args=["tenants", "revision", "-m", "Nothing to do", "--autogenerate"]
    )
    assert result.exit_code == 0, result.output
    generated = next((location / "versions").glob("*nothing_to_do.py")).read_text()
    assert "op.create_table" not in generated
    assert "op.add_column" not in generated
    with app.app_context():
        db.engine.dispose()


def test_shell_offers_db_sa_models_and_tenant_scope(app):
    with app.app_context():  # as `flask shell` has
        context = app.make_shell_context()
    assert context["db"] is db
    assert context["sa"] is sa
    assert {"Tenant", "Conversation", "WorkoutPlan", "tenant_scope"} <= set(context)


def test_shell_offers_every_name_the_documented_snippet_uses(app):
    snippet = re.search(
        r"## flask shell\n.*?```python\n(.*?)```", CLI_DOCS.read_text(), re.DOTALL
    )
    assert snippet is not None
    tree = ast.parse(textwrap.dedent(snippet.group(1)))
    used = {node.id for node in ast.walk(tree) if isinstance(node, ast.Name)}
    with app.app_context():
        context = app.make_shell_context()
    assert used
    assert used <= set(context)


@pytest.mark.parametrize(
    "args",
    [
        ["list"],
        ["create", "S", "nowhere.example.com"],
        ["migrate"],
        ["doctor"],
        ["drop", "nowhere.example.com", "--yes"],
    ],
)
def test_an_unreachable_database_is_one_line_of_error(args):
    app = make_app(NOWHERE)
    result = app.test_cli_runner().invoke(args=["tenants", *args])
    with app.app_context():
        db.engine.dispose()
    # 2: the command could not run for its setup (1 is for one that ran and failed).
    assert result.exit_code == 2
    assert isinstance(result.exception, SystemExit), result.exception
    assert result.output.startswith("Error: The database is unavailable (")
    assert "Connection refused" in result.output
    assert len(result.output.splitlines()) == 1
    assert "s3cret" not in result.output
