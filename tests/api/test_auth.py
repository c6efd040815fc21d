from __future__ import annotations

import statistics
import time
import uuid
from collections.abc import Callable
from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask

from pilar.db.extensions import db
from pilar.models import LoginFailure
from pilar.models import Role
from pilar.services import auth as auth_service
from tests.api.conftest import TenantActions
from tests.conftest import PLATFORM_HOST
from tests.conftest import make_app
from tests.users import USER_PASSWORD

TOKEN_PATH = "/api/v1/auth/token"


def sign_in(actions: TenantActions, email: str, password: str, client=None):
    return (client or actions.client).post(
        TOKEN_PATH,
        base_url=f"http://{actions.tenant.domain}",
        json={"email": email, "password": password},
    )


def me(actions: TenantActions, token: str, client=None):
    return (client or actions.client).get(
        "/api/v1/me",
        base_url=f"http://{actions.tenant.domain}",
        headers={"Authorization": f"Bearer {token}"},
    )


def unknown_email() -> str:
    return f"nobody-{uuid.uuid4().hex[:8]}@example.com"


@pytest.fixture
def other_app(database_url: str) -> Iterator[Callable[..., Flask]]:
    """Another instance of the service on the same database, like a second worker."""
    apps: list[Flask] = []

    def make(**overrides: Any) -> Flask:
        apps.append(make_app(database_url, **overrides))
        return apps[-1]

    yield make
    for app in apps:
        with app.app_context():
            db.engine.dispose()


def expire_lock(app: Flask, tenant_id: uuid.UUID, email: str) -> None:
    with app.app_context():
        db.session.execute(
            sa.update(LoginFailure)
            .where(LoginFailure.tenant_id == tenant_id, LoginFailure.email == email)
            .values(locked_until=sa.func.now() - sa.text("interval '1 second'"))
        )
        db.session.commit()


def test_sign_in_returns_a_bearer_token(acme):
    user = acme.create_user(Role.STAFF)
    response = sign_in(acme, user.email, USER_PASSWORD)
    assert response.status_code == 200
    body = response.get_json()
    assert set(body) == {"access_token", "token_type", "expires_in"}
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == 3600
    profile = me(acme, body["access_token"])
    assert profile.status_code == 200
    assert profile.get_json()["id"] == str(user.id)


def test_sign_in_ignores_the_case_of_the_email(acme):
    user = acme.create_user(
        Role.ADMIN, email=f"Mixed.{uuid.uuid4().hex[:6]}@Example.COM"
    )
    response = sign_in(acme, f"  {user.email.upper()} ", USER_PASSWORD)
    assert response.status_code == 200


def test_wrong_password_and_unknown_email_get_the_same_401(acme):
    user = acme.create_user(Role.STAFF)
    wrong_password = sign_in(acme, user.email, "not-the-password")
    wrong_email = sign_in(acme, unknown_email(), USER_PASSWORD)
    assert wrong_password.status_code == wrong_email.status_code == 401
    assert wrong_password.get_json() == wrong_email.get_json()
    assert wrong_password.get_json()["code"] == "unauthenticated"


def test_unknown_email_takes_about_as_long_as_a_wrong_password(acme):
    user = acme.create_user(Role.STAFF)
    sign_in(acme, unknown_email(), "warm-up")

    def seconds(email: str) -> float:
        start = time.perf_counter()
        assert sign_in(acme, email, "not-the-password").status_code == 401
        return time.perf_counter() - start

    wrong_password = statistics.median(seconds(user.email) for _ in range(3))
    wrong_email = statistics.median(seconds(unknown_email()) for _ in range(3))
    # Both verify one Argon2 hash, which dominates; without the dummy hash an
    # unknown email would answer many times faster.
    assert 0.4 < wrong_email / wrong_password < 2.5


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"password": "x"}, "email"),
        ({"email": "a@example.com"}, "password"),
        ({"email": 5, "password": "x"}, "email"),
        ({"email": "a@example.com", "password": ["x"]}, "password"),
        ({"email": "a@example.com", "password": "x", "remember": True}, "remember"),
    ],
)
def test_sign_in_rejects_a_bad_body_with_422(acme, body, field):
    response = acme.request("POST", TOKEN_PATH, role=None, json=body)
    assert response.status_code == 422
    assert field in response.get_json()["errors"]


