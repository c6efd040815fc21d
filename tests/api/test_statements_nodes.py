"""A tenant on another node sends the same statements as one on ``default``.

The user lookup goes to the control plane, the tenant's query to its node;
the counts are those of ``test_statements.py``, added over both databases.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from flask import Flask
from sqlalchemy import event

from pilar.db.extensions import db
from pilar.models import Role
from pilar.tenancy import get_nodes
from tests.api.conftest import TenantActions
from tests.conftest import make_app
from tests.conftest import nodes_setting


@pytest.fixture(scope="module")
def steady_nodes_app(database_url, app, node_urls) -> Iterator[Flask]:
    """An app with nodes whose tenant directory does not come due during a test."""
    steady = make_app(
        database_url,
        TENANT_CACHE_TTL=3600,
        NODES=nodes_setting(node_urls),
        PLACEMENT_NODES="default",
    )
    yield steady
    with steady.app_context():
        get_nodes().dispose()
        db.engine.dispose()


@pytest.fixture(scope="module")
def far(steady_nodes_app) -> Iterator[TenantActions]:
    from pilar.tenancy.fleet import provisioning
    from tests.conftest import unique_domain

    with steady_nodes_app.app_context():
        tenant = provisioning.create_tenant("Far", unique_domain("far"), node="eu2")
    yield TenantActions(steady_nodes_app, steady_nodes_app.test_client(), tenant)
    with steady_nodes_app.app_context():
        provisioning.drop_tenant(tenant.id)


@pytest.fixture
def statements(steady_nodes_app) -> Iterator[dict[str, list[str]]]:
    sent: dict[str, list[str]] = {"default": [], "eu2": []}
    with steady_nodes_app.app_context():
        engines = {name: get_nodes().engine(name) for name in sent}
    listeners = []
    for name, engine in engines.items():

        def record(conn, cursor, statement, *args, name=name):
            sent[name].append(statement)

        event.listen(engine, "before_cursor_execute", record)
        listeners.append((engine, record))
    yield sent
    for engine, record in listeners:
        event.remove(engine, "before_cursor_execute", record)


def _count(statements, send):
    send()  # warms the tenant directory and the token's user
    for sent in statements.values():
        sent.clear()
    response = send()
    assert response.status_code in (200, 201, 204), response.get_json()
    return {name: len(sent) for name, sent in statements.items()}


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("/api/v1/conversations?limit=20", {"default": 1, "eu2": 1}),
        ("/api/v1/workout-plans?limit=20", {"default": 1, "eu2": 1}),
        ("/api/v1/phone-numbers", {"default": 1, "eu2": 1}),
        ("/api/v1/me", {"default": 1, "eu2": 0}),
    ],
)
def test_reads_send_the_user_lookup_here_and_one_query_there(
    far, statements, path, expected
):
    counts = _count(statements, lambda: far.request("GET", path, role=Role.STAFF))
    assert counts == expected, statements
    assert not any("search_path" in s for s in statements["eu2"])


def test_writes_send_the_same_statements_split_over_two_databases(far, statements):
    body = {"channel": "VOICE", "transcript": [{"role": "member", "text": "Hi"}]}
    counts = _count(
        statements, lambda: far.request("POST", "/api/v1/conversations", json=body)
    )
    assert counts == {"default": 1, "eu2": 1}, statements
    conversation = far.request("POST", "/api/v1/conversations", json=body).get_json()
    path = f"/api/v1/conversations/{conversation['id']}/messages"
    counts = _count(
        statements,
        lambda: far.request("POST", path, json={"role": "member", "text": "Again"}),
    )
    assert counts == {"default": 1, "eu2": 1}, statements
