from __future__ import annotations

from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from pilar.api.auth import issue_token
from pilar.models import Role
from pilar.models import TenantUser
from tests.users import make_user


class TenantActions:
    """Requests to one tenant's API, signed in as a user of a given role."""

    def __init__(self, app: Flask, client: FlaskClient, tenant: Any) -> None:
        self.app = app
        self.client = client
        self.tenant = tenant
        self._tokens: dict[Role, str] = {}

    def create_user(self, role: Role, email: str | None = None) -> TenantUser:
        return make_user(self.app, self.tenant, role, email)

    def token(self, role: Role = Role.OWNER) -> str:
        if role not in self._tokens:
            user = self.create_user(role)
            with self.app.app_context():
                self._tokens[role] = issue_token(user)[0]
        return self._tokens[role]

    def headers(self, role: Role = Role.OWNER) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token(role)}"}

    def request(
        self, method: str, path: str, *, role: Role | None = Role.OWNER, **kwargs: Any
    ):
        headers = dict(kwargs.pop("headers", {}))
        if role is not None:
            headers.setdefault("Authorization", f"Bearer {self.token(role)}")
        return self.client.open(
            path,
            method=method,
            base_url=f"http://{self.tenant.domain}",
            headers=headers,
            **kwargs,
        )


@pytest.fixture
def acme(app: Flask, client: FlaskClient, tenant: Any) -> TenantActions:
    return TenantActions(app, client, tenant)


@pytest.fixture
def globex(app: Flask, client: FlaskClient, other_tenant: Any) -> TenantActions:
    return TenantActions(app, client, other_tenant)