def test_sign_in_is_not_served_on_platform_hosts(client):
    response = client.post(
        TOKEN_PATH,
        base_url=f"http://{PLATFORM_HOST}",
        json={"email": "owner@acme.example.com", "password": "whatever-1"},
    )
    assert response.status_code == 404


def test_repeated_failures_lock_the_email_with_429(acme):
    user = acme.create_user(Role.STAFF)
    for _ in range(auth_service.MAX_FAILURES):
        assert sign_in(acme, user.email, "not-the-password").status_code == 401
    response = sign_in(acme, user.email, USER_PASSWORD)
    assert response.status_code == 429
    assert response.get_json()["code"] == "too_many_requests"
    assert 0 < int(response.headers["Retry-After"]) <= 60


def test_unknown_emails_are_locked_alike(acme):
    email = unknown_email()
    for _ in range(auth_service.MAX_FAILURES):
        assert sign_in(acme, email, "not-the-password").status_code == 401
    assert sign_in(acme, email, "not-the-password").status_code == 429


def test_the_case_of_the_email_does_not_dodge_the_lock(acme):
    user = acme.create_user(Role.STAFF)
    for index in range(auth_service.MAX_FAILURES):
        email = user.email.upper() if index % 2 else user.email
        assert sign_in(acme, email, "not-the-password").status_code == 401
    assert sign_in(acme, user.email.upper(), USER_PASSWORD).status_code == 429


def test_a_lock_is_per_email_and_tenant(acme, globex):
    email = f"shared-{uuid.uuid4().hex[:8]}@example.com"
    acme.create_user(Role.STAFF, email=email)
    globex.create_user(Role.STAFF, email=email)
    neighbour = acme.create_user(Role.STAFF)
    for _ in range(auth_service.MAX_FAILURES):
        sign_in(acme, email, "not-the-password")
    assert sign_in(acme, email, USER_PASSWORD).status_code == 429
    assert sign_in(acme, neighbour.email, USER_PASSWORD).status_code == 200
    assert sign_in(globex, email, USER_PASSWORD).status_code == 200


def test_a_successful_sign_in_resets_the_count(acme):
    user = acme.create_user(Role.STAFF)
    for _ in range(auth_service.MAX_FAILURES - 1):
        sign_in(acme, user.email, "not-the-password")
    assert sign_in(acme, user.email, USER_PASSWORD).status_code == 200
    for _ in range(auth_service.MAX_FAILURES - 1):
        assert sign_in(acme, user.email, "not-the-password").status_code == 401
    assert sign_in(acme, user.email, USER_PASSWORD).status_code == 200


def test_a_lock_expires_and_the_next_failure_locks_twice_as_long(app, acme):
    user = acme.create_user(Role.STAFF)
    for _ in range(auth_service.MAX_FAILURES):
        sign_in(acme, user.email, "not-the-password")
    expire_lock(app, acme.tenant.id, user.email)
    assert sign_in(acme, user.email, "not-the-password").status_code == 401
    response = sign_in(acme, user.email, USER_PASSWORD)
    assert response.status_code == 429
    assert 60 < int(response.headers["Retry-After"]) <= 120
    expire_lock(app, acme.tenant.id, user.email)
    assert sign_in(acme, user.email, USER_PASSWORD).status_code == 200


def test_failures_count_across_processes(acme, other_app):
    second = other_app().test_client()
    user = acme.create_user(Role.STAFF)
    for index in range(auth_service.MAX_FAILURES):
        client = second if index % 2 else acme.client
        assert sign_in(acme, user.email, "wrong-password", client).status_code == 401
    assert sign_in(acme, user.email, USER_PASSWORD).status_code == 429
    assert sign_in(acme, user.email, USER_PASSWORD, second).status_code == 429


