"""The tenant's WhatsApp channels: numbers and Cloud API ids claimed across tenants."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

from pilar.db.extensions import db
from pilar.models import WhatsAppChannel
from pilar.models import WhatsAppStatus
from pilar.models.whatsapp_channels import WA_CLOUD_API_SECRET_KEYS
from pilar.services.configs import SealedConfig
from pilar.services.lookups import get_by_id
from pilar.services.numbers import HeldNumbers
from pilar.services.pagination import KeysetList
from pilar.services.pagination import RowPage

_LIST = KeysetList(WhatsAppChannel)
_NUMBERS = HeldNumbers(WhatsAppChannel)
_CONFIG = SealedConfig(
    "wa_cloud_api_config",
    WA_CLOUD_API_SECRET_KEYS,
    required=("access_token",),
    message="The WhatsApp Cloud API configuration needs an access token.",
)


def list_whatsapp_channels(*, limit: int, cursor: str | None = None) -> RowPage:
    return _LIST.page(db.session, limit=limit, cursor=cursor)


def get_whatsapp_channel(channel_id: uuid.UUID) -> WhatsAppChannel:
    return get_by_id(WhatsAppChannel, channel_id, "WhatsApp channel")


def create_whatsapp_channel(
    *, wa_number: str, wa_cloud_api_config: Mapping[str, Any] | None = None
) -> WhatsAppChannel:
    """Create a PENDING channel and claim its number and phone_number_id; commits.

    Raises ``ConflictError`` when any tenant holds either of them already.
    """
    channel = WhatsAppChannel(
        id=uuid.uuid4(),
        wa_number=wa_number,
        wa_cloud_api_config=_CONFIG.store(wa_cloud_api_config, None),
        status=WhatsAppStatus.PENDING,
    )
    _NUMBERS.claim(channel)
    db.session.add(channel)
    db.session.commit()
    return channel


def update_whatsapp_channel(
    channel_id: uuid.UUID, changes: Mapping[str, Any]
) -> WhatsAppChannel:
    """Apply ``changes`` (any of wa_number, wa_cloud_api_config, status); commits.

    ``wa_cloud_api_config`` replaces the stored object, but an access token it
    omits keeps the stored one. New numbers and ids are claimed, old ones freed.
    """
    channel = get_whatsapp_channel(channel_id)
    if "wa_cloud_api_config" in changes:
        config = _CONFIG.store(
            changes["wa_cloud_api_config"], channel.wa_cloud_api_config
        )
        _NUMBERS.replace(channel, "wa_cloud_api_config", config)
    if "wa_number" in changes:
        _NUMBERS.replace(channel, "wa_number", changes["wa_number"])
    if "status" in changes:
        channel.status = changes["status"]
    db.session.commit()
    return channel


def delete_whatsapp_channel(channel_id: uuid.UUID) -> None:
    """Delete the channel and free its number and phone_number_id; commits."""
    channel = get_whatsapp_channel(channel_id)
    _NUMBERS.release(channel)
    db.session.delete(channel)
    db.session.commit()
