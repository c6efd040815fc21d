"""The body of ``GET /healthz``, for the OpenAPI document."""

from __future__ import annotations

from marshmallow import fields

from pilar.schemas.base import Schema


class HealthSchema(Schema):
    status = fields.String(
        required=True,
        metadata={
            "enum": ["ok", "unavailable"],
            "description": "`ok` when the database answers, else `unavailable`.",
        },
    )
