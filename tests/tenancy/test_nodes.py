"""Tenants on several nodes: configuration, placement, routing and isolation."""

from __future__ import annotations

import threading
import uuid
from concurrent.futures import ThreadPoolExecutor

import psycopg
import pytest
import sqlalchemy as sa
from flask import Flask

from pilar.db.extensions import db
from pilar.errors import ConfigurationError
from pilar.models import Tenant
from pilar.models import WorkoutPlan
from pilar.tenancy import get_nodes
from pilar.tenancy import nodes
from pilar.tenancy import tenant_scope
from pilar.tenancy.fleet import provisioning
from tests.conftest import make_app
from tests.conftest import nodes_setting
from tests.conftest import unique_domain
from tests.tenancy.conftest import probe_blueprint


def _schemas(url: str) -> set[str]:
    with psycopg.connect(url) as conn:
        return {row[0] for row in conn.execute("SELECT nspname FROM pg_namespace")}


@pytest.fixture(scope="module")
def probe_nodes_app(database_url, app, node_urls):
    """``nodes_app`` with the probe routes, on a small pool per node."""
    probe = make_app(
        database_url,
        NODES=nodes_setting(node_urls),
        PLACEMENT_NODES="default",
        DB_POOL_SIZE=2,
        DB_MAX_OVERFLOW=0,
    )
    probe.register_blueprint(probe_blueprint())
    yield probe
    with probe.app_context():
        get_nodes().dispose()
        db.engine.dispose()


def test_a_tenant_on_a_node_has_its_schema_there_only(
    nodes_app, make_node_tenant, database_url, node_urls
):
    tenant = make_node_tenant(node="eu2")
    assert tenant.node == "eu2"
    assert tenant.schema_name in _schemas(node_urls["eu2"])
    assert tenant.schema_name not in _schemas(node_urls["eu3"])
    assert tenant.schema_name not in _schemas(database_url)
    with nodes_app.app_context():
        row = db.session.get(Tenant, tenant.id)
        assert row is not None
        assert (row.node, row.schema_revision) == ("eu2", tenant.schema_revision)
        provisioning.drop_tenant(tenant.id)
    assert tenant.schema_name not in _schemas(node_urls["eu2"])


def test_requests_run_on_their_tenants_node_and_see_only_their_rows(
    probe_nodes_app, make_node_tenant
):
    here = make_node_tenant()
    there = make_node_tenant(node="eu2")
    further = make_node_tenant(node="eu3")
    client = probe_nodes_app.test_client()
    for studio in (here, there, further):
        response = client.post(
            "/probe/plans", json={"label": studio.node}, headers={"Host": studio.domain}
        )
        assert response.get_json() == [studio.node] * 2
    for studio in (here, there, further):
        response = client.get("/probe/plans", headers={"Host": studio.domain})
        assert response.get_json() == [studio.node] * 2
        response = client.post("/probe/rollback", headers={"Host": studio.domain})
        assert response.get_json() == [studio.node] * 2


def test_sixteen_threads_over_two_nodes_never_cross_tenants(
    probe_nodes_app, make_node_tenant
):
    studios = [make_node_tenant(node=node) for node in ("eu2", "eu3", "eu2", "eu3")]
    wrong: list[str] = []
    lock = threading.Lock()

    def work(index: int) -> None:
        studio = studios[index % len(studios)]
        client = probe_nodes_app.test_client()
        label = f"{studio.schema_name}"
        for _ in range(4):
            for response in (
                client.post(
                    "/probe/plans",
                    json={"label": label},
                    headers={"Host": studio.domain},
                ),
                client.post("/probe/rollback", headers={"Host": studio.domain}),
                client.get("/probe/plans", headers={"Host": studio.domain}),
            ):
                seen = set(response.get_json())
                if seen - {label}:
                    with lock:
                        wrong.append(f"{label} saw {seen - {label}}")

    with ThreadPoolExecutor(max_workers=16) as pool:
        list(pool.map(work, range(16)))
    assert wrong == []
    client = probe_nodes_app.test_client()
    for studio in studios:
        rows = client.get("/probe/plans", headers={"Host": studio.domain}).get_json()
        # 4 threads per studio, 4 rounds, 2 rows per round.
        assert rows == [studio.schema_name] * 32


def test_tenant_scope_works_on_every_node(nodes_app, make_node_tenant):
    for node in ("default", "eu2", "eu3"):
        studio = make_node_tenant(node=node)
        with nodes_app.app_context(), tenant_scope(studio.domain):
            db.session.add(WorkoutPlan(user_id=node, plan={}))
            db.session.commit()
            assert db.session.scalars(sa.select(WorkoutPlan.user_id)).all() == [node]


