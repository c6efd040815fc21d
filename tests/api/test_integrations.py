from __future__ import annotations

import copy
import threading
import uuid
from typing import Any

import pytest
import sqlalchemy as sa

from pilar.db.extensions import db
from pilar.models import Role
from pilar.models import TenantIntegration
from pilar.models import TenantIntegrationType
from pilar.schemas.integrations import CONFIG_SCHEMAS
from pilar.schemas.integrations import secret_paths
from pilar.security.sealed import decrypt_secrets
from pilar.services.integrations import REQUIRED_SECRET_KEYS
from pilar.services.integrations import SECRET_KEYS

INTEGRATIONS = "/api/v1/integrations"
INTEGRATION_KEYS = {
    "id",
    "type",
    "config",
    "active",
    "secrets_set",
    "created_at",
    "updated_at",
}
PRIVATE_KEY = (
    "-----BEGIN PRIVATE KEY-----\nprivate-key-body\n-----END PRIVATE KEY-----\n"
)
CONFIGS: dict[str, dict[str, Any]] = {
    "magicline": {
        "tenant": "acme-fitness",
        "api_key": "magicline-api-key-value",
        "studio_id": 42,
        "environment": "sandbox",
    },
    "fitogram": {
        "provider_id": "0b8e3f5c-8a4e-4c1e-9d7a-2f6b1c3d4e5f",
        "api_key": "fitogram-api-key-value",
    },
    "google_calendar": {
        "calendar_id": "studio@group.calendar.google.com",
        "service_account": {
            "type": "service_account",
            "client_email": "sync@project.iam.gserviceaccount.com",
            "private_key": PRIVATE_KEY,
            "private_key_id": "private-key-id-value",
            "token_uri": "https://oauth2.googleapis.com/token",
        },
        "time_zone": "Europe/Berlin",
    },
    "csv": {
        "delimiter": ";",
        "encoding": "latin-1",
        "has_header": False,
        "column_map": {"email": "E-Mail", "name": "Name"},
    },
}
SECRETS_SET = {
    "magicline": ["api_key"],
    "fitogram": ["api_key"],
    "google_calendar": [
        "service_account.private_key",
        "service_account.private_key_id",
    ],
    "csv": [],
}
SECRET_VALUES = [
    b"magicline-api-key-value",
    b"fitogram-api-key-value",
    b"private-key-body",
    b"private-key-id-value",
]


@pytest.fixture(autouse=True)
def _no_integrations_left(app, tenant, other_tenant):
    # The session's tenants must stay as they were for the tests after these.
    yield
    with app.app_context():
        db.session.execute(
            sa.delete(TenantIntegration).where(
                TenantIntegration.tenant_id.in_([tenant.id, other_tenant.id])
            )
        )
        db.session.commit()


def put(actions, type_name: str, config: Any, role: Role = Role.OWNER, **body: Any):
    return actions.request(
        "PUT",
        f"{INTEGRATIONS}/{type_name}",
        role=role,
        json={"config": config, **body},
    )


def without_secrets(type_name: str, config: dict[str, Any]) -> dict[str, Any]:
    public = copy.deepcopy(config)
    for path in SECRETS_SET[type_name]:
        *parents, leaf = path.split(".")
        node = public
        for part in parents:
            node = node[part]
        node.pop(leaf)
    return public


def stored_config(app, tenant, type_: TenantIntegrationType) -> dict[str, Any] | None:
    with app.app_context():
        config: dict[str, Any] | None = db.session.scalar(
            sa.select(TenantIntegration.config).where(
                TenantIntegration.tenant_id == tenant.id,
                TenantIntegration.type == type_,
            )
        )
    return config


def assert_no_secrets(response) -> None:
    for value in SECRET_VALUES:
        assert value not in response.data


