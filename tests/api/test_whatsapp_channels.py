from __future__ import annotations

import secrets
import uuid

import pytest

from pilar.db.extensions import db
from pilar.models import Role
from pilar.models import WhatsAppChannel
from pilar.models.whatsapp_channels import WA_CLOUD_API_SECRET_KEYS
from pilar.security.sealed import decrypt_secrets
from pilar.tenancy import tenant_scope

PATH = "/api/v1/whatsapp-channels"
ACCESS_TOKEN = "EAAG-wa-token-5d1e77"


def new_phone_number_id():
    return str(10**14 + secrets.randbelow(10**14))


def wa_config(**overrides):
    config = {
        "phone_number_id": new_phone_number_id(),
        "business_account_id": "102290129340398",
        "access_token": ACCESS_TOKEN,
        "api_version": "v21.0",
    }
    config.update(overrides)
    return {key: value for key, value in config.items() if value is not None}


def create(actions, wa_number, **body):
    response = actions.request("POST", PATH, json={"wa_number": wa_number, **body})
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def assert_no_secret(response):
    text = response.get_data(as_text=True)
    assert ACCESS_TOKEN not in text
    assert "gAAAAA" not in text  # nor the Fernet token that holds it


def test_create_channel_starts_pending_in_e164(acme, new_number):
    number = new_number()
    response = acme.request("POST", PATH, json={"wa_number": number})
    assert response.status_code == 201
    body = response.get_json()
    assert set(body) == {
        "id",
        "wa_number",
        "wa_cloud_api_config",
        "status",
        "created_at",
        "updated_at",
    }
    assert body["wa_number"] == number
    assert body["status"] == "PENDING"
    assert body["wa_cloud_api_config"] is None


def test_create_with_config_shows_which_secrets_are_set(acme, new_number):
    config = wa_config()
    response = acme.request(
        "POST", PATH, json={"wa_number": new_number(), "wa_cloud_api_config": config}
    )
    assert response.status_code == 201
    assert response.get_json()["wa_cloud_api_config"] == {
        "phone_number_id": config["phone_number_id"],
        "business_account_id": "102290129340398",
        "api_version": "v21.0",
        "secrets_set": ["access_token"],
    }
    assert_no_secret(response)


def test_secrets_are_absent_from_every_response(acme, new_number):
    created = create(acme, new_number(), wa_cloud_api_config=wa_config())
    item = f"{PATH}/{created['id']}"
    for method, path, body in [
        ("GET", PATH, None),
        ("GET", item, None),
        ("PATCH", item, {"status": "ACTIVE"}),
        ("PATCH", item, {"wa_cloud_api_config": wa_config(access_token=None)}),
    ]:
        response = acme.request(method, path, json=body)
        assert response.status_code == 200
        assert_no_secret(response)


def test_access_token_is_encrypted_and_kept_when_omitted(app, acme, new_number):
    created = create(acme, new_number(), wa_cloud_api_config=wa_config())
    response = acme.request(
        "PATCH",
        f"{PATH}/{created['id']}",
        json={"wa_cloud_api_config": wa_config(access_token=None, api_version=None)},
    )
    assert response.status_code == 200
    config = response.get_json()["wa_cloud_api_config"]
    assert config["secrets_set"] == ["access_token"]
    assert config["api_version"] is None
    with app.app_context(), tenant_scope(acme.tenant.domain):
        stored = db.session.get(WhatsAppChannel, uuid.UUID(created["id"]))
        assert stored is not None
        assert stored.wa_cloud_api_config is not None
        assert stored.wa_cloud_api_config["access_token"] != ACCESS_TOKEN
        plain = decrypt_secrets(stored.wa_cloud_api_config, WA_CLOUD_API_SECRET_KEYS)
    assert plain["access_token"] == ACCESS_TOKEN


def test_patch_config_needs_a_token_when_none_is_stored(acme, new_number):
    created = create(acme, new_number())
    response = acme.request(
        "PATCH",
        f"{PATH}/{created['id']}",
        json={"wa_cloud_api_config": wa_config(access_token=None)},
    )
    assert response.status_code == 422
    assert response.get_json()["errors"] == {
        "wa_cloud_api_config": {"access_token": ["Missing data for required field."]}
    }


@pytest.mark.parametrize("status", ["ACTIVE", "DISCONNECTED"])
def test_patch_changes_the_status(acme, new_number, status):
    created = create(acme, new_number())
    response = acme.request("PATCH", f"{PATH}/{created['id']}", json={"status": status})
    assert response.status_code == 200
    assert response.get_json()["status"] == status


def test_get_list_and_delete(acme, new_number):
    created = create(acme, new_number())
    item = f"{PATH}/{created['id']}"
    assert acme.request("GET", item).get_json() == created
    listed = acme.request("GET", PATH, query_string={"limit": 200}).get_json()
    assert created["id"] in {row["id"] for row in listed["items"]}
    assert acme.request("DELETE", item).status_code == 204
    assert acme.request("GET", item).status_code == 404


@pytest.mark.parametrize(
    "wa_number",
    [
        "12345",
        "+1234",
        "+1 800 FLOWERS",
        "",
        "+999 1234567",
        "+49 30 901820",
        "+4930123456789012",
        123,
        None,
    ],
)
def test_create_rejects_an_invalid_number(acme, wa_number):
    response = acme.request("POST", PATH, json={"wa_number": wa_number})
    assert response.status_code == 422
    assert "wa_number" in response.get_json()["errors"]


