"""Authentication on tenant hosts: ``POST /api/v1/auth/token`` and the bearer tokens.

Tokens are signed and timestamped with ``SECRET_KEY`` (itsdangerous) and bound
to the tenant and the user. Tenant blueprints call ``authenticate`` before each
request (it also refuses platform hosts) and views call ``require_roles``
before they change anything.
"""

from __future__ import annotations

import functools
import hmac
import uuid
from collections.abc import Callable
from typing import Any

import sqlalchemy as sa
from flask import current_app
from flask import g
from flask import request
from flask.views import MethodView
from itsdangerous import BadSignature
from itsdangerous import URLSafeTimedSerializer
from itsdangerous import want_bytes

from pilar.api.blueprint import Blueprint
from pilar.api.errors import error_responses
from pilar.api.openapi import duration
from pilar.config import secret_key
from pilar.errors import AuthenticationError
from pilar.errors import NotFoundError
from pilar.errors import PermissionDeniedError
from pilar.models import Role
from pilar.models import TenantUser
from pilar.schemas.auth import TokenRequestSchema
from pilar.schemas.auth import TokenSchema
from pilar.schemas.errors import ErrorSchema
from pilar.services import auth as auth_service
from pilar.tenancy import READ_METHODS
from pilar.tenancy import TenantRef
from pilar.tenancy import current_tenant
from pilar.tenancy import is_platform_request

SECURITY: list[dict[str, list[str]]] = [{"bearerAuth": []}]
SECURITY_SCHEME = {
    "type": "http",
    "scheme": "bearer",
    "description": "An access token from POST /api/v1/auth/token on the tenant's host.",
}
_SALT = "pilar.access-token"
_REFUSED = "The bearer token is not valid."
# From the throttle's own constants, so the document says what the code does.
_SIGN_IN = (
    "Returns a bearer token for this tenant's API. A wrong email and a wrong "
    "password get the same 401. After "
    f"{auth_service.MAX_FAILURES} failed sign-ins in a row for one email, each "
    f"within {duration(auth_service.FAILURE_WINDOW)} of the one before, that "
    f"email is locked: 429 with `Retry-After`, for "
    f"{duration(auth_service.LOCKOUT)}, doubling with each further failure up "
    f"to {duration(auth_service.MAX_LOCKOUT)}. A successful sign-in resets the "
    "count."
)

blp = Blueprint(
    "auth",
    __name__,
    url_prefix="/api/v1/auth",
    description="Signing in on a tenant host.",
)


def _serializer() -> URLSafeTimedSerializer:
    # Tokens signed with a key of SECRET_KEY_FALLBACKS stay valid while that
    # key is listed, so the key can be rotated without signing everyone out.
    fallbacks = current_app.config.get("SECRET_KEY_FALLBACKS") or []
    if isinstance(fallbacks, str | bytes):
        fallbacks = [fallbacks]
    return _serializer_for(secret_key(current_app.config), tuple(fallbacks))


@functools.lru_cache(maxsize=8)
def _serializer_for(
    secret_key: str | bytes, fallbacks: tuple[str | bytes, ...]
) -> URLSafeTimedSerializer:
    # Built once per set of keys rather than on every request; the last key
    # signs, all of them verify. As bytes: itsdangerous takes keys of one type.
    keys = [want_bytes(key) for key in (*fallbacks, secret_key)]
    return URLSafeTimedSerializer(keys, salt=_SALT)


def issue_token(user: TenantUser) -> tuple[str, int]:
    """Return a signed access token for ``user`` and its lifetime in seconds."""
    token = _serializer().dumps(
        {
            "t": str(user.tenant_id),
            "u": str(user.id),
            "p": auth_service.password_stamp(user),
        }
    )
    return token, int(current_app.config["ACCESS_TOKEN_TTL"])


def require_tenant_host() -> TenantRef:
    """Return the request's tenant; a platform host gets 404."""
    if is_platform_request():
        raise NotFoundError("This API is served on tenant hosts only.")
    return current_tenant()


def authenticate() -> None:
    """Load the user of the request's bearer token into ``g.user``, or raise 401.

    The token must be unexpired, issued by this tenant, and its user must
    still exist with the password they had when it was issued.
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
        stamp = str(claims["p"])
    except (BadSignature, KeyError, TypeError, ValueError):
        raise AuthenticationError(_REFUSED) from None
    if not hmac.compare_digest(tenant_id.bytes, tenant.id.bytes):
        raise AuthenticationError(_REFUSED)
    user = auth_service.find_signed_in_user(tenant.id, user_id, stamp)
    if user is None:
        raise AuthenticationError(_REFUSED)
    g.user = user


def current_user() -> sa.Row[Any]:
    """Return the signed-in user of this request, a row of ``tenant_users``."""
    user: sa.Row[Any] | None = g.get("user")
    if user is None:
        raise AuthenticationError("A bearer token is required.")
    return user


def roles_required(*roles: Role, writes_only: bool = False) -> Callable[[], None]:
    """Return a ``before_request`` hook that refuses other roles with 403.

    It runs before the body is read, so a user without the role gets 403
    whatever they send, before any validation error or conflict. With
    ``writes_only``, reads stay open to every role.
    """

    def hook() -> None:
        if not writes_only or request.method not in READ_METHODS:
            require_roles(*roles)

    return hook


def require_roles(*roles: Role) -> sa.Row[Any]:
    """Return the current user if their role is one of ``roles``, else 403."""
    user = current_user()
    if user.role not in roles:
        raise PermissionDeniedError(
            f"Role {user.role.value!r} may not do this; "
            f"it needs {' or '.join(role.value for role in roles)}."
        )
    return user


@blp.before_request
def _tenant_host_only() -> None:
    require_tenant_host()


@blp.route("/token")
class Token(MethodView):
    @blp.arguments(TokenRequestSchema)
    @blp.response(200, TokenSchema)
    @blp.alt_response(401, schema=ErrorSchema, description="Wrong email or password.")
    @blp.alt_response(
        429,
        schema=ErrorSchema,
        description="Too many failed sign-ins for this email.",
        headers={
            "Retry-After": {
                "description": "Seconds until the email may sign in again.",
                "schema": {"type": "integer"},
            }
        },
    )
    @error_responses(blp, 400, 413, 415)
    @blp.doc(description=_SIGN_IN)
    def post(self, credentials: dict[str, Any]) -> dict[str, Any]:
        """Sign in with email and password"""
        user = auth_service.sign_in(
            current_tenant().id, credentials["email"], credentials["password"]
        )
        token, expires_in = issue_token(user)
        return {
            "access_token": token,
            "token_type": "Bearer",
            "expires_in": expires_in,
        }
