"""Meta's WhatsApp Cloud API webhook: its signature and its payload's messages.

Meta posts ``{"object": "whatsapp_business_account", "entry": [...]}``; each
entry's ``changes[]`` with ``field: "messages"`` carries a ``value`` with the
receiving number's ``metadata.phone_number_id``, the senders' ``contacts[]``,
their ``messages[]`` and the ``statuses[]`` of messages the studio sent.
Statuses and every other field are acknowledged and not stored. Unknown keys
are ignored, so what Meta adds later does not refuse a payload.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterator
from typing import Any

from pilar.inbound.events import MAX_ID_LENGTH
from pilar.inbound.events import InboundMessage
from pilar.inbound.events import InvalidPayloadError
from pilar.inbound.events import from_unix_seconds
from pilar.inbound.events import is_integer
from pilar.inbound.events import load_json
from pilar.inbound.events import optional_list
from pilar.inbound.events import optional_text
from pilar.inbound.events import require_object
from pilar.inbound.events import require_text

SOURCE = "whatsapp"
SIGNATURE_HEADER = "X-Hub-Signature-256"
_OBJECT = "whatsapp_business_account"
# A wa_id is a phone number's digits; the bound keeps it a small index key.
_MAX_CONTACT_LENGTH = 64
_MAX_TYPE_LENGTH = 64
# Up to 12 digits reach the year 9999.
_MAX_TIMESTAMP_DIGITS = 12


def verify_signature(body: bytes, header: str | None, app_secret: str) -> bool:
    """Tell whether ``header`` is ``sha256=<hex HMAC-SHA256 of body, app secret>``.

    ``body`` is the raw request body: JSON parsed and serialised again does
    not verify (Meta escapes ``/`` and every non-ASCII character). Compared
    in constant time, as bytes, so a header of any characters is refused
    rather than raising.
    """
    if header is None:
        return False
    digest = hmac.new(app_secret.encode(), body, hashlib.sha256).hexdigest()
    expected = f"sha256={digest}".encode()
    return hmac.compare_digest(expected, header.strip().encode("utf-8", "replace"))


def parse(body: bytes) -> list[InboundMessage]:
    """Return the messages of a webhook body, in payload order, each id once.

    A body for another product than WhatsApp Business has none. Raises
    ``InvalidPayloadError`` when the body is not a WhatsApp payload's shape.
    """
    payload = require_object(load_json(body), "The payload")
    if payload.get("object") != _OBJECT:
        return []
    messages: dict[str, InboundMessage] = {}
    for value in _message_values(payload):
        for message in _value_messages(value):
            messages.setdefault(message.message_id, message)
    return list(messages.values())


def _message_values(payload: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for e, entry in enumerate(optional_list(payload.get("entry"), "entry")):
        entry = require_object(entry, f"entry[{e}]")
        changes = optional_list(entry.get("changes"), f"entry[{e}].changes")
        for c, change in enumerate(changes):
            where = f"entry[{e}].changes[{c}]"
            change = require_object(change, where)
            if change.get("field") == "messages":
                yield require_object(change.get("value"), f"{where}.value")


def _value_messages(value: dict[str, Any]) -> Iterator[InboundMessage]:
    messages = optional_list(value.get("messages"), "value.messages")
    if not messages:
        return  # statuses only
    metadata = require_object(value.get("metadata"), "value.metadata")
    recipient = require_text(
        metadata.get("phone_number_id"),
        "value.metadata.phone_number_id",
        max_length=MAX_ID_LENGTH,
    )
    names = _contact_names(value)
    for index, message in enumerate(messages):
        where = f"value.messages[{index}]"
        message = require_object(message, where)
        contact = require_text(
            message.get("from"), f"{where}.from", max_length=_MAX_CONTACT_LENGTH
        )
        kind = require_text(
            message.get("type"), f"{where}.type", max_length=_MAX_TYPE_LENGTH
        )
        yield InboundMessage(
            source=SOURCE,
            recipient=recipient,
            contact=contact,
            contact_name=names.get(contact),
            message_id=require_text(
                message.get("id"), f"{where}.id", max_length=MAX_ID_LENGTH
            ),
            at=from_unix_seconds(
                _timestamp(message.get("timestamp"), where), f"{where}.timestamp"
            ),
            text=_text(message, where) if kind == "text" else "",
            type=None if kind == "text" else kind,
        )


def _contact_names(value: dict[str, Any]) -> dict[str, str]:
    names: dict[str, str] = {}
    for index, contact in enumerate(optional_list(value.get("contacts"), "contacts")):
        where = f"value.contacts[{index}]"
        contact = require_object(contact, where)
        wa_id = optional_text(contact.get("wa_id"), f"{where}.wa_id")
        profile = contact.get("profile")
        if wa_id is None or profile is None:
            continue
        name = optional_text(
            require_object(profile, f"{where}.profile").get("name"),
            f"{where}.profile.name",
        )
        if name is not None:
            names.setdefault(wa_id, name)
    return names


def _timestamp(value: Any, where: str) -> int:
    # Meta sends Unix seconds as a string of digits.
    if isinstance(value, str) and value.isascii() and value.isdigit():
        if len(value) <= _MAX_TIMESTAMP_DIGITS:
            return int(value)
    elif is_integer(value):
        return int(value)
    raise InvalidPayloadError(f"{where}.timestamp must be Unix seconds.")


def _text(message: dict[str, Any], where: str) -> str:
    text = require_object(message.get("text"), f"{where}.text")
    body = optional_text(text.get("body"), f"{where}.text.body")
    return body or ""
