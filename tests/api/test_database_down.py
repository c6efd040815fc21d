"""When PostgreSQL does not answer: 503 on every host, never a 500."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from flask import Flask

from pilar.db.extensions import db
from tests.conftest import ADMIN_TOKEN
from tests.conftest import make_app

# Nothing listens on port 1: every connection is refused at once.
NOWHERE = "postgresql+psycopg://postgres@127.0.0.1:1/nowhere"


@pytest.fixture
def down() -> Iterator[Flask]:
    app = make_app(NOWHERE)
    app.config["PROPAGATE_EXCEPTIONS"] = False
    yield app
    with app.app_context():
        db.engine.dispose()


def test_healthz_says_the_database_does_not_answer(down):
    response = down.test_client().get("/healthz")
    assert response.status_code == 503
    assert response.get_json() == {"status": "unavailable"}


@pytest.mark.parametrize(
    ("host", "path", "headers"),
    [
        ("studio.example.com", "/api/v1/me", {"Authorization": "Bearer x"}),
        ("localhost", "/api/v1/tenants", {"Authorization": f"Bearer {ADMIN_TOKEN}"}),
    ],
)
def test_a_request_gets_503_with_retry_after(down, host, path, headers):
    response = down.test_client().get(path, headers={"Host": host, **headers})
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "1"
    body = response.get_json()
    assert body["code"] == "service_unavailable"
    assert body["status"] == 503
    assert "nowhere" not in body["message"]
