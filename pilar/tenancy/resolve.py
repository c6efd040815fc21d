"""Finding a request's tenant from its host, through a bounded in-process cache."""

from __future__ import annotations

import dataclasses
import threading
import uuid

import cachetools
import sqlalchemy as sa

from pilar.errors import TenantNotFoundError
from pilar.errors import TenantSuspendedError
from pilar.models import Tenant
from pilar.models import TenantStatus


@dataclasses.dataclass(frozen=True, slots=True)
class TenantRef:
    """What a request needs to know of its tenant; immutable, safe to share."""

    id: uuid.UUID
    domain: str
    schema_name: str
    status: TenantStatus


_COLUMNS = (Tenant.id, Tenant.domain, Tenant.schema_name, Tenant.status)


class TenantDirectory:
    """Domain → ``TenantRef``, cached in process: bounded and with a TTL.

    Writers in this process call ``invalidate`` so their changes take effect
    at once; other processes see them when the entry expires (``ttl`` seconds).
    Unknown domains are not cached, so a new tenant is reachable at once.
    """

    def __init__(self, engine: sa.Engine, *, maxsize: int, ttl: float) -> None:
        self._engine = engine
        self._cache: cachetools.TTLCache[str, TenantRef] = cachetools.TTLCache(
            maxsize=maxsize, ttl=ttl
        )
        self._lock = threading.Lock()

    def find(self, domain: str) -> TenantRef | None:
        """Return the tenant whose domain is ``domain`` (normalised), or None."""
        with self._lock:
            ref = self._cache.get(domain)
        if ref is not None:
            return ref
        with self._engine.connect() as conn:
            row = conn.execute(
                sa.select(*_COLUMNS).where(Tenant.domain == domain)
            ).one_or_none()
        if row is None:
            return None
        ref = TenantRef(*row)
        with self._lock:
            self._cache[domain] = ref
        return ref

    def get_active(self, domain: str) -> TenantRef:
        """Return the ACTIVE tenant of ``domain``.

        Raises ``TenantNotFoundError`` or ``TenantSuspendedError``.
        """
        ref = self.find(domain)
        if ref is None:
            raise TenantNotFoundError(f"No tenant serves the host {domain!r}.")
        if ref.status is not TenantStatus.ACTIVE:
            raise TenantSuspendedError(f"Tenant {domain!r} is suspended.")
        return ref

    def invalidate(self, *domains: str) -> None:
        """Forget ``domains`` so the next request reads them from the database."""
        with self._lock:
            for domain in domains:
                self._cache.pop(domain, None)

    def clear(self) -> None:
        with self._lock:
            self._cache.clear()
