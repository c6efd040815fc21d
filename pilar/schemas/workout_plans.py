"""Schemas of the tenant's workout plans."""

from __future__ import annotations

from marshmallow import fields
from marshmallow import validate

from pilar.schemas.base import Schema
from pilar.schemas.fields import JSONObject
from pilar.schemas.pagination import PageArgsSchema
from pilar.schemas.pagination import PageSchema

_USER_ID_DESCRIPTION = "The member the plan is for, as the studio's systems name them."


class WorkoutPlanSchema(Schema):
    id = fields.UUID(dump_only=True)
    user_id = fields.String(
        allow_none=True, metadata={"description": _USER_ID_DESCRIPTION}
    )
    plan = fields.Dict()
    created_at = fields.AwareDateTime(dump_only=True)
    updated_at = fields.AwareDateTime(dump_only=True)


class WorkoutPlanCreateSchema(Schema):
    user_id = fields.String(
        load_default=None,
        allow_none=True,
        validate=validate.Length(min=1, max=255),
        metadata={"description": _USER_ID_DESCRIPTION},
    )
    plan = JSONObject(required=True)


class WorkoutPlanUpdateSchema(Schema):
    user_id = fields.String(
        allow_none=True,
        validate=validate.Length(min=1, max=255),
        metadata={"description": _USER_ID_DESCRIPTION},
    )
    plan = JSONObject(metadata={"description": "Replaces the stored plan."})


class WorkoutPlanQueryArgsSchema(PageArgsSchema):
    user_id = fields.String(
        load_default=None,
        validate=validate.Length(min=1, max=255),
        metadata={"description": "Only the plans of this member."},
    )


class WorkoutPlanPageSchema(PageSchema):
    items = fields.Nested(WorkoutPlanSchema, many=True)
