from __future__ import annotations

import re
import uuid
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from pilar.db.extensions import db
from pilar.models import Role
from pilar.tenancy import tenant_scope
from tests.conftest import ADMIN_TOKEN
from tests.users import USER_PASSWORD
from tests.users import make_user

_CSRF_RE = re.compile(r'name="csrf_token" type="hidden" value="([^"]+)"')


def csrf_token(html: str) -> str:
    match = _CSRF_RE.search(html)
    assert match, "the page has no CSRF token"
    return match.group(1)


class Browser:
    """A test client on one host of the data browser, signed in or not."""

    def __init__(self, app: Flask, host: str) -> None:
        self.app = app
        self.client: FlaskClient = app.test_client()
        self.base_url = f"http://{host}"

    def get(self, path: str, **kwargs: Any):
        return self.client.get(path, base_url=self.base_url, **kwargs)

    def post(self, path: str, **kwargs: Any):
        return self.client.post(path, base_url=self.base_url, **kwargs)

    def submit(self, form_path: str, data: dict[str, Any], action: str | None = None):
        """Load the form at ``form_path`` and post ``data`` with its CSRF token."""
        page = self.get(form_path)
        assert page.status_code == 200, page.status_code
        token = csrf_token(page.get_data(as_text=True))
        return self.post(action or form_path, data={"csrf_token": token, **data})

    def sign_in_platform(self, token: str = ADMIN_TOKEN):
        return self.submit("/admin/login", {"token": token})

    def sign_in(self, email: str, password: str = USER_PASSWORD):
        return self.submit("/admin/login", {"email": email, "password": password})


def add_rows(app: Flask, tenant: Any, *rows: Any) -> list[uuid.UUID]:
    """Insert tenant-schema rows (committed) and return their ids."""
    with app.app_context(), tenant_scope(tenant.domain):
        for row in rows:
            db.session.add(row)
        db.session.commit()
        return [row.id for row in rows]


@pytest.fixture
def platform_browser(app: Flask) -> Browser:
    browser = Browser(app, "localhost")
    assert browser.sign_in_platform().status_code == 302
    return browser


@pytest.fixture
def owner_browser(app: Flask, tenant: Any) -> Browser:
    browser = Browser(app, tenant.domain)
    user = make_user(app, tenant, Role.OWNER)
    assert browser.sign_in(user.email).status_code == 302
    return browser


@pytest.fixture
def staff_browser(app: Flask, tenant: Any) -> Browser:
    browser = Browser(app, tenant.domain)
    user = make_user(app, tenant, Role.STAFF)
    assert browser.sign_in(user.email).status_code == 302
    return browser
