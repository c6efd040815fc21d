"""Schemas of the tenant's phone numbers and their SIP credentials."""

from __future__ import annotations

from marshmallow import fields
from marshmallow import validate

from pilar.models import PhoneStatus
from pilar.models.phone_numbers import SIP_SECRET_KEYS
from pilar.schemas.base import Schema
from pilar.schemas.configs import StoredConfigSchema
from pilar.schemas.fields import E164Number
from pilar.schemas.fields import HostName
from pilar.schemas.pagination import PageSchema

SIP_TRANSPORTS = ("udp", "tcp", "tls")
SIP_DEFAULT_PORT = 5060
_WRITE_ONLY_NOTE = (
    "Secret: write-only, encrypted at rest, never shown; "
    "`secrets_set` says whether one is stored."
)


class SipCredentialsSchema(StoredConfigSchema):
    secret_keys = SIP_SECRET_KEYS

    username = fields.String()
    registrar = fields.String()
    port = fields.Integer()
    transport = fields.String()
    secrets_set = fields.List(
        fields.String(),
        metadata={"description": 'The secrets that are stored, e.g. `["password"]`.'},
    )


class SipCredentialsCreateSchema(Schema):
    username = fields.String(required=True, validate=validate.Length(min=1, max=255))
    password = fields.String(
        required=True,
        load_only=True,
        validate=validate.Length(min=1, max=1024),
        metadata={"description": _WRITE_ONLY_NOTE},
    )
    registrar = HostName(
        required=True,
        metadata={"description": "The SIP registrar: a host name or an IP address."},
    )
    port = fields.Integer(
        strict=True,
        load_default=SIP_DEFAULT_PORT,
        validate=validate.Range(min=1, max=65535),
    )
    transport = fields.String(
        load_default="udp", validate=validate.OneOf(SIP_TRANSPORTS)
    )


class SipCredentialsUpdateSchema(SipCredentialsCreateSchema):
    password = fields.String(
        load_only=True,
        validate=validate.Length(min=1, max=1024),
        metadata={"description": "Omit to keep the stored one. " + _WRITE_ONLY_NOTE},
    )


class PhoneNumberSchema(Schema):
    id = fields.UUID(dump_only=True)
    number = fields.String(metadata={"description": "E.164."})
    sip_credentials = fields.Nested(SipCredentialsSchema, allow_none=True)
    status = fields.Enum(PhoneStatus)
    created_at = fields.AwareDateTime(dump_only=True)
    updated_at = fields.AwareDateTime(dump_only=True)


class PhoneNumberCreateSchema(Schema):
    number = E164Number(required=True)
    sip_credentials = fields.Nested(
        SipCredentialsCreateSchema, load_default=None, allow_none=True
    )


class PhoneNumberUpdateSchema(Schema):
    number = E164Number()
    sip_credentials = fields.Nested(
        SipCredentialsUpdateSchema,
        allow_none=True,
        metadata={"description": "Replaces the stored credentials; null removes them."},
    )
    status = fields.Enum(PhoneStatus)


class PhoneNumberPageSchema(PageSchema):
    items = fields.Nested(PhoneNumberSchema, many=True)
