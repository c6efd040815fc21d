"""What the OpenAPI document says where apispec alone would say it wrong."""

from __future__ import annotations

import re
from typing import Any

import pytest

from pilar.errors import ValidationError
from pilar.schemas.fields import HOST_NAME_PATTERN
from pilar.tenancy.names import validate_domain

NULL_ONLY = {"type": "object", "nullable": True, "enum": [None]}


@pytest.fixture(scope="module")
def document(app) -> dict[str, Any]:
    body: dict[str, Any] = app.test_client().get("/api/openapi.json").get_json()
    return body


@pytest.mark.parametrize(
    ("schema", "field", "nested"),
    [
        ("PhoneNumberCreate", "sip_credentials", "SipCredentialsCreate"),
        ("PhoneNumberUpdate", "sip_credentials", "SipCredentialsUpdate"),
        ("WhatsAppChannelCreate", "wa_cloud_api_config", "WaCloudApiConfigCreate"),
        ("TenantCreate", "owner", "Owner"),
    ],
)
def test_a_nested_object_that_may_be_null_is_its_schema_or_null(
    document, schema, field, nested
):
    branches = document["components"]["schemas"][schema]["properties"][field]["anyOf"]
    assert branches == [{"$ref": f"#/components/schemas/{nested}"}, NULL_ONLY]


def test_a_body_that_requires_nothing_may_be_left_out(document):
    for path, operations in document["paths"].items():
        if path.startswith("/webhooks/"):
            continue
        for method, operation in operations.items():
            if "requestBody" in operation:
                reference = operation["requestBody"]["content"]["application/json"]
                name = reference["schema"]["$ref"].rpartition("/")[2]
                requires = bool(document["components"]["schemas"][name].get("required"))
                assert operation["requestBody"]["required"] is requires, (path, method)


def test_no_parameter_may_be_null(document):
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            parameters = (
                operation if method == "parameters" else operation.get("parameters", [])
            )
            for parameter in parameters:
                schema = parameter.get("schema", {})
                assert "nullable" not in schema, (path, method, parameter["name"])
                assert None not in schema.get("enum", []), (path, method)


def test_patterns_end_the_text_as_ecma_262_does(document):
    patterns = [
        prop["pattern"]
        for schema in document["components"]["schemas"].values()
        for prop in schema.get("properties", {}).values()
        if "pattern" in prop
    ]
    assert patterns
    assert not [pattern for pattern in patterns if "\\Z" in pattern]


def test_refused_values_are_documented(document):
    delimiter = document["components"]["schemas"]["CsvConfig"]["properties"][
        "delimiter"
    ]
    assert delimiter["not"] == {"enum": ['"', "\r", "\n"]}


def test_what_no_database_can_store_is_said_once_for_every_body(document):
    assert "NUL characters" in document["info"]["description"]


@pytest.mark.parametrize(
    "domain",
    [
        "berlin.example.com",
        "a.b",
        "1.2",
        "x-y.example",
        "Berlin.Example.COM",
        f"{'a' * 63}.example",
        "-a.example",
        "a-.example",
        "a..b",
        "example",
        "a_b.example",
        "bücher.example",
        f"{'a' * 64}.example",
    ],
)
def test_the_document_and_the_server_agree_on_a_tenant_domain(domain):
    try:
        validate_domain(domain, ())
    except ValidationError:
        valid = False
    else:
        valid = True
    assert bool(re.search(HOST_NAME_PATTERN, domain)) is valid
