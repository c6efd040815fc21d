"""Random requests to the platform API's tenants: whatever is sent, the answer
is never a 5xx and every error is in the error envelope of the OpenAPI document. Every
tenant the fuzz creates is deleted after it."""

from __future__ import annotations

import uuid

import pytest
from hypothesis import given
from hypothesis import settings
from hypothesis import strategies as st

from tests.api import fuzzing
from tests.conftest import unique_domain

TENANTS = "/api/v1/tenants"
PLATFORM_KEYS = [
    "name",
    "domain",
    "schema_name",
    "owner",
    "email",
    "password",
    "status",
    "id",
    "revision",
    "created_at",
    "extra",
]
QUERY_KEYS = ["limit", "cursor", "status", "domain", "other"]
# Values that pass some validators, so the fuzz gets past the first field.
# Every domain or schema name here is refused: those the fuzz may create are
# drawn unique, so that no other test meets them.
NEAR_VALID = [
    "owner@example.com",
    "OWNER@EXAMPLE.COM",
    "a@b",
    "short",
    "password\x00",
    "password\ud800",
    "ACTIVE",
    "SUSPENDED",
    "localhost",
    "LOCALHOST.",
    "127.0.0.1",
    "platform.test",
    "-studio.example.com",
    "studio..example.com",
    "studio.example.com:8080",
    "ümlaut.example.com",
    "public",
    "information_schema",
    "pg_catalog",
    "Upper_Case",
    *fuzzing.HOSTILE,
]

values = fuzzing.json_values(NEAR_VALID, PLATFORM_KEYS)
queries = fuzzing.queries(
    fuzzing.query_values(NEAR_VALID) | fuzzing.cursors, QUERY_KEYS
)


def _unique_schema_name(length=11):
    # "fz" and random hex, padded to ``length``: at most 63 characters is valid.
    return f"fz{uuid.uuid4().hex[:9]}".ljust(length, "x")


def _long_domain(extra=0):
    # 253 characters, the most a domain may have, plus ``extra``.
    return f"fz{uuid.uuid4().hex[:8]}.{'a' * 63}.{'b' * 63}.{'c' * 63}.{'d' * 50}" + (
        "d" * extra
    )


# Valid values, a few just past a bound; the mutations bring in the rest.
domains = st.one_of(
    st.builds(unique_domain, st.sampled_from(["fuzz", "Fuzz"])),
    st.builds(unique_domain, st.just("a" * 55)),
    st.builds(_long_domain),
    st.builds(lambda: unique_domain().upper() + "."),
    st.builds(unique_domain, st.just("a" * 56)) | st.builds(_long_domain, st.just(1)),
)
schema_names = st.one_of(
    st.builds(_unique_schema_name),
    st.builds(_unique_schema_name, st.just(63)),
    st.none(),
    st.builds(_unique_schema_name, st.just(64))
    | st.builds(lambda: f"pg_{uuid.uuid4().hex[:8]}"),
)
names = st.sampled_from(["Studio", " Studio ", "Berlin Mitte"]) | st.text(
    fuzzing.printable, min_size=1, max_size=20
).filter(str.strip)
owners = st.fixed_dictionaries({"email": fuzzing.emails, "password": fuzzing.passwords})

VALID_BODIES = {
    "tenants": st.fixed_dictionaries(
        {"name": names, "domain": domains},
        optional={"schema_name": schema_names, "owner": owners | st.none()},
    ),
    "tenant": st.fixed_dictionaries(
        {},
        optional={
            "name": names,
            "domain": domains,
            "status": st.sampled_from(["ACTIVE", "SUSPENDED"]),
        },
    ),
}


@st.composite
def taken_or_new(draw, valid, tenants):
    """Draw a body of ``valid``; one time in four with the domain or the
    schema name one of ``tenants`` had when last seen, for the conflicts."""
    body = draw(valid)
    which, index = draw(st.integers(0, 7)), draw(st.integers(0))
    taken = list(tenants.values())
    if taken and which < 2 and "domain" in body:
        key = ["domain", "schema_name"][which]
        body[key] = taken[index % len(taken)][key]
    return body


@st.composite
def platform_requests(draw, tenants):
    """Draw (method, path, keyword arguments of ``Platform.request``)."""
    item = f"{TENANTS}/{fuzzing.known_or_random(draw, list(tenants))}"
    method, path, kind = draw(
        st.sampled_from(
            [
                ("GET", TENANTS, None),
                ("POST", TENANTS, "tenants"),
                ("POST", TENANTS, "tenants"),
                ("PATCH", TENANTS, "tenant"),
                ("GET", item, None),
                ("PATCH", item, "tenant"),
                ("PATCH", item, "tenant"),
                ("PUT", item, "tenant"),
            ]
        )
    )
    kwargs = {"query_string": draw(queries)}
    if kind is not None:
        valid = taken_or_new(VALID_BODIES[kind], tenants)
        kwargs["data"] = fuzzing.draw_body(draw, valid, PLATFORM_KEYS, values)
        kwargs["content_type"] = "application/json"
    return method, path, kwargs


def _tenant_ids(platform):
    ids: set[str] = set()
    query: dict[str, str] = {"limit": "200"}
    while True:
        page = platform.request("GET", TENANTS, query_string=query).get_json()
        ids.update(item["id"] for item in page["items"])
        if page["next_cursor"] is None:
            return ids
        query["cursor"] = page["next_cursor"]


@pytest.fixture
def fuzzed_tenants(platform):
    """The tenants the fuzz creates, by id, as last answered; all deleted after
    the test.

    Tenants that appeared without a 201 naming them (a failed create that
    committed after all) are found by comparing the list with the one before.
    """
    before = _tenant_ids(platform)
    created: dict[str, dict[str, str]] = {}
    yield created
    leftover = _tenant_ids(platform) - before - created.keys()
    for tenant_id in [*created, *sorted(leftover)]:
        platform.request("DELETE", f"{TENANTS}/{tenant_id}")
    assert _tenant_ids(platform) <= before


def test_no_platform_request_gets_a_server_error(platform, fuzzed_tenants):
    @settings(fuzzing.SETTINGS, max_examples=800)
    @given(request=platform_requests(fuzzed_tenants))
    def check(request):
        method, path, kwargs = request
        response = platform.request(method, path, **kwargs)
        tenant = response.get_json()
        # A 201 is a tenant of the fuzz's own; a PATCH keeps the pool current.
        if response.status_code == 201 or (
            method == "PATCH" and response.status_code == 200
        ):
            fuzzed_tenants[tenant["id"]] = tenant
        fuzzing.assert_no_server_error(response, request)

    check()
