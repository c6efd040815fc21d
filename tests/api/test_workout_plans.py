from __future__ import annotations

import pytest

from pilar.models import Role
from tests.api.conftest import TenantActions
from tests.conftest import UNKNOWN_ID

PATH = "/api/v1/workout-plans"
PLAN = {"name": "Strength A", "days": [{"day": 1, "exercises": ["squat", "press"]}]}


def create(actions, **body):
    response = actions.request("POST", PATH, json={"plan": PLAN, **body})
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def test_create_workout_plan_for_a_member(acme):
    response = acme.request("POST", PATH, json={"user_id": "member-42", "plan": PLAN})
    assert response.status_code == 201
    body = response.get_json()
    assert set(body) == {"id", "user_id", "plan", "created_at", "updated_at"}
    assert (body["user_id"], body["plan"]) == ("member-42", PLAN)
    assert acme.request("GET", f"{PATH}/{body['id']}").get_json() == body


def test_create_workout_plan_without_a_member(acme):
    body = create(acme)
    assert body["user_id"] is None


def test_patch_replaces_the_plan_and_may_clear_the_member(acme):
    created = create(acme, user_id="member-1")
    response = acme.request(
        "PATCH",
        f"{PATH}/{created['id']}",
        json={"plan": {"rest": True}, "user_id": None},
    )
    assert response.status_code == 200
    body = response.get_json()
    assert (body["plan"], body["user_id"]) == ({"rest": True}, None)
    assert body["updated_at"] >= created["updated_at"]


def test_empty_patch_changes_nothing(acme):
    created = create(acme)
    response = acme.request("PATCH", f"{PATH}/{created['id']}", json={})
    assert response.status_code == 200
    assert response.get_json()["plan"] == created["plan"]


def test_delete_workout_plan(acme):
    created = create(acme)
    assert acme.request("DELETE", f"{PATH}/{created['id']}").status_code == 204
    assert acme.request("GET", f"{PATH}/{created['id']}").status_code == 404


def test_list_filters_by_user_id(app, client, make_tenant):
    studio = TenantActions(app, client, make_tenant())
    mine = [create(studio, user_id="member-7") for _ in range(2)]
    create(studio, user_id="member-8")
    create(studio)
    response = studio.request("GET", PATH, query_string={"user_id": "member-7"})
    assert response.status_code == 200
    assert [row["id"] for row in response.get_json()["items"]] == [
        mine[1]["id"],
        mine[0]["id"],
    ]
    assert len(studio.request("GET", PATH).get_json()["items"]) == 4


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "plan"),
        ({"plan": None}, "plan"),
        ({"plan": []}, "plan"),
        ({"plan": "squats"}, "plan"),
        ({"plan": {"x": "\u0000"}}, "plan"),
        ({"plan": PLAN, "user_id": 42}, "user_id"),
        ({"plan": PLAN, "user_id": ""}, "user_id"),
        ({"plan": PLAN, "user_id": "x" * 256}, "user_id"),
        ({"plan": PLAN, "user_id": "a\u0000b"}, "user_id"),
        ({"plan": PLAN, "member": "x"}, "member"),
        ({"plan": PLAN, "created_at": "2026-01-01T00:00:00Z"}, "created_at"),
    ],
)
def test_create_validates_the_body(acme, body, field):
    response = acme.request("POST", PATH, json=body)
    assert response.status_code == 422
    assert field in response.get_json()["errors"]


@pytest.mark.parametrize(
    "body", [{"plan": None}, {"plan": [1]}, {"user_id": 1}, {"other": 1}]
)
def test_patch_validates_the_body(acme, body):
    created = create(acme)
    response = acme.request("PATCH", f"{PATH}/{created['id']}", json=body)
    assert response.status_code == 422
    assert set(response.get_json()["errors"]) == set(body)


@pytest.mark.parametrize(
    "query", [{"user_id": ""}, {"limit": -1}, {"limit": 1.5}, {"cursor": "%%%"}]
)
def test_list_rejects_bad_query_arguments(acme, query):
    response = acme.request("GET", PATH, query_string=query)
    assert response.status_code == 422
    assert set(query) & set(response.get_json()["errors"])


def test_malformed_json_is_400(acme):
    response = acme.request(
        "POST", PATH, data=b'{"plan": {]}', content_type="application/json"
    )
    assert response.status_code == 400


@pytest.mark.parametrize("role", [Role.OWNER, Role.ADMIN, Role.STAFF])
def test_every_role_may_do_everything(acme, role):
    response = acme.request("POST", PATH, role=role, json={"plan": PLAN})
    assert response.status_code == 201
    item = f"{PATH}/{response.get_json()['id']}"
    assert acme.request("GET", PATH, role=role).status_code == 200
    assert acme.request("GET", item, role=role).status_code == 200
    assert acme.request("PATCH", item, role=role, json={"plan": {}}).status_code == 200
    assert acme.request("DELETE", item, role=role).status_code == 204


@pytest.mark.parametrize(
    ("method", "body"), [("GET", None), ("PATCH", {"plan": {}}), ("DELETE", None)]
)
def test_another_tenants_workout_plan_is_not_found(acme, globex, method, body):
    created = create(acme)
    response = globex.request(method, f"{PATH}/{created['id']}", json=body)
    assert response.status_code == 404
    assert acme.request("GET", f"{PATH}/{created['id']}").get_json() == created


def test_another_tenants_token_is_refused(acme, globex):
    response = globex.request(
        "GET", PATH, headers={"Authorization": f"Bearer {acme.token()}"}
    )
    assert response.status_code == 401


@pytest.mark.parametrize("item", ["abc", UNKNOWN_ID])
def test_unknown_or_malformed_id_is_404(acme, item):
    assert acme.request("PATCH", f"{PATH}/{item}", json={}).status_code == 404


def test_openapi_documents_the_workout_plan_endpoints(client):
    spec = client.get("/api/openapi.json").get_json()
    item = spec["paths"][PATH + "/{workout_plan_id}"]
    for method in ("get", "patch", "delete"):
        assert item[method]["security"] == [{"bearerAuth": []}]
        assert "404" in item[method]["responses"]
    assert spec["components"]["schemas"]["WorkoutPlanCreate"]["required"] == ["plan"]