@pytest.mark.parametrize("type_name", list(CONFIGS))
def test_put_creates_then_replaces_an_integration(acme, type_name):
    created = put(acme, type_name, CONFIGS[type_name])
    assert created.status_code == 201
    body = created.get_json()
    assert set(body) == INTEGRATION_KEYS
    assert body["type"] == type_name.upper()
    assert body["config"] == without_secrets(type_name, CONFIGS[type_name])
    assert body["secrets_set"] == SECRETS_SET[type_name]
    assert body["active"] is True
    replaced = put(acme, type_name, CONFIGS[type_name], active=False)
    assert replaced.status_code == 200
    assert replaced.get_json()["id"] == body["id"]
    assert replaced.get_json()["active"] is False


@pytest.mark.parametrize("type_name", list(CONFIGS))
def test_secrets_are_absent_from_every_response(acme, type_name):
    responses = [
        put(acme, type_name, CONFIGS[type_name]),
        put(acme, type_name, CONFIGS[type_name]),
        acme.request("GET", f"{INTEGRATIONS}/{type_name}"),
        acme.request("GET", INTEGRATIONS),
    ]
    for response in responses:
        assert response.status_code in (200, 201)
        assert_no_secrets(response)


def test_secrets_are_absent_from_validation_errors(acme):
    config = {**CONFIGS["magicline"], "tenant": "Not A Name"}
    response = put(acme, "magicline", config)
    assert response.status_code == 422
    assert_no_secrets(response)


@pytest.mark.parametrize("type_name", ["magicline", "google_calendar"])
def test_secrets_are_encrypted_at_rest(app, acme, type_name):
    put(acme, type_name, CONFIGS[type_name])
    type_ = TenantIntegrationType[type_name.upper()]
    stored = stored_config(app, acme.tenant, type_)
    assert stored is not None
    for value in SECRET_VALUES:
        assert value.decode() not in repr(stored)
    with app.app_context():
        assert decrypt_secrets(stored, SECRET_KEYS[type_]) == CONFIGS[type_name]


def test_put_without_a_secret_keeps_the_stored_one(app, acme):
    put(acme, "magicline", CONFIGS["magicline"])
    config = {"tenant": "renamed-studio"}
    response = put(acme, "magicline", config)
    assert response.status_code == 200
    assert response.get_json()["config"] == config
    assert response.get_json()["secrets_set"] == ["api_key"]
    stored = stored_config(app, acme.tenant, TenantIntegrationType.MAGICLINE)
    assert stored is not None
    with app.app_context():
        plain = decrypt_secrets(stored, ("api_key",))
    assert plain == {"tenant": "renamed-studio", "api_key": "magicline-api-key-value"}


def test_put_without_a_nested_secret_keeps_the_stored_one(app, acme):
    put(acme, "google_calendar", CONFIGS["google_calendar"])
    config = copy.deepcopy(CONFIGS["google_calendar"])
    del config["service_account"]["private_key"]
    response = put(acme, "google_calendar", config)
    assert response.status_code == 200
    assert response.get_json()["secrets_set"] == SECRETS_SET["google_calendar"]
    stored = stored_config(app, acme.tenant, TenantIntegrationType.GOOGLE_CALENDAR)
    assert stored is not None
    with app.app_context():
        plain = decrypt_secrets(
            stored, SECRET_KEYS[TenantIntegrationType.GOOGLE_CALENDAR]
        )
    assert plain["service_account"]["private_key"] == PRIVATE_KEY


def test_put_with_a_new_secret_replaces_the_stored_one(app, acme):
    put(acme, "magicline", CONFIGS["magicline"])
    put(acme, "magicline", {**CONFIGS["magicline"], "api_key": "rotated-api-key"})
    stored = stored_config(app, acme.tenant, TenantIntegrationType.MAGICLINE)
    assert stored is not None
    with app.app_context():
        assert decrypt_secrets(stored, ("api_key",))["api_key"] == "rotated-api-key"


