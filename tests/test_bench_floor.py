"""bench/http's floor and hot path do PILAR's work: the same answers, byte for byte."""

from __future__ import annotations

import importlib
import sys
from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import event
from werkzeug.test import EnvironBuilder
from werkzeug.test import run_wsgi_app

from pilar.db.extensions import db
from pilar.models import Role
from tests.api.conftest import TenantActions

PATH = "/api/v1/conversations?limit=20"


@pytest.fixture
def studio(app: Flask, client: FlaskClient, make_tenant: Any) -> TenantActions:
    actions = TenantActions(app, client, make_tenant())
    for number in range(25):
        response = actions.request(
            "POST",
            "/api/v1/conversations",
            json={
                "channel": "EMAIL",
                "transcript": [{"role": "member", "text": f"Frage {number}: Größe?"}],
                "metadata": {"number": number},
            },
        )
        assert response.status_code == 201
    return actions


def _import_afresh(name: str, app: Flask, monkeypatch: pytest.MonkeyPatch) -> Any:
    """Import the bench module ``name`` anew, with ``app``'s database and key.

    It reads its settings (and the floor its tenants) once, when imported.
    """
    with app.app_context():
        monkeypatch.setenv("DATABASE_URL", db.engine.url.render_as_string(False))
    monkeypatch.setenv("PILAR_SECRET_KEY", app.config["SECRET_KEY"])
    sys.modules.pop(name, None)
    return importlib.import_module(name)


@pytest.fixture
def floor(
    app: Flask, studio: TenantActions, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Any]:
    module = _import_afresh("bench.http.floor", app, monkeypatch)
    yield module
    connection = getattr(module._LOCAL, "conn", None)
    if connection is not None:
        connection.close()
    sys.modules.pop("bench.http.floor", None)


@pytest.fixture
def hot_path(
    app: Flask, studio: TenantActions, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Any]:
    from pilar.services import conversations

    # Importing it replaces the service's list function: put it back after.
    monkeypatch.setattr(
        conversations, "list_conversations", conversations.list_conversations
    )
    module = _import_afresh("bench.http.hot_path", app, monkeypatch)
    yield module
    with module.app.app_context():
        db.engine.dispose()
    sys.modules.pop("bench.http.hot_path", None)


def _floor_get(
    floor: Any, domain: str, token: str, path: str = PATH
) -> tuple[str, bytes]:
    environ = EnvironBuilder(
        path=path,
        base_url=f"http://{domain}",
        headers=[("Authorization", f"Bearer {token}")],
    ).get_environ()
    body, status, _ = run_wsgi_app(floor.app, environ)
    return status, b"".join(body)


def test_floor_returns_pilars_bytes(floor, studio):
    ours = studio.request("GET", PATH, role=Role.STAFF)
    status, body = _floor_get(floor, studio.tenant.domain, studio.token(Role.STAFF))
    assert ours.status_code == 200
    assert status == "200 OK"
    assert len(ours.get_json()["items"]) == 20
    assert ours.get_json()["next_cursor"] is not None
    assert body == ours.data


def test_floor_refuses_a_token_whose_password_changed(floor, studio, app):
    token = studio.token(Role.STAFF)
    with app.app_context():
        db.session.execute(
            db.text(
                "UPDATE public.tenant_users SET password_hash = 'changed' "
                "WHERE tenant_id = :tenant_id"
            ),
            {"tenant_id": studio.tenant.id},
        )
        db.session.commit()
    assert studio.request("GET", PATH, role=Role.STAFF).status_code == 401
    status, _ = _floor_get(floor, studio.tenant.domain, token)
    assert status == "401 Unauthorized"


@pytest.mark.parametrize(
    ("path", "plain"),
    [
        (PATH, True),
        ("/api/v1/conversations?limit=200", True),
        ("/api/v1/conversations?limit=5&channel=EMAIL", False),
    ],
)
def test_hot_path_returns_pilars_bytes(hot_path, studio, path, plain):
    seen: list[str] = []

    def record(conn, cursor, statement, *args):
        seen.append(statement)

    with hot_path.app.app_context():
        engine = db.engine
    ours = studio.request("GET", path, role=Role.STAFF)
    event.listen(engine, "before_cursor_execute", record)
    try:
        status, body = _floor_get(
            hot_path, studio.tenant.domain, studio.token(Role.STAFF), path
        )
    finally:
        event.remove(engine, "before_cursor_execute", record)
    assert ours.status_code == 200
    assert status == "200 OK"
    assert body == ours.data
    # The unfiltered list bypasses SQLAlchemy: its events do not see it.
    assert any("conversations" in statement for statement in seen) is not plain
