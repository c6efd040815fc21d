"""Retell's voice agent webhook: its signature and its end-of-call events.

Retell posts ``{"event": ..., "call": {...}}`` for each step of a call;
``call_ended`` and ``call_analyzed`` (the same call with ``call_analysis``)
carry the transcript, and are the ones stored. Other events are
acknowledged. Unknown keys are ignored.
"""

from __future__ import annotations

import hashlib
import hmac
import math
import re
from typing import Any

from pilar.inbound.events import MAX_ID_LENGTH
from pilar.inbound.events import CallRecord
from pilar.inbound.events import InvalidPayloadError
from pilar.inbound.events import check_storable
from pilar.inbound.events import from_unix_seconds
from pilar.inbound.events import is_integer
from pilar.inbound.events import load_json
from pilar.inbound.events import optional_list
from pilar.inbound.events import optional_text
from pilar.inbound.events import require_object
from pilar.inbound.events import require_text

SOURCE = "retell"
SIGNATURE_HEADER = "X-Retell-Signature"
HANDLED_EVENTS = frozenset({"call_ended", "call_analyzed"})
# Retell's SDK refuses a signature whose timestamp is further off than this.
WINDOW_MS = 5 * 60 * 1000
_SIGNATURE_RE = re.compile(r"v=([0-9]{1,16}),d=([0-9a-fA-F]{64})")
_ROLES = {"agent": "assistant", "user": "user"}
_MAX_SHORT_TEXT = 256
_MAX_TIMESTAMP_MS = 253_402_300_799_999


def verify_signature(
    body: bytes, header: str | None, api_key: str, *, now_ms: int
) -> bool:
    """Tell whether ``header`` signs ``body`` with the API key, and is recent.

    The header is ``v=<unix ms>,d=<hex HMAC-SHA256 of body + the ms digits>``;
    a timestamp more than 5 minutes from ``now_ms`` is refused, so a captured
    request cannot be replayed later. Compared in constant time, as bytes.
    """
    match = _SIGNATURE_RE.fullmatch((header or "").strip())
    if match is None:
        return False
    timestamp = int(match[1])
    if abs(now_ms - timestamp) > WINDOW_MS:
        return False
    signed = body + str(timestamp).encode()
    digest = hmac.new(api_key.encode(), signed, hashlib.sha256).hexdigest()
    return hmac.compare_digest(digest.encode(), match[2].lower().encode())


def parse(body: bytes) -> CallRecord | None:
    """Return the call of a ``call_ended`` or ``call_analyzed`` body, else None.

    Raises ``InvalidPayloadError`` when the body is not a Retell event's shape.
    """
    payload = require_object(load_json(body), "The payload")
    event = require_text(payload.get("event"), "event", max_length=_MAX_SHORT_TEXT)
    if event not in HANDLED_EVENTS:
        return None
    call = require_object(payload.get("call"), "call")
    direction = optional_text(
        call.get("direction"), "call.direction", max_length=_MAX_SHORT_TEXT
    )
    from_number = optional_text(
        call.get("from_number"), "call.from_number", max_length=_MAX_SHORT_TEXT
    )
    to_number = optional_text(
        call.get("to_number"), "call.to_number", max_length=_MAX_SHORT_TEXT
    )
    start = _timestamp(call.get("start_timestamp"), "call.start_timestamp")
    metadata: dict[str, Any] = {
        "call_id": require_text(
            call.get("call_id"), "call.call_id", max_length=MAX_ID_LENGTH
        ),
        "direction": direction,
        "from_number": from_number,
        "to_number": to_number,
        "start_timestamp": start,
        "end_timestamp": _timestamp(call.get("end_timestamp"), "call.end_timestamp"),
        "disconnection_reason": optional_text(
            call.get("disconnection_reason"),
            "call.disconnection_reason",
            max_length=_MAX_SHORT_TEXT,
        ),
    }
    analysis = call.get("call_analysis")
    if analysis is not None:
        metadata["call_analysis"] = check_storable(
            require_object(analysis, "call.call_analysis"), "call.call_analysis"
        )
    return CallRecord(
        source=SOURCE,
        call_id=metadata["call_id"],
        studio_number=from_number if direction == "outbound" else to_number,
        transcript=_transcript(call.get("transcript_object"), start),
        metadata=metadata,
    )


def _timestamp(value: Any, where: str) -> int | None:
    if value is None:
        return None
    if not is_integer(value) or not 0 <= value <= _MAX_TIMESTAMP_MS:
        raise InvalidPayloadError(f"{where} must be Unix milliseconds.")
    return int(value)


def _transcript(value: Any, start_ms: int | None) -> list[dict[str, Any]]:
    turns = []
    for index, utterance in enumerate(optional_list(value, "call.transcript_object")):
        where = f"call.transcript_object[{index}]"
        utterance = require_object(utterance, where)
        role = require_text(
            utterance.get("role"), f"{where}.role", max_length=_MAX_SHORT_TEXT
        )
        turn: dict[str, Any] = {
            "role": _ROLES.get(role, role),
            "text": optional_text(utterance.get("content"), f"{where}.content") or "",
        }
        offset = _first_word_start(utterance.get("words"))
        if start_ms is not None and offset is not None:
            seconds = start_ms / 1000 + offset
            turn["at"] = from_unix_seconds(seconds, f"{where}.words").isoformat()
        turns.append(turn)
    return turns


def _first_word_start(words: Any) -> float | None:
    # Seconds from the start of the call; an utterance's first word dates it.
    if not isinstance(words, list) or not words or not isinstance(words[0], dict):
        return None
    start = words[0].get("start")
    if isinstance(start, bool) or not isinstance(start, int | float):
        return None
    if not math.isfinite(start) or not 0 <= start <= 7 * 24 * 3600:
        return None
    return float(start)
