"""A tenant's integrations (Magicline, Fitogram, Google Calendar, CSV): one per type.

Configs arrive validated; their secrets are encrypted before they are stored
(``pilar.security.sealed``) and never leave this module in plain text.
"""

from __future__ import annotations

import uuid
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from pilar.db.extensions import db
from pilar.errors import ConflictError
from pilar.errors import NotFoundError
from pilar.models import TenantIntegration
from pilar.models import TenantIntegrationType
from pilar.security import sealed
from pilar.services.configs import SealedConfig
from pilar.services.pagination import KeysetList
from pilar.services.pagination import RowPage

# The write-only secrets of each type (docs/api.md), as dotted paths into its
# config.
SECRET_KEYS: dict[TenantIntegrationType, tuple[str, ...]] = {
    TenantIntegrationType.MAGICLINE: ("api_key",),
    TenantIntegrationType.FITOGRAM: ("api_key",),
    TenantIntegrationType.GOOGLE_CALENDAR: (
        "service_account.private_key",
        "service_account.private_key_id",
    ),
    TenantIntegrationType.CSV: (),
}
REQUIRED_SECRET_KEYS: dict[TenantIntegrationType, tuple[str, ...]] = {
    TenantIntegrationType.MAGICLINE: ("api_key",),
    TenantIntegrationType.FITOGRAM: (),
    TenantIntegrationType.GOOGLE_CALENDAR: ("service_account.private_key",),
    TenantIntegrationType.CSV: (),
}


_LIST = KeysetList(TenantIntegration, tenant_id=lambda c, value: c.tenant_id == value)


def list_integrations(
    tenant_id: uuid.UUID, *, limit: int, cursor: str | None = None
) -> RowPage:
    return _LIST.page(db.session, limit=limit, cursor=cursor, tenant_id=tenant_id)


def get_integration(
    tenant_id: uuid.UUID, type_: TenantIntegrationType
) -> TenantIntegration:
    integration = _find(tenant_id, type_)
    if integration is None:
        raise NotFoundError(f"The {type_.value} integration is not set up.")
    return integration


def put_integration(
    tenant_id: uuid.UUID,
    type_: TenantIntegrationType,
    *,
    config: dict[str, Any],
    active: bool,
) -> tuple[TenantIntegration, bool]:
    """Create or replace the tenant's integration of ``type_``; commits.

    Secrets that ``config`` omits are kept from the stored config; one set to
    ``None`` is removed. Returns the integration and whether it was created.
    Raises ``ValidationError`` when a required secret is set nowhere.
    """
    try:
        return _put(tenant_id, type_, config, active)
    except IntegrityError:
        # Another request created it between our read and our insert:
        # replace what it stored instead.
        db.session.rollback()
    try:
        return _put(tenant_id, type_, config, active)
    except IntegrityError:
        db.session.rollback()
        raise ConflictError(
            f"The {type_.value} integration changed while it was saved; try again."
        ) from None


def delete_integration(tenant_id: uuid.UUID, type_: TenantIntegrationType) -> None:
    """Delete the tenant's integration of ``type_`` and its secrets; commits."""
    db.session.delete(get_integration(tenant_id, type_))
    db.session.commit()


# A stored integration: the model's object, or a row read like it (services.rows).
Stored = TenantIntegration | sa.Row[Any]


def public_config(integration: Stored) -> dict[str, Any]:
    """Return the integration's config without its secrets."""
    return sealed.redact_secrets(integration.config, SECRET_KEYS[integration.type])


def secrets_set(integration: Stored) -> list[str]:
    """Return the paths of the integration's secrets that have a value."""
    return sealed.secrets_set(integration.config, SECRET_KEYS[integration.type])


def _put(
    tenant_id: uuid.UUID,
    type_: TenantIntegrationType,
    config: dict[str, Any],
    active: bool,
) -> tuple[TenantIntegration, bool]:
    # The row lock makes concurrent PUTs replace one after the other, each
    # merging the secrets the one before it stored.
    integration = _find(tenant_id, type_, for_update=True)
    sealed_config = SealedConfig(
        "config",
        SECRET_KEYS[type_],
        required=REQUIRED_SECRET_KEYS[type_],
        message=f"The {type_.value} config lacks a required secret.",
    )
    stored = sealed_config.store(
        config, integration.config if integration is not None else None
    )
    created = integration is None
    if integration is None:
        integration = TenantIntegration(tenant_id=tenant_id, type=type_)
        db.session.add(integration)
    integration.config = stored
    integration.active = active
    db.session.commit()
    return integration, created


def _find(
    tenant_id: uuid.UUID, type_: TenantIntegrationType, *, for_update: bool = False
) -> TenantIntegration | None:
    statement = sa.select(TenantIntegration).where(
        TenantIntegration.tenant_id == tenant_id, TenantIntegration.type == type_
    )
    if for_update:
        statement = statement.with_for_update().execution_options(
            populate_existing=True
        )
    return db.session.scalar(statement)
