"""One rule for email addresses: the CLI and the platform API take the same ones.

Each address of one list goes to ``flask tenants create --owner-email`` and
to ``POST /api/v1/tenants`` as the owner's, and to the validator both use;
all three must say the same, so the two ways in cannot drift apart.
"""

from __future__ import annotations

import pytest

from pilar.validation.emails import is_valid_email
from tests.conftest import unique_domain

PASSWORD = "long-enough-1"

ACCEPTED = [
    "owner@example.com",
    "Owner.Name+tag@Sub.Example.CO.uk",
    "o'neil_x-y@example.ie",
    "a!#$%&'*+-/=?^_`{|}~z@example.com",
    # Internationalized: a UTF-8 local part (RFC 6531), an IDN domain, both
    # as Unicode and as punycode, and a punycode top-level label.
    "jörg@bücher.de",
    "a@xn--bcher-kva.de",
    "a@example.xn--p1ai",
    "a@123.example.com",
    f"{'a' * 64}@example.com",
    f"a@{'b' * 63}.example.com",
]
REFUSED = [
    "not-an-email",
    "@example.com",
    "a@",
    "a@b@example.com",
    "a b@example.com",
    "a@example.com ",
    # What marshmallow's Email took: a single label, an address literal, a
    # quoted local part, a symbol in the domain, an all-digit top label.
    "a@localhost",
    "a@[192.0.2.1]",
    '"ab"@example.com',
    '"a b"@example.com',
    "a@☃.example.com",
    "a@example.123",
    # What the CLI's old pattern took: stray dots, commas, underscores and
    # hyphens where no host name has them, a one-letter top label.
    "a..b@example.com",
    ".a@example.com",
    "a.@example.com",
    "a,b@example.com",
    "a@b_c.example.com",
    "a@-b.example.com",
    "a@b-.example.com",
    "a@example..com",
    "a@example.com.",
    "a@example.c",
    "a@1.2.3.4",
    # RFC 5321's limits.
    f"{'a' * 65}@example.com",
    f"a@{'b' * 64}.example.com",
    "a@" + ".".join(["b" * 63] * 5) + ".com",
]
ADDRESSES = [(address, True) for address in ACCEPTED] + [
    (address, False) for address in REFUSED
]


@pytest.mark.parametrize(("address", "valid"), ADDRESSES)
def test_the_rule(address, valid):
    assert is_valid_email(address) is valid


@pytest.mark.parametrize(("address", "valid"), ADDRESSES)
def test_the_cli_creates_an_owner_with_exactly_the_valid_addresses(
    runner, address, valid
):
    domain = unique_domain("email")
    result = runner.invoke(
        args=[
            "tenants",
            "create",
            "Email",
            domain,
            "--owner-email",
            address,
            "--owner-password",
            PASSWORD,
        ]
    )
    if result.exit_code == 0:
        runner.invoke(args=["tenants", "drop", domain, "--yes"])
    if valid:
        assert result.exit_code == 0, result.output
    else:
        assert result.exit_code == 1, result.output
        assert "The owner is not valid." in result.output
        assert "email" in result.output


@pytest.mark.parametrize(("address", "valid"), ADDRESSES)
def test_the_api_creates_an_owner_with_exactly_the_valid_addresses(
    platform, address, valid
):
    response = platform.request(
        "POST",
        "/api/v1/tenants",
        json={
            "name": "Email",
            "domain": unique_domain("email"),
            "owner": {"email": address, "password": PASSWORD},
        },
    )
    if response.status_code == 201:
        platform.request("DELETE", f"/api/v1/tenants/{response.get_json()['id']}")
    if valid:
        assert response.status_code == 201, response.get_json()
    else:
        assert response.status_code == 422, response.get_json()
        assert "email" in response.get_json()["errors"]["owner"]
