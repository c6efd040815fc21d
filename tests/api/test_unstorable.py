"""What PostgreSQL cannot store gets 422 naming where it is, on every endpoint.

NUL characters and unpaired surrogates once reached the driver or the
password hash from fields that did not check for them, as 500s or as 422s
without ``errors``; every schema now checks everything it loads.
"""

from __future__ import annotations

from typing import Any

import pytest
from werkzeug.datastructures import MultiDict

from pilar.validation.storable import MAX_DEPTH
from pilar.validation.storable import UNSTORABLE_TEXT
from pilar.validation.storable import find_unstorable
from tests.conftest import unique_domain

BAD = ["\x00", "\ud800"]


def _message_at(errors: Any, path: tuple[str, ...]) -> list[str]:
    for part in path:
        errors = errors[part]
    assert isinstance(errors, list)
    return errors


def _assert_refused(response: Any, path: tuple[str, ...], secret: str = "") -> None:
    assert response.status_code == 422, response.get_json()
    body = response.get_json()
    assert body["code"] == "validation_error"
    assert _message_at(body["errors"], path) == [UNSTORABLE_TEXT]
    if secret:
        assert secret not in response.get_data(as_text=True)


@pytest.mark.parametrize("bad", BAD, ids=["nul", "surrogate"])
@pytest.mark.parametrize(
    ("method", "path", "body", "where"),
    [
        (
            "POST",
            "/api/v1/users",
            {"email": "u@example.com", "password": "pw12345{}"},
            ("password",),
        ),
        (
            "POST",
            "/api/v1/users",
            {"email": "u{}@example.com", "password": "pw123456"},
            ("email",),
        ),
        (
            "PUT",
            "/api/v1/integrations/magicline",
            {"config": {"tenant": "ok", "api_key": "k{}"}},
            ("config", "api_key"),
        ),
        (
            "PUT",
            "/api/v1/integrations/csv",
            {"config": {"encoding": "utf-8{}"}},
            ("config", "encoding"),
        ),
        (
            "PUT",
            "/api/v1/integrations/csv",
            {"config": {"delimiter": "{}"}},
            ("config", "delimiter"),
        ),
        (
            "PUT",
            "/api/v1/integrations/google_calendar",
            {"config": {"calendar_id": "c{}"}},
            ("config", "calendar_id"),
        ),
        (
            "POST",
            "/api/v1/conversations",
            {"channel": "VOICE", "transcript": [{"role": "member", "text": "hi{}"}]},
            ("transcript", "0", "text"),
        ),
        ("POST", "/api/v1/workout-plans", {"plan": {}, "user_id": "m{}"}, ("user_id",)),
    ],
)
def test_tenant_api_refuses_unstorable_text(acme, method, path, body, where, bad):
    body = _fill(body, bad)
    response = acme.request(method, path, json=body)
    _assert_refused(response, where, secret="k" + bad)


@pytest.mark.parametrize("bad", BAD, ids=["nul", "surrogate"])
@pytest.mark.parametrize("field", ["email", "password"])
def test_signing_in_refuses_unstorable_text(acme, field, bad):
    body = {"email": "owner@example.com", "password": "password1"}
    body[field] += bad
    response = acme.request("POST", "/api/v1/auth/token", role=None, json=body)
    _assert_refused(response, (field,), secret=body["password"])


def test_a_key_that_cannot_be_stored_is_reported_at_its_object(acme):
    body = {"config": {"column_map": {"name\x00": "Name"}}}
    response = acme.request("PUT", "/api/v1/integrations/csv", json=body)
    assert response.status_code == 422
    assert "column_map" in response.get_json()["errors"]["config"]


@pytest.mark.parametrize(
    ("path", "query", "where"),
    [
        ("/api/v1/workout-plans", {"user_id": "m\x00"}, "user_id"),
        ("/api/v1/conversations", {"cursor": "\x00"}, "cursor"),
    ],
)
def test_a_query_argument_that_cannot_be_stored(acme, path, query, where):
    response = acme.request("GET", path, query_string=query)
    _assert_refused(response, (where,))


@pytest.mark.parametrize("bad", BAD, ids=["nul", "surrogate"])
@pytest.mark.parametrize(
    ("body", "where"),
    [
        ({"name": "Studio{}"}, ("name",)),
        (
            {
                "name": "Studio",
                "owner": {"email": "o@example.com", "password": "pw12345{}"},
            },
            ("owner", "password"),
        ),
    ],
)
def test_creating_a_tenant_refuses_unstorable_text(platform, body, where, bad):
    domain = unique_domain()
    body = {**_fill(body, bad), "domain": domain}
    _assert_refused(platform.request("POST", "/api/v1/tenants", json=body), where)
    listed = platform.request("GET", "/api/v1/tenants", query_string={"domain": domain})
    assert listed.get_json()["items"] == []


@pytest.mark.parametrize("bad", BAD, ids=["nul", "surrogate"])
def test_renaming_a_tenant_refuses_unstorable_text(platform, tenant, bad):
    response = platform.request(
        "PATCH", f"/api/v1/tenants/{tenant.id}", json={"name": "Renamed" + bad}
    )
    _assert_refused(response, ("name",))


def test_the_tenant_list_refuses_a_nul_in_its_filter(platform):
    response = platform.request(
        "GET", "/api/v1/tenants", query_string={"domain": "\x00"}
    )
    _assert_refused(response, ("domain",))


def _fill(document: Any, bad: str) -> Any:
    """``document`` with ``bad`` in place of each ``{}`` in its strings."""
    if isinstance(document, dict):
        return {key: _fill(value, bad) for key, value in document.items()}
    if isinstance(document, list):
        return [_fill(item, bad) for item in document]
    if isinstance(document, str):
        return document.replace("{}", bad)
    return document


@pytest.mark.parametrize(
    ("document", "found"),
    [
        ({"a": [1, {"b": "x\x00"}]}, (("a", 1, "b"), "text")),
        ({"a": {"k\ud800": 1}}, (("a",), "key")),
        ({"k\x00": 1}, ((), "key")),
        ({"a": [float("nan")]}, (("a", 0), "number")),
        ("\x00", ((), "text")),
        (MultiDict([("limit", "20"), ("cursor", "\x00")]), (("cursor",), "text")),
        ({"ok": ["text", 1.5, None, True, {"deep": "Grüße"}]}, None),
    ],
)
def test_find_unstorable_names_the_path(document, found):
    assert find_unstorable(document) == found


def _nested(levels: int) -> dict[str, Any]:
    document: dict[str, Any] = {}
    for _ in range(levels):
        document = {"d": document}
    return document


def test_too_deep_a_nesting_is_reported_at_its_top_level_member():
    assert find_unstorable(_nested(MAX_DEPTH)) is None
    assert find_unstorable(_nested(MAX_DEPTH + 1)) == (("d",), "depth")
