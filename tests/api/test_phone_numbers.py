from __future__ import annotations

import uuid

import pytest
import sqlalchemy as sa

from pilar.db.extensions import db
from pilar.models import PhoneNumber
from pilar.models import Role
from pilar.models.phone_numbers import SIP_SECRET_KEYS
from pilar.security.sealed import decrypt_secrets
from pilar.tenancy import tenant_scope
from tests.conftest import UNKNOWN_ID

PATH = "/api/v1/phone-numbers"
SIP_PASSWORD = "sip-pass-7f3a9c"


def sip(**overrides):
    credentials = {
        "username": "studio-trunk",
        "password": SIP_PASSWORD,
        "registrar": "sip.example.com",
    }
    credentials.update(overrides)
    return {key: value for key, value in credentials.items() if value is not None}


def create(actions, number, **body):
    response = actions.request("POST", PATH, json={"number": number, **body})
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def assert_no_secret(response):
    text = response.get_data(as_text=True)
    assert SIP_PASSWORD not in text
    assert "gAAAAA" not in text  # nor the Fernet token that holds it


def test_create_phone_number_starts_pending_in_e164(acme, new_number):
    number = new_number()
    response = acme.request("POST", PATH, json={"number": number})
    assert response.status_code == 201
    body = response.get_json()
    assert set(body) == {
        "id",
        "number",
        "sip_credentials",
        "status",
        "created_at",
        "updated_at",
    }
    assert body["number"] == number
    assert body["status"] == "PENDING"
    assert body["sip_credentials"] is None


def test_create_with_sip_credentials_shows_which_secrets_are_set(acme, new_number):
    response = acme.request(
        "POST", PATH, json={"number": new_number(), "sip_credentials": sip()}
    )
    assert response.status_code == 201
    assert response.get_json()["sip_credentials"] == {
        "username": "studio-trunk",
        "registrar": "sip.example.com",
        "port": 5060,
        "transport": "udp",
        "secrets_set": ["password"],
    }
    assert_no_secret(response)


def test_secrets_are_absent_from_every_response(acme, new_number):
    created = create(acme, new_number(), sip_credentials=sip(transport="tls"))
    item = f"{PATH}/{created['id']}"
    for method, path, body in [
        ("GET", PATH, None),
        ("GET", item, None),
        ("PATCH", item, {"status": "ACTIVE"}),
        ("PATCH", item, {"sip_credentials": sip(port=5061)}),
    ]:
        response = acme.request(method, path, json=body)
        assert response.status_code == 200
        assert_no_secret(response)


def test_password_is_encrypted_at_rest(app, acme, new_number):
    created = create(acme, new_number(), sip_credentials=sip())
    with app.app_context(), tenant_scope(acme.tenant.domain):
        stored = db.session.get(PhoneNumber, uuid.UUID(created["id"]))
        assert stored is not None
        assert stored.sip_credentials is not None
        assert stored.sip_credentials["password"] != SIP_PASSWORD
        plain = decrypt_secrets(stored.sip_credentials, SIP_SECRET_KEYS)
    assert plain["password"] == SIP_PASSWORD


def test_patch_without_password_keeps_the_stored_one(app, acme, new_number):
    created = create(acme, new_number(), sip_credentials=sip())
    response = acme.request(
        "PATCH",
        f"{PATH}/{created['id']}",
        json={"sip_credentials": sip(password=None, username="renamed")},
    )
    assert response.status_code == 200
    assert response.get_json()["sip_credentials"]["username"] == "renamed"
    assert response.get_json()["sip_credentials"]["secrets_set"] == ["password"]
    with app.app_context(), tenant_scope(acme.tenant.domain):
        stored = db.session.get(PhoneNumber, uuid.UUID(created["id"]))
        assert stored is not None
        assert stored.sip_credentials is not None
        plain = decrypt_secrets(stored.sip_credentials, SIP_SECRET_KEYS)
    assert plain["password"] == SIP_PASSWORD
    assert plain["username"] == "renamed"


def test_patch_sip_credentials_needs_a_password_when_none_is_stored(acme, new_number):
    created = create(acme, new_number())
    response = acme.request(
        "PATCH", f"{PATH}/{created['id']}", json={"sip_credentials": sip(password=None)}
    )
    assert response.status_code == 422
    assert response.get_json()["errors"] == {
        "sip_credentials": {"password": ["Missing data for required field."]}
    }


