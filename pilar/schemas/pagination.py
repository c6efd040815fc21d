"""Query arguments and envelope shared by every list (docs/api.md)."""

from __future__ import annotations

from marshmallow import fields
from marshmallow import validate

from pilar.schemas.base import Schema

MAX_PAGE_SIZE = 200


class PageArgsSchema(Schema):
    limit = fields.Integer(
        load_default=50,
        validate=validate.Range(min=1, max=MAX_PAGE_SIZE),
        metadata={"description": f"Items per page, 1 to {MAX_PAGE_SIZE}."},
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
