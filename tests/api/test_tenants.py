from __future__ import annotations

import uuid

import pytest
import sqlalchemy as sa

from pilar.db.extensions import db
from pilar.models import TenantUser
from pilar.security.passwords import verify_password
from pilar.tenancy.fleet.migrations import head_revision
from tests.conftest import UNKNOWN_ID
from tests.conftest import make_app
from tests.conftest import unique_domain

TENANT_KEYS = {
    "id",
    "name",
    "domain",
    "schema_name",
    "status",
    "node",
    "created_at",
    "updated_at",
}


@pytest.fixture
def created(platform):
    """Tenants created through the API in a test; deleted after it."""
    ids: list[str] = []

    def create(**body):
        body.setdefault("name", "Studio")
        body.setdefault("domain", unique_domain())
        tenant = platform.create_tenant(**body)
        ids.append(tenant["id"])
        return tenant

    yield create
    for tenant_id in ids:
        platform.request("DELETE", f"/api/v1/tenants/{tenant_id}")


def _schema_exists(app, name):
    with app.app_context():
        return name in sa.inspect(db.engine).get_schema_names()


def test_create_tenant_returns_the_tenant_and_builds_its_schema(app, created):
    domain = unique_domain("berlin")
    tenant = created(name="Berlin", domain=domain.upper())
    assert set(tenant) == TENANT_KEYS
    assert tenant["domain"] == domain
    assert tenant["schema_name"] == domain.split(".")[0]
    assert tenant["status"] == "ACTIVE"
    assert tenant["created_at"].endswith("+00:00")
    with app.app_context():
        tables = set(
            sa.inspect(db.engine).get_table_names(schema=tenant["schema_name"])
        )
    assert {
        "phone_numbers",
        "whatsapp_channels",
        "conversations",
        "workout_plans",
    } <= tables


def test_create_tenant_with_owner_hashes_the_password(app, created):
    tenant = created(owner={"email": "Owner@Example.com", "password": "s3cret-pass"})
    with app.app_context():
        owner = db.session.scalar(
            sa.select(TenantUser).where(TenantUser.tenant_id == uuid.UUID(tenant["id"]))
        )
        assert owner is not None
        assert owner.role.value == "OWNER"
        assert owner.password_hash != "s3cret-pass"
        assert verify_password(owner.password_hash, "s3cret-pass")


def test_create_tenant_takes_null_for_optional_fields(created):
    tenant = created(schema_name=None, owner=None)
    assert tenant["schema_name"]


def test_create_tenant_with_explicit_schema_name(created):
    name = f"s_{uuid.uuid4().hex[:8]}"
    assert created(schema_name=name)["schema_name"] == name


def test_derived_schema_names_stay_unique(created):
    label = f"twin{uuid.uuid4().hex[:6]}"
    first = created(domain=f"{label}.example.com")
    second = created(domain=f"{label}.example.org")
    assert (first["schema_name"], second["schema_name"]) == (label, f"{label}_2")


def test_duplicate_domain_gets_409(platform, created):
    tenant = created()
    response = platform.request(
        "POST", "/api/v1/tenants", json={"name": "Again", "domain": tenant["domain"]}
    )
    assert response.status_code == 409
    assert response.get_json()["code"] == "conflict"


def test_duplicate_schema_name_gets_409(platform, created):
    tenant = created()
    response = platform.request(
        "POST",
        "/api/v1/tenants",
        json={
            "name": "X",
            "domain": unique_domain(),
            "schema_name": tenant["schema_name"],
        },
    )
    assert response.status_code == 409
    assert "schema_name" in response.get_json()["errors"]


