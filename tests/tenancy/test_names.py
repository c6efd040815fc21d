from __future__ import annotations

import pytest
import sqlalchemy as sa

from pilar.db.extensions import db
from pilar.errors import InvalidSchemaNameError
from pilar.errors import ValidationError
from pilar.models import Tenant
from pilar.tenancy.names import derive_schema_name
from pilar.tenancy.names import validate_domain
from pilar.tenancy.names import validate_schema_name
from tests.conftest import unique_domain

HOSTILE_SCHEMA_NAMES = [
    "",
    "public",
    "information_schema",
    "pg_catalog",
    "pg_toast",
    "pg_anything",
    "select",
    "user",
    "table",
    "Acme",
    "ACME",
    "1acme",
    "_acme",
    "acme-studio",
    "acme studio",
    " acme",
    "acme ",
    'acme"; DROP SCHEMA public CASCADE; --',
    "acme'; DROP TABLE tenants; --",
    'a"b',
    "a;b",
    "a.b",
    "a\x00b",
    "a\nb",
    "münchen",
    "acme\u200b",
    "\uff41cme",  # fullwidth letter a
    "a" * 64,
    "é" * 32,  # 64 bytes in UTF-8, 32 characters
    "<no tenant bound>",
]


@pytest.mark.parametrize("name", HOSTILE_SCHEMA_NAMES)
def test_validate_schema_name_refuses_hostile_names(name):
    with pytest.raises(InvalidSchemaNameError):
        validate_schema_name(name)


@pytest.mark.parametrize("name", ["a", "acme", "acme_2", "a" * 63, "studio_42_berlin"])
def test_validate_schema_name_accepts_plain_names(name):
    assert validate_schema_name(name) == name


@pytest.mark.parametrize("name", HOSTILE_SCHEMA_NAMES)
def test_create_tenant_with_hostile_schema_name_gets_422_and_touches_nothing(
    platform, app, name
):
    with app.app_context():
        schemas_before = set(sa.inspect(db.engine).get_schema_names())
        tenants_before = db.session.scalar(
            sa.select(sa.func.count()).select_from(Tenant)
        )
    domain = unique_domain()
    response = platform.request(
        "POST",
        "/api/v1/tenants",
        json={"name": "X", "domain": domain, "schema_name": name},
    )
    assert response.status_code == 422, response.get_json()
    body = response.get_json()
    assert body["code"] == "validation_error"
    assert "schema_name" in body["errors"]
    with app.app_context():
        assert set(sa.inspect(db.engine).get_schema_names()) == schemas_before
        assert (
            db.session.scalar(sa.select(sa.func.count()).select_from(Tenant))
            == tenants_before
        )


@pytest.mark.parametrize(
    ("domain", "expected"),
    [
        ("berlin.pilarsystems.com", "berlin"),
        ("Berlin-Mitte.example.com", "berlin_mitte"),
        ("24fit.example.com", "t_24fit"),
        ("public.example.com", "public_2"),
        ("pg-studio.example.com", "t_pg_studio"),
        ("select.example.com", "select_2"),
        ("x" * 63 + ".example.com", "x" * 63),
    ],
)
def test_derive_schema_name_makes_a_valid_name(domain, expected):
    assert derive_schema_name(domain, lambda name: False) == expected


def test_derive_schema_name_adds_a_suffix_until_free():
    taken = {"berlin", "berlin_2"}
    assert derive_schema_name("berlin.example.com", taken.__contains__) == "berlin_3"


def test_derive_schema_name_keeps_63_bytes_with_a_suffix():
    derived = derive_schema_name(
        "y" * 63 + ".example.com", lambda name: name == "y" * 63
    )
    assert derived == "y" * 61 + "_2"


@pytest.mark.parametrize(
    "domain",
    [
        "localhost",
        "example",
        "-bad.example.com",
        "bad-.example.com",
        "bad_label.example.com",
        "a..b.com",
        "münchen.example.com",
        "x" * 64 + ".example.com",
        ("a" * 60 + ".") * 5 + "com",
        "has space.example.com",
        "evil.com/path",
        "evil.com:80",
    ],
)
def test_validate_domain_refuses_what_rfc_1123_refuses(domain):
    with pytest.raises(ValidationError):
        validate_domain(domain, frozenset())


def test_validate_domain_refuses_platform_hosts():
    with pytest.raises(ValidationError):
        validate_domain("admin.example.com", frozenset({"admin.example.com"}))


def test_validate_domain_normalises_case_and_trailing_dot():
    assert validate_domain("Berlin.Example.COM.", frozenset()) == "berlin.example.com"
