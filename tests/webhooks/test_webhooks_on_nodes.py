"""Webhooks routed by number to studios on several nodes (PostgreSQL servers)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask

from tests import fleet
from tests.webhooks.conftest import SECRETS
from tests.webhooks.conftest import Studio
from tests.webhooks.conftest import Webhooks
from tests.webhooks.conftest import new_contact
from tests.webhooks.conftest import sample
from tests.webhooks.conftest import text_message
from tests.webhooks.conftest import whatsapp_payload
from tests.webhooks.conftest import whatsapp_value


def test_one_payload_for_studios_on_two_nodes_stores_each_message_in_its_own(
    webhooks_nodes_app, make_node_studio
):
    eu2, eu3 = make_node_studio(node="eu2"), make_node_studio(node="eu3")
    to_eu2, to_eu3 = eu2.add_whatsapp_channel(), eu3.add_whatsapp_channel()
    contact = new_contact()
    for_eu2 = [text_message(contact), text_message(new_contact())]
    for_eu3 = [text_message(contact)]
    body = whatsapp_payload(
        whatsapp_value(to_eu2, for_eu2[:1]),
        whatsapp_value(to_eu3, for_eu3),
        whatsapp_value(to_eu2, for_eu2[1:]),
    )
    response = Webhooks(webhooks_nodes_app.test_client()).post_whatsapp(body)
    assert response.status_code == 200, response.get_json()
    assert response.get_json() == {"stored": 3, "duplicates": 0, "ignored": 0}
    assert sorted(eu2.turn_ids()) == sorted(m["id"] for m in for_eu2)
    assert eu3.turn_ids() == [for_eu3[0]["id"]]
    assert eu2.inbound_events() == 2
    assert eu3.inbound_events() == 1


def test_a_call_reaches_a_studio_on_another_node(webhooks_nodes_app, make_node_studio):
    studio = make_node_studio(node="eu3")
    number = studio.add_phone_number()
    body = sample(
        "retell_call_analyzed",
        call_id="call_on_eu3",
        direction="inbound",
        from_number="+12137771234",
        to_number=number,
    )
    response = Webhooks(webhooks_nodes_app.test_client()).post_retell(body)
    assert response.status_code == 204
    (conversation,) = studio.conversations("VOICE")
    assert conversation["metadata"]["call_id"] == "call_on_eu3"


@pytest.fixture
def outage(database_url, app, node_urls) -> Iterator[tuple[Flask, Any, Any, Any]]:
    """An app whose node ``gone`` is a server of the test's own, stopped at will."""
    with fleet.outage(database_url, node_urls, **SECRETS) as made:
        yield made


def test_a_payload_with_a_studio_on_a_stopped_node_gets_503_and_its_retry_the_rest(
    outage,
):
    app, server, doomed, kept = outage
    doomed_studio, kept_studio = Studio(app, doomed), Studio(app, kept)
    to_doomed = doomed_studio.add_whatsapp_channel()
    to_kept = kept_studio.add_whatsapp_channel()
    for_doomed, for_kept = text_message(new_contact()), text_message(new_contact())
    body = whatsapp_payload(
        whatsapp_value(to_doomed, [for_doomed]), whatsapp_value(to_kept, [for_kept])
    )
    webhooks = Webhooks(app.test_client())
    server.stop()
    refused = webhooks.post_whatsapp(body)
    assert refused.status_code == 503
    assert refused.get_json()["code"] == "node_unavailable"
    assert "Retry-After" in refused.headers
    # The studio that could be reached has its message; the retry adds none.
    assert kept_studio.turn_ids() == [for_kept["id"]]
    server.start()
    deadline = time.monotonic() + 10
    while (retried := webhooks.post_whatsapp(body)).status_code == 503:
        assert time.monotonic() < deadline, "the node never came back"
        time.sleep(0.2)
    assert retried.status_code == 200
    assert retried.get_json() == {"stored": 1, "duplicates": 1, "ignored": 0}
    assert doomed_studio.turn_ids() == [for_doomed["id"]]
    assert kept_studio.turn_ids() == [for_kept["id"]]
