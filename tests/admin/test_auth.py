from __future__ import annotations

import time
import uuid
from typing import Any

from flask import Flask

from pilar.models import Role
from pilar.services.auth import MAX_FAILURES
from tests.admin.conftest import Browser
from tests.admin.conftest import csrf_token
from tests.users import make_user


def test_browser_redirects_to_sign_in_when_signed_out(app: Flask, tenant: Any) -> None:
    browser = Browser(app, "localhost")
    response = browser.get(f"/admin/t/{tenant.id}/conversations/")
    assert response.status_code == 302
    assert response.headers["Location"].endswith("/admin/login")


def test_platform_sign_in_refuses_a_wrong_token(app: Flask) -> None:
    browser = Browser(app, "localhost")
    response = browser.sign_in_platform("not-the-token")
    assert response.status_code == 401
    assert "The admin token is not valid." in response.get_data(as_text=True)
    assert browser.get("/admin/").headers["Location"].endswith("/admin/login")


def test_platform_admin_sees_tenants_with_a_secure_cookie(
    app: Flask, tenant: Any, other_tenant: Any
) -> None:
    browser = Browser(app, "localhost")
    response = browser.sign_in_platform()
    assert response.status_code == 302
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie
    assert "SameSite=Lax" in cookie
    page = browser.get("/admin/tenants/?search=" + tenant.domain)
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert tenant.domain in html
    assert other_tenant.domain not in html


def test_sign_out_needs_a_csrf_token_and_ends_the_session(
    platform_browser: Browser,
) -> None:
    assert platform_browser.post("/admin/logout").status_code == 400
    assert platform_browser.get("/admin/tenants/").status_code == 200
    page = platform_browser.get("/admin/tenants/").get_data(as_text=True)
    response = platform_browser.post(
        "/admin/logout", data={"csrf_token": csrf_token(page)}
    )
    assert response.status_code == 302
    after = platform_browser.get("/admin/tenants/")
    assert after.status_code == 302
    assert after.headers["Location"].endswith("/admin/login")


def test_a_session_cookie_expires_after_its_lifetime(
    app: Flask, platform_browser: Browser
) -> None:
    assert app.config["PERMANENT_SESSION_LIFETIME"] == 12 * 3600
    assert platform_browser.get("/admin/tenants/").status_code == 200
    app.config["PERMANENT_SESSION_LIFETIME"] = 1
    try:
        time.sleep(2.1)
        response = platform_browser.get("/admin/tenants/")
    finally:
        app.config["PERMANENT_SESSION_LIFETIME"] = 12 * 3600
    assert response.status_code == 302
    assert response.headers["Location"].endswith("/admin/login")


def test_tenant_hosts_do_not_serve_the_tenant_list(
    owner_browser: Browser,
) -> None:
    assert owner_browser.get("/admin/tenants/").status_code == 404


def test_tenant_user_signs_in_with_email_and_password(app: Flask, tenant: Any) -> None:
    user = make_user(app, tenant, Role.ADMIN)
    browser = Browser(app, tenant.domain)
    response = browser.sign_in(user.email.upper())
    assert response.status_code == 302
    home = browser.get("/admin/")
    assert home.headers["Location"].endswith(f"/admin/t/{tenant.id}/")
    assert browser.get(f"/admin/t/{tenant.id}/").status_code == 200


def test_wrong_password_is_refused_like_the_api(app: Flask, tenant: Any) -> None:
    user = make_user(app, tenant, Role.OWNER)
    browser = Browser(app, tenant.domain)
    response = browser.sign_in(user.email, "wrong-password")
    assert response.status_code == 401
    assert "The email or password is wrong." in response.get_data(as_text=True)


def test_failed_sign_ins_are_throttled(app: Flask, tenant: Any) -> None:
    browser = Browser(app, tenant.domain)
    email = f"nobody-{uuid.uuid4().hex[:8]}@example.com"
    for _ in range(MAX_FAILURES):
        assert browser.sign_in(email, "wrong-password").status_code == 401
    response = browser.sign_in(email, "wrong-password")
    assert response.status_code == 429
    assert int(response.headers["Retry-After"]) > 0


def test_session_of_one_tenant_is_refused_on_another(
    app: Flask, tenant: Any, other_tenant: Any
) -> None:
    user = make_user(app, tenant, Role.OWNER)
    browser = Browser(app, tenant.domain)
    browser.sign_in(user.email)
    # Replay acme's cookie on globex's host: it names another tenant.
    cookie = browser.client.get_cookie("session", domain=tenant.domain)
    assert cookie is not None
    thief = Browser(app, other_tenant.domain)
    thief.client.set_cookie("session", cookie.value, domain=other_tenant.domain)
    response = thief.get(f"/admin/t/{other_tenant.id}/")
    assert response.status_code == 302
    assert response.headers["Location"].endswith("/admin/login")


def test_login_form_without_csrf_token_is_refused(app: Flask, tenant: Any) -> None:
    browser = Browser(app, tenant.domain)
    response = browser.post(
        "/admin/login", data={"email": "a@example.com", "password": "whatever1"}
    )
    assert response.status_code == 400
