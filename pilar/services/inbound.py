"""Storing inbound events: WhatsApp messages and voice calls, each in its studio.

Every event names the studio's number; ``pilar.tenancy.numbers`` finds the
tenant that claims it, and each tenant's events are stored in one
transaction of that tenant (``tenant_scope``), on its node. One payload may
span several tenants: each commits on its own, and the caller answers only
once all have.

Each message or call is stored once: its provider id goes into
``inbound_events`` in the transaction that stores it, with
``ON CONFLICT DO NOTHING``, so a retry or a concurrent duplicate delivery
finds the key taken and stores nothing (docs/api.md, "Inbound webhooks").
"""

from __future__ import annotations

import dataclasses
import functools
import logging
import uuid
import zlib
from collections.abc import Callable
from collections.abc import Sequence
from typing import Any
from typing import TypeVar

import psycopg
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

from pilar.db.extensions import db
from pilar.errors import NodeUnavailableError
from pilar.errors import TenantNotFoundError
from pilar.inbound.events import CallRecord
from pilar.inbound.events import InboundMessage
from pilar.models import Channel
from pilar.models import InboundEvent
from pilar.models import NumberKind
from pilar.models import PhoneNumber
from pilar.models import TenantModel
from pilar.models import WhatsAppChannel
from pilar.models import WhatsAppStatus
from pilar.services import inbound_conversations
from pilar.services.inbound_conversations import TABLE as CONVERSATIONS
from pilar.tenancy import follow_moves
from pilar.tenancy import tenant_scope
from pilar.tenancy.locks import hold_locks
from pilar.tenancy.numbers import find_number_owner
from pilar.tenancy.numbers import forget_number

logger = logging.getLogger(__name__)

_ResultT = TypeVar("_ResultT")
# What a store returns when the claim's row no longer holds the number.
_STALE = None

_CONTACT_LOCKS = "inbound.contact"
# A tenant's contacts share this many locks, by a hash of their wa_id: a
# payload from thousands of contacts then takes at most these, where a lock
# each would fill PostgreSQL's shared lock table (max_locks_per_transaction)
# and fail every transaction of the server. Two contacts that share a lock
# only wait for each other.
_CONTACT_LOCK_BUCKETS = 32
_EXTERNAL_IDS = sa.bindparam("external_ids", type_=postgresql.ARRAY(sa.String))
_CONVERSATION_IDS = sa.bindparam("conversation_ids", type_=postgresql.ARRAY(sa.Uuid))
_PHONE_NUMBER_ID = WhatsAppChannel.wa_cloud_api_config["phone_number_id"].astext
# Core, not ORM: given parameters, an ORM insert is a bulk insert of rows.
_EVENTS: sa.Table = TenantModel.metadata.tables[InboundEvent.__tablename__]


@dataclasses.dataclass
class Receipt:
    """What became of a payload's messages."""

    stored: int = 0
    # Already stored by an earlier delivery (or earlier in this one).
    duplicates: int = 0
    # For a number no tenant holds, or a DISCONNECTED channel.
    ignored: int = 0


def receive_messages(messages: Sequence[InboundMessage]) -> Receipt:
    """Store each message in its tenant's conversation with its contact; commits.

    Messages are grouped by the channel they were sent to, and each group is
    stored in one transaction of the tenant holding it. When a tenant's node
    cannot be reached, the others are stored first and then
    ``NodeUnavailableError`` is raised: a retry stores what is missing.
    """
    receipt = Receipt()
    groups: dict[str, list[InboundMessage]] = {}
    for message in messages:
        groups.setdefault(message.recipient, []).append(message)
    unavailable: NodeUnavailableError | None = None
    for recipient, group in groups.items():
        try:
            stored = _deliver(
                NumberKind.WHATSAPP_PHONE_NUMBER_ID,
                recipient,
                functools.partial(_store_messages, messages=group),
            )
        except NodeUnavailableError as error:
            unavailable = unavailable or error
            continue
        if stored is None:
            stored = Receipt(ignored=len(group))
        if stored.ignored:
            logger.info(
                "Ignored %d WhatsApp messages for phone_number_id %r: "
                "no channel that is not DISCONNECTED holds it",
                stored.ignored,
                recipient,
            )
        receipt.stored += stored.stored
        receipt.duplicates += stored.duplicates
        receipt.ignored += stored.ignored
    if unavailable is not None:
        raise unavailable
    return receipt


def receive_call(call: CallRecord) -> bool:
    """Create or update the VOICE conversation of ``call``; commits.

    Returns False, storing nothing, when no tenant holds its studio number.
    """
    if call.studio_number is None:
        return False
    stored = _deliver(
        NumberKind.PHONE,
        call.studio_number,
        functools.partial(_store_call, call=call),
    )
    return bool(stored)


