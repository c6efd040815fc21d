"""A tenant's users: listing, creating, changing and removing them, with the role rules.

Every function acts for ``actor``, a signed-in OWNER or ADMIN of the tenant,
and sees only the actor's tenant: a user of another tenant does not exist.
Only an OWNER may create, change or delete an OWNER, and the last OWNER of a
tenant can be neither removed nor demoted.
"""

from __future__ import annotations

import uuid
from typing import Protocol

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from pilar.db.extensions import db
from pilar.errors import ConflictError
from pilar.errors import NotFoundError
from pilar.errors import PermissionDeniedError
from pilar.models import Role
from pilar.models import TenantUser
from pilar.security.passwords import hash_password
from pilar.services.pagination import KeysetList
from pilar.services.pagination import RowPage


class Actor(Protocol):
    """Whoever acts: a signed-in user's row or object, or a stand-in for one."""

    @property
    def id(self) -> uuid.UUID: ...

    @property
    def tenant_id(self) -> uuid.UUID: ...

    @property
    def role(self) -> Role: ...


_LIST = KeysetList(TenantUser, tenant_id=lambda c, value: c.tenant_id == value)


def list_users(
    tenant_id: uuid.UUID, *, limit: int, cursor: str | None = None
) -> RowPage:
    return _LIST.page(db.session, limit=limit, cursor=cursor, tenant_id=tenant_id)


def get_user(tenant_id: uuid.UUID, user_id: uuid.UUID) -> TenantUser:
    user = db.session.scalar(
        sa.select(TenantUser).where(
            TenantUser.tenant_id == tenant_id, TenantUser.id == user_id
        )
    )
    if user is None:
        raise NotFoundError(f"User {str(user_id)!r} does not exist.")
    return user


def create_user(actor: Actor, *, email: str, password: str, role: Role) -> TenantUser:
    """Create a user in the actor's tenant; commits.

    Raises ``PermissionDeniedError`` when an ADMIN creates an OWNER and
    ``ConflictError`` when the email is taken (ignoring case).
    """
    if role is Role.OWNER:
        _require_owner(actor, "create an OWNER")
    user = TenantUser(
        tenant_id=actor.tenant_id,
        email=email,
        password_hash=hash_password(password),
        role=role,
    )
    db.session.add(user)
    _commit(email)
    return user


def update_user(
    actor: Actor,
    user_id: uuid.UUID,
    *,
    email: str | None = None,
    password: str | None = None,
    role: Role | None = None,
) -> TenantUser:
    """Change a user's email, password or role; commits.

    Raises ``NotFoundError``, ``PermissionDeniedError`` (an ADMIN touching an
    OWNER, or making one) and ``ConflictError`` (email taken, or demoting the
    last OWNER), permission before conflict.
    """
    user = get_user(actor.tenant_id, user_id)
    if user.role is Role.OWNER:
        _require_owner(actor, "change an OWNER")
    if role is Role.OWNER:
        _require_owner(actor, "make a user an OWNER")
    if user.role is Role.OWNER and role not in (None, Role.OWNER):
        _keep_another_owner(user, "demoted")
    if email is not None:
        user.email = email
    if password is not None:
        user.password_hash = hash_password(password)
    if role is not None:
        user.role = role
    _commit(email)
    return user


def delete_user(actor: Actor, user_id: uuid.UUID) -> None:
    """Delete a user; their tokens stop working at once. Commits.

    Raises ``NotFoundError``, ``PermissionDeniedError`` (an ADMIN deleting an
    OWNER) and ``ConflictError`` (the last OWNER).
    """
    user = get_user(actor.tenant_id, user_id)
    if user.role is Role.OWNER:
        _require_owner(actor, "delete an OWNER")
        _keep_another_owner(user, "removed")
    db.session.delete(user)
    db.session.commit()


def _require_owner(actor: Actor, action: str) -> None:
    if actor.role is not Role.OWNER:
        raise PermissionDeniedError(
            f"Role {actor.role.value!r} may not {action}; it needs OWNER."
        )


def _keep_another_owner(user: TenantUser, change: str) -> None:
    """Raise ``ConflictError`` unless the tenant has an OWNER besides ``user``.

    Locks every OWNER row of the tenant until the commit, always in id order,
    so two requests that would each remove one of the last two OWNERs run one
    after the other and the second sees that only one is left.
    """
    owners = db.session.scalars(
        sa.select(TenantUser.id)
        .where(TenantUser.tenant_id == user.tenant_id, TenantUser.role == Role.OWNER)
        .order_by(TenantUser.id)
        .with_for_update()
    ).all()
    if not any(owner_id != user.id for owner_id in owners):
        message = (
            f"User {user.email!r} is the last OWNER and cannot be {change}; "
            "make another user an OWNER first."
        )
        db.session.rollback()  # releases the locks at once
        raise ConflictError(message)


def _commit(email: str | None) -> None:
    try:
        db.session.commit()
    except IntegrityError as err:
        db.session.rollback()
        constraint = getattr(getattr(err.orig, "diag", None), "constraint_name", "")
        if constraint != "uq_tenant_users_tenant_id_lower_email":
            raise
        raise ConflictError(
            f"Email {email!r} is taken by another user of this tenant.",
            errors={"email": ["Taken (emails ignore case)."]},
        ) from None
