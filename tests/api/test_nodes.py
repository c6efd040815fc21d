"""The nodes through the HTTP API: placement, `node` in the JSON, outages, numbers."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import psycopg
import pytest
import sqlalchemy as sa

from pilar.db.extensions import db
from pilar.models import ClaimedNumber
from pilar.models import Role
from pilar.models import Tenant
from pilar.tenancy.fleet import provisioning
from tests import fleet
from tests.api.conftest import TenantActions
from tests.conftest import Platform
from tests.conftest import unique_domain


@pytest.fixture
def platform_nodes(nodes_app) -> Platform:
    return Platform(nodes_app.test_client())


def _actions(app, tenant) -> TenantActions:
    return TenantActions(app, app.test_client(), tenant)


def test_create_on_a_named_node_lists_and_filters_it(platform_nodes, nodes_app):
    domain = unique_domain()
    tenant = platform_nodes.create_tenant(name="Far", domain=domain, node="eu3")
    try:
        assert tenant["node"] == "eu3"
        listed = platform_nodes.request("GET", "/api/v1/tenants?node=eu3&limit=200")
        assert domain in {t["domain"] for t in listed.get_json()["items"]}
        assert {t["node"] for t in listed.get_json()["items"]} == {"eu3"}
        elsewhere = platform_nodes.request(
            "GET", f"/api/v1/tenants?node=eu2&domain={domain}"
        )
        assert elsewhere.get_json()["items"] == []
        shown = platform_nodes.request("GET", f"/api/v1/tenants/{tenant['id']}")
        assert shown.get_json()["node"] == "eu3"
    finally:
        deleted = platform_nodes.request("DELETE", f"/api/v1/tenants/{tenant['id']}")
        assert deleted.status_code == 204


def test_an_unknown_node_gets_422_on_node(platform_nodes):
    response = platform_nodes.request(
        "POST",
        "/api/v1/tenants",
        json={"name": "X", "domain": unique_domain(), "node": "nowhere"},
    )
    assert response.status_code == 422
    assert "node" in response.get_json()["errors"]


def test_nodes_lists_every_node_without_urls(
    platform_nodes, make_node_tenant, node_urls
):
    make_node_tenant(node="eu2")
    response = platform_nodes.request("GET", "/api/v1/nodes")
    assert response.status_code == 200
    items = response.get_json()["items"]
    assert [item["name"] for item in items] == ["default", "eu2", "eu3"]
    assert all(item["reachable"] for item in items)
    assert [item["placement"] for item in items] == [True, False, False]
    assert items[1]["tenants"] >= 1
    assert set(items[0]) == {"name", "tenants", "reachable", "placement"}
    text = response.get_data(as_text=True)
    assert all(url.split("@")[-1] not in text for url in node_urls.values())


def test_nodes_needs_the_admin_token(platform_nodes):
    response = platform_nodes.request(
        "GET", "/api/v1/nodes", headers={"Authorization": "Bearer wrong"}
    )
    assert response.status_code == 401


def test_the_tenant_api_works_on_another_node(nodes_app, make_node_tenant):
    studio = _actions(nodes_app, make_node_tenant(node="eu2"))
    created = studio.request(
        "POST",
        "/api/v1/conversations",
        json={"channel": "VOICE", "transcript": [{"role": "member", "text": "Hi"}]},
    )
    assert created.status_code == 201
    path = f"/api/v1/conversations/{created.get_json()['id']}/messages"
    appended = studio.request("POST", path, json={"role": "member", "text": "Again"})
    assert appended.status_code == 201, appended.get_json()
    listed = studio.request("GET", "/api/v1/conversations", role=Role.STAFF)
    assert [c["id"] for c in listed.get_json()["items"]] == [created.get_json()["id"]]
    assert studio.request("GET", "/api/v1/me").status_code == 200


def test_two_studios_on_two_nodes_racing_for_one_number_one_wins(
    nodes_app, make_node_tenant, new_number
):
    studios = [
        _actions(nodes_app, make_node_tenant(node=node)) for node in ("eu2", "eu3")
    ]
    for studio in studios:
        studio.token()
    for _ in range(5):
        number = new_number()

        def claim(studio, number=number):
            return studio.request(
                "POST", "/api/v1/phone-numbers", json={"number": number}
            ).status_code

        with ThreadPoolExecutor(max_workers=2) as pool:
            statuses = sorted(pool.map(claim, studios))
        assert statuses == [201, 409]
        with nodes_app.app_context():
            claims = db.session.scalars(
                sa.select(ClaimedNumber).where(ClaimedNumber.value == number)
            ).all()
            assert len(claims) == 1


def test_a_number_claimed_for_a_row_that_fails_is_released(
    nodes_app, make_node_tenant, new_number, monkeypatch
):
    studio = _actions(nodes_app, make_node_tenant(node="eu2"))
    studio.token()
    number = new_number()

    def fail(*args, **kwargs):
        raise RuntimeError("the node's write failed")

    # After the claim has committed, before the row is written on the node.
    monkeypatch.setattr(db.session, "add", fail)
    nodes_app.config["PROPAGATE_EXCEPTIONS"] = False
    try:
        response = studio.request(
            "POST", "/api/v1/phone-numbers", json={"number": number}
        )
    finally:
        nodes_app.config["PROPAGATE_EXCEPTIONS"] = None
    assert response.status_code == 500
    monkeypatch.undo()
    with nodes_app.app_context():
        assert db.session.get(ClaimedNumber, ("PHONE", number)) is None
    again = studio.request("POST", "/api/v1/phone-numbers", json={"number": number})
    assert again.status_code == 201


def test_renumbering_and_deleting_on_another_node_move_the_claims(
    nodes_app, make_node_tenant, new_number
):
    studio = _actions(nodes_app, make_node_tenant(node="eu3"))
    first, second = new_number(), new_number()
    created = studio.request("POST", "/api/v1/phone-numbers", json={"number": first})
    path = f"/api/v1/phone-numbers/{created.get_json()['id']}"
    renumbered = studio.request("PATCH", path, json={"number": second})
    assert renumbered.status_code == 200

    def claimed() -> set[str]:
        with nodes_app.app_context():
            return set(
                db.session.scalars(
                    sa.select(ClaimedNumber.value).where(
                        ClaimedNumber.value.in_([first, second])
                    )
                )
            )

    assert claimed() == {second}
    assert studio.request("DELETE", path).status_code == 204
    assert claimed() == set()


@pytest.fixture
def outage(database_url, app, node_urls):
    """An app with a node ``gone`` on a server of its own, stopped at will."""
    with fleet.outage(database_url, node_urls, PROPAGATE_EXCEPTIONS=False) as made:
        yield made


def test_a_stopped_node_fails_only_its_tenants_quickly(outage):
    app, server, doomed, kept = outage
    doomed_actions, kept_actions = _actions(app, doomed), _actions(app, kept)
    for actions in (doomed_actions, kept_actions):
        listed = actions.request("GET", "/api/v1/workout-plans")
        assert listed.status_code == 200
    server.stop()
    for _ in range(3):
        started = time.monotonic()
        response = doomed_actions.request("GET", "/api/v1/workout-plans")
        elapsed = time.monotonic() - started
        assert response.status_code == 503, response.get_json()
        assert response.get_json()["code"] == "node_unavailable"
        assert int(response.headers["Retry-After"]) >= 1
        assert elapsed < 2.5
        write = doomed_actions.request(
            "POST", "/api/v1/workout-plans", json={"plan": {}}
        )
        assert write.status_code == 503
        assert kept_actions.request("GET", "/api/v1/workout-plans").status_code == 200
        created = kept_actions.request(
            "POST", "/api/v1/workout-plans", json={"plan": {}}
        )
        assert created.status_code == 201
    platform = Platform(app.test_client())
    nodes = platform.request("GET", "/api/v1/nodes").get_json()["items"]
    assert {n["name"]: n["reachable"] for n in nodes} == {
        "default": True,
        "eu2": True,
        "eu3": True,
        "gone": False,
    }
    refused = platform.request(
        "POST",
        "/api/v1/tenants",
        json={"name": "Nope", "domain": unique_domain(), "node": "gone"},
    )
    assert refused.status_code == 503
    assert refused.get_json()["code"] == "node_unavailable"
    with app.app_context():
        assert (
            db.session.scalar(sa.select(sa.func.count()).where(Tenant.name == "Nope"))
            == 0
        )
    server.start()
    deadline = time.monotonic() + 10
    while doomed_actions.request("GET", "/api/v1/workout-plans").status_code != 200:
        assert time.monotonic() < deadline, "the node never came back"
        time.sleep(0.2)


def test_creating_on_a_stopped_node_leaves_nothing_anywhere(outage, node_urls):
    app, server, _doomed, _kept = outage
    server.stop()
    domain = unique_domain()
    with app.app_context():
        from pilar.errors import NodeUnavailableError

        with pytest.raises(NodeUnavailableError):
            provisioning.create_tenant("Nope", domain, node="gone")
        assert (
            db.session.scalar(sa.select(sa.func.count()).where(Tenant.domain == domain))
            == 0
        )
    with psycopg.connect(node_urls["eu2"]) as conn:
        schemas = {r[0] for r in conn.execute("SELECT nspname FROM pg_namespace")}
    assert domain.split(".")[0] not in schemas
