"""Query arguments and envelope shared by every list (CONTRACT §6)."""

from __future__ import annotations

from marshmallow import fields
from marshmallow import validate

from pilar.schemas.base import Schema


class PageArgsSchema(Schema):
    limit = fields.Integer(
        load_default=50,
        validate=validate.Range(min=1, max=200),
        metadata={"description": "Items per page, 1 to 200."},
    )
    cursor = fields.String(
        load_default=None,
        validate=validate.Length(max=512),
        metadata={
            "description": "`next_cursor` of the previous page. Only the server "
            "makes cursors: any other value gets 422."
        },
    )


class PageSchema(Schema):
    next_cursor = fields.String(
        allow_none=True,
        metadata={"description": "Cursor of the next page; null on the last page."},
    )
