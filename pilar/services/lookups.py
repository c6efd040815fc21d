"""Reading one row by its primary key, or saying that it does not exist."""

from __future__ import annotations

import uuid
from typing import TypeVar

from pilar.db.extensions import db
from pilar.errors import NotFoundError

_Model = TypeVar("_Model")


def get_by_id(model: type[_Model], row_id: uuid.UUID, label: str) -> _Model:
    """Return the ``model`` row ``row_id`` from the session.

    Raises ``NotFoundError`` saying that the ``label`` (``"Phone number"``)
    does not exist.
    """
    row = db.session.get(model, row_id)
    if row is None:
        raise NotFoundError(f"{label} {str(row_id)!r} does not exist.")
    return row
