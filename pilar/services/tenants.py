"""Reading and changing tenants, for the platform API and the CLI.

Creating and dropping them lives in ``pilar.tenancy.fleet.provisioning``.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import sqlalchemy as sa
from flask import current_app
from sqlalchemy.exc import IntegrityError

from pilar.db.extensions import db
from pilar.errors import ConflictError
from pilar.errors import NotFoundError
from pilar.models import Tenant
from pilar.models import TenantStatus
from pilar.services.lookups import get_by_id
from pilar.services.pagination import KeysetList
from pilar.services.pagination import RowPage
from pilar.tenancy import directory
from pilar.tenancy.names import normalize_host
from pilar.tenancy.names import validate_domain
from pilar.tenancy.names import validate_tenant_name

_LIST = KeysetList(
    Tenant,
    status=lambda c, value: c.status == value,
    domain=lambda c, value: c.domain == value,
    node=lambda c, value: c.node == value,
)
# Rows a page of ``every_tenant`` reads at a time.
_BATCH = 500


def list_tenants(
    *,
    status: TenantStatus | None = None,
    domain: str | None = None,
    node: str | None = None,
    limit: int,
    cursor: str | None = None,
) -> RowPage:
    return _LIST.page(
        db.session,
        limit=limit,
        cursor=cursor,
        status=status,
        domain=None if domain is None else normalize_host(domain),
        node=node,
    )


def every_tenant() -> list[sa.Row[Any]]:
    """Return every tenant, by domain: the rows ``list_tenants`` pages through.

    Sorted here rather than by the database, so the order is the same
    whatever the database's collation.
    """
    return sorted(_every_row(), key=lambda row: row.domain)


def _every_row() -> Iterator[sa.Row[Any]]:
    cursor = None
    while True:
        page = list_tenants(limit=_BATCH, cursor=cursor)
        yield from page.items
        if page.next_cursor is None:
            return
        cursor = page.next_cursor


def tenant_id_by_domain(domain: str) -> uuid.UUID:
    """Return the id of the tenant with ``domain``; raise ``NotFoundError``.

    Reads on a connection of its own, which it closes: nothing stays open
    while the caller waits (for a confirmation, say).
    """
    domain = normalize_host(domain)
    with db.engine.connect() as conn:
        found = conn.scalar(sa.select(Tenant.id).where(Tenant.domain == domain))
    if found is None:
        raise NotFoundError(f"Tenant {domain!r} does not exist.")
    return found


def get_tenant(tenant_id: uuid.UUID) -> Tenant:
    return get_by_id(Tenant, tenant_id, "Tenant")


def update_tenant(
    tenant_id: uuid.UUID,
    *,
    name: str | None = None,
    domain: str | None = None,
    status: TenantStatus | None = None,
) -> Tenant:
    """Change a tenant's name, domain or status; commits.

    The old and new domains leave this process's tenant cache at once.
    """
    tenant = get_tenant(tenant_id)
    old_domain = tenant.domain
    if name is not None:
        tenant.name = validate_tenant_name(name)
    if domain is not None:
        tenant.domain = validate_domain(domain, current_app.config["PLATFORM_HOSTS"])
    if status is not None:
        tenant.status = status
    try:
        db.session.commit()
    except IntegrityError:
        db.session.rollback()
        raise ConflictError(
            f"Domain {domain!r} is taken.", errors={"domain": ["Taken."]}
        ) from None
    directory().invalidate(old_domain, tenant.domain)
    return tenant