def test_placement_takes_the_node_with_fewest_tenants(
    database_url, app, node_urls, make_node_tenant
):
    placing = make_app(
        database_url, NODES=nodes_setting(node_urls), PLACEMENT_NODES="eu2,eu3"
    )
    try:
        with placing.app_context():
            counts = dict(
                db.session.execute(
                    sa.select(Tenant.node, sa.func.count()).group_by(Tenant.node)
                ).all()
            )
            expected = min(("eu2", "eu3"), key=lambda n: (counts.get(n, 0), n))
            assert provisioning.place() == expected
            fewer = "eu3" if expected == "eu2" else "eu2"
            # Fill the other one past this one: placement follows.
            for _ in range(abs(counts.get("eu2", 0) - counts.get("eu3", 0)) + 1):
                make_node_tenant(node=expected)
            assert provisioning.place() == fewer
            created = provisioning.create_tenant("Placed", unique_domain())
            try:
                assert created.node == fewer
            finally:
                provisioning.drop_tenant(created.id)
    finally:
        with placing.app_context():
            get_nodes().dispose()
            db.engine.dispose()


def test_one_node_per_process_however_many_tenants(nodes_app, make_node_tenant):
    studios = [make_node_tenant(node="eu2") for _ in range(3)]
    with nodes_app.app_context():
        engines = set()
        for studio in studios:
            with tenant_scope(studio.domain):
                db.session.scalars(sa.select(WorkoutPlan.id)).all()
                engines.add(id(get_nodes().engine(studio.node)))
        assert len(engines) == 1


@pytest.mark.parametrize(
    ("setting", "placement", "message"),
    [
        ("eu2", None, "not a name=url pair"),
        ("EU2=postgresql://x/y", None, "not a node name"),
        ("default=postgresql://x/y", None, "not a node name"),
        ("eu2=postgresql://x/y eu2=postgresql://x/z", None, "named twice"),
        ("eu2=postgresql://x/y", "eu2,nowhere", "unknown nodes"),
    ],
)
def test_a_bad_nodes_setting_is_refused_at_start(setting, placement, message):
    with pytest.raises(ValueError, match=message):
        nodes.parse("postgresql://x/control", setting, placement)


def test_a_bad_nodes_setting_stops_the_app_without_showing_a_url(database_url):
    with pytest.raises(ConfigurationError, match="not a node name") as raised:
        make_app(database_url, NODES="Bad=postgresql://secret:pw@db/x")
    assert "pw" not in str(raised.value)


def test_placement_defaults_to_every_node():
    config = nodes.parse("postgresql://x/c", "eu3=postgresql://x/3 eu2=u", None)
    assert config.names == ("default", "eu2", "eu3")
    assert config.placement == ("default", "eu2", "eu3")


def test_an_unknown_node_is_refused(nodes_app: Flask):
    from pilar.errors import ValidationError

    with nodes_app.app_context(), pytest.raises(ValidationError) as raised:
        provisioning.create_tenant("X", unique_domain(), node="nowhere")
    assert raised.value.errors is not None
    assert "node" in raised.value.errors


def _create_at_once(app: Flask, specs: list[dict[str, str]]) -> list[object]:
    """Run one create per spec at the same moment; return tenants or errors."""
    barrier = threading.Barrier(len(specs))

    def create(spec: dict[str, str]) -> object:
        with app.app_context():
            barrier.wait()
            try:
                return provisioning.create_tenant(
                    "Racer", spec["domain"], node=spec["node"]
                )
            except Exception as error:  # handed back to the test
                return error

    with ThreadPoolExecutor(max_workers=len(specs)) as pool:
        return list(pool.map(create, specs))


@pytest.mark.parametrize("nodes_of_racers", [("eu2", "eu2"), ("eu2", "eu3")])
def test_creates_racing_on_nodes_for_one_domain_get_one_tenant(
    nodes_app, nodes_of_racers
):
    from pilar.errors import ConflictError

    for _ in range(3):
        domain = unique_domain("race")
        results = _create_at_once(
            nodes_app, [{"domain": domain, "node": node} for node in nodes_of_racers]
        )
        made = [r for r in results if isinstance(r, Tenant)]
        refused = [r for r in results if isinstance(r, ConflictError)]
        assert (len(made), len(refused)) == (1, 1), results
        with nodes_app.app_context():
            provisioning.drop_tenant(made[0].id)


def test_creates_on_one_node_racing_for_a_derived_name_both_succeed(nodes_app):
    label = f"gym{uuid.uuid4().hex[:6]}"
    results = _create_at_once(
        nodes_app,
        [{"domain": f"{label}.{suffix}.example.com", "node": "eu2"} for suffix in "ab"],
    )
    made = [r for r in results if isinstance(r, Tenant)]
    assert len(made) == len(results), results
    assert sorted(tenant.schema_name for tenant in made) == [label, f"{label}_2"]
    with nodes_app.app_context():
        for tenant in made:
            provisioning.drop_tenant(tenant.id)
