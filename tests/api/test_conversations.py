from __future__ import annotations

import datetime as dt
import threading
import time
import uuid
from typing import Any

import pytest

from pilar.models import Role
from tests.api.conftest import TenantActions

PATH = "/api/v1/conversations"


def create(actions, **body):
    response = actions.request("POST", PATH, json={"channel": "VOICE", **body})
    assert response.status_code == 201, response.get_json()
    return response.get_json()


@pytest.fixture
def studio(app, client, make_tenant):
    """A throwaway tenant, for tests that list every conversation it has."""
    return TenantActions(app, client, make_tenant())


def test_create_conversation_with_defaults(acme):
    response = acme.request("POST", PATH, json={"channel": "WHATSAPP"})
    assert response.status_code == 201
    body = response.get_json()
    assert set(body) == {
        "id",
        "channel",
        "transcript",
        "metadata",
        "created_at",
        "updated_at",
    }
    assert body["channel"] == "WHATSAPP"
    assert body["transcript"] == []
    assert body["metadata"] == {}


def test_create_conversation_with_transcript_and_metadata(acme):
    transcript = [
        {
            "role": "member",
            "text": "Hi, when do you open?",
            "at": "2026-05-01T08:00:00+02:00",
        },
        {"role": "assistant", "text": "At 6 am."},
    ]
    metadata = {"caller": {"name": "Ana"}, "tags": ["hours", 1, 2.5, True, None]}
    body = create(acme, channel="EMAIL", transcript=transcript, metadata=metadata)
    assert body["transcript"] == [
        {
            "role": "member",
            "text": "Hi, when do you open?",
            "at": "2026-05-01T06:00:00+00:00",
        },
        {"role": "assistant", "text": "At 6 am."},
    ]
    assert body["metadata"] == metadata
    assert acme.request("GET", f"{PATH}/{body['id']}").get_json() == body


def test_patch_replaces_transcript_and_metadata(acme):
    created = create(
        acme, transcript=[{"role": "member", "text": "one"}], metadata={"a": 1}
    )
    response = acme.request(
        "PATCH",
        f"{PATH}/{created['id']}",
        json={"channel": "EMAIL", "transcript": [], "metadata": {"b": 2}},
    )
    assert response.status_code == 200
    body = response.get_json()
    assert (body["channel"], body["transcript"], body["metadata"]) == (
        "EMAIL",
        [],
        {"b": 2},
    )


def test_delete_conversation(acme):
    created = create(acme)
    assert acme.request("DELETE", f"{PATH}/{created['id']}").status_code == 204
    assert acme.request("GET", f"{PATH}/{created['id']}").status_code == 404
    assert acme.request("DELETE", f"{PATH}/{created['id']}").status_code == 404


def test_append_message_adds_one_turn_stamped_now(acme):
    created = create(acme, transcript=[{"role": "member", "text": "Hello"}])
    before = dt.datetime.now(dt.UTC)
    response = acme.request(
        "POST",
        f"{PATH}/{created['id']}/messages",
        json={"role": "assistant", "text": "Hi! How can I help?"},
    )
    assert response.status_code == 201
    transcript = response.get_json()["transcript"]
    assert transcript[0] == {"role": "member", "text": "Hello"}
    assert transcript[1]["role"] == "assistant"
    assert transcript[1]["text"] == "Hi! How can I help?"
    at = dt.datetime.fromisoformat(transcript[1]["at"])
    assert before - dt.timedelta(seconds=1) <= at <= dt.datetime.now(dt.UTC)


def test_append_message_keeps_a_given_time(acme):
    created = create(acme)
    response = acme.request(
        "POST",
        f"{PATH}/{created['id']}/messages",
        json={"role": "member", "text": "Hi", "at": "2026-01-01T12:00:00Z"},
    )
    assert response.get_json()["transcript"] == [
        {"role": "member", "text": "Hi", "at": "2026-01-01T12:00:00+00:00"}
    ]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"text": "hi"}, "role"),
        ({"role": "member"}, "text"),
        ({"role": "", "text": "hi"}, "role"),
        ({"role": "member", "text": ""}, "text"),
        ({"role": "member", "text": 5}, "text"),
        ({"role": "member", "text": "a\u0000b"}, "text"),
        ({"role": "member", "text": "hi", "at": "2026-01-01T12:00:00"}, "at"),
        ({"role": "member", "text": "hi", "at": "yesterday"}, "at"),
        ({"role": "member", "text": "hi", "at": "0001-01-01T00:00:00+05:00"}, "at"),
        ({"role": "member", "text": "hi", "sender": "x"}, "sender"),
    ],
)
def test_append_message_validates_the_turn(acme, body, field):
    created = create(acme)
    response = acme.request("POST", f"{PATH}/{created['id']}/messages", json=body)
    assert response.status_code == 422
    assert field in response.get_json()["errors"]


