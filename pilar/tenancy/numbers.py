"""Which tenant holds a number: the control plane's claims, held in process.

Inbound webhooks name the studio's number (a WhatsApp ``phone_number_id``,
a called phone number), not a host. ``public.claimed_numbers`` knows which
tenant holds each one, on whichever node it lives: one indexed lookup, no
scan of tenants. Each claim found is kept for ``NUMBER_CACHE_TTL`` seconds.

A kept claim may be out of date: the number released, moved to another
studio, or the tenant renamed or dropped by another process. So the caller
checks, inside the tenant, that the row named by the claim still holds the
number, and calls ``forget_number`` when it does not; the next lookup reads
the claim afresh. A number missing from the claims is never kept as
missing, so a new channel receives at once everywhere.
"""

from __future__ import annotations

import dataclasses
import threading
import time
import uuid
from collections.abc import Mapping

import sqlalchemy as sa
from flask import current_app

from pilar.db.extensions import db
from pilar.models import ClaimedNumber
from pilar.models import NumberKind
from pilar.models import Tenant
from pilar.tenancy import directory
from pilar.tenancy.resolve import TenantRef

_KEY = "pilar.number_directory"
_CREATE_LOCK = threading.Lock()
# A claim and its tenant's domain both read afresh on the second attempt.
_ATTEMPTS = 2


@dataclasses.dataclass(frozen=True, slots=True)
class NumberOwner:
    """The tenant that claimed a number, and its row that holds it."""

    tenant: TenantRef
    owner_id: uuid.UUID


@dataclasses.dataclass(frozen=True, slots=True)
class _Claim:
    tenant_id: uuid.UUID
    domain: str
    owner_id: uuid.UUID
    loaded_at: float


class NumberDirectory:
    """(kind, number) → the claim that holds it, looked up once and kept.

    As ``TenantDirectory``: readers take no lock (every change swaps in a new
    dict), and a lookup that read the table before an ``invalidate`` is not
    stored after it (a version check).
    """

    def __init__(self, engine: sa.Engine, *, ttl: float) -> None:
        self._engine = engine
        self._ttl = ttl
        self._claims: Mapping[tuple[NumberKind, str], _Claim] = {}
        self._version = 0
        self._write_lock = threading.Lock()

    def find(self, kind: NumberKind, value: str) -> _Claim | None:
        key = (kind, value)
        claim = self._claims.get(key)
        if claim is not None and time.monotonic() - claim.loaded_at <= self._ttl:
            return claim
        version = self._version
        claim = self._lookup(kind, value)
        with self._write_lock:
            if self._version == version:
                claims = dict(self._claims)
                if claim is None:
                    claims.pop(key, None)
                else:
                    claims[key] = claim
                self._claims = claims
        return claim

    def invalidate(self, kind: NumberKind, value: str) -> None:
        """Forget the number so the next request reads its claim afresh."""
        with self._write_lock:
            self._version += 1
            claims = dict(self._claims)
            claims.pop((kind, value), None)
            self._claims = claims

    def clear(self) -> None:
        with self._write_lock:
            self._version += 1
            self._claims = {}

    def _lookup(self, kind: NumberKind, value: str) -> _Claim | None:
        started = time.monotonic()
        with self._engine.connect() as conn:
            row = conn.execute(
                sa.select(
                    ClaimedNumber.tenant_id, Tenant.domain, ClaimedNumber.owner_id
                )
                .join(Tenant, Tenant.id == ClaimedNumber.tenant_id)
                .where(ClaimedNumber.kind == kind, ClaimedNumber.value == value)
            ).one_or_none()
        return None if row is None else _Claim(*row, loaded_at=started)


def number_directory() -> NumberDirectory:
    """Return the current app's number directory, made on first use."""
    extensions = current_app.extensions
    numbers: NumberDirectory | None = extensions.get(_KEY)
    if numbers is None:
        with _CREATE_LOCK:
            numbers = extensions.get(_KEY)
            if numbers is None:
                numbers = NumberDirectory(
                    db.engine, ttl=current_app.config["NUMBER_CACHE_TTL"]
                )
                extensions[_KEY] = numbers
    return numbers


def find_number_owner(kind: NumberKind, value: str) -> NumberOwner | None:
    """Return the tenant that claimed ``value`` (of ``kind``) and the row holding it.

    None when no tenant claims it. The tenant is the directory's current
    copy; the row is the claim's, which the caller checks (module docstring).
    """
    numbers = number_directory()
    for _ in range(_ATTEMPTS):
        claim = numbers.find(kind, value)
        if claim is None:
            return None
        tenant = directory().find(claim.domain)
        if tenant is not None and tenant.id == claim.tenant_id:
            return NumberOwner(tenant, claim.owner_id)
        # The tenant was renamed or dropped since one of the two was read.
        numbers.invalidate(kind, value)
        directory().invalidate(claim.domain)
    return None


def forget_number(kind: NumberKind, value: str) -> None:
    """Drop the kept claim of ``value``: its row no longer holds the number."""
    number_directory().invalidate(kind, value)
