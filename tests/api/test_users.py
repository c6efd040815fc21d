from __future__ import annotations

import threading
import uuid
from typing import Any

import pytest
import sqlalchemy as sa

from pilar.api.auth import issue_token
from pilar.db.extensions import db
from pilar.models import Role
from pilar.models import TenantUser
from tests.api.conftest import TenantActions
from tests.conftest import UNKNOWN_ID
from tests.users import USER_PASSWORD

USERS = "/api/v1/users"
USER_KEYS = {"id", "email", "role", "created_at", "updated_at"}


@pytest.fixture
def studio(app, client, make_tenant) -> TenantActions:
    """A throwaway tenant; its first OWNER is the one ``studio.token()`` creates."""
    return TenantActions(app, client, make_tenant())


def new_email() -> str:
    return f"user-{uuid.uuid4().hex[:8]}@example.com"


def token_for(actions: TenantActions, user: TenantUser) -> dict[str, str]:
    with actions.app.app_context():
        return {"Authorization": f"Bearer {issue_token(user)[0]}"}


def owner_ids(actions: TenantActions) -> set[uuid.UUID]:
    with actions.app.app_context():
        return set(
            db.session.scalars(
                sa.select(TenantUser.id).where(
                    TenantUser.tenant_id == actions.tenant.id,
                    TenantUser.role == Role.OWNER,
                )
            )
        )


def all_pages(actions: TenantActions, limit: int) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    cursor = None
    while True:
        query = {"limit": limit} | ({"cursor": cursor} if cursor else {})
        response = actions.request("GET", USERS, query_string=query)
        assert response.status_code == 200
        body = response.get_json()
        assert set(body) == {"items", "next_cursor"}
        items += body["items"]
        cursor = body["next_cursor"]
        if cursor is None:
            return items


def test_list_users_walks_every_user_once_newest_first(studio):
    studio.token(Role.OWNER)
    created = [studio.create_user(Role.STAFF) for _ in range(5)]
    items = all_pages(studio, limit=2)
    ids = [item["id"] for item in items]
    assert len(ids) == len(set(ids)) == 6
    assert {str(user.id) for user in created} <= set(ids)
    assert [item["created_at"] for item in items] == sorted(
        (item["created_at"] for item in items), reverse=True
    )
    assert all(set(item) == USER_KEYS for item in items)


def test_list_users_shows_only_the_tenants_own_users(acme, globex):
    neighbour = globex.create_user(Role.STAFF)
    ids = {item["id"] for item in all_pages(acme, limit=200)}
    assert str(neighbour.id) not in ids


@pytest.mark.parametrize(
    "query", [{"limit": 0}, {"limit": 201}, {"limit": "x"}, {"cursor": "garbage"}]
)
def test_list_users_rejects_a_bad_limit_or_cursor(acme, query):
    response = acme.request("GET", USERS, query_string=query)
    assert response.status_code == 422
    assert set(response.get_json()["errors"]) <= {"limit", "cursor"}


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("GET", USERS, None),
        ("POST", USERS, {"email": "new@example.com", "password": "password-1"}),
        ("POST", USERS, {"nonsense": True}),
        ("GET", f"{USERS}/{UNKNOWN_ID}", None),
        ("PATCH", f"{USERS}/{UNKNOWN_ID}", {"role": "OWNER"}),
        ("DELETE", f"{USERS}/{UNKNOWN_ID}", None),
    ],
)
def test_staff_may_not_use_the_users_api(acme, method, path, body):
    response = acme.request(method, path, role=Role.STAFF, json=body)
    assert response.status_code == 403
    assert response.get_json()["code"] == "forbidden"


@pytest.mark.parametrize("role", [Role.OWNER, Role.ADMIN])
def test_create_user_returns_the_user_who_can_then_sign_in(acme, role):
    email = new_email()
    response = acme.request(
        "POST",
        USERS,
        role=role,
        json={"email": email, "password": "password-1", "role": "ADMIN"},
    )
    assert response.status_code == 201
    body = response.get_json()
    assert set(body) == USER_KEYS
    assert body["email"] == email
    assert body["role"] == "ADMIN"
    assert b"password-1" not in response.data
    assert b"argon2" not in response.data
    signed_in = acme.request(
        "POST",
        "/api/v1/auth/token",
        role=None,
        json={"email": email, "password": "password-1"},
    )
    assert signed_in.status_code == 200


def test_create_user_makes_staff_by_default(acme):
    response = acme.request(
        "POST", USERS, json={"email": new_email(), "password": "password-1"}
    )
    assert response.status_code == 201
    assert response.get_json()["role"] == "STAFF"