def test_append_message_to_unknown_conversation_is_404(acme):
    response = acme.request(
        "POST", f"{PATH}/{uuid.uuid4()}/messages", json={"role": "member", "text": "hi"}
    )
    assert response.status_code == 404


def test_concurrent_appends_keep_every_turn(app, acme):
    created = create(acme)
    path = f"{PATH}/{created['id']}/messages"
    token = acme.token(Role.STAFF)
    count = 40
    barrier = threading.Barrier(count)
    statuses: list[int] = []

    def append(index):
        client = app.test_client()
        barrier.wait(timeout=30)
        response = client.post(
            path,
            base_url=f"http://{acme.tenant.domain}",
            headers={"Authorization": f"Bearer {token}"},
            json={"role": "member", "text": f"turn {index}"},
        )
        statuses.append(response.status_code)

    threads = [threading.Thread(target=append, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert statuses == [201] * count
    transcript = acme.request("GET", f"{PATH}/{created['id']}").get_json()["transcript"]
    assert sorted(turn["text"] for turn in transcript) == sorted(
        f"turn {i}" for i in range(count)
    )


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "channel"),
        ({"channel": "SMS"}, "channel"),
        ({"channel": "voice"}, "channel"),
        ({"channel": None}, "channel"),
        ({"channel": "VOICE", "transcript": {"role": "a"}}, "transcript"),
        ({"channel": "VOICE", "transcript": ["hi"]}, "transcript"),
        ({"channel": "VOICE", "transcript": [{"role": "a"}]}, "transcript"),
        (
            {"channel": "VOICE", "transcript": [{"role": "a", "text": "b", "x": 1}]},
            "transcript",
        ),
        ({"channel": "VOICE", "metadata": []}, "metadata"),
        ({"channel": "VOICE", "metadata": "x"}, "metadata"),
        ({"channel": "VOICE", "metadata": None}, "metadata"),
        ({"channel": "VOICE", "metadata": {"k": "a\u0000"}}, "metadata"),
        ({"channel": "VOICE", "id": str(uuid.uuid4())}, "id"),
        ({"channel": "VOICE", "member": "x"}, "member"),
    ],
)
def test_create_validates_the_body(acme, body, field):
    response = acme.request("POST", PATH, json=body)
    assert response.status_code == 422
    assert field in response.get_json()["errors"]


@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity"])
def test_metadata_rejects_numbers_json_cannot_hold(acme, literal):
    response = acme.request(
        "POST",
        PATH,
        data=f'{{"channel": "VOICE", "metadata": {{"x": {literal}}}}}',
        content_type="application/json",
    )
    assert response.status_code == 422
    assert "metadata" in response.get_json()["errors"]


def test_metadata_rejects_unpaired_surrogates(acme):
    response = acme.request(
        "POST",
        PATH,
        data=b'{"channel": "VOICE", "metadata": {"x": "\\ud800"}}',
        content_type="application/json",
    )
    assert response.status_code == 422


def test_metadata_rejects_deep_nesting(acme):
    deep: dict[str, Any] = {}
    for _ in range(100):
        deep = {"d": deep}
    response = acme.request("POST", PATH, json={"channel": "VOICE", "metadata": deep})
    assert response.status_code == 422


def test_malformed_json_is_400(acme):
    response = acme.request(
        "POST", PATH, data=b'{"channel": VOICE}', content_type="application/json"
    )
    assert response.status_code == 400


def test_patch_validates_the_body(acme):
    created = create(acme)
    for body in [{"channel": "FAX"}, {"transcript": None}, {"metadata": [1]}, {"x": 1}]:
        response = acme.request("PATCH", f"{PATH}/{created['id']}", json=body)
        assert response.status_code == 422, body


def test_list_filters_by_channel(studio):
    voice, email = create(studio, channel="VOICE"), create(studio, channel="EMAIL")
    response = studio.request("GET", PATH, query_string={"channel": "EMAIL"})
    assert response.status_code == 200
    assert [row["id"] for row in response.get_json()["items"]] == [email["id"]]
    response = studio.request("GET", PATH)
    assert [row["id"] for row in response.get_json()["items"]] == [
        email["id"],
        voice["id"],
    ]


