"""The error envelope (docs/api.md), for the OpenAPI document."""

from __future__ import annotations

from marshmallow import fields

from pilar.schemas.base import Schema


class ErrorSchema(Schema):
    # required: every error has these, which the document then promises.
    code = fields.String(
        required=True,
        metadata={
            "description": "Stable snake_case machine code, e.g. `validation_error`."
        },
    )
    status = fields.Integer(required=True, metadata={"description": "The HTTP status."})
    message = fields.String(
        required=True, metadata={"description": "What went wrong, for people."}
    )
    errors = fields.Dict(
        metadata={
            "description": "Field name → list of messages (nested for objects); "
            "present on validation errors."
        }
    )