@pytest.mark.parametrize(
    ("config", "field"),
    [
        (wa_config(phone_number_id=None), "phone_number_id"),
        (wa_config(business_account_id=None), "business_account_id"),
        (wa_config(access_token=None), "access_token"),
        (wa_config(phone_number_id="12ab"), "phone_number_id"),
        (wa_config(phone_number_id="١٢٣"), "phone_number_id"),
        (wa_config(phone_number_id=""), "phone_number_id"),
        (wa_config(phone_number_id=123456), "phone_number_id"),
        (wa_config(phone_number_id="123456\n"), "phone_number_id"),
        (wa_config(business_account_id=""), "business_account_id"),
        (wa_config(api_version="latest"), "api_version"),
        (wa_config(api_version="v21.0\n"), "api_version"),
        (wa_config(webhook_url="https://example.com"), "webhook_url"),
    ],
)
def test_create_rejects_a_bad_config(acme, new_number, config, field):
    response = acme.request(
        "POST", PATH, json={"wa_number": new_number(), "wa_cloud_api_config": config}
    )
    assert response.status_code == 422
    assert field in response.get_json()["errors"]["wa_cloud_api_config"]
    assert_no_secret(response)


@pytest.mark.parametrize("field", ["status", "id", "extra"])
def test_create_rejects_unknown_or_read_only_fields(acme, new_number, field):
    response = acme.request("POST", PATH, json={"wa_number": new_number(), field: 1})
    assert response.status_code == 422
    assert field in response.get_json()["errors"]


@pytest.mark.parametrize(
    "body", [{"status": "ON"}, {"wa_number": "+1"}, {"wa_cloud_api_config": []}]
)
def test_patch_rejects_bad_fields(acme, new_number, body):
    created = create(acme, new_number())
    response = acme.request("PATCH", f"{PATH}/{created['id']}", json=body)
    assert response.status_code == 422
    assert set(response.get_json()["errors"]) == set(body)


def test_malformed_json_is_400(acme):
    response = acme.request("POST", PATH, data=b"{", content_type="application/json")
    assert response.status_code == 400


@pytest.mark.parametrize("role", [Role.OWNER, Role.ADMIN, Role.STAFF])
def test_every_role_may_read(acme, new_number, role):
    created = create(acme, new_number())
    assert acme.request("GET", PATH, role=role).status_code == 200
    response = acme.request("GET", f"{PATH}/{created['id']}", role=role)
    assert response.status_code == 200


@pytest.mark.parametrize("role", [Role.OWNER, Role.ADMIN])
def test_owner_and_admin_may_write(acme, new_number, role):
    response = acme.request("POST", PATH, role=role, json={"wa_number": new_number()})
    assert response.status_code == 201
    item = f"{PATH}/{response.get_json()['id']}"
    response = acme.request("PATCH", item, role=role, json={"status": "ACTIVE"})
    assert response.status_code == 200
    assert acme.request("DELETE", item, role=role).status_code == 204


@pytest.mark.parametrize(
    ("method", "on_item", "body"),
    [
        ("POST", False, {"wa_number": "+14155550100"}),
        ("PATCH", True, {"status": "ACTIVE"}),
        ("DELETE", True, None),
    ],
)
def test_staff_may_not_write(acme, new_number, method, on_item, body):
    created = create(acme, new_number())
    path = f"{PATH}/{created['id']}" if on_item else PATH
    response = acme.request(method, path, role=Role.STAFF, json=body)
    assert response.status_code == 403
    assert response.get_json()["code"] == "forbidden"
    assert acme.request("GET", f"{PATH}/{created['id']}").get_json() == created


@pytest.mark.parametrize(
    ("method", "body"),
    [("GET", None), ("PATCH", {"status": "ACTIVE"}), ("DELETE", None)],
)
def test_another_tenants_channel_is_not_found(acme, globex, new_number, method, body):
    created = create(acme, new_number())
    response = globex.request(method, f"{PATH}/{created['id']}", json=body)
    assert response.status_code == 404
    assert response.get_json()["code"] == "not_found"


def test_another_tenants_token_is_refused(acme, globex):
    response = globex.request(
        "GET", PATH, headers={"Authorization": f"Bearer {acme.token()}"}
    )
    assert response.status_code == 401


def test_malformed_id_is_404(acme):
    assert acme.request("DELETE", f"{PATH}/nope").status_code == 404


def test_openapi_documents_the_channel_endpoints(client):
    spec = client.get("/api/openapi.json").get_json()
    collection, item = spec["paths"][PATH], spec["paths"][PATH + "/{channel_id}"]
    assert set(collection) >= {"get", "post"}
    assert set(item) >= {"get", "patch", "delete"}
    for operation in [
        collection["get"],
        collection["post"],
        *map(item.get, ["get", "patch", "delete"]),
    ]:
        assert operation["security"] == [{"bearerAuth": []}]
        assert "401" in operation["responses"]
    config = spec["components"]["schemas"]["WaCloudApiConfigCreate"]
    assert config["properties"]["access_token"]["writeOnly"] is True
    assert set(config["required"]) == {
        "phone_number_id",
        "business_account_id",
        "access_token",
    }
