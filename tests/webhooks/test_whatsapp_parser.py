"""Meta's WhatsApp payloads and signatures, parsed and checked without a database."""

from __future__ import annotations

import datetime as dt
import json
import re
from typing import Any

import pytest

from pilar.inbound import whatsapp
from pilar.inbound.events import InboundMessage
from pilar.inbound.events import InvalidPayloadError
from tests.webhooks.conftest import APP_SECRET
from tests.webhooks.conftest import sample
from tests.webhooks.conftest import whatsapp_signature

TIMESTAMP = 1_765_000_000
AT = dt.datetime.fromtimestamp(TIMESTAMP, dt.UTC)
TEXT_WAMID = (
    "wamid.HBgNNDkxNzAxMjM0NTY3FQIAEhggQkY0NjE2RkUxQjg2RkMxNjBEMzQ5QjY3MjUxQjg5RTUA"
)


def payload(*values: dict[str, Any], obj: str = "whatsapp_business_account") -> bytes:
    changes = [{"field": "messages", "value": value} for value in values]
    return json.dumps(
        {"object": obj, "entry": [{"id": "1", "changes": changes}]}
    ).encode()


def value(
    phone_number_id: str, *messages: dict[str, Any], contacts=None
) -> dict[str, Any]:
    return {
        "metadata": {"phone_number_id": phone_number_id},
        "contacts": contacts or [],
        "messages": list(messages),
    }


def message(wamid: str, contact: str = "491701234567", **fields) -> dict[str, Any]:
    return {
        "from": contact,
        "id": wamid,
        "timestamp": str(TIMESTAMP),
        "type": "text",
        "text": {"body": "Hi"},
        **fields,
    }


def test_a_text_message_sample_becomes_one_message_with_its_contact_name():
    body = sample(
        "whatsapp_text", phone_number_id="106540352242922", timestamp=TIMESTAMP
    )
    assert whatsapp.parse(body) == [
        InboundMessage(
            source="whatsapp",
            recipient="106540352242922",
            contact="491701234567",
            contact_name="Jürgen Müller",
            message_id=TEXT_WAMID,
            at=AT,
            text="Hallo! Kann ich mein Probetraining auf 18:00 verschieben? "
            "Details: https://example.com/kurs",
            type=None,
        )
    ]


def test_the_dashboard_test_sample_parses_with_its_fixed_ids():
    (parsed,) = whatsapp.parse(sample("whatsapp_dashboard_test"))
    assert parsed.recipient == "123456123"
    assert parsed.contact == "16315551181"
    assert parsed.contact_name == "test user name"
    assert parsed.message_id == "ABGGFlA5Fpa"
    assert parsed.at == dt.datetime(2017, 9, 8, 20, 36, 28, tzinfo=dt.UTC)
    assert parsed.text == "this is a text message"


@pytest.mark.parametrize(
    ("name", "kind"),
    [("whatsapp_image", "image"), ("whatsapp_unsupported", "unsupported")],
)
def test_a_message_of_another_type_keeps_its_type_with_empty_text(name, kind):
    (parsed,) = whatsapp.parse(sample(name, phone_number_id="1", timestamp=TIMESTAMP))
    assert parsed.type == kind
    assert parsed.text == ""
    assert parsed.contact_name == "Ana Souza"


def test_a_status_sample_has_no_messages():
    body = sample("whatsapp_status", phone_number_id="1", timestamp=TIMESTAMP)
    assert whatsapp.parse(body) == []


def test_a_payload_of_another_product_has_no_messages():
    assert whatsapp.parse(payload(value("1", message("wamid.1")), obj="page")) == []


def test_changes_of_another_field_are_ignored():
    body = json.dumps(
        {
            "object": "whatsapp_business_account",
            "entry": [{"changes": [{"field": "account_update", "value": "anything"}]}],
        }
    ).encode()
    assert whatsapp.parse(body) == []


def test_messages_of_every_entry_change_and_value_come_in_payload_order():
    body = json.dumps(
        {
            "object": "whatsapp_business_account",
            "entry": [
                {
                    "changes": [
                        {"field": "messages", "value": value("1", message("a"))},
                        {
                            "field": "messages",
                            "value": value("2", message("b"), message("c")),
                        },
                    ]
                },
                {"changes": [{"field": "messages", "value": value("1", message("d"))}]},
            ],
        }
    ).encode()
    parsed = whatsapp.parse(body)
    assert [(m.recipient, m.message_id) for m in parsed] == [
        ("1", "a"),
        ("2", "b"),
        ("2", "c"),
        ("1", "d"),
    ]


def test_a_message_id_twice_in_one_payload_is_returned_once():
    body = payload(value("1", message("a")), value("1", message("a"), message("b")))
    assert [m.message_id for m in whatsapp.parse(body)] == ["a", "b"]


def test_a_contact_without_a_profile_has_no_name():
    contacts = [{"wa_id": "491701234567"}]
    (parsed,) = whatsapp.parse(payload(value("1", message("a"), contacts=contacts)))
    assert parsed.contact_name is None