def test_since_is_inclusive_and_until_exclusive(studio):
    rows = []
    for _ in range(3):
        rows.append(create(studio))
        time.sleep(0.01)
    first, middle, last = rows
    since, until = middle["created_at"], last["created_at"]

    def ids(**query):
        response = studio.request("GET", PATH, query_string=query)
        assert response.status_code == 200, response.get_json()
        return [row["id"] for row in response.get_json()["items"]]

    assert ids(since=since) == [last["id"], middle["id"]]
    assert ids(until=until) == [middle["id"], first["id"]]
    assert ids(since=since, until=until) == [middle["id"]]
    assert ids(since=since, until=since) == []


def test_since_accepts_other_offsets_and_an_unencoded_plus(studio):
    created = create(studio)
    moment = dt.datetime.fromisoformat(created["created_at"])
    in_berlin = moment.astimezone(dt.timezone(dt.timedelta(hours=2))).isoformat()
    response = studio.request("GET", PATH, query_string={"since": in_berlin})
    assert [row["id"] for row in response.get_json()["items"]] == [created["id"]]
    raw = f"{PATH}?since={in_berlin}"  # "+02:00" arrives as " 02:00"
    assert studio.request("GET", raw).get_json()["items"][0]["id"] == created["id"]


@pytest.mark.parametrize(
    "query",
    [
        {"since": "2026-01-01T00:00:00"},
        {"until": "2026-01-01"},
        {"since": "last week"},
        {"since": "2026-02-01T00:00:00Z", "until": "2026-01-01T00:00:00Z"},
        {"channel": "SMS"},
        {"limit": 0},
        {"limit": 201},
        {"limit": "ten"},
        {"cursor": "not-a-cursor"},
    ],
)
def test_list_rejects_bad_query_arguments(acme, query):
    response = acme.request("GET", PATH, query_string=query)
    assert response.status_code == 422
    assert set(query) & set(response.get_json()["errors"])


@pytest.mark.parametrize("role", [Role.OWNER, Role.ADMIN, Role.STAFF])
def test_every_role_may_do_everything(acme, role):
    response = acme.request("POST", PATH, role=role, json={"channel": "VOICE"})
    assert response.status_code == 201
    item = f"{PATH}/{response.get_json()['id']}"
    assert acme.request("GET", PATH, role=role).status_code == 200
    assert acme.request("GET", item, role=role).status_code == 200
    response = acme.request("PATCH", item, role=role, json={"metadata": {"r": 1}})
    assert response.status_code == 200
    response = acme.request(
        "POST", f"{item}/messages", role=role, json={"role": "member", "text": "x"}
    )
    assert response.status_code == 201
    assert acme.request("DELETE", item, role=role).status_code == 204


@pytest.mark.parametrize(
    ("method", "suffix", "body"),
    [
        ("GET", "", None),
        ("PATCH", "", {"metadata": {}}),
        ("DELETE", "", None),
        ("POST", "/messages", {"role": "member", "text": "x"}),
    ],
)
def test_another_tenants_conversation_is_not_found(acme, globex, method, suffix, body):
    created = create(acme)
    response = globex.request(method, f"{PATH}/{created['id']}{suffix}", json=body)
    assert response.status_code == 404
    assert acme.request("GET", f"{PATH}/{created['id']}").get_json() == created


def test_another_tenants_token_is_refused(acme, globex):
    response = globex.request(
        "POST",
        PATH,
        headers={"Authorization": f"Bearer {acme.token()}"},
        json={"channel": "VOICE"},
    )
    assert response.status_code == 401


def test_openapi_documents_the_conversation_endpoints(client):
    spec = client.get("/api/openapi.json").get_json()
    messages = spec["paths"][PATH + "/{conversation_id}/messages"]["post"]
    assert messages["security"] == [{"bearerAuth": []}]
    assert {"201", "401", "404", "422"} <= set(messages["responses"])
    parameters = {p["name"] for p in spec["paths"][PATH]["get"]["parameters"]}
    assert parameters >= {"channel", "since", "until", "limit", "cursor"}


def test_body_over_one_mebibyte_is_413(acme):
    response = acme.request(
        "POST",
        PATH,
        json={"channel": "VOICE", "metadata": {"blob": "x" * (1024 * 1024)}},
    )
    assert response.status_code == 413
    assert response.get_json()["code"] == "payload_too_large"
