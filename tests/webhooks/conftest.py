"""Apps with the providers' secrets, signed deliveries, studios that receive them."""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import time
import uuid
from collections.abc import Callable
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from pilar.db.extensions import db
from pilar.models import Conversation
from pilar.models import InboundEvent
from pilar.models import TenantModel
from pilar.tenancy import get_nodes
from pilar.tenancy import tenant_scope
from tests.api.conftest import TenantActions
from tests.conftest import PLATFORM_HOST
from tests.conftest import _new_number
from tests.conftest import make_app
from tests.conftest import nodes_setting

APP_SECRET = "test-meta-app-secret"
VERIFY_TOKEN = "test-verify-token"
RETELL_API_KEY = "test-retell-api-key"
SECRETS = {
    "WHATSAPP_APP_SECRET": APP_SECRET,
    "WHATSAPP_VERIFY_TOKEN": VERIFY_TOKEN,
    "RETELL_API_KEY": RETELL_API_KEY,
}
WHATSAPP_PATH = "/webhooks/whatsapp"
RETELL_PATH = "/webhooks/voice/retell"
SAMPLES = Path(__file__).parent / "samples"


def sample(name: str, **values: Any) -> bytes:
    """Return the sample payload ``name`` with its ``{{key}}`` placeholders filled.

    The bytes are the provider's own, escapes included (``\\/``, ``\\u00fc``):
    a signature over them is a signature over what the provider sends.
    """
    text = (SAMPLES / f"{name}.json").read_text()
    for key, value in values.items():
        text = text.replace(f"{{{{{key}}}}}", str(value))
    return text.encode()


def whatsapp_signature(body: bytes, secret: str = APP_SECRET) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def retell_signature(
    body: bytes, *, at_ms: int | None = None, api_key: str = RETELL_API_KEY
) -> str:
    at_ms = int(time.time() * 1000) if at_ms is None else at_ms
    signed = body + str(at_ms).encode()
    digest = hmac.new(api_key.encode(), signed, hashlib.sha256).hexdigest()
    return f"v={at_ms},d={digest}"


def new_phone_number_id() -> str:
    return str(10**14 + secrets.randbelow(10**14))


def new_wamid() -> str:
    return f"wamid.{uuid.uuid4().hex.upper()}"


def text_message(
    contact: str, body: str = "Hallo!", *, at: int | None = None, wamid: str = ""
) -> dict[str, Any]:
    """One message of Meta's ``messages[]``; ``at`` is Unix seconds."""
    return {
        "from": contact,
        "id": wamid or new_wamid(),
        "timestamp": str(int(time.time()) if at is None else at),
        "type": "text",
        "text": {"body": body},
    }


def whatsapp_value(
    phone_number_id: str,
    messages: list[dict[str, Any]],
    names: dict[str, str] | None = None,
) -> dict[str, Any]:
    """One ``entry[].changes[]`` item, of the field ``messages``."""
    contacts = sorted({message["from"] for message in messages})
    return {
        "field": "messages",
        "value": {
            "messaging_product": "whatsapp",
            "metadata": {
                "display_phone_number": "15550783881",
                "phone_number_id": phone_number_id,
            },
            "contacts": [
                {"profile": {"name": (names or {}).get(c, f"Member {c}")}, "wa_id": c}
                for c in contacts
            ],
            "messages": messages,
        },
    }


def whatsapp_payload(*changes: dict[str, Any]) -> bytes:
    """Meta's payload of ``changes``, one entry each, as bytes to sign."""
    entries = [{"id": "102290129340398", "changes": [change]} for change in changes]
    payload = {"object": "whatsapp_business_account", "entry": entries}
    return json.dumps(payload).encode()


def new_contact() -> str:
    return f"49170{secrets.randbelow(10**7):07d}"


class Webhooks:
    """Deliveries to the webhooks on a platform host, signed as the providers sign."""

    def __init__(self, client: FlaskClient, host: str = PLATFORM_HOST) -> None:
        self.client = client
        self.host = host

    def post_whatsapp(self, body: bytes, **kwargs: Any):
        """Post ``body`` as Meta does; see ``_post`` for the signature."""
        return self._post(
            WHATSAPP_PATH, "X-Hub-Signature-256", whatsapp_signature, body, **kwargs
        )

    def post_retell(self, body: bytes, **kwargs: Any):
        """Post ``body`` as Retell does, signed now; see ``_post``."""
        return self._post(
            RETELL_PATH, "X-Retell-Signature", retell_signature, body, **kwargs
        )

    def _post(
        self,
        path: str,
        header: str,
        sign: Callable[[bytes], str],
        body: bytes,
        *,
        signature: str | None = None,
        unsigned: bool = False,
        **kwargs: Any,
    ):
        """Post ``body``, signed unless ``unsigned`` or given a ``signature``."""
        headers = dict(kwargs.pop("headers", {}))
        if not unsigned:
            headers[header] = sign(body) if signature is None else signature
        return self.client.post(
            path,
            data=body,
            content_type="application/json",
            base_url=f"http://{self.host}",
            headers=headers,
            **kwargs,
        )

    def verify(self, **query: str):
        return self.client.get(
            WHATSAPP_PATH,
            query_string={f"hub.{key}": value for key, value in query.items()},
            base_url=f"http://{self.host}",
        )


