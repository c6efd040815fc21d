"""GET and POST /webhooks/whatsapp: the handshake, signatures, what is stored where."""

from __future__ import annotations

import datetime as dt
import json
import secrets
import time

import pytest

from pilar import create_app
from pilar.db.extensions import db
from tests.conftest import PLATFORM_HOST
from tests.webhooks.conftest import VERIFY_TOKEN
from tests.webhooks.conftest import Webhooks
from tests.webhooks.conftest import new_contact
from tests.webhooks.conftest import new_phone_number_id
from tests.webhooks.conftest import sample
from tests.webhooks.conftest import text_message
from tests.webhooks.conftest import whatsapp_payload
from tests.webhooks.conftest import whatsapp_signature
from tests.webhooks.conftest import whatsapp_value

HOUR = 3600
# Messages of these tests are dated three days ago, so every gap fits before now.
T0 = int(time.time()) - 3 * 24 * HOUR


def iso(seconds: int) -> str:
    return dt.datetime.fromtimestamp(seconds, dt.UTC).isoformat()


def create_conversation(studio, contact, *, at):
    """Create a WHATSAPP conversation with ``contact`` through the API."""
    response = studio.actions.request(
        "POST",
        "/api/v1/conversations",
        json={
            "channel": "WHATSAPP",
            "transcript": [{"role": "assistant", "text": "Hallo!", "at": iso(at)}],
            "metadata": {"wa_id": contact},
        },
    )
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def deliver(webhooks, phone_number_id, *messages, names=None):
    """Post one payload of ``messages`` to ``phone_number_id``; assert a 200."""
    body = whatsapp_payload(whatsapp_value(phone_number_id, list(messages), names))
    response = webhooks.post_whatsapp(body)
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def test_the_handshake_answers_the_challenge_as_plain_text(webhooks):
    response = webhooks.verify(
        mode="subscribe", verify_token=VERIFY_TOKEN, challenge="1158201444"
    )
    assert response.status_code == 200
    assert response.mimetype == "text/plain"
    assert response.get_data(as_text=True) == "1158201444"


@pytest.mark.parametrize(
    "query",
    [
        {"mode": "subscribe", "verify_token": "wrong", "challenge": "1"},
        {"mode": "subscribe", "verify_token": "", "challenge": "1"},
        {"mode": "subscribe", "challenge": "1"},
        {"mode": "subscribe", "verify_token": "tëst-vérify-tøken", "challenge": "1"},
        {"mode": "subscribe", "verify_token": VERIFY_TOKEN + " ", "challenge": "1"},
        {"mode": "unsubscribe", "verify_token": VERIFY_TOKEN, "challenge": "1"},
        {"verify_token": VERIFY_TOKEN, "challenge": "1"},
    ],
)
def test_the_handshake_with_a_wrong_token_or_mode_gets_403(webhooks, query):
    response = webhooks.verify(**query)
    assert response.status_code == 403
    assert response.get_json()["code"] == "forbidden"
    assert "1" not in response.get_json()["message"]


def test_the_handshake_answers_503_not_configured_without_a_verify_token(client):
    response = Webhooks(client).verify(
        mode="subscribe", verify_token=VERIFY_TOKEN, challenge="1"
    )
    assert response.status_code == 503
    assert response.get_json()["code"] == "not_configured"
    assert "PILAR_WHATSAPP_VERIFY_TOKEN" in response.get_json()["message"]


def test_the_verify_token_is_read_from_its_environment_variable(monkeypatch, tmp_path):
    monkeypatch.setenv("PILAR_SECRET_KEY", secrets.token_urlsafe(48))
    monkeypatch.setenv("PILAR_WHATSAPP_VERIFY_TOKEN", "from-the-environment")
    monkeypatch.setenv("PILAR_PLATFORM_HOSTS", PLATFORM_HOST)
    # Nothing listens there: the handshake needs no database.
    monkeypatch.setenv("DATABASE_URL", "postgresql://postgres@127.0.0.1:1/nowhere")
    monkeypatch.setenv("PILAR_INSTANCE_PATH", str(tmp_path))
    app = create_app()
    try:
        response = Webhooks(app.test_client()).verify(
            mode="subscribe", verify_token="from-the-environment", challenge="42"
        )
    finally:
        with app.app_context():
            db.engine.dispose()
    assert response.status_code == 200
    assert response.get_data(as_text=True) == "42"


