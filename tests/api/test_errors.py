from __future__ import annotations

import io
import json
import re
import uuid

import pytest

from pilar.models import Role
from pilar.services.auth import MAX_FAILURES
from tests.api.conftest import TenantActions
from tests.conftest import ADMIN_TOKEN
from tests.conftest import UNKNOWN_ID
from tests.conftest import make_app

ENVELOPE_KEYS = {"code", "status", "message"}
ONE_MIB = 1024 * 1024
TOKEN = "/api/v1/auth/token"
USERS = "/api/v1/users"
JSON_ENDPOINTS = [
    ("POST", TOKEN),
    ("POST", USERS),
    ("PATCH", f"{USERS}/{{user_id}}"),
    ("PUT", "/api/v1/integrations/csv"),
]


def send(acme: TenantActions, method: str, path: str, **kwargs):
    path = path.format(user_id=acme.create_user(Role.STAFF).id)
    return acme.request(method, path, **kwargs)


def assert_envelope(response, status: int, code: str) -> None:
    assert response.status_code == status
    assert response.mimetype == "application/json"
    body = response.get_json()
    assert ENVELOPE_KEYS <= set(body) <= ENVELOPE_KEYS | {"errors"}
    assert body["status"] == status
    assert body["code"] == code
    assert re.fullmatch(r"[a-z]+(_[a-z]+)*", body["code"])
    assert body["message"]


@pytest.mark.parametrize(("method", "path"), JSON_ENDPOINTS)
@pytest.mark.parametrize(
    "data",
    [b"{", b'{"email": }', b"not json", b"{'single': 'quotes'}", b'{"a": "\xff"}'],
)
def test_malformed_json_gets_400(acme, method, path, data):
    response = send(acme, method, path, data=data, content_type="application/json")
    assert_envelope(response, 400, "bad_request")


@pytest.mark.parametrize(("method", "path"), JSON_ENDPOINTS)
def test_json_nested_too_deeply_gets_400(acme, method, path):
    data = "[" * 100_000 + "]" * 100_000
    response = send(acme, method, path, data=data, content_type="application/json")
    assert_envelope(response, 400, "bad_request")


@pytest.mark.parametrize(("method", "path"), JSON_ENDPOINTS)
@pytest.mark.parametrize("body", [[], ["email"], "text", 42, None, True])
def test_json_that_is_not_an_object_gets_422(acme, method, path, body):
    data = json.dumps(body)
    response = send(acme, method, path, data=data, content_type="application/json")
    assert_envelope(response, 422, "validation_error")


@pytest.mark.parametrize(("method", "path"), JSON_ENDPOINTS)
def test_a_body_over_one_mib_gets_413(acme, method, path):
    data = b'{"email": "' + b"a" * ONE_MIB + b'"}'
    response = send(acme, method, path, data=data, content_type="application/json")
    assert_envelope(response, 413, "payload_too_large")
    assert response.get_json()["message"] == "The request body is larger than 1 MiB."


def test_a_413_names_the_configured_limit(database_url):
    app = make_app(database_url, MAX_CONTENT_LENGTH=2 * ONE_MIB)
    response = app.test_client().post(
        "/api/v1/tenants",
        data=b"{" + b" " * 2 * ONE_MIB + b"}",
        content_type="application/json",
        headers={"Host": "localhost", "Authorization": f"Bearer {ADMIN_TOKEN}"},
    )
    assert_envelope(response, 413, "payload_too_large")
    assert response.get_json()["message"] == "The request body is larger than 2 MiB."


def test_a_streamed_body_over_one_mib_gets_413(acme):
    # No Content-Length: the limit applies while the body is read.
    response = acme.request(
        "POST",
        USERS,
        input_stream=io.BytesIO(b'{"email": "' + b"a" * ONE_MIB + b'"}'),
        content_type="application/json",
        headers={"Transfer-Encoding": "chunked"},
        # What a server sets for a chunked body, as gunicorn does.
        environ_overrides={"wsgi.input_terminated": True},
    )
    assert_envelope(response, 413, "payload_too_large")
    assert_envelope(response, 413, "payload_too_large")


