from __future__ import annotations

import re

import pytest

from pilar.tenancy.names import normalize_host


@pytest.mark.parametrize(
    ("host", "expected"),
    [
        ("Berlin.Example.COM", "berlin.example.com"),
        ("berlin.example.com:8080", "berlin.example.com"),
        ("berlin.example.com.", "berlin.example.com"),
        ("BERLIN.example.com.:443", "berlin.example.com"),
        ("[::1]:5000", "[::1]"),
        ("localhost", "localhost"),
    ],
)
def test_normalize_host_lowercases_and_strips_port_and_trailing_dot(host, expected):
    assert normalize_host(host) == expected


@pytest.mark.parametrize(
    "variant",
    ["{d}", "{D}", "{d}:8080", "{d}.", "{D}.:443"],
)
def test_tenant_host_variants_reach_the_tenant(client, tenant, variant):
    host = variant.format(d=tenant.domain, D=tenant.domain.upper())
    response = client.get("/api/v1/tenants", headers={"Host": host})
    # The platform API is not served on a tenant host: the tenant was found,
    # and the route refused, rather than tenant_not_found.
    assert response.status_code == 404
    assert response.get_json()["code"] == "not_found"


def test_unknown_host_gets_tenant_not_found(client):
    response = client.get("/api/v1/anything", headers={"Host": "nobody.example.com"})
    assert response.status_code == 404
    body = response.get_json()
    assert body["code"] == "tenant_not_found"
    assert body["status"] == 404


def test_suspended_tenant_gets_403(client, platform, make_tenant):
    suspended = make_tenant()
    response = platform.request(
        "PATCH", f"/api/v1/tenants/{suspended.id}", json={"status": "SUSPENDED"}
    )
    assert response.status_code == 200
    response = client.get("/api/v1/anything", headers={"Host": suspended.domain})
    assert response.status_code == 403
    assert response.get_json()["code"] == "tenant_suspended"


def test_reactivated_tenant_is_served_again_at_once(client, platform, make_tenant):
    studio = make_tenant()
    path = f"/api/v1/tenants/{studio.id}"
    platform.request("PATCH", path, json={"status": "SUSPENDED"})
    assert client.get("/healthz/x", headers={"Host": studio.domain}).status_code == 403
    platform.request("PATCH", path, json={"status": "ACTIVE"})
    response = client.get("/nothing-here", headers={"Host": studio.domain})
    assert response.status_code == 404
    assert response.get_json()["code"] == "not_found"


def test_platform_host_serves_the_platform_api(platform):
    response = platform.request("GET", "/api/v1/tenants")
    assert response.status_code == 200
    assert set(response.get_json()) == {"items", "next_cursor"}


def test_tenant_host_never_serves_the_platform_api(client, tenant):
    response = client.get(
        "/api/v1/tenants",
        headers={"Host": tenant.domain, "Authorization": "Bearer test-admin-token"},
    )
    assert response.status_code == 404


@pytest.mark.parametrize("host", ["localhost", "nobody.example.com"])
def test_healthz_answers_on_every_host(client, tenant, host):
    for each in (host, tenant.domain):
        response = client.get("/healthz", headers={"Host": each})
        assert response.status_code == 200
        assert response.get_json() == {"status": "ok"}


def test_openapi_document_answers_on_every_host(client, tenant):
    for host in ("localhost", tenant.domain, "nobody.example.com"):
        response = client.get("/api/openapi.json", headers={"Host": host})
        assert response.status_code == 200
        assert response.get_json()["openapi"].startswith("3.")
    assert client.get("/api/docs", headers={"Host": tenant.domain}).status_code == 200


@pytest.mark.parametrize("host", ["localhost", "nobody.example.com", None])
def test_the_docs_page_and_its_assets_answer_on_every_host(client, tenant, host):
    headers = {"Host": host or tenant.domain}
    page = client.get("/api/docs", headers=headers)
    assert page.status_code == 200
    assets = re.findall(
        r'(?:src|href)="([^"]+\.(?:js|css))"', page.get_data(as_text=True)
    )
    assert {"swagger-ui-bundle.js", "swagger-ui.css"} <= {
        asset.rsplit("/", 1)[-1] for asset in assets
    }
    for asset in assets:
        # The app's own files, not a CDN's: the page works offline.
        assert asset.startswith("/api/docs/assets/"), asset
        response = client.get(asset, headers=headers)
        assert response.status_code == 200, asset
        assert response.data
        response.close()


def test_docs_assets_stay_inside_their_folder(client):
    response = client.get(
        "/api/docs/assets/..%2f..%2f__init__.py", headers={"Host": "localhost"}
    )
    assert response.status_code == 404
