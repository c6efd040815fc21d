"""Who is signed in to the data browser, and which tenant a request browses.

The signed-in identity lives in Flask's signed session cookie: the platform
admin's holds a keyed digest of ``PILAR_ADMIN_TOKEN`` (so a new token signs
everyone out), a tenant user's holds their tenant, id and a stamp of their
password hash (so a new password, or deleting the user, signs them out).
"""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import uuid
from typing import Any

import sqlalchemy as sa
from flask import abort
from flask import current_app
from flask import g
from flask import session

from pilar.config import secret_key
from pilar.errors import AuthenticationError
from pilar.errors import TenantNotFoundError
from pilar.models import Role
from pilar.models import TenantUser
from pilar.services import auth as auth_service
from pilar.services.users import Actor
from pilar.tenancy import TenantRef
from pilar.tenancy import bind_platform_request
from pilar.tenancy import current_tenant
from pilar.tenancy import is_platform_request

_SESSION_KEY = "pilar.admin"
_WRITERS = frozenset({Role.OWNER, Role.ADMIN})


@dataclasses.dataclass(frozen=True)
class Principal:
    """The signed-in person: a tenant user, or the platform admin (``user`` None)."""

    user: sa.Row[Any] | None  # a row of tenant_users

    @property
    def is_platform(self) -> bool:
        return self.user is None

    @property
    def may_write(self) -> bool:
        """Tell whether they may change data (and see users and integrations)."""
        return self.user is None or self.user.role in _WRITERS

    @property
    def label(self) -> str:
        return "platform admin" if self.user is None else self.user.email

    def actor(self, tenant_id: uuid.UUID) -> Actor:
        """Return the user the services check roles against.

        The platform admin acts with an OWNER's rights; the stand-in user is
        never added to the session, so it is never stored.
        """
        if self.user is not None:
            return self.user
        return TenantUser(tenant_id=tenant_id, email="platform admin", role=Role.OWNER)


def sign_in_platform(token: str) -> None:
    """Sign the platform admin in; raises ``AuthenticationError`` on a wrong token."""
    expected = current_app.config.get("ADMIN_TOKEN")
    if not expected or not hmac.compare_digest(token.encode(), expected.encode()):
        raise AuthenticationError("The admin token is not valid.")
    _start_session({"platform": _token_digest(expected)})


def sign_in_user(email: str, password: str) -> None:
    """Sign a user of the request's tenant in, throttled like the API.

    Raises ``AuthenticationError`` or ``TooManyRequestsError``.
    """
    user = auth_service.sign_in(current_tenant().id, email, password)
    _start_session(
        {
            "tenant": str(user.tenant_id),
            "user": str(user.id),
            "stamp": auth_service.password_stamp(user),
        }
    )


def sign_out() -> None:
    session.clear()


def current_principal() -> Principal | None:
    """Return who is signed in on this host, or None; cached for the request."""
    if "admin_principal" not in g:
        g.admin_principal = _load_principal()
    principal: Principal | None = g.admin_principal
    return principal


def enter_tenant(tenant_id: uuid.UUID | None) -> TenantRef:
    """Bind the tenant a browser URL names, or answer 404.

    On a platform host any tenant may be chosen; on a tenant host only the
    host's own, which ``pilar.tenancy`` bound already.
    """
    if tenant_id is None:
        abort(404)
    if is_platform_request():
        try:
            return bind_platform_request(tenant_id)
        except TenantNotFoundError:
            abort(404)
    tenant = current_tenant()
    if tenant.id != tenant_id:
        abort(404)
    return tenant


def browsed_tenant_id() -> uuid.UUID | None:
    """Return the tenant whose data this request shows, if any."""
    tenant_id: uuid.UUID | None = g.get("admin_tenant_id")
    if tenant_id is None and not is_platform_request() and "tenant" in g:
        tenant_id = current_tenant().id
    return tenant_id


def _start_session(identity: dict[str, str]) -> None:
    # A fresh session on every sign-in, so nothing set before it survives.
    session.clear()
    session[_SESSION_KEY] = identity


def _load_principal() -> Principal | None:
    identity = session.get(_SESSION_KEY)
    if not isinstance(identity, dict):
        return None
    if is_platform_request():
        expected = current_app.config.get("ADMIN_TOKEN")
        digest = str(identity.get("platform", ""))
        if expected and hmac.compare_digest(digest, _token_digest(expected)):
            return Principal(user=None)
        return None
    return _load_user(identity)


def _load_user(identity: dict[str, str]) -> Principal | None:
    if "tenant" not in g:
        return None
    try:
        tenant_id = uuid.UUID(identity["tenant"])
        user_id = uuid.UUID(identity["user"])
        stamp = str(identity["stamp"])
    except (KeyError, ValueError):
        return None
    if tenant_id != current_tenant().id:
        return None
    user = auth_service.find_signed_in_user(tenant_id, user_id, stamp)
    return None if user is None else Principal(user=user)


def _token_digest(token: str) -> str:
    key = str(secret_key(current_app.config)).encode()
    return hmac.new(key, token.encode(), hashlib.sha256).hexdigest()
