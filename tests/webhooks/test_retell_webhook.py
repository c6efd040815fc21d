"""POST /webhooks/voice/retell: signatures, and one VOICE conversation per call."""

from __future__ import annotations

import json
import time
import uuid

import pytest

from tests.webhooks.conftest import Webhooks
from tests.webhooks.conftest import retell_signature
from tests.webhooks.conftest import sample

CALLER = "+12137771234"
MINUTE_MS = 60_000


def call_event(
    studio_number: str,
    call_id: str,
    name: str = "retell_call_ended",
    direction: str = "inbound",
) -> bytes:
    studio_side = "to_number" if direction == "inbound" else "from_number"
    other_side = "from_number" if direction == "inbound" else "to_number"
    return sample(
        name,
        call_id=call_id,
        direction=direction,
        **{studio_side: studio_number, other_side: CALLER},
    )


def new_call_id() -> str:
    return f"call_{uuid.uuid4().hex}"


def post(webhooks, body: bytes) -> None:
    response = webhooks.post_retell(body)
    assert response.status_code == 204, response.get_json()
    assert response.get_data() == b""


def test_call_ended_creates_a_voice_conversation_in_the_called_studio(
    webhooks, make_studio
):
    studio = make_studio()
    number = studio.add_phone_number()
    call_id = new_call_id()
    post(webhooks, call_event(number, call_id))
    (conversation,) = studio.conversations()
    assert conversation["channel"] == "VOICE"
    assert conversation["metadata"] == {
        "call_id": call_id,
        "direction": "inbound",
        "from_number": CALLER,
        "to_number": number,
        "start_timestamp": 1714608475945,
        "end_timestamp": 1714608491736,
        "disconnection_reason": "user_hangup",
    }
    assert conversation["transcript"] == [
        {
            "role": "assistant",
            "text": "hi how are you doing?",
            "at": "2024-05-02T00:07:56.645000+00:00",
        },
        {
            "role": "user",
            "text": "Doing pretty well. How are you?",
            "at": "2024-05-02T00:07:59.145000+00:00",
        },
    ]


def test_an_outbound_call_goes_to_the_calling_studio(webhooks, make_studio):
    studio = make_studio()
    number = studio.add_phone_number()
    post(webhooks, call_event(number, new_call_id(), direction="outbound"))
    (conversation,) = studio.conversations("VOICE")
    assert conversation["metadata"]["from_number"] == number
    assert conversation["metadata"]["direction"] == "outbound"


@pytest.mark.parametrize(
    "order",
    [
        ("retell_call_ended", "retell_call_analyzed"),
        ("retell_call_analyzed", "retell_call_ended"),
    ],
)
def test_call_ended_and_call_analyzed_make_one_conversation_with_merged_metadata(
    webhooks, make_studio, order
):
    studio = make_studio()
    number = studio.add_phone_number()
    call_id = new_call_id()
    for name in order:
        post(webhooks, call_event(number, call_id, name))
    (conversation,) = studio.conversations()
    assert conversation["metadata"]["call_id"] == call_id
    assert conversation["metadata"]["call_analysis"]["user_sentiment"] == "Positive"
    assert conversation["metadata"]["disconnection_reason"] == "user_hangup"
    assert [turn["role"] for turn in conversation["transcript"]] == [
        "assistant",
        "user",
    ]


def test_a_repeated_event_keeps_one_conversation(webhooks, make_studio):
    studio = make_studio()
    number = studio.add_phone_number()
    body = call_event(number, new_call_id())
    for _ in range(3):
        post(webhooks, body)
    assert len(studio.conversations()) == 1
    assert studio.inbound_events() == 1


def test_a_later_event_without_a_transcript_keeps_the_stored_one(webhooks, make_studio):
    studio = make_studio()
    number = studio.add_phone_number()
    call_id = new_call_id()
    post(webhooks, call_event(number, call_id))
    analyzed = json.loads(call_event(number, call_id, "retell_call_analyzed"))
    del analyzed["call"]["transcript_object"]
    post(webhooks, json.dumps(analyzed).encode())
    (conversation,) = studio.conversations()
    assert len(conversation["transcript"]) == 2
    assert "call_analysis" in conversation["metadata"]


def test_two_calls_make_two_conversations(webhooks, make_studio):
    studio = make_studio()
    number = studio.add_phone_number()
    post(webhooks, call_event(number, new_call_id()))
    post(webhooks, call_event(number, new_call_id()))
    assert len(studio.conversations("VOICE")) == 2


