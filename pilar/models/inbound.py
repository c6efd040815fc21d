"""What inbound webhooks stored: each provider's message or call id, once per tenant.

A row is written in the transaction that stores the message (or call) it
names, with ``INSERT … ON CONFLICT DO NOTHING``: the primary key, not a read
before the write, is what keeps a provider's retry or a concurrent duplicate
delivery from being stored twice. Rows outlive the conversation they point
at (no foreign key), so a message of a deleted conversation is not stored
again when the provider retries it.
"""

from __future__ import annotations

import datetime as dt
import uuid

import sqlalchemy as sa
from sqlalchemy import orm

from pilar.models.base import TenantModel
from pilar.models.conversations import Conversation


class InboundEvent(TenantModel):
    __tablename__ = "inbound_events"

    # The provider: "whatsapp" (external_id is the wamid) or "retell" (the call_id).
    source: orm.Mapped[str] = orm.mapped_column(sa.String(16), primary_key=True)
    external_id: orm.Mapped[str] = orm.mapped_column(sa.String(256), primary_key=True)
    conversation_id: orm.Mapped[uuid.UUID] = orm.mapped_column(sa.Uuid)
    created_at: orm.Mapped[dt.datetime] = orm.mapped_column(
        sa.DateTime(timezone=True), server_default=sa.func.now()
    )


# The characters of a wa_id the index keeps: a whole metadata value can be
# longer than a btree entry may be, and would refuse its conversation.
CONTACT_KEY_LENGTH = 64

# A contact's WhatsApp conversations, newest first: what an inbound message
# looks up to join the conversation still active (docs/api.md). Declared
# here, beside the webhooks' own table, because only they query it.
CONTACT_INDEX = sa.Index(
    "ix_conversations_channel_wa_id_created_at",
    Conversation.channel,
    sa.func.left(Conversation.metadata_["wa_id"].astext, CONTACT_KEY_LENGTH),
    Conversation.created_at,
    Conversation.id,
)
