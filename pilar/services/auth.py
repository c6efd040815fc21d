"""Signing in: checking an email and password, and throttling repeated failures.

Failures are counted per tenant and lower-cased email in ``public.login_failures``
with one atomic upsert, so every worker process shares the count and a restart
keeps it. Failures in a row (each within ``FAILURE_WINDOW`` of the one before)
count up; from the ``MAX_FAILURES``-th on, the email is locked for ``LOCKOUT``,
doubling with each further failure up to ``MAX_LOCKOUT``. A success clears the
count.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import hmac
import math
import uuid
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

from pilar.db.extensions import db
from pilar.errors import AuthenticationError
from pilar.errors import TooManyRequestsError
from pilar.models import LoginFailure
from pilar.models import TenantUser
from pilar.security.passwords import hash_password
from pilar.security.passwords import verify_password
from pilar.services.rows import row_columns
from pilar.services.rows import row_source

# High enough that people and scripts who mistype a few times never meet
# it, low enough to stop guessing: NIST SP 800-63B allows up to 100.
MAX_FAILURES = 10
FAILURE_WINDOW = dt.timedelta(minutes=15)
LOCKOUT = dt.timedelta(minutes=1)
MAX_LOCKOUT = dt.timedelta(hours=1)

_WRONG_CREDENTIALS = "The email or password is wrong."

# Built once: the lookup runs on every authenticated request.
_USERS = row_source(TenantUser)
_USER_BY_ID = sa.select(*row_columns(TenantUser, _USERS)).where(
    _USERS.c.id == sa.bindparam("user_id"),
    _USERS.c.tenant_id == sa.bindparam("tenant_id"),
)


def password_stamp(user: TenantUser | sa.Row[Any]) -> str:
    """Return a short digest of the user's password hash, kept in credentials.

    It changes with the password, so a new password ends what was issued
    with the old one (access tokens, data-browser sessions).
    """
    return stamp_of_password_hash(user.password_hash)


def stamp_of_password_hash(password_hash: str) -> str:
    """Return the stamp of a password hash (see ``password_stamp``)."""
    return hashlib.sha256(password_hash.encode()).hexdigest()[:16]


def find_signed_in_user(
    tenant_id: uuid.UUID, user_id: uuid.UUID, stamp: str
) -> sa.Row[Any] | None:
    """Return the tenant's user with ``user_id`` as a row, or ``None``.

    ``None`` too when the user's password changed since ``stamp`` was taken.
    """
    user = db.session.execute(
        _USER_BY_ID, {"user_id": user_id, "tenant_id": tenant_id}
    ).one_or_none()
    if user is None or not hmac.compare_digest(stamp, password_stamp(user)):
        return None
    return user


def sign_in(tenant_id: uuid.UUID, email: str, password: str) -> TenantUser:
    """Return the tenant's user with this email and password; commits.

    Raises ``TooManyRequestsError`` while the email is locked (the password is
    then not even checked) and ``AuthenticationError`` for a wrong email or
    password alike, after the same work in both cases.
    """
    key = email.strip().lower()
    retry_after = _seconds_locked(tenant_id, key)
    if retry_after:
        raise TooManyRequestsError(
            f"Too many failed sign-ins; try again in {retry_after} seconds.",
            retry_after=retry_after,
        )
    user = db.session.scalar(
        sa.select(TenantUser).where(
            TenantUser.tenant_id == tenant_id,
            # lower() on both sides, as in the unique index on emails.
            sa.func.lower(TenantUser.email) == sa.func.lower(email.strip()),
        )
    )
    # An unknown email costs one Argon2 verification too, so the time taken
    # does not tell which emails have accounts.
    password_hash = user.password_hash if user is not None else _dummy_hash()
    if verify_password(password_hash, password) and user is not None:
        db.session.execute(
            sa.delete(LoginFailure).where(
                LoginFailure.tenant_id == tenant_id, LoginFailure.email == key
            )
        )
        db.session.commit()
        return user
    _record_failure(tenant_id, key)
    raise AuthenticationError(_WRONG_CREDENTIALS)


def _seconds_locked(tenant_id: uuid.UUID, key: str) -> int:
    remaining = db.session.scalar(
        sa.select(
            sa.type_coerce(LoginFailure.locked_until - sa.func.now(), sa.Interval)
        ).where(
            LoginFailure.tenant_id == tenant_id,
            LoginFailure.email == key,
            LoginFailure.locked_until > sa.func.now(),
        )
    )
    return math.ceil(remaining.total_seconds()) if remaining is not None else 0


def _record_failure(tenant_id: uuid.UUID, key: str) -> None:
    # One statement counts the failure and, past the limit, sets the lock, so
    # concurrent failures in several workers all count. now() is the
    # database's clock, the same for every worker.
    now = sa.func.now()
    is_stale = LoginFailure.last_failed_at < now - FAILURE_WINDOW
    failures = sa.case((is_stale, 1), else_=LoginFailure.failures + 1)
    statement = (
        postgresql.insert(LoginFailure)
        .values(
            tenant_id=tenant_id,
            email=key,
            failures=1,
            last_failed_at=now,
            locked_until=_lock_for(sa.literal(1)),
        )
        .on_conflict_do_update(
            index_elements=[LoginFailure.tenant_id, LoginFailure.email],
            set_={
                "failures": failures,
                "last_failed_at": now,
                "locked_until": _lock_for(failures),
            },
        )
    )
    db.session.execute(statement)
    db.session.execute(
        sa.delete(LoginFailure).where(
            LoginFailure.last_failed_at < now - FAILURE_WINDOW,
            sa.or_(
                LoginFailure.locked_until.is_(None), LoginFailure.locked_until < now
            ),
        )
    )
    db.session.commit()


def _lock_for(failures: sa.ColumnElement[int]) -> sa.ColumnElement[dt.datetime]:
    """Return ``now() + lockout`` once ``failures`` reaches the limit, else NULL."""
    # The exponent is capped: a burst of parallel failures can push the count
    # far past the limit before the first lock is seen, and 2 ** 1100
    # overflows a double.
    doublings = sa.func.least(sa.func.greatest(failures - MAX_FAILURES, 0), 30)
    seconds = sa.func.least(
        LOCKOUT.total_seconds() * sa.func.power(2, doublings),
        MAX_LOCKOUT.total_seconds(),
    )
    lockout = sa.func.make_interval(0, 0, 0, 0, 0, 0, seconds)
    return sa.case(
        (failures >= MAX_FAILURES, sa.func.now() + lockout),
        else_=sa.null(),
    )


@functools.cache
def _dummy_hash() -> str:
    return hash_password("not the password of anyone")
