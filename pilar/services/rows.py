"""Core rows that read like a model's objects, for the paths that only read."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa


def row_columns(model: Any) -> tuple[sa.Label[Any], ...]:
    """Return ``model``'s columns labelled with its attribute names.

    A Core select of these returns rows that read like the model's objects
    (``row.metadata_``) and dump through the same schemas, without the cost
    of loading ORM objects into the session.
    """
    return tuple(
        attribute.columns[0].label(attribute.key)
        for attribute in sa.inspect(model).column_attrs
    )
