"""Schemas of the tenant's WhatsApp channels and their Cloud API configuration."""

from __future__ import annotations

from marshmallow import fields
from marshmallow import validate

from pilar.models import WhatsAppStatus
from pilar.models.whatsapp_channels import WA_CLOUD_API_SECRET_KEYS
from pilar.schemas.base import Schema
from pilar.schemas.configs import StoredConfigSchema
from pilar.schemas.fields import E164Number
from pilar.schemas.pagination import PageSchema

_WRITE_ONLY_NOTE = (
    "Secret: write-only, encrypted at rest, never shown; "
    "`secrets_set` says whether one is stored."
)


class WaCloudApiConfigSchema(StoredConfigSchema):
    secret_keys = WA_CLOUD_API_SECRET_KEYS

    phone_number_id = fields.String()
    business_account_id = fields.String()
    api_version = fields.String(allow_none=True)
    secrets_set = fields.List(
        fields.String(),
        metadata={
            "description": 'The secrets that are stored, e.g. `["access_token"]`.'
        },
    )


class WaCloudApiConfigCreateSchema(Schema):
    phone_number_id = fields.String(
        required=True,
        validate=validate.Regexp(r"^[0-9]{1,32}\Z", error="Must be 1 to 32 digits."),
        metadata={"description": "Meta's id of the number; unique across tenants."},
    )
    business_account_id = fields.String(
        required=True, validate=validate.Length(min=1, max=64)
    )
    access_token = fields.String(
        required=True,
        load_only=True,
        validate=validate.Length(min=1, max=4096),
        metadata={"description": _WRITE_ONLY_NOTE},
    )
    api_version = fields.String(
        load_default=None,
        validate=validate.Regexp(
            r"^v?[0-9]{1,3}(\.[0-9]{1,3})?\Z", error="Must be a version such as v21.0."
        ),
        metadata={"description": "Graph API version, such as `v21.0`."},
    )


class WaCloudApiConfigUpdateSchema(WaCloudApiConfigCreateSchema):
    access_token = fields.String(
        load_only=True,
        validate=validate.Length(min=1, max=4096),
        metadata={"description": "Omit to keep the stored one. " + _WRITE_ONLY_NOTE},
    )


class WhatsAppChannelSchema(Schema):
    id = fields.UUID(dump_only=True)
    wa_number = fields.String(metadata={"description": "E.164."})
    wa_cloud_api_config = fields.Nested(WaCloudApiConfigSchema, allow_none=True)
    status = fields.Enum(WhatsAppStatus)
    created_at = fields.AwareDateTime(dump_only=True)
    updated_at = fields.AwareDateTime(dump_only=True)


class WhatsAppChannelCreateSchema(Schema):
    wa_number = E164Number(required=True)
    wa_cloud_api_config = fields.Nested(
        WaCloudApiConfigCreateSchema, load_default=None, allow_none=True
    )


class WhatsAppChannelUpdateSchema(Schema):
    wa_number = E164Number()
    wa_cloud_api_config = fields.Nested(
        WaCloudApiConfigUpdateSchema,
        allow_none=True,
        metadata={"description": "Replaces the stored configuration; null removes it."},
    )
    status = fields.Enum(WhatsAppStatus)


class WhatsAppChannelPageSchema(PageSchema):
    items = fields.Nested(WhatsAppChannelSchema, many=True)