@pytest.mark.parametrize("status", [None, "ACTIVE"])
def test_a_text_message_becomes_a_turn_of_a_new_whatsapp_conversation(
    webhooks, make_studio, status
):
    studio = make_studio()
    phone_number_id = studio.add_whatsapp_channel(status=status)
    body = sample("whatsapp_text", phone_number_id=phone_number_id, timestamp=T0)
    response = webhooks.post_whatsapp(body)
    assert response.status_code == 200
    assert response.get_json() == {"stored": 1, "duplicates": 0, "ignored": 0}
    (conversation,) = studio.conversations()
    assert conversation["channel"] == "WHATSAPP"
    assert conversation["metadata"] == {
        "wa_id": "491701234567",
        "contact_name": "Jürgen Müller",
    }
    assert conversation["transcript"] == [
        {
            "role": "user",
            "text": "Hallo! Kann ich mein Probetraining auf 18:00 verschieben? "
            "Details: https://example.com/kurs",
            "at": iso(T0),
            "id": json.loads(body)["entry"][0]["changes"][0]["value"]["messages"][0][
                "id"
            ],
        }
    ]


@pytest.mark.parametrize("name", ["whatsapp_image", "whatsapp_unsupported"])
def test_a_message_of_another_type_is_a_turn_with_its_type_and_empty_text(
    webhooks, make_studio, name
):
    studio = make_studio()
    phone_number_id = studio.add_whatsapp_channel()
    body = sample(name, phone_number_id=phone_number_id, timestamp=T0)
    assert webhooks.post_whatsapp(body).status_code == 200
    (conversation,) = studio.conversations()
    (turn,) = conversation["transcript"]
    assert turn["text"] == ""
    assert turn["type"] == name.removeprefix("whatsapp_")
    assert turn["role"] == "user"
    assert conversation["metadata"]["contact_name"] == "Ana Souza"


def test_a_message_within_24_hours_joins_the_contacts_conversation(
    webhooks, make_studio
):
    studio = make_studio()
    phone_number_id = studio.add_whatsapp_channel()
    contact = new_contact()
    first, second = (
        text_message(contact, at=T0),
        text_message(contact, at=T0 + 23 * HOUR),
    )
    deliver(webhooks, phone_number_id, first)
    deliver(webhooks, phone_number_id, second)
    (conversation,) = studio.conversations()
    assert [turn["id"] for turn in conversation["transcript"]] == [
        first["id"],
        second["id"],
    ]


def test_a_message_25_hours_after_the_last_turn_opens_a_new_conversation(
    webhooks, make_studio
):
    studio = make_studio()
    phone_number_id = studio.add_whatsapp_channel()
    contact = new_contact()
    first, later = (
        text_message(contact, at=T0),
        text_message(contact, at=T0 + 25 * HOUR),
    )
    deliver(webhooks, phone_number_id, first)
    deliver(webhooks, phone_number_id, later)
    old, new = studio.conversations()
    assert [turn["id"] for turn in old["transcript"]] == [first["id"]]
    assert [turn["id"] for turn in new["transcript"]] == [later["id"]]
    assert old["metadata"]["wa_id"] == new["metadata"]["wa_id"] == contact


@pytest.mark.parametrize(("gap", "conversations"), [(24 * HOUR - 1, 1), (24 * HOUR, 2)])
def test_a_conversation_stays_open_for_less_than_24_hours(
    webhooks, make_studio, gap, conversations
):
    studio = make_studio()
    phone_number_id = studio.add_whatsapp_channel()
    contact = new_contact()
    deliver(webhooks, phone_number_id, text_message(contact, at=T0))
    deliver(webhooks, phone_number_id, text_message(contact, at=T0 + gap))
    assert len(studio.conversations()) == conversations


def test_the_24_hours_count_from_the_last_turn_not_the_first(webhooks, make_studio):
    studio = make_studio()
    phone_number_id = studio.add_whatsapp_channel()
    contact = new_contact()
    for hours in (0, 20, 40, 60):
        deliver(webhooks, phone_number_id, text_message(contact, at=T0 + hours * HOUR))
    (conversation,) = studio.conversations()
    assert len(conversation["transcript"]) == 4


def test_one_payload_with_a_25_hour_gap_opens_two_conversations(webhooks, make_studio):
    studio = make_studio()
    phone_number_id = studio.add_whatsapp_channel()
    contact = new_contact()
    messages = [
        text_message(contact, at=T0),
        text_message(contact, at=T0 + HOUR),
        text_message(contact, at=T0 + 26 * HOUR),
    ]
    assert deliver(webhooks, phone_number_id, *messages)["stored"] == 3
    # Both were created by one transaction, at one created_at.
    transcripts = sorted(
        (c["transcript"] for c in studio.conversations()), key=lambda t: t[0]["at"]
    )
    assert [[t["id"] for t in turns] for turns in transcripts] == [
        [m["id"] for m in messages[:2]],
        [messages[2]["id"]],
    ]


