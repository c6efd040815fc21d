"""The platform admin's tenant list: a tenant's name, domain and status edited."""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask

from pilar.db.extensions import db
from pilar.models import Tenant
from pilar.models import TenantStatus
from tests.admin.conftest import Browser
from tests.conftest import unique_domain

EDIT = "/admin/tenants/edit/?id={}"


def _stored(app: Flask, tenant_id: Any) -> tuple[str, str, TenantStatus]:
    with app.app_context():
        tenant = db.session.get(Tenant, tenant_id)
        assert tenant is not None
        return tenant.name, tenant.domain, tenant.status


def test_the_edit_form_starts_with_the_tenant(platform_browser, make_tenant):
    studio = make_tenant(name="Kraftwerk")
    html = platform_browser.get(EDIT.format(studio.id)).get_data(as_text=True)
    assert 'value="Kraftwerk"' in html
    assert f'value="{studio.domain}"' in html
    assert f"{EDIT.format(studio.id)}" in platform_browser.get(
        "/admin/tenants/?search=" + studio.domain
    ).get_data(as_text=True).replace("&amp;", "&")


def test_platform_admin_renames_and_suspends_a_tenant(
    app, platform_browser, make_tenant
):
    studio = make_tenant()
    form = {"name": "Renamed", "domain": studio.domain, "status": "SUSPENDED"}
    response = platform_browser.submit(EDIT.format(studio.id), form)
    assert response.status_code == 302
    assert _stored(app, studio.id) == ("Renamed", studio.domain, TenantStatus.SUSPENDED)
    # At once, in this process: the tenant's host is refused.
    refused = app.test_client().get("/api/v1/me", headers={"Host": studio.domain})
    assert refused.status_code == 403
    assert refused.get_json()["code"] == "tenant_suspended"


def test_a_new_domain_routes_at_once(app, platform_browser, make_tenant):
    studio = make_tenant()
    domain = unique_domain()
    form = {"name": "Moved", "domain": domain.upper(), "status": "ACTIVE"}
    assert platform_browser.submit(EDIT.format(studio.id), form).status_code == 302
    assert _stored(app, studio.id)[1] == domain
    client = app.test_client()
    old = client.get("/api/v1/me", headers={"Host": studio.domain})
    assert old.get_json()["code"] == "tenant_not_found"
    new = client.get("/api/v1/me", headers={"Host": domain})
    assert new.get_json()["code"] == "unauthenticated"


@pytest.mark.parametrize(
    ("domain", "message"),
    [
        ("not a host", "Must be an RFC 1123 host name"),
        ("platform.test", "Must not be a platform host."),
        ("taken", "is taken."),
    ],
)
def test_a_tenant_edit_follows_the_apis_rules(
    app, platform_browser, make_tenant, domain, message
):
    studio, other = make_tenant(), make_tenant()
    if domain == "taken":
        domain = other.domain
    before = _stored(app, studio.id)
    form = {"name": "Changed", "domain": domain, "status": "SUSPENDED"}
    response = platform_browser.submit(EDIT.format(studio.id), form)
    assert response.status_code == 422
    assert message in response.get_data(as_text=True)
    assert _stored(app, studio.id) == before


def test_a_tenant_edit_needs_its_csrf_token(app, platform_browser, make_tenant):
    studio = make_tenant()
    form = {"name": "Changed", "domain": studio.domain, "status": "ACTIVE"}
    response = platform_browser.post(EDIT.format(studio.id), data=form)
    assert response.status_code == 400
    assert _stored(app, studio.id)[0] == "Studio"


def test_an_unknown_or_malformed_tenant_id_is_404(platform_browser):
    assert platform_browser.get(EDIT.format("not-an-id")).status_code == 404
    missing = "00000000-0000-4000-8000-000000000000"
    assert platform_browser.get(EDIT.format(missing)).status_code == 404


def test_tenant_hosts_do_not_serve_the_tenant_edit(owner_browser: Browser, tenant):
    assert owner_browser.get(EDIT.format(tenant.id)).status_code == 404
