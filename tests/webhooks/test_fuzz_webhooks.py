"""Random and mutated provider payloads: the parsers raise only InvalidPayloadError,
and the webhooks, given a valid signature over any body, never answer a 5xx."""

from __future__ import annotations

import copy
import json
import uuid
from typing import Any

from hypothesis import given
from hypothesis import settings
from hypothesis import strategies as st

from pilar.inbound import retell
from pilar.inbound import whatsapp
from pilar.inbound.events import InvalidPayloadError
from tests.api import fuzzing
from tests.webhooks.conftest import new_wamid
from tests.webhooks.conftest import sample

WHATSAPP_KEYS = [
    "object",
    "entry",
    "id",
    "changes",
    "field",
    "value",
    "metadata",
    "phone_number_id",
    "contacts",
    "profile",
    "name",
    "wa_id",
    "messages",
    "from",
    "timestamp",
    "type",
    "text",
    "body",
    "statuses",
]
RETELL_KEYS = [
    "event",
    "call",
    "call_id",
    "direction",
    "from_number",
    "to_number",
    "start_timestamp",
    "end_timestamp",
    "disconnection_reason",
    "transcript_object",
    "role",
    "content",
    "words",
    "start",
    "call_analysis",
]
# Values that pass some checks, so that a mutation gets past the first one.
NEAR_VALID = [
    "whatsapp_business_account",
    "messages",
    "text",
    "image",
    "1504902988",
    "999999999999",
    "9999999999999",
    "inbound",
    "outbound",
    "call_ended",
    "call_analyzed",
    "agent",
    "user",
    "+12025550123",
    1714608475945,
    253_402_300_799,
    253_402_300_800,
    253_402_300_799_999,
    0.7,
    -0.0,
    1e308,
    [],
    {},
    *fuzzing.HOSTILE,
]
MUTATIONS = ["drop", "replace", "replace", "spoil", "lengthen", "repeat"]
PARSER_SETTINGS = settings(fuzzing.SETTINGS, max_examples=200)
ENDPOINT_SETTINGS = settings(fuzzing.SETTINGS, max_examples=100)


def _slots(document: Any) -> list[tuple[Any, Any]]:
    """Every (container, key or index) of ``document``, depth first."""
    slots: list[tuple[Any, Any]] = []
    pending = [document]
    while pending:
        node = pending.pop()
        keys = list(node) if isinstance(node, dict) else range(len(node))
        for key in keys:
            slots.append((node, key))
            if isinstance(node[key], dict | list):
                pending.append(node[key])
    return slots


@st.composite
def mutated(draw: Any, documents: Any, values: Any) -> bytes:
    """Draw one of ``documents`` with up to four of its members changed."""
    document = draw(documents)
    for _ in range(draw(st.integers(0, 4))):
        slots = _slots(document)
        if not slots:
            break
        container, key = draw(st.sampled_from(slots))
        action = draw(st.sampled_from(MUTATIONS))
        member = container[key]
        if action == "drop":
            del container[key]
        elif action == "spoil" and isinstance(member, str):
            container[key] = member + draw(st.sampled_from(fuzzing.UNSTORABLE))
        elif action == "lengthen" and isinstance(member, str):
            container[key] = member * draw(st.integers(2, 300))
        elif action == "repeat" and isinstance(container, list):
            container.append(copy.deepcopy(member))
        else:
            container[key] = draw(values)
    return json.dumps(document).encode()


def bodies(documents: Any, keys: list[str]) -> Any:
    """Mutated samples mostly (some left whole), then any JSON, then raw bytes."""
    values = fuzzing.json_values(NEAR_VALID, keys)
    # ``one_of`` drops a strategy object it already has, so the weight comes
    # from equal but distinct ones.
    return st.one_of(
        *(mutated(documents, values) for _ in range(3)),
        values.map(lambda value: json.dumps(value).encode()),
        fuzzing.raw_bodies,
    )


WHATSAPP_SAMPLES = [
    "whatsapp_text",
    "whatsapp_image",
    "whatsapp_unsupported",
    "whatsapp_status",
    "whatsapp_dashboard_test",
]
RETELL_SAMPLES = ["retell_call_ended", "retell_call_analyzed", "retell_call_started"]


def whatsapp_documents(phone_number_id: str, timestamp: int) -> Any:
    """Meta's samples sent to ``phone_number_id``, each message with a new id."""

    def document(name: str) -> Any:
        body = sample(name, phone_number_id=phone_number_id, timestamp=timestamp)
        payload = json.loads(body)
        for entry in payload["entry"]:
            for change in entry["changes"]:
                for message in change["value"].get("messages", []):
                    message["id"] = new_wamid()
        return payload

    return st.builds(document, st.sampled_from(WHATSAPP_SAMPLES))


def retell_documents(studio_number: str) -> Any:
    """Retell's samples of calls to ``studio_number``: one call again, or new ones."""

    def document(name: str, call_id: str) -> Any:
        return json.loads(
            sample(
                name,
                call_id=call_id or f"call_{uuid.uuid4().hex}",
                direction="inbound",
                from_number="+12137771234",
                to_number=studio_number,
                studio_number=studio_number,
            )
        )

    call_ids = st.sampled_from(["call_fuzzed", ""])
    return st.builds(document, st.sampled_from(RETELL_SAMPLES), call_ids)


@PARSER_SETTINGS
@given(body=bodies(whatsapp_documents("106540352242922", 1765000000), WHATSAPP_KEYS))
def test_the_whatsapp_parser_raises_nothing_but_invalid_payload(body):
    try:
        messages = whatsapp.parse(body)
    except InvalidPayloadError:
        return
    assert len({message.message_id for message in messages}) == len(messages)


@PARSER_SETTINGS
@given(body=bodies(retell_documents("+12025550123"), RETELL_KEYS))
def test_the_retell_parser_raises_nothing_but_invalid_payload(body):
    try:
        call = retell.parse(body)
    except InvalidPayloadError:
        return
    if call is not None:
        assert call.metadata["call_id"] == call.call_id


def test_no_signed_whatsapp_body_gets_a_server_error(webhooks, make_studio):
    studio = make_studio()
    documents = whatsapp_documents(studio.add_whatsapp_channel(), 1765000000)

    @ENDPOINT_SETTINGS
    @given(body=bodies(documents, WHATSAPP_KEYS))
    def check(body):
        response = webhooks.post_whatsapp(body)
        fuzzing.assert_no_server_error(response, ("POST", "/webhooks/whatsapp", body))

    check()


def test_no_signed_retell_body_gets_a_server_error(webhooks, make_studio):
    studio = make_studio()
    documents = retell_documents(studio.add_phone_number())

    @ENDPOINT_SETTINGS
    @given(body=bodies(documents, RETELL_KEYS))
    def check(body):
        response = webhooks.post_retell(body)
        fuzzing.assert_no_server_error(response, ("POST", "/webhooks/retell", body))

    check()
