"""Authentication of the platform API: platform hosts and ``PILAR_ADMIN_TOKEN``."""

from __future__ import annotations

import hmac

from flask import current_app
from flask import request

from pilar.errors import AuthenticationError
from pilar.errors import NotFoundError
from pilar.tenancy import is_platform_request

SECURITY: list[dict[str, list[str]]] = [{"platformToken": []}]
SECURITY_SCHEME = {
    "type": "http",
    "scheme": "bearer",
    "description": "PILAR_ADMIN_TOKEN, on a platform host.",
}


def require_platform_admin() -> None:
    """Refuse requests that are not from a platform admin on a platform host.

    A tenant host never serves the platform API (404); with no admin token
    configured, every request is refused (401).
    """
    if not is_platform_request():
        raise NotFoundError("The platform API is not served on this host.")
    expected = current_app.config.get("ADMIN_TOKEN")
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if (
        not expected
        or scheme.lower() != "bearer"
        or not hmac.compare_digest(token.strip().encode(), str(expected).encode())
    ):
        raise AuthenticationError("A valid platform admin token is required.")