def test_schema_name_of_an_existing_non_tenant_schema_gets_422(platform, app):
    name = f"other_{uuid.uuid4().hex[:8]}"
    with app.app_context(), db.engine.begin() as conn:
        conn.execute(sa.schema.CreateSchema(name))
    try:
        response = platform.request(
            "POST",
            "/api/v1/tenants",
            json={"name": "X", "domain": unique_domain(), "schema_name": name},
        )
        assert response.status_code == 422
        assert "schema_name" in response.get_json()["errors"]
    finally:
        with app.app_context(), db.engine.begin() as conn:
            conn.execute(sa.schema.DropSchema(name))


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"domain": "a.example.com"}, "name"),
        ({"name": "X"}, "domain"),
        ({"name": "X", "domain": "not a host"}, "domain"),
        ({"name": "X", "domain": "single"}, "domain"),
        ({"name": "X", "domain": "localhost"}, "domain"),
        ({"name": "X", "domain": "platform.test"}, "domain"),
        ({"name": "", "domain": "a.example.com"}, "name"),
        ({"name": 5, "domain": "a.example.com"}, "name"),
        ({"name": "X", "domain": "a.example.com", "extra": 1}, "extra"),
        ({"name": "X", "domain": "a.example.com", "owner": {"email": "nope"}}, "owner"),
        (
            {
                "name": "X",
                "domain": "a.example.com",
                "owner": {"email": "a@b.de", "password": "short"},
            },
            "owner",
        ),
        (
            {
                "name": "X",
                "domain": "a.example.com",
                "owner": {"email": f"{'a' * 65}@b.de", "password": "long-enough"},
            },
            "owner",
        ),
    ],
)
def test_invalid_tenant_gets_422_naming_the_field(platform, body, field):
    response = platform.request("POST", "/api/v1/tenants", json=body)
    assert response.status_code == 422
    body = response.get_json()
    assert body["code"] == "validation_error"
    assert field in body["errors"]


def test_malformed_json_gets_400(platform):
    response = platform.request(
        "POST", "/api/v1/tenants", data="{nope", content_type="application/json"
    )
    assert response.status_code == 400
    assert response.get_json()["code"] == "bad_request"


def test_get_tenant_includes_its_revision(platform, created, app):
    tenant = created()
    response = platform.request("GET", f"/api/v1/tenants/{tenant['id']}")
    assert response.status_code == 200
    body = response.get_json()
    assert body["revision"] == head_revision(app.config["TENANT_MIGRATIONS_DIR"])
    assert set(body) == TENANT_KEYS | {"revision"}


@pytest.mark.parametrize(
    "path", [f"/api/v1/tenants/{UNKNOWN_ID}", "/api/v1/tenants/not-a-uuid"]
)
def test_unknown_or_malformed_tenant_id_gets_404(platform, path):
    response = platform.request("GET", path)
    assert response.status_code == 404
    assert response.get_json()["status"] == 404


def test_patch_changes_name_domain_and_status(platform, created, client):
    tenant = created()
    new_domain = unique_domain("moved")
    response = platform.request(
        "PATCH",
        f"/api/v1/tenants/{tenant['id']}",
        json={"name": "Renamed", "domain": new_domain, "status": "SUSPENDED"},
    )
    assert response.status_code == 200
    body = response.get_json()
    assert (body["name"], body["domain"], body["status"]) == (
        "Renamed",
        new_domain,
        "SUSPENDED",
    )
    assert (
        client.get("/x", headers={"Host": tenant["domain"]}).get_json()["code"]
        == "tenant_not_found"
    )
    assert (
        client.get("/x", headers={"Host": new_domain}).get_json()["code"]
        == "tenant_suspended"
    )


def test_patch_to_a_taken_domain_gets_409(platform, created):
    first, second = created(), created()
    response = platform.request(
        "PATCH", f"/api/v1/tenants/{first['id']}", json={"domain": second["domain"]}
    )
    assert response.status_code == 409


@pytest.mark.parametrize("name", ["", "   ", "x" * 201])
def test_patch_refuses_a_name_create_refuses(platform, created, name):
    tenant = created()
    response = platform.request(
        "PATCH", f"/api/v1/tenants/{tenant['id']}", json={"name": name}
    )
    assert response.status_code == 422
    assert "name" in response.get_json()["errors"]