@pytest.mark.parametrize(
    ("type_name", "change", "secrets_left"),
    [
        ("fitogram", {"api_key": None}, []),
        (
            "google_calendar",
            {
                "service_account": {
                    **CONFIGS["google_calendar"]["service_account"],
                    "private_key_id": None,
                }
            },
            ["service_account.private_key"],
        ),
    ],
)
def test_null_removes_an_optional_secret(acme, type_name, change, secrets_left):
    put(acme, type_name, CONFIGS[type_name])
    response = put(acme, type_name, {**CONFIGS[type_name], **change})
    assert response.status_code == 200
    assert response.get_json()["secrets_set"] == secrets_left


def test_null_does_not_remove_a_required_secret(acme):
    put(acme, "magicline", CONFIGS["magicline"])
    response = put(acme, "magicline", {**CONFIGS["magicline"], "api_key": None})
    assert response.status_code == 422
    assert "api_key" in response.get_json()["errors"]["config"]


@pytest.mark.parametrize(
    ("type_name", "path"),
    [("magicline", "api_key"), ("google_calendar", "service_account.private_key")],
)
def test_a_new_integration_needs_its_required_secrets(acme, type_name, path):
    config = copy.deepcopy(CONFIGS[type_name])
    *parents, leaf = path.split(".")
    node = config
    for part in parents:
        node = node[part]
    del node[leaf]
    response = put(acme, type_name, config)
    assert response.status_code == 422
    errors = response.get_json()["errors"]["config"]
    for part in path.split("."):
        errors = errors[part]
    assert errors == ["Missing data for required field."]


def test_csv_fills_in_its_defaults(acme):
    response = put(acme, "csv", {})
    assert response.status_code == 201
    assert response.get_json()["config"] == {
        "delimiter": ",",
        "encoding": "utf-8",
        "has_header": True,
    }


@pytest.mark.parametrize(
    "config",
    [
        {"provider_slug": "acme-fitness"},
        {"provider_id": str(uuid.uuid4())},
        {"provider_id": str(uuid.uuid4()), "provider_slug": "acme"},
    ],
)
def test_fitogram_takes_a_provider_id_or_slug(acme, config):
    response = put(acme, "fitogram", config)
    assert response.status_code == 201
    assert response.get_json()["config"] == config
    assert response.get_json()["secrets_set"] == []