def test_a_timestamp_may_be_a_json_integer():
    (parsed,) = whatsapp.parse(payload(value("1", message("a", timestamp=TIMESTAMP))))
    assert parsed.at == AT


def test_unknown_keys_are_ignored():
    extra = message("a", context={"from": "x", "id": "y"}, referral={"a": [1]})
    (parsed,) = whatsapp.parse(payload(value("1", extra) | {"new_key": 1}))
    assert parsed.message_id == "a"


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"not json",
        b"\xff\xfe",
        b"[]",
        b'"whatsapp_business_account"',
        b'{"object": "whatsapp_business_account", "entry": {}}',
        b'{"object": "whatsapp_business_account", "entry": [1]}',
        b'{"object": "whatsapp_business_account", "entry": [{"changes": "x"}]}',
        b'{"object": "whatsapp_business_account", "entry": [{"changes": [null]}]}',
        b"[" * 100_000,
        b'{"a": ' + b"9" * 5000 + b"}",
    ],
)
def test_a_body_that_is_no_whatsapp_payload_is_invalid(body):
    with pytest.raises(InvalidPayloadError):
        whatsapp.parse(body)


@pytest.mark.parametrize(
    ("changed", "where"),
    [
        ({"metadata": None}, "value.metadata"),
        ({"metadata": {}}, "phone_number_id"),
        ({"metadata": {"phone_number_id": 106540352242922}}, "phone_number_id"),
        ({"metadata": {"phone_number_id": "1" * 257}}, "phone_number_id"),
        ({"messages": {"id": "a"}}, "value.messages"),
        ({"messages": ["a"]}, "value.messages[0]"),
        ({"contacts": [{"wa_id": "1", "profile": "x"}]}, "profile"),
        ({"contacts": [{"wa_id": "1", "profile": {"name": "\x00"}}]}, "name"),
    ],
)
def test_a_value_of_the_wrong_shape_is_invalid(changed, where):
    with pytest.raises(InvalidPayloadError, match=re.escape(where)):
        whatsapp.parse(payload(value("1", message("a")) | changed))


@pytest.mark.parametrize(
    ("changed", "where"),
    [
        ({"id": None}, ".id"),
        ({"id": ""}, ".id"),
        ({"id": "a" * 257}, ".id"),
        ({"from": 491701234567}, ".from"),
        ({"from": "4" * 65}, ".from"),
        ({"type": None}, ".type"),
        ({"timestamp": "soon"}, "timestamp"),
        ({"timestamp": "-1"}, "timestamp"),
        ({"timestamp": "1" * 13}, "timestamp"),
        ({"timestamp": "\uff11\uff12\uff13"}, "timestamp"),  # fullwidth digits
        ({"timestamp": 1.5}, "timestamp"),
        ({"timestamp": True}, "timestamp"),
        ({"timestamp": -1}, "timestamp"),
        ({"timestamp": 10**20}, "timestamp"),
        ({"text": None}, ".text"),
        ({"text": {"body": 1}}, "text.body"),
        ({"text": {"body": "a\x00b"}}, "text.body"),
        ({"text": {"body": "\ud800"}}, "text.body"),
    ],
)
def test_a_message_of_the_wrong_shape_is_invalid(changed, where):
    with pytest.raises(InvalidPayloadError, match=re.escape(where)):
        whatsapp.parse(payload(value("1", message("a", **changed))))


def test_the_signature_of_the_raw_body_verifies():
    body = sample("whatsapp_text", phone_number_id="1", timestamp=TIMESTAMP)
    assert whatsapp.verify_signature(body, whatsapp_signature(body), APP_SECRET)


def test_the_signature_of_the_body_serialised_again_does_not_verify():
    # Meta escapes "/" and every non-ASCII character; json.dumps does not.
    body = sample("whatsapp_text", phone_number_id="1", timestamp=TIMESTAMP)
    again = json.dumps(json.loads(body), ensure_ascii=False).encode()
    assert not whatsapp.verify_signature(body, whatsapp_signature(again), APP_SECRET)


@pytest.mark.parametrize(
    "header",
    [
        None,
        "",
        "sha256=",
        "sha256",
        "sha1=" + "0" * 40,
        "sha256=" + "0" * 64,
        "sha256=" + "g" * 64,
        "sha256=not hex at all",
        "sha256=ü" + "0" * 63,
        "sha256=\ud800",
        "sha256=\x00",
    ],
)
def test_a_missing_wrong_or_malformed_signature_does_not_verify(header):
    assert not whatsapp.verify_signature(b"{}", header, APP_SECRET)


def test_a_signature_with_another_secret_does_not_verify():
    signature = whatsapp_signature(b"{}", secret="another-secret")
    assert not whatsapp.verify_signature(b"{}", signature, APP_SECRET)


def test_a_signature_of_another_body_does_not_verify():
    assert not whatsapp.verify_signature(
        b'{"a": 1}', whatsapp_signature(b'{"a": 2}'), APP_SECRET
    )