def test_patch_trims_the_name_as_create_does(platform, created):
    tenant = created()
    response = platform.request(
        "PATCH", f"/api/v1/tenants/{tenant['id']}", json={"name": "  Padded  "}
    )
    assert response.get_json()["name"] == "Padded"


def test_patch_rejects_unknown_fields_and_schema_name(platform, created):
    tenant = created()
    response = platform.request(
        "PATCH", f"/api/v1/tenants/{tenant['id']}", json={"schema_name": "elsewhere"}
    )
    assert response.status_code == 422


def test_delete_drops_schema_and_rows(platform, created, app, client):
    tenant = created(owner={"email": "o@example.com", "password": "password1"})
    response = platform.request("DELETE", f"/api/v1/tenants/{tenant['id']}")
    assert response.status_code == 204
    assert not _schema_exists(app, tenant["schema_name"])
    with app.app_context():
        users = db.session.scalar(
            sa.select(sa.func.count())
            .select_from(TenantUser)
            .where(TenantUser.tenant_id == uuid.UUID(tenant["id"]))
        )
    assert users == 0
    assert platform.request("GET", f"/api/v1/tenants/{tenant['id']}").status_code == 404
    assert (
        client.get("/x", headers={"Host": tenant["domain"]}).get_json()["code"]
        == "tenant_not_found"
    )


def test_list_filters_by_status_and_domain(platform, created):
    active, suspended = created(), created()
    platform.request(
        "PATCH", f"/api/v1/tenants/{suspended['id']}", json={"status": "SUSPENDED"}
    )
    listed = platform.request(
        "GET", "/api/v1/tenants", query_string={"status": "SUSPENDED", "limit": 200}
    )
    ids = {item["id"] for item in listed.get_json()["items"]}
    assert suspended["id"] in ids
    assert active["id"] not in ids
    by_domain = platform.request(
        "GET", "/api/v1/tenants", query_string={"domain": active["domain"].upper()}
    )
    assert [item["id"] for item in by_domain.get_json()["items"]] == [active["id"]]


def test_list_pages_walk_every_tenant_once_newest_first(platform, created):
    mine = {created()["id"] for _ in range(5)}
    seen: list[str] = []
    cursor = None
    while True:
        query = {"limit": 2} | ({"cursor": cursor} if cursor else {})
        page = platform.request("GET", "/api/v1/tenants", query_string=query).get_json()
        assert len(page["items"]) <= 2
        seen += [item["id"] for item in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert len(seen) == len(set(seen))
    assert mine <= set(seen)


@pytest.mark.parametrize(
    "query",
    [
        {"limit": 0},
        {"limit": 201},
        {"limit": "x"},
        {"cursor": "garbage"},
        {"status": "GONE"},
    ],
)
def test_bad_list_arguments_get_422(platform, query):
    response = platform.request("GET", "/api/v1/tenants", query_string=query)
    assert response.status_code == 422
    assert response.get_json()["code"] == "validation_error"


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer wrong"},
        {"Authorization": "Basic dGVzdA=="},
        {"Authorization": "Bearer"},
    ],
)
def test_platform_api_needs_the_admin_token(client, headers):
    response = client.get("/api/v1/tenants", headers=headers)
    assert response.status_code == 401
    assert response.get_json()["code"] == "unauthenticated"
    assert response.headers["WWW-Authenticate"] == "Bearer"


def test_platform_api_refuses_everyone_without_a_configured_token(database_url):
    app = make_app(database_url, ADMIN_TOKEN=None)
    response = app.test_client().get(
        "/api/v1/tenants", headers={"Authorization": "Bearer None"}
    )
    assert response.status_code == 401
    with app.app_context():
        db.engine.dispose()


def test_openapi_documents_the_platform_api(client):
    spec = client.get("/api/openapi.json").get_json()
    assert "/api/v1/tenants" in spec["paths"]
    assert "/api/v1/tenants/{tenant_id}" in spec["paths"]
    assert "platformToken" in spec["components"]["securitySchemes"]
