"""The tenant's conversations and their transcripts, appended to atomically."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterable
from collections.abc import Mapping
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB

from pilar.db.extensions import db
from pilar.errors import NotFoundError
from pilar.models import Channel
from pilar.models import Conversation
from pilar.services.lookups import get_by_id
from pilar.services.pagination import KeysetList
from pilar.services.pagination import RowPage

_LIST = KeysetList(
    Conversation,
    channel=lambda c, value: c.channel == value,
    since=lambda c, value: c.created_at >= value,
    until=lambda c, value: c.created_at < value,
)


def list_conversations(
    *,
    channel: Channel | None = None,
    since: dt.datetime | None = None,
    until: dt.datetime | None = None,
    limit: int,
    cursor: str | None = None,
) -> RowPage:
    """Return a page of conversations (rows), newest first.

    ``since`` is inclusive and ``until`` exclusive, both on ``created_at``.
    """
    return _LIST.page(
        db.session,
        limit=limit,
        cursor=cursor,
        channel=channel,
        since=since,
        until=until,
    )


def get_conversation(conversation_id: uuid.UUID) -> Conversation:
    return get_by_id(Conversation, conversation_id, "Conversation")


def create_conversation(
    *,
    channel: Channel,
    transcript: Iterable[Mapping[str, Any]] = (),
    metadata: Mapping[str, Any] | None = None,
) -> Conversation:
    """Create a conversation; commits."""
    conversation = Conversation(
        channel=channel,
        transcript=[_stored_turn(turn) for turn in transcript],
        metadata_=dict(metadata or {}),
    )
    db.session.add(conversation)
    db.session.commit()
    return conversation


def update_conversation(
    conversation_id: uuid.UUID, changes: Mapping[str, Any]
) -> Conversation:
    """Apply ``changes`` (any of channel, transcript, metadata); commits.

    ``transcript`` and ``metadata`` replace the stored values whole.
    """
    conversation = get_conversation(conversation_id)
    if "channel" in changes:
        conversation.channel = changes["channel"]
    if "transcript" in changes:
        conversation.transcript = [_stored_turn(turn) for turn in changes["transcript"]]
    if "metadata" in changes:
        conversation.metadata_ = dict(changes["metadata"])
    db.session.commit()
    return conversation


def delete_conversation(conversation_id: uuid.UUID) -> None:
    """Delete the conversation; commits."""
    conversation = get_conversation(conversation_id)
    db.session.delete(conversation)
    db.session.commit()


def append_turn(conversation_id: uuid.UUID, turn: Mapping[str, Any]) -> Conversation:
    """Append ``turn`` to the transcript in one UPDATE; commits.

    The database concatenates, so concurrent appends never lose a turn (a
    read-modify-write in Python would). A turn without ``at`` is stamped now.
    """
    stored = _stored_turn({"at": dt.datetime.now(dt.UTC), **turn})
    statement = (
        sa.update(Conversation)
        .where(Conversation.id == conversation_id)
        .values(
            transcript=Conversation.transcript.op("||", return_type=JSONB)(
                sa.func.jsonb_build_array(sa.bindparam("turn", stored, type_=JSONB))
            )
        )
        .returning(Conversation)
        .execution_options(synchronize_session=False, populate_existing=True)
    )
    conversation = db.session.scalars(statement).one_or_none()
    if conversation is None:
        raise NotFoundError(f"Conversation {str(conversation_id)!r} does not exist.")
    db.session.commit()
    return conversation


def _stored_turn(turn: Mapping[str, Any]) -> dict[str, Any]:
    stored = {"role": turn["role"], "text": turn["text"]}
    at = turn.get("at")
    if at is not None:
        stored["at"] = at.astimezone(dt.UTC).isoformat()
    return stored