def test_a_message_joins_the_contacts_conversation_made_through_the_api(
    webhooks, make_studio
):
    studio = make_studio()
    phone_number_id = studio.add_whatsapp_channel()
    contact = new_contact()
    created = create_conversation(studio, contact, at=T0)
    deliver(webhooks, phone_number_id, text_message(contact, at=T0 + HOUR))
    (conversation,) = studio.conversations()
    assert conversation["id"] == created["id"]
    assert len(conversation["transcript"]) == 2


def test_a_message_joins_no_conversation_whose_wa_id_only_starts_with_its_contact(
    webhooks, make_studio
):
    studio = make_studio()
    phone_number_id = studio.add_whatsapp_channel()
    contact = "4" * 64
    create_conversation(studio, contact + "9", at=T0)
    deliver(webhooks, phone_number_id, text_message(contact, at=T0 + HOUR))
    assert len(studio.conversations()) == 2


@pytest.mark.parametrize("channel", ["WHATSAPP", "EMAIL"])
def test_a_conversation_may_hold_a_wa_id_too_long_for_an_index_entry(
    make_studio, channel
):
    # The contact index of the webhooks must not refuse what the API takes.
    studio = make_studio()
    wa_id = secrets.token_hex(5000)
    response = studio.actions.request(
        "POST",
        "/api/v1/conversations",
        json={"channel": channel, "metadata": {"wa_id": wa_id}},
    )
    assert response.status_code == 201, response.get_json()
    assert response.get_json()["metadata"] == {"wa_id": wa_id}


def test_each_contact_has_a_conversation_of_its_own(webhooks, make_studio):
    studio = make_studio()
    phone_number_id = studio.add_whatsapp_channel()
    ana, ben = new_contact(), new_contact()
    deliver(
        webhooks,
        phone_number_id,
        text_message(ana, at=T0),
        text_message(ben, at=T0),
        text_message(ana, at=T0 + 60),
        names={ana: "Ana", ben: "Ben"},
    )
    by_contact = {c["metadata"]["wa_id"]: c for c in studio.conversations()}
    assert set(by_contact) == {ana, ben}
    assert by_contact[ana]["metadata"]["contact_name"] == "Ana"
    assert by_contact[ben]["metadata"]["contact_name"] == "Ben"
    assert len(by_contact[ana]["transcript"]) == 2
    assert len(by_contact[ben]["transcript"]) == 1


def test_a_contact_without_a_profile_gets_no_contact_name(webhooks, make_studio):
    studio = make_studio()
    phone_number_id = studio.add_whatsapp_channel()
    value = whatsapp_value(phone_number_id, [text_message("4915112345678", at=T0)])
    value["value"]["contacts"] = []
    assert webhooks.post_whatsapp(whatsapp_payload(value)).status_code == 200
    (conversation,) = studio.conversations()
    assert conversation["metadata"] == {"wa_id": "4915112345678", "contact_name": None}


def test_a_payload_from_16000_contacts_is_stored(webhooks, make_studio):
    # A lock per contact would fill PostgreSQL's shared lock table (64 per
    # connection by default) and fail this and every other transaction.
    studio = make_studio()
    phone_number_id = studio.add_whatsapp_channel()
    count = 16_000
    messages = [
        {"from": f"49{n}", "id": f"wamid.{n}", "timestamp": T0, "type": "text"}
        | {"text": {"body": "Hi"}}
        for n in range(count)
    ]
    value = {"metadata": {"phone_number_id": phone_number_id}, "messages": messages}
    payload = {
        "object": "whatsapp_business_account",
        "entry": [{"changes": [{"field": "messages", "value": value}]}],
    }
    body = json.dumps(payload, separators=(",", ":")).encode()
    response = webhooks.post_whatsapp(body)
    assert response.status_code == 200, response.get_json()
    assert response.get_json()["stored"] == count
    assert studio.conversation_count() == count
    assert studio.inbound_events() == count


def test_statuses_are_acknowledged_and_nothing_is_stored(webhooks, make_studio):
    studio = make_studio()
    phone_number_id = studio.add_whatsapp_channel()
    body = sample("whatsapp_status", phone_number_id=phone_number_id, timestamp=T0)
    response = webhooks.post_whatsapp(body)
    assert response.status_code == 200
    assert response.get_json() == {"stored": 0, "duplicates": 0, "ignored": 0}
    assert studio.conversations() == []
    assert studio.inbound_events() == 0


