"""Finding a request's tenant from its host, through an in-process directory."""

from __future__ import annotations

import dataclasses
import threading
import time
import uuid
from collections.abc import Mapping

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
    """Domain → ``TenantRef`` for every tenant, held in process.

    The whole directory is reloaded with one query when it is older than
    ``ttl`` seconds, by the one request that finds it stale (the others keep
    using the old copy meanwhile), so no request pays a lookup per tenant and
    the cost does not depend on how many tenants a worker serves. Its size is
    that of the ``tenants`` table, a few hundred bytes per tenant.

    Writers in this process call ``invalidate`` so their changes take effect
    at once; other processes see them at their next reload, within ``ttl``.
    A domain missing from the copy is looked up on its own and never cached
    as missing, so a new tenant is reachable at once everywhere.
    """

    def __init__(self, engine: sa.Engine, *, ttl: float) -> None:
        self._engine = engine
        self._ttl = ttl
        self._tenants: Mapping[str, TenantRef] = {}
        self._loaded_at = float("-inf")
        self._reload_lock = threading.Lock()

    def find(self, domain: str) -> TenantRef | None:
        """Return the tenant whose domain is ``domain`` (normalised), or None."""
        if time.monotonic() - self._loaded_at > self._ttl:
            self._reload()
        ref = self._tenants.get(domain)
        if ref is None:
            ref = self._lookup(domain)
            if ref is not None:
                # Copy on write: readers never see a dict being changed.
                self._tenants = {**self._tenants, domain: ref}
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
        tenants = dict(self._tenants)
        for domain in domains:
            tenants.pop(domain, None)
        self._tenants = tenants

    def clear(self) -> None:
        """Forget everything; the next request reloads the directory."""
        self._loaded_at = float("-inf")
        self._tenants = {}

    def _reload(self) -> None:
        if not self._reload_lock.acquire(blocking=False):
            return  # another thread is reloading; the old copy serves meanwhile
        try:
            started = time.monotonic()
            with self._engine.connect() as conn:
                rows = conn.execute(sa.select(*_COLUMNS)).all()
            self._tenants = {row.domain: TenantRef(*row) for row in rows}
            self._loaded_at = started
        finally:
            self._reload_lock.release()

    def _lookup(self, domain: str) -> TenantRef | None:
        with self._engine.connect() as conn:
            row = conn.execute(
                sa.select(*_COLUMNS).where(Tenant.domain == domain)
            ).one_or_none()
        return None if row is None else TenantRef(*row)
