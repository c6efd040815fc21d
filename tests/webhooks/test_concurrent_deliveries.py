"""Deliveries that race: each message stored once, one conversation per contact."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from flask import Flask

from tests.webhooks.conftest import Webhooks
from tests.webhooks.conftest import new_contact
from tests.webhooks.conftest import sample
from tests.webhooks.conftest import text_message
from tests.webhooks.conftest import whatsapp_payload
from tests.webhooks.conftest import whatsapp_value

DELIVERIES = 20
CALLER = "+12137771234"


def race(app: Flask, deliveries: list[Callable[[Webhooks], Any]]) -> list[Any]:
    """Run each delivery in a thread of its own, with its own client, all at once."""
    barrier = threading.Barrier(len(deliveries))

    def run(deliver: Callable[[Webhooks], Any]) -> Any:
        webhooks = Webhooks(app.test_client())
        barrier.wait(timeout=30)
        return deliver(webhooks)

    with ThreadPoolExecutor(max_workers=len(deliveries)) as pool:
        return list(pool.map(run, deliveries))


def test_20_concurrent_deliveries_of_one_payload_store_each_message_once(
    webhooks_app, make_studio
):
    studio = make_studio()
    phone_number_id = studio.add_whatsapp_channel()
    ana, ben = new_contact(), new_contact()
    messages = [text_message(contact) for contact in (ana, ben, ana, ben, ana)]
    body = whatsapp_payload(whatsapp_value(phone_number_id, messages))

    def deliver(webhooks: Webhooks) -> Any:
        response = webhooks.post_whatsapp(body)
        assert response.status_code == 200, response.get_json()
        return response.get_json()

    receipts = race(webhooks_app, [deliver] * DELIVERIES)
    assert sum(r["stored"] for r in receipts) == len(messages)
    assert sum(r["duplicates"] for r in receipts) == (DELIVERIES - 1) * len(messages)
    assert Counter(studio.turn_ids()) == Counter(m["id"] for m in messages)
    conversations = studio.conversations()
    assert sorted(c["metadata"]["wa_id"] for c in conversations) == sorted([ana, ben])
    assert studio.inbound_events() == len(messages)


def test_concurrent_first_messages_of_one_contact_open_one_conversation(
    webhooks_app, make_studio
):
    studio = make_studio()
    phone_number_id = studio.add_whatsapp_channel()
    contact = new_contact()
    messages = [text_message(contact) for _ in range(DELIVERIES)]

    def deliver_one(message: dict[str, Any]) -> Callable[[Webhooks], None]:
        body = whatsapp_payload(whatsapp_value(phone_number_id, [message]))

        def deliver(webhooks: Webhooks) -> None:
            response = webhooks.post_whatsapp(body)
            assert response.status_code == 200, response.get_json()

        return deliver

    race(webhooks_app, [deliver_one(message) for message in messages])
    (conversation,) = studio.conversations()
    assert sorted(t["id"] for t in conversation["transcript"]) == sorted(
        m["id"] for m in messages
    )


def test_20_concurrent_events_of_one_call_make_one_conversation(
    webhooks_app, make_studio
):
    studio = make_studio()
    number = studio.add_phone_number()
    events = [
        sample(
            name,
            call_id="call_raced",
            direction="inbound",
            from_number=CALLER,
            to_number=number,
        )
        for name in ("retell_call_ended", "retell_call_analyzed")
    ]

    def deliver_one(body: bytes) -> Callable[[Webhooks], None]:
        def deliver(webhooks: Webhooks) -> None:
            response = webhooks.post_retell(body)
            assert response.status_code == 204, response.get_json()

        return deliver

    race(webhooks_app, [deliver_one(events[n % 2]) for n in range(DELIVERIES)])
    (conversation,) = studio.conversations()
    assert conversation["channel"] == "VOICE"
    assert conversation["metadata"]["call_id"] == "call_raced"
    assert "call_analysis" in conversation["metadata"]
    assert len(conversation["transcript"]) == 2
    assert studio.inbound_events() == 1
