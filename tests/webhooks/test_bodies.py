"""Body limits of the webhooks (3 MiB for WhatsApp, 1 MiB elsewhere) and raw headers.

Chunked bodies and raw header bytes go through a real HTTP server, as a
provider's requests do: the test client never sends either.
"""

from __future__ import annotations

import http.client
import json
import threading
from collections.abc import Iterator
from collections.abc import Mapping
from typing import Any

import pytest
from flask import Flask
from werkzeug.serving import make_server

from tests.conftest import PLATFORM_HOST
from tests.webhooks.conftest import RETELL_PATH
from tests.webhooks.conftest import WHATSAPP_PATH
from tests.webhooks.conftest import new_contact
from tests.webhooks.conftest import retell_signature
from tests.webhooks.conftest import text_message
from tests.webhooks.conftest import whatsapp_payload
from tests.webhooks.conftest import whatsapp_signature
from tests.webhooks.conftest import whatsapp_value

MIB = 1024 * 1024
WHATSAPP_LIMIT = 3 * MIB
API_LIMIT = MIB


def padded(body: bytes, size: int) -> bytes:
    """Return the JSON object ``body`` grown to ``size`` bytes with a padding key."""
    head = body[:-1] + b', "padding": "'
    filler = size - len(head) - len(b'"}')
    assert filler >= 0
    return head + b"x" * filler + b'"}'


def whatsapp_body(phone_number_id: str, size: int) -> tuple[bytes, dict[str, Any]]:
    message = text_message(new_contact())
    body = whatsapp_payload(whatsapp_value(phone_number_id, [message]))
    return padded(body, size), message


@pytest.fixture(scope="module")
def server(webhooks_app: Flask) -> Iterator[int]:
    """Serve ``webhooks_app`` over HTTP/1.1 on a free port; yield the port."""
    httpd = make_server("127.0.0.1", 0, webhooks_app, threaded=True)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield httpd.server_port
    httpd.shutdown()
    thread.join()
    httpd.server_close()


def send(
    port: int,
    path: str,
    body: bytes,
    headers: Mapping[str, str | bytes],
    *,
    chunked: bool,
    host: str = PLATFORM_HOST,
) -> tuple[int, Any]:
    """Post ``body`` (chunked, or with a Content-Length); return status and JSON."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.putrequest("POST", path, skip_host=True)
        conn.putheader("Host", host)
        conn.putheader("Content-Type", "application/json")
        for name, value in headers.items():
            conn.putheader(name, value)
        if chunked:
            conn.putheader("Transfer-Encoding", "chunked")
            conn.endheaders()
            for start in range(0, len(body), 64 * 1024):
                chunk = body[start : start + 64 * 1024]
                conn.send(b"%x\r\n%s\r\n" % (len(chunk), chunk))
            conn.send(b"0\r\n\r\n")
        else:
            conn.putheader("Content-Length", str(len(body)))
            conn.endheaders(body)
        response = conn.getresponse()
        data = response.read()
        return response.status, json.loads(data) if data else None
    finally:
        conn.close()


@pytest.mark.parametrize("chunked", [False, True])
def test_a_whatsapp_body_of_3_mib_is_stored(server, make_studio, chunked):
    studio = make_studio()
    body, message = whatsapp_body(studio.add_whatsapp_channel(), WHATSAPP_LIMIT)
    headers = {"X-Hub-Signature-256": whatsapp_signature(body)}
    status, receipt = send(server, WHATSAPP_PATH, body, headers, chunked=chunked)
    assert (status, receipt) == (200, {"stored": 1, "duplicates": 0, "ignored": 0})
    assert studio.turn_ids() == [message["id"]]


@pytest.mark.parametrize("chunked", [False, True])
def test_a_whatsapp_body_over_3_mib_gets_413_and_stores_nothing(
    server, make_studio, chunked
):
    studio = make_studio()
    body, _ = whatsapp_body(studio.add_whatsapp_channel(), WHATSAPP_LIMIT + 1)
    headers = {"X-Hub-Signature-256": whatsapp_signature(body)}
    status, error = send(server, WHATSAPP_PATH, body, headers, chunked=chunked)
    assert status == 413
    assert error["code"] == "payload_too_large"
    assert "3 MiB" in error["message"]
    assert studio.conversations() == []


def test_a_whatsapp_body_over_3_mib_gets_413_from_the_test_client_too(
    webhooks, make_studio
):
    studio = make_studio()
    body, _ = whatsapp_body(studio.add_whatsapp_channel(), WHATSAPP_LIMIT + 1)
    response = webhooks.post_whatsapp(body)
    assert response.status_code == 413
    assert "3 MiB" in response.get_json()["message"]
    assert studio.conversations() == []


@pytest.mark.parametrize("chunked", [False, True])
@pytest.mark.parametrize("size", [API_LIMIT + 1, 2 * MIB])
def test_a_retell_body_over_1_mib_gets_413(server, chunked, size):
    body = padded(b'{"event": "call_ended"}', size)
    headers = {"X-Retell-Signature": retell_signature(body)}
    status, error = send(server, RETELL_PATH, body, headers, chunked=chunked)
    assert status == 413
    assert error["code"] == "payload_too_large"


@pytest.mark.parametrize("chunked", [False, True])
def test_the_tenant_api_keeps_its_1_mib_limit(server, make_studio, chunked):
    studio = make_studio()
    body = padded(b'{"channel": "EMAIL"}', 2 * MIB)
    headers = {"Authorization": f"Bearer {studio.actions.token()}"}
    status, error = send(
        server,
        "/api/v1/conversations",
        body,
        headers,
        chunked=chunked,
        host=studio.tenant.domain,
    )
    assert status == 413
    assert error["code"] == "payload_too_large"
    assert studio.conversations() == []


@pytest.mark.parametrize(
    "raw",
    [
        "sha256=ü".encode(),
        b"sha256=\xff\xfe" + b"0" * 62,
        "sha256=€".encode() + b"0" * 61,
    ],
)
def test_a_non_ascii_whatsapp_signature_gets_401(server, make_studio, raw):
    studio = make_studio()
    body, _ = whatsapp_body(studio.add_whatsapp_channel(), 1000)
    status, error = send(
        server, WHATSAPP_PATH, body, {"X-Hub-Signature-256": raw}, chunked=False
    )
    assert status == 401
    assert error["code"] == "invalid_signature"
    assert studio.conversations() == []


@pytest.mark.parametrize(
    "raw", ["v=1714608475945,d=ü".encode(), b"v=\xff,d=" + b"0" * 64]
)
def test_a_non_ascii_retell_signature_gets_401(server, raw):
    body = b'{"event": "call_ended", "call": {}}'
    status, error = send(
        server, RETELL_PATH, body, {"X-Retell-Signature": raw}, chunked=False
    )
    assert status == 401
    assert error["code"] == "invalid_signature"
