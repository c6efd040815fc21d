"""The numbers the OpenAPI document states in words are the code's constants.

Descriptions are prose, so nothing else would notice a limit that changed in
the code while the document kept the old figure. Each test reads the figure
back out of the served text and compares it with the constant it comes from.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

import pytest

from pilar.api.idempotency import MAX_KEY_LENGTH
from pilar.api.webhooks import WHATSAPP_MAX_BODY
from pilar.config import DEFAULTS
from pilar.inbound.retell import WINDOW_MS
from pilar.models import MAX_TENANT_NAME_LENGTH
from pilar.models.idempotency import KEEP_HOURS
from pilar.schemas.integrations import MAX_FIELD_NAME
from pilar.schemas.pagination import MAX_PAGE_SIZE
from pilar.schemas.phone_numbers import SIP_DEFAULT_PORT
from pilar.services import auth
from pilar.services.inbound_conversations import ACTIVE_FOR
from pilar.validation.storable import MAX_DEPTH

# "one" is left out: the text says "one email" and "the one before".
NUMBER_WORDS = re.compile(
    r"\b(two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|"
    r"fifteen|twenty|thirty|sixty|hundred)\b",
    re.IGNORECASE,
)
_UNITS = {"second": 1, "minute": 60, "hour": 3600}
_SPAN = r"(\d+) (second|minute|hour)s?"


@pytest.fixture(scope="module")
def document(app) -> dict[str, Any]:
    body: dict[str, Any] = app.test_client().get("/api/openapi.json").get_json()
    return body


def said(text: str, pattern: str) -> str:
    """Return what the one group of ``pattern`` matches in ``text``."""
    match = re.search(pattern, text)
    assert match is not None, (pattern, text)
    return match.group(1)


def span(text: str, before: str) -> dt.timedelta:
    """Return the span of time that ``text`` states right after ``before``."""
    match = re.search(re.escape(before) + " " + _SPAN, text)
    assert match is not None, (before, text)
    return dt.timedelta(seconds=int(match.group(1)) * _UNITS[match.group(2)])


def mebibytes(text: str, before: str) -> int:
    return int(said(text, re.escape(before) + r" (\d+) MiB")) * 2**20


def sign_in(document: dict[str, Any]) -> str:
    description: str = document["paths"]["/api/v1/auth/token"]["post"]["description"]
    return description


def test_the_sign_in_lock_count_is_the_throttles_constant(document):
    text = sign_in(document)
    assert int(said(text, r"After (\d+) failed sign-ins")) == auth.MAX_FAILURES
    # The count is stated once, and no other figure stands for it.
    assert re.findall(r"(\w+) failed sign-ins", text) == [str(auth.MAX_FAILURES)]


def test_the_sign_in_text_spells_out_no_number(document):
    assert NUMBER_WORDS.search(sign_in(document)) is None


def test_the_sign_in_lock_times_are_the_throttles_constants(document):
    text = sign_in(document)
    assert span(text, "each within") == auth.FAILURE_WINDOW
    assert span(text, "`Retry-After`, for") == auth.LOCKOUT
    assert span(text, "up to") == auth.MAX_LOCKOUT


def test_the_idempotency_key_rules_are_the_constants(document):
    operation = document["paths"]["/api/v1/users"]["post"]
    (parameter,) = [p for p in operation["parameters"] if p["in"] == "header"]
    text = parameter["description"]
    assert int(said(text, r"^1 to (\d+) visible")) == MAX_KEY_LENGTH
    assert parameter["schema"]["maxLength"] == MAX_KEY_LENGTH
    assert span(text, "within") == dt.timedelta(hours=KEEP_HOURS)
    refused = operation["responses"]["400"]["description"]
    assert int(said(refused, r"is not 1 to (\d+) visible")) == MAX_KEY_LENGTH


def test_the_page_size_is_the_constant(document):
    (limit,) = [
        parameter
        for parameter in document["paths"]["/api/v1/users"]["get"]["parameters"]
        if parameter["name"] == "limit"
    ]
    assert int(said(limit["description"], r"1 to (\d+)")) == MAX_PAGE_SIZE
    assert limit["schema"]["maximum"] == MAX_PAGE_SIZE


def test_the_lengths_in_schemas_are_the_constants(document):
    schemas = document["components"]["schemas"]
    name = schemas["TenantCreate"]["properties"]["name"]
    assert (
        int(said(name["description"], r"1 to (\d+) characters"))
        == MAX_TENANT_NAME_LENGTH
    )
    assert name["maxLength"] == MAX_TENANT_NAME_LENGTH
    column_map = schemas["CsvConfig"]["properties"]["column_map"]["description"]
    assert int(said(column_map, r"1 to (\d+) characters")) == MAX_FIELD_NAME


def test_the_sip_port_default_is_the_constant(document):
    text = document["paths"]["/api/v1/phone-numbers"]["post"]["description"]
    assert int(said(text, r"`port` defaults to (\d+)")) == SIP_DEFAULT_PORT
    port = document["components"]["schemas"]["SipCredentialsCreate"]["properties"]
    assert port["port"]["default"] == SIP_DEFAULT_PORT


def test_the_body_limits_are_the_constants(document):
    paths = document["paths"]
    too_large = paths["/api/v1/users"]["post"]["responses"]["413"]["description"]
    assert mebibytes(too_large, "larger than") == DEFAULTS["MAX_CONTENT_LENGTH"]
    whatsapp = paths["/webhooks/whatsapp"]["post"]["requestBody"]["description"]
    assert mebibytes(whatsapp, "At most") == WHATSAPP_MAX_BODY
    retell = paths["/webhooks/voice/retell"]["post"]["requestBody"]["description"]
    assert mebibytes(retell, "At most") == DEFAULTS["MAX_CONTENT_LENGTH"]


def test_the_webhook_times_are_the_constants(document):
    whatsapp = document["paths"]["/webhooks/whatsapp"]["post"]
    assert span(whatsapp["description"], "is under") == ACTIVE_FOR
    window = dt.timedelta(milliseconds=WINDOW_MS)
    assert span(whatsapp["responses"]["401"]["description"], "more than") == window
    retell = document["paths"]["/webhooks/voice/retell"]["post"]
    (signature,) = retell["parameters"]
    assert span(signature["description"], "at most") == window


def test_the_tenant_directory_ttl_is_the_default(document):
    text = document["paths"]["/api/v1/tenants/{tenant_id}"]["patch"]["description"]
    ttl = float(said(text, r"\((\d+(?:\.\d+)?) by default\)"))
    assert ttl == DEFAULTS["TENANT_CACHE_TTL"]


def test_the_nesting_limit_is_the_constant(document):
    text = document["info"]["description"]
    assert int(said(text, r"deeper than (\d+) levels")) == MAX_DEPTH
