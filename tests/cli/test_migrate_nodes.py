"""`flask tenants migrate` over several nodes: every node's tenants, or the named ones.

Each test has a control plane and two nodes of its own (``fleet``), since a
run upgrades every tenant it can see.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from flask import Flask

from pilar.db.extensions import db
from pilar.models import Tenant
from pilar.tenancy import get_nodes
from pilar.tenancy.fleet import provisioning
from pilar.tenancy.fleet import revisions as stamps
from tests.cli.test_migrate_runner import ADD_TOPIC
from tests.cli.test_migrate_runner import COUNT_PLANS
from tests.cli.test_migrate_runner import migrate
from tests.cli.test_migrate_runner import use_revisions
from tests.conftest import dispose_app
from tests.conftest import make_fleet_app
from tests.conftest import unique_domain
from tests.revisions import copy_with_revisions

NOWHERE = "postgresql://postgres@127.0.0.1:1/nowhere"


def fleet_app(fleet: dict[str, str], location: Path, **nodes: str) -> Flask:
    urls = {**fleet, **nodes}
    return make_fleet_app(urls, TENANT_MIGRATIONS_DIR=str(location))


@pytest.fixture
def studio(fleet, tmp_path) -> Iterator[Flask]:
    app = fleet_app(fleet, copy_with_revisions(tmp_path / "base", []))
    yield app
    dispose_app(app)


def make_tenants(app: Flask, **per_node: int) -> dict[str, list[Tenant]]:
    with app.app_context():
        return {
            node: [
                provisioning.create_tenant("Studio", unique_domain(node), node=node)
                for _ in range(count)
            ]
            for node, count in per_node.items()
        }


def revisions(
    app: Flask, tenants: list[Tenant]
) -> dict[str, tuple[str | None, str | None]]:
    """Return each tenant's revision: (public.tenants, its schema's own)."""
    found = {}
    with app.app_context():
        for tenant in tenants:
            recorded = db.session.scalar(
                sa.select(Tenant.schema_revision).where(Tenant.id == tenant.id)
            )
            with get_nodes().engine(tenant.node).connect() as conn:
                own = conn.scalar(
                    sa.select(sa.column("version_num")).select_from(
                        sa.table("alembic_version", schema=tenant.schema_name)
                    )
                )
            found[tenant.domain] = (recorded, own)
    return found


@pytest.mark.parametrize("jobs", ["1", "2"])
def test_migrate_upgrades_the_tenants_of_every_node(studio, tmp_path, jobs):
    tenants = make_tenants(studio, default=1, eu2=2, eu3=2)
    head = use_revisions(studio, tmp_path, [ADD_TOPIC])
    result = migrate(studio, "--jobs", jobs)
    assert result.exit_code == 0, result.output
    assert f"Target {head}: 5 migrated, 0 already there, 0 failed." in result.output
    assert "  node eu2: 2 migrated, 0 already there, 0 failed" in result.output
    assert "  node eu3: 2 migrated, 0 already there, 0 failed" in result.output
    every = [tenant for group in tenants.values() for tenant in group]
    assert set(revisions(studio, every).values()) == {(head, head)}


def test_migrate_with_node_upgrades_that_nodes_tenants_only(studio, tmp_path):
    tenants = make_tenants(studio, default=1, eu2=1, eu3=1)
    base = tenants["eu3"][0].schema_revision
    head = use_revisions(studio, tmp_path, [ADD_TOPIC])
    result = migrate(studio, "--node", "eu2")
    assert result.exit_code == 0, result.output
    assert f"Target {head}: 1 migrated, 0 already there, 0 failed." in result.output
    found = revisions(studio, [t for group in tenants.values() for t in group])
    assert found[tenants["eu2"][0].domain] == (head, head)
    assert found[tenants["eu3"][0].domain] == (base, base)
    assert found[tenants["default"][0].domain] == (base, base)


def test_migrate_refuses_an_unknown_node(studio):
    result = migrate(studio, "--node", "mars")
    assert result.exit_code == 2
    assert "No node is named mars" in result.output


def test_a_node_out_of_reach_fails_only_its_tenants(fleet, studio, tmp_path):
    tenants = make_tenants(studio, default=1, eu2=1, eu3=3)
    head = use_revisions(studio, tmp_path, [ADD_TOPIC])
    cut_off = fleet_app(
        fleet, Path(studio.config["TENANT_MIGRATIONS_DIR"]), eu3=NOWHERE
    )
    try:
        result = migrate(cut_off, "--jobs", "2")
    finally:
        dispose_app(cut_off)
    assert result.exit_code == 1, result.output
    assert f"Target {head}: 2 migrated, 0 already there, 3 failed." in result.output
    assert "  node eu2: 1 migrated, 0 already there, 0 failed" in result.output
    assert "  node eu3: 0 migrated, 0 already there, 3 failed" in result.output
    assert result.output.count("node 'eu3' cannot be reached") == 3
    found = revisions(studio, [t for group in tenants.values() for t in group])
    assert found[tenants["eu2"][0].domain] == (head, head)
    assert all(found[t.domain] != (head, head) for t in tenants["eu3"])


def test_a_revision_run_through_alembic_works_on_every_node(studio, tmp_path):
    tenants = make_tenants(studio, default=1, eu2=1, eu3=1)
    head = use_revisions(studio, tmp_path, [ADD_TOPIC, COUNT_PLANS])
    result = migrate(studio, "--jobs", "2")
    assert result.exit_code == 0, result.output
    every = [tenant for group in tenants.values() for tenant in group]
    assert set(revisions(studio, every).values()) == {(head, head)}


def test_a_crash_before_the_control_plane_records_is_finished_by_the_next_run(
    studio, tmp_path, monkeypatch
):
    tenants = make_tenants(studio, eu2=2)
    head = use_revisions(studio, tmp_path, [ADD_TOPIC])
    recorded = stamps.record_revision

    def crash_on_control_plane(conn, schema_name, revision):
        if conn.engine.url.database == studio_database(studio):
            raise KeyboardInterrupt  # the process dies between the two commits
        recorded(conn, schema_name, revision)

    monkeypatch.setattr(stamps, "record_revision", crash_on_control_plane)
    with pytest.raises(KeyboardInterrupt):
        list(run_once(studio))
    monkeypatch.undo()
    found = revisions(studio, tenants["eu2"])
    assert any(own == head and recorded != head for recorded, own in found.values())
    result = migrate(studio)
    assert result.exit_code == 0, result.output
    assert set(revisions(studio, tenants["eu2"]).values()) == {(head, head)}


def studio_database(app: Flask) -> str | None:
    with app.app_context():
        return db.engine.url.database


def run_once(app: Flask):
    from pilar.tenancy.fleet import runner

    with app.app_context():
        settings = runner.run_settings(jobs=1)
        plan = runner.plan_run(settings.location, [], "head")
        yield from runner.run_plan(settings, plan)
