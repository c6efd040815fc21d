"""Enumerations of the domain, shared by models and schemas."""

from __future__ import annotations

import enum


class TenantStatus(enum.StrEnum):
    ACTIVE = "ACTIVE"
    SUSPENDED = "SUSPENDED"


class Role(enum.StrEnum):
    OWNER = "OWNER"
    ADMIN = "ADMIN"
    STAFF = "STAFF"


class TenantIntegrationType(enum.StrEnum):
    MAGICLINE = "MAGICLINE"
    FITOGRAM = "FITOGRAM"
    GOOGLE_CALENDAR = "GOOGLE_CALENDAR"
    CSV = "CSV"


class NumberKind(enum.StrEnum):
    """What a row of the public number index claims."""

    PHONE = "PHONE"
    WHATSAPP = "WHATSAPP"
    WHATSAPP_PHONE_NUMBER_ID = "WHATSAPP_PHONE_NUMBER_ID"


class PhoneStatus(enum.StrEnum):
    PENDING = "PENDING"
    ACTIVE = "ACTIVE"
    DISCONNECTED = "DISCONNECTED"


class WhatsAppStatus(enum.StrEnum):
    PENDING = "PENDING"
    ACTIVE = "ACTIVE"
    DISCONNECTED = "DISCONNECTED"


class Channel(enum.StrEnum):
    VOICE = "VOICE"
    WHATSAPP = "WHATSAPP"
    EMAIL = "EMAIL"
