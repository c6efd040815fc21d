"""The ``Idempotency-Key`` header on every write of the tenant and platform APIs.

Each write view is wrapped (``install``), after the blueprints' own hooks
(the tenant, the bearer token, the roles) have run, so the key's scope is
known: the signed-in user on a tenant host, the platform on a platform host.
The transaction rules live in ``pilar.services.idempotency``.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
import re
from collections.abc import Callable
from typing import Any

from flask import Flask
from flask import Response
from flask import current_app
from flask import g
from flask import jsonify
from flask import request

from pilar.api.openapi import duration
from pilar.errors import BadRequestError
from pilar.models.idempotency import KEEP_HOURS
from pilar.services import idempotency
from pilar.tenancy import is_platform_request

HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"
WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
# A key is 1 to this many visible ASCII characters (docs/api.md).
MAX_KEY_LENGTH = 255
_KEY_RE = re.compile(rf"[\x21-\x7e]{{1,{MAX_KEY_LENGTH}}}")
_KEY_RULE = f"1 to {MAX_KEY_LENGTH} visible ASCII characters"
_PENDING = "pilar.idempotency"

# The OpenAPI description of the header, on every write.
PARAMETER = {
    "name": HEADER,
    "in": "header",
    "required": False,
    "description": f"{_KEY_RULE}. A retry with the same key, by the same user "
    f"within {duration(dt.timedelta(hours=KEEP_HOURS))}, gets the first answer "
    "again with `Idempotent-Replayed: true` and changes nothing; the same key "
    "with another method, path or body gets 422 `idempotency_key_reused`, and "
    "one still running 409 `idempotency_key_in_use`. Only 2xx answers are kept: "
    "a write that failed changed nothing and runs again.",
    "schema": {
        "type": "string",
        "pattern": "^[!-~]+$",
        "minLength": 1,
        "maxLength": MAX_KEY_LENGTH,
    },
}
# What a keyed write may answer besides what its view documents.
_KEY_ERRORS = {
    "400": f"the {HEADER} is not {_KEY_RULE}",
    "409": f"this {HEADER} is still being run by another request "
    "(`idempotency_key_in_use`)",
    "422": f"this {HEADER} was used for another method, path or body "
    "(`idempotency_key_reused`)",
}
_ERROR = {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}


def install(app: Flask, spec: Any, *blueprint_names: str) -> None:
    """Accept ``Idempotency-Key`` on the write views of these blueprints.

    ``spec`` is the OpenAPI document (apispec), whose write operations of
    those blueprints' paths get the header documented.
    """
    prefixes: set[str] = set()
    for endpoint, view in list(app.view_functions.items()):
        if endpoint.partition(".")[0] in blueprint_names:
            app.view_functions[endpoint] = _keyed(view)
            prefixes.update(
                _openapi_path(rule.rule)
                for rule in app.url_map.iter_rules(endpoint=endpoint)
            )
    for path, operations in spec._paths.items():  # apispec keeps no public view
        if path in prefixes:
            for method, operation in operations.items():
                if method.upper() in WRITE_METHODS:
                    operation.setdefault("parameters", []).append(PARAMETER)
                    _document_responses(operation["responses"])


def _document_responses(responses: dict[str, Any]) -> None:
    for status, cause in _KEY_ERRORS.items():
        response = responses.get(status)
        if response is None:
            description = cause[0].upper() + cause[1:] + "."
        elif "$ref" in response:  # flask-smorest's shared 422
            description = f"Not valid, or {cause}."
        else:
            description = f"{response['description']} Or {cause}."
        responses[status] = {"description": description, "content": _ERROR}


def _openapi_path(rule: str) -> str:
    # The rule /api/v1/users/<uuid:user_id> is the path /api/v1/users/{user_id}.
    return re.sub(r"<(?:[^:>]+:)?(\w+)>", r"{\1}", rule)


def _keyed(view: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(view)
    def keyed(*args: Any, **kwargs: Any) -> Any:
        key = request.headers.get(HEADER)
        if key is None or request.method not in WRITE_METHODS:
            return view(*args, **kwargs)
        if not _KEY_RE.fullmatch(key):
            raise BadRequestError(
                f"{HEADER} must be {_KEY_RULE}.",
                errors={HEADER: [f"{_KEY_RULE}."]},
            )
        return _run_keyed(view, key, args, kwargs)

    return keyed


def _run_keyed(view: Callable[..., Any], key: str, args: Any, kwargs: Any) -> Response:
    scope = idempotency.Scope(None if is_platform_request() else g.user.id)
    print_ = idempotency.fingerprint(
        request.method, request.full_path, request.get_data(cache=True)
    )
    answer = idempotency.start(scope, key, print_)
    if answer is not None:
        replay = jsonify(answer.body) if answer.body is not None else Response()
        replay.status_code = answer.status
        replay.headers[REPLAYED_HEADER] = "true"
        return replay
    g.setdefault(_PENDING, {"key": key, "fingerprint": print_, "recorded": False})
    with idempotency.deferred_commits() as asked:
        try:
            response = current_app.make_response(view(*args, **kwargs))
        except BaseException:
            if asked:  # what the view committed stays committed, as without a key
                # A failure here leaves the view's own error to answer with.
                with contextlib.suppress(Exception):
                    idempotency.finish(scope, key, print_, None)
            raise
    kept = 200 <= response.status_code < 300 and not g.get(_PENDING)["recorded"]
    body = response.get_json(silent=True) if response.status_code != 204 else None
    idempotency.finish(
        scope,
        key,
        print_,
        idempotency.Answer(response.status_code, body) if kept else None,
    )
    return response


def platform_recorder(status: int, dump: Callable[[Any], Any]) -> Any:
    """Return what records this request's key in a tenant create or drop, or None.

    Creating and dropping tenants commit on connections of their own; the
    key goes into their control-plane transaction instead of the session's.
    """
    pending = g.get(_PENDING)
    if pending is None:
        return None
    pending["recorded"] = True
    return idempotency.recorder(pending["key"], pending["fingerprint"], status, dump)
