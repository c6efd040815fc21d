"""Retell's call events and signatures, parsed and checked without a database."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import re

import pytest

from pilar.inbound import retell
from pilar.inbound.events import InvalidPayloadError
from tests.webhooks.conftest import RETELL_API_KEY
from tests.webhooks.conftest import retell_signature
from tests.webhooks.conftest import sample

STUDIO = "+12025550123"
CALLER = "+12137771234"
START_MS = 1714608475945
NOW_MS = 1_765_000_000_000


def call_event(name: str = "retell_call_ended", direction: str = "inbound") -> bytes:
    studio_side = "to_number" if direction == "inbound" else "from_number"
    other_side = "from_number" if direction == "inbound" else "to_number"
    return sample(
        name,
        call_id="call_4f1d2c",
        direction=direction,
        **{studio_side: STUDIO, other_side: CALLER},
    )


def changed_call(**fields) -> bytes:
    payload = json.loads(call_event())
    payload["call"].update(fields)
    return json.dumps(payload).encode()


def at(seconds_after_start: float) -> str:
    start = dt.datetime.fromtimestamp(START_MS / 1000, dt.UTC)
    return (start + dt.timedelta(seconds=seconds_after_start)).isoformat()


def test_call_ended_becomes_the_call_of_the_called_studio():
    call = retell.parse(call_event())
    assert call is not None
    assert call.source == "retell"
    assert call.call_id == "call_4f1d2c"
    assert call.studio_number == STUDIO
    assert call.transcript == [
        {"role": "assistant", "text": "hi how are you doing?", "at": at(0.7)},
        {"role": "user", "text": "Doing pretty well. How are you?", "at": at(3.2)},
    ]
    assert call.metadata == {
        "call_id": "call_4f1d2c",
        "direction": "inbound",
        "from_number": CALLER,
        "to_number": STUDIO,
        "start_timestamp": START_MS,
        "end_timestamp": 1714608491736,
        "disconnection_reason": "user_hangup",
    }


def test_call_analyzed_adds_the_call_analysis():
    call = retell.parse(call_event("retell_call_analyzed"))
    assert call is not None
    assert call.metadata["call_analysis"] == {
        "call_summary": "The caller asked how the agent was doing.",
        "in_voicemail": False,
        "user_sentiment": "Positive",
        "call_successful": True,
        "custom_analysis_data": {},
    }
    assert [turn["role"] for turn in call.transcript] == ["assistant", "user"]


def test_an_outbound_call_belongs_to_the_calling_studio():
    call = retell.parse(call_event(direction="outbound"))
    assert call is not None
    assert call.studio_number == STUDIO
    assert call.metadata["from_number"] == STUDIO


def test_a_web_call_has_no_studio_number():
    payload = json.loads(call_event())
    for key in ("from_number", "to_number", "direction"):
        del payload["call"][key]
    call = retell.parse(json.dumps(payload).encode())
    assert call is not None
    assert call.studio_number is None


@pytest.mark.parametrize("event", ["call_started", "transcript_updated", "x"])
def test_other_events_have_no_call(event):
    payload = json.loads(
        sample("retell_call_started", call_id="c", studio_number=STUDIO)
    )
    payload["event"] = event
    assert retell.parse(json.dumps(payload).encode()) is None


def test_the_call_started_sample_has_no_call():
    assert retell.parse(sample("retell_call_started", call_id="c")) is None


def test_a_call_without_a_transcript_has_an_empty_one():
    call = retell.parse(changed_call(transcript_object=None))
    assert call is not None
    assert call.transcript == []


def test_an_utterance_without_words_has_no_time():
    utterance = {"role": "agent", "content": "Hello"}
    call = retell.parse(changed_call(transcript_object=[utterance]))
    assert call is not None
    assert call.transcript == [{"role": "assistant", "text": "Hello"}]


def test_an_unknown_role_is_kept():
    utterance = {"role": "transfer_target", "content": "Hi"}
    call = retell.parse(changed_call(transcript_object=[utterance]))
    assert call is not None
    assert call.transcript[0]["role"] == "transfer_target"


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"{",
        b"[]",
        b'{"call": {}}',
        b'{"event": 1}',
        b'{"event": ""}',
        b'{"event": "call_ended"}',
        b'{"event": "call_ended", "call": []}',
        b'{"event": "call_ended", "call": {}}',
        b"[" * 100_000,
    ],
)
def test_a_body_that_is_no_retell_event_is_invalid(body):
    with pytest.raises(InvalidPayloadError):
        retell.parse(body)


@pytest.mark.parametrize(
    ("fields", "where"),
    [
        ({"call_id": 1}, "call.call_id"),
        ({"call_id": "c" * 257}, "call.call_id"),
        ({"to_number": 12025550123}, "call.to_number"),
        ({"direction": ["inbound"]}, "call.direction"),
        ({"start_timestamp": "1714608475945"}, "call.start_timestamp"),
        ({"start_timestamp": -1}, "call.start_timestamp"),
        ({"end_timestamp": 1.5}, "call.end_timestamp"),
        ({"end_timestamp": True}, "call.end_timestamp"),
        ({"disconnection_reason": "\x00"}, "call.disconnection_reason"),
        ({"call_analysis": "good"}, "call.call_analysis"),
        ({"call_analysis": {"summary": "\ud800"}}, "call.call_analysis.summary"),
        ({"transcript_object": {}}, "call.transcript_object"),
        ({"transcript_object": ["hi"]}, "call.transcript_object[0]"),
        ({"transcript_object": [{"content": "hi"}]}, "call.transcript_object[0].role"),
        (
            {"transcript_object": [{"role": "user", "content": 1}]},
            "call.transcript_object[0].content",
        ),
    ],
)
def test_a_call_of_the_wrong_shape_is_invalid(fields, where):
    with pytest.raises(InvalidPayloadError, match=re.escape(where)):
        retell.parse(changed_call(**fields))


def test_a_word_time_beyond_the_year_9999_is_invalid():
    utterance = {"role": "user", "content": "Hi", "words": [{"start": 3600.0}]}
    body = changed_call(
        start_timestamp=253_402_300_799_999, transcript_object=[utterance]
    )
    with pytest.raises(InvalidPayloadError, match="words"):
        retell.parse(body)


def test_the_signature_of_body_and_timestamp_verifies():
    body = call_event()
    signature = retell_signature(body, at_ms=NOW_MS)
    assert retell.verify_signature(body, signature, RETELL_API_KEY, now_ms=NOW_MS)


@pytest.mark.parametrize("offset_ms", [-(5 * 60_000), -299_000, 299_000, 5 * 60_000])
def test_a_signature_within_five_minutes_either_way_verifies(offset_ms):
    body = call_event()
    signature = retell_signature(body, at_ms=NOW_MS + offset_ms)
    assert retell.verify_signature(body, signature, RETELL_API_KEY, now_ms=NOW_MS)


@pytest.mark.parametrize("offset_ms", [-(5 * 60_000) - 1, -3_600_000, 5 * 60_000 + 1])
def test_a_signature_more_than_five_minutes_off_either_way_is_refused(offset_ms):
    body = call_event()
    signature = retell_signature(body, at_ms=NOW_MS + offset_ms)
    assert not retell.verify_signature(body, signature, RETELL_API_KEY, now_ms=NOW_MS)


def test_a_signature_of_the_body_alone_is_refused():
    body = call_event()
    digest = hmac.new(RETELL_API_KEY.encode(), body, hashlib.sha256).hexdigest()
    assert not retell.verify_signature(
        body, f"v={NOW_MS},d={digest}", RETELL_API_KEY, now_ms=NOW_MS
    )


def test_a_signature_with_another_key_is_refused():
    body = call_event()
    signature = retell_signature(body, at_ms=NOW_MS, api_key="another-key")
    assert not retell.verify_signature(body, signature, RETELL_API_KEY, now_ms=NOW_MS)


@pytest.mark.parametrize(
    "header",
    [
        None,
        "",
        f"v={NOW_MS}",
        "d=" + "0" * 64,
        f"v={NOW_MS},d=" + "0" * 64,
        f"v={NOW_MS},d=" + "0" * 63,
        f"v={NOW_MS},d=" + "z" * 64,
        f"v=-{NOW_MS},d=" + "0" * 64,
        f"v={NOW_MS}ü,d=" + "0" * 64,
        f"v={NOW_MS},d=" + "ü" * 64,
        f"v={NOW_MS},d=\ud800",
        f"v={'9' * 40},d=" + "0" * 64,
    ],
)
def test_a_missing_wrong_or_malformed_signature_is_refused(header):
    assert not retell.verify_signature(b"{}", header, RETELL_API_KEY, now_ms=NOW_MS)
