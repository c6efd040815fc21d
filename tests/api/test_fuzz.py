"""Random requests to every tenant endpoint of phone numbers, WhatsApp channels,
conversations and workout plans: whatever is sent, the answer is never a 5xx and
every error is in the error envelope of the OpenAPI document."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck
from hypothesis import given
from hypothesis import settings
from hypothesis import strategies as st

from pilar.models import Role
from tests.api import fuzzing
from tests.api.conftest import TenantActions

COLLECTIONS = [
    "/api/v1/phone-numbers",
    "/api/v1/whatsapp-channels",
    "/api/v1/conversations",
    "/api/v1/workout-plans",
]
KEYS = [
    "number",
    "wa_number",
    "status",
    "sip_credentials",
    "username",
    "password",
    "registrar",
    "port",
    "transport",
    "wa_cloud_api_config",
    "phone_number_id",
    "business_account_id",
    "access_token",
    "api_version",
    "channel",
    "transcript",
    "metadata",
    "role",
    "text",
    "at",
    "plan",
    "user_id",
    "id",
    "created_at",
    "extra",
]
QUERY_KEYS = ["limit", "cursor", "channel", "since", "until", "user_id", "other"]
# Values that pass some validators, so the fuzz gets past the first field.
NEAR_VALID = [
    "+4930901820",
    "+1 415 555 2671",
    "+999",
    "PENDING",
    "ACTIVE",
    "VOICE",
    "EMAIL",
    "udp",
    "tls",
    "sip.example.com",
    "2001:db8::1",
    "2026-01-01T00:00:00Z",
    "2026-01-01T00:00:00",
    "0001-01-01T00:00:00+05:00",
    "9999-12-31T23:59:59-05:00",
    "123456789012345",
    "v21.0",
    "member",
    "W10",
    5060,
    65536,
    *fuzzing.HOSTILE,
]

json_values = fuzzing.json_values(NEAR_VALID, KEYS)
queries = fuzzing.queries(fuzzing.query_values(NEAR_VALID), QUERY_KEYS)

objects = st.dictionaries(st.text(max_size=8), json_values, max_size=3)
numbers = st.builds(
    "+1{}{}".format,
    st.sampled_from(["201", "212", "305", "415", "646", "720"]),
    st.integers(2_000_000, 9_999_999),
)
sip_credentials = st.fixed_dictionaries(
    {
        "username": st.just("trunk"),
        "password": st.just("pw"),
        "registrar": st.just("sip.example.com"),
    },
    optional={
        "port": st.integers(1, 65535),
        "transport": st.sampled_from(["udp", "tcp", "tls"]),
    },
)
wa_cloud_api_configs = st.fixed_dictionaries(
    {
        "phone_number_id": st.integers(1, 10**15).map(str),
        "business_account_id": st.just("102290129340398"),
        "access_token": st.just("token"),
    },
    optional={"api_version": st.just("v21.0")},
)
turns = st.fixed_dictionaries(
    {"role": st.just("member"), "text": st.text(min_size=1, max_size=20)},
    optional={
        "at": st.sampled_from(["2026-01-01T00:00:00Z", "2026-06-01T08:00:00+02:00"])
    },
)
# A valid body per endpoint, which mutations then spoil a little.
VALID_BODIES = {
    "/api/v1/phone-numbers": st.fixed_dictionaries(
        {"number": numbers}, optional={"sip_credentials": sip_credentials}
    ),
    "/api/v1/whatsapp-channels": st.fixed_dictionaries(
        {"wa_number": numbers}, optional={"wa_cloud_api_config": wa_cloud_api_configs}
    ),
    "/api/v1/conversations": st.fixed_dictionaries(
        {"channel": st.sampled_from(["VOICE", "WHATSAPP", "EMAIL"])},
        optional={
            "transcript": st.lists(turns, max_size=3),
            "metadata": objects,
        },
    ),
    "/api/v1/workout-plans": st.fixed_dictionaries(
        {"plan": objects},
        optional={"user_id": st.text(min_size=1, max_size=20)},
    ),
    "messages": turns,
}


@st.composite
def requests(draw, known_ids):
    """Draw (method, path, keyword arguments of the test client's ``open``)."""
    collection = draw(st.sampled_from(COLLECTIONS))
    # Draw the same choices whatever the pool holds, so that Hypothesis sees
    # one strategy; the pool only decides what they mean.
    use_known, index, random_id = (
        draw(st.integers(0, 3)),
        draw(st.integers(0)),
        draw(fuzzing.ids),
    )
    known = known_ids[collection]
    item_id = known[index % len(known)] if known and use_known else random_id
    item = f"{collection}/{item_id}"
    method, path = draw(
        st.sampled_from(
            [
                ("GET", collection),
                ("POST", collection),
                ("POST", collection),
                ("GET", item),
                ("PATCH", item),
                ("PATCH", item),
                ("DELETE", item),
                ("PUT", item),
            ]
            + (
                [("POST", f"{item}/messages")] * 2
                if collection.endswith("conversations")
                else []
            )
        )
    )
    kwargs = {"query_string": draw(queries)}
    if method in ("POST", "PATCH", "PUT"):
        kind = "messages" if path.endswith("/messages") else collection
        kwargs["data"] = fuzzing.draw_body(draw, VALID_BODIES[kind], KEYS, json_values)
        kwargs["content_type"] = "application/json"
    return method, path, kwargs


class Studio(TenantActions):
    """A throwaway tenant with the ids of the rows the fuzz creates in it."""

    known_ids: dict[str, list[str]]


@pytest.fixture
def studio(app, client, make_tenant):
    actions = Studio(app, client, make_tenant())
    actions.known_ids = {path: [] for path in COLLECTIONS}
    return actions


@pytest.mark.parametrize("role", [Role.OWNER, Role.STAFF])
def test_no_request_gets_a_server_error(studio, role):
    @settings(
        max_examples=500,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.too_slow],
    )
    @given(request=requests(studio.known_ids))
    def check(request):
        method, path, kwargs = request
        response = studio.request(method, path, role=role, **kwargs)
        fuzzing.assert_no_server_error(response, request)
        if response.status_code == 201 and path in studio.known_ids:
            studio.known_ids[path].append(response.get_json()["id"])

    check()
