"""Schemas of the inbound webhooks: Meta's verification query and our receipts."""

from __future__ import annotations

import marshmallow as ma
from marshmallow import fields

from pilar.schemas.base import Schema


class WhatsAppVerifyArgsSchema(Schema):
    """The query of Meta's verification request; other parameters are ignored."""

    class Meta:
        unknown = ma.EXCLUDE

    mode = fields.String(
        data_key="hub.mode",
        load_default="",
        metadata={"description": "`subscribe`."},
    )
    verify_token = fields.String(
        data_key="hub.verify_token",
        load_default="",
        metadata={"description": "The verify token typed into the Meta app."},
    )
    challenge = fields.String(
        data_key="hub.challenge",
        load_default="",
        metadata={"description": "Sent back as the body when the token matches."},
    )


class WhatsAppReceiptSchema(Schema):
    stored = fields.Integer(
        required=True, metadata={"description": "Messages stored by this delivery."}
    )
    duplicates = fields.Integer(
        required=True,
        metadata={"description": "Messages already stored, by an earlier delivery."},
    )
    ignored = fields.Integer(
        required=True,
        metadata={
            "description": "Messages for a number no studio holds, or for a "
            "DISCONNECTED channel: not stored."
        },
    )