def test_patch_null_removes_the_credentials(acme, new_number):
    created = create(acme, new_number(), sip_credentials=sip())
    response = acme.request(
        "PATCH", f"{PATH}/{created['id']}", json={"sip_credentials": None}
    )
    assert response.status_code == 200
    assert response.get_json()["sip_credentials"] is None


@pytest.mark.parametrize("status", ["ACTIVE", "DISCONNECTED", "PENDING"])
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
    response = acme.request("DELETE", item)
    assert response.status_code == 204
    assert response.get_data() == b""
    assert acme.request("GET", item).status_code == 404


@pytest.mark.parametrize(
    "number",
    [
        "12345",
        "4930901820",
        "+1234",
        "+49 30 ABC",
        "+1 800 FLOWERS",
        "+14155552671 ext. 12",
        "+1234567890123456",
        "+999 1234567",
        # Valid numbers, but not as E.164 writes them.
        "+49 30 901820",
        "+49-30-901820",
        "+49(30)901820",
        "+49.30.901820",
        " +4930901820",
        # 16 digits, which libphonenumber judges a valid German number.
        "+4930123456789012",
        "",
        "not a number",
        "+49\x0030901820",
        4930901820,
        None,
        ["+4930901820"],
    ],
)
def test_create_rejects_an_invalid_number(acme, number):
    response = acme.request("POST", PATH, json={"number": number})
    assert response.status_code == 422
    body = response.get_json()
    assert body["code"] == "validation_error"
    assert "number" in body["errors"]


def test_create_needs_a_number(acme):
    response = acme.request("POST", PATH, json={})
    assert response.status_code == 422
    assert response.get_json()["errors"] == {
        "number": ["Missing data for required field."]
    }


@pytest.mark.parametrize(
    ("credentials", "field"),
    [
        (sip(username=None), "username"),
        (sip(password=None), "password"),
        (sip(registrar=None), "registrar"),
        (sip(username=""), "username"),
        (sip(registrar="not a host"), "registrar"),
        (sip(registrar="https://sip.example.com"), "registrar"),
        (sip(registrar="localhost"), "registrar"),
        (sip(port=0), "port"),
        (sip(port=65536), "port"),
        (sip(port="5060"), "port"),
        (sip(port=5060.5), "port"),
        (sip(port=True), "port"),
        (sip(transport="sctp"), "transport"),
        (sip(transport="UDP"), "transport"),
        (sip(realm="example.com"), "realm"),
    ],
)
def test_create_rejects_bad_sip_credentials(acme, new_number, credentials, field):
    response = acme.request(
        "POST", PATH, json={"number": new_number(), "sip_credentials": credentials}
    )
    assert response.status_code == 422
    assert field in response.get_json()["errors"]["sip_credentials"]
    assert_no_secret(response)


@pytest.mark.parametrize("registrar", ["sip.example.com", "192.0.2.10", "2001:db8::1"])
@pytest.mark.parametrize("transport", ["udp", "tcp", "tls"])
def test_create_accepts_sip_hosts_and_transports(
    acme, new_number, registrar, transport
):
    created = create(
        acme,
        new_number(),
        sip_credentials=sip(registrar=registrar, transport=transport, port=65535),
    )
    assert created["sip_credentials"]["registrar"] == registrar
    assert created["sip_credentials"]["transport"] == transport
    assert created["sip_credentials"]["port"] == 65535


@pytest.mark.parametrize("field", ["status", "id", "tenant_id", "extra"])
def test_create_rejects_unknown_or_read_only_fields(acme, new_number, field):
    response = acme.request("POST", PATH, json={"number": new_number(), field: "x"})
    assert response.status_code == 422
    assert field in response.get_json()["errors"]


@pytest.mark.parametrize(
    "body",
    [
        {"status": "LIVE"},
        {"status": "active"},
        {"status": None},
        {"number": None},
        {"number": "+1"},
        {"sip_credentials": "user:pass@host"},
        {"extra": 1},
    ],
)
def test_patch_rejects_bad_fields(acme, new_number, body):
    created = create(acme, new_number())
    response = acme.request("PATCH", f"{PATH}/{created['id']}", json=body)
    assert response.status_code == 422
    assert set(response.get_json()["errors"]) == set(body)


def test_malformed_json_is_400(acme):
    response = acme.request(
        "POST", PATH, data=b'{"number": ', content_type="application/json"
    )
    assert response.status_code == 400
    assert response.get_json()["code"] == "bad_request"


