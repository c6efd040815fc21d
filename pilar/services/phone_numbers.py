"""The tenant's phone numbers: claimed across tenants, SIP secrets encrypted at rest."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

from pilar.db.extensions import db
from pilar.models import PhoneNumber
from pilar.models import PhoneStatus
from pilar.models.phone_numbers import SIP_SECRET_KEYS
from pilar.services.configs import SealedConfig
from pilar.services.lookups import get_by_id
from pilar.services.numbers import HeldNumbers
from pilar.services.pagination import KeysetList
from pilar.services.pagination import RowPage

_LIST = KeysetList(PhoneNumber)
_NUMBERS = HeldNumbers(PhoneNumber)
_CREDENTIALS = SealedConfig(
    "sip_credentials",
    SIP_SECRET_KEYS,
    required=("password",),
    message="SIP credentials need a password.",
)


def list_phone_numbers(*, limit: int, cursor: str | None = None) -> RowPage:
    return _LIST.page(db.session, limit=limit, cursor=cursor)


def get_phone_number(phone_number_id: uuid.UUID) -> PhoneNumber:
    return get_by_id(PhoneNumber, phone_number_id, "Phone number")


def create_phone_number(
    *, number: str, sip_credentials: Mapping[str, Any] | None = None
) -> PhoneNumber:
    """Create a PENDING phone number and claim ``number``; commits.

    Raises ``ConflictError`` when any tenant holds the number already.
    """
    phone_number = PhoneNumber(
        id=uuid.uuid4(),
        number=number,
        sip_credentials=_CREDENTIALS.store(sip_credentials, None),
        status=PhoneStatus.PENDING,
    )
    _NUMBERS.claim(phone_number)
    db.session.add(phone_number)
    db.session.commit()
    return phone_number


def update_phone_number(
    phone_number_id: uuid.UUID, changes: Mapping[str, Any]
) -> PhoneNumber:
    """Apply ``changes`` (any of number, sip_credentials, status); commits.

    ``sip_credentials`` replaces the stored object, but a password it omits
    keeps the stored one. A new number is claimed and the old one freed.
    """
    phone_number = get_phone_number(phone_number_id)
    if "sip_credentials" in changes:
        phone_number.sip_credentials = _CREDENTIALS.store(
            changes["sip_credentials"], phone_number.sip_credentials
        )
    if "number" in changes:
        _NUMBERS.replace(phone_number, "number", changes["number"])
    if "status" in changes:
        phone_number.status = changes["status"]
    db.session.commit()
    return phone_number


def delete_phone_number(phone_number_id: uuid.UUID) -> None:
    """Delete the phone number and free it for every tenant; commits."""
    phone_number = get_phone_number(phone_number_id)
    _NUMBERS.release(phone_number)
    db.session.delete(phone_number)
    db.session.commit()
