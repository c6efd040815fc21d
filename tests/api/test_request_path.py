"""The cheap request path: statements built once, rows dumped like objects."""

from __future__ import annotations

import datetime as dt

import pytest

from pilar.extensions import db
from pilar.models import Channel
from pilar.models import Conversation
from pilar.models import Role
from pilar.schemas.conversations import ConversationQueryArgsSchema
from pilar.schemas.conversations import ConversationSchema
from pilar.services import conversations as conversation_service
from pilar.services.pagination import KeysetList
from pilar.services.rows import row_columns
from pilar.tenancy import tenant_scope


def test_row_columns_are_named_like_the_model_attributes():
    names = [column.key for column in row_columns(Conversation)]
    assert "metadata_" in names
    assert "metadata" not in names
    assert set(names) == {
        "id",
        "channel",
        "transcript",
        "metadata_",
        "created_at",
        "updated_at",
    }


def test_a_row_dumps_exactly_like_its_object(app_ctx, tenant):
    with tenant_scope(tenant.domain):
        conversation = conversation_service.create_conversation(
            channel=Channel.WHATSAPP,
            transcript=[
                {"role": "member", "text": "Hallo", "at": dt.datetime.now(dt.UTC)}
            ],
            metadata={"source": "test", "nested": {"a": [1, 2]}},
        )
        page = conversation_service.list_conversations(limit=200)
        row = next(item for item in page.items if item.id == conversation.id)
        schema = ConversationSchema()
        assert schema.dump(row) == schema.dump(conversation)
        assert schema.dump(row)["metadata"] == {
            "source": "test",
            "nested": {"a": [1, 2]},
        }


def test_each_combination_of_filters_is_built_once(app_ctx, tenant):
    listing = KeysetList(Conversation, channel=lambda c, value: c.channel == value)
    with tenant_scope(tenant.domain):
        listing.page(db.session, limit=5, cursor=None, channel=Channel.VOICE)
        first = dict(listing._statements)
        listing.page(db.session, limit=7, cursor=None, channel=Channel.EMAIL)
        listing.page(db.session, limit=5, cursor=None, channel=None)
    assert len(first) == 1
    assert len(listing._statements) == 2  # with and without the channel filter
    assert all(listing._statements[key] is first[key] for key in first)


def test_an_unknown_filter_is_a_programming_error(app_ctx, tenant):
    listing = KeysetList(Conversation)
    with tenant_scope(tenant.domain), pytest.raises(TypeError, match="colour"):
        listing.page(db.session, limit=5, cursor=None, colour="red")


def test_filters_and_cursor_combine(acme):
    created = [
        acme.request(
            "POST", "/api/v1/conversations", json={"channel": channel}
        ).get_json()
        for channel in ("VOICE", "EMAIL", "VOICE", "VOICE")
    ]
    voice_ids = [c["id"] for c in reversed(created) if c["channel"] == "VOICE"]
    first = acme.request(
        "GET", "/api/v1/conversations?channel=VOICE&limit=2", role=Role.STAFF
    ).get_json()
    second = acme.request(
        "GET",
        f"/api/v1/conversations?channel=VOICE&limit=2&cursor={first['next_cursor']}",
        role=Role.STAFF,
    ).get_json()
    seen = [item["id"] for item in first["items"] + second["items"]]
    assert seen[:3] == voice_ids
    assert all(item["channel"] == "VOICE" for item in first["items"] + second["items"])


def test_argument_schemas_are_not_rebuilt_per_request(acme, monkeypatch):
    built = []
    original = ConversationQueryArgsSchema.__init__

    def counting_init(self, *args, **kwargs):
        built.append(self)
        original(self, *args, **kwargs)

    monkeypatch.setattr(ConversationQueryArgsSchema, "__init__", counting_init)
    for _ in range(3):
        response = acme.request("GET", "/api/v1/conversations?limit=5", role=Role.STAFF)
        assert response.status_code == 200
    assert built == []


def test_the_signed_in_user_is_a_row_that_me_dumps(acme):
    body = acme.request("GET", "/api/v1/me", role=Role.ADMIN).get_json()
    assert body["role"] == "ADMIN"
    assert "password_hash" not in body
    assert "password" not in body
