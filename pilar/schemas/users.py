"""Schemas of a tenant's users (also the shape of ``GET /api/v1/me``)."""

from __future__ import annotations

from marshmallow import fields
from marshmallow import validate

from pilar.models import Role
from pilar.schemas.base import Schema
from pilar.schemas.fields import EmailAddress
from pilar.schemas.pagination import PageSchema
from pilar.security.passwords import MIN_PASSWORD_LENGTH

_PASSWORD_LENGTH = validate.Length(min=MIN_PASSWORD_LENGTH, max=1024)


class UserSchema(Schema):
    id = fields.UUID(dump_only=True)
    email = EmailAddress()
    role = fields.Enum(Role)
    created_at = fields.AwareDateTime(dump_only=True)
    updated_at = fields.AwareDateTime(dump_only=True)


class UserCreateSchema(Schema):
    email = EmailAddress(
        required=True,
        metadata={"description": "Unique within the tenant, ignoring case."},
    )
    password = fields.String(
        required=True,
        load_only=True,
        validate=_PASSWORD_LENGTH,
        metadata={"description": f"At least {MIN_PASSWORD_LENGTH} characters."},
    )
    role = fields.Enum(
        Role,
        load_default=Role.STAFF,
        metadata={"description": "Only an OWNER may create an OWNER."},
    )


class UserUpdateSchema(Schema):
    email = EmailAddress()
    password = fields.String(load_only=True, validate=_PASSWORD_LENGTH)
    role = fields.Enum(
        Role,
        metadata={
            "description": "Only an OWNER may give or take the OWNER role; "
            "the last OWNER keeps it."
        },
    )


class UserPageSchema(PageSchema):
    items = fields.Nested(UserSchema, many=True)
