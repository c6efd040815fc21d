"""Core rows that read like a model's objects, for the paths that only read."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa


def row_source(model: Any) -> sa.FromClause:
    """Return ``model``'s table aliased to its own name.

    Statements on the alias name the db schema once, in FROM, instead of in
    every column reference; with a schema translation map, SQLAlchemy
    rewrites each schema-qualified name on every execution.
    """
    table: sa.Table = model.__table__
    return table.alias(table.name)


def row_columns(model: Any, source: sa.FromClause) -> tuple[sa.Label[Any], ...]:
    """Return ``source``'s columns labelled with ``model``'s attribute names.

    ``source`` is the model's table or an alias of it. A Core select of these
    returns rows that read like the model's objects (``row.metadata_``) and
    dump through the same schemas, without the cost of loading ORM objects
    into the session.
    """
    return tuple(
        source.c[attribute.columns[0].key].label(attribute.key)
        for attribute in sa.inspect(model).column_attrs
    )