def _set(config: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    changed = copy.deepcopy(config)
    *parents, leaf = path.split(".")
    node = changed
    for part in parents:
        node = node[part]
    if value is _DELETE:
        del node[leaf]
    else:
        node[leaf] = value
    return changed


_DELETE = object()
INVALID = [
    ("magicline", "tenant", "Acme Fitness"),
    ("magicline", "tenant", "https://evil.example.com"),
    ("magicline", "tenant", "a" * 64),
    ("magicline", "tenant", ""),
    ("magicline", "tenant", _DELETE),
    ("magicline", "base_url", "https://evil.example.com"),
    ("magicline", "studio_id", "forty-two"),
    ("magicline", "studio_id", 0),
    ("magicline", "studio_id", 1.5),
    ("magicline", "environment", "staging"),
    ("magicline", "api_key", ""),
    ("magicline", "api_key", 12345),
    ("fitogram", "provider_id", "not-a-uuid"),
    ("fitogram", "provider_id", _DELETE),
    ("fitogram", "provider_slug", "no spaces/or slashes"),
    ("fitogram", "api_key", ["a", "list"]),
    ("fitogram", "url", "https://example.com"),
    ("google_calendar", "calendar_id", _DELETE),
    ("google_calendar", "calendar_id", ""),
    ("google_calendar", "service_account", _DELETE),
    ("google_calendar", "service_account", "not an object"),
    ("google_calendar", "service_account.type", "authorized_user"),
    ("google_calendar", "service_account.client_email", "not-an-email"),
    ("google_calendar", "service_account.client_email", _DELETE),
    ("google_calendar", "service_account.token_uri", "https://evil.example.com/t"),
    ("google_calendar", "service_account.token_uri", "http://oauth2.googleapis.com/t"),
    ("google_calendar", "service_account.token_uri", _DELETE),
    ("google_calendar", "service_account.project_id", "my-project"),
    ("google_calendar", "time_zone", "Mars/Olympus_Mons"),
    ("google_calendar", "time_zone", "../../etc/passwd"),
    ("google_calendar", "time_zone", 1),
    ("csv", "delimiter", ",,"),
    ("csv", "delimiter", ""),
    ("csv", "delimiter", "\n"),
    ("csv", "encoding", "klingon-8"),
    ("csv", "has_header", "maybe"),
    ("csv", "has_header", "no"),
    ("csv", "has_header", 0),
    ("csv", "column_map", {"email": 5}),
    ("csv", "column_map", ["email"]),
    ("csv", "quotechar", "'"),
]


@pytest.mark.parametrize(("type_name", "path", "value"), INVALID)
def test_put_rejects_an_invalid_config_with_422(acme, type_name, path, value):
    response = put(acme, type_name, _set(CONFIGS[type_name], path, value))
    assert response.status_code == 422
    body = response.get_json()
    assert body["code"] == "validation_error"
    errors = body["errors"]["config"]
    first = path.split(".")[0]
    # Fitogram names both keys when neither is given.
    assert first in errors or (type_name == "fitogram" and "provider_slug" in errors)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "config"),
        ({"config": None}, "config"),
        ({"config": ["tenant"]}, "config"),
        ({"config": "tenant=acme"}, "config"),
        ({"config": CONFIGS["csv"], "active": "maybe"}, "active"),
        ({"config": CONFIGS["csv"], "active": "yes"}, "active"),
        ({"config": CONFIGS["csv"], "active": 1}, "active"),
        ({"config": CONFIGS["csv"], "type": "MAGICLINE"}, "type"),
    ],
)
def test_put_rejects_a_bad_body_with_422(acme, body, field):
    response = acme.request("PUT", f"{INTEGRATIONS}/csv", json=body)
    assert response.status_code == 422
    assert field in response.get_json()["errors"]


def test_get_shows_one_integration(acme):
    put(acme, "csv", CONFIGS["csv"])
    response = acme.request("GET", f"{INTEGRATIONS}/csv", role=Role.ADMIN)
    assert response.status_code == 200
    assert response.get_json()["config"] == CONFIGS["csv"]


def test_get_of_an_integration_not_set_up_is_404(acme):
    response = acme.request("GET", f"{INTEGRATIONS}/magicline")
    assert response.status_code == 404
    assert response.get_json()["code"] == "not_found"


@pytest.mark.parametrize("type_name", ["salesforce", "MAGICLINE", "Magicline", "csv2"])
def test_an_unknown_type_is_404(acme, type_name):
    for method in ("GET", "PUT", "DELETE"):
        body: dict[str, Any] | None = {"config": {}} if method == "PUT" else None
        response = acme.request(method, f"{INTEGRATIONS}/{type_name}", json=body)
        assert response.status_code == 404
        assert response.get_json()["code"] == "not_found"


def test_list_shows_the_integrations_set_up_newest_first(acme):
    put(acme, "csv", CONFIGS["csv"])
    put(acme, "magicline", CONFIGS["magicline"])
    first = acme.request("GET", INTEGRATIONS, query_string={"limit": 1}).get_json()
    assert [item["type"] for item in first["items"]] == ["MAGICLINE"]
    assert first["items"][0]["secrets_set"] == ["api_key"]
    second = acme.request(
        "GET", INTEGRATIONS, query_string={"limit": 1, "cursor": first["next_cursor"]}
    ).get_json()
    assert [item["type"] for item in second["items"]] == ["CSV"]
    assert second["next_cursor"] is None


def test_list_is_empty_when_nothing_is_set_up(acme):
    response = acme.request("GET", INTEGRATIONS)
    assert response.status_code == 200
    assert response.get_json() == {"items": [], "next_cursor": None}