def test_create_user_takes_an_email_at_rfc_5321_limits(acme):
    email = f"{'a' * 60}{uuid.uuid4().hex[:4]}@example.com"  # 64 before the @
    response = acme.request(
        "POST", USERS, json={"email": email, "password": "password-1"}
    )
    assert response.status_code == 201
    assert response.get_json()["email"] == email


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"password": "password-1"}, "email"),
        ({"email": "user@example.com"}, "password"),
        ({"email": "not-an-email", "password": "password-1"}, "email"),
        ({"email": f"{'a' * 320}@example.com", "password": "password-1"}, "email"),
        # RFC 5321 allows 64 characters before the @.
        ({"email": f"{'a' * 65}@example.com", "password": "password-1"}, "email"),
        ({"email": 42, "password": "password-1"}, "email"),
        ({"email": "user@example.com", "password": "seven77"}, "password"),
        ({"email": "user@example.com", "password": 12345678}, "password"),
        ({"email": "u@example.com", "password": "password-1", "role": "KING"}, "role"),
        ({"email": "u@example.com", "password": "password-1", "role": "admin"}, "role"),
        ({"email": "u@example.com", "password": "password-1", "age": 3}, "age"),
    ],
)
def test_create_user_rejects_bad_input_with_422(acme, body, field):
    response = acme.request("POST", USERS, json=body)
    assert response.status_code == 422
    body = response.get_json()
    assert body["code"] == "validation_error"
    assert field in body["errors"]


def test_create_user_rejects_a_taken_email_whatever_its_case(acme):
    email = new_email()
    acme.create_user(Role.STAFF, email=email)
    response = acme.request(
        "POST", USERS, json={"email": email.upper(), "password": "password-1"}
    )
    assert response.status_code == 409
    assert response.get_json()["code"] == "conflict"
    assert "email" in response.get_json()["errors"]


def test_an_email_of_another_tenant_is_free(acme, globex):
    email = new_email()
    globex.create_user(Role.STAFF, email=email)
    response = acme.request(
        "POST", USERS, json={"email": email, "password": "password-1"}
    )
    assert response.status_code == 201


def test_admin_cannot_create_an_owner(acme):
    body = {"email": new_email(), "password": "password-1", "role": "OWNER"}
    response = acme.request("POST", USERS, role=Role.ADMIN, json=body)
    assert response.status_code == 403


def test_owner_can_create_an_owner(acme):
    body = {"email": new_email(), "password": "password-1", "role": "OWNER"}
    response = acme.request("POST", USERS, role=Role.OWNER, json=body)
    assert response.status_code == 201
    assert response.get_json()["role"] == "OWNER"


@pytest.mark.parametrize("role", [Role.OWNER, Role.ADMIN])
def test_get_user_shows_one_user(acme, role):
    user = acme.create_user(Role.STAFF)
    response = acme.request("GET", f"{USERS}/{user.id}", role=role)
    assert response.status_code == 200
    assert response.get_json()["id"] == str(user.id)
    assert set(response.get_json()) == USER_KEYS


@pytest.mark.parametrize("method", ["GET", "PATCH", "DELETE"])
def test_a_user_of_another_tenant_is_not_found(acme, globex, method):
    neighbour = globex.create_user(Role.STAFF)
    body = {"role": "ADMIN"} if method == "PATCH" else None
    response = acme.request(method, f"{USERS}/{neighbour.id}", json=body)
    assert response.status_code == 404
    assert response.get_json()["code"] == "not_found"
    still_there = globex.request("GET", f"{USERS}/{neighbour.id}")
    assert still_there.get_json()["role"] == "STAFF"


@pytest.mark.parametrize("user_id", ["not-a-uuid", "123", UNKNOWN_ID])
def test_an_unknown_or_malformed_user_id_is_not_found(acme, user_id):
    response = acme.request("GET", f"{USERS}/{user_id}")
    assert response.status_code == 404
    assert response.get_json()["code"] == "not_found"


def test_another_tenants_token_is_refused_on_the_users_api(acme, globex):
    response = acme.request("GET", USERS, headers=globex.headers(Role.OWNER))
    assert response.status_code == 401


def test_update_user_changes_email_and_role(acme):
    user = acme.create_user(Role.STAFF)
    email = new_email()
    response = acme.request(
        "PATCH",
        f"{USERS}/{user.id}",
        role=Role.ADMIN,
        json={"email": email, "role": "ADMIN"},
    )
    assert response.status_code == 200
    body = response.get_json()
    assert (body["email"], body["role"]) == (email, "ADMIN")
    assert body["updated_at"] > body["created_at"]


def test_update_user_changes_the_password(acme):
    user = acme.create_user(Role.STAFF)
    response = acme.request(
        "PATCH", f"{USERS}/{user.id}", json={"password": "another-password"}
    )
    assert response.status_code == 200
    assert b"another-password" not in response.data
    signed_in = acme.request(
        "POST",
        "/api/v1/auth/token",
        role=None,
        json={"email": user.email, "password": USER_PASSWORD},
    )
    assert signed_in.status_code == 401


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"email": "nope"}, "email"),
        ({"password": "short"}, "password"),
        ({"role": "ROOT"}, "role"),
        ({"role": None}, "role"),
        ({"id": str(uuid.uuid4())}, "id"),
        ({"password_hash": "x"}, "password_hash"),
    ],
)
def test_update_user_rejects_bad_input_with_422(acme, body, field):
    user = acme.create_user(Role.STAFF)
    response = acme.request("PATCH", f"{USERS}/{user.id}", json=body)
    assert response.status_code == 422
    assert field in response.get_json()["errors"]


