"""Schemas of the tenant's conversations, their turns and their filters."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import marshmallow as ma
from marshmallow import fields
from marshmallow import validate

from pilar.models import Channel
from pilar.schemas.base import Schema
from pilar.schemas.fields import JSONObject
from pilar.schemas.fields import UTCDateTime
from pilar.schemas.pagination import PageArgsSchema
from pilar.schemas.pagination import PageSchema

# An unencoded "+" in a query string arrives as a space: "...T10:00:00 02:00".
_SPACED_OFFSET_RE = re.compile(r"(T[0-9:.]+) ([0-9]{2}:?[0-9]{2})$")


# The OpenAPI shape of a stored turn; see ConversationSchema.transcript.
TURN_OPENAPI = {
    "type": "object",
    "properties": {
        "role": {"type": "string"},
        "text": {"type": "string"},
        "at": {"type": "string", "description": "ISO 8601, UTC; absent if unknown."},
    },
}


class TurnCreateSchema(Schema):
    role = fields.String(
        required=True,
        validate=validate.Length(min=1, max=64),
        metadata={"description": "Who spoke, e.g. `member` or `assistant`."},
    )
    text = fields.String(required=True, validate=validate.Length(min=1))
    at = UTCDateTime(
        metadata={"description": "When it was said; ISO 8601 with a time zone."}
    )


class MessageCreateSchema(TurnCreateSchema):
    at = UTCDateTime(
        metadata={
            "description": "When it was said; ISO 8601 with a time zone. "
            "Defaults to the time of the request."
        }
    )


class ConversationSchema(Schema):
    id = fields.UUID(dump_only=True)
    channel = fields.Enum(Channel)
    # Dumped as stored: turns are validated on the way in, and a nested schema
    # per turn cost more than the rest of a list response put together.
    transcript = fields.Raw(metadata={"type": "array", "items": TURN_OPENAPI})
    metadata = fields.Dict(attribute="metadata_")
    created_at = fields.AwareDateTime(dump_only=True)
    updated_at = fields.AwareDateTime(dump_only=True)


class ConversationCreateSchema(Schema):
    channel = fields.Enum(Channel, required=True)
    transcript = fields.List(fields.Nested(TurnCreateSchema), load_default=list)
    metadata = JSONObject(load_default=dict)


class ConversationUpdateSchema(Schema):
    channel = fields.Enum(Channel)
    transcript = fields.List(
        fields.Nested(TurnCreateSchema),
        metadata={"description": "Replaces the whole transcript."},
    )
    metadata = JSONObject(metadata={"description": "Replaces the stored metadata."})


class ConversationQueryArgsSchema(PageArgsSchema):
    channel = fields.Enum(Channel, load_default=None)
    since = UTCDateTime(
        load_default=None,
        metadata={"description": "Created at or after; ISO 8601 with a time zone."},
    )
    until = UTCDateTime(
        load_default=None,
        metadata={"description": "Created before; ISO 8601 with a time zone."},
    )

    @ma.pre_load
    def _restore_plus(self, data: Mapping[str, Any], **kwargs: Any) -> dict[str, Any]:
        restored = dict(data)
        for key in ("since", "until"):
            value = restored.get(key)
            if isinstance(value, str):
                restored[key] = _SPACED_OFFSET_RE.sub(r"\1+\2", value)
        return restored

    @ma.validates_schema
    def _check_range(self, data: Mapping[str, Any], **kwargs: Any) -> None:
        since, until = data.get("since"), data.get("until")
        if since is not None and until is not None and since > until:
            raise ma.ValidationError("Must not be before `since`.", "until")


class ConversationPageSchema(PageSchema):
    items = fields.Nested(ConversationSchema, many=True)