def test_a_retried_payload_stores_each_message_once(webhooks, make_studio):
    studio = make_studio()
    phone_number_id = studio.add_whatsapp_channel()
    contact = new_contact()
    messages = [text_message(contact, at=T0 + n) for n in range(3)]
    assert deliver(webhooks, phone_number_id, *messages)["stored"] == 3
    for _ in range(3):
        receipt = deliver(webhooks, phone_number_id, *messages)
        assert receipt == {"stored": 0, "duplicates": 3, "ignored": 0}
    assert studio.turn_ids() == [m["id"] for m in messages]
    assert studio.inbound_events() == 3


def test_a_payload_overlapping_an_earlier_one_stores_only_the_new_messages(
    webhooks, make_studio
):
    studio = make_studio()
    phone_number_id = studio.add_whatsapp_channel()
    contact = new_contact()
    first, second, third = (text_message(contact, at=T0 + n) for n in range(3))
    deliver(webhooks, phone_number_id, first, second)
    receipt = deliver(webhooks, phone_number_id, second, third)
    assert receipt == {"stored": 1, "duplicates": 1, "ignored": 0}
    assert studio.turn_ids() == [first["id"], second["id"], third["id"]]


def test_a_message_of_a_deleted_conversation_is_not_stored_again(webhooks, make_studio):
    studio = make_studio()
    phone_number_id = studio.add_whatsapp_channel()
    message = text_message(new_contact(), at=T0)
    deliver(webhooks, phone_number_id, message)
    (conversation,) = studio.conversations()
    path = f"/api/v1/conversations/{conversation['id']}"
    assert studio.actions.request("DELETE", path).status_code == 204
    assert deliver(webhooks, phone_number_id, message)["duplicates"] == 1
    assert studio.conversations() == []


def test_a_message_for_an_unknown_phone_number_id_is_ignored_with_200(
    webhooks, make_studio
):
    studio = make_studio()
    studio.add_whatsapp_channel()
    receipt = deliver(webhooks, new_phone_number_id(), text_message(new_contact()))
    assert receipt == {"stored": 0, "duplicates": 0, "ignored": 1}
    assert studio.conversations() == []
    assert studio.inbound_events() == 0


def test_a_message_for_a_disconnected_channel_is_ignored_with_200(
    webhooks, make_studio
):
    studio = make_studio()
    phone_number_id = studio.add_whatsapp_channel(status="DISCONNECTED")
    receipt = deliver(webhooks, phone_number_id, text_message(new_contact()))
    assert receipt == {"stored": 0, "duplicates": 0, "ignored": 1}
    assert studio.conversations() == []
    assert studio.inbound_events() == 0


def test_a_payload_for_two_studios_stores_each_message_in_its_own(
    webhooks, make_studio
):
    berlin, hamburg = make_studio(), make_studio()
    to_berlin, to_hamburg = (
        berlin.add_whatsapp_channel(),
        hamburg.add_whatsapp_channel(),
    )
    contact = new_contact()
    for_berlin, for_hamburg = text_message(contact, at=T0), text_message(contact, at=T0)
    body = whatsapp_payload(
        whatsapp_value(to_berlin, [for_berlin]),
        whatsapp_value(to_hamburg, [for_hamburg]),
    )
    response = webhooks.post_whatsapp(body)
    assert response.get_json() == {"stored": 2, "duplicates": 0, "ignored": 0}
    assert berlin.turn_ids() == [for_berlin["id"]]
    assert hamburg.turn_ids() == [for_hamburg["id"]]


def test_a_channel_moved_to_another_studio_receives_there(webhooks, make_studio):
    # The first delivery keeps the number's claim in process; the second must
    # not follow it to the studio that no longer holds the number.
    first, second = make_studio(), make_studio()
    phone_number_id = first.add_whatsapp_channel()
    deliver(webhooks, phone_number_id, text_message(new_contact()))
    (channel,) = first.actions.request("GET", "/api/v1/whatsapp-channels").get_json()[
        "items"
    ]
    deleted = first.actions.request(
        "DELETE", f"/api/v1/whatsapp-channels/{channel['id']}"
    )
    assert deleted.status_code == 204
    created = second.actions.request(
        "POST",
        "/api/v1/whatsapp-channels",
        json={
            "wa_number": channel["wa_number"],
            "wa_cloud_api_config": {
                "phone_number_id": phone_number_id,
                "business_account_id": "1",
                "access_token": "EAAG-test-token",
            },
        },
    )
    assert created.status_code == 201, created.get_json()
    message = text_message(new_contact())
    deliver(webhooks, phone_number_id, message)
    assert second.turn_ids() == [message["id"]]
    assert message["id"] not in first.turn_ids()


