"""Logging: request ids, the tenant of each log line, and how loud SQL logging is."""

from __future__ import annotations

import logging
import re
import threading
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
    pool_logger = logging.getLogger("sqlalchemy.pool")
    if not any(isinstance(f, _OutageFilter) for f in pool_logger.filters):
        pool_logger.addFilter(_OutageFilter())
    app.before_request(_assign_request_id)
    app.after_request(_echo_request_id)


class _OutageFilter(logging.Filter):
    """Log the pool's failures to reset or close a connection in one line.

    In an outage every pooled connection fails its rollback as it is given
    back, each with a traceback of the same cause the request already logged.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        if record.exc_info and record.exc_info[1] is not None:
            record.msg = f"{record.getMessage()}: {_first_line(record.exc_info[1])}"
            record.args = None
            record.exc_info = None
            record.exc_text = None
        return True


def _has_filter(handler: logging.Handler) -> bool:
    return any(isinstance(f, RequestContextFilter) for f in handler.filters)


def _assign_request_id() -> None:
    # A sane id from a proxy is kept so lines can be followed across services.
    incoming = request.headers.get("X-Request-ID", "")
    g.request_id = incoming if _REQUEST_ID_RE.fullmatch(incoming) else uuid.uuid4().hex


def _echo_request_id(response: Response) -> Response:
    response.headers["X-Request-ID"] = g.get("request_id", "")
    return response


class OutageLog:
    """An outage in the log: one line per failed request, each cause's traceback once.

    A database that is down fails every request, and a traceback for each
    would bury the one that tells why. The first failure of each cause (per
    node, per exception type and SQLSTATE) is logged with its traceback;
    later ones in the same outage get one line. A node's outage ends when a
    new connection to it succeeds, and the next failure is a new outage.
    """

    def __init__(self) -> None:
        self._reported: set[tuple[str, str]] = set()
        self._lock = threading.Lock()

    def failed(
        self, logger: logging.Logger, node: str, cause: BaseException, message: str
    ) -> None:
        """Log ``message`` for one failed request, with ``cause``'s traceback if new."""
        key = (node, _cause_key(cause))
        with self._lock:
            first = key not in self._reported
            self._reported.add(key)
        if first:
            logger.error("%s (node %s)", message, node, exc_info=cause)
        else:
            logger.error("%s (node %s): %s", message, node, _first_line(cause))

    def is_reported(self, node: str, cause: BaseException) -> bool:
        return (node, _cause_key(cause)) in self._reported

    def recovered(self, node: str) -> None:
        """End ``node``'s outage, if it had one: it answered again."""
        if self._reported:
            with self._lock:
                self._reported = {key for key in self._reported if key[0] != node}


def _cause_key(cause: BaseException) -> str:
    origin = getattr(cause, "orig", None) or cause
    return f"{type(origin).__qualname__}:{getattr(origin, 'sqlstate', None) or ''}"


def _first_line(cause: BaseException) -> str:
    origin = getattr(cause, "orig", None) or cause
    lines = str(origin).strip().splitlines()
    return f"{type(origin).__name__}: {lines[0] if lines else ''}"


outages = OutageLog()