def test_update_user_rejects_a_taken_email(acme):
    taken = acme.create_user(Role.STAFF)
    user = acme.create_user(Role.STAFF)
    response = acme.request(
        "PATCH", f"{USERS}/{user.id}", json={"email": taken.email.upper()}
    )
    assert response.status_code == 409


def test_admin_cannot_change_an_owner(acme):
    owner = acme.create_user(Role.OWNER)
    response = acme.request(
        "PATCH", f"{USERS}/{owner.id}", role=Role.ADMIN, json={"email": new_email()}
    )
    assert response.status_code == 403


def test_admin_cannot_make_an_owner(acme):
    user = acme.create_user(Role.STAFF)
    response = acme.request(
        "PATCH", f"{USERS}/{user.id}", role=Role.ADMIN, json={"role": "OWNER"}
    )
    assert response.status_code == 403
    assert acme.request("GET", f"{USERS}/{user.id}").get_json()["role"] == "STAFF"


def test_owner_can_make_an_owner(acme):
    user = acme.create_user(Role.ADMIN)
    response = acme.request("PATCH", f"{USERS}/{user.id}", json={"role": "OWNER"})
    assert response.status_code == 200
    assert response.get_json()["role"] == "OWNER"


def test_the_last_owner_cannot_be_demoted(studio):
    studio.token(Role.OWNER)
    (owner_id,) = owner_ids(studio)
    response = studio.request("PATCH", f"{USERS}/{owner_id}", json={"role": "ADMIN"})
    assert response.status_code == 409
    assert response.get_json()["code"] == "conflict"
    assert owner_ids(studio) == {owner_id}


def test_an_owner_can_be_demoted_while_another_remains(studio):
    studio.token(Role.OWNER)
    other = studio.create_user(Role.OWNER)
    response = studio.request("PATCH", f"{USERS}/{other.id}", json={"role": "STAFF"})
    assert response.status_code == 200
    assert other.id not in owner_ids(studio)


def test_forbidden_is_reported_before_conflict(studio):
    studio.token(Role.OWNER)
    (owner_id,) = owner_ids(studio)
    for method, body in (("PATCH", {"role": "ADMIN"}), ("DELETE", None)):
        response = studio.request(
            method, f"{USERS}/{owner_id}", role=Role.ADMIN, json=body
        )
        assert response.status_code == 403


def test_delete_user_removes_them(acme):
    user = acme.create_user(Role.STAFF)
    response = acme.request("DELETE", f"{USERS}/{user.id}", role=Role.ADMIN)
    assert response.status_code == 204
    assert response.data == b""
    assert acme.request("GET", f"{USERS}/{user.id}").status_code == 404
    assert acme.request("DELETE", f"{USERS}/{user.id}").status_code == 404


def test_admin_cannot_delete_an_owner(acme):
    owner = acme.create_user(Role.OWNER)
    response = acme.request("DELETE", f"{USERS}/{owner.id}", role=Role.ADMIN)
    assert response.status_code == 403
    assert acme.request("GET", f"{USERS}/{owner.id}").status_code == 200


def test_the_last_owner_cannot_be_deleted(studio):
    studio.token(Role.OWNER)
    (owner_id,) = owner_ids(studio)
    response = studio.request("DELETE", f"{USERS}/{owner_id}")
    assert response.status_code == 409
    assert owner_ids(studio) == {owner_id}


def test_an_owner_can_delete_another_owner(studio):
    studio.token(Role.OWNER)
    other = studio.create_user(Role.OWNER)
    assert studio.request("DELETE", f"{USERS}/{other.id}").status_code == 204
    assert len(owner_ids(studio)) == 1


@pytest.mark.parametrize(
    ("method", "body", "status"),
    [("PATCH", {"role": "ADMIN"}, 200), ("DELETE", None, 204)],
)
def test_the_last_two_owners_stepping_down_at_once_leave_one_owner(
    app, studio, method, body, status
):
    # Each OWNER removes themselves, so both pass the role check whichever
    # commits first; only the row locks keep the second from succeeding too.
    owners = [studio.create_user(Role.OWNER) for _ in range(2)]
    barrier = threading.Barrier(len(owners))
    statuses: list[int] = []

    def step_down(owner: TenantUser) -> None:
        client = app.test_client()
        headers = token_for(studio, owner)
        barrier.wait()
        response = client.open(
            f"{USERS}/{owner.id}",
            method=method,
            base_url=f"http://{studio.tenant.domain}",
            headers=headers,
            json=body,
        )
        statuses.append(response.status_code)

    threads = [threading.Thread(target=step_down, args=(o,)) for o in owners]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(statuses) == [status, 409]
    assert len(owner_ids(studio)) == 1
