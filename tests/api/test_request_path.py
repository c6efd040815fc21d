"""The cheap request path: statements built once, rows dumped like objects."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest
from marshmallow import fields

from pilar.db.extensions import db
from pilar.models import Channel
from pilar.models import Conversation
from pilar.models import Role
from pilar.schemas.base import formatter
from pilar.schemas.conversations import ConversationQueryArgsSchema
from pilar.schemas.conversations import ConversationSchema
from pilar.schemas.fields import UTCDateTime
from pilar.services import conversations as conversation_service
from pilar.services.pagination import KeysetList
from pilar.services.rows import row_columns
from pilar.services.rows import row_source
from pilar.tenancy import tenant_scope


def test_row_columns_are_named_like_the_model_attributes():
    names = [
        column.key for column in row_columns(Conversation, row_source(Conversation))
    ]
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


@pytest.fixture
def one_of_each(acme, new_number):
    """A conversation, a workout plan, a phone number and a channel in acme."""
    for path, body in [
        (
            "/api/v1/conversations",
            {
                "channel": "EMAIL",
                "transcript": [{"role": "member", "text": "Hi"}],
                "metadata": {"a": {"b": [1, None, "x"]}},
            },
        ),
        ("/api/v1/workout-plans", {"plan": {"days": [{"squat": 5}]}}),
        (
            "/api/v1/phone-numbers",
            {
                "number": new_number(),
                "sip_credentials": {
                    "registrar": "sip.example.com",
                    "username": "front-desk",
                    "password": "s3cret",
                },
            },
        ),
        ("/api/v1/whatsapp-channels", {"wa_number": new_number()}),
    ]:
        response = acme.request("POST", path, json=body)
        assert response.status_code == 201, response.get_json()
    return acme


@pytest.mark.parametrize(
    "resource", ["conversations", "workout_plans", "phone_numbers", "whatsapp_channels"]
)
def test_the_quick_dump_equals_marshmallows_own(one_of_each, monkeypatch, resource):
    import importlib

    import marshmallow as ma

    from pilar.schemas.base import Schema

    service = importlib.import_module(f"pilar.services.{resource}")
    schemas = importlib.import_module(f"pilar.schemas.{resource}")
    page_schema = next(
        value()
        for name, value in vars(schemas).items()
        if name.endswith("PageSchema") and value.__module__ == schemas.__name__
    )
    with one_of_each.app.app_context(), tenant_scope(one_of_each.tenant.domain):
        page = getattr(service, f"list_{resource}")(limit=50)
        assert page.items
        model = type(db.session.get(_model_of(resource), page.items[0].id))
        objects = [db.session.get(model, row.id) for row in page.items]
        quick = [page_schema.dump(page), page_schema.dump({"items": objects})]
        monkeypatch.setattr(Schema, "_serialize", ma.Schema._serialize)
        stock = [
            type(page_schema)().dump(page),
            type(page_schema)().dump({"items": objects}),
        ]
    assert quick == stock
    assert quick[0]["items"] == quick[1]["items"]  # rows dump like objects


def _model_of(resource):
    from pilar import models

    return {
        "conversations": models.Conversation,
        "workout_plans": models.WorkoutPlan,
        "phone_numbers": models.PhoneNumber,
        "whatsapp_channels": models.WhatsAppChannel,
    }[resource]


class _Number(fields.Integer):
    def _format_num(self, value):
        return int(value) * 2


class _Shout(fields.String):
    def _serialize(self, value, attr, obj, **kwargs):
        return None if value is None else str(value).upper()


_AT = dt.datetime(
    2026, 11, 29, 8, 30, 5, 120, tzinfo=dt.timezone(dt.timedelta(hours=1))
)


@pytest.mark.parametrize(
    ("field", "values"),
    [
        (fields.Raw(), [{"a": [1]}, [1, "x"], 3, "x"]),
        (fields.Boolean(), [True, False]),
        (fields.String(), ["Grüße", b"bytes", 12]),
        (fields.UUID(), [uuid.uuid4()]),
        (fields.AwareDateTime(), [_AT]),
        (UTCDateTime(), [_AT]),
        (fields.DateTime(format="timestamp"), [_AT]),
        (fields.DateTime(format="rfc"), [_AT]),
        (fields.Enum(Channel), [Channel.VOICE]),
        (fields.Enum(Role, by_value=True), [Role.STAFF]),
        (fields.Dict(), [{"a": {"b": [1, None]}}]),
        (fields.Integer(), [3, 3.7, "4"]),
        (fields.Float(), [1, 2.5]),
    ],
    ids=lambda case: type(case).__name__ if isinstance(case, fields.Field) else "",
)
def test_a_formatter_does_what_its_field_does(field, values):
    format_value = formatter(field)
    assert format_value is not None
    for value in values:
        expected = field._serialize(value, "name", None)
        assert format_value(value) == expected
        assert type(format_value(value)) is type(expected)


@pytest.mark.parametrize(
    "field",
    [
        fields.DateTime(format="%Y-%m-%d"),
        fields.Enum(Channel, by_value=fields.String),
        fields.Dict(values=fields.String()),
        fields.Integer(as_string=True),
        fields.Decimal(places=2),
        _Number(),
        _Shout(),
        fields.List(fields.String()),
        fields.Nested(ConversationSchema),
    ],
    ids=lambda field: type(field).__name__,
)
def test_fields_that_format_their_own_way_keep_their_method(field):
    assert formatter(field) is None
