"""Every error response, in the one envelope (docs/api.md), and its OpenAPI shape."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any
from typing import TypeVar

import flask_smorest
from flask import Flask
from flask import Response
from flask import current_app
from flask import jsonify
from flask import request
from psycopg.errors import InvalidSchemaName
from psycopg.errors import UndefinedTable
from sqlalchemy.exc import DataError
from sqlalchemy.exc import OperationalError
from sqlalchemy.exc import ProgrammingError
from werkzeug.exceptions import HTTPException
from werkzeug.exceptions import RequestEntityTooLarge
from werkzeug.exceptions import UnsupportedMediaType

from pilar import errors
from pilar import tenancy
from pilar.api.openapi import mebibytes
from pilar.config import DEFAULTS
from pilar.log import outages
from pilar.schemas.errors import ErrorSchema

logger = logging.getLogger(__name__)

_HTTP_CODES = {
    400: "bad_request",
    401: "unauthenticated",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "validation_error",
    429: "too_many_requests",
    500: "internal_error",
    503: "service_unavailable",
}

_STATUS_BY_ERROR: list[tuple[type[errors.PilarError], int]] = [
    (errors.BadRequestError, 400),
    (errors.ValidationError, 422),
    (errors.AuthenticationError, 401),
    (errors.PermissionDeniedError, 403),
    (errors.NotFoundError, 404),
    (errors.ConflictError, 409),
    (errors.TooManyRequestsError, 429),
    (errors.NodeUnavailableError, 503),
]


_DESCRIPTIONS = {
    400: "The body is not valid JSON.",
    401: "No bearer token, or one that is expired, of another tenant, or of a "
    "deleted user.",
    403: "The user's role may not do this.",
    404: "Not found in this tenant.",
    409: "Conflicts with the data as it is.",
    413: f"The body is larger than {mebibytes(DEFAULTS['MAX_CONTENT_LENGTH'])}.",
    415: "The body is not sent as application/json.",
    503: "The node that holds the tenant cannot be reached (`node_unavailable`), "
    "or the tenant is being switched to another node (`tenant_moving`); nothing "
    "was applied: retry after `Retry-After` seconds.",
}

# What a client is told of any failure of ours; the details go to the log.
_INTERNAL_ERROR = "The server failed to answer this request."
_BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})
_API_PREFIX = "/api/"

_ViewT = TypeVar("_ViewT", bound=Callable[..., object])


class Api(flask_smorest.Api):  # type: ignore[misc]  # flask-smorest is untyped
    """flask-smorest's ``Api``, documenting errors in our envelope."""

    ERROR_SCHEMA = ErrorSchema


def error_responses(
    blp: flask_smorest.Blueprint,
    *statuses: int,
    descriptions: dict[int, str] | None = None,
) -> Callable[[_ViewT], _ViewT]:
    """Document the error ``statuses`` a view answers with, in the envelope.

    ``descriptions`` replaces the tenant API's wording of some of them.
    """
    described = {**_DESCRIPTIONS, **(descriptions or {})}

    def decorate(view: _ViewT) -> _ViewT:
        for status in statuses:
            view = blp.alt_response(
                status, schema=ErrorSchema, description=described[status]
            )(view)
        return view

    return decorate


def init_app(app: Flask) -> None:
    app.before_request(check_request_body)
    # Registered after flask-smorest's own handler, which it replaces.
    app.register_error_handler(HTTPException, handle_http_exception)
    app.register_error_handler(errors.PilarError, handle_pilar_error)
    app.register_error_handler(RecursionError, handle_recursion_error)
    app.register_error_handler(DataError, handle_data_error)
    app.register_error_handler(ProgrammingError, handle_programming_error)
    app.register_error_handler(OperationalError, handle_operational_error)


def check_request_body() -> None:
    """Refuse an API request body that is not JSON (415) or is too large (413).

    The parser would otherwise ignore a body that is not JSON and answer as if
    none had been sent: a PATCH would succeed having changed nothing.
    """
    if request.method not in _BODY_METHODS or not request.path.startswith(_API_PREFIX):
        return
    chunked = "chunked" in request.headers.get("Transfer-Encoding", "").lower()
    if not (request.content_length or chunked):
        return
    if not request.is_json:
        raise UnsupportedMediaType(
            "Send the request body as JSON, with Content-Type: application/json."
        )
    if chunked:
        read_body()


def read_body(limit: int | None = None) -> bytes:
    """Return the raw body, refusing one over ``limit`` (default: the app's) with 413.

    Werkzeug stops reading a body of unknown length (chunked) at the limit
    without an error, which would leave a truncated body to parse: it reads
    one byte more here, so that a body of exactly the limit is told from a
    longer one.
    """
    limit = request.max_content_length if limit is None else limit
    if limit is not None:
        request.max_content_length = limit + 1
    try:
        body = request.get_data(cache=True)
    except RequestEntityTooLarge:
        raise BodyTooLarge(limit) from None
    if limit is not None and len(body) > limit:
        raise BodyTooLarge(limit)
    return body


