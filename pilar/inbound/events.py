"""The normalised events every provider's parser returns, and its one error."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from typing import Any

from pilar.errors import PilarError
from pilar.validation.storable import find_unstorable
from pilar.validation.storable import is_storable

# The longest id kept as a key of ``inbound_events`` (its column's length).
MAX_ID_LENGTH = 256
# Unix seconds of 9999-12-31T23:59:59Z: later ones are no datetime.
MAX_UNIX_SECONDS = 253_402_300_799


class InvalidPayloadError(PilarError):
    """A signed body that is not what its provider sends; nothing of it is stored.

    The webhook answers 400 ``invalid_payload``.
    """

    code = "invalid_payload"


@dataclasses.dataclass(frozen=True, slots=True)
class InboundMessage:
    """One message a contact sent to a studio's channel."""

    # The provider, and the namespace of ``message_id`` (e.g. "whatsapp").
    source: str
    # The provider's id of the studio's channel it was sent to (WhatsApp's
    # phone_number_id): what finds the tenant.
    recipient: str
    # The sender (WhatsApp's wa_id) and the name in their profile, if sent.
    contact: str
    contact_name: str | None
    message_id: str
    at: dt.datetime
    text: str
    # None for a text message; otherwise the provider's type, with empty text.
    type: str | None


@dataclasses.dataclass(frozen=True, slots=True)
class CallRecord:
    """A phone call as its voice provider reports it once it has ended."""

    source: str
    call_id: str
    # The number the studio holds: the called one for an inbound call, the
    # calling one for an outbound call. None (a web call): no studio's.
    studio_number: str | None
    transcript: list[dict[str, Any]]
    metadata: dict[str, Any]


def load_json(body: bytes) -> Any:
    """Decode ``body`` as JSON; raise ``InvalidPayloadError`` if it is not."""
    try:
        return json.loads(body)
    except (ValueError, RecursionError):
        # ValueError covers bad UTF-8 and integers too long to convert.
        raise InvalidPayloadError("The body is not valid JSON.") from None


def require_object(value: Any, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise InvalidPayloadError(f"{where} must be an object.")
    return value


def optional_list(value: Any, where: str) -> list[Any]:
    """Return ``value`` as a list; None (absent) is an empty one."""
    if value is None:
        return []
    if not isinstance(value, list):
        raise InvalidPayloadError(f"{where} must be a list.")
    return value


def require_text(value: Any, where: str, *, max_length: int | None = None) -> str:
    if not isinstance(value, str) or not value:
        raise InvalidPayloadError(f"{where} must be a non-empty string.")
    return check_text(value, where, max_length=max_length)


def optional_text(
    value: Any, where: str, *, max_length: int | None = None
) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise InvalidPayloadError(f"{where} must be a string.")
    return check_text(value, where, max_length=max_length)


def check_text(value: str, where: str, *, max_length: int | None = None) -> str:
    if max_length is not None and len(value) > max_length:
        raise InvalidPayloadError(f"{where} is longer than {max_length} characters.")
    if not is_storable(value):
        raise InvalidPayloadError(
            f"{where} contains NUL characters or unpaired surrogates."
        )
    return value


def check_storable(value: Any, where: str) -> Any:
    """Return ``value`` if PostgreSQL can store all of it as jsonb."""
    found = find_unstorable(value)
    if found is not None:
        path = ".".join(str(part) for part in found[0])
        raise InvalidPayloadError(
            f"{where}{'.' + path if path else ''} cannot be stored."
        )
    return value


def is_integer(value: Any) -> bool:
    """Tell whether ``value`` is a JSON integer (``true`` is not one)."""
    return isinstance(value, int) and not isinstance(value, bool)


def from_unix_seconds(seconds: float, where: str) -> dt.datetime:
    if not 0 <= seconds <= MAX_UNIX_SECONDS:
        raise InvalidPayloadError(f"{where} is not a time between 1970 and 9999.")
    return dt.datetime.fromtimestamp(seconds, dt.UTC)
