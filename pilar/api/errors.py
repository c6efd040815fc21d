"""Every error response, in the one envelope of CONTRACT §6."""

from __future__ import annotations

import logging
from typing import Any

from flask import Flask
from flask import Response
from flask import jsonify
from werkzeug.exceptions import HTTPException

from pilar import errors

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
    (errors.ValidationError, 422),
    (errors.AuthenticationError, 401),
    (errors.PermissionDeniedError, 403),
    (errors.NotFoundError, 404),
    (errors.ConflictError, 409),
]


def init_app(app: Flask) -> None:
    # Registered after flask-smorest's own handler, which it replaces.
    app.register_error_handler(HTTPException, handle_http_exception)
    app.register_error_handler(errors.PilarError, handle_pilar_error)


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
            return response
    logger.error("Unexpected service error", exc_info=error)
    return envelope(500, "internal_error", "The server failed to answer this request.")


def handle_http_exception(error: HTTPException) -> Response:
    status = error.code or 500
    data: dict[str, Any] = getattr(error, "data", None) or {}
    if status >= 500:
        message = "The server failed to answer this request."
    else:
        message = data.get("message") or error.description or error.name
    field_errors = _flatten(data.get("messages") or data.get("errors"))
    if status == 422:
        message = "The request is not valid."
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