class Studio:
    """A throwaway studio; its channels made, its conversations read, by its API."""

    def __init__(self, app: Flask, tenant: Any) -> None:
        self.app = app
        self.tenant = tenant
        self.actions = TenantActions(app, app.test_client(), tenant)

    def add_whatsapp_channel(self, *, status: str | None = None) -> str:
        """Add a WhatsApp channel; return its ``phone_number_id``."""
        phone_number_id = new_phone_number_id()
        created = self.actions.request(
            "POST",
            "/api/v1/whatsapp-channels",
            json={
                "wa_number": _new_number(),
                "wa_cloud_api_config": {
                    "phone_number_id": phone_number_id,
                    "business_account_id": "102290129340398",
                    "access_token": "EAAG-test-token",
                },
            },
        )
        assert created.status_code == 201, created.get_json()
        if status is not None:
            self.set_channel_status(created.get_json()["id"], status)
        return phone_number_id

    def set_channel_status(self, channel_id: str, status: str) -> None:
        response = self.actions.request(
            "PATCH",
            f"/api/v1/whatsapp-channels/{channel_id}",
            json={"status": status},
        )
        assert response.status_code == 200, response.get_json()

    def add_phone_number(self) -> str:
        number = _new_number()
        created = self.actions.request(
            "POST", "/api/v1/phone-numbers", json={"number": number}
        )
        assert created.status_code == 201, created.get_json()
        return number

    def conversations(self, channel: str | None = None) -> list[dict[str, Any]]:
        """Every conversation of the studio, oldest first."""
        query = {"limit": "100", **({"channel": channel} if channel else {})}
        response = self.actions.request(
            "GET", "/api/v1/conversations", query_string=query
        )
        assert response.status_code == 200, response.get_json()
        body = response.get_json()
        assert body["next_cursor"] is None
        return sorted(body["items"], key=lambda c: (c["created_at"], c["id"]))

    def turn_ids(self) -> list[str]:
        """The ids of every stored turn, across all its conversations."""
        return [
            turn["id"]
            for conversation in self.conversations()
            for turn in conversation["transcript"]
            if "id" in turn
        ]

    def inbound_events(self) -> int:
        return self._count(InboundEvent)

    def conversation_count(self) -> int:
        return self._count(Conversation)

    def _count(self, model: type[TenantModel]) -> int:
        with self.app.app_context(), tenant_scope(self.tenant.domain):
            count = sa.select(sa.func.count()).select_from(model)
            return db.session.execute(count).scalar_one()


@pytest.fixture(scope="session")
def webhooks_app(database_url: str, app: Flask) -> Iterator[Flask]:
    """An app with every provider's secret set, on the suite's database."""
    webhooks_app = make_app(database_url, **SECRETS)
    yield webhooks_app
    with webhooks_app.app_context():
        db.engine.dispose()


@pytest.fixture
def webhooks(webhooks_app: Flask) -> Webhooks:
    return Webhooks(webhooks_app.test_client())


@pytest.fixture
def make_studio(
    webhooks_app: Flask, make_tenant: Callable[..., Any]
) -> Callable[..., Studio]:
    """Make throwaway studios (committed; dropped after the test)."""

    def make(**kwargs: Any) -> Studio:
        return Studio(webhooks_app, make_tenant(**kwargs))

    return make


@pytest.fixture(scope="session")
def webhooks_nodes_app(
    database_url: str, nodes_app: Flask, node_urls: dict[str, str]
) -> Iterator[Flask]:
    """``nodes_app`` with every provider's secret set."""
    webhooks_nodes_app = make_app(
        database_url,
        NODES=nodes_setting(node_urls),
        PLACEMENT_NODES="default",
        **SECRETS,
    )
    yield webhooks_nodes_app
    with webhooks_nodes_app.app_context():
        get_nodes().dispose()
        db.engine.dispose()


@pytest.fixture
def make_node_studio(
    webhooks_nodes_app: Flask, make_node_tenant: Callable[..., Any]
) -> Callable[..., Studio]:
    """Make throwaway studios on ``node=`` (committed; dropped after the test)."""

    def make(**kwargs: Any) -> Studio:
        return Studio(webhooks_nodes_app, make_node_tenant(**kwargs))

    return make
