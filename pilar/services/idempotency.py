"""Idempotency keys (docs/api.md): replaying a keyed write instead of repeating it.

A keyed write runs as one transaction that ends with its key: the service
code's ``commit()`` calls only flush while it runs (``pilar.db.extensions``), and
the key is added and everything committed once the response is known. So a
write that committed has its key, and a retry after a lost answer is
replayed; one that did not commit has no key, and a retry runs it.

Concurrent requests with one key meet on a transaction-scoped advisory lock,
taken where the key is kept (the tenant's node for tenant writes): the one
that does not get it answers 409 at once instead of waiting. Keys older than
``KEEP_HOURS`` are purged by the next keyed write of the same scope, from an
index, so no request scans every tenant.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import hashlib
import uuid
from collections.abc import Callable
from collections.abc import Iterator
from typing import Any

import sqlalchemy as sa

from pilar.db.extensions import DEFER_COMMIT_KEY
from pilar.db.extensions import db
from pilar.errors import IdempotencyKeyInUseError
from pilar.errors import IdempotencyKeyReusedError
from pilar.models import IdempotencyKey
from pilar.models import PlatformIdempotencyKey
from pilar.models.idempotency import KEEP_HOURS

_LOCK_NAMESPACE = "pilar.idempotency"
_KeyModel = type[IdempotencyKey] | type[PlatformIdempotencyKey]


@dataclasses.dataclass(frozen=True)
class Scope:
    """Whose keys: a tenant user's (``user_id``) or the platform's (None)."""

    user_id: uuid.UUID | None

    @property
    def model(self) -> _KeyModel:
        return PlatformIdempotencyKey if self.user_id is None else IdempotencyKey

    def identity(self, key: str) -> dict[str, Any]:
        if self.user_id is None:
            return {"key": key}
        return {"user_id": self.user_id, "key": key}


@dataclasses.dataclass(frozen=True)
class Answer:
    """The status and JSON body a keyed write was first answered with."""

    status: int
    body: Any


def fingerprint(method: str, path: str, body: bytes) -> str:
    """Return what tells two requests with one key apart."""
    digest = hashlib.sha256()
    for part in (method.encode(), path.encode(), body):
        digest.update(len(part).to_bytes(8, "big"))
        digest.update(part)
    return digest.hexdigest()


def start(scope: Scope, key: str, print_: str) -> Answer | None:
    """Begin a keyed write; return the first answer if the key has one.

    Raises ``IdempotencyKeyInUseError`` while another request with the key
    runs, and ``IdempotencyKeyReusedError`` when the key answered another
    request. Leaves the session's transaction open, holding the key's lock.
    """
    model = scope.model
    on_keys = {"mapper": model}  # the statements go where the keys are kept
    locked = db.session.scalar(
        sa.select(
            sa.func.pg_try_advisory_xact_lock(
                sa.func.hashtext(_LOCK_NAMESPACE),
                sa.func.hashtext(f"{scope.user_id or 'platform'}:{key}"),
            )
        ),
        bind_arguments=on_keys,
    )
    if not locked:
        raise IdempotencyKeyInUseError(
            "A request with this Idempotency-Key is still running; try again."
        )
    cutoff = sa.func.now() - dt.timedelta(hours=KEEP_HOURS)
    db.session.execute(sa.delete(model).where(model.created_at < cutoff))
    found = db.session.execute(
        sa.select(model.fingerprint, model.status, model.body).filter_by(
            **scope.identity(key)
        )
    ).one_or_none()
    if found is None:
        return None
    if found.fingerprint != print_:
        raise IdempotencyKeyReusedError(
            "This Idempotency-Key was used for another request.",
            errors={"Idempotency-Key": ["Used for another method, path or body."]},
        )
    return Answer(found.status, found.body)


@contextlib.contextmanager
def deferred_commits() -> Iterator[list[bool]]:
    """Make the session's ``commit()`` calls flush only, inside the block.

    Yields a list that holds an entry for each commit the block asked for.
    """
    asked: list[bool] = []
    session = db.session()
    session.info[DEFER_COMMIT_KEY] = asked
    try:
        yield asked
    finally:
        session.info.pop(DEFER_COMMIT_KEY, None)


def finish(scope: Scope, key: str, print_: str, answer: Answer | None) -> None:
    """Commit the keyed write, with its ``answer`` when it is one to replay."""
    if answer is not None:
        db.session.add(
            scope.model(**scope.identity(key), fingerprint=print_, **_columns(answer))
        )
    db.session.commit()


def recorder(
    key: str, print_: str, status: int, dump: Callable[[Any], Any]
) -> Callable[[sa.Connection, Any, uuid.UUID | None], None]:
    """Return what records a platform key in another transaction of the write.

    For writes that run on connections of their own (creating and dropping
    tenants): called with the write's connection, its result and the tenant
    it made, if any.
    """

    def record(conn: sa.Connection, result: Any, tenant_id: uuid.UUID | None) -> None:
        answer = Answer(status, None if result is None else dump(result))
        conn.execute(
            sa.insert(PlatformIdempotencyKey).values(
                key=key, fingerprint=print_, tenant_id=tenant_id, **_columns(answer)
            )
        )

    return record


def _columns(answer: Answer) -> dict[str, Any]:
    return {"status": answer.status, "body": answer.body}