def test_token_of_another_tenant_is_refused(acme, globex):
    response = me(acme, globex.token(Role.OWNER))
    assert response.status_code == 401
    assert response.get_json()["code"] == "unauthenticated"
    assert response.headers["WWW-Authenticate"] == "Bearer"


def test_token_of_a_deleted_user_is_refused(acme):
    user = acme.create_user(Role.STAFF)
    token = sign_in(acme, user.email, USER_PASSWORD).get_json()["access_token"]
    assert me(acme, token).status_code == 200
    assert acme.request("DELETE", f"/api/v1/users/{user.id}").status_code == 204
    assert me(acme, token).status_code == 401


def test_token_ends_with_a_password_change(acme):
    user = acme.create_user(Role.STAFF)
    token = sign_in(acme, user.email, USER_PASSWORD).get_json()["access_token"]
    response = acme.request(
        "PATCH", f"/api/v1/users/{user.id}", json={"password": "a-new-password"}
    )
    assert response.status_code == 200
    assert me(acme, token).status_code == 401
    assert sign_in(acme, user.email, "a-new-password").status_code == 200


def test_expired_token_is_refused(acme, other_app):
    client = other_app(ACCESS_TOKEN_TTL=1).test_client()
    user = acme.create_user(Role.STAFF)
    body = sign_in(acme, user.email, USER_PASSWORD, client).get_json()
    assert body["expires_in"] == 1
    assert me(acme, body["access_token"], client).status_code == 200
    time.sleep(2.1)  # token timestamps have a resolution of one second
    assert me(acme, body["access_token"], client).status_code == 401


def test_token_signed_with_a_retired_key_is_accepted_while_it_is_a_fallback(
    acme, other_app
):
    token = acme.token(Role.STAFF)
    rotated = other_app(SECRET_KEY="new-key", SECRET_KEY_FALLBACKS=["test-secret-key"])
    assert me(acme, token, rotated.test_client()).status_code == 200
    retired = other_app(SECRET_KEY="new-key")
    assert me(acme, token, retired.test_client()).status_code == 401


@pytest.mark.parametrize(
    "authorization",
    [
        None,
        "",
        "Bearer",
        "Bearer ",
        "Basic b3duZXI6cGFzc3dvcmQ=",
        "Bearer not-a-token",
        "Bearer {token}x",
        "Token {token}",
    ],
)
def test_missing_or_malformed_tokens_get_401(acme, authorization):
    headers = {}
    if authorization is not None:
        headers["Authorization"] = authorization.format(token=acme.token(Role.OWNER))
    response = acme.request("GET", "/api/v1/me", role=None, headers=headers)
    assert response.status_code == 401
    assert response.get_json()["code"] == "unauthenticated"


def test_tenant_api_is_not_served_on_platform_hosts(client, acme):
    response = client.get(
        "/api/v1/me",
        base_url=f"http://{PLATFORM_HOST}",
        headers=acme.headers(Role.OWNER),
    )
    assert response.status_code == 404


def test_the_lock_never_exceeds_an_hour(app, acme):
    user = acme.create_user(Role.STAFF)
    sign_in(acme, user.email, "not-the-password")
    # As if a burst of parallel failures had all counted before any was locked.
    with app.app_context():
        db.session.execute(
            sa.update(LoginFailure)
            .where(LoginFailure.tenant_id == acme.tenant.id)
            .where(LoginFailure.email == user.email)
            .values(failures=5000)
        )
        db.session.commit()
    assert sign_in(acme, user.email, "not-the-password").status_code == 401
    response = sign_in(acme, user.email, USER_PASSWORD)
    assert response.status_code == 429
    assert 3500 < int(response.headers["Retry-After"]) <= 3600
