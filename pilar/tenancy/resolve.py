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
    node: str


COLUMNS = (Tenant.id, Tenant.domain, Tenant.schema_name, Tenant.status, Tenant.node)


class TenantDirectory:
    """Domain → ``TenantRef`` for every tenant, held in process.

    The whole directory is reloaded with one query when it is older than
    ``ttl`` seconds, by the one request that finds it stale; requests that
    find it stale meanwhile wait for that reload (a few milliseconds) rather
    than use a copy of any age. No request pays a lookup per tenant, and the
    cost does not depend on how many tenants a worker serves. Its size is
    that of the ``tenants`` table, a few hundred bytes per tenant.

    Writers in this process call ``invalidate`` after they commit, so their
    changes take effect at once; other processes see them at their next
    reload, within ``ttl`` plus one reload. A domain missing from the copy
    is looked up on its own and never cached as missing, so a new tenant is
    reachable at once everywhere.

    A reload or lookup that read the table before a change committed must
    not put the old row back after ``invalidate``: each notes the version
    ``invalidate`` bumps before it reads, and what it read is stored only if
    the version is unchanged (a reload then reads again).
    """

    _RELOAD_ATTEMPTS = 3

    def __init__(self, engine: sa.Engine, *, ttl: float) -> None:
        self._engine = engine
        self._ttl = ttl
        self._tenants: Mapping[str, TenantRef] = {}
        self._loaded_at = float("-inf")
        self._version = 0
        self._reload_lock = threading.Lock()
        # Readers take no lock: every change swaps in a new dict, under this.
        self._write_lock = threading.Lock()

    def find(self, domain: str) -> TenantRef | None:
        """Return the tenant whose domain is ``domain`` (normalised), or None."""
        if self._is_stale():
            self._reload()
        ref = self._tenants.get(domain)
        if ref is None:
            version = self._version
            ref = self._lookup(domain)
            if ref is not None:
                with self._write_lock:
                    if self._version == version:
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
        with self._write_lock:
            self._version += 1
            tenants = dict(self._tenants)
            for domain in domains:
                tenants.pop(domain, None)
            self._tenants = tenants

    def clear(self) -> None:
        """Forget everything; the next request reloads the directory."""
        with self._write_lock:
            self._version += 1
            self._loaded_at = float("-inf")
            self._tenants = {}

    def _is_stale(self) -> bool:
        return time.monotonic() - self._loaded_at > self._ttl

    def _reload(self) -> None:
        with self._reload_lock:
            for _ in range(self._RELOAD_ATTEMPTS):
                if not self._is_stale():
                    return  # reloaded by the thread this one waited for
                started, version = time.monotonic(), self._version
                with self._engine.connect() as conn:
                    rows = conn.execute(sa.select(*COLUMNS)).all()
                with self._write_lock:
                    if self._version == version:
                        self._tenants = {row.domain: TenantRef(*row) for row in rows}
                        self._loaded_at = started
            # Invalidated during every attempt: the copy keeps those
            # invalidations, and the next request tries again.

    def _lookup(self, domain: str) -> TenantRef | None:
        with self._engine.connect() as conn:
            row = conn.execute(
                sa.select(*COLUMNS).where(Tenant.domain == domain)
            ).one_or_none()
        return None if row is None else TenantRef(*row)
