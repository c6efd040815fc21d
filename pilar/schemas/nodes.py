"""Schemas of the platform API's nodes."""

from __future__ import annotations

from marshmallow import fields

from pilar.schemas.base import Schema


class NodeSchema(Schema):
    name = fields.String(metadata={"description": "`default` is DATABASE_URL's."})
    tenants = fields.Integer(metadata={"description": "Tenants placed on it."})
    reachable = fields.Boolean(metadata={"description": "It answered just now."})
    placement = fields.Boolean(
        metadata={"description": "New tenants that name no node may go to it."}
    )


class NodeListSchema(Schema):
    items = fields.Nested(NodeSchema, many=True)
