"""Authentication on tenant hosts: signed bearer tokens bound to tenant and user.

Tenant blueprints call ``authenticate`` before each request (it also refuses
platform hosts) and views call ``require_roles`` before they change anything.
"""

from __future__ import annotations

import hmac
import uuid
from typing import Any

import sqlalchemy as sa
from flask import current_app
from flask import g
from flask import request
from itsdangerous import BadSignature
from itsdangerous import URLSafeTimedSerializer

from pilar.errors import AuthenticationError
from pilar.errors import NotFoundError
from pilar.errors import PermissionDeniedError
from pilar.extensions import db
from pilar.models import Role
from pilar.models import TenantUser
from pilar.tenancy import TenantRef
from pilar.tenancy import current_tenant
from pilar.tenancy import is_platform_request

SECURITY = [{"bearerAuth": []}]
SECURITY_SCHEME = {
    "type": "http",
    "scheme": "bearer",
    "description": "An access token from POST /api/v1/auth/token on the tenant's host.",
}
_SALT = "pilar.access-token"


def _serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt=_SALT)


def issue_token(user: TenantUser) -> tuple[str, int]:
    """Return a signed access token for ``user`` and its lifetime in seconds."""
    token = _serializer().dumps({"t": str(user.tenant_id), "u": str(user.id)})
    return token, int(current_app.config["ACCESS_TOKEN_TTL"])


def require_tenant_host() -> TenantRef:
    """Return the request's tenant; a platform host gets 404."""
    if is_platform_request():
        raise NotFoundError("This API is served on tenant hosts only.")
    return current_tenant()


def authenticate() -> None:
    """Load the user of the request's bearer token into ``g.user``, or raise 401.

    The token must be unexpired, issued by this tenant, and its user must
    still exist.
    """
    tenant = require_tenant_host()
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise AuthenticationError("A bearer token is required.")
    try:
        claims: Any = _serializer().loads(
            token.strip(), max_age=current_app.config["ACCESS_TOKEN_TTL"]
        )
        tenant_id, user_id = uuid.UUID(claims["t"]), uuid.UUID(claims["u"])
    except (BadSignature, KeyError, TypeError, ValueError):
        raise AuthenticationError("The bearer token is not valid.") from None
    if not hmac.compare_digest(tenant_id.bytes, tenant.id.bytes):
        raise AuthenticationError("The bearer token is not valid.")
    user = db.session.scalar(
        sa.select(TenantUser).where(
            TenantUser.id == user_id, TenantUser.tenant_id == tenant.id
        )
    )
    if user is None:
        raise AuthenticationError("The bearer token is not valid.")
    g.user = user


def current_user() -> TenantUser:
    user: TenantUser | None = g.get("user")
    if user is None:
        raise AuthenticationError("A bearer token is required.")
    return user


def require_roles(*roles: Role) -> TenantUser:
    """Return the current user if their role is one of ``roles``, else 403."""
    user = current_user()
    if user.role not in roles:
        raise PermissionDeniedError(
            f"Role {user.role.value!r} may not do this; "
            f"it needs {' or '.join(role.value for role in roles)}."
        )
    return user
