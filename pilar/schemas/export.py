"""The shape of a studio's export: its data, as the API shows each kind of it."""

from __future__ import annotations

from marshmallow import fields

from pilar.schemas.base import Schema
from pilar.schemas.conversations import ConversationSchema
from pilar.schemas.integrations import IntegrationSchema
from pilar.schemas.phone_numbers import PhoneNumberSchema
from pilar.schemas.users import UserSchema
from pilar.schemas.whatsapp_channels import WhatsAppChannelSchema
from pilar.schemas.workout_plans import WorkoutPlanSchema


class ExportedTenantSchema(Schema):
    name = fields.String()
    domain = fields.String()


class StudioExportSchema(Schema):
    """Every list holds all of the studio's items, oldest first."""

    tenant = fields.Nested(ExportedTenantSchema)
    users = fields.List(
        fields.Nested(UserSchema), metadata={"description": "No password hashes."}
    )
    integrations = fields.List(
        fields.Nested(IntegrationSchema),
        metadata={"description": "Configs without secrets; `secrets_set` names them."},
    )
    phone_numbers = fields.List(
        fields.Nested(PhoneNumberSchema),
        metadata={"description": "SIP credentials without secrets."},
    )
    whatsapp_channels = fields.List(
        fields.Nested(WhatsAppChannelSchema),
        metadata={"description": "Cloud API configs without secrets."},
    )
    conversations = fields.List(fields.Nested(ConversationSchema))
    workout_plans = fields.List(fields.Nested(WorkoutPlanSchema))