def test_delete_removes_an_integration(app, acme):
    put(acme, "magicline", CONFIGS["magicline"])
    response = acme.request("DELETE", f"{INTEGRATIONS}/magicline", role=Role.ADMIN)
    assert response.status_code == 204
    assert acme.request("GET", f"{INTEGRATIONS}/magicline").status_code == 404
    assert stored_config(app, acme.tenant, TenantIntegrationType.MAGICLINE) is None
    assert acme.request("DELETE", f"{INTEGRATIONS}/magicline").status_code == 404


def test_admin_may_set_up_integrations(acme):
    response = put(acme, "magicline", CONFIGS["magicline"], role=Role.ADMIN)
    assert response.status_code == 201


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("GET", INTEGRATIONS, None),
        ("GET", f"{INTEGRATIONS}/csv", None),
        ("PUT", f"{INTEGRATIONS}/csv", {"config": {}}),
        ("PUT", f"{INTEGRATIONS}/csv", {"config": "invalid"}),
        ("DELETE", f"{INTEGRATIONS}/csv", None),
    ],
)
def test_staff_may_not_use_the_integrations_api(acme, method, path, body):
    put(acme, "csv", CONFIGS["csv"])
    response = acme.request(method, path, role=Role.STAFF, json=body)
    assert response.status_code == 403
    assert response.get_json()["code"] == "forbidden"
    assert acme.request("GET", f"{INTEGRATIONS}/csv").status_code == 200


def test_integrations_of_another_tenant_are_not_found(acme, globex):
    put(acme, "magicline", CONFIGS["magicline"])
    assert globex.request("GET", f"{INTEGRATIONS}/magicline").status_code == 404
    assert globex.request("DELETE", f"{INTEGRATIONS}/magicline").status_code == 404
    assert globex.request("GET", INTEGRATIONS).get_json()["items"] == []
    assert acme.request("GET", f"{INTEGRATIONS}/magicline").status_code == 200


def test_another_tenants_token_is_refused_on_the_integrations_api(acme, globex):
    response = acme.request(
        "GET", f"{INTEGRATIONS}/magicline", headers=globex.headers(Role.OWNER)
    )
    assert response.status_code == 401


def test_each_tenant_has_its_own_integration_of_a_type(acme, globex):
    put(acme, "magicline", CONFIGS["magicline"])
    other = {**CONFIGS["magicline"], "tenant": "globex-gym"}
    assert put(globex, "magicline", other).status_code == 201
    mine = acme.request("GET", f"{INTEGRATIONS}/magicline").get_json()
    assert mine["config"]["tenant"] == "acme-fitness"


@pytest.mark.parametrize("type_", list(TenantIntegrationType))
def test_the_secret_keys_of_schema_and_service_agree(type_):
    schema = CONFIG_SCHEMAS[type_]()
    assert set(secret_paths(schema)) == set(SECRET_KEYS[type_])
    required = {path for path in secret_paths(schema) if _field(schema, path).required}
    assert required == set(REQUIRED_SECRET_KEYS[type_])


def _field(schema: Any, path: str) -> Any:
    *parents, leaf = path.split(".")
    for part in parents:
        schema = schema.fields[part].schema
    return schema.fields[leaf]


def test_concurrent_first_puts_create_one_integration(app, acme):
    headers = acme.headers(Role.OWNER)
    barrier = threading.Barrier(4)
    statuses: list[int] = []

    def put_csv(delimiter: str) -> None:
        client = app.test_client()
        barrier.wait()
        response = client.put(
            f"{INTEGRATIONS}/csv",
            base_url=f"http://{acme.tenant.domain}",
            headers=headers,
            json={"config": {"delimiter": delimiter}},
        )
        statuses.append(response.status_code)

    threads = [threading.Thread(target=put_csv, args=(d,)) for d in ",;|\t"]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(statuses) == [200, 200, 200, 201]
    listed = acme.request("GET", INTEGRATIONS).get_json()["items"]
    assert [item["type"] for item in listed] == ["CSV"]
