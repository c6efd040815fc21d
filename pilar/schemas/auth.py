"""Schemas of signing in on a tenant host."""

from __future__ import annotations

from marshmallow import fields
from marshmallow import validate

from pilar.schemas.base import Schema


class TokenRequestSchema(Schema):
    # No format or length rules beyond a sane bound: a malformed email or a
    # short password is simply wrong credentials, answered like any other.
    email = fields.String(required=True, validate=validate.Length(min=1, max=320))
    password = fields.String(
        required=True, load_only=True, validate=validate.Length(min=1, max=1024)
    )


class TokenSchema(Schema):
    access_token = fields.String(
        metadata={"description": "Send as `Authorization: Bearer <access_token>`."}
    )
    token_type = fields.String(metadata={"enum": ["Bearer"]})
    expires_in = fields.Integer(
        metadata={"description": "Seconds until the token expires."}
    )
