"""Tenant API: ``/api/v1/whatsapp-channels`` (docs/api.md)."""

from __future__ import annotations

import uuid
from typing import Any

from flask.views import MethodView

from pilar.api.auth import SECURITY
from pilar.api.auth import authenticate
from pilar.api.auth import roles_required
from pilar.api.blueprint import Blueprint
from pilar.api.errors import error_responses
from pilar.models import Role
from pilar.models import WhatsAppChannel
from pilar.schemas.pagination import PageArgsSchema
from pilar.schemas.whatsapp_channels import WhatsAppChannelCreateSchema
from pilar.schemas.whatsapp_channels import WhatsAppChannelPageSchema
from pilar.schemas.whatsapp_channels import WhatsAppChannelSchema
from pilar.schemas.whatsapp_channels import WhatsAppChannelUpdateSchema
from pilar.services import whatsapp_channels as channel_service
from pilar.services.pagination import RowPage

blp = Blueprint(
    "whatsapp_channels",
    __name__,
    url_prefix="/api/v1/whatsapp-channels",
    description="The studio's WhatsApp Business numbers, with their Cloud API "
    "configuration. Read: any role; write: OWNER or ADMIN.",
)
blp.before_request(authenticate)
blp.before_request(roles_required(Role.OWNER, Role.ADMIN, writes_only=True))


@blp.route("")
class WhatsAppChannels(MethodView):
    @blp.doc(security=SECURITY)
    @blp.arguments(PageArgsSchema, location="query")
    @blp.response(200, WhatsAppChannelPageSchema)
    @error_responses(blp, 401)
    def get(self, args: dict[str, Any]) -> RowPage:
        """List WhatsApp channels, newest first

        Page with `limit` and `cursor`. Secrets are never shown:
        `wa_cloud_api_config.secrets_set` names those that are stored.
        """
        return channel_service.list_whatsapp_channels(**args)

    @blp.doc(security=SECURITY)
    @blp.arguments(WhatsAppChannelCreateSchema)
    @blp.response(201, WhatsAppChannelSchema)
    @error_responses(blp, 400, 401, 403, 409, 413, 415)
    def post(self, data: dict[str, Any]) -> WhatsAppChannel:
        """Add a WhatsApp channel

        `wa_number` must be a valid E.164 number; it is stored in E.164 form
        and the channel starts `PENDING`. A `wa_number` or
        `wa_cloud_api_config.phone_number_id` that any studio holds gets 409.
        `wa_cloud_api_config` is optional.
        """
        return channel_service.create_whatsapp_channel(**data)


@blp.route("/<uuid:channel_id>")
class WhatsAppChannelsById(MethodView):
    @blp.doc(security=SECURITY)
    @blp.response(200, WhatsAppChannelSchema)
    @error_responses(blp, 401, 404)
    def get(self, channel_id: uuid.UUID) -> WhatsAppChannel:
        """Show a WhatsApp channel"""
        return channel_service.get_whatsapp_channel(channel_id)

    @blp.doc(security=SECURITY)
    @blp.arguments(WhatsAppChannelUpdateSchema)
    @blp.response(200, WhatsAppChannelSchema)
    @error_responses(blp, 400, 401, 403, 404, 409, 413, 415)
    def patch(self, data: dict[str, Any], channel_id: uuid.UUID) -> WhatsAppChannel:
        """Change a WhatsApp channel, its Cloud API configuration or its status

        A new `wa_number` or `phone_number_id` is claimed (409 if any studio
        holds it) and the old one freed. `wa_cloud_api_config` replaces the
        stored object whole, except that an `access_token` it omits keeps the
        stored one; null removes it.
        """
        return channel_service.update_whatsapp_channel(channel_id, data)

    @blp.doc(security=SECURITY)
    @blp.response(204)
    @error_responses(blp, 401, 403, 404)
    def delete(self, channel_id: uuid.UUID) -> None:
        """Delete a WhatsApp channel and free its numbers for every studio"""
        channel_service.delete_whatsapp_channel(channel_id)
