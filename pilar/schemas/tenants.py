"""Schemas of the platform API's tenants."""

from __future__ import annotations

from marshmallow import fields
from marshmallow import validate

from pilar.models import MAX_TENANT_NAME_LENGTH
from pilar.models import TenantStatus
from pilar.schemas.base import Schema
from pilar.schemas.fields import HOST_NAME_PATTERN
from pilar.schemas.fields import NOT_BLANK_PATTERN
from pilar.schemas.fields import EmailAddress
from pilar.schemas.pagination import PageArgsSchema
from pilar.schemas.pagination import PageSchema
from pilar.security.passwords import MIN_PASSWORD_LENGTH


class TenantSchema(Schema):
    id = fields.UUID(dump_only=True)
    name = fields.String()
    domain = fields.String()
    schema_name = fields.String()
    status = fields.Enum(TenantStatus)
    node = fields.String(
        dump_only=True, metadata={"description": "The node that holds its db schema."}
    )
    created_at = fields.AwareDateTime(dump_only=True)
    updated_at = fields.AwareDateTime(dump_only=True)


class TenantDetailSchema(TenantSchema):
    revision = fields.String(
        attribute="schema_revision",
        allow_none=True,
        metadata={"description": "The tenant migration its db schema is at."},
    )


class OwnerSchema(Schema):
    email = EmailAddress(required=True)
    password = fields.String(
        required=True,
        load_only=True,
        validate=validate.Length(min=MIN_PASSWORD_LENGTH, max=1024),
    )


_NAME = {
    "description": "Blanks around it are dropped; what remains has 1 to "
    f"{MAX_TENANT_NAME_LENGTH} characters.",
    "pattern": NOT_BLANK_PATTERN,
}
_DOMAIN = {
    "description": "An RFC 1123 host name of two labels or more, such as "
    "`berlin.example.com`, that is not a platform host (else 422); one that "
    "another tenant has gets 409.",
    "pattern": HOST_NAME_PATTERN,
}


class TenantCreateSchema(Schema):
    name = fields.String(
        required=True,
        validate=validate.Length(min=1, max=MAX_TENANT_NAME_LENGTH),
        metadata=_NAME,
    )
    domain = fields.String(
        required=True, validate=validate.Length(min=1, max=253), metadata=_DOMAIN
    )
    schema_name = fields.String(
        load_default=None,
        allow_none=True,
        metadata={
            "description": "Derived from the domain's first label when omitted. "
            "Must not be reserved (else 422): `public`, `information_schema`, "
            "`pg_…`, an SQL reserved word, or a db schema that exists and is no "
            "tenant's; another tenant's gets 409.",
            "pattern": "^[a-z][a-z0-9_]{0,62}$",
        },
    )
    owner = fields.Nested(OwnerSchema, load_default=None, allow_none=True)
    node = fields.String(
        load_default=None,
        allow_none=True,
        validate=validate.Length(min=1, max=32),
        metadata={
            "description": "A configured node (GET /api/v1/nodes; else 422); "
            "when omitted, the placement node with the fewest tenants."
        },
    )


class TenantUpdateSchema(Schema):
    name = fields.String(
        validate=validate.Length(min=1, max=MAX_TENANT_NAME_LENGTH), metadata=_NAME
    )
    domain = fields.String(validate=validate.Length(min=1, max=253), metadata=_DOMAIN)
    status = fields.Enum(TenantStatus)


class TenantQueryArgsSchema(PageArgsSchema):
    status = fields.Enum(TenantStatus, load_default=None)
    domain = fields.String(load_default=None, validate=validate.Length(max=253))
    node = fields.String(load_default=None, validate=validate.Length(max=32))


class TenantPageSchema(PageSchema):
    items = fields.Nested(TenantSchema, many=True)
