"""The studios of the webhook benchmark: seeded, sent requests, their turns counted."""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import random
import secrets
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import phonenumbers
import psycopg
from psycopg import sql

from bench.environment import make_app
from bench.http.__main__ import TURN_TEXT
from bench.http.__main__ import Target
from bench.http.__main__ import seed
from bench.nodes import NodeDatabases
from pilar.db.extensions import db
from pilar.services.whatsapp_channels import create_whatsapp_channel
from pilar.tenancy import get_nodes
from pilar.tenancy import tenant_scope
from tests.revisions import SHIPPED

# Signs nothing that outlives the run.
APP_SECRET = secrets.token_urlsafe(32)
CONTACTS_PER_TENANT = 20


@dataclass(frozen=True)
class Request:
    path: str
    host: str
    body: bytes
    headers: dict[str, str]
    messages: int


@dataclass(frozen=True)
class Studio:
    target: Target
    phone_number_id: str
    contacts: list[str]


def seed_studios(databases: NodeDatabases, count: int) -> list[Studio]:
    """Seed ``count`` tenants over the nodes and give each a WhatsApp channel."""
    targets = seed(databases.control_plane, count, databases)
    app = make_app(databases.control_plane, SHIPPED, NODES=databases.setting())
    numbers = _wa_numbers()
    studios = []
    with app.app_context():
        for index, target in enumerate(targets):
            phone_number_id = str(10**14 + index)
            with tenant_scope(target.domain):
                create_whatsapp_channel(
                    wa_number=next(numbers),
                    wa_cloud_api_config={
                        "phone_number_id": phone_number_id,
                        "business_account_id": "102290129340398",
                        "access_token": "EAAG-bench",
                    },
                )
            contacts = [f"49170{index:03d}{n:04d}" for n in range(CONTACTS_PER_TENANT)]
            studios.append(Studio(target, phone_number_id, contacts))
        get_nodes().dispose()
        db.engine.dispose()
    return studios


def _wa_numbers() -> Iterator[str]:
    for n in range(10_000):
        number = phonenumbers.parse(f"+1202555{n:04d}")
        if phonenumbers.is_valid_number(number):
            yield phonenumbers.format_number(
                number, phonenumbers.PhoneNumberFormat.E164
            )


def whatsapp_request(studio: Studio, contacts: list[str], per_contact: int) -> Request:
    now = str(int(time.time()))
    messages = [
        {
            "from": contact,
            "id": f"wamid.{uuid.uuid4().hex.upper()}",
            "timestamp": now,
            "type": "text",
            "text": {"body": TURN_TEXT},
        }
        for contact in contacts
        for _ in range(per_contact)
    ]
    value = {
        "messaging_product": "whatsapp",
        "metadata": {
            "display_phone_number": "15550783881",
            "phone_number_id": studio.phone_number_id,
        },
        "contacts": [{"profile": {"name": "Bench"}, "wa_id": c} for c in contacts],
        "messages": messages,
    }
    payload = {
        "object": "whatsapp_business_account",
        "entry": [{"id": "1", "changes": [{"field": "messages", "value": value}]}],
    }
    body = json.dumps(payload).encode()
    digest = hmac.new(APP_SECRET.encode(), body, hashlib.sha256).hexdigest()
    headers = {"X-Hub-Signature-256": f"sha256={digest}"}
    return Request("/webhooks/whatsapp", "127.0.0.1", body, headers, len(messages))


def append_request(studio: Studio) -> Request:
    conversation_id = random.choice(sorted(studio.target.conversation_ids))
    return Request(
        f"/api/v1/conversations/{conversation_id}/messages",
        studio.target.domain,
        json.dumps({"role": "member", "text": TURN_TEXT}).encode(),
        {"Authorization": f"Bearer {studio.target.token}"},
        1,
    )


def count_turns(databases: NodeDatabases, studios: list[Studio]) -> tuple[int, int]:
    """Count the webhooks' turns of every tenant, on its node, and their ids."""
    turns = distinct = 0
    with contextlib.ExitStack() as stack:
        conns = {
            name: stack.enter_context(psycopg.connect(url))
            for name, url in databases.urls.items()
        }
        for studio in studios:
            row = (
                conns[studio.target.node]
                .execute(
                    sql.SQL(
                        "SELECT count(*), count(DISTINCT turn->>'id') FROM {}, "
                        "jsonb_array_elements(transcript) AS turn "
                        "WHERE channel = 'WHATSAPP' AND turn ? 'id'"
                    ).format(sql.Identifier(studio.target.schema_name, "conversations"))
                )
                .fetchone()
            ) or (0, 0)
            turns, distinct = turns + row[0], distinct + row[1]
    return turns, distinct
