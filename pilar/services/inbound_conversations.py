"""Which WHATSAPP conversation an inbound message joins, and writing it there.

A message joins the newest conversation with its contact
(``metadata.wa_id``) whose last turn is under ``ACTIVE_FOR`` older than the
message; otherwise it starts a new one (docs/api.md, "Inbound webhooks"). A
turn's age is its ``at``; a conversation whose last turn has none is dated by
its ``updated_at``.

The caller holds the contact's lock (``pilar.tenancy.locks``), so what
``recent_conversations`` reads stays true until it commits. However many
messages or contacts a payload holds, a tenant's batch costs one query to
read and at most two statements to write.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import uuid
from collections.abc import Iterable
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

from pilar.db.extensions import db
from pilar.inbound.events import InboundMessage
from pilar.models import Channel
from pilar.models import Conversation
from pilar.models import TenantModel
from pilar.models.inbound import CONTACT_KEY_LENGTH

ACTIVE_FOR = dt.timedelta(hours=24)
# Conversations read per contact, newest first. An older one is active only
# if turns were added to it after a newer one started, which the webhooks
# never do; three leave room for conversations added through the API.
_RECENT = 3

# Core, not ORM: rows are written in bulk and never loaded.
TABLE: sa.Table = TenantModel.metadata.tables[Conversation.__tablename__]
_WA_ID = TABLE.c.metadata.op("->>", return_type=sa.Text)(sa.literal_column("'wa_id'"))
# The expression of ix_conversations_channel_wa_id_created_at, literally (the
# planner matches constants, not parameters): a wa_id's first characters.
_WA_ID_KEY = sa.func.left(
    _WA_ID, sa.literal_column(str(CONTACT_KEY_LENGTH)), type_=sa.Text
)
# Derived: without the column list, PostgreSQL names unnest's column after
# the alias, and "contacts.contact" does not exist.
_CONTACTS = (
    sa.func.unnest(sa.bindparam("contacts", type_=postgresql.ARRAY(sa.String)))
    .table_valued("contact")
    .render_derived(name="contacts")
)
_LATEST = (
    sa.select(
        TABLE.c.id,
        TABLE.c.transcript.op("->", return_type=postgresql.JSONB)(-1)
        .op("->>", return_type=sa.Text)(sa.literal_column("'at'"))
        .label("last_at"),
        TABLE.c.updated_at,
    )
    .where(
        TABLE.c.channel == Channel.WHATSAPP,
        _CONTACTS.c.contact == _WA_ID_KEY,
        _CONTACTS.c.contact == _WA_ID,
    )
    .order_by(TABLE.c.created_at.desc(), TABLE.c.id.desc())
    .limit(_RECENT)
    .lateral("latest")
)
_RECENT_QUERY = sa.select(
    _CONTACTS.c.contact, _LATEST.c.id, _LATEST.c.last_at, _LATEST.c.updated_at
).select_from(_CONTACTS.join(_LATEST, sa.true()))
_TURNS = sa.bindparam("turns", type_=postgresql.JSONB)
# One statement appends to every conversation: ``turns`` maps id → new turns.
_APPEND = (
    sa.update(TABLE)
    .where(TABLE.c.id == sa.any_(sa.bindparam("ids", type_=postgresql.ARRAY(sa.Uuid))))
    .values(
        transcript=TABLE.c.transcript.op("||", return_type=postgresql.JSONB)(
            _TURNS.op("->", return_type=postgresql.JSONB)(sa.cast(TABLE.c.id, sa.Text))
        ),
        updated_at=sa.func.now(),
    )
)


@dataclasses.dataclass(eq=False)
class Thread:
    """A contact's conversation as the plan sees it: stored, or to be created."""

    id: uuid.UUID
    contact: str
    last_at: dt.datetime
    is_new: bool
    contact_name: str | None = None


@dataclasses.dataclass
class Plan:
    """The conversation each message of a batch goes to, by message id."""

    thread_of: dict[str, Thread] = dataclasses.field(default_factory=dict)


def recent_conversations(contacts: Sequence[str]) -> dict[str, list[Thread]]:
    """Return each contact's newest WHATSAPP conversations, newest first."""
    threads: dict[str, list[Thread]] = {contact: [] for contact in contacts}
    rows = db.session.execute(_RECENT_QUERY, {"contacts": list(contacts)})
    for row in rows:
        threads[row.contact].append(
            Thread(
                row.id,
                row.contact,
                _parse_time(row.last_at) or row.updated_at,
                is_new=False,
            )
        )
    return threads


def plan(messages: Iterable[InboundMessage], recent: dict[str, list[Thread]]) -> Plan:
    """Choose each message's conversation, in time order, per §11's rule.

    A message that finds no active conversation starts one, which later
    messages of the batch may join. ``recent`` is updated in place.
    """
    result = Plan()
    for message in sorted(messages, key=lambda m: (m.at, m.message_id)):
        threads = recent.setdefault(message.contact, [])
        thread = next((t for t in threads if message.at - t.last_at < ACTIVE_FOR), None)
        if thread is None:
            thread = Thread(
                uuid.uuid4(),
                message.contact,
                message.at,
                is_new=True,
                contact_name=message.contact_name,
            )
            threads.insert(0, thread)
        thread.last_at = max(thread.last_at, message.at)
        result.thread_of[message.message_id] = thread
    return result


def write(plan: Plan, messages: Iterable[InboundMessage]) -> None:
    """Add ``messages`` (those newly recorded) to their conversations; no commit."""
    turns: dict[Thread, list[dict[str, Any]]] = {}
    for message in sorted(messages, key=lambda m: (m.at, m.message_id)):
        turns.setdefault(plan.thread_of[message.message_id], []).append(_turn(message))
    created = [
        {
            "id": thread.id,
            "channel": Channel.WHATSAPP,
            "transcript": thread_turns,
            "metadata": {"wa_id": thread.contact, "contact_name": thread.contact_name},
        }
        for thread, thread_turns in turns.items()
        if thread.is_new
    ]
    if created:
        db.session.execute(sa.insert(TABLE), created)
    appended = {
        str(thread.id): thread_turns
        for thread, thread_turns in turns.items()
        if not thread.is_new
    }
    if appended:
        db.session.execute(
            _APPEND, {"ids": [uuid.UUID(key) for key in appended], "turns": appended}
        )


def _turn(message: InboundMessage) -> dict[str, Any]:
    turn: dict[str, Any] = {
        "role": "user",
        "text": message.text,
        "at": message.at.astimezone(dt.UTC).isoformat(),
        "id": message.message_id,
    }
    if message.type is not None:
        turn["type"] = message.type
    return turn


def _parse_time(value: str | None) -> dt.datetime | None:
    # Turns are stored with ISO 8601 times; anything else dates nothing.
    if value is None:
        return None
    try:
        parsed = dt.datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=dt.UTC)
