"""Domain exceptions; ``pilar.api.errors`` is the only place that maps them to HTTP.

Hierarchy::

    PilarError
    ├── BadRequestError            a malformed request header (400)
    ├── ValidationError            bad input (422); ``errors`` names the fields
    │   ├── InvalidSchemaNameError
    │   ├── IdempotencyKeyReusedError
    │   └── ArchiveError           a tenant archive that is damaged or too new
    ├── NotFoundError              (404)
    │   └── TenantNotFoundError
    ├── ConflictError              (409)
    │   └── IdempotencyKeyInUseError
    ├── AuthenticationError        (401)
    ├── PermissionDeniedError      (403)
    │   └── TenantSuspendedError
    ├── TooManyRequestsError       (429); ``retry_after`` in seconds
    ├── NodeUnavailableError       the tenant's node cannot be reached (503)
    │   └── TenantMovingError      the tenant is switching nodes right now (503)
    └── TenantNotBoundError        a tenant table was used with no tenant bound (500)

``ConfigurationError`` stands apart: the service is set up wrong (a missing
``PILAR_SECRET_KEY``, a malformed ``PILAR_NODES``), which no request causes.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any


def first_line(error: BaseException) -> str:
    """Return the first line of what ``error`` says, or its type's name.

    For a driver's error that SQLAlchemy wraps (``orig``), the driver's own:
    libpq's first line names the host and the reason, never a password.
    """
    cause = getattr(error, "orig", None) or error
    lines = str(cause).strip().splitlines()
    return lines[0] if lines else type(cause).__name__


def field_errors(paths: Iterable[str], message: str) -> dict[str, Any]:
    """Return a ``PilarError.errors`` map with ``message`` at each of ``paths``.

    A dotted path names a key of a nested object, nested as marshmallow
    reports it: ``"config.api_key"`` gives ``{"config": {"api_key": [message]}}``.
    """
    errors: dict[str, Any] = {}
    for path in paths:
        *parents, leaf = path.split(".")
        node = errors
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = [message]
    return errors


class ConfigurationError(Exception):
    """The service's settings are wrong or missing; the message says which."""


class PilarError(Exception):
    """Root of every error the service raises on purpose."""

    code = "error"

    # ``errors`` maps field names to messages, or to nested maps for objects.
    def __init__(self, message: str, *, errors: dict[str, Any] | None = None):
        super().__init__(message)
        self.message = message
        self.errors = errors


class BadRequestError(PilarError):
    code = "bad_request"


class ValidationError(PilarError):
    code = "validation_error"


class IdempotencyKeyReusedError(ValidationError):
    """An ``Idempotency-Key`` sent again with another method, path or body."""

    code = "idempotency_key_reused"


class InvalidSchemaNameError(ValidationError):
    pass


class ArchiveError(ValidationError):
    """A tenant archive that cannot be imported: damaged, not one, or too new."""

    code = "invalid_archive"


class NotFoundError(PilarError):
    code = "not_found"


class TenantNotFoundError(NotFoundError):
    code = "tenant_not_found"


class ConflictError(PilarError):
    code = "conflict"


class IdempotencyKeyInUseError(ConflictError):
    """Another request with the same ``Idempotency-Key`` is still running."""

    code = "idempotency_key_in_use"


class PermissionDeniedError(PilarError):
    code = "forbidden"


class TenantSuspendedError(PermissionDeniedError):
    code = "tenant_suspended"


class TenantNotBoundError(PilarError):
    code = "tenant_not_bound"


class AuthenticationError(PilarError):
    """Missing, malformed or wrong credentials (401)."""

    code = "unauthenticated"


class TooManyRequestsError(PilarError):
    """Too many attempts; the next may succeed after ``retry_after`` seconds (429)."""

    code = "too_many_requests"

    def __init__(self, message: str, *, retry_after: int):
        super().__init__(message)
        self.retry_after = retry_after


class NodeUnavailableError(PilarError):
    """The node that holds the tenant cannot be reached (503); retry later."""

    code = "node_unavailable"

    def __init__(self, node: str, *, retry_after: float = 1.0):
        super().__init__("The studio's database is unavailable; try again shortly.")
        self.node = node
        self.retry_after = max(1, round(retry_after))


class TenantMovingError(NodeUnavailableError):
    """The tenant is being switched to another node and the switch outlasted the wait.

    Nothing of the request was applied; it succeeds when sent again.
    """

    code = "tenant_moving"

    def __init__(self, node: str, *, retry_after: float = 1.0):
        super().__init__(node, retry_after=retry_after)
        self.message = "The studio is moving to another database; try again shortly."
