"""Keyset pagination by (``created_at``, ``id``), newest first, with opaque cursors."""

from __future__ import annotations

import base64
import binascii
import dataclasses
import datetime as dt
import json
import uuid
from collections.abc import Callable
from collections.abc import Sequence
from typing import Any
from typing import Generic
from typing import TypeVar

import sqlalchemy as sa
from sqlalchemy import orm
from sqlalchemy.sql.base import ReadOnlyColumnCollection
from sqlalchemy.sql.elements import KeyedColumnElement

from pilar.errors import ValidationError
from pilar.services.rows import row_columns
from pilar.services.rows import row_source

T = TypeVar("T")


@dataclasses.dataclass(frozen=True)
class Page(Generic[T]):
    items: Sequence[T]
    next_cursor: str | None


# A page of Core rows that read like the model's objects (see ``row_columns``).
RowPage = Page[sa.Row[Any]]


def encode_cursor(created_at: dt.datetime, row_id: uuid.UUID) -> str:
    raw = json.dumps([created_at.isoformat(), str(row_id)]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[dt.datetime, uuid.UUID]:
    """Return the position a cursor names; raise ``ValidationError`` if bad."""
    position = _position(cursor)
    if position is None:
        raise ValidationError(
            f"Cursor {cursor!r} is not valid.",
            errors={"cursor": ["Not a cursor returned by this list."]},
        )
    return position


def _position(cursor: str) -> tuple[dt.datetime, uuid.UUID] | None:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        decoded = json.loads(raw)
    except (binascii.Error, ValueError, UnicodeDecodeError):
        return None
    # A cursor is only ever [ISO time with a zone, UUID], both as text; any
    # other JSON that decodes (numbers, lists, objects) is not one.
    if not (
        isinstance(decoded, list)
        and len(decoded) == 2
        and all(isinstance(part, str) for part in decoded)
    ):
        return None
    try:
        created_at = dt.datetime.fromisoformat(decoded[0])
        row_id = uuid.UUID(decoded[1])
    except ValueError:
        return None
    if created_at.tzinfo is None:
        return None
    return created_at, row_id


# (the table's columns, the value's bind parameter) → a condition.
Filter = Callable[
    [ReadOnlyColumnCollection[str, KeyedColumnElement[Any]], sa.BindParameter[Any]],
    sa.ColumnElement[bool],
]


class KeysetList:
    """One model's rows, newest first, a page at a time, as Core rows.

    ``filters`` name the optional filters and turn the table's columns and
    a bind parameter into a condition. Only Core columns are used: an ORM
    attribute anywhere in a statement sends it down the ORM's slower path.
    Each combination of filters (and cursor) is built into a statement once
    and then reused with new values: building statements cost more than
    running them. The cache is bounded by the combinations.
    """

    def __init__(self, model: Any, **filters: Filter) -> None:
        self._table = row_source(model)
        self._columns = row_columns(model, self._table)
        self._order = (self._table.c.created_at, self._table.c.id)
        self._filters = filters
        self._statements: dict[tuple[frozenset[str], bool], sa.Select[Any]] = {}

    def page(
        self,
        session: orm.Session | orm.scoped_session[Any],
        *,
        limit: int,
        cursor: str | None,
        **values: Any,
    ) -> RowPage:
        """Return the page after ``cursor``; a ``None`` value means no filter."""
        unknown = values.keys() - self._filters.keys()
        if unknown:
            raise TypeError(f"Unknown filters: {', '.join(sorted(unknown))}")
        params = {name: value for name, value in values.items() if value is not None}
        key = (frozenset(params), cursor is not None)
        if cursor is not None:
            params["after_created_at"], params["after_id"] = decode_cursor(cursor)
        params["page_size"] = limit + 1
        statement = self._statements.get(key)
        if statement is None:
            statement = self._statements[key] = self._build(*key)
        rows = session.execute(statement, params).all()
        if len(rows) <= limit:
            return Page(rows, None)
        last = rows[limit - 1]
        return Page(rows[:limit], encode_cursor(last.created_at, last.id))

    def _build(self, names: frozenset[str], after: bool) -> sa.Select[Any]:
        created_at, row_id = self._order
        statement = sa.select(*self._columns).where(
            *(
                self._filters[name](self._table.c, sa.bindparam(name))
                for name in sorted(names)
            )
        )
        if after:
            statement = statement.where(
                sa.tuple_(created_at, row_id)
                < sa.tuple_(
                    sa.bindparam("after_created_at", type_=created_at.type),
                    sa.bindparam("after_id", type_=row_id.type),
                )
            )
        return statement.order_by(created_at.desc(), row_id.desc()).limit(
            sa.bindparam("page_size", type_=sa.Integer)
        )