def test_other_events_answer_204_and_store_nothing(webhooks, make_studio):
    studio = make_studio()
    number = studio.add_phone_number()
    post(
        webhooks,
        sample("retell_call_started", call_id=new_call_id(), studio_number=number),
    )
    assert studio.conversations() == []
    assert studio.inbound_events() == 0


def test_a_call_to_an_unknown_number_answers_204_and_stores_nothing(
    webhooks, make_studio, new_number
):
    studio = make_studio()
    studio.add_phone_number()
    post(webhooks, call_event(new_number(), new_call_id()))
    assert studio.conversations() == []
    assert studio.inbound_events() == 0


def test_a_call_from_a_studio_number_that_is_inbound_is_not_the_studios(
    webhooks, make_studio, new_number
):
    # The studio of an inbound call is the called one, whoever calls.
    studio = make_studio()
    number = studio.add_phone_number()
    body = sample(
        "retell_call_ended",
        call_id=new_call_id(),
        direction="inbound",
        from_number=number,
        to_number=new_number(),
    )
    post(webhooks, body)
    assert studio.conversations() == []


def test_a_web_call_answers_204_and_stores_nothing(webhooks, make_studio):
    studio = make_studio()
    number = studio.add_phone_number()
    payload = json.loads(call_event(number, new_call_id()))
    payload["call"]["call_type"] = "web_call"
    for key in ("from_number", "to_number", "direction"):
        del payload["call"][key]
    post(webhooks, json.dumps(payload).encode())
    assert studio.conversations() == []


@pytest.mark.parametrize(
    "signature",
    [
        None,
        "",
        "v=1,d=" + "0" * 64,
        "sha256=" + "0" * 64,
        "v=ü,d=" + "0" * 64,
        "v=1714608475945,d=" + "é" * 64,
    ],
)
def test_a_missing_or_wrong_signature_gets_401_and_stores_nothing(
    webhooks, make_studio, signature
):
    studio = make_studio()
    number = studio.add_phone_number()
    response = webhooks.post_retell(
        call_event(number, new_call_id()),
        signature=signature,
        unsigned=signature is None,
    )
    assert response.status_code == 401
    assert response.get_json()["code"] == "invalid_signature"
    assert studio.conversations() == []


@pytest.mark.parametrize("minutes", [-6, 6])
def test_a_signature_more_than_5_minutes_off_gets_401(webhooks, make_studio, minutes):
    studio = make_studio()
    number = studio.add_phone_number()
    body = call_event(number, new_call_id())
    at_ms = int(time.time() * 1000) + minutes * MINUTE_MS
    response = webhooks.post_retell(body, signature=retell_signature(body, at_ms=at_ms))
    assert response.status_code == 401
    assert studio.conversations() == []


@pytest.mark.parametrize("minutes", [-4, 4])
def test_a_signature_under_5_minutes_off_is_accepted(webhooks, make_studio, minutes):
    studio = make_studio()
    number = studio.add_phone_number()
    body = call_event(number, new_call_id())
    at_ms = int(time.time() * 1000) + minutes * MINUTE_MS
    response = webhooks.post_retell(body, signature=retell_signature(body, at_ms=at_ms))
    assert response.status_code == 204
    assert len(studio.conversations()) == 1


@pytest.mark.parametrize("body", [b"", b"{", b"[]", b'{"event": "call_ended"}'])
def test_a_signed_body_that_is_no_event_gets_400_invalid_payload(webhooks, body):
    response = webhooks.post_retell(body)
    assert response.status_code == 400
    assert response.get_json()["code"] == "invalid_payload"


def test_the_webhook_answers_503_not_configured_and_stores_nothing_without_the_key(
    client, make_studio
):
    studio = make_studio()
    number = studio.add_phone_number()
    response = Webhooks(client).post_retell(call_event(number, new_call_id()))
    assert response.status_code == 503
    assert response.get_json()["code"] == "not_configured"
    assert "PILAR_RETELL_API_KEY" in response.get_json()["message"]
    assert studio.conversations() == []
    assert studio.inbound_events() == 0


def test_a_tenant_host_gets_404(webhooks_app, make_studio):
    studio = make_studio()
    number = studio.add_phone_number()
    on_tenant = Webhooks(webhooks_app.test_client(), host=studio.tenant.domain)
    response = on_tenant.post_retell(call_event(number, new_call_id()))
    assert response.status_code == 404
    assert studio.conversations() == []
