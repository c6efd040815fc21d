"""Logging: request ids, the tenant of each log line, and how loud SQL logging is."""

from __future__ import annotations

import logging
import re
import uuid

from flask import Flask
from flask import Response
from flask import g
from flask import has_request_context
from flask import request

_REQUEST_ID_RE = re.compile(r"[A-Za-z0-9._-]{1,128}")
FORMAT = "%(asctime)s %(levelname)s [%(tenant)s %(request_id)s] %(name)s: %(message)s"


class RequestContextFilter(logging.Filter):
    """Add ``tenant`` (its domain) and ``request_id`` to every record."""

    def filter(self, record: logging.LogRecord) -> bool:
        if has_request_context():
            record.request_id = g.get("request_id", "-")
            tenant = g.get("tenant")
            if tenant is not None:
                record.tenant = tenant.domain
            else:
                record.tenant = "platform" if g.get("is_platform") else "-"
        else:
            record.request_id = "-"
            record.tenant = "-"
        return True


def init_app(app: Flask) -> None:
    """Log with tenant and request id; log SQL only in development."""
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter(FORMAT))
    handler.addFilter(RequestContextFilter())
    root = logging.getLogger()
    # One handler per process, however many apps are created (tests make many).
    if not any(_has_filter(existing) for existing in root.handlers):
        root.addHandler(handler)
        root.setLevel(logging.INFO if app.debug else logging.WARNING)
    sql_level = logging.INFO if app.debug and not app.testing else logging.WARNING
    logging.getLogger("sqlalchemy.engine").setLevel(sql_level)
    app.before_request(_assign_request_id)
    app.after_request(_echo_request_id)


def _has_filter(handler: logging.Handler) -> bool:
    return any(isinstance(f, RequestContextFilter) for f in handler.filters)


def _assign_request_id() -> None:
    # A sane id from a proxy is kept so lines can be followed across services.
    incoming = request.headers.get("X-Request-ID", "")
    g.request_id = incoming if _REQUEST_ID_RE.fullmatch(incoming) else uuid.uuid4().hex


def _echo_request_id(response: Response) -> Response:
    response.headers["X-Request-ID"] = g.get("request_id", "")
    return response
