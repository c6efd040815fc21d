"""How many SQL statements each request sends: a change that adds one fails here."""

from __future__ import annotations

import itertools
from collections.abc import Iterator

import pytest
from flask import Flask
from sqlalchemy import event

from pilar.db.extensions import db
from pilar.models import Role
from tests.api.conftest import TenantActions
from tests.conftest import make_app


@pytest.fixture
def steady_app(database_url, app) -> Iterator[Flask]:
    """An app whose tenant directory does not come due during a test."""
    steady = make_app(database_url, TENANT_CACHE_TTL=3600)
    yield steady
    with steady.app_context():
        db.engine.dispose()


@pytest.fixture
def acme(steady_app, tenant) -> TenantActions:
    return TenantActions(steady_app, steady_app.test_client(), tenant)


@pytest.fixture
def statements(steady_app) -> Iterator[list[str]]:
    sent: list[str] = []

    def record(conn, cursor, statement, parameters, context, executemany):
        sent.append(statement)

    with steady_app.app_context():
        engine = db.engine
    event.listen(engine, "before_cursor_execute", record)
    yield sent
    event.remove(engine, "before_cursor_execute", record)


def _count(statements, send):
    send()  # warms the tenant directory and the token's user
    statements.clear()
    response = send()
    assert response.status_code in (200, 201, 204), response.get_json()
    return len(statements), list(statements)


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("/api/v1/conversations?limit=20", 2),
        ("/api/v1/conversations?channel=VOICE&limit=20", 2),
        ("/api/v1/workout-plans?limit=20", 2),
        ("/api/v1/phone-numbers", 2),
        ("/api/v1/whatsapp-channels", 2),
        ("/api/v1/me", 1),
    ],
)
def test_reads_send_the_user_lookup_and_one_query(acme, statements, path, expected):
    count, sent = _count(statements, lambda: acme.request("GET", path, role=Role.STAFF))
    assert count == expected, sent
    # Binding the tenant adds nothing: no SET, no tenant lookup.
    assert not any("search_path" in s or "public.tenants" in s for s in sent)


def test_writes_send_no_reload_after_commit(acme, statements):
    body = {"channel": "VOICE", "transcript": [{"role": "member", "text": "Hi"}]}
    count, sent = _count(
        statements, lambda: acme.request("POST", "/api/v1/conversations", json=body)
    )
    # The user lookup and the INSERT … RETURNING.
    assert count == 2, sent
    conversation = acme.request("POST", "/api/v1/conversations", json=body).get_json()
    path = f"/api/v1/conversations/{conversation['id']}/messages"
    count, sent = _count(
        statements,
        lambda: acme.request("POST", path, json={"role": "member", "text": "Again"}),
    )
    # The user lookup and one UPDATE … RETURNING.
    assert count == 2, sent
    plan = acme.request("POST", "/api/v1/workout-plans", json={"plan": {}}).get_json()
    versions = itertools.count()
    count, sent = _count(
        statements,
        lambda: acme.request(
            "PATCH",
            f"/api/v1/workout-plans/{plan['id']}",
            json={"plan": {"version": next(versions)}},
        ),
    )
    # The user lookup, the SELECT of the row and its UPDATE … RETURNING.
    assert count == 3, sent