@pytest.mark.parametrize(
    "signature",
    [
        None,
        "",
        "sha256=",
        "sha256=" + "0" * 64,
        "sha1=" + "0" * 40,
        whatsapp_signature(b"{}"),
        whatsapp_signature(b"x", secret="another-secret"),
        "sha256=ü" + "0" * 63,
        "sha256=Ã¼" + "0" * 62,
    ],
)
def test_a_missing_or_wrong_signature_gets_401_and_stores_nothing(
    webhooks, make_studio, signature
):
    studio = make_studio()
    phone_number_id = studio.add_whatsapp_channel()
    body = sample("whatsapp_text", phone_number_id=phone_number_id, timestamp=T0)
    response = webhooks.post_whatsapp(
        body, signature=signature, unsigned=signature is None
    )
    assert response.status_code == 401
    assert response.get_json()["code"] == "invalid_signature"
    assert studio.conversations() == []
    assert studio.inbound_events() == 0


def test_a_body_signed_after_serialising_it_again_gets_401(webhooks):
    body = sample("whatsapp_text", phone_number_id="1", timestamp=T0)
    again = json.dumps(json.loads(body), ensure_ascii=False).encode()
    response = webhooks.post_whatsapp(body, signature=whatsapp_signature(again))
    assert response.status_code == 401


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"not json",
        b"[1]",
        b'{"object": "whatsapp_business_account", "entry": [1]}',
    ],
)
def test_a_signed_body_that_is_no_payload_gets_400_invalid_payload(webhooks, body):
    response = webhooks.post_whatsapp(body)
    assert response.status_code == 400
    assert response.get_json()["code"] == "invalid_payload"
    assert set(response.get_json()) == {"code", "status", "message"}


def test_one_invalid_message_stores_nothing_of_its_payload(webhooks, make_studio):
    studio = make_studio()
    phone_number_id = studio.add_whatsapp_channel()
    bad = text_message(new_contact(), at=T0) | {"timestamp": "soon"}
    body = whatsapp_payload(
        whatsapp_value(phone_number_id, [text_message(new_contact(), at=T0), bad])
    )
    assert webhooks.post_whatsapp(body).status_code == 400
    assert studio.conversations() == []


def test_the_post_answers_503_not_configured_and_stores_nothing_without_the_secret(
    client, webhooks_app, make_studio
):
    studio = make_studio()
    phone_number_id = studio.add_whatsapp_channel()
    body = sample("whatsapp_text", phone_number_id=phone_number_id, timestamp=T0)
    response = Webhooks(client).post_whatsapp(body)
    assert response.status_code == 503
    assert response.get_json()["code"] == "not_configured"
    assert "PILAR_WHATSAPP_APP_SECRET" in response.get_json()["message"]
    assert studio.conversations() == []
    assert studio.inbound_events() == 0


def test_a_tenant_host_gets_404_for_the_handshake_and_the_post(
    webhooks_app, make_studio
):
    studio = make_studio()
    phone_number_id = studio.add_whatsapp_channel()
    on_tenant = Webhooks(webhooks_app.test_client(), host=studio.tenant.domain)
    verified = on_tenant.verify(
        mode="subscribe", verify_token=VERIFY_TOKEN, challenge="1"
    )
    assert verified.status_code == 404
    body = sample("whatsapp_text", phone_number_id=phone_number_id, timestamp=T0)
    posted = on_tenant.post_whatsapp(body)
    assert posted.status_code == 404
    assert posted.get_json()["code"] == "not_found"
    assert studio.conversations() == []


def test_an_unknown_host_gets_404(webhooks):
    response = Webhooks(webhooks.client, host="nowhere.example.com").post_whatsapp(
        b"{}"
    )
    assert response.status_code == 404


def test_the_openapi_document_lists_the_webhooks(client):
    spec = client.get("/api/openapi.json").get_json()
    assert set(spec["paths"]["/webhooks/whatsapp"]) >= {"get", "post"}
    assert "post" in spec["paths"]["/webhooks/voice/retell"]
    post = spec["paths"]["/webhooks/whatsapp"]["post"]
    assert {"200", "400", "401", "413", "503"} <= set(post["responses"])
    assert post["security"] == []
    headers = {p["name"] for p in post["parameters"] if p["in"] == "header"}
    assert "X-Hub-Signature-256" in headers
    retell = spec["paths"]["/webhooks/voice/retell"]["post"]
    assert {"204", "400", "401", "503"} <= set(retell["responses"])
    assert "X-Retell-Signature" in {p["name"] for p in retell["parameters"]}