@pytest.mark.parametrize("body", [[], "x", 1, None])
def test_body_that_is_not_an_object_is_422(acme, body):
    response = acme.request("POST", PATH, json=body)
    assert response.status_code == 422


@pytest.mark.parametrize("role", [Role.OWNER, Role.ADMIN, Role.STAFF])
def test_every_role_may_read(acme, new_number, role):
    created = create(acme, new_number())
    assert acme.request("GET", PATH, role=role).status_code == 200
    response = acme.request("GET", f"{PATH}/{created['id']}", role=role)
    assert response.status_code == 200


@pytest.mark.parametrize("role", [Role.OWNER, Role.ADMIN])
def test_owner_and_admin_may_write(acme, new_number, role):
    response = acme.request("POST", PATH, role=role, json={"number": new_number()})
    assert response.status_code == 201
    item = f"{PATH}/{response.get_json()['id']}"
    response = acme.request("PATCH", item, role=role, json={"status": "ACTIVE"})
    assert response.status_code == 200
    assert acme.request("DELETE", item, role=role).status_code == 204


@pytest.mark.parametrize(
    ("method", "on_item", "body"),
    [
        ("POST", False, {"number": "+14155550100"}),
        ("POST", False, {"bogus": True}),
        ("PATCH", True, {"status": "ACTIVE"}),
        ("PATCH", True, {"number": "junk"}),
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


def test_staff_gets_403_before_a_conflict(acme, new_number):
    taken = create(acme, new_number())["number"]
    response = acme.request("POST", PATH, role=Role.STAFF, json={"number": taken})
    assert response.status_code == 403


@pytest.mark.parametrize(
    ("method", "body"),
    [("GET", None), ("PATCH", {"status": "ACTIVE"}), ("DELETE", None)],
)
def test_another_tenants_phone_number_is_not_found(
    acme, globex, new_number, method, body
):
    created = create(acme, new_number())
    response = globex.request(method, f"{PATH}/{created['id']}", json=body)
    assert response.status_code == 404
    assert response.get_json()["code"] == "not_found"
    assert created["id"] not in str(globex.request("GET", PATH).get_json())


@pytest.mark.parametrize("method", ["GET", "POST"])
def test_another_tenants_token_is_refused(acme, globex, new_number, method):
    response = globex.request(
        method,
        PATH,
        headers={"Authorization": f"Bearer {acme.token()}"},
        json={"number": new_number()},
    )
    assert response.status_code == 401
    assert response.get_json()["code"] == "unauthenticated"


def test_requests_without_a_token_are_refused(acme):
    response = acme.request("GET", PATH, role=None)
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == "Bearer"


@pytest.mark.parametrize("item", ["not-a-uuid", "123", UNKNOWN_ID])
def test_unknown_or_malformed_id_is_404(acme, item):
    response = acme.request("GET", f"{PATH}/{item}")
    assert response.status_code == 404
    assert response.get_json()["status"] == 404


def test_phone_numbers_are_not_served_on_platform_hosts(platform):
    response = platform.request("GET", PATH)
    assert response.status_code == 404


def test_openapi_documents_the_phone_number_endpoints(client):
    spec = client.get("/api/openapi.json").get_json()
    collection, item = spec["paths"][PATH], spec["paths"][PATH + "/{phone_number_id}"]
    operations = [*collection.values(), *item.values()]
    operations = [op for op in operations if isinstance(op, dict) and "responses" in op]
    assert len(operations) == 5
    for operation in operations:
        assert operation["security"] == [{"bearerAuth": []}]
        assert "401" in operation["responses"]
    assert {"403", "409", "422"} <= set(collection["post"]["responses"])
    assert {"403", "404", "409", "422"} <= set(item["patch"]["responses"])
    create_schema = spec["components"]["schemas"]["SipCredentialsCreate"]
    assert create_schema["properties"]["password"]["writeOnly"] is True
    output = spec["components"]["schemas"]["SipCredentials"]
    assert "password" not in output["properties"]
    assert "secrets_set" in output["properties"]


def test_phone_numbers_table_holds_e164_numbers_only(app, acme, new_number):
    created = create(acme, new_number())
    with app.app_context(), tenant_scope(acme.tenant.domain):
        stored = db.session.scalar(
            sa.select(PhoneNumber.number).where(
                PhoneNumber.id == uuid.UUID(created["id"])
            )
        )
    assert stored == created["number"]
