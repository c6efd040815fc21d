"""Random requests to signing in, users and integrations on a tenant host:
whatever is sent, the answer is never a 5xx and every error is in the
error envelope of the OpenAPI document."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import settings
from hypothesis import strategies as st

from pilar.models import Role
from tests.api import fuzzing
from tests.api.conftest import TenantActions
from tests.users import USER_PASSWORD

TOKEN = "/api/v1/auth/token"
ME = "/api/v1/me"
USERS = "/api/v1/users"
INTEGRATIONS = "/api/v1/integrations"
TYPES = ["magicline", "fitogram", "google_calendar", "csv"]
KEYS = [
    "email",
    "password",
    "role",
    "config",
    "active",
    "tenant",
    "api_key",
    "studio_id",
    "environment",
    "provider_id",
    "provider_slug",
    "calendar_id",
    "service_account",
    "type",
    "client_email",
    "private_key",
    "private_key_id",
    "token_uri",
    "time_zone",
    "delimiter",
    "encoding",
    "has_header",
    "column_map",
    "id",
    "created_at",
    "secrets_set",
    "extra",
]
QUERY_KEYS = ["limit", "cursor", "other"]
# Values that pass some validators, so the fuzz gets past the first field.
NEAR_VALID = [
    "OWNER",
    "ADMIN",
    "STAFF",
    "owner",
    "owner@example.com",
    "OWNER@EXAMPLE.COM",
    "a@b",
    "@example.com",
    "owner@example.com\x00",
    USER_PASSWORD,
    "short",
    "password\x00",
    "password\ud800",
    "p" * 1025,
    "production",
    "sandbox",
    "acme-fitness",
    "Acme Fitness",
    "0b8e3f5c-8a4e-4c1e-9d7a-2f6b1c3d4e5f",
    "provider_slug-1",
    "service_account",
    "https://oauth2.googleapis.com/token",
    "http://oauth2.googleapis.com/token",
    "https://evil.example.com/token",
    "Europe/Berlin",
    "Mars/Olympus",
    "../../etc/passwd",
    "utf-8",
    "latin-1",
    "rot13",
    "base64",
    ";",
    '"',
    "\r\n",
    2**63 - 1,
    2**63,
    *fuzzing.HOSTILE,
]

json_values = fuzzing.json_values(NEAR_VALID, KEYS)
queries = fuzzing.queries(
    fuzzing.query_values(NEAR_VALID) | fuzzing.cursors, QUERY_KEYS
)
roles = st.sampled_from(["OWNER", "ADMIN", "STAFF"])
# Paths name a type in lower case; anything else must be a 404.
type_names = st.one_of(
    st.sampled_from(TYPES),
    st.sampled_from(TYPES),
    st.sampled_from(TYPES),
    st.sampled_from(TYPES).map(str.upper),
    st.sampled_from(["Csv", "google-calendar", "googlecalendar", "magicline "])
    | st.text(alphabet="abcdefgilmnorstv_-%.A", max_size=20),
)
PRIVATE_KEY = "-----BEGIN PRIVATE KEY-----\nkey-body\n-----END PRIVATE KEY-----\n"
secrets = st.text(fuzzing.printable, min_size=1, max_size=20)
CONFIGS = {
    "magicline": st.fixed_dictionaries(
        {
            "tenant": st.sampled_from(["acme-fitness", "studio-1", "x"]),
            "api_key": secrets,
        },
        optional={
            "studio_id": st.integers(1, 2**63 - 1),
            "environment": st.sampled_from(["production", "sandbox"]),
        },
    ),
    "fitogram": st.fixed_dictionaries(
        {"provider_id": st.uuids().map(str)}, optional={"api_key": secrets}
    )
    | st.fixed_dictionaries(
        {"provider_slug": st.from_regex(r"\A[A-Za-z0-9_-]{1,20}\Z")},
        optional={"api_key": secrets | st.none()},
    ),
    "google_calendar": st.fixed_dictionaries(
        {
            "calendar_id": st.text(fuzzing.printable, min_size=1, max_size=40),
            "service_account": st.fixed_dictionaries(
                {
                    "client_email": st.just("sync@project.iam.gserviceaccount.com"),
                    "private_key": st.just(PRIVATE_KEY),
                    "token_uri": st.sampled_from(
                        [
                            "https://oauth2.googleapis.com/token",
                            "https://accounts.google.com/o/oauth2/token",
                        ]
                    ),
                },
                optional={
                    "type": st.just("service_account"),
                    "private_key_id": secrets | st.none(),
                },
            ),
        },
        optional={
            "time_zone": st.sampled_from(["Europe/Berlin", "UTC", "Asia/Kolkata"])
        },
    ),
    "csv": st.fixed_dictionaries(
        {},
        optional={
            "delimiter": st.sampled_from([",", ";", "\t", "|"]),
            "encoding": st.sampled_from(["utf-8", "latin-1", "utf-16"]),
            "has_header": st.booleans(),
            "column_map": st.dictionaries(
                st.text(fuzzing.printable, min_size=1, max_size=10),
                st.text(fuzzing.printable, min_size=1, max_size=10),
                max_size=3,
            ),
        },
    ),
}


def _integration_body(config):
    return st.fixed_dictionaries({"config": config}, optional={"active": st.booleans()})


# A valid body per endpoint, which mutations then spoil a little; a key may be
# changed two objects deep (an integration's ``config.service_account``).
VALID_BODIES = {
    "users": st.fixed_dictionaries(
        {"email": fuzzing.emails, "password": fuzzing.passwords},
        optional={"role": roles},
    ),
    "user": st.fixed_dictionaries(
        {},
        optional={
            "email": fuzzing.emails,
            "password": fuzzing.passwords,
            "role": roles,
        },
    ),
    **{kind: _integration_body(config) for kind, config in CONFIGS.items()},
}


@st.composite
def token_bodies(draw, known_emails):
    """Draw a sign-in body: a known email in any case, or any other body."""
    index, upper = draw(st.integers(0)), draw(st.booleans())
    email = known_emails[index % len(known_emails)]
    body = {
        "email": email.upper() if upper else email,
        "password": draw(fuzzing.passwords),
    }
    spoiled = [
        fuzzing.near_valid_bodies(st.just(body), KEYS, json_values).map(json.dumps)
        for _ in range(2)
    ]
    return draw(
        st.one_of(
            *spoiled,
            fuzzing.bodies(json_values, KEYS).map(json.dumps),
            fuzzing.raw_bodies,
        )
    )


@st.composite
def tenant_api_requests(draw, studio):
    """Draw (method, path, keyword arguments of ``TenantActions.request``)."""
    user = f"{USERS}/{fuzzing.known_or_random(draw, studio.user_ids)}"
    type_name = draw(type_names)
    integration = f"{INTEGRATIONS}/{type_name}"
    method, path, kind = draw(
        st.sampled_from(
            [
                ("POST", TOKEN, "token"),
                ("POST", TOKEN, "token"),
                ("GET", TOKEN, None),
                ("GET", ME, None),
                ("PATCH", ME, "user"),
                ("GET", USERS, None),
                ("POST", USERS, "users"),
                ("POST", USERS, "users"),
                ("GET", user, None),
                ("PATCH", user, "user"),
                ("PATCH", user, "user"),
                ("DELETE", user, None),
                ("PUT", user, "user"),
                ("GET", INTEGRATIONS, None),
                ("POST", INTEGRATIONS, "magicline"),
                ("GET", integration, None),
                ("PUT", integration, "integration"),
                ("PUT", integration, "integration"),
                ("PUT", integration, "integration"),
                ("DELETE", integration, None),
                ("PATCH", integration, "integration"),
            ]
        )
    )
    kwargs = {"query_string": draw(queries)}
    if kind == "integration":
        kind = type_name if type_name in CONFIGS else draw(st.sampled_from(TYPES))
    if kind == "token":
        kwargs["data"] = draw(token_bodies(studio.emails))
    elif kind is not None:
        kwargs["data"] = fuzzing.draw_body(draw, VALID_BODIES[kind], KEYS, json_values)
    if kind is not None:
        kwargs["content_type"] = "application/json"
    return method, path, kwargs


class Studio(TenantActions):
    """A throwaway tenant with the users the fuzz may sign in as or change.

    ``user_ids`` never holds a signed-in user: deleting one, or changing its
    password, would refuse every request after it.
    """

    user_ids: list[str]
    emails: list[str]


@pytest.fixture
def studio(app, client, make_tenant):
    actions = Studio(app, client, make_tenant())
    member = actions.create_user(Role.STAFF)
    actions.user_ids = [str(member.id)]
    actions.emails = [member.email]
    return actions


@pytest.mark.parametrize("role", [Role.OWNER, Role.STAFF])
def test_no_tenant_api_request_gets_a_server_error(studio, role):
    @settings(fuzzing.SETTINGS, max_examples=1000)
    @given(request=tenant_api_requests(studio))
    def check(request):
        method, path, kwargs = request
        signed_in = None if path == TOKEN else role
        response = studio.request(method, path, role=signed_in, **kwargs)
        fuzzing.assert_no_server_error(response, request)
        if response.status_code == 201 and path == USERS:
            created = response.get_json()
            studio.user_ids.append(created["id"])
            studio.emails.append(created["email"])

    check()
