"""Keyset pagination by (``created_at``, ``id``), newest first, with opaque cursors."""

from __future__ import annotations

import base64
import binascii
import dataclasses
import datetime as dt
import json
import uuid
from collections.abc import Sequence
from typing import Any
from typing import Generic
from typing import TypeVar

import sqlalchemy as sa
from sqlalchemy import orm

from pilar.errors import ValidationError

T = TypeVar("T")


@dataclasses.dataclass(frozen=True)
class Page(Generic[T]):
    items: Sequence[T]
    next_cursor: str | None


def encode_cursor(created_at: dt.datetime, row_id: uuid.UUID) -> str:
    raw = json.dumps([created_at.isoformat(), str(row_id)]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[dt.datetime, uuid.UUID]:
    """Return the position a cursor names; raise ``ValidationError`` if bad."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        created_at, row_id = json.loads(raw)
        position = dt.datetime.fromisoformat(created_at), uuid.UUID(row_id)
    except (binascii.Error, ValueError, TypeError, UnicodeDecodeError):
        raise ValidationError(
            f"Cursor {cursor!r} is not valid.",
            errors={"cursor": ["Not a cursor returned by this list."]},
        ) from None
    if position[0].tzinfo is None:
        raise ValidationError(
            f"Cursor {cursor!r} is not valid.",
            errors={"cursor": ["Not a cursor returned by this list."]},
        )
    return position


def paginate(
    session: orm.Session,
    statement: sa.Select[Any],
    model: Any,  # a mapped class with created_at and id
    *,
    limit: int,
    cursor: str | None,
) -> Page[Any]:
    """Return one page of ``statement``'s rows, newest first."""
    if cursor is not None:
        created_at, row_id = decode_cursor(cursor)
        statement = statement.where(
            sa.tuple_(model.created_at, model.id) < sa.tuple_(created_at, row_id)
        )
    statement = statement.order_by(model.created_at.desc(), model.id.desc())
    rows = session.scalars(statement.limit(limit + 1)).all()
    if len(rows) <= limit:
        return Page(rows, None)
    last = rows[limit - 1]
    return Page(rows[:limit], encode_cursor(last.created_at, last.id))
