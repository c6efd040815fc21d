"""``GET /api/v1/export``: the studio's own data, streamed, for its OWNER only."""

from __future__ import annotations

import json

import pytest
import sqlalchemy as sa

from pilar.db.extensions import db
from pilar.models import Channel
from pilar.models import Conversation
from pilar.models import Role
from pilar.models import TenantIntegration
from pilar.models import TenantUser
from pilar.models import WhatsAppChannel
from pilar.services import export as export_service
from pilar.tenancy import tenant_scope
from tests.api.conftest import TenantActions
from tests.archives import ACCESS_TOKEN
from tests.archives import API_KEY
from tests.archives import AWKWARD_TEXT
from tests.archives import SIP_PASSWORD
from tests.archives import fill_tenant
from tests.users import USER_PASSWORD

PATH = "/api/v1/export"
SECTIONS = [
    "tenant",
    "users",
    "integrations",
    "phone_numbers",
    "whatsapp_channels",
    "conversations",
    "workout_plans",
]


@pytest.fixture
def empty_studio(app, client, make_tenant):
    """A throwaway studio with no rows."""
    return TenantActions(app, client, make_tenant())


@pytest.fixture
def studio(app, empty_studio, new_number):
    """A throwaway studio with rows of every kind, signed in as its OWNER."""
    empty_studio.token(Role.OWNER)
    fill_tenant(app, empty_studio.tenant, new_number)
    return empty_studio


def add_conversations(app, tenant, count):
    with app.app_context(), tenant_scope(tenant.domain):
        db.session.add_all(
            Conversation(channel=Channel.EMAIL, metadata_={"n": n})
            for n in range(count)
        )
        db.session.commit()


def test_an_owner_downloads_the_studios_data_as_one_streamed_document(studio):
    response = studio.request("GET", PATH)
    assert response.status_code == 200
    assert response.is_streamed
    assert response.mimetype == "application/json"
    assert "attachment" in response.headers["Content-Disposition"]
    body = json.loads(response.get_data(as_text=True))
    assert list(body) == SECTIONS
    assert body["tenant"] == {"name": "Studio", "domain": studio.tenant.domain}
    counts = {name: len(body[name]) for name in SECTIONS[1:]}
    assert counts == {
        "users": 3,
        "integrations": 1,
        "phone_numbers": 1,
        "whatsapp_channels": 1,
        "conversations": 2,
        "workout_plans": 2,
    }
    texts = [turn["text"] for c in body["conversations"] for turn in c["transcript"]]
    assert texts == [AWKWARD_TEXT]
    assert body["users"][0]["created_at"] <= body["users"][-1]["created_at"]


def test_the_export_shows_items_as_their_own_endpoints_do(studio):
    body = json.loads(studio.request("GET", PATH).get_data(as_text=True))
    for section, path in [
        ("integrations", "/api/v1/integrations/magicline"),
        ("phone_numbers", f"/api/v1/phone-numbers/{body['phone_numbers'][0]['id']}"),
        (
            "whatsapp_channels",
            f"/api/v1/whatsapp-channels/{body['whatsapp_channels'][0]['id']}",
        ),
    ]:
        assert body[section] == [studio.request("GET", path).get_json()]
    assert body["integrations"][0]["secrets_set"] == ["api_key"]


def test_the_export_holds_no_password_hash_and_no_secret(app, studio):
    text = studio.request("GET", PATH).get_data(as_text=True)
    with app.app_context():
        hashes = db.session.scalars(
            sa.select(TenantUser.password_hash).where(
                TenantUser.tenant_id == studio.tenant.id
            )
        ).all()
        stored = db.session.scalar(
            sa.select(TenantIntegration.config).where(
                TenantIntegration.tenant_id == studio.tenant.id
            )
        )
    with app.app_context(), tenant_scope(studio.tenant.domain):
        channel = db.session.scalar(sa.select(WhatsAppChannel))
    assert stored is not None
    assert channel is not None
    assert len(hashes) == 3
    secret_values = [
        SIP_PASSWORD,
        ACCESS_TOKEN,
        API_KEY,
        USER_PASSWORD,
        "$argon2",
        "password_hash",
        stored["api_key"],
        channel.wa_cloud_api_config["access_token"],
        *hashes,
    ]
    for value in secret_values:
        assert value not in text


@pytest.mark.parametrize("role", [Role.ADMIN, Role.STAFF])
def test_only_an_owner_may_export(empty_studio, role):
    response = empty_studio.request("GET", PATH, role=role)
    assert response.status_code == 403
    assert response.get_json()["code"] == "forbidden"


def test_an_export_needs_a_token(empty_studio):
    response = empty_studio.request("GET", PATH, role=None)
    assert response.status_code == 401


def test_a_studio_without_rows_exports_empty_lists(empty_studio):
    body = json.loads(empty_studio.request("GET", PATH).get_data(as_text=True))
    assert [user["role"] for user in body["users"]] == ["OWNER"]
    assert all(body[name] == [] for name in SECTIONS[2:])


def test_the_platform_host_serves_no_export(platform):
    assert platform.request("GET", PATH).status_code == 404


def test_every_row_is_exported_once_whatever_the_batches(app, studio, monkeypatch):
    add_conversations(app, studio.tenant, 7)
    monkeypatch.setattr(export_service, "BATCH_SIZE", 2)
    body = json.loads(studio.request("GET", PATH).get_data(as_text=True))
    conversations = body["conversations"]
    assert len(conversations) == 9
    assert len({c["id"] for c in conversations}) == 9
    keys = [(c["created_at"], c["id"]) for c in conversations]
    assert keys == sorted(keys)
    assert len(body["users"]) == 3


def test_rows_written_while_the_export_streams_are_not_in_it(app, studio):
    response = studio.request("GET", PATH)
    chunks = iter(response.response)
    first = next(chunks)
    add_conversations(app, studio.tenant, 3)
    text = (first if isinstance(first, str) else first.decode()) + "".join(
        chunk if isinstance(chunk, str) else chunk.decode() for chunk in chunks
    )
    assert len(json.loads(text)["conversations"]) == 2


def test_a_studio_on_another_node_exports_its_rows_from_there(
    nodes_app, make_node_tenant, new_number
):
    actions = TenantActions(
        nodes_app, nodes_app.test_client(), make_node_tenant(node="eu2")
    )
    fill_tenant(nodes_app, actions.tenant, new_number)
    response = actions.request("GET", PATH)
    assert response.status_code == 200
    body = json.loads(response.get_data(as_text=True))
    assert len(body["users"]) == 3
    assert len(body["conversations"]) == 2
    assert body["whatsapp_channels"][0]["wa_cloud_api_config"]["secrets_set"] == [
        "access_token"
    ]


def test_the_openapi_document_describes_the_export(client):
    document = client.get("/api/openapi.json").get_json()
    operation = document["paths"][PATH]["get"]
    assert operation["summary"] == "Download all of the studio's data"
    schema = operation["responses"]["200"]["content"]["application/json"]["schema"]
    name = schema["$ref"].rsplit("/", 1)[-1]
    assert list(document["components"]["schemas"][name]["properties"]) == SECTIONS
    assert {"401", "403"} <= set(operation["responses"])
