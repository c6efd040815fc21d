"""schemathesis hooks for the conformance run; schemathesis.toml names this file.

Each one keeps a rule of the server that depends on state or on two values
at once, which the document can say only in words, from failing requests
that the document calls valid.
"""

from __future__ import annotations

import datetime as dt
import functools
import os
import re
import uuid
from collections.abc import Callable
from typing import Any

import schemathesis

_KEY = "Idempotency-Key"
_VALID_KEY = re.compile(r"[!-~]{1,255}")


def _set_secret(path: tuple[str, ...], body: dict[str, Any]) -> None:
    """Give ``body`` the secret at ``path`` unless it has one.

    A write may leave out a stored secret and keep it, so the document
    requires none; but the server asks for one until one is stored (422),
    which is state that the document cannot carry.
    """
    *parents, name = path
    value: Any = body
    for parent in parents:
        value = value.get(parent) if isinstance(value, dict) else None
    if isinstance(value, dict) and name not in value:
        value[name] = "conformance-secret"


def _name_columns(body: dict[str, Any]) -> None:
    """Rename the keys of a CSV config's column map that are not 1 to 64 long.

    OpenAPI 3.0 has no keyword for the names of an object's keys.
    """
    config = body.get("config")
    if not isinstance(config, dict):
        return
    columns = config.get("column_map")
    if isinstance(columns, dict):
        config["column_map"] = {
            key if 1 <= len(key) <= 64 else f"column {index}": value
            for index, (key, value) in enumerate(columns.items())
        }


def _place_on_default_node(body: dict[str, Any]) -> None:
    """Send a node name of the document's form as ``default``.

    A tenant goes to a configured node, and only ``default`` is one wherever
    the server runs (docs/nodes.md); another name gets 422.
    """
    node = body.get("node")
    if isinstance(node, str) and 1 <= len(node) <= 32:
        body["node"] = "default"


_BODY_RULES: dict[tuple[str, str], Callable[[dict[str, Any]], None]] = {
    ("PUT", "/api/v1/integrations/magicline"): functools.partial(
        _set_secret, ("config", "api_key")
    ),
    ("PUT", "/api/v1/integrations/google_calendar"): functools.partial(
        _set_secret, ("config", "service_account", "private_key")
    ),
    ("PATCH", "/api/v1/phone-numbers/{phone_number_id}"): functools.partial(
        _set_secret, ("sip_credentials", "password")
    ),
    ("PATCH", "/api/v1/whatsapp-channels/{channel_id}"): functools.partial(
        _set_secret, ("wa_cloud_api_config", "access_token")
    ),
    ("PUT", "/api/v1/integrations/csv"): _name_columns,
    ("POST", "/api/v1/tenants"): _place_on_default_node,
}


@schemathesis.hook
def filter_case(context: Any, case: schemathesis.Case[Any]) -> bool:
    # A run that changes its own user's password or role, or deletes it, signs
    # itself out: everything after that would test nothing but 401 and 403.
    # PILAR_CONFORMANCE_USER_ID names the user of the run's bearer token.
    own_id = os.environ.get("PILAR_CONFORMANCE_USER_ID")
    return not (
        own_id
        and case.operation.path == "/api/v1/users/{user_id}"
        and case.method.upper() in ("PATCH", "DELETE")
        and str((case.path_parameters or {}).get("user_id")) == own_id
    )


@schemathesis.hook
def map_case(context: Any, case: schemathesis.Case[Any]) -> schemathesis.Case[Any]:
    _order_since_and_until(case.query)
    rule = _BODY_RULES.get((case.method.upper(), case.operation.path))
    if rule is not None and isinstance(case.body, dict):
        rule(case.body)
    return case


@schemathesis.hook
def before_call(
    context: Any, case: schemathesis.Case[Any], kwargs: dict[str, Any]
) -> None:
    # A key names one request: sent again with another method, path or body
    # it gets 422 idempotency_key_reused, as the document says, and generated
    # keys repeat. So each request that sends a valid key gets a fresh one.
    key = case.headers.get(_KEY) if case.headers else None
    if key is not None and _VALID_KEY.fullmatch(key):
        case.headers[_KEY] = uuid.uuid4().hex


def _order_since_and_until(query: dict[str, Any] | None) -> None:
    """Swap ``since`` and ``until`` when both are times and ``until`` is earlier.

    A range that ends before it starts gets 422 (conversations' ``until``).
    """
    if not query:
        return
    since, until = _moment(query.get("since")), _moment(query.get("until"))
    if since is not None and until is not None and until < since:
        query["since"], query["until"] = query["until"], query["since"]


def _moment(value: Any) -> dt.datetime | None:
    try:
        moment = dt.datetime.fromisoformat(value)
    except (TypeError, ValueError):
        return None
    return moment if moment.tzinfo is not None else None