class BodyTooLarge(RequestEntityTooLarge):
    """A body over the limit of the endpoint that read it, which its 413 names."""

    def __init__(self, limit: int | None) -> None:
        super().__init__()
        self.limit = limit


def envelope(
    status: int, code: str, message: str, field_errors: dict[str, Any] | None = None
) -> Response:
    body: dict[str, Any] = {"code": code, "status": status, "message": message}
    if field_errors:
        body["errors"] = field_errors
    response = jsonify(body)
    response.status_code = status
    return response


def handle_pilar_error(error: errors.PilarError) -> Response:
    for error_class, status in _STATUS_BY_ERROR:
        if isinstance(error, error_class):
            response = envelope(status, error.code, error.message, error.errors)
            if status == 401:
                response.headers["WWW-Authenticate"] = "Bearer"
            if isinstance(
                error, errors.TooManyRequestsError | errors.NodeUnavailableError
            ):
                response.headers["Retry-After"] = str(error.retry_after)
            if isinstance(error, errors.TenantMovingError):
                logger.warning(
                    "503 tenant_moving: the switch to another node outlasted the wait"
                )
            elif isinstance(error, errors.NodeUnavailableError):
                logger.error(
                    "503 node_unavailable: node %r cannot be reached", error.node
                )
            return response
    logger.error("Unexpected service error", exc_info=error)
    return envelope(500, "internal_error", _INTERNAL_ERROR)


def handle_recursion_error(error: RecursionError) -> Response:
    # Python's json module recurses once per nesting level, so a body nested
    # some thousands of levels deep exhausts the stack while it is decoded.
    logger.warning("Refused a request nested too deeply to decode")
    return envelope(400, "bad_request", "The request body is nested too deeply.")


def handle_data_error(error: DataError) -> Response:
    # The last line of defence for values that passed validation but that
    # PostgreSQL cannot store (a NUL character in text, say); the driver's
    # message may quote the value, so it is neither returned nor logged.
    logger.warning("Refused a value the database cannot store")
    return envelope(422, "validation_error", "A value in the request cannot be stored.")


def handle_programming_error(error: ProgrammingError) -> Response:
    if isinstance(error.orig, UndefinedTable | InvalidSchemaName) and (
        tenancy.is_bound_tenant_gone()
    ):
        return envelope(404, "tenant_not_found", "This tenant no longer exists.")
    logger.error("Unexpected database error", exc_info=error)
    return envelope(500, "internal_error", _INTERNAL_ERROR)


def handle_operational_error(error: OperationalError) -> Response:
    # The database could not be reached, or gave up on the statement (a lost
    # connection, a timeout, a serialization failure): nothing is wrong with
    # the request, and it may well succeed if it is sent again.
    outages.failed(
        logger, "default", error, "503 service_unavailable: the database failed"
    )
    response = envelope(
        503,
        "service_unavailable",
        "The database is unavailable; try again in a moment.",
    )
    response.headers["Retry-After"] = "1"
    return response


def handle_http_exception(error: HTTPException) -> Response:
    status = error.code or 500
    data: dict[str, Any] = getattr(error, "data", None) or {}
    if status >= 500:
        message = _INTERNAL_ERROR
    else:
        message = data.get("message") or error.description or error.name
    field_errors = _flatten(data.get("messages") or data.get("errors"))
    if status == 422:
        message = "The request is not valid."
    elif status == 413:
        # The endpoint's own limit (the webhooks' is larger), else the app's.
        limit = getattr(error, "limit", None) or current_app.config.get(
            "MAX_CONTENT_LENGTH"
        )
        message = (
            f"The request body is larger than {mebibytes(limit)}."
            if limit
            else "The request body is too large."
        )
    elif status == 400 and field_errors and "json" in field_errors:
        message = "The request body is not valid JSON."
    response = envelope(
        status, _HTTP_CODES.get(status, "http_error"), message, field_errors
    )
    for name, value in error.get_headers():
        if name.lower() not in ("content-type", "content-length"):
            response.headers[name] = value
    for name, value in (data.get("headers") or {}).items():
        response.headers[name] = value
    return response


def _flatten(messages: Any) -> dict[str, Any] | None:
    """Merge webargs' ``{location: {field: [...]}}`` into ``{field: [...]}``."""
    if not isinstance(messages, dict):
        return None
    merged: dict[str, Any] = {}
    for location, value in messages.items():
        if isinstance(value, dict):
            merged.update(value)
        else:
            merged[location] = value if isinstance(value, list) else [str(value)]
    return merged
