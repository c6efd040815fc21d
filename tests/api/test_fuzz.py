"""Random requests to every tenant endpoint of phone numbers, WhatsApp channels,
conversations and workout plans: whatever is sent, the answer is never a 5xx and
every error is in the envelope of CONTRACT §6."""

from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck
from hypothesis import given
from hypothesis import settings
from hypothesis import strategies as st

from pilar.models import Role
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
    "",
    "\x00",
    "\ud800",
    "W10",
    5060,
    0,
    65536,
    2**64,
    -1,
    1.5,
    float("nan"),
    float("inf"),
    True,
    None,
]

scalars = (
    st.sampled_from(NEAR_VALID)
    | st.none()
    | st.booleans()
    | st.integers()
    | st.floats()
    | st.text(max_size=30)
)
json_values = st.recursive(
    scalars,
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(
            st.sampled_from(KEYS) | st.text(max_size=8), children, max_size=5
        )
    ),
    max_leaves=20,
)
bodies = st.dictionaries(st.sampled_from(KEYS), json_values, max_size=6) | json_values
# Query strings travel as UTF-8, so they cannot hold unpaired surrogates; raw
# ones carry percent-escapes of bytes that are not UTF-8 at all.
query_values = (
    st.sampled_from([v for v in NEAR_VALID if isinstance(v, str) and v != "\ud800"])
    | st.text(alphabet=st.characters(exclude_categories=["Cs"]), max_size=40)
    | st.integers().map(str)
)
queries = st.dictionaries(
    st.sampled_from(QUERY_KEYS), query_values, max_size=4
) | st.text(alphabet="%0123456789ABCDEF=&+;limtcursoneda", max_size=40)
ids = st.uuids().map(str) | st.text(alphabet="abc-0123456789%", max_size=40)
raw_bodies = st.binary(max_size=64) | st.text(max_size=64).map(str.encode)


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
def near_valid_bodies(draw, kind):
    """Draw a valid body for ``kind``, then change, drop or add up to two keys."""
    body = draw(VALID_BODIES[kind])
    for _ in range(draw(st.integers(0, 2))):
        nested = [value for value in body.values() if isinstance(value, dict)]
        target = (
            draw(st.sampled_from(nested)) if nested and draw(st.booleans()) else body
        )
        key = draw(st.sampled_from(sorted(target) or KEYS) | st.sampled_from(KEYS))
        if draw(st.booleans()):
            target.pop(key, None)
        else:
            target[key] = draw(json_values)
    return body


@st.composite
def requests(draw, known_ids):
    """Draw (method, path, keyword arguments of the test client's ``open``)."""
    collection = draw(st.sampled_from(COLLECTIONS))
    # Draw the same choices whatever the pool holds, so that Hypothesis sees
    # one strategy; the pool only decides what they mean.
    use_known, index, random_id = (
        draw(st.integers(0, 3)),
        draw(st.integers(0)),
        draw(ids),
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
        near_valid = near_valid_bodies(kind).map(json.dumps)
        body = draw(
            st.one_of(near_valid, near_valid, bodies.map(json.dumps), raw_bodies)
        )
        kwargs["data"] = body
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
        assert response.status_code < 500, (method, path, kwargs, response.get_data())
        if response.status_code == 201 and path in studio.known_ids:
            studio.known_ids[path].append(response.get_json()["id"])
        if response.status_code >= 400:
            body = response.get_json()
            assert body["status"] == response.status_code
            assert isinstance(body["code"], str)
            assert isinstance(body["message"], str)

    check()