def _deliver(
    kind: NumberKind, value: str, store: Callable[[uuid.UUID], _ResultT | None]
) -> _ResultT | None:
    """Run ``store(owner_id)`` in the tenant that claims ``value``; None if none does.

    ``store`` returns None (``_STALE``) when the claim's row does not hold
    the number (any more): the kept claim is forgotten and read afresh once.
    """
    for _ in range(2):
        owner = find_number_owner(kind, value)
        if owner is None:
            return None
        try:
            with tenant_scope(owner.tenant.domain) as tenant:
                result = (
                    # A tenant moved meanwhile is stored on its new node.
                    follow_moves(functools.partial(store, owner.owner_id))
                    if tenant.id == owner.tenant.id
                    else None
                )
        except TenantNotFoundError:
            result = _STALE
        except sa.exc.ProgrammingError as error:
            if not isinstance(
                error.orig,
                psycopg.errors.UndefinedTable | psycopg.errors.InvalidSchemaName,
            ):
                raise
            result = _STALE  # the tenant was dropped by another process
        if result is not _STALE:
            return result
        forget_number(kind, value)
    return None


def _store_messages(
    channel_id: uuid.UUID, messages: list[InboundMessage]
) -> Receipt | None:
    """Store messages sent to the channel ``channel_id``; None if it lacks their id.

    A DISCONNECTED channel stores nothing: its messages are ignored.
    """
    channel = db.session.execute(
        sa.select(
            WhatsAppChannel.status, _PHONE_NUMBER_ID.label("phone_number_id")
        ).where(WhatsAppChannel.id == channel_id)
    ).one_or_none()
    if channel is None or channel.phone_number_id != messages[0].recipient:
        return _STALE
    if channel.status is WhatsAppStatus.DISCONNECTED:
        db.session.rollback()
        return Receipt(ignored=len(messages))
    contacts = sorted({message.contact for message in messages})
    # Two deliveries for one contact must not both start a conversation.
    hold_locks(db.session(), _CONTACT_LOCKS, _lock_names(contacts))
    plan = inbound_conversations.plan(
        messages, inbound_conversations.recent_conversations(contacts)
    )
    recorded = _record(
        messages[0].source,
        [(m.message_id, plan.thread_of[m.message_id].id) for m in messages],
    )
    inbound_conversations.write(plan, [m for m in messages if m.message_id in recorded])
    db.session.commit()
    return Receipt(stored=len(recorded), duplicates=len(messages) - len(recorded))


def _lock_names(contacts: Sequence[str]) -> set[str]:
    return {str(zlib.crc32(c.encode()) % _CONTACT_LOCK_BUCKETS) for c in contacts}


def _record(source: str, pairs: list[tuple[str, uuid.UUID]]) -> set[str]:
    """Insert (source, external id) → conversation rows; return the ids inserted."""
    rows = sa.select(
        sa.literal(source, sa.String),
        sa.func.unnest(_EXTERNAL_IDS),
        sa.func.unnest(_CONVERSATION_IDS),
    )
    statement = (
        postgresql.insert(_EVENTS)
        .from_select(["source", "external_id", "conversation_id"], rows)
        .on_conflict_do_nothing()
        .returning(_EVENTS.c.external_id)
    )
    inserted = db.session.scalars(
        statement,
        {
            "external_ids": [external_id for external_id, _ in pairs],
            "conversation_ids": [conversation_id for _, conversation_id in pairs],
        },
    )
    return set(inserted)


def _store_call(phone_number_id: uuid.UUID, call: CallRecord) -> bool | None:
    """Create or update the call's conversation; None if the row lacks the number."""
    number = db.session.scalar(
        sa.select(PhoneNumber.number).where(PhoneNumber.id == phone_number_id)
    )
    if number != call.studio_number:
        return _STALE
    new_id = uuid.uuid4()
    # DO UPDATE, not DO NOTHING: it returns the row that won, and holds it
    # until commit, so a concurrent event of the same call updates the
    # conversation this one creates instead of creating another.
    upsert = postgresql.insert(InboundEvent).values(
        source=call.source, external_id=call.call_id, conversation_id=new_id
    )
    conversation_id = db.session.scalar(
        upsert.on_conflict_do_update(
            index_elements=[InboundEvent.source, InboundEvent.external_id],
            set_={"source": upsert.excluded.source},
        ).returning(InboundEvent.conversation_id)
    )
    if conversation_id == new_id:
        db.session.execute(
            sa.insert(CONVERSATIONS).values(
                id=new_id,
                channel=Channel.VOICE,
                transcript=call.transcript,
                metadata=call.metadata,
            )
        )
    else:
        changes: dict[str, Any] = {
            # Merged: call_ended, sent after call_analyzed, keeps its analysis.
            "metadata": CONVERSATIONS.c.metadata.op("||", return_type=postgresql.JSONB)(
                sa.bindparam("call_metadata", call.metadata, type_=postgresql.JSONB)
            ),
            "updated_at": sa.func.now(),
        }
        if call.transcript:
            changes["transcript"] = call.transcript
        # A conversation the studio deleted stays deleted: no row to update.
        db.session.execute(
            sa.update(CONVERSATIONS)
            .where(CONVERSATIONS.c.id == conversation_id)
            .values(changes)
        )
    db.session.commit()
    return True
