"""Schemas of the platform API's tenants."""

from __future__ import annotations

from marshmallow import fields
from marshmallow import validate

from pilar.models import TenantStatus
from pilar.passwords import MIN_PASSWORD_LENGTH
from pilar.schemas.base import Schema
from pilar.schemas.fields import EmailAddress
from pilar.schemas.pagination import PageArgsSchema
from pilar.schemas.pagination import PageSchema


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


class TenantCreateSchema(Schema):
    name = fields.String(required=True, validate=validate.Length(min=1, max=200))
    domain = fields.String(required=True, validate=validate.Length(min=1, max=253))
    schema_name = fields.String(
        load_default=None,
        allow_none=True,
        metadata={
            "description": "Derived from the domain's first label when omitted; "
            "else must match ^[a-z][a-z0-9_]{0,62}$ and not be reserved."
        },
    )
    owner = fields.Nested(OwnerSchema, load_default=None, allow_none=True)
    node = fields.String(
        load_default=None,
        allow_none=True,
        validate=validate.Length(min=1, max=32),
        metadata={
            "description": "A configured node (GET /api/v1/nodes); when omitted, "
            "the placement node with the fewest tenants."
        },
    )


class TenantUpdateSchema(Schema):
    name = fields.String(validate=validate.Length(min=1, max=200))
    domain = fields.String(validate=validate.Length(min=1, max=253))
    status = fields.Enum(TenantStatus)


class TenantQueryArgsSchema(PageArgsSchema):
    status = fields.Enum(TenantStatus, load_default=None)
    domain = fields.String(load_default=None, validate=validate.Length(max=253))
    node = fields.String(load_default=None, validate=validate.Length(max=32))


class TenantPageSchema(PageSchema):
    items = fields.Nested(TenantSchema, many=True)
