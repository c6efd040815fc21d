from __future__ import annotations

import pytest

from pilar.models import Role


@pytest.mark.parametrize("role", list(Role))
def test_me_shows_the_signed_in_user_to_every_role(acme, role):
    response = acme.request("GET", "/api/v1/me", role=role)
    assert response.status_code == 200
    body = response.get_json()
    assert set(body) == {"id", "email", "role", "created_at", "updated_at"}
    assert body["role"] == role.value
    assert body["created_at"].endswith("+00:00")


def test_me_never_shows_the_password_hash(acme):
    response = acme.request("GET", "/api/v1/me", role=Role.STAFF)
    assert b"argon2" not in response.data
    assert b"password" not in response.data


def test_me_needs_a_token(acme):
    response = acme.request("GET", "/api/v1/me", role=None)
    assert response.status_code == 401
    assert response.get_json()["code"] == "unauthenticated"


def test_me_refuses_another_tenants_token(acme, globex):
    response = acme.request("GET", "/api/v1/me", headers=globex.headers(Role.OWNER))
    assert response.status_code == 401


def test_me_is_read_only(acme):
    response = acme.request("PATCH", "/api/v1/me", json={"role": "OWNER"})
    assert response.status_code == 405
    assert response.get_json()["code"] == "method_not_allowed"
