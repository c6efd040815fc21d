"""Tenant API: ``/api/v1/conversations`` and their messages (docs/api.md)."""

from __future__ import annotations

import uuid
from typing import Any

from flask.views import MethodView

from pilar.api.auth import SECURITY
from pilar.api.auth import authenticate
from pilar.api.blueprint import Blueprint
from pilar.api.errors import error_responses
from pilar.models import Conversation
from pilar.schemas.conversations import ConversationCreateSchema
from pilar.schemas.conversations import ConversationPageSchema
from pilar.schemas.conversations import ConversationQueryArgsSchema
from pilar.schemas.conversations import ConversationSchema
from pilar.schemas.conversations import ConversationUpdateSchema
from pilar.schemas.conversations import MessageCreateSchema
from pilar.services import conversations as conversation_service
from pilar.services.pagination import RowPage

blp = Blueprint(
    "conversations",
    __name__,
    url_prefix="/api/v1/conversations",
    description="Conversations with members over voice, WhatsApp or email, "
    "with their transcripts. Any role.",
)
blp.before_request(authenticate)


@blp.route("")
class Conversations(MethodView):
    @blp.doc(security=SECURITY)
    @blp.arguments(ConversationQueryArgsSchema, location="query")
    @blp.response(200, ConversationPageSchema)
    @error_responses(blp, 401)
    def get(self, args: dict[str, Any]) -> RowPage:
        """List conversations, newest first

        Filter by `channel`, and by creation time with `since` (inclusive)
        and `until` (exclusive), both ISO 8601 with a time zone; page with
        `limit` and `cursor`.
        """
        return conversation_service.list_conversations(**args)

    @blp.doc(security=SECURITY)
    @blp.arguments(ConversationCreateSchema)
    @blp.response(201, ConversationSchema)
    @error_responses(blp, 400, 401, 413, 415)
    def post(self, data: dict[str, Any]) -> Conversation:
        """Start a conversation

        `transcript` (a list of turns `{role, text, at?}`) defaults to empty
        and `metadata` (a JSON object) to `{}`.
        """
        return conversation_service.create_conversation(**data)


@blp.route("/<uuid:conversation_id>")
class ConversationsById(MethodView):
    @blp.doc(security=SECURITY)
    @blp.response(200, ConversationSchema)
    @error_responses(blp, 401, 404)
    def get(self, conversation_id: uuid.UUID) -> Conversation:
        """Show a conversation with its transcript"""
        return conversation_service.get_conversation(conversation_id)

    @blp.doc(security=SECURITY)
    @blp.arguments(ConversationUpdateSchema)
    @blp.response(200, ConversationSchema)
    @error_responses(blp, 400, 401, 404, 413, 415)
    def patch(self, data: dict[str, Any], conversation_id: uuid.UUID) -> Conversation:
        """Change a conversation's channel, transcript or metadata

        `transcript` and `metadata` replace the stored values whole; to add
        one turn, post it to `/messages` instead.
        """
        return conversation_service.update_conversation(conversation_id, data)

    @blp.doc(security=SECURITY)
    @blp.response(204)
    @error_responses(blp, 401, 404)
    def delete(self, conversation_id: uuid.UUID) -> None:
        """Delete a conversation"""
        conversation_service.delete_conversation(conversation_id)


@blp.route("/<uuid:conversation_id>/messages")
class ConversationMessages(MethodView):
    @blp.doc(security=SECURITY)
    @blp.arguments(MessageCreateSchema)
    @blp.response(201, ConversationSchema)
    @error_responses(blp, 400, 401, 404, 413, 415)
    def post(self, turn: dict[str, Any], conversation_id: uuid.UUID) -> Conversation:
        """Append one turn to a conversation's transcript

        Appends `{role, text}` (with `at`, the time of the request unless
        given) in one atomic update, so concurrent appends never lose a turn.
        Returns the conversation with its whole transcript.
        """
        return conversation_service.append_turn(conversation_id, turn)