def test_a_streamed_body_of_exactly_one_mib_is_read(acme):
    prefix = b'{"email": "a@example.com", "password": "'
    data = prefix + b"p" * (ONE_MIB - len(prefix) - 2) + b'"}'
    assert len(data) == ONE_MIB
    response = acme.request(
        "POST",
        TOKEN,
        role=None,
        input_stream=io.BytesIO(data),
        content_type="application/json",
        headers={"Transfer-Encoding": "chunked"},
        environ_overrides={"wsgi.input_terminated": True},
    )
    assert_envelope(response, 422, "validation_error")  # read: the password is too long


def test_a_body_just_under_one_mib_is_read(acme):
    padding = ONE_MIB - 200
    data = b'{"email": "a@example.com", "password": "' + b"p" * padding + b'"}'
    response = acme.request(
        "POST", TOKEN, role=None, data=data, content_type="application/json"
    )
    assert_envelope(response, 422, "validation_error")  # the password is too long


@pytest.mark.parametrize(("method", "path"), JSON_ENDPOINTS)
@pytest.mark.parametrize(
    "content_type", ["text/plain", "application/x-www-form-urlencoded", None]
)
def test_a_body_that_is_not_json_gets_415(acme, method, path, content_type):
    response = send(
        acme, method, path, data="email=a@example.com", content_type=content_type
    )
    assert_envelope(response, 415, "unsupported_media_type")


def test_an_empty_body_needs_no_content_type(acme):
    user = acme.create_user(Role.STAFF)
    response = acme.request("PATCH", f"{USERS}/{user.id}")
    assert response.status_code == 200


@pytest.mark.parametrize(
    ("method", "path", "body", "field"),
    [
        ("POST", TOKEN, {"email": ["a"], "password": "x"}, "email"),
        ("POST", USERS, {"email": {"a": 1}, "password": "password-1"}, "email"),
        ("POST", USERS, {"email": "a@example.com", "password": None}, "password"),
        ("PATCH", f"{USERS}/{{user_id}}", {"role": 3}, "role"),
        ("PUT", "/api/v1/integrations/csv", {"config": {}, "active": []}, "active"),
    ],
)
def test_wrong_types_get_422_naming_the_field(acme, method, path, body, field):
    response = send(acme, method, path, json=body)
    assert_envelope(response, 422, "validation_error")
    assert field in response.get_json()["errors"]


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("POST", TOKEN, {"email": "a\u0000@example.com", "password": "password-1"}),
        (
            "PUT",
            "/api/v1/integrations/csv",
            {"config": {"column_map": {"a\u0000": "b"}}},
        ),
    ],
)
def test_a_nul_character_gets_a_4xx(acme, method, path, body):
    response = acme.request(method, path, json=body)
    assert_envelope(response, 422, "validation_error")


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/nothing-here",
        "/api/v1/users/not-a-uuid",
        f"/api/v1/users/{UNKNOWN_ID}/extra",
        "/api/v1/integrations/unknown",
        "/api/v2/users",
    ],
)
def test_unknown_routes_and_malformed_ids_get_404(acme, path):
    assert_envelope(acme.request("GET", path), 404, "not_found")


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", TOKEN),
        ("DELETE", "/api/v1/me"),
        ("PUT", USERS),
        ("POST", f"{USERS}/{UNKNOWN_ID}"),
        ("PATCH", "/api/v1/integrations/csv"),
    ],
)
def test_a_method_not_allowed_gets_405_with_allow(acme, method, path):
    response = acme.request(method, path)
    assert_envelope(response, 405, "method_not_allowed")
    assert response.headers["Allow"]


def test_429_carries_retry_after(acme):
    email = f"locked-{uuid.uuid4().hex[:8]}@example.com"
    body = {"email": email, "password": "wrong-password"}
    for _ in range(MAX_FAILURES):
        acme.request("POST", TOKEN, role=None, json=body)
    response = acme.request("POST", TOKEN, role=None, json=body)
    assert_envelope(response, 429, "too_many_requests")
    assert int(response.headers["Retry-After"]) > 0


def test_401_and_403_use_the_envelope(acme):
    assert_envelope(acme.request("GET", USERS, role=None), 401, "unauthenticated")
    assert_envelope(acme.request("GET", USERS, role=Role.STAFF), 403, "forbidden")


PATHS = {
    "/api/v1/auth/token": {"post"},
    "/api/v1/me": {"get"},
    "/api/v1/users": {"get", "post"},
    "/api/v1/users/{user_id}": {"get", "patch", "delete"},
    "/api/v1/integrations": {"get"},
    **{
        f"/api/v1/integrations/{type_name}": {"get", "put", "delete"}
        for type_name in ("magicline", "fitogram", "google_calendar", "csv")
    },
}


def test_openapi_documents_every_endpoint_with_security_and_errors(client, acme):
    document = acme.request("GET", "/api/openapi.json", role=None).get_json()
    error_ref = "#/components/schemas/Error"
    assert set(document["components"]["schemas"]["Error"]["properties"]) == {
        "code",
        "status",
        "message",
        "errors",
    }
    health = document["paths"]["/healthz"]["get"]["responses"]
    for status in ("200", "503"):
        assert health[status]["content"]["application/json"]["schema"] == {
            "$ref": "#/components/schemas/Health"
        }
    assert set(document["components"]["schemas"]["Error"]["required"]) == {
        "code",
        "status",
        "message",
    }
    for path, methods in PATHS.items():
        assert set(document["paths"][path]) - {"parameters"} == methods
        for method in methods:
            operation = document["paths"][path][method]
            assert operation["summary"]
            errors = {
                status: response
                for status, response in operation["responses"].items()
                if status.startswith("4")
            }
            assert errors, (path, method)
            for response in errors.values():
                content = response.get("content", {}).get("application/json", {})
                assert "$ref" in response or content["schema"]["$ref"] == error_ref
            if path != "/api/v1/auth/token":
                assert operation["security"] == [{"bearerAuth": []}]
                assert "401" in operation["responses"]


def test_openapi_documents_each_integration_config(acme):
    document = acme.request("GET", "/api/openapi.json", role=None).get_json()
    schemas = document["components"]["schemas"]
    for name in ("MagiclineConfig", "FitogramConfig", "GoogleCalendarConfig"):
        assert name in schemas
    assert schemas["MagiclineConfig"]["properties"]["api_key"]["writeOnly"] is True
    # A PUT may omit a stored secret, so the document requires none.
    assert schemas["MagiclineConfig"]["required"] == ["tenant"]
    assert set(schemas["ServiceAccount"]["required"]) == {"client_email", "token_uri"}
    assert schemas["FitogramConfig"]["anyOf"] == [
        {"required": ["provider_id"]},
        {"required": ["provider_slug"]},
    ]
    assert schemas["CsvConfig"]["properties"]["delimiter"]["default"] == ","
    # A path per type: the body of a PUT names that type's config schema.
    for type_name, name in (
        ("magicline", "Magicline"),
        ("fitogram", "Fitogram"),
        ("google_calendar", "GoogleCalendar"),
        ("csv", "Csv"),
    ):
        operation = document["paths"][f"/api/v1/integrations/{type_name}"]["put"]
        body = operation["requestBody"]["content"]["application/json"]["schema"]
        put = schemas[body["$ref"].rpartition("/")[2]]
        assert put["properties"]["config"]["allOf"] == [
            {"$ref": f"#/components/schemas/{name}Config"}
        ]


def test_an_integer_too_long_to_decode_gets_400(acme):
    body = '{"plan": {"reps": ' + "9" * 5000 + "}}"
    response = acme.request(
        "POST", "/api/v1/workout-plans", data=body, content_type="application/json"
    )
    assert response.status_code == 400
    assert response.get_json()["code"] == "bad_request"


def test_openapi_documents_every_error_of_the_platform_and_of_bodies(platform):
    document = platform.request("GET", "/api/openapi.json").get_json()
    error = {"$ref": "#/components/schemas/Error"}
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            if method == "parameters" or path == "/healthz":
                continue
            responses = operation["responses"]
            for status, response in responses.items():
                if status.startswith("4") and "$ref" not in response:
                    schema = response["content"]["application/json"]["schema"]
                    assert schema == error, (path, method, status)
            if "requestBody" in operation:
                # Webhooks verify the raw body's signature whatever its
                # Content-Type: they never answer 415.
                webhook = path.startswith("/webhooks/")
                expected = {"400", "413"} if webhook else {"400", "413", "415"}
                assert expected <= set(responses), (path, method)
            if path.startswith("/api/v1/tenants"):
                assert operation["security"] == [{"platformToken": []}]
                assert "401" in responses, (path, method)
